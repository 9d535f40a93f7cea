//! Mini-Circuits programmable attenuators (RCDAT/RUDAT) over their serial ASCII protocol:
//! `SETATT=30.25` answers `1` when taken, `ATT?` answers the attenuation in dB.

use std::time::Duration;

use hil_scenario::Driver;

use super::transport::{Framing, Transport};
use super::wire::Wire;
use crate::RigError;

const MODEL: &str = "Mini-Circuits RCDAT";
pub const DEFAULT_BAUD: u32 = 9600;
/// `MN?` answers `MN=RCDAT-6000-90`.
const IDENTITY_PREFIX: &str = "MN=RCDAT";

pub struct Rcdat<T: Transport> {
    wire: Wire<T>,
    /// The largest attenuation and the step, in dB.
    range: (f64, f64),
}

impl<T: Transport> Rcdat<T> {
    pub fn new(instrument: &str, transport: T) -> Self {
        Self {
            wire: Wire::new(instrument, MODEL, transport, Framing::Terminated(b'\n')),
            range: Driver::MinicircuitsRcdat
                .attenuation_range()
                .expect("an attenuator has a range"),
        }
    }

    pub fn name(&self) -> &str {
        self.wire.instrument()
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.wire.timeout = timeout;
    }

    /// The model number, checked to be an RCDAT.
    pub fn identify(&mut self) -> Result<String, RigError> {
        let answer = self.query("MN?")?;
        if answer.starts_with(IDENTITY_PREFIX) {
            Ok(answer.trim_start_matches("MN=").to_string())
        } else {
            Err(self.wire.error(format!(
                "wrong model: it identifies as `{answer}`, not a {MODEL}; fix `driver` in the rig file"
            )))
        }
    }

    /// Sets the attenuation, then reads it back and checks it is what was asked for.
    pub fn set(&mut self, db: f64) -> Result<f64, RigError> {
        let (max, step) = self.range;
        if !(0.0..=max).contains(&db) || (db / step).fract() != 0.0 {
            return Err(self.wire.error(format!(
                "{db} dB is not a setting: expected 0..={max} dB in {step} dB steps"
            )));
        }
        let command = format!("SETATT={db:.2}");
        match self.query(&command)?.as_str() {
            "1" => {}
            "2" => {
                return Err(self.wire.error(format!(
                    "`{command}`: above the instrument's maximum, it set its maximum instead"
                )));
            }
            "0" => {
                return Err(self
                    .wire
                    .error(format!("the instrument refused `{command}`")));
            }
            other => {
                return Err(self.wire.unreadable(&command, other, "expected 1, 0 or 2"));
            }
        }
        let readback = self.read()?;
        // Half a step: anything further off is another setting.
        if (readback - db).abs() >= step / 2.0 {
            return Err(self.wire.error(format!(
                "attenuation reads back {readback:.2} dB after setting {db:.2}"
            )));
        }
        Ok(readback)
    }

    /// The attenuation now, in dB.
    pub fn read(&mut self) -> Result<f64, RigError> {
        let answer = self.query("ATT?")?;
        answer.parse::<f64>().map_err(|_| {
            self.wire
                .unreadable("ATT?", &answer, "expected a number of dB")
        })
    }

    fn query(&mut self, command: &str) -> Result<String, RigError> {
        self.wire.query(format!("{command}\r").as_bytes(), command)
    }
}
