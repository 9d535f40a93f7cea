//! Firmware updates: an upload in chunks (the phone's in 1 % steps over BLE, a host's in SMP
//! chunks over a UART: both drive the same code) that survives interruption (the offset is kept in
//! flash), MCUboot-style dual bank (test image, confirm or revert), single bank (the application
//! is erased first; the bootloader waits for the rest, or a buggy one leaves a brick), and the
//! debug probe that can always write an image.

use std::sync::Arc;
use std::time::Duration;

use hil_rig::{DfuOutcome, LinkFailure, LinkOutcome};
use hil_scenario::{DfuBanks, Profile};
use tokio::sync::oneshot;

use super::link::CONNECTION_TIMEOUT;
use super::{Device, LinkRequest, Peer, ResetReason, SessionEnd};
use crate::radio::SUPERVISION_TIMEOUT;

/// Upload throughput over BLE with MCUmgr (kB/s).
const UPLOAD_KBPS: f64 = 8.0;
/// How long MCUboot takes to swap a test image into the primary slot (swap-move of a few hundred
/// KB of internal flash).
const SWAP_TIME: Duration = Duration::from_secs(2);

/// Update state kept in flash across resets.
#[derive(Default)]
pub(super) struct UpdateState {
    /// An upload in progress, or complete and waiting to be marked for test.
    pub(super) partial: Option<Partial>,
    /// The complete upload is marked for a test boot: it is swapped in at the next reset.
    pub(super) marked: bool,
    /// Dual bank: the confirmed image, kept while a test image runs.
    pub(super) previous: Option<Arc<Profile>>,
    /// MCUboot's swap status (kept in the slots' trailers): a swap into the test image is under
    /// way, and a reset in the middle of it resumes it.
    pub(super) swapping: bool,
    /// Single bank: the application was erased for an update that has not finished.
    pub(super) app_erased: bool,
    /// Answered once the updated image has booted.
    pub(super) reply: Option<oneshot::Sender<DfuOutcome>>,
    /// When the last chunk over a wire (SMP) came: the firmware gives up after a silence.
    pub(super) last_chunk_at: Option<hil_rig::time::Instant>,
}

/// The secondary slot being written: which image, how far (bytes, kept in flash), of how much.
pub(super) struct Partial {
    pub(super) image: Arc<Profile>,
    pub(super) written: u64,
    pub(super) total: u64,
}

impl Partial {
    pub(super) fn percent(&self) -> u64 {
        self.written * 100 / self.total.max(1)
    }

    pub(super) fn complete(&self) -> bool {
        self.written >= self.total
    }
}

fn same_image(a: &Profile, b: &Profile) -> bool {
    a.name == b.name && a.version == b.version
}

/// The size of an image built from a profile.
pub(super) fn image_bytes(image: &Profile) -> u64 {
    u64::from(image.behaviour.image_kb) * 1024
}

impl Device {
    /// Serves an upload from the phone, which sends the image in 1 % chunks at BLE speed; a
    /// completed one resets into the new image.
    pub(super) async fn upload(
        &mut self,
        peer: &Peer,
        image: Arc<Profile>,
        stop_at: Option<u8>,
        reply: oneshot::Sender<DfuOutcome>,
    ) -> Result<(), SessionEnd> {
        self.stop_advertising();
        self.log("inf", "bt", &format!("connected to {}", peer.address));
        let total = image_bytes(&image);
        let mut written = self.begin_upload(&image, total);
        let step =
            Duration::from_secs_f64(f64::from(image.behaviour.image_kb) / 100.0 / UPLOAD_KBPS);
        loop {
            let percent = written * 100 / total.max(1);
            if percent >= 100 {
                break;
            }
            if stop_at.is_some_and(|stop| percent >= u64::from(stop)) {
                self.log("wrn", "dfu", &format!("transfer stalled at {percent} %"));
                let _ = reply.send(DfuOutcome::Stopped {
                    at_percent: u8::try_from(percent).unwrap_or(100),
                });
                // The central is gone (app killed, link cut) or the power is about to be.
                self.powered_sleep(SUPERVISION_TIMEOUT).await?;
                self.end_link(LinkOutcome::Failed(LinkFailure::Disconnected(
                    CONNECTION_TIMEOUT,
                )));
                if self.update.app_erased {
                    // Single bank: nothing to go back to; the bootloader takes over.
                    return Err(self.power_down(SessionEnd::Reset(ResetReason::Update)));
                }
                return Ok(());
            }
            self.powered_sleep(step).await?;
            // The first byte count that reads as the next percent.
            let next = (total * (percent + 1)).div_ceil(100);
            written = self.write_chunk(next - written);
        }
        self.mark_for_test();
        self.log("inf", "bt", "disconnected (reason 0x13)");
        self.install_marked();
        self.update.reply = Some(reply);
        Err(self.power_down(SessionEnd::Reset(ResetReason::Update)))
    }

    /// The first chunk of an upload of `image` (`total` bytes): resumes the same image where it
    /// stopped, or starts over (a single bank erases the application first). Returns the offset
    /// the sender is to continue from.
    pub(super) fn begin_upload(&mut self, image: &Arc<Profile>, total: u64) -> u64 {
        if let Some(partial) = &self.update.partial
            && same_image(&partial.image, image)
            && partial.total == total
        {
            let note = format!(
                "resuming {} {} at {} %",
                image.name,
                image.version,
                partial.percent()
            );
            self.log("inf", "dfu", &note);
            return partial.written;
        }
        self.log(
            "inf",
            "dfu",
            &format!(
                "upload started: {} {} ({} KB)",
                image.name, image.version, image.behaviour.image_kb
            ),
        );
        if self.profile.behaviour.dfu_banks == DfuBanks::Single && !self.update.app_erased {
            self.update.app_erased = true;
            self.log("wrn", "dfu", "single bank: application erased");
        }
        self.update.marked = false;
        self.update.partial = Some(Partial {
            image: image.clone(),
            written: 0,
            total,
        });
        0
    }

    /// Writes the next `len` bytes of the upload; logs each tenth passed. Returns the new offset.
    pub(super) fn write_chunk(&mut self, len: u64) -> u64 {
        let Some(partial) = &mut self.update.partial else {
            return 0;
        };
        let before = partial.percent() / 10;
        partial.written = (partial.written + len).min(partial.total);
        let (after, written) = (partial.percent() / 10, partial.written);
        for tenth in before + 1..=after {
            self.log("inf", "dfu", &format!("{} %", tenth * 10));
        }
        written
    }

    /// A complete upload is marked for a test boot; false if there is none.
    pub(super) fn mark_for_test(&mut self) -> bool {
        if !self.update.partial.as_ref().is_some_and(Partial::complete) {
            return false;
        }
        self.update.marked = true;
        self.log("inf", "dfu", "upload complete, image marked for test");
        true
    }

    /// At a reset: the marked image becomes the one that boots (dual bank keeps the old one to
    /// revert to). False if no image was marked.
    pub(super) fn install_marked(&mut self) -> bool {
        if !std::mem::take(&mut self.update.marked) {
            return false;
        }
        let Some(partial) = self.update.partial.take() else {
            return false;
        };
        match self.profile.behaviour.dfu_banks {
            DfuBanks::Dual => {
                self.update.previous = Some(self.profile.clone());
                self.update.swapping = true;
            }
            DfuBanks::Single => self.update.app_erased = false,
        }
        self.profile = partial.image;
        true
    }

    /// What the bootloader does before the application starts. `Err` ends the session here.
    pub(super) async fn bootloader(&mut self, reason: ResetReason) -> Result<(), SessionEnd> {
        if self.update.app_erased {
            self.log("wrn", "bootloader", "no valid application");
            let waits = self.profile.behaviour.bootloader_waits;
            return Err(self.without_application(waits).await);
        }
        if self.update.swapping {
            if reason != ResetReason::Update {
                self.log("wrn", "mcuboot", "resuming an interrupted swap");
            }
            // A power cut here leaves the swap status set: the next boot carries on.
            self.powered_sleep(SWAP_TIME).await?;
            self.update.swapping = false;
            self.log(
                "inf",
                "mcuboot",
                &format!("swapped to {} (test image)", self.profile.version),
            );
        } else if let Some(previous) = self.update.previous.take() {
            self.log(
                "wrn",
                "mcuboot",
                &format!(
                    "test image not confirmed, reverting to {}",
                    previous.version
                ),
            );
            self.profile = previous;
        }
        if let Some(partial) = &self.update.partial
            && !partial.complete()
            && self.profile.behaviour.dfu_banks == DfuBanks::Dual
        {
            let note = format!(
                "slot 1 incomplete ({} %, {} {}), booting the current image",
                partial.percent(),
                partial.image.name,
                partial.image.version
            );
            self.log("wrn", "mcuboot", &note);
        }
        Ok(())
    }

    /// After the banner: a test image that passes its self-test confirms itself, and a pending
    /// update is answered with what now runs.
    pub(super) fn after_boot(&mut self) {
        if self.update.previous.is_some() && self.profile.behaviour.confirms_image {
            self.update.previous = None;
            self.log("inf", "dfu", "image confirmed");
        }
        if let Some(reply) = self.update.reply.take() {
            let _ = reply.send(DfuOutcome::Updated {
                version: self.profile.version.clone(),
            });
        }
    }

    /// Single bank, no application. A bootloader that `waits` advertises as a DFU target and takes
    /// only the rest of the update; one that does not is a brick until the probe writes an image.
    async fn without_application(&mut self, waits: bool) -> SessionEnd {
        if waits {
            self.log("inf", "bootloader", "waiting for dfu");
            self.io.advert.send_replace(super::Advert {
                on: true,
                tx_dbm: self.tx_dbm(),
            });
        } else {
            self.stop_advertising();
        }
        loop {
            tokio::select! {
                biased;
                changed = self.io.supply.changed() => {
                    if let Some(end) = self.supply_changed(changed) {
                        return end;
                    }
                }
                image = self.io.probe.recv() => return self.flashed(image),
                // Serial recovery: the host uploads the rest and resets into it.
                Some(call) = self.io.mcumgr.recv(), if waits => {
                    if let Err(end) = self.mcumgr(call) {
                        return end;
                    }
                }
                request = self.io.requests.recv() => match request {
                    None => return SessionEnd::Closed,
                    Some(LinkRequest::Dfu { peer, image, stop_at, reply }) if waits => {
                        if let Err(end) = self.upload(&peer, image, stop_at, reply).await {
                            return end;
                        }
                        self.log("inf", "bootloader", "waiting for dfu");
                        self.io.advert.send_modify(|a| a.on = true);
                    }
                    // Anything else is answered by silence: the link times out.
                    Some(_) => {}
                },
            }
        }
    }

    /// The probe wrote `image` and reset the core.
    pub(super) fn flashed(&mut self, image: Option<Arc<Profile>>) -> SessionEnd {
        let Some(image) = image else {
            return SessionEnd::Closed;
        };
        self.profile = image;
        self.update = UpdateState::default();
        self.power_down(SessionEnd::Reset(ResetReason::Probe))
    }

    /// Holds a connection for `duration`; a build with a radio bug drops it now and then.
    pub(super) async fn soak(
        &mut self,
        peer: &Peer,
        duration: Duration,
    ) -> Result<u32, SessionEnd> {
        let until = hil_rig::time::Instant::now() + duration;
        let mut drops = 0;
        while let Some(every) = self.profile.behaviour.drops_links_every {
            let next = hil_rig::time::Instant::now() + every.0;
            if next >= until {
                break;
            }
            self.powered_sleep(every.0).await?;
            drops += 1;
            self.log("wrn", "bt", "disconnected (reason 0x08)");
            self.log("inf", "bt", &format!("connected to {}", peer.address));
        }
        let left = until.saturating_duration_since(hil_rig::time::Instant::now());
        self.powered_sleep(left).await?;
        Ok(drops)
    }
}
