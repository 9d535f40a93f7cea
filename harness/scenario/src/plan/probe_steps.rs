//! Debug-probe steps: `flash`, `reset`, `halt`, `erase`, `rtt`. The virtual rig's probe writes a
//! profile into a device model; a bench's probe writes the profile's build artefact, so a bench
//! flash of a profile without one is refused here, before any probe is touched.

use std::time::Duration;

use serde::Serialize;
use toml::Spanned;

use super::{Action, Findings, Image, Scenario};
use crate::diagnostic::Problems;
use crate::rig_plan::{Device, Rig};
use crate::scenario::{FlashStep, ProbeStep, RttStep};

/// How long firmware may take to set its RTT control block up after a reset.
const DEFAULT_RTT_WITHIN: Duration = Duration::from_secs(5);
/// Build artefacts probe-rs can write, by extension.
const IMAGE_EXTENSIONS: [&str; 4] = ["elf", "hex", "ihex", "bin"];

/// What a probe step does besides writing an image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOp {
    /// Reset the core and let it run.
    Reset,
    /// Stop the core where it is.
    Halt,
    /// Erase all of the chip's flash.
    Erase,
    /// Attach to the RTT control block and read the up channels as the device's log.
    Rtt {
        #[serde(with = "super::secs")]
        within: Duration,
    },
}

impl ProbeOp {
    pub fn name(self) -> &'static str {
        match self {
            ProbeOp::Reset => "reset",
            ProbeOp::Halt => "halt",
            ProbeOp::Erase => "erase",
            ProbeOp::Rtt { .. } => "rtt",
        }
    }
}

impl Scenario {
    pub(super) fn flash_step(
        &self,
        f: &FlashStep,
        rig: &Rig,
        problems: &mut Problems,
    ) -> Option<Action> {
        let device = self.device(&f.device, rig, problems)?;
        if device.sim.is_none() && device.probe.is_none() {
            problems.push(self.lacks(&f.device, device, rig, "debug probe", "probe"));
        }
        let image = self.image(&f.image, problems)?;
        let image = Image {
            profile: rig.image_for(&device.name, image.profile),
            ..image
        };
        if device.probe.is_some() {
            self.check_artefact(&f.image, &image, problems);
        }
        Some(Action::Flash {
            device: device.name.clone(),
            image,
        })
    }

    /// A bench writes the profile's build artefact: it must be named, exist, and be a format
    /// probe-rs reads.
    fn check_artefact(&self, at: &Spanned<String>, image: &Image, problems: &mut Problems) {
        let profile = &image.profile;
        let Some(artefact) = &profile.image else {
            problems.push(self.source.error(
                at.span(),
                format!(
                    "profile `{}` {} names no build artefact, and a debug probe on a bench writes one",
                    profile.name, profile.version
                ),
                Some(format!(
                    "add e.g. `image = \"build/zephyr.elf\"` (relative to the profile) to {}",
                    image.path.display()
                )),
            ));
            return;
        };
        let extension = artefact
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if !IMAGE_EXTENSIONS.contains(&extension.as_str()) {
            problems.push(self.source.error(
                at.span(),
                format!(
                    "build artefact {} is not an image a probe writes",
                    artefact.display()
                ),
                Some("expected an ELF (`.elf`), Intel HEX (`.hex`) or raw binary (`.bin`)".into()),
            ));
        } else if !artefact.is_file() {
            problems.push(self.source.error(
                at.span(),
                format!(
                    "build artefact {} of profile `{}` does not exist",
                    artefact.display(),
                    profile.name
                ),
                Some(format!(
                    "build the firmware, or fix `image` in {}",
                    image.path.display()
                )),
            ));
        }
    }

    pub(super) fn probe_step(
        &self,
        step: &ProbeStep,
        op: ProbeOp,
        rig: &Rig,
        findings: &mut Findings<'_>,
    ) -> Option<Action> {
        self.probe_action(&step.device, op, rig, findings)
    }

    pub(super) fn rtt_step(
        &self,
        step: &RttStep,
        rig: &Rig,
        findings: &mut Findings<'_>,
    ) -> Option<Action> {
        let within = step.within.map_or(DEFAULT_RTT_WITHIN, |w| w.0);
        self.probe_action(&step.device, ProbeOp::Rtt { within }, rig, findings)
    }

    fn probe_action(
        &self,
        name: &Spanned<String>,
        op: ProbeOp,
        rig: &Rig,
        findings: &mut Findings<'_>,
    ) -> Option<Action> {
        let device: &Device = self.device(name, rig, findings.problems)?;
        if device.probe.is_none() {
            if device.sim.is_some() {
                // The simulator's probe only writes images: a virtual board has no core to halt,
                // no flash to erase and no RTT buffer. The scenario is for benches.
                findings.not_runnable.push(format!(
                    "`{}` step: the virtual probe on `{}` only flashes",
                    op.name(),
                    device.name
                ));
            } else {
                findings
                    .problems
                    .push(self.lacks(name, device, rig, "debug probe", "probe"));
            }
        }
        Some(Action::Probe {
            device: device.name.clone(),
            op,
        })
    }
}
