use async_trait::async_trait;
use hil_scenario::Setpoint;
use serde::{Deserialize, Serialize};

use crate::RigError;

/// A programmable supply or battery simulator. Every call returns what the instrument reads
/// back, so the runner can record it and catch an output that does not do what it was told.
#[async_trait]
pub trait PowerSupply: Send {
    /// Programs a channel and switches its output on.
    async fn apply(&mut self, channel: u8, setpoint: Setpoint) -> Result<Readback, RigError>;

    /// Switches a channel's output off: the safe state.
    async fn off(&mut self, channel: u8) -> Result<Readback, RigError>;
}

/// What a supply measures at its output.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Readback {
    pub output_on: bool,
    pub volts: f64,
    pub amps: f64,
}
