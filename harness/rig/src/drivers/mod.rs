//! Real power supplies over a serial port: one driver, a command table per model.
//!
//! `Psu` speaks any model in `model.rs` over any `Transport`; `AsyncPsu` puts it behind the
//! `PowerSupply` trait. Tests drive it against `hil_sim::emulators` on real ptys.

mod async_psu;
mod check;
mod model;
mod psu;
mod transport;

pub use async_psu::AsyncPsu;
pub use check::{check, open};
pub use model::{
    KEYSIGHT_E36300, KORAD_KA3005P, Model, OutputQuery, Ovp, RIGOL_DP800, SIGLENT_SPD3303X,
    model_of,
};
pub use psu::{DEFAULT_TIMEOUT, Psu};
pub use transport::{Framing, OpenError, SerialTransport, Transport, TransportError, read_answer};
