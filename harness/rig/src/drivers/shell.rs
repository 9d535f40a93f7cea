//! An interactive shell on a UART, as a dongle's firmware prints it: a prompt with no line end,
//! each command echoed, colour and cursor codes, and asynchronous lines (scan reports, connection
//! events) that may arrive between any two lines of a command's output. The dialect (prompt,
//! commands, line patterns) comes from a shell profile.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use hil_scenario::ShellDialect;
use regex::Regex;

use super::transport::{Transport, TransportError};
use crate::RigError;

/// How long a shell takes to echo a command and print its prompt again.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// ANSI escape sequences: colours (`ESC[1;32m`), line erase (`ESC[J`, `ESC[K`), cursor moves.
static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]").expect("valid regex")
});

/// What the shell printed, prompts apart from lines.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Prompt,
    Line(String),
}

/// What a command's output says, beyond its lines.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Done(Vec<String>),
    /// The Bluetooth stack is not enabled.
    NotReady,
}

pub struct ShellPort<T: Transport> {
    instrument: String,
    transport: T,
    pub dialect: Arc<ShellDialect>,
    /// Bytes of the line being received.
    partial: Vec<u8>,
    tokens: VecDeque<Token>,
    /// Asynchronous lines that arrived while a command ran, oldest first.
    events: VecDeque<String>,
    pub timeout: Duration,
}

impl<T: Transport> ShellPort<T> {
    pub fn new(instrument: &str, transport: T, dialect: Arc<ShellDialect>) -> Self {
        Self {
            instrument: instrument.to_string(),
            transport,
            dialect,
            partial: Vec::new(),
            tokens: VecDeque::new(),
            events: VecDeque::new(),
            timeout: ANSWER_TIMEOUT,
        }
    }

    pub fn instrument(&self) -> &str {
        &self.instrument
    }

    /// An error naming the dongle, its shell and its port.
    pub fn error(&self, message: impl std::fmt::Display) -> RigError {
        RigError::new(
            &self.instrument,
            format!(
                "{} dongle on {}: {message}",
                self.dialect.name,
                self.transport.port()
            ),
        )
    }

    /// Runs one command and returns its output, the lines between its echo and the next prompt
    /// that are not asynchronous events. An error line fails it.
    pub fn run(&mut self, command: &str) -> Result<Reply, RigError> {
        self.transport
            .write_all(format!("{command}\r").as_bytes())
            .map_err(|e| self.error(format!("`{command}`: {e}")))?;
        let until = Instant::now() + self.timeout;
        let mut echoed = false;
        let mut output = Vec::new();
        let mut unreadable = Vec::new();
        loop {
            let Some(token) = self
                .next_token(until)
                .map_err(|e| self.error(format!("`{command}`: {e}")))?
            else {
                let got = if unreadable.is_empty() {
                    String::new()
                } else {
                    format!("; it printed {unreadable:?} (line noise, or the wrong baud rate?)")
                };
                return Err(self.error(format!(
                    "no prompt after `{command}` within {:?} (timed out): is the dongle running the shell its profile describes{got}",
                    self.timeout
                )));
            };
            match token {
                Token::Line(line) if !echoed && line.trim() == command => echoed = true,
                Token::Prompt if echoed => break,
                Token::Prompt => {}
                Token::Line(line) if !is_readable(&line) => unreadable.push(line),
                Token::Line(line) if !echoed || self.is_event(&line) => self.events.push_back(line),
                Token::Line(line) => output.push(line),
            }
        }
        let lines = &self.dialect.lines;
        if output.iter().any(|line| lines.not_ready.is_match(line)) {
            return Ok(Reply::NotReady);
        }
        if let Some(error) = output.iter().find(|line| lines.error.is_match(line)) {
            return Err(self.error(format!("`{command}` failed: {error}")));
        }
        Ok(Reply::Done(output))
    }

    /// The next asynchronous line `wanted` accepts, or `None` once `until` passes. Lines it does
    /// not accept are dropped.
    pub fn wait_for(
        &mut self,
        until: Instant,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> Result<Option<String>, RigError> {
        while let Some(line) = self.events.pop_front() {
            if wanted(&line) {
                return Ok(Some(line));
            }
        }
        loop {
            match self.next_token(until).map_err(|e| self.error(e))? {
                None => return Ok(None),
                Some(Token::Line(line)) if wanted(&line) => return Ok(Some(line)),
                Some(_) => {}
            }
        }
    }

    /// Drops asynchronous lines nobody waited for (the end of an earlier link), so a new
    /// exchange cannot mistake them for its own.
    pub fn drop_events(&mut self) {
        self.events.clear();
    }

    /// Lines that the shell prints on its own, whatever command runs.
    fn is_event(&self, line: &str) -> bool {
        let l = &self.dialect.lines;
        [
            &l.device,
            &l.connected,
            &l.connect_failed,
            &l.security_changed,
            &l.security_failed,
            &l.disconnected,
            &l.initialized,
        ]
        .iter()
        .any(|r| r.is_match(line))
            || l.refused.as_ref().is_some_and(|r| r.is_match(line))
    }

    /// The next prompt or line, reading the port until `until`.
    fn next_token(&mut self, until: Instant) -> Result<Option<Token>, TransportError> {
        let mut buf = [0u8; 512];
        loop {
            if let Some(token) = self.tokens.pop_front() {
                return Ok(Some(token));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.transport.read_some(&mut buf, left) {
                Ok(n) => self.split(&buf[..n]),
                Err(TransportError::TimedOut(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Splits received bytes into lines and prompts. Codes are stripped from the line so far
    /// each time, so one split across two reads is still recognised.
    fn split(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\r' || byte == b'\n' {
                let line = self.take_partial();
                if !line.trim().is_empty() {
                    self.tokens.push_back(Token::Line(line));
                }
                continue;
            }
            self.partial.push(byte);
            if self.partial.ends_with(b" ") || self.partial.ends_with(b"m") {
                let text = strip(&self.partial);
                if let Some(before) = text.strip_suffix(self.dialect.prompt.as_str()) {
                    // Whatever came before the prompt on this line ended there.
                    if !before.trim().is_empty() {
                        self.tokens.push_back(Token::Line(before.to_string()));
                    }
                    self.tokens.push_back(Token::Prompt);
                    self.partial.clear();
                }
            }
        }
    }

    fn take_partial(&mut self) -> String {
        strip(&std::mem::take(&mut self.partial))
    }
}

fn strip(bytes: &[u8]) -> String {
    ANSI.replace_all(&String::from_utf8_lossy(bytes), "")
        .into_owned()
}

/// Printable text: anything else is noise on the line.
fn is_readable(line: &str) -> bool {
    line.chars().all(|c| !c.is_control() && c != '\u{fffd}')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A shell that prints `script` in three-byte pieces, whatever it is sent.
    struct Transcript {
        script: Vec<u8>,
    }

    impl Transport for Transcript {
        fn port(&self) -> &str {
            "/dev/ttyTEST"
        }

        fn discard_input(&mut self) -> Result<(), TransportError> {
            Ok(())
        }

        fn write_all(&mut self, _bytes: &[u8]) -> Result<(), TransportError> {
            Ok(())
        }

        fn read_some(
            &mut self,
            buf: &mut [u8],
            timeout: Duration,
        ) -> Result<usize, TransportError> {
            let n = self.script.len().min(3).min(buf.len());
            if n == 0 {
                return Err(TransportError::TimedOut(timeout));
            }
            buf[..n].copy_from_slice(&self.script[..n]);
            self.script.drain(..n);
            Ok(n)
        }
    }

    fn shell(script: &str) -> ShellPort<Transcript> {
        let profile = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/profiles/zephyr-bt-shell.toml");
        let dialect = ShellDialect::load(&profile).unwrap();
        let transport = Transcript {
            script: script.as_bytes().to_vec(),
        };
        let mut port = ShellPort::new("dongle", transport, Arc::new(dialect));
        port.timeout = Duration::from_millis(50);
        port
    }

    const PROMPT: &str = "\x1b[1;32muart:~$ \x1b[m";

    #[test]
    fn output_comes_between_the_echo_and_the_prompt_and_events_are_kept_aside() {
        let script = format!(
            "{PROMPT}bt bonds\r\nBonded devices:\r\n\r\x1b[JDisconnected: C0:11:22:33:44:55 (random) (reason 0x13)\r\nRemote Identity: C0:11:22:33:44:55 (random)\r\nTotal 1\r\n{PROMPT}"
        );
        let mut port = shell(&script);
        let reply = port.run("bt bonds").unwrap();
        assert_eq!(
            reply,
            Reply::Done(vec![
                "Bonded devices:".into(),
                "Remote Identity: C0:11:22:33:44:55 (random)".into(),
                "Total 1".into()
            ])
        );
        let event = port.wait_for(Instant::now(), |l| l.starts_with("Disconnected"));
        assert!(event.unwrap().is_some());
    }

    #[test]
    fn error_lines_fail_the_command_and_not_ready_says_so() {
        let script = format!("bt disconnect\r\n\x1b[1;31mNot connected\x1b[m\r\n{PROMPT}");
        let e = shell(&script).run("bt disconnect").unwrap_err();
        assert!(
            e.message.contains("`bt disconnect` failed: Not connected")
                && e.message.contains("/dev/ttyTEST"),
            "{e}"
        );
        let script =
            format!("bt scan on\r\nBluetooth set active scan failed (err -11)\r\n{PROMPT}");
        assert_eq!(shell(&script).run("bt scan on").unwrap(), Reply::NotReady);
    }

    #[test]
    fn a_shell_that_never_prompts_is_a_timeout_that_shows_what_it_printed() {
        let e = shell("bt s\u{fffd}\x13an\r\n")
            .run("bt scan on")
            .unwrap_err();
        assert!(
            e.message.contains("timed out") && e.message.contains("line noise"),
            "{e}"
        );
    }

    #[test]
    fn ansi_codes_go() {
        assert_eq!(
            strip(b"\x1b[1;32muart:~$ \x1b[mbt scan on"),
            "uart:~$ bt scan on"
        );
        assert_eq!(strip(b"\r\x1b[JConnected: x"), "\rConnected: x");
    }
}
