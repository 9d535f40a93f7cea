//! The virtual rig's programmable supply: a battery simulator that can add series resistance.

use std::collections::BTreeMap;

use async_trait::async_trait;
use hil_rig::{PowerSupply, Readback, RigError};
use hil_scenario::Setpoint;
use tokio::sync::watch;

use crate::device::Supply;

/// One output channel and what is wired to it.
pub struct Rail {
    pub supply: watch::Sender<Supply>,
    /// Current the connected device draws.
    pub load: watch::Receiver<f64>,
}

pub struct VirtualPsu {
    name: String,
    rails: BTreeMap<u8, Rail>,
}

impl VirtualPsu {
    pub fn new(name: String, rails: BTreeMap<u8, Rail>) -> Self {
        Self { name, rails }
    }

    fn rail(&self, channel: u8) -> Result<&Rail, RigError> {
        self.rails
            .get(&channel)
            .ok_or_else(|| RigError::new(&self.name, format!("no channel {channel}")))
    }

    fn readback(rail: &Rail) -> Readback {
        let supply = *rail.supply.borrow();
        let amps = if supply.on { *rail.load.borrow() } else { 0.0 };
        Readback {
            output_on: supply.on,
            // Measured at the terminals, after the emulated internal resistance.
            volts: if supply.on {
                supply.volts - amps * supply.series_ohms
            } else {
                0.0
            },
            amps,
        }
    }
}

#[async_trait]
impl PowerSupply for VirtualPsu {
    async fn apply(&mut self, channel: u8, setpoint: Setpoint) -> Result<Readback, RigError> {
        let rail = self.rail(channel)?;
        rail.supply.send_replace(Supply {
            on: true,
            volts: setpoint.volts,
            series_ohms: setpoint.series_ohms.unwrap_or(0.0),
            amps_limit: setpoint.amps,
        });
        Ok(Self::readback(rail))
    }

    async fn off(&mut self, channel: u8) -> Result<Readback, RigError> {
        let rail = self.rail(channel)?;
        rail.supply.send_replace(Supply::OFF);
        Ok(Self::readback(rail))
    }
}
