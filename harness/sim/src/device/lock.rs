//! Lock behaviour: application commands (bolt, user codes), ownership, and what a factory reset
//! clears.

use hil_rig::{CommandOutcome, DeviceCommand, LinkFailure};

use super::{Bolt, Device, Peer, Role, SessionEnd};

impl Device {
    /// After boot, a lock reports its bolt and its user codes.
    pub(super) fn report_lock_state(&mut self) {
        if self.hw.motor.is_none() {
            return;
        }
        let interrupted = std::mem::take(&mut self.retained.actuating);
        if interrupted && !self.profile.behaviour.resense_bolt_after_reset {
            self.bolt_known = false;
            self.log("wrn", "bolt", "position unknown");
        } else {
            self.bolt_known = true;
            self.log("inf", "bolt", &format!("{} (sensed)", bolt_name(self.bolt)));
        }
        self.log_codes();
    }

    /// The count and a digest of the codes: enough to prove a restore gave back the same set.
    fn log_codes(&self) {
        let mut sorted = self.codes.clone();
        sorted.sort();
        let digest = sorted.join(",").bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        self.log(
            "inf",
            "codes",
            &format!("{} stored (digest {:04x})", self.codes.len(), digest >> 16),
        );
    }

    /// Wipes what a factory reset wipes.
    pub(super) fn factory_reset(&mut self) {
        self.log("wrn", "settings", "factory reset: bonds erased");
        if self.profile.behaviour.reset_clears_bonds {
            self.bonds.clear();
            self.retry_peer = None;
        }
        self.nfc_enrolled.clear();
        self.codes.clear();
        if self.profile.behaviour.reset_clears_ownership {
            self.owner = None;
        }
    }

    /// Runs a command on a secured link; the codes travel back with an export.
    pub(super) async fn run_command(
        &mut self,
        peer: &Peer,
        command: DeviceCommand,
        codes: Vec<String>,
    ) -> Result<(CommandOutcome, Vec<String>), SessionEnd> {
        let refuse = |status: &str| {
            Ok((
                CommandOutcome::Failed(LinkFailure::Refused(status.into())),
                Vec::new(),
            ))
        };
        if self.hw.motor.is_none() {
            self.log(
                "wrn",
                "cmd",
                &format!("refused: unsupported ({})", command.name()),
            );
            return refuse("unsupported");
        }
        let hub_owns = self
            .owner
            .as_ref()
            .is_some_and(|o| o.role == Role::Hub && o.address != peer.address);
        if hub_owns {
            self.log(
                "wrn",
                "cmd",
                &format!("refused: not_owner ({})", command.name()),
            );
            return refuse("not_owner");
        }
        match command {
            DeviceCommand::Unlock | DeviceCommand::Lock => {
                self.actuate(command == DeviceCommand::Unlock).await?;
                Ok((CommandOutcome::Done, Vec::new()))
            }
            DeviceCommand::ExportCodes => {
                self.log("inf", "codes", &format!("exported {}", self.codes.len()));
                Ok((CommandOutcome::Done, self.codes.clone()))
            }
            DeviceCommand::RestoreCodes => {
                if !self.profile.behaviour.codes_restorable {
                    self.log("wrn", "codes", "restore failed: unsupported format");
                    return refuse("restore_failed");
                }
                self.codes = codes;
                self.log_codes();
                Ok((CommandOutcome::Done, Vec::new()))
            }
        }
    }

    /// Drives the bolt; a sagging rail resets the controller part way.
    pub(super) async fn actuate(&mut self, unlock: bool) -> Result<(), SessionEnd> {
        let Some(motor) = self.hw.motor else {
            return Ok(());
        };
        let (target, name) = if unlock {
            (Bolt::Unlocked, "unlock")
        } else {
            (Bolt::Locked, "lock")
        };
        self.log("inf", "motor", &format!("actuating: {name}"));
        self.retained.actuating = true;
        for (amps, duration) in [
            (motor.start_amps, motor.start_time),
            (motor.run_amps, motor.run_time),
        ] {
            self.draw(amps, duration).await?;
        }
        self.retained.actuating = false;
        self.bolt = target;
        self.bolt_known = true;
        self.log("inf", "bolt", bolt_name(target));
        Ok(())
    }
}

pub(super) fn bolt_name(bolt: Bolt) -> &'static str {
    match bolt {
        Bolt::Locked => "locked",
        Bolt::Unlocked => "unlocked",
    }
}
