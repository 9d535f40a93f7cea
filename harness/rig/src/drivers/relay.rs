//! USB relay boards: one driver, a table per model with the bytes that model wants. A contact is
//! read back after every change where the board can tell.

use hil_scenario::Driver;

use super::transport::{Framing, Transport};
use super::wire::Wire;
use crate::RigError;

#[derive(Debug)]
pub struct RelayModel {
    /// The name people know it by, for messages.
    pub name: &'static str,
    pub default_baud: u32,
    /// The most contacts a board of this family has.
    pub max_channels: u8,
    /// The command that closes or opens contact `channel` (1-based, as in the rig file).
    pub switch: fn(u8, bool) -> Vec<u8>,
    /// How the board ends an answer; `None` if it never answers.
    pub answers: Option<Framing>,
    /// Asks a contact's state; `None` if the board cannot tell.
    pub query: Option<fn(u8) -> Vec<u8>>,
    /// Asks the firmware version, to see that a board is there at all.
    pub version: Option<&'static str>,
}

/// Numato Lab's USB relay modules: a console that echoes each command and prompts with `>`.
pub const NUMATO: RelayModel = RelayModel {
    name: "Numato USB relay",
    // USB-CDC: the rate is ignored, but Numato's examples open it at 19200.
    default_baud: 19200,
    max_channels: 32,
    switch: |channel, closed| {
        let verb = if closed { "on" } else { "off" };
        format!("relay {verb} {}\r", numato_index(channel)).into_bytes()
    },
    answers: Some(Framing::Terminated(b'>')),
    query: Some(|channel| format!("relay read {}\r", numato_index(channel)).into_bytes()),
    version: Some("ver\r"),
};

/// LCUS-1/2/4/8 boards (a CH340 and a microcontroller): `A0 <ch> <state> <sum>`, silent.
pub const LCUS: RelayModel = RelayModel {
    name: "LCUS USB relay",
    default_baud: 9600,
    max_channels: 8,
    switch: |channel, closed| {
        let state = u8::from(closed);
        vec![
            0xA0,
            channel,
            state,
            0xA0u8.wrapping_add(channel).wrapping_add(state),
        ]
    },
    answers: None,
    query: None,
    version: None,
};

pub fn relay_model_of(driver: Driver) -> Option<&'static RelayModel> {
    match driver {
        Driver::NumatoRelay => Some(&NUMATO),
        Driver::LcusRelay => Some(&LCUS),
        _ => None,
    }
}

/// Numato numbers relays from 0, and from the eleventh on with letters: 0–9, then A–V.
fn numato_index(channel: u8) -> char {
    let index = u32::from(channel.saturating_sub(1));
    char::from_digit(index, 32)
        .unwrap_or('?')
        .to_ascii_uppercase()
}

pub struct SerialRelay<T: Transport> {
    model: &'static RelayModel,
    wire: Wire<T>,
    channels: u8,
}

impl<T: Transport> SerialRelay<T> {
    pub fn new(instrument: &str, model: &'static RelayModel, transport: T, channels: u8) -> Self {
        // A board that never answers is never read from, so its framing does not matter.
        let framing = model.answers.unwrap_or(Framing::Terminated(b'\n'));
        Self {
            model,
            wire: Wire::new(instrument, model.name, transport, framing),
            channels,
        }
    }

    pub fn name(&self) -> &str {
        self.wire.instrument()
    }

    pub fn set_timeout(&mut self, timeout: std::time::Duration) {
        self.wire.timeout = timeout;
    }

    /// Closes or opens a contact and, where the board can tell, checks that it did.
    pub fn set(&mut self, channel: u8, closed: bool) -> Result<(), RigError> {
        self.check_channel(channel)?;
        let command = (self.model.switch)(channel, closed);
        self.exchange(&command)?;
        match self.read(channel)? {
            Some(now) if now != closed => {
                let state = if now { "closed" } else { "open" };
                Err(self.wire.error(format!(
                    "relay {channel} reads back {state} after switching it"
                )))
            }
            Some(_) | None => Ok(()),
        }
    }

    /// Whether a contact is closed; `None` if the board cannot tell.
    pub fn read(&mut self, channel: u8) -> Result<Option<bool>, RigError> {
        self.check_channel(channel)?;
        let Some(query) = self.model.query else {
            return Ok(None);
        };
        let command = query(channel);
        let answer = self.exchange(&command)?;
        match answer.as_str() {
            "on" => Ok(Some(true)),
            "off" => Ok(Some(false)),
            other => Err(self
                .wire
                .unreadable(&shown(&command), other, "expected on or off")),
        }
    }

    /// The firmware version, or `None` for a board that cannot be asked.
    pub fn version(&mut self) -> Result<Option<String>, RigError> {
        match self.model.version {
            Some(command) => self.exchange(command.as_bytes()).map(Some),
            None => Ok(None),
        }
    }

    /// Sends a command and, if the board answers, returns the answer after the command's echo.
    fn exchange(&mut self, command: &[u8]) -> Result<String, RigError> {
        let shown = shown(command);
        if self.model.answers.is_none() {
            return self.wire.send(command, &shown).map(|()| String::new());
        }
        let answer = self.wire.query(command, &shown)?;
        let mut lines = answer.lines().map(str::trim).filter(|l| !l.is_empty());
        // A board that does not echo our command did not take it: another model, or noise.
        if lines.next() != Some(shown.as_str()) {
            return Err(self
                .wire
                .unreadable(&shown, &answer, "expected the command's echo"));
        }
        Ok(lines.collect::<Vec<_>>().join(" "))
    }

    fn check_channel(&self, channel: u8) -> Result<(), RigError> {
        if (1..=self.channels.min(self.model.max_channels)).contains(&channel) {
            Ok(())
        } else {
            Err(self.wire.error(format!(
                "no relay {channel}; this rig gives it 1..={}",
                self.channels
            )))
        }
    }
}

/// A command as a person reads it: text as text, binary frames in hex.
fn shown(command: &[u8]) -> String {
    if command
        .iter()
        .all(|b| b.is_ascii_graphic() || b" \r".contains(b))
    {
        String::from_utf8_lossy(command).trim().to_string()
    } else {
        let hex: Vec<String> = command.iter().map(|b| format!("{b:02X}")).collect();
        hex.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numato_counts_from_zero_then_in_letters() {
        assert_eq!((NUMATO.switch)(1, true), b"relay on 0\r");
        assert_eq!((NUMATO.switch)(10, false), b"relay off 9\r");
        assert_eq!((NUMATO.switch)(11, true), b"relay on A\r");
        assert_eq!((NUMATO.switch)(32, true), b"relay on V\r");
    }

    #[test]
    fn lcus_frames_carry_a_checksum() {
        assert_eq!((LCUS.switch)(1, true), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!((LCUS.switch)(1, false), [0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(shown(&(LCUS.switch)(2, true)), "A0 02 01 A3");
    }
}
