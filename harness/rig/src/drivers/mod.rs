//! Real power supplies over a serial port.
//!
//! `Psu` speaks every command-based model in `model.rs` (SCPI and Korad) from a table per model;
//! `RidenPsu` speaks the Riden's Modbus registers. Both run over any `Transport` and implement
//! `SerialSupply`; `AsyncPsu` puts either behind the `PowerSupply` trait. Tests drive them against
//! `hil_sim::emulators` on real ptys.

mod async_psu;
mod check;
pub mod modbus;
mod model;
mod psu;
mod riden;
mod supply;
mod transport;

pub use async_psu::AsyncPsu;
pub use check::{check, default_baud, open};
pub use model::{
    KEYSIGHT_E36300, KORAD_KA3005P, Model, OutputQuery, Ovp, RIGOL_DP800, SIGLENT_SPD3303X,
    model_of,
};
pub use psu::{DEFAULT_TIMEOUT, Psu};
pub use riden::RidenPsu;
pub use supply::SerialSupply;
pub use transport::{Framing, OpenError, SerialTransport, Transport, TransportError, read_answer};
