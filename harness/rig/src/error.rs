use thiserror::Error;

/// The rig failed: an instrument is missing, a port is gone, a readback does not match.
#[derive(Clone, Debug, Error)]
#[error("{instrument}: {message}")]
pub struct RigError {
    /// The instrument (or device console) at fault.
    pub instrument: String,
    pub message: String,
}

impl RigError {
    pub fn new(instrument: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            instrument: instrument.into(),
            message: message.into(),
        }
    }
}
