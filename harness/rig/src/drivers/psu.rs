//! One supply driver for every model in `model.rs`: program, read back, verify, check the
//! instrument's error queue.

use std::time::{Duration, Instant};

use hil_scenario::Setpoint;

use super::model::{Model, OutputQuery, Simulator, command};
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
    /// Whether the model's setup (a simulator's function) has been done on this connection.
    ready: bool,
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
            ready: false,
        }
    }

    /// Puts a battery simulator in the function its commands belong to (it answers them with
    /// an error in any other), once per connection; nothing for plain supplies.
    fn set_up(&mut self) -> Result<(), RigError> {
        let Some(simulator) = &self.model.simulator else {
            return Ok(());
        };
        if self.ready {
            return Ok(());
        }
        for (set, query, expected) in simulator.setup {
            self.write(set)?;
            let answer = self.query(query)?;
            if !answer.to_ascii_uppercase().starts_with(expected) {
                return Err(self.error(format!(
                    "`{query}` answers {answer:?} after `{set}` (expected {expected}…)"
                )));
            }
        }
        self.ready = true;
        Ok(())
    }

    /// A simulator's current limit and series resistance, which it refuses to change while its
    /// output is on (2281S error 704): when either must change, the output goes off first and
    /// `apply` switches it back on. Setting the same values again leaves the output alone.
    fn program_cell(
        &mut self,
        channel: u8,
        simulator: &Simulator,
        amps: f64,
        ohms: f64,
    ) -> Result<(), RigError> {
        let model = self.model;
        let decimals = simulator.ohms_decimals;
        // No command sets the total: the offset goes on top of the battery model's own
        // resistance, which depends on the state of charge (so: after the voltage is set).
        let offset_now = self.query_number(simulator.query_offset)?;
        let own = self.query_number(simulator.query_resistance)? - offset_now;
        let offset = ohms - own;
        let amps_now = self.query_number(&command(model.query_amps, channel, None))?;
        let unchanged = (offset - offset_now).abs() <= Model::tolerance(decimals)
            && (amps - amps_now).abs() <= Model::tolerance(model.amps_decimals);
        if unchanged {
            return Ok(());
        }
        if self.output_is_on(channel)? {
            self.switch(channel, false)?;
        }
        let limits = (model.set_amps, model.query_amps);
        self.set_verified(channel, limits, amps, model.amps_decimals, "current limit")?;
        let offsets = (simulator.set_offset, simulator.query_offset);
        self.set_verified(channel, offsets, offset, decimals, "resistance offset")?;
        let total = self.query_number(simulator.query_resistance)?;
        // Each of the two resistances is rounded to the instrument's resolution.
        if (total - ohms).abs() > 2.0 * Model::tolerance(decimals) {
            return Err(self.error(format!(
                "series resistance reads back {total:.decimals$} Ω after asking for {ohms:.decimals$} Ω"
            )));
        }
        Ok(())
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
        if !(lower.contains(maker) && lower.contains(family)) {
            return Err(self.error(format!(
                "wrong model: it identifies as `{identity}`, not a {}; fix `driver` in the rig file",
                self.model.name
            )));
        }
        self.set_up()?;
        Ok(identity)
    }

    fn apply(&mut self, channel: u8, setpoint: Setpoint) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        let model = self.model;
        if model.simulator.is_none() && setpoint.series_ohms.is_some_and(|ohms| ohms > 0.0) {
            return Err(self.error("a plain supply cannot add series resistance".into()));
        }
        self.set_up()?;
        self.set_verified(
            channel,
            (model.set_volts, model.query_volts),
            setpoint.volts,
            model.volts_decimals,
            "voltage",
        )?;
        match &model.simulator {
            Some(simulator) => {
                // No series resistance asked for: a stiff source, as on the virtual supply.
                let ohms = setpoint.series_ohms.unwrap_or(0.0);
                self.program_cell(channel, simulator, setpoint.amps, ohms)?;
            }
            None => {
                self.set_verified(
                    channel,
                    (model.set_amps, model.query_amps),
                    setpoint.amps,
                    model.amps_decimals,
                    "current limit",
                )?;
            }
        }
        self.switch(channel, true)?;
        self.read_output(channel)
    }

    fn off(&mut self, channel: u8) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        self.set_up()?;
        self.switch(channel, false)?;
        self.read_output(channel)
    }

    fn protect(&mut self, channel: u8, max_volts: f64) -> Result<Option<f64>, RigError> {
        self.check_channel(channel)?;
        let Some(ovp) = &self.model.ovp else {
            return Ok(None);
        };
        self.set_up()?;
        let decimals = self.model.volts_decimals;
        let level = self.set_verified(channel, (ovp.set, ovp.query), max_volts, decimals, "OVP")?;
        if let Some(enable) = ovp.enable {
            self.write(&command(enable, channel, None))?;
        }
        Ok(Some(level))
    }

    fn read_output(&mut self, channel: u8) -> Result<Readback, RigError> {
        self.check_channel(channel)?;
        self.set_up()?;
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
