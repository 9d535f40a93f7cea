use async_trait::async_trait;
use hil_rig::{Console, RigError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A virtual device's UART: the lines its firmware model writes, and, if the model's task
/// crashes, the crash: a bug in the simulator is the rig's fault (ERROR), not the device's.
pub struct VirtualConsole {
    lines: mpsc::UnboundedReceiver<String>,
    crash: oneshot::Receiver<RigError>,
}

impl VirtualConsole {
    pub fn new(lines: mpsc::UnboundedReceiver<String>, crash: oneshot::Receiver<RigError>) -> Self {
        Self { lines, crash }
    }
}

#[async_trait]
impl Console for VirtualConsole {
    async fn read_line(&mut self) -> Result<Option<String>, RigError> {
        // Lines written before a crash come first.
        tokio::select! {
            biased;
            line = self.lines.recv() => match line {
                Some(line) => Ok(Some(line)),
                None => match (&mut self.crash).await {
                    Ok(crash) => Err(crash),
                    Err(_) => Ok(None),
                },
            },
            Ok(crash) = &mut self.crash => Err(crash),
        }
    }
}

/// Watches a simulated device's task: a panic in it is reported to the device's console.
pub fn supervise(device: String, task: JoinHandle<()>, crash: oneshot::Sender<RigError>) {
    tokio::spawn(async move {
        if let Err(e) = task.await
            && e.is_panic()
        {
            let panic = e.into_panic();
            let message = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let _ = crash.send(RigError::new(
                device,
                format!("the simulated device crashed (a simulator bug): {message}"),
            ));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_crashed_device_model_is_a_rig_error_after_its_last_lines() {
        let (lines_tx, lines) = mpsc::unbounded_channel();
        let (crash_tx, crash) = oneshot::channel();
        let mut console = VirtualConsole::new(lines, crash);
        let task = tokio::spawn(async move {
            lines_tx.send("booting".to_string()).unwrap();
            panic!("index out of bounds");
        });
        supervise("ring".into(), task, crash_tx);

        assert_eq!(
            console.read_line().await.unwrap().as_deref(),
            Some("booting")
        );
        let crash = console.read_line().await.unwrap_err();
        assert_eq!(crash.instrument, "ring");
        assert!(crash.message.contains("index out of bounds"), "{crash}");
    }

    #[tokio::test]
    async fn a_device_model_that_ends_closes_its_console() {
        let (lines_tx, lines) = mpsc::unbounded_channel::<String>();
        let (crash_tx, crash) = oneshot::channel();
        let mut console = VirtualConsole::new(lines, crash);
        supervise(
            "ring".into(),
            tokio::spawn(async move { drop(lines_tx) }),
            crash_tx,
        );

        assert_eq!(console.read_line().await.unwrap(), None);
    }
}
