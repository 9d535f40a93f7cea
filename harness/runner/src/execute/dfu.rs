//! The `dfu` step: a firmware update through the device's own update port (MCUmgr SMP) when the
//! rig has one, else through the central (the phone app over BLE); cut short on request by the
//! power, the link or the app, as FAILURES.md F09 describes.

use std::collections::BTreeMap;
use std::time::Duration;

use hil_rig::time::timeout;
use hil_rig::{DfuOutcome, RigError};
use hil_scenario::{DfuInterrupt, Expect, Image};

use super::{Executor, LINK_CUT_DB, Stop, fail};
use crate::event::{EventKind, InstrumentReadback};

impl Executor<'_> {
    pub(super) async fn dfu(
        &mut self,
        central: &str,
        device: &str,
        image: &Image,
        interrupt: Option<&DfuInterrupt>,
        expect: Expect,
        within: Duration,
    ) -> Result<(), Stop> {
        let stop_at = interrupt.map(DfuInterrupt::at_percent);
        let outcome = if let Some(updater) = self.rig.updaters.get_mut(device) {
            let bus = self.bus.clone();
            let name = device.to_string();
            let progress = Box::new(move |done, total| {
                bus.emit(EventKind::Progress {
                    device: name.clone(),
                    what: "upload".into(),
                    done,
                    total,
                });
            });
            timeout(within, updater.update(image, stop_at, progress, within)).await
        } else {
            timeout(
                within,
                self.central(central)?.dfu(device, image, stop_at, within),
            )
            .await
        };
        let expected = &image.profile.version;
        let (name, detail, updated) = match outcome {
            // Updated, but to what: a device that reverted or kept the old image is no update.
            Ok(Ok(DfuOutcome::Updated { version })) => {
                let right = version == *expected;
                ("dfu_updated", ("version", version), right)
            }
            Ok(Ok(DfuOutcome::Stopped { at_percent })) => (
                "dfu_interrupted",
                ("at_percent", at_percent.to_string()),
                false,
            ),
            Ok(Ok(DfuOutcome::Failed(failure))) => {
                ("dfu_failed", ("reason", failure.to_string()), false)
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => ("dfu_failed", ("reason", "step deadline".to_string()), false),
        };
        self.bus.emit(EventKind::DeviceEvent {
            device: central.to_string(),
            name: name.into(),
            fields: BTreeMap::from([
                ("device".to_string(), device.to_string()),
                (detail.0.to_string(), detail.1.clone()),
            ]),
            keep: vec!["device".into(), detail.0.into()],
        });
        // An update that went through leaves nothing to interrupt.
        if name != "dfu_updated"
            && let Some(interrupt) = interrupt
        {
            self.interrupt_update(device, interrupt).await?;
        }
        match (expect, updated) {
            (Expect::Ok, true) | (Expect::Fail, false) => Ok(()),
            (Expect::Ok, false) if name == "dfu_updated" => Err(fail(format!(
                "{device} runs {} after the update to {} {expected}",
                detail.1, image.profile.name
            ))),
            (Expect::Ok, false) => Err(fail(format!(
                "{device} was not updated to {} {}",
                image.profile.name, image.profile.version
            ))),
            (Expect::Fail, true) => Err(fail(format!(
                "{device} took the update, but the step expects it to fail"
            ))),
        }
    }

    /// Cuts a stopped update short: the device's supply, or the link (the attenuator to its
    /// maximum, and a wired update port closed). An app killed just stops sending.
    async fn interrupt_update(
        &mut self,
        device: &str,
        interrupt: &DfuInterrupt,
    ) -> Result<(), RigError> {
        match interrupt {
            DfuInterrupt::Power {
                instrument,
                channel,
                ..
            } => {
                let psu =
                    self.rig.power.get_mut(instrument).ok_or_else(|| {
                        RigError::new(instrument, "power supply is not connected")
                    })?;
                let readback = psu.off(*channel).await?;
                self.bus.emit(EventKind::InstrumentAction {
                    instrument: instrument.clone(),
                    action: format!("ch{channel} off (interrupting the update)"),
                    readback: InstrumentReadback::Supply(readback),
                });
            }
            DfuInterrupt::Link { attenuator, .. } => {
                let a = self
                    .rig
                    .attenuators
                    .get_mut(attenuator)
                    .ok_or_else(|| RigError::new(attenuator, "attenuator is not connected"))?;
                let db = a.set(LINK_CUT_DB).await?;
                self.bus.emit(EventKind::InstrumentAction {
                    instrument: attenuator.clone(),
                    action: format!("attenuation {LINK_CUT_DB} dB (interrupting the update)"),
                    readback: InstrumentReadback::Attenuation { db },
                });
                if let Some(updater) = self.rig.updaters.get_mut(device) {
                    updater.hang_up().await?;
                }
            }
            DfuInterrupt::App { .. } => {}
        }
        Ok(())
    }
}
