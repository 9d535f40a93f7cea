use std::time::Duration;

use async_trait::async_trait;

use crate::{DfuOutcome, RigError};

/// Called once per chunk the device acknowledged: (bytes written, image size).
pub type Progress = Box<dyn FnMut(u64, u64) + Send>;

/// A device's own firmware-update port (MCUmgr SMP on a UART on a bench), beside its radio.
///
/// `Err` means the port or the host side failed (ERROR); a device that does not answer, refuses
/// or comes back with the wrong image is an `Ok(DfuOutcome)` for the step to judge.
#[async_trait]
pub trait Updater: Send {
    /// Uploads `image` (resuming from where the device's upload stopped, if it is the same one),
    /// marks it for a test boot, resets the device and returns the version it then runs. With
    /// `stop_at`, stops sending once that percentage is written and returns `Stopped`.
    async fn update(
        &mut self,
        image: &hil_scenario::Image,
        stop_at: Option<u8>,
        progress: Progress,
        deadline: Duration,
    ) -> Result<DfuOutcome, RigError>;

    /// Closes the port, as a pulled cable does; the next update opens it again.
    async fn hang_up(&mut self) -> Result<(), RigError>;
}
