//! Firmware updates: an upload in 10 % steps that survives interruption (the offset is kept in
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

/// Update state kept in flash across resets.
#[derive(Default)]
pub(super) struct UpdateState {
    /// An upload in progress: the image and how far it got (percent, in 10 % steps).
    pub(super) partial: Option<(Arc<Profile>, u8)>,
    /// Dual bank: the confirmed image, kept while a test image runs.
    pub(super) previous: Option<Arc<Profile>>,
    /// Single bank: the application was erased for an update that has not finished.
    pub(super) app_erased: bool,
    /// Answered once the updated image has booted.
    pub(super) reply: Option<oneshot::Sender<DfuOutcome>>,
}

fn same_image(a: &Profile, b: &Profile) -> bool {
    a.name == b.name && a.version == b.version
}

impl Device {
    /// Serves an upload; a completed one resets into the new image.
    pub(super) async fn upload(
        &mut self,
        peer: &Peer,
        image: Arc<Profile>,
        stop_at: Option<u8>,
        reply: oneshot::Sender<DfuOutcome>,
    ) -> Result<(), SessionEnd> {
        self.stop_advertising();
        self.log("inf", "bt", &format!("connected to {}", peer.address));
        let mut percent = match &self.update.partial {
            Some((partial, at)) if same_image(partial, &image) => {
                self.log(
                    "inf",
                    "dfu",
                    &format!("resuming {} {} at {at} %", image.name, image.version),
                );
                *at
            }
            _ => {
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
                0
            }
        };
        let step =
            Duration::from_secs_f64(f64::from(image.behaviour.image_kb) / 10.0 / UPLOAD_KBPS);
        while percent < 100 {
            if stop_at.is_some_and(|stop| percent >= stop) {
                self.log("wrn", "dfu", &format!("transfer stalled at {percent} %"));
                let _ = reply.send(DfuOutcome::Stopped {
                    at_percent: percent,
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
            percent += 10;
            self.update.partial = Some((image.clone(), percent));
            self.log("inf", "dfu", &format!("{percent} %"));
        }
        self.update.partial = None;
        self.log("inf", "dfu", "upload complete, image marked for test");
        self.log("inf", "bt", "disconnected (reason 0x13)");
        match self.profile.behaviour.dfu_banks {
            DfuBanks::Dual => self.update.previous = Some(self.profile.clone()),
            DfuBanks::Single => self.update.app_erased = false,
        }
        self.profile = image;
        self.update.reply = Some(reply);
        Err(self.power_down(SessionEnd::Reset(ResetReason::Update)))
    }

    /// What the bootloader does before the application starts. `Err` ends the session here.
    pub(super) async fn bootloader(&mut self, reason: ResetReason) -> Result<(), SessionEnd> {
        if self.update.app_erased {
            self.log("wrn", "bootloader", "no valid application");
            let waits = self.profile.behaviour.bootloader_waits;
            return Err(self.without_application(waits).await);
        }
        if reason == ResetReason::Update && self.update.previous.is_some() {
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
        if let Some((image, at)) = &self.update.partial
            && self.profile.behaviour.dfu_banks == DfuBanks::Dual
        {
            let note = format!(
                "slot 1 incomplete ({at} %, {} {}), booting the current image",
                image.name, image.version
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
