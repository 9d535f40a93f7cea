//! Real instruments over a serial port: power supplies, relay boards, RF attenuators, and device
//! consoles (UARTs), MCUmgr SMP firmware updates (`SmpUpdater`, MCUboot images in `mcuboot`),
//! and debug probes over USB through probe-rs (`BenchProbe`, feature `probe-rs`, on by default).
//!
//! `Psu` speaks every command-based supply in `model.rs` (SCPI, Korad, the 2281S battery simulator)
//! from a table per model; `RidenPsu` speaks the Riden's Modbus registers; `SerialRelay` every relay board in `relay.rs`;
//! `Rcdat` the Mini-Circuits attenuators; `ShellCentral` a central dongle over its Bluetooth shell.
//! All run over any `Transport`; `Blocking` puts each behind
//! its async capability trait. Tests drive them against `hil_sim::emulators` on real ptys.

mod attenuator;
mod blocking;
pub mod bluez;
mod check;
mod console;
#[cfg(feature = "probe-rs")]
mod defmt_log;
mod dongle;
pub mod mcuboot;
pub mod modbus;
mod model;
#[cfg(feature = "probe-rs")]
mod probe;
mod probes;
mod psu;
mod relay;
mod riden;
#[cfg(feature = "probe-rs")]
mod rtt;
mod shell;
mod smp;
mod supply;
#[cfg(feature = "probe-rs")]
pub mod target;
mod transport;
mod wire;

pub use attenuator::Rcdat;
pub use blocking::{AsyncAttenuator, AsyncPsu, AsyncRelay, Blocking, ShellDongle};
pub use check::{check, default_baud, open, open_attenuator, open_relay};
pub use console::{ConsoleLine, LONGEST_LINE, LineSplitter, SerialConsole};
pub use dongle::ShellCentral;
pub use model::{
    KEITHLEY_2281S, KEYSIGHT_E36300, KORAD_KA3005P, Model, OutputQuery, Ovp, RIGOL_DP800,
    SIGLENT_SPD3303X, Simulator, model_of,
};
#[cfg(feature = "probe-rs")]
pub use probe::BenchProbe;
pub use probes::{check_chips, check_probe, load_rig, open_probe};
pub use psu::{DEFAULT_TIMEOUT, Psu};
pub use relay::{LCUS, NUMATO, RelayModel, SerialRelay, relay_model_of};
pub use riden::RidenPsu;
pub use shell::ANSWER_TIMEOUT as SHELL_ANSWER_TIMEOUT;
pub use smp::{SmpClient, SmpUpdater, Unanswered};
pub use supply::SerialSupply;
pub use transport::{Framing, OpenError, SerialTransport, Transport, TransportError, read_answer};
