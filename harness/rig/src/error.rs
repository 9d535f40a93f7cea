use thiserror::Error;

/// The rig failed: an instrument is missing, a port is gone, a readback does not match.
#[derive(Clone, Debug, Error)]
#[error("{instrument}: {message}")]
pub struct RigError {
    /// The instrument (or device console) at fault.
    pub instrument: String,
    pub message: String,
    pub kind: RigErrorKind,
}

/// Whether trying again could help: what the runner's retries go by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RigErrorKind {
    /// The exchange failed on the wire: no answer in time, line noise, a write that did not go
    /// out. A flaky cable or a busy instrument; the same command may well work again.
    Wire,
    /// Anything that would fail the same way again: the instrument answered and refused (SCPI
    /// error queue, Modbus exception), a readback disagrees, the instrument is missing or cannot
    /// do what was asked.
    Refused,
}

impl RigError {
    /// An error that would happen again.
    pub fn new(instrument: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            instrument: instrument.into(),
            message: message.into(),
            kind: RigErrorKind::Refused,
        }
    }

    /// A failed exchange on the wire, worth a retry.
    pub fn wire(instrument: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: RigErrorKind::Wire,
            ..Self::new(instrument, message)
        }
    }
}
