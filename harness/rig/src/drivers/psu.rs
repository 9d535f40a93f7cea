//! One supply driver for every model in `model.rs`: program, read back, verify, check the
//! instrument's error queue.

use std::time::{Duration, Instant};

use hil_scenario::Setpoint;

use super::model::{Model, OutputQuery, command};
use super::supply::SerialSupply;
use super::transport::{Transport, TransportError, read_answer};
use crate::{Readback, RigError, RigErrorKind};

/// Long enough for a supply that is busy ramping, short enough that a dead one is noticed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Psu<T: Transport> {
    instrument: String,
    model: &'static Model,
    transport: T,
    channels: u8,
    timeout: Duration,
    last_command: Option<Instant>,
}

impl<T: Transport> Psu<T> {
    pub fn new(instrument: &str, model: &'static Model, transport: T, channels: u8) -> Self {
        Self {
            instrument: instrument.to_string(),
            model,
            transport,
            channels,
            timeout: DEFAULT_TIMEOUT,
            last_command: None,
        }
    }

    fn switch(&mut self, channel: u8, on: bool) -> Result<(), RigError> {
        let template = if on {
            self.model.output_on
        } else {
            self.model.output_off
        };
        self.write(&command(template, channel, None))?;
        if self.output_is_on(channel)? != on {
            let state = if on { "on" } else { "off" };
            return Err(self.error(format!("CH{channel} did not switch {state}")));
        }
        Ok(())
    }

    fn output_is_on(&mut self, channel: u8) -> Result<bool, RigError> {
        match self.model.query_output {
            OutputQuery::Word(template) => {
                let cmd = command(template, channel, None);
                match self.query(&cmd)?.to_ascii_uppercase().as_str() {
                    "ON" | "1" => Ok(true),
                    "OFF" | "0" => Ok(false),
                    other => Err(self.wire_fault(format!(
                        "unreadable answer to `{cmd}`: {other:?} (expected ON or OFF)"
                    ))),
                }
            }
            OutputQuery::HexStatus { query, first_bit } => {
                let answer = self.query(query)?;
                let digits = answer.trim_start_matches("0x").trim_start_matches("0X");
                let status = u32::from_str_radix(digits, 16).map_err(|_| {
                    self.wire_fault(format!(
                        "unreadable answer to `{query}`: {answer:?} (expected a hex status word)"
                    ))
                })?;
                Ok(status & (1 << (first_bit + channel - 1)) != 0)
            }
            OutputQuery::StatusByte { query, bit } => {
                let answer = self.query_bytes(query)?;
                match answer.as_slice() {
                    [status] => Ok(status & (1 << bit) != 0),
                    other => Err(self.wire_fault(format!(
                        "unreadable answer to `{query}`: {:?} (expected one status byte)",
                        String::from_utf8_lossy(other)
                    ))),
                }
            }
        }
    }

    /// Sets a value, checks the instrument accepted it, reads it back and compares.
    fn set_verified(
        &mut self,
        channel: u8,
        (set, query): (&str, &str),
        value: f64,
        decimals: usize,
        what: &str,
    ) -> Result<f64, RigError> {
        let text = format!("{value:.decimals$}");
        self.write(&command(set, channel, Some(&text)))?;
        let readback = self.query_number(&command(query, channel, None))?;
        if (readback - value).abs() > Model::tolerance(decimals) {
            return Err(self.error(format!(
                "CH{channel} {what} reads back {readback:.decimals$} after setting {text}"
            )));
        }
        Ok(readback)
    }

    /// Sends a command that has no answer, then asks the error queue whether it was accepted.
    pub fn write(&mut self, cmd: &str) -> Result<(), RigError> {
        self.send(cmd)?;
        let Some(error_query) = self.model.error_query else {
            return Ok(());
        };
        let answer = self.query(error_query)?;
        let code = answer.split(',').next().unwrap_or_default().trim();
        match code.parse::<i32>() {
            Ok(0) => Ok(()),
            Ok(_) => Err(self.error(format!("the instrument refused `{cmd}`: {answer}"))),
            Err(_) => Err(self.wire_fault(format!(
                "unreadable answer to `{error_query}`: {answer:?} (expected `<code>,\"<message>\"`)"
            ))),
        }
    }

    fn query_number(&mut self, cmd: &str) -> Result<f64, RigError> {
        let answer = self.query(cmd)?;
        answer.trim().parse::<f64>().map_err(|_| {
            self.wire_fault(format!(
                "unreadable answer to `{cmd}`: {answer:?} (expected a number)"
            ))
        })
    }

    /// A text answer; bytes that are not printable ASCII mean line noise or a wrong baud rate.
    pub fn query(&mut self, cmd: &str) -> Result<String, RigError> {
        let answer = self.query_bytes(cmd)?;
        if answer.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            Ok(String::from_utf8_lossy(&answer).trim().to_string())
        } else {
            Err(self.wire_fault(format!(
                "unreadable answer to `{cmd}`: {:?} (line noise, or the wrong baud rate?)",
                String::from_utf8_lossy(&answer)
            )))
        }
    }

    fn query_bytes(&mut self, cmd: &str) -> Result<Vec<u8>, RigError> {
        self.send(cmd)?;
        read_answer(&mut self.transport, self.model.framing, self.timeout)
            .map_err(|e| self.wire_error(cmd, e))
    }

    fn send(&mut self, cmd: &str) -> Result<(), RigError> {
        if let Some(last) = self.last_command {
            std::thread::sleep(self.model.command_gap.saturating_sub(last.elapsed()));
        }
        let bytes = format!("{cmd}{}", self.model.terminator);
        let sent = self
            .transport
            .discard_input()
            .and_then(|()| self.transport.write_all(bytes.as_bytes()));
        self.last_command = Some(Instant::now());
        sent.map_err(|e| self.wire_error(cmd, e))
    }

    fn check_channel(&self, channel: u8) -> Result<(), RigError> {
        if (1..=self.channels).contains(&channel) {
            Ok(())
        } else {
            Err(self.error(format!(
                "no channel {channel}; this rig gives it 1..={}",
                self.channels
            )))
        }
    }

    fn wire_error(&self, cmd: &str, e: TransportError) -> RigError {
        self.wire_fault(format!("`{cmd}`: {e}"))
    }

    /// The exchange failed on the wire (no answer, noise): worth a retry.
    fn wire_fault(&self, message: String) -> RigError {
        RigError {
            kind: RigErrorKind::Wire,
            ..self.error(message)
        }
    }

    fn error(&self, message: String) -> RigError {
        RigError::new(
            &self.instrument,
            format!(
                "{} on {}: {message}",
                self.model.name,
                self.transport.port()
            ),
        )
    }
}

impl<T: Transport> SerialSupply for Psu<T> {
    fn name(&self) -> &str {
        &self.instrument
    }

    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn model_name(&self) -> &'static str {
        self.model.name
    }

    fn identify(&mut self) -> Result<String, RigError> {
        let identity = self.query(self.model.identify)?;
        let lower = identity.to_lowercase();
        let (maker, family) = self.model.identity;
        if lower.contains(maker) && lower.contains(family) {
            Ok(identity)
        } else {
            Err(self.error(format!(
                "wrong model: it identifies as `{identity}`, not a {}; fix `driver` in the rig file",
                self.model.name
            )))
        }
    }

    fn apply(&mut self, channel: u8, setpoint: Setpoint) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        if setpoint.series_ohms.is_some_and(|ohms| ohms > 0.0) {
            return Err(self.error("a plain supply cannot add series resistance".into()));
        }
        let model = self.model;
        self.set_verified(
            channel,
            (model.set_volts, model.query_volts),
            setpoint.volts,
            model.volts_decimals,
            "voltage",
        )?;
        self.set_verified(
            channel,
            (model.set_amps, model.query_amps),
            setpoint.amps,
            model.amps_decimals,
            "current limit",
        )?;
        self.switch(channel, true)?;
        self.read_output(channel)
    }

    fn off(&mut self, channel: u8) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        self.switch(channel, false)?;
        self.read_output(channel)
    }

    fn protect(&mut self, channel: u8, max_volts: f64) -> Result<Option<f64>, RigError> {
        self.check_channel(channel)?;
        let Some(ovp) = &self.model.ovp else {
            return Ok(None);
        };
        let decimals = self.model.volts_decimals;
        let level = self.set_verified(channel, (ovp.set, ovp.query), max_volts, decimals, "OVP")?;
        if let Some(enable) = ovp.enable {
            self.write(&command(enable, channel, None))?;
        }
        Ok(Some(level))
    }

    fn read_output(&mut self, channel: u8) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        let output_on = self.output_is_on(channel)?;
        let volts = self.query_number(&command(self.model.measure_volts, channel, None))?;
        let amps = self.query_number(&command(self.model.measure_amps, channel, None))?;
        Ok(Readback {
            output_on,
            volts,
            amps,
        })
    }
}
