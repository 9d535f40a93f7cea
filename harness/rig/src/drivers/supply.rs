//! What every serial supply driver offers, with blocking I/O; `AsyncPsu` puts any of them behind
//! the async `PowerSupply` trait and `hil rig check` checks any of them.

use std::time::Duration;

use hil_scenario::Setpoint;

use crate::{Readback, RigError};

pub trait SerialSupply: Send {
    /// The instrument's name in the rig, for errors.
    fn name(&self) -> &str;

    /// The model family the driver speaks to, for messages (`Rigol DP800`).
    fn model_name(&self) -> &'static str;

    /// How long to wait for each answer (`DEFAULT_TIMEOUT` until set).
    fn set_timeout(&mut self, timeout: Duration);

    /// Asks the instrument who it is and checks it is the model the rig file says.
    fn identify(&mut self) -> Result<String, RigError>;

    /// Programs voltage and current limit, switches the output on, and verifies each.
    fn apply(&mut self, channel: u8, setpoint: Setpoint) -> Result<Readback, RigError>;

    /// Switches the output off and verifies it is off.
    fn off(&mut self, channel: u8) -> Result<Readback, RigError>;

    /// What the output is doing now.
    fn read_output(&mut self, channel: u8) -> Result<Readback, RigError>;

    /// Programs and arms over-voltage protection at `max_volts` (a device's limit from the rig
    /// file), so a wrong setpoint cannot reach the device even if `hil` misbehaves. Returns the
    /// level read back, or `None` if the model has no OVP.
    fn protect(&mut self, channel: u8, max_volts: f64) -> Result<Option<f64>, RigError>;
}
