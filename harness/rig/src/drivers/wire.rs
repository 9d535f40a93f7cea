//! The exchange every small serial instrument needs (relay boards, attenuators): send a command,
//! maybe read one answer, and word each failure with the instrument, its model and its port.

use std::time::Duration;

use super::psu::DEFAULT_TIMEOUT;
use super::transport::{Framing, Transport, TransportError, read_answer};
use crate::{RigError, RigErrorKind};

pub struct Wire<T: Transport> {
    instrument: String,
    model: &'static str,
    transport: T,
    framing: Framing,
    pub timeout: Duration,
}

impl<T: Transport> Wire<T> {
    pub fn new(instrument: &str, model: &'static str, transport: T, framing: Framing) -> Self {
        Self {
            instrument: instrument.to_string(),
            model,
            transport,
            framing,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn instrument(&self) -> &str {
        &self.instrument
    }

    /// Sends `bytes`; `shown` is how a person reads the command in an error.
    pub fn send(&mut self, bytes: &[u8], shown: &str) -> Result<(), RigError> {
        // Anything still pending answers nobody's question now (a late reply, line noise).
        self.transport
            .discard_input()
            .and_then(|()| self.transport.write_all(bytes))
            .map_err(|e| self.wire_error(shown, e))
    }

    /// Sends `bytes` and returns the answer as text, lines and all; bytes that are not printable
    /// ASCII mean line noise or a wrong baud rate.
    pub fn query(&mut self, bytes: &[u8], shown: &str) -> Result<String, RigError> {
        self.send(bytes, shown)?;
        let answer = read_answer(&mut self.transport, self.framing, self.timeout)
            .map_err(|e| self.wire_error(shown, e))?;
        if answer
            .iter()
            .all(|b| b.is_ascii_graphic() || b" \r\n".contains(b))
        {
            Ok(String::from_utf8_lossy(&answer).trim().to_string())
        } else {
            Err(self.unreadable(
                shown,
                &String::from_utf8_lossy(&answer),
                "line noise, or the wrong baud rate?",
            ))
        }
    }

    /// An answer that is not one: line noise, a wrong baud rate. Worth a retry.
    pub fn unreadable(&self, shown: &str, answer: &str, expected: &str) -> RigError {
        self.wire_fault(format!(
            "unreadable answer to `{shown}`: {answer:?} ({expected})"
        ))
    }

    fn wire_error(&self, shown: &str, e: TransportError) -> RigError {
        self.wire_fault(format!("`{shown}`: {e}"))
    }

    fn wire_fault(&self, message: String) -> RigError {
        RigError {
            kind: RigErrorKind::Wire,
            ..self.error(message)
        }
    }

    pub fn error(&self, message: String) -> RigError {
        RigError::new(
            &self.instrument,
            format!("{} on {}: {message}", self.model, self.transport.port()),
        )
    }
}
