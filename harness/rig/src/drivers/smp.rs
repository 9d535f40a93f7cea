//! Firmware updates over MCUmgr SMP on a serial port (Zephyr/MCUboot devices), with
//! mcumgr-toolkit: SMP serial framing (base64, CRC16, frame start bytes), CBOR, chunked image
//! upload that resumes from the device's offset, test/confirm, reset.
//!
//! The blocking client runs on tokio's blocking pool one command at a time; waiting for a device
//! to boot happens between commands on the rig's clock (`crate::time`), so a paused clock
//! advances and a scaled one scales. Answer timeouts are the wire's, in real time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::time::{Instant, sleep};
use async_trait::async_trait;
use mcumgr_toolkit::MCUmgrClient;
use mcumgr_toolkit::client::MCUmgrClientError;
use mcumgr_toolkit::commands::image::ImageState;
use mcumgr_toolkit::connection::ExecuteError;
use mcumgr_toolkit::transport::ReceiveError;

use super::mcuboot;
use crate::{DfuOutcome, LinkFailure, Progress, RigError, Updater};

/// How long one SMP command may take to be answered (real time: the wire's, not the scenario's).
/// Zephyr answers in milliseconds; the first upload chunk may wait for a sector erase.
const ANSWER_TIMEOUT: Duration = Duration::from_millis(1500);
/// Pause between polls while the device reboots into the new image.
const BOOT_POLL: Duration = Duration::from_millis(500);
/// A rebooting device is silent: each poll waits only this long, once.
const POLL_TIMEOUT: Duration = Duration::from_millis(200);

/// How an exchange with the device ended, when it did not answer as asked.
#[derive(Debug)]
pub enum Unanswered {
    /// Nothing came back: the device is off, bricked or not running MCUmgr.
    Silent,
    /// The device answered with an MCUmgr error.
    Refused(String),
}

/// A blocking MCUmgr client on one serial port, opened on first use.
pub struct SmpClient {
    device: String,
    port: String,
    baud: u32,
    client: Option<MCUmgrClient>,
}

impl SmpClient {
    /// `device` names the device for errors; nothing is opened yet.
    pub fn new(device: &str, port: &str, baud: u32) -> Self {
        Self {
            device: device.to_string(),
            port: port.to_string(),
            baud,
            client: None,
        }
    }

    fn rig_error(&self, what: impl std::fmt::Display) -> RigError {
        RigError::new(
            format!("{} (mcumgr on {})", self.device, self.port),
            what.to_string(),
        )
    }

    fn client(&mut self) -> Result<&MCUmgrClient, RigError> {
        if self.client.is_none() {
            let serial = serialport::new(&self.port, self.baud)
                .timeout(ANSWER_TIMEOUT)
                .open()
                .map_err(|e| {
                    self.rig_error(format!(
                        "cannot open {}: {e} (is the device plugged in? is your user in `dialout`?)",
                        self.port
                    ))
                })?;
            let client = MCUmgrClient::new_from_serial(serial);
            client
                .set_timeout(ANSWER_TIMEOUT)
                .map_err(|e| self.rig_error(e))?;
            // A lost frame is retried once; a silent device should not cost many timeouts.
            client.set_retries(1);
            self.client = Some(client);
        }
        self.client
            .as_ref()
            .ok_or_else(|| self.rig_error("the port is not open"))
    }

    /// Sorts a failed command into the device's business (`Ok`) and the rig's (`Err`).
    fn judge<T>(
        &mut self,
        result: Result<T, MCUmgrClientError>,
    ) -> Result<Result<T, Unanswered>, RigError> {
        let error = match result {
            Ok(value) => return Ok(Ok(value)),
            Err(e) => e,
        };
        match &error {
            MCUmgrClientError::ExecuteError(ExecuteError::ReceiveFailed(
                ReceiveError::Timeout | ReceiveError::UnexpectedResponse,
            )) => Ok(Err(Unanswered::Silent)),
            MCUmgrClientError::ExecuteError(ExecuteError::ErrorResponse(rc)) => {
                Ok(Err(Unanswered::Refused(format!("mcumgr error {rc}"))))
            }
            MCUmgrClientError::ChecksumMismatchOnDevice | MCUmgrClientError::UnexpectedOffset => {
                Ok(Err(Unanswered::Refused(error.to_string())))
            }
            _ => {
                // The port itself failed: start afresh next time.
                self.client = None;
                Err(self.rig_error(format!("{error}: {}", source_chain(&error))))
            }
        }
    }

    /// Whether MCUmgr answers an echo, and with the frame size it reports.
    pub fn hello(&mut self) -> Result<Result<(), Unanswered>, RigError> {
        let result = self.client()?.check_connection();
        let answered = self.judge(result)?;
        if answered.is_ok() {
            let result = self.client()?.use_auto_frame_size();
            // An older MCUmgr without the parameters command keeps the default frame size.
            if let Err(e) = result
                && !e.command_not_supported()
            {
                return self.judge(Err(e));
            }
        }
        Ok(answered)
    }

    /// Uploads `bytes` from the device's offset; returns the percentage reached when stopped
    /// early by `stop_at`, or `None` once the whole image is written.
    pub fn upload(
        &mut self,
        bytes: &[u8],
        stop_at: Option<u8>,
        progress: &mut Progress,
    ) -> Result<Result<Option<u8>, Unanswered>, RigError> {
        let mut stopped = None;
        let mut on_chunk = |written: u64, total: u64| {
            progress(written, total);
            let percent = u8::try_from(written * 100 / total.max(1)).unwrap_or(100);
            match stop_at {
                Some(stop) if percent >= stop && written < total => {
                    stopped = Some(percent);
                    false
                }
                _ => true,
            }
        };
        let result = self
            .client()?
            .image_upload(bytes, None, None, false, Some(&mut on_chunk));
        match (result, stopped) {
            (Err(MCUmgrClientError::ProgressCallbackError), Some(at)) => Ok(Ok(Some(at))),
            (result, _) => Ok(self.judge(result)?.map(|()| None)),
        }
    }

    /// Marks the image with `hash` for a test boot (or confirms it).
    pub fn set_state(
        &mut self,
        hash: &[u8],
        confirm: bool,
    ) -> Result<Result<(), Unanswered>, RigError> {
        let result = self.client()?.image_set_state(Some(hash), confirm);
        Ok(self.judge(result)?.map(drop))
    }

    pub fn reset(&mut self) -> Result<Result<(), Unanswered>, RigError> {
        let result = self.client()?.os_system_reset(false, None);
        self.judge(result)
    }

    /// The image slots as the device reports them.
    pub fn images(&mut self) -> Result<Result<Vec<ImageState>, Unanswered>, RigError> {
        let result = self.client()?.image_get_state();
        self.judge(result)
    }

    /// `images`, asked once with a short timeout: for polling a device that may be rebooting.
    pub fn poll_images(&mut self) -> Result<Result<Vec<ImageState>, Unanswered>, RigError> {
        let client = self.client()?;
        let result = client.set_timeout(POLL_TIMEOUT).and_then(|()| {
            client.set_retries(0);
            let result = client.image_get_state();
            client.set_retries(1);
            client.set_timeout(ANSWER_TIMEOUT)?;
            result
        });
        self.judge(result)
    }

    pub fn hang_up(&mut self) {
        self.client = None;
    }
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut source = error.source();
    while let Some(e) = source {
        out.push(e.to_string());
        source = e.source();
    }
    out.join(": ")
}

/// The SMP client behind the rig's `Updater` trait.
pub struct SmpUpdater {
    client: Arc<Mutex<SmpClient>>,
}

impl SmpUpdater {
    pub fn new(client: SmpClient) -> Self {
        Self {
            client: Arc::new(Mutex::new(client)),
        }
    }

    async fn run<R: Send + 'static>(
        &self,
        call: impl FnOnce(&mut SmpClient) -> Result<R, RigError> + Send + 'static,
    ) -> Result<R, RigError> {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || {
            call(&mut client.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await
        .map_err(|e| RigError::new("mcumgr", format!("driver thread failed: {e}")))?
    }

    /// Polls until the device answers again after a reset; the running slot's version.
    async fn running_version(
        &self,
        until: Instant,
    ) -> Result<Result<String, Unanswered>, RigError> {
        loop {
            sleep(BOOT_POLL).await;
            match self.run(SmpClient::poll_images).await? {
                Ok(images) => {
                    let active = images.iter().find(|i| i.active);
                    let version = active.map_or_else(String::new, |i| i.version.clone());
                    return Ok(Ok(version));
                }
                Err(Unanswered::Silent) if Instant::now() < until => {}
                Err(other) => return Ok(Err(other)),
            }
        }
    }
}

fn failed(unanswered: Unanswered) -> DfuOutcome {
    DfuOutcome::Failed(match unanswered {
        Unanswered::Silent => LinkFailure::NotFound,
        Unanswered::Refused(why) => LinkFailure::Refused(why),
    })
}

#[async_trait]
impl Updater for SmpUpdater {
    async fn update(
        &mut self,
        image: &hil_scenario::Image,
        stop_at: Option<u8>,
        mut progress: Progress,
        deadline: Duration,
    ) -> Result<DfuOutcome, RigError> {
        let until = Instant::now() + deadline;
        let bytes = Arc::new(match &image.profile.signed_image {
            Some(path) => std::fs::read(path).map_err(|e| {
                RigError::new("mcumgr", format!("cannot read {}: {e}", path.display()))
            })?,
            None => mcuboot::build(&image.profile),
        });
        let hash = mcuboot::inspect(&bytes)
            .map_err(|e| RigError::new("mcumgr", format!("not an MCUboot image: {e}")))?
            .hash;
        if let Err(e) = self.run(SmpClient::hello).await? {
            return Ok(failed(e));
        }
        let upload = bytes.clone();
        let stopped = self
            .run(move |c| c.upload(&upload, stop_at, &mut progress))
            .await?;
        match stopped {
            Err(e) => return Ok(failed(e)),
            Ok(Some(at_percent)) => return Ok(DfuOutcome::Stopped { at_percent }),
            Ok(None) => {}
        }
        // Test, not confirm: the new image must confirm itself once it runs (as the phone app
        // leaves it), or MCUboot reverts it at the next reset.
        if let Err(e) = self.run(move |c| c.set_state(&hash, false)).await? {
            return Ok(failed(e));
        }
        if let Err(e) = self.run(SmpClient::reset).await? {
            return Ok(failed(e));
        }
        Ok(match self.running_version(until).await? {
            Ok(version) => DfuOutcome::Updated { version },
            Err(e) => failed(e),
        })
    }

    async fn hang_up(&mut self) -> Result<(), RigError> {
        self.run(|c| {
            c.hang_up();
            Ok(())
        })
        .await
    }
}
