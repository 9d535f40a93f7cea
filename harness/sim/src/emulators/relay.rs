//! USB relay boards, written from their vendors' descriptions independently of the driver's
//! tables: a Numato module (an echoing console) and an LCUS board (silent binary frames).

use std::time::Duration;

use super::Protocol;

/// A Numato 8-channel USB relay module: `relay on 0`, `relay read 0`, `ver`, each echoed and
/// followed by the `>` prompt.
pub struct NumatoBoard {
    contacts: [bool; 8],
}

impl NumatoBoard {
    pub fn new() -> Self {
        Self {
            contacts: [false; 8],
        }
    }

    /// The answer printed under the echo, if any. Relays are numbered 0–9 then A–V.
    fn run(&mut self, command: &str) -> Option<String> {
        let words: Vec<&str> = command.split_whitespace().collect();
        let relay = |index: &str| {
            let mut chars = index.chars();
            let digit = chars.next()?.to_digit(32)?;
            let contact = usize::try_from(digit).ok()?;
            (chars.next().is_none() && contact < self.contacts.len()).then_some(contact)
        };
        match words.as_slice() {
            ["ver"] => Some("00000008".into()),
            ["relay", "on" | "off", index] => {
                let contact = relay(index)?;
                self.contacts[contact] = words[1] == "on";
                None
            }
            ["relay", "read", index] => {
                let contact = relay(index)?;
                Some(if self.contacts[contact] { "on" } else { "off" }.into())
            }
            // The console ignores what it does not know, after echoing it.
            _ => None,
        }
    }
}

impl Protocol for NumatoBoard {
    fn take_requests(&mut self, received: &mut Vec<u8>, _quiet: bool) -> Vec<Vec<u8>> {
        let mut commands = Vec::new();
        while let Some(end) = received.iter().position(|&b| b == b'\r') {
            let command: Vec<u8> = received.drain(..=end).collect();
            commands.push(command[..end].to_vec());
        }
        commands
    }

    fn execute(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let command = String::from_utf8_lossy(request).trim().to_string();
        let mut reply = format!("{command}\n\r");
        if let Some(answer) = self.run(&command) {
            reply += &format!("{answer}\n\r");
        }
        reply.push('>');
        Some(reply.into_bytes())
    }

    fn contact(&self, channel: u8) -> Option<bool> {
        self.contacts
            .get(usize::from(channel).checked_sub(1)?)
            .copied()
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(5)
    }

    fn noise(&self) -> Vec<u8> {
        vec![0xFF, 0x13, b'#', 0xFE, 0x00, b'~', b'>']
    }
}

/// An LCUS-4 board: `A0 <ch> <state> <sum>` with `sum = A0 + ch + state`; it never answers, and
/// drops a frame whose checksum is wrong.
pub struct LcusBoard {
    contacts: [bool; 4],
}

const FRAME_START: u8 = 0xA0;
const FRAME_LEN: usize = 4;

impl LcusBoard {
    pub fn new() -> Self {
        Self {
            contacts: [false; 4],
        }
    }
}

impl Protocol for LcusBoard {
    fn take_requests(&mut self, received: &mut Vec<u8>, _quiet: bool) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        loop {
            // Bytes before a frame's start are noise.
            match received.iter().position(|&b| b == FRAME_START) {
                Some(start) => drop(received.drain(..start)),
                None => received.clear(),
            }
            if received.len() < FRAME_LEN {
                return frames;
            }
            let frame = &received[..FRAME_LEN];
            let sum = frame[..3].iter().fold(0u8, |sum, b| sum.wrapping_add(*b));
            if sum == frame[3] {
                frames.push(received.drain(..FRAME_LEN).collect());
            } else {
                received.remove(0);
            }
        }
    }

    fn execute(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let contact = usize::from(request[1]).checked_sub(1)?;
        if let (Some(closed), 0 | 1) = (self.contacts.get_mut(contact), request[2]) {
            *closed = request[2] == 1;
        }
        None
    }

    fn contact(&self, channel: u8) -> Option<bool> {
        self.contacts
            .get(usize::from(channel).checked_sub(1)?)
            .copied()
    }

    fn latency(&self) -> Duration {
        Duration::ZERO
    }

    fn noise(&self) -> Vec<u8> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcus_frames_are_found_among_noise_and_bad_sums_dropped() {
        let mut board = LcusBoard::new();
        let mut received = vec![
            0x13, 0xA0, 0x01, 0x01, 0xA2, 0xA0, 0x02, 0x01, 0x00, 0xA0, 0x03,
        ];
        let frames = board.take_requests(&mut received, false);
        assert_eq!(frames, [vec![0xA0, 0x01, 0x01, 0xA2]]);
        assert_eq!(received, [0xA0, 0x03], "a frame's start waits for the rest");
    }

    #[test]
    fn numato_echoes_then_answers_then_prompts() {
        let mut board = NumatoBoard::new();
        assert_eq!(
            board.execute(b"relay on 1"),
            Some(b"relay on 1\n\r>".to_vec())
        );
        assert_eq!(
            board.execute(b"relay read 1"),
            Some(b"relay read 1\n\ron\n\r>".to_vec())
        );
        assert_eq!(board.contact(2), Some(true));
    }
}
