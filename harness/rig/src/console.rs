use async_trait::async_trait;

use crate::RigError;

/// A device's text log: a UART, RTT channel, or a virtual device's console.
#[async_trait]
pub trait Console: Send {
    /// The next complete line, without its terminator; `None` once the console is closed.
    async fn read_line(&mut self) -> Result<Option<String>, RigError>;
}
