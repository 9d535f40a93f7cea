//! Connecting a rig for a run: the virtual rig's models from the simulator, and real supplies
//! over their serial ports, identified and with over-voltage protection armed at each device's
//! limit before any step runs.

use async_trait::async_trait;
use hil_rig::drivers::{AsyncPsu, SerialSupply};
use hil_rig::{PowerSupply, Readback, RigError};
use hil_scenario::{Instrument, Rig, Setpoint};

/// The run's view of `rig`. Called inside the scenario's runtime.
pub fn connect(rig: &Rig, seed: u64) -> hil_rig::Rig {
    let mut connected = hil_sim::start(rig, seed);
    for instrument in rig.instruments.values().filter(|i| !i.driver.is_virtual()) {
        let supply: Box<dyn PowerSupply> = match open_protected(rig, instrument) {
            Ok(psu) => Box::new(AsyncPsu::new(psu)),
            Err(cause) => Box::new(Unavailable(cause)),
        };
        connected.power.insert(instrument.name.clone(), supply);
    }
    connected
}

/// Opens and identifies a supply, then arms its OVP at the limit of every device it feeds: the
/// driver-level limit, beside the plan's and the readback check.
fn open_protected(rig: &Rig, instrument: &Instrument) -> Result<Box<dyn SerialSupply>, RigError> {
    let mut psu = hil_rig::drivers::open(instrument)?;
    psu.identify()?;
    let feeds = rig
        .devices
        .values()
        .filter_map(|d| d.power.as_ref())
        .filter(|feed| feed.instrument == instrument.name);
    for feed in feeds {
        psu.protect(feed.channel, feed.max_volts)?;
    }
    Ok(psu)
}

/// A supply that could not be opened: every call reports why, so the scenario is an ERROR that
/// names the instrument and the cause.
struct Unavailable(RigError);

#[async_trait]
impl PowerSupply for Unavailable {
    async fn apply(&mut self, _channel: u8, _setpoint: Setpoint) -> Result<Readback, RigError> {
        Err(self.0.clone())
    }

    async fn off(&mut self, _channel: u8) -> Result<Readback, RigError> {
        Err(self.0.clone())
    }
}
