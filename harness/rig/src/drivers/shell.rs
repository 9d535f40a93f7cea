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
    use super::*;

    #[test]
    fn ansi_codes_go_and_prompts_are_their_own_tokens() {
        assert_eq!(
            strip(b"\x1b[1;32muart:~$ \x1b[mbt scan on"),
            "uart:~$ bt scan on"
        );
        assert_eq!(strip(b"\r\x1b[JConnected: x"), "\rConnected: x");
    }
}
