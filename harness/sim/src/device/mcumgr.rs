//! The firmware's MCUmgr server, as the SMP emulator on the device's UART reaches it: image
//! upload in chunks (the same chunk code the phone's BLE update drives), image state, test,
//! confirm, reset. It answers only while the firmware (or a waiting bootloader) runs: a request
//! to a device without power, or to a brick, gets no answer.

use std::sync::Arc;
use std::time::Duration;

use hil_scenario::{DfuBanks, Profile};
use tokio::sync::{mpsc, oneshot};

use super::{Device, ResetReason, SessionEnd};

/// How long the firmware waits for the next chunk before it gives the upload up (MCUmgr's
/// upload session timeout; the same as a BLE link's supervision timeout, so both rigs log a
/// stall at the same point of a scenario).
pub(super) const UPLOAD_IDLE_TIMEOUT: Duration = crate::radio::SUPERVISION_TIMEOUT;

/// MCUmgr's "invalid value" and "bad state" return codes.
pub const RC_EINVAL: i32 = 3;
pub const RC_EBADSTATE: i32 = 6;

/// What the host asked, decoded from SMP by the emulator.
#[derive(Debug)]
pub enum McuMgrRequest {
    Echo,
    /// Image state: the slots and what is in them.
    Slots,
    /// One chunk of `len` bytes at `off`; the first (`off` 0) names the image and its size.
    Upload {
        off: u64,
        len: u64,
        first: Option<(Arc<Profile>, u64)>,
    },
    /// Marks the complete upload in slot 1 for a test boot.
    Test,
    /// Confirms the running image (a test image stops being reverted).
    Confirm,
    Reset,
}

#[derive(Debug)]
pub enum McuMgrResponse {
    Done,
    Slots(Vec<SlotState>),
    /// Where the upload now stands; the host continues from there.
    Offset(u64),
    /// An MCUmgr error code.
    Refused(i32),
}

/// One image slot, as MCUmgr's image state reports it.
#[derive(Clone, Debug)]
pub struct SlotState {
    pub slot: u32,
    pub image: Arc<Profile>,
    pub active: bool,
    pub confirmed: bool,
    pub pending: bool,
}

pub struct McuMgrCall {
    pub request: McuMgrRequest,
    pub reply: oneshot::Sender<McuMgrResponse>,
}

/// The host's end of a device's MCUmgr UART.
#[derive(Clone, Debug)]
pub struct McuMgrPort(pub(crate) mpsc::Sender<McuMgrCall>);

impl McuMgrPort {
    /// Asks the firmware; `None` if it does not answer within `wait` (off, bricked, busy).
    /// Blocking: for the emulator's own thread.
    pub fn ask(&self, request: McuMgrRequest, wait: Duration) -> Option<McuMgrResponse> {
        let (reply, mut answer) = oneshot::channel();
        // A full queue is a firmware that is not reading its UART.
        self.0.try_send(McuMgrCall { request, reply }).ok()?;
        let until = std::time::Instant::now() + wait;
        loop {
            match answer.try_recv() {
                Ok(response) => return Some(response),
                Err(oneshot::error::TryRecvError::Closed) => return None,
                Err(oneshot::error::TryRecvError::Empty) if std::time::Instant::now() < until => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                // Dropping `answer` tells the firmware nobody waits any more.
                Err(oneshot::error::TryRecvError::Empty) => return None,
            }
        }
    }
}

impl Device {
    /// Serves one MCUmgr request; `Err` when it resets the device.
    pub(super) fn mcumgr(&mut self, call: McuMgrCall) -> Result<(), SessionEnd> {
        // Bytes that reached a UART while the chip was off, or were given up on, are lost.
        if call.reply.is_closed() {
            return Ok(());
        }
        let mut reset = None;
        let response = match call.request {
            McuMgrRequest::Echo => McuMgrResponse::Done,
            McuMgrRequest::Slots => McuMgrResponse::Slots(self.slots()),
            McuMgrRequest::Upload { off, len, first } => self.upload_chunk(off, len, first),
            McuMgrRequest::Test => {
                if self.mark_for_test() {
                    McuMgrResponse::Slots(self.slots())
                } else {
                    McuMgrResponse::Refused(RC_EBADSTATE)
                }
            }
            McuMgrRequest::Confirm => {
                if self.update.previous.take().is_some() {
                    self.log("inf", "dfu", "image confirmed");
                }
                McuMgrResponse::Slots(self.slots())
            }
            McuMgrRequest::Reset => {
                reset = Some(if self.install_marked() {
                    ResetReason::Update
                } else {
                    ResetReason::Software
                });
                McuMgrResponse::Done
            }
        };
        let _ = call.reply.send(response);
        match reset {
            Some(reason) => Err(self.power_down(SessionEnd::Reset(reason))),
            None => Ok(()),
        }
    }

    fn upload_chunk(
        &mut self,
        off: u64,
        len: u64,
        first: Option<(Arc<Profile>, u64)>,
    ) -> McuMgrResponse {
        let written = match (off, first) {
            (0, Some((image, total))) => {
                let resume_at = self.begin_upload(&image, total);
                if resume_at > 0 {
                    // Same upload as before: the host skips what the slot already holds.
                    self.update.last_chunk_at = Some(hil_rig::time::Instant::now());
                    return McuMgrResponse::Offset(resume_at);
                }
                self.write_chunk(len)
            }
            (_, Some(_)) => return McuMgrResponse::Refused(RC_EINVAL),
            (off, None) => match &self.update.partial {
                None => return McuMgrResponse::Refused(RC_EINVAL),
                // Out of order: the host continues from what was written.
                Some(partial) if partial.written != off => partial.written,
                Some(_) => self.write_chunk(len),
            },
        };
        let complete = self.update.partial.as_ref().is_some_and(|p| p.complete());
        self.update.last_chunk_at = (!complete).then(hil_rig::time::Instant::now);
        McuMgrResponse::Offset(written)
    }

    /// When an upload over the wire is given up, if one is under way.
    pub(super) fn upload_gives_up_at(&self) -> Option<hil_rig::time::Instant> {
        self.update.last_chunk_at.map(|at| at + UPLOAD_IDLE_TIMEOUT)
    }

    /// The host went quiet mid-upload. A single bank has no application left to run: the
    /// bootloader takes over.
    pub(super) fn upload_given_up(&mut self) -> Result<(), SessionEnd> {
        self.update.last_chunk_at = None;
        let percent = self.update.partial.as_ref().map_or(0, |p| p.percent());
        self.log("wrn", "dfu", &format!("transfer stalled at {percent} %"));
        if self.update.app_erased {
            return Err(self.power_down(SessionEnd::Reset(ResetReason::Update)));
        }
        Ok(())
    }

    fn slots(&self) -> Vec<SlotState> {
        let test_image = self.update.previous.is_some();
        let mut slots = vec![SlotState {
            slot: 0,
            image: self.profile.clone(),
            active: !self.update.app_erased,
            confirmed: !test_image,
            pending: false,
        }];
        if self.profile.behaviour.dfu_banks == DfuBanks::Single {
            return slots;
        }
        if let Some(previous) = &self.update.previous {
            slots.push(SlotState {
                slot: 1,
                image: previous.clone(),
                active: false,
                confirmed: true,
                pending: false,
            });
        } else if let Some(partial) = self.update.partial.as_ref().filter(|p| p.complete()) {
            slots.push(SlotState {
                slot: 1,
                image: partial.image.clone(),
                active: false,
                confirmed: false,
                pending: self.update.marked,
            });
        }
        slots
    }
}
