//! `hil rig check` for one instrument: open it, identify it, read its outputs, and say what to
//! do when any of that fails.

use std::fmt::Write;

use hil_scenario::{Driver, Instrument};

use super::model::model_of;
use super::psu::Psu;
use super::riden::{self, RidenPsu};
use super::supply::SerialSupply;
use super::transport::SerialTransport;
use crate::RigError;

/// The baud rate a real driver's instrument ships with; `None` for virtual instruments.
pub fn default_baud(driver: Driver) -> Option<u32> {
    match driver {
        Driver::RidenRd60xx => Some(riden::DEFAULT_BAUD),
        other => model_of(other).map(|model| model.default_baud),
    }
}

/// Opens a real instrument's port with the model's wire settings.
pub fn open(instrument: &Instrument) -> Result<Box<dyn SerialSupply>, RigError> {
    let error = |message: String| RigError::new(&instrument.name, message);
    let no_protocol = || error(format!("{} has no wire protocol", instrument.driver.name()));
    let baud = instrument
        .baud
        .or_else(|| default_baud(instrument.driver))
        .ok_or_else(no_protocol)?;
    let port = instrument
        .port
        .as_deref()
        .ok_or_else(|| error("no `port` in the rig file".into()))?;
    let transport = SerialTransport::open(port, baud).map_err(|e| error(e.to_string()))?;
    match (instrument.driver, model_of(instrument.driver)) {
        (_, Some(model)) => Ok(Box::new(Psu::new(
            &instrument.name,
            model,
            transport,
            instrument.channels,
        ))),
        (Driver::RidenRd60xx, None) => Ok(Box::new(RidenPsu::new(&instrument.name, transport))),
        (_, None) => Err(no_protocol()),
    }
}

/// Identifies a real instrument and reads back every channel: one line for a person.
pub fn check(instrument: &Instrument) -> Result<String, RigError> {
    let mut psu = open(instrument)?;
    let identity = psu.identify().map_err(|e| {
        if e.message.contains("timed out") {
            let baud = instrument.baud.or_else(|| default_baud(instrument.driver));
            RigError::new(
                &instrument.name,
                format!(
                    "{}; is it a {} set to {} baud? (`baud` in the rig file)",
                    e.message,
                    psu.model_name(),
                    baud.unwrap_or_default()
                ),
            )
        } else {
            e
        }
    })?;
    let mut line = identity;
    for channel in 1..=instrument.channels {
        let out = psu.read_output(channel)?;
        let state = if out.output_on { "on" } else { "off" };
        write!(
            line,
            "; CH{channel} {state} {:.3} V {:.3} A",
            out.volts, out.amps
        )
        .expect("writing to a String");
    }
    Ok(line)
}
