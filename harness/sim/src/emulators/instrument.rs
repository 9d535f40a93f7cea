//! A command-based supply (SCPI or Korad): its state, and how it executes commands, answers and
//! complains.

use std::collections::VecDeque;
use std::time::Duration;

use regex::Regex;

use super::Protocol;
use super::channel::Channel;
use super::dialect::{Cell, Delimiting, Dialect, Op};

/// The most errors a SCPI instrument queues; later ones replace the last (`-350,"Queue overflow"`).
const ERROR_QUEUE_LEN: usize = 16;

pub struct Instrument {
    dialect: &'static Dialect,
    commands: Vec<(Regex, Op)>,
    channels: Vec<Channel>,
    /// What wired devices draw from each output (emulated rig), by channel index.
    drawn: Vec<Option<f64>>,
    errors: VecDeque<&'static str>,
    /// A battery simulator's function and method, as `:ENTR:FUNC?` and `:BATT:SIM:METH?` answer.
    function: &'static str,
    method: &'static str,
}

impl Instrument {
    pub fn new(dialect: &'static Dialect) -> Self {
        // Lines are matched whole; concatenated commands one at a time from the front.
        let end = match dialect.delimiting {
            Delimiting::Lines => "$",
            Delimiting::Concatenated => "",
        };
        let commands = dialect
            .commands
            .iter()
            .map(|(pattern, op)| {
                let regex = Regex::new(&format!("^(?i:{pattern}){end}"))
                    .expect("dialect patterns are valid");
                (regex, *op)
            })
            .collect();
        let channel = Channel {
            series_ohms: dialect.cell.as_ref().map_or(0.0, |cell| cell.model_ohms),
            ..Channel::default()
        };
        Self {
            dialect,
            commands,
            channels: vec![channel; usize::from(dialect.channels)],
            drawn: vec![None; usize::from(dialect.channels)],
            errors: VecDeque::new(),
            // A 2281S powers up as a plain supply, its simulator discharging the cell.
            function: "POWER",
            method: "DYNAMIC",
        }
    }

    /// Takes the complete commands out of `received`. With `quiet`, the line has gone quiet, so
    /// whatever is there is complete (how an unterminated dialect ends a command).
    fn take_commands(&self, received: &mut Vec<u8>, quiet: bool) -> Vec<String> {
        match self.dialect.delimiting {
            Delimiting::Lines => {
                let mut commands = Vec::new();
                while let Some(end) = received.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = received.drain(..=end).collect();
                    commands.push(printable(&line));
                }
                commands.retain(|c| !c.is_empty());
                commands
            }
            Delimiting::Concatenated if quiet => {
                let text = printable(&std::mem::take(received));
                self.split_concatenated(&text)
            }
            Delimiting::Concatenated => Vec::new(),
        }
    }

    /// `VSET1:3.70VOUT1?` → `VSET1:3.70`, `VOUT1?`; bytes that start no command are skipped.
    fn split_concatenated(&self, mut text: &str) -> Vec<String> {
        let mut commands = Vec::new();
        while let Some(first) = text.chars().next() {
            let longest = self
                .commands
                .iter()
                .filter_map(|(regex, _)| regex.find(text).map(|m| m.end()))
                .max();
            match longest {
                Some(end) => {
                    commands.push(text[..end].to_string());
                    text = &text[end..];
                }
                None => text = &text[first.len_utf8()..],
            }
        }
        commands
    }

    /// Runs one command; returns the reply (without terminator) if it has one.
    fn run_command(&mut self, command: &str) -> Option<Vec<u8>> {
        let Some((op, captures)) = self.commands.iter().find_map(|(regex, op)| {
            let c = regex.captures(command)?;
            let ch = c.name("ch").map(|m| m.as_str().to_string());
            let v = c.name("v").map(|m| m.as_str().to_string());
            Some((*op, (ch, v)))
        }) else {
            self.push_error("-113,\"Undefined header\"");
            return None;
        };
        let (ch, value) = captures;
        let index = match ch.as_deref().map_or(Ok(1), str::parse::<usize>) {
            Ok(n) if (1..=self.channels.len()).contains(&n) => n - 1,
            _ => {
                self.push_error("-222,\"Data out of range\"");
                return None;
            }
        };
        let number = value.as_deref().and_then(|v| v.parse::<f64>().ok());
        let d = self.dialect;
        if let Some(cell) = &d.cell {
            if let Some(refusal) = self.simulator_refuses(op, index) {
                self.push_error(refusal);
                return None;
            }
            if let Some(reply) = self.run_simulator_command(op, index, value.as_deref(), cell) {
                return reply;
            }
        }
        let text = |s: String| Some(s.into_bytes());
        match op {
            Op::Identify => text(d.identity.to_string()),
            Op::SetVolts => {
                self.set(index, number, d.max_volts, |c, v| c.volts = v);
                None
            }
            Op::SetAmps => {
                self.set(index, number, d.max_amps, |c, v| c.amps = v);
                None
            }
            Op::SetOutput => {
                let on = value.is_some_and(|v| v.eq_ignore_ascii_case("on") || v == "1");
                match ch {
                    Some(_) => self.channels[index].on = on,
                    None => self.channels.iter_mut().for_each(|c| c.on = on),
                }
                None
            }
            Op::QueryVolts => text((d.format_volts)(self.channels[index].volts)),
            Op::QueryAmps => text((d.format_amps)(self.channels[index].amps)),
            Op::QueryOutput => {
                let (on, off) = d.output_words;
                text(if self.channels[index].on { on } else { off }.to_string())
            }
            Op::MeasureVolts => text((d.format_volts)(
                self.channels[index].measure(self.drawn[index]).0,
            )),
            Op::MeasureAmps => text((d.format_amps)(
                self.channels[index].measure(self.drawn[index]).1,
            )),
            Op::SetOvp => {
                self.set(index, number, d.max_volts * 1.1, |c, v| c.ovp = Some(v));
                None
            }
            Op::QueryOvp => text((d.format_volts)(
                self.channels[index].ovp.unwrap_or(d.max_volts * 1.1),
            )),
            Op::EnableOvp => None,
            Op::NextError => text(self.errors.pop_front().unwrap_or("0,\"No error\"").into()),
            Op::HexStatus => {
                let bits = self
                    .channels
                    .iter()
                    .enumerate()
                    .fold(0u16, |bits, (i, c)| bits | (u16::from(c.on) << (4 + i)));
                text(format!("0x{bits:04X}"))
            }
            Op::StatusByte => Some(vec![u8::from(self.channels[0].on) << 6]),
            Op::SetFunction
            | Op::QueryFunction
            | Op::SetMethod
            | Op::QueryMethod
            | Op::SetResistanceOffset
            | Op::QueryResistanceOffset
            | Op::QueryResistance => {
                // Only a battery simulator's dialect has these; it ran them above.
                self.push_error("-113,\"Undefined header\"");
                None
            }
        }
    }

    /// Why a battery simulator refuses a command now: every command but the common ones belongs
    /// to a function, and the limit and resistance are fixed while the cell is simulated.
    fn simulator_refuses(&self, op: Op, index: usize) -> Option<&'static str> {
        let common = matches!(
            op,
            Op::Identify | Op::NextError | Op::SetFunction | Op::QueryFunction
        );
        if !common && self.function != "SIMULATOR" {
            return Some("-221,\"Settings conflict\"");
        }
        let locked = matches!(op, Op::SetAmps | Op::SetResistanceOffset | Op::SetOvp);
        if locked && self.channels[index].on {
            return Some("704,\"Not permitted while battery model is running\"");
        }
        None
    }

    /// Runs a command only a battery simulator has: `Some(reply)` (the reply may be nothing), or
    /// `None` for the commands it shares with plain supplies.
    fn run_simulator_command(
        &mut self,
        op: Op,
        index: usize,
        value: Option<&str>,
        cell: &Cell,
    ) -> Option<Option<Vec<u8>>> {
        let word = value.unwrap_or_default().to_ascii_uppercase();
        let text = |s: &str| Some(Some(s.as_bytes().to_vec()));
        let channel = &mut self.channels[index];
        match op {
            Op::SetFunction => {
                self.function = if word.starts_with("POW") {
                    "POWER"
                } else if word.starts_with("TEST") {
                    "TEST"
                } else {
                    "SIMULATOR"
                };
                // Assumed (the manual does not say): changing function switches the output off.
                channel.on = false;
                Some(None)
            }
            Op::QueryFunction => text(self.function),
            Op::SetMethod => {
                self.method = if word.starts_with("DYN") {
                    "DYNAMIC"
                } else {
                    "STATIC"
                };
                Some(None)
            }
            Op::QueryMethod => text(self.method),
            Op::SetResistanceOffset => {
                let (low, high) = cell.offset_range;
                match value.and_then(|v| v.parse::<f64>().ok()) {
                    Some(v) if (low..=high).contains(&v) => {
                        channel.series_ohms = cell.model_ohms + v
                    }
                    Some(_) => self.push_error("-222,\"Data out of range\""),
                    None => self.push_error("-224,\"Illegal parameter value\""),
                }
                Some(None)
            }
            Op::QueryResistanceOffset => {
                text(&format!("{:.3}", channel.series_ohms - cell.model_ohms))
            }
            Op::QueryResistance => text(&format!("{:.3}", channel.series_ohms)),
            _ => None,
        }
    }

    /// Applies an in-range value to the addressed channel; an out-of-range one is refused the way
    /// the model refuses it (an error queued, or silently ignored).
    fn set(&mut self, index: usize, value: Option<f64>, max: f64, apply: fn(&mut Channel, f64)) {
        match value {
            Some(v) if (0.0..=max).contains(&v) => apply(&mut self.channels[index], v),
            Some(_) => self.push_error("-222,\"Data out of range\""),
            None => self.push_error("-224,\"Illegal parameter value\""),
        }
    }

    fn push_error(&mut self, error: &'static str) {
        if !self.dialect.has_error_queue {
            return;
        }
        if self.errors.len() == ERROR_QUEUE_LEN {
            self.errors.pop_back();
            self.errors.push_back("-350,\"Queue overflow\"");
        } else {
            self.errors.push_back(error);
        }
    }
}

impl Protocol for Instrument {
    fn take_requests(&mut self, received: &mut Vec<u8>, quiet: bool) -> Vec<Vec<u8>> {
        self.take_commands(received, quiet)
            .into_iter()
            .map(String::into_bytes)
            .collect()
    }

    fn execute(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let mut reply = self.run_command(&String::from_utf8_lossy(request))?;
        reply.extend_from_slice(self.dialect.reply_end.as_bytes());
        Some(reply)
    }

    fn channel(&self, channel: u8) -> Option<Channel> {
        self.channels
            .get(usize::from(channel).checked_sub(1)?)
            .copied()
    }

    fn set_drawn(&mut self, channel: u8, amps: f64) {
        if let Some(drawn) = usize::from(channel)
            .checked_sub(1)
            .and_then(|i| self.drawn.get_mut(i))
        {
            *drawn = Some(amps);
        }
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.dialect.latency_ms)
    }

    fn noise(&self) -> Vec<u8> {
        let mut noise = vec![0xFF, 0x13, b'#', 0xFE, 0x00, b'~'];
        noise.extend_from_slice(self.dialect.reply_end.as_bytes());
        noise
    }
}

/// A command as text, with line noise (control bytes, invalid UTF-8) dropped.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use hil_scenario::Driver;

    use super::*;
    use crate::emulators::dialect::dialect_of;

    fn instrument(driver: Driver) -> Instrument {
        Instrument::new(dialect_of(driver).unwrap())
    }

    #[test]
    fn noise_around_commands_is_skipped() {
        let rigol = instrument(Driver::RigolDp800);
        let mut received = b"\xff\x00*IDN?\r\n:SOUR1:VOLT 3.7\n:OUTP".to_vec();
        assert_eq!(
            rigol.take_commands(&mut received, false),
            ["*IDN?", ":SOUR1:VOLT 3.7"]
        );
        assert_eq!(received, b":OUTP", "an unfinished line waits for its end");

        let korad = instrument(Driver::KoradKa3005p);
        let mut received = b"VSET1:3.70\xfe~VOUT1?".to_vec();
        assert!(korad.take_commands(&mut received, false).is_empty());
        assert_eq!(
            korad.take_commands(&mut received, true),
            ["VSET1:3.70", "VOUT1?"]
        );
    }

    #[test]
    fn scpi_errors_queue_until_read() {
        let mut rigol = instrument(Driver::RigolDp800);
        assert_eq!(rigol.run_command(":FOO:BAR 1"), None);
        assert_eq!(rigol.run_command(":SOUR1:VOLT 99"), None);
        let mut next_error =
            || String::from_utf8(rigol.run_command(":SYST:ERR?").unwrap()).unwrap();
        assert_eq!(next_error(), "-113,\"Undefined header\"");
        assert_eq!(next_error(), "-222,\"Data out of range\"");
        assert_eq!(next_error(), "0,\"No error\"");
    }
}
