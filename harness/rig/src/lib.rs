//! What a rig can do, as one small trait per capability.
//!
//! Real instrument drivers and the virtual rig's models implement the same traits; the runner
//! only ever sees these. A failure here is the rig's fault (ERROR), never the device's (FAIL).

mod central;
mod console;
pub mod drivers;
mod error;
mod power;
mod switch;
pub mod time;
mod update;

use std::collections::BTreeMap;

pub use central::{
    Advertisement, Central, CommandOutcome, DfuOutcome, GattOutcome, LinkFailure, LinkOutcome,
    listen,
};
pub use console::Console;
pub use error::{RigError, RigErrorKind};
pub use hil_scenario::{DeviceCommand, GattRequest};
pub use power::{PowerSupply, Readback};
pub use switch::{Attenuator, Probe, Relay};
pub use update::{Progress, Updater};

/// A rig's capabilities, connected and ready: the runner's whole view of the bench.
#[derive(Default)]
pub struct Rig {
    /// Power supplies by instrument name.
    pub power: BTreeMap<String, Box<dyn PowerSupply>>,
    /// Centrals (phones, dongles) by instrument name.
    pub centrals: BTreeMap<String, Box<dyn Central>>,
    /// Device consoles by device name.
    pub consoles: BTreeMap<String, Box<dyn Console>>,
    /// Relay boards by instrument name.
    pub relays: BTreeMap<String, Box<dyn Relay>>,
    /// RF attenuators by instrument name.
    pub attenuators: BTreeMap<String, Box<dyn Attenuator>>,
    /// Debug probes by device name.
    pub probes: BTreeMap<String, Box<dyn Probe>>,
    /// Firmware-update ports (MCUmgr SMP) by device name; a `dfu` step on such a device uses it.
    pub updaters: BTreeMap<String, Box<dyn Updater>>,
    /// Emulated instruments the drivers above talk to (emulated rigs): kept running as long as
    /// the rig is.
    pub emulators: Vec<Box<dyn std::any::Any + Send>>,
}
