//! The SMP emulator on a pty, opened by the real SMP client: a simulated device's firmware
//! updates over the same code path a bench's do.

use std::time::Duration;

use async_trait::async_trait;
use hil_rig::drivers::{SmpClient, SmpUpdater};
use hil_rig::{DfuOutcome, Progress, RigError, Updater};

use super::Emulator;
use crate::device::McuMgrPort;

/// The baud rate the emulated UART is opened at (a pty ignores it).
const BAUD: u32 = 115_200;

/// The real client, and the emulator it talks to (stopped with it).
pub struct EmulatedUpdater {
    updater: SmpUpdater,
    _emulator: Emulator,
}

/// Starts `device`'s SMP emulator in front of its firmware and opens the real client on it.
pub fn emulated_updater(device: &str, firmware: McuMgrPort) -> Box<dyn Updater> {
    match Emulator::mcumgr(firmware) {
        Ok(emulator) => Box::new(EmulatedUpdater {
            updater: SmpUpdater::new(SmpClient::new(device, emulator.port(), BAUD)),
            _emulator: emulator,
        }),
        Err(e) => Box::new(NoPty(RigError::new(
            device,
            format!("cannot start the SMP emulator: {e}"),
        ))),
    }
}

#[async_trait]
impl Updater for EmulatedUpdater {
    async fn update(
        &mut self,
        image: &hil_scenario::Image,
        stop_at: Option<u8>,
        progress: Progress,
        deadline: Duration,
    ) -> Result<DfuOutcome, RigError> {
        self.updater
            .update(image, stop_at, progress, deadline)
            .await
    }

    async fn hang_up(&mut self) -> Result<(), RigError> {
        self.updater.hang_up().await
    }
}

/// No pty could be had: every use is the rig's fault.
struct NoPty(RigError);

#[async_trait]
impl Updater for NoPty {
    async fn update(
        &mut self,
        _image: &hil_scenario::Image,
        _stop_at: Option<u8>,
        _progress: Progress,
        _deadline: Duration,
    ) -> Result<DfuOutcome, RigError> {
        Err(self.0.clone())
    }

    async fn hang_up(&mut self) -> Result<(), RigError> {
        Err(self.0.clone())
    }
}
