//! `hil rig check` for one instrument: open it, identify it, read its outputs, and say what to
//! do when any of that fails.

use std::fmt::Write;

use hil_scenario::Instrument;

use super::model::model_of;
use super::psu::Psu;
use super::transport::SerialTransport;
use crate::RigError;

/// Opens a real instrument's port with the model's wire settings.
pub fn open(instrument: &Instrument) -> Result<Psu<SerialTransport>, RigError> {
    let error = |message: String| RigError::new(&instrument.name, message);
    let model = model_of(instrument.driver)
        .ok_or_else(|| error(format!("{} has no wire protocol", instrument.driver.name())))?;
    let port = instrument
        .port
        .as_deref()
        .ok_or_else(|| error("no `port` in the rig file".into()))?;
    let baud = instrument.baud.unwrap_or(model.default_baud);
    let transport = SerialTransport::open(port, baud).map_err(|e| error(e.to_string()))?;
    Ok(Psu::new(
        &instrument.name,
        model,
        transport,
        instrument.channels,
    ))
}

/// Identifies a real instrument and reads back every channel: one line for a person.
pub fn check(instrument: &Instrument) -> Result<String, RigError> {
    let mut psu = open(instrument)?;
    let baud = instrument.baud.unwrap_or(psu.model().default_baud);
    let identity = psu.identify().map_err(|e| {
        if e.message.contains("timed out") {
            RigError::new(
                &instrument.name,
                format!(
                    "{}; is it a {} set to {baud} baud? (`baud` in the rig file)",
                    e.message,
                    psu.model().name
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
