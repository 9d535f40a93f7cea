//! Riden RD60xx (RD6006, RD6006P, RD6012, RD6018, RD6024): Modbus RTU registers rather than
//! commands, so a small driver of its own over the shared transport. Register map from the
//! community documentation of the stock firmware.

use std::time::{Duration, Instant};

use hil_scenario::Setpoint;

use super::modbus::{
    FrameError, parse_read_response, parse_write_response, read_request, write_request,
};
use super::psu::DEFAULT_TIMEOUT;
use super::supply::SerialSupply;
use super::transport::{Framing, Transport, read_answer};
use crate::{Readback, RigError, RigErrorKind};

pub const DEFAULT_BAUD: u32 = 115_200;

/// The supply's Modbus address, as shipped.
const UNIT: u8 = 1;
const MODEL_ID: u16 = 0;
const VOLTS_SET: u16 = 8;
const AMPS_SET: u16 = 9;
/// Followed by the measured current at 11.
const VOLTS_OUT: u16 = 10;
const OUTPUT: u16 = 18;
const OVP: u16 = 82;

/// RTU frames end with a silence; 50 ms is generous at any baud rate the RD60xx offers.
const FRAMING: Framing = Framing::Quiet(Duration::from_millis(50));

/// A model and its register scales: counts per volt, counts per amp.
#[derive(Clone, Copy, Debug)]
struct Variant {
    name: &'static str,
    volts_scale: f64,
    amps_scale: f64,
}

/// The model register holds e.g. 60062: RD6006, hardware revision 2 (5 marks the P versions).
fn variant(model_id: u16) -> Option<Variant> {
    let (name, volts_scale, amps_scale) = match (model_id / 10, model_id % 10) {
        (6006, 5) => ("RD6006P", 1000.0, 10000.0),
        (6006, _) => ("RD6006", 100.0, 1000.0),
        (6012, r) if r != 5 => ("RD6012", 100.0, 100.0),
        (6018, _) => ("RD6018", 100.0, 100.0),
        (6024, _) => ("RD6024", 100.0, 100.0),
        _ => return None,
    };
    Some(Variant {
        name,
        volts_scale,
        amps_scale,
    })
}

pub struct RidenPsu<T: Transport> {
    instrument: String,
    transport: T,
    timeout: Duration,
    /// Known once the model register has been read.
    variant: Option<Variant>,
}

impl<T: Transport> RidenPsu<T> {
    pub fn new(instrument: &str, transport: T) -> Self {
        Self {
            instrument: instrument.to_string(),
            transport,
            timeout: DEFAULT_TIMEOUT,
            variant: None,
        }
    }

    fn variant(&mut self) -> Result<Variant, RigError> {
        match self.variant {
            Some(v) => Ok(v),
            None => {
                self.identify()?;
                Ok(self.variant.expect("identify found the variant"))
            }
        }
    }

    /// Writes `value` in the register's scale and reads it back.
    fn set_verified(
        &mut self,
        register: u16,
        value: f64,
        scale: f64,
        what: &str,
    ) -> Result<f64, RigError> {
        let counts = (value * scale).round();
        if !(0.0..=f64::from(u16::MAX)).contains(&counts) {
            return Err(self.error(format!("{what} {value} cannot be represented")));
        }
        let counts = counts as u16;
        self.write(register, counts)?;
        let readback = self.read(register, 1)?[0];
        if readback != counts {
            return Err(self.error(format!(
                "{what} reads back {} after setting {}",
                f64::from(readback) / scale,
                f64::from(counts) / scale
            )));
        }
        Ok(f64::from(readback) / scale)
    }

    fn read(&mut self, register: u16, count: u16) -> Result<Vec<u16>, RigError> {
        let request = read_request(UNIT, register, count);
        let what = format!("reading register {register}");
        let answer = self.exchange(&request, &what)?;
        parse_read_response(UNIT, count, &answer).map_err(|e| self.frame_error(&what, e))
    }

    fn write(&mut self, register: u16, value: u16) -> Result<(), RigError> {
        let request = write_request(UNIT, register, value);
        let what = format!("writing {value} to register {register}");
        let answer = self.exchange(&request, &what)?;
        parse_write_response(&request, &answer).map_err(|e| self.frame_error(&what, e))
    }

    fn exchange(&mut self, request: &[u8], what: &str) -> Result<Vec<u8>, RigError> {
        let started = Instant::now();
        self.transport
            .discard_input()
            .and_then(|()| self.transport.write_all(request))
            .and_then(|()| {
                let left = self.timeout.saturating_sub(started.elapsed());
                read_answer(&mut self.transport, FRAMING, left)
            })
            .map_err(|e| self.wire_error(format!("{what}: {e}")))
    }

    fn check_channel(&self, channel: u8) -> Result<(), RigError> {
        if channel == 1 {
            Ok(())
        } else {
            Err(self.error(format!("no channel {channel}; an RD60xx has one")))
        }
    }

    fn error(&self, message: String) -> RigError {
        RigError::new(
            &self.instrument,
            format!("Riden RD60xx on {}: {message}", self.transport.port()),
        )
    }

    fn wire_error(&self, message: String) -> RigError {
        RigError {
            kind: RigErrorKind::Wire,
            ..self.error(message)
        }
    }

    fn frame_error(&self, what: &str, e: FrameError) -> RigError {
        match e {
            FrameError::Refused(why) => self.error(format!("{what}: {why}")),
            FrameError::Garbled(why) => {
                self.wire_error(format!("unreadable answer to {what}: {why}"))
            }
        }
    }
}

impl<T: Transport> SerialSupply for RidenPsu<T> {
    fn name(&self) -> &str {
        &self.instrument
    }

    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn model_name(&self) -> &'static str {
        "Riden RD60xx"
    }

    fn identify(&mut self) -> Result<String, RigError> {
        let registers = self.read(MODEL_ID, 4)?;
        let (model_id, serial, firmware) = (
            registers[0],
            u32::from(registers[1]) << 16 | u32::from(registers[2]),
            registers[3],
        );
        let Some(variant) = variant(model_id) else {
            return Err(self.error(format!(
                "wrong model: its model register reads {model_id}, not an RD60xx's; fix `driver` in the rig file"
            )));
        };
        self.variant = Some(variant);
        Ok(format!(
            "Riden {} (model {model_id}) SN:{serial:08} FW:{}.{:02}",
            variant.name,
            firmware / 100,
            firmware % 100
        ))
    }

    fn apply(&mut self, channel: u8, setpoint: Setpoint) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        if setpoint.series_ohms.is_some_and(|ohms| ohms > 0.0) {
            return Err(self.error("a plain supply cannot add series resistance".into()));
        }
        let v = self.variant()?;
        self.set_verified(VOLTS_SET, setpoint.volts, v.volts_scale, "voltage")?;
        self.set_verified(AMPS_SET, setpoint.amps, v.amps_scale, "current limit")?;
        self.set_verified(OUTPUT, 1.0, 1.0, "output")?;
        self.read_output(channel)
    }

    fn off(&mut self, channel: u8) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        self.set_verified(OUTPUT, 0.0, 1.0, "output")?;
        self.read_output(channel)
    }

    fn read_output(&mut self, channel: u8) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        let v = self.variant()?;
        let measured = self.read(VOLTS_OUT, 2)?;
        let output_on = self.read(OUTPUT, 1)?[0] == 1;
        Ok(Readback {
            output_on,
            volts: f64::from(measured[0]) / v.volts_scale,
            amps: f64::from(measured[1]) / v.amps_scale,
        })
    }

    fn protect(&mut self, channel: u8, max_volts: f64) -> Result<Option<f64>, RigError> {
        self.check_channel(channel)?;
        let v = self.variant()?;
        self.set_verified(OVP, max_volts, v.volts_scale, "OVP")
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_register_gives_the_scales() {
        let rd6006 = variant(60062).unwrap();
        assert_eq!((rd6006.name, rd6006.amps_scale), ("RD6006", 1000.0));
        assert_eq!(variant(60065).unwrap().name, "RD6006P");
        assert_eq!(variant(60181).unwrap().amps_scale, 100.0);
        assert!(variant(1234).is_none());
    }
}
