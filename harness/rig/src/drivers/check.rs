//! Opening real instruments, and `hil rig check` for one: open it, identify it, read its state
//! back, and say what to do when any of that fails.

use std::fmt::Write;

use hil_scenario::{Driver, Instrument};

use super::attenuator::{self, Rcdat};
use super::dongle::{self, ShellCentral};
use super::model::model_of;
use super::psu::Psu;
use super::relay::{SerialRelay, relay_model_of};
use super::riden::{self, RidenPsu};
use super::supply::SerialSupply;
use super::transport::SerialTransport;
use crate::RigError;

/// The baud rate a real driver's instrument ships with; `None` for virtual instruments.
pub fn default_baud(driver: Driver) -> Option<u32> {
    match driver {
        Driver::RidenRd60xx => Some(riden::DEFAULT_BAUD),
        Driver::MinicircuitsRcdat => Some(attenuator::DEFAULT_BAUD),
        Driver::BtShellDongle => Some(dongle::DEFAULT_BAUD),
        other => model_of(other)
            .map(|model| model.default_baud)
            .or_else(|| relay_model_of(other).map(|model| model.default_baud)),
    }
}

/// Opens a real instrument's port with the model's wire settings.
fn open_port(instrument: &Instrument) -> Result<SerialTransport, RigError> {
    let error = |message: String| RigError::new(&instrument.name, message);
    let baud = instrument
        .baud
        .or_else(|| default_baud(instrument.driver))
        .ok_or_else(|| no_protocol(instrument))?;
    let port = instrument
        .port
        .as_deref()
        .ok_or_else(|| error("no `port` in the rig file".into()))?;
    SerialTransport::open(port, baud).map_err(|e| error(e.to_string()))
}

fn no_protocol(instrument: &Instrument) -> RigError {
    RigError::new(
        &instrument.name,
        format!("{} has no wire protocol", instrument.driver.name()),
    )
}

/// Opens a real power supply.
pub fn open(instrument: &Instrument) -> Result<Box<dyn SerialSupply>, RigError> {
    let transport = open_port(instrument)?;
    match (instrument.driver, model_of(instrument.driver)) {
        (_, Some(model)) => Ok(Box::new(Psu::new(
            &instrument.name,
            model,
            transport,
            instrument.channels,
        ))),
        (Driver::RidenRd60xx, None) => Ok(Box::new(RidenPsu::new(&instrument.name, transport))),
        (_, None) => Err(no_protocol(instrument)),
    }
}

/// Opens a real relay board.
pub fn open_relay(instrument: &Instrument) -> Result<SerialRelay<SerialTransport>, RigError> {
    let model = relay_model_of(instrument.driver).ok_or_else(|| no_protocol(instrument))?;
    let transport = open_port(instrument)?;
    Ok(SerialRelay::new(
        &instrument.name,
        model,
        transport,
        instrument.channels,
    ))
}

/// Opens a real RF attenuator.
pub fn open_attenuator(instrument: &Instrument) -> Result<Rcdat<SerialTransport>, RigError> {
    if instrument.driver != Driver::MinicircuitsRcdat {
        return Err(no_protocol(instrument));
    }
    Ok(Rcdat::new(&instrument.name, open_port(instrument)?))
}

/// Identifies a real instrument and reads its state back: one line for a person.
pub fn check(instrument: &Instrument) -> Result<String, RigError> {
    let driver = instrument.driver;
    let line = if driver == Driver::BtShellDongle {
        ShellCentral::open(instrument).and_then(|mut dongle| dongle.describe())
    } else if driver.is_relay() {
        check_relay(instrument)
    } else if driver.is_attenuator() {
        let mut attenuator = open_attenuator(instrument)?;
        attenuator
            .identify()
            .and_then(|model| Ok(format!("{model}; {:.2} dB", attenuator.read()?)))
    } else {
        check_supply(instrument)
    };
    line.map_err(|e| with_baud_hint(instrument, e))
}

fn check_supply(instrument: &Instrument) -> Result<String, RigError> {
    let mut psu = open(instrument)?;
    let mut line = psu.identify()?;
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

fn check_relay(instrument: &Instrument) -> Result<String, RigError> {
    let mut relay = open_relay(instrument)?;
    let Some(version) = relay.version()? else {
        return Ok("port open; the board cannot be asked anything, so it is not checked".into());
    };
    let mut line = format!("firmware {version}");
    for channel in 1..=instrument.channels {
        if let Some(closed) = relay.read(channel)? {
            let state = if closed { "closed" } else { "open" };
            write!(line, "; relay {channel} {state}").expect("writing to a String");
        }
    }
    Ok(line)
}

/// Silence usually means another model or a wrong baud rate: say which the rig file expects.
fn with_baud_hint(instrument: &Instrument, e: RigError) -> RigError {
    if !e.message.contains("timed out") {
        return e;
    }
    let baud = instrument.baud.or_else(|| default_baud(instrument.driver));
    RigError::new(
        &instrument.name,
        format!(
            "{}; is it a {} set to {} baud? (`baud` in the rig file)",
            e.message,
            instrument.driver.name(),
            baud.unwrap_or_default()
        ),
    )
}
