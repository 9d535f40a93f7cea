use async_trait::async_trait;
use hil_rig::{Console, RigError};
use tokio::sync::mpsc;

/// A virtual device's UART: the lines its firmware model writes.
pub struct VirtualConsole(pub mpsc::UnboundedReceiver<String>);

#[async_trait]
impl Console for VirtualConsole {
    async fn read_line(&mut self) -> Result<Option<String>, RigError> {
        Ok(self.0.recv().await)
    }
}
