//! A Mini-Circuits RCDAT-6000-90 on its serial port: ASCII commands ending in CR, answers ending
//! in CR LF; 0–90 dB in 0.25 dB steps.

use std::time::Duration;

use super::Protocol;

const MAX_DB: f64 = 90.0;
const STEP_DB: f64 = 0.25;

pub struct RcdatAttenuator {
    db: f64,
}

impl RcdatAttenuator {
    pub fn new() -> Self {
        Self { db: 0.0 }
    }

    fn run(&mut self, command: &str) -> String {
        let command = command.trim().trim_start_matches(':').to_ascii_uppercase();
        if command == "MN?" {
            return "MN=RCDAT-6000-90".into();
        }
        if command == "SN?" {
            return "SN=12008300042".into();
        }
        if command == "ATT?" {
            return format!("{:.2}", self.db);
        }
        let Some(value) = command.strip_prefix("SETATT=") else {
            return "0".into();
        };
        match value.parse::<f64>() {
            // Above the maximum the instrument goes to its maximum and says so.
            Ok(db) if db > MAX_DB => {
                self.db = MAX_DB;
                "2".into()
            }
            // Between steps it rounds down to the step below.
            Ok(db) if db >= 0.0 => {
                self.db = (db / STEP_DB).floor() * STEP_DB;
                "1".into()
            }
            Ok(_) | Err(_) => "0".into(),
        }
    }
}

impl Protocol for RcdatAttenuator {
    fn take_requests(&mut self, received: &mut Vec<u8>, _quiet: bool) -> Vec<Vec<u8>> {
        let mut commands = Vec::new();
        while let Some(end) = received.iter().position(|&b| b == b'\r' || b == b'\n') {
            let command: Vec<u8> = received.drain(..=end).collect();
            if end > 0 {
                commands.push(command[..end].to_vec());
            }
        }
        commands
    }

    fn execute(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let answer = self.run(&String::from_utf8_lossy(request));
        Some(format!("{answer}\r\n").into_bytes())
    }

    fn attenuation(&self) -> Option<f64> {
        Some(self.db)
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(10)
    }

    fn noise(&self) -> Vec<u8> {
        vec![0xFF, 0x13, b'#', 0xFE, 0x00, b'~', b'\r', b'\n']
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_confirmed_and_read_back() {
        let mut rcdat = RcdatAttenuator::new();
        assert_eq!(rcdat.run("SETATT=30.25"), "1");
        assert_eq!(rcdat.run("ATT?"), "30.25");
        assert_eq!(rcdat.run("SETATT=95"), "2");
        assert_eq!(rcdat.run("ATT?"), "90.00");
        assert_eq!(rcdat.run("SETATT=-1"), "0");
        assert_eq!(rcdat.run("MN?"), "MN=RCDAT-6000-90");
    }
}
