//! Serving a central: pairing (with the battery guard, ownership, the bond table and the lockout
//! window) and reconnecting with a bond.

use hil_rig::{CommandOutcome, LinkFailure, LinkOutcome};

use super::{Device, LinkRequest, Peer, Role, SessionEnd};
use crate::bonds::Key;
use crate::radio::SUPERVISION_TIMEOUT;

/// HCI reason the device gives when the central ends the link normally.
const REMOTE_USER_TERMINATED: u8 = 0x13;
pub(super) const CONNECTION_TIMEOUT: u8 = 0x08;
const MIC_FAILURE: u8 = 0x3D;
pub(super) const PIN_OR_KEY_MISSING: u8 = 0x06;
/// SMP "repeated attempts".
const REPEATED_ATTEMPTS: u8 = 0x09;

impl Device {
    /// Serves one request; `Err` if the session ended meanwhile (e.g. a brown-out).
    pub(super) async fn serve(
        &mut self,
        request: LinkRequest,
        low_battery: bool,
        battery_fault: bool,
    ) -> Result<(), SessionEnd> {
        match request {
            LinkRequest::Pair {
                peer,
                key,
                app_version,
                link_drops,
                reply,
            } => {
                self.accept_connection(&peer);
                let outcome = match self.refusal(&peer, true) {
                    Some(refused) => refused,
                    None if battery_fault => {
                        self.log("wrn", "pair", "refused: battery_fault");
                        LinkOutcome::Failed(LinkFailure::Refused("battery_fault".into()))
                    }
                    None => {
                        self.pair(&peer, key, app_version, link_drops, low_battery)
                            .await?
                    }
                };
                self.end_link(outcome.clone());
                let _ = reply.send(outcome);
            }
            LinkRequest::Connect {
                peer,
                key,
                then_silent,
                reply,
            } => {
                self.accept_connection(&peer);
                let mut outcome = self.secure(&peer, key);
                if then_silent && outcome == LinkOutcome::Bonded {
                    self.powered_sleep(SUPERVISION_TIMEOUT).await?;
                    outcome = LinkOutcome::Failed(LinkFailure::Disconnected(CONNECTION_TIMEOUT));
                }
                self.end_link(outcome.clone());
                let _ = reply.send(outcome);
            }
            LinkRequest::Command {
                peer,
                key,
                command,
                codes,
                reply,
            } => {
                self.accept_connection(&peer);
                let (outcome, codes) = match self.secure(&peer, key) {
                    LinkOutcome::Bonded => self.run_command(&peer, command, codes).await?,
                    LinkOutcome::Failed(failure) => (CommandOutcome::Failed(failure), Vec::new()),
                };
                let link = match &outcome {
                    CommandOutcome::Failed(f) => LinkOutcome::Failed(f.clone()),
                    CommandOutcome::Done => LinkOutcome::Bonded,
                };
                self.end_link(link);
                let _ = reply.send((outcome, codes));
            }
            LinkRequest::Nfc { tap, enroll, reply } => {
                let outcome = self.on_nfc(tap, enroll).await?;
                let _ = reply.send(outcome);
            }
            LinkRequest::Initiate(initiate) => self.initiate(initiate).await?,
            LinkRequest::Dfu {
                peer,
                image,
                stop_at,
                reply,
            } => self.upload(&peer, image, stop_at, reply).await?,
            LinkRequest::Gatt {
                peer,
                key,
                link,
                reply,
            } => {
                self.accept_connection(&peer);
                let outcome = self.secure(&peer, key);
                let _ = reply.send(outcome.clone());
                if outcome == LinkOutcome::Bonded {
                    self.serve_gatt(&peer, link).await?;
                }
                self.end_link(outcome);
            }
            LinkRequest::Soak {
                peer,
                key,
                duration,
                reply,
            } => {
                self.accept_connection(&peer);
                let outcome = match self.secure(&peer, key) {
                    LinkOutcome::Bonded => Ok(self.soak(&peer, duration).await?),
                    LinkOutcome::Failed(failure) => Err(failure),
                };
                let link = match &outcome {
                    Ok(_) => LinkOutcome::Bonded,
                    Err(f) => LinkOutcome::Failed(f.clone()),
                };
                self.end_link(link);
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    pub(super) fn accept_connection(&self, peer: &Peer) {
        self.stop_advertising();
        self.log("inf", "bt", &format!("connected to {}", peer.address));
    }

    /// Encrypts the link with the peer's bond, counting failures toward the lockout.
    fn secure(&mut self, peer: &Peer, key: Key) -> LinkOutcome {
        if let Some(refused) = self.refusal(peer, false) {
            return refused;
        }
        if self.bonds.key_for(&peer.address) == Some(key) {
            self.retained.failures = 0;
            self.log("inf", "bt", "security changed: encrypted with bond");
            return LinkOutcome::Bonded;
        }
        self.log("wrn", "bt", "security failed: key_missing");
        self.count_failure();
        LinkOutcome::Failed(LinkFailure::Disconnected(PIN_OR_KEY_MISSING))
    }

    /// Why this peer is turned away before any security exchange, if it is.
    fn refusal(&mut self, peer: &Peer, pairing: bool) -> Option<LinkOutcome> {
        if self.locked_out() {
            self.log("wrn", "pair", "refused: repeated_attempts");
            return Some(LinkOutcome::Failed(LinkFailure::Smp(REPEATED_ATTEMPTS)));
        }
        // A phone owner keeps other phones and hubs out; its accessories (a ring) may still pair.
        let owned_by_other_phone = peer.role != Role::Device
            && self
                .owner
                .as_ref()
                .is_some_and(|o| o.role == Role::Phone && o.address != peer.address);
        if pairing && owned_by_other_phone {
            self.log("wrn", "pair", "refused: owned");
            return Some(LinkOutcome::Failed(LinkFailure::Refused("owned".into())));
        }
        None
    }

    fn locked_out(&self) -> bool {
        self.retained.lockout_until.is_some()
    }

    /// The lockout window's end, if one is running and this firmware ends it.
    pub(super) fn lockout_ends_at(&self) -> Option<hil_rig::time::Instant> {
        self.retained
            .lockout_until
            .filter(|_| !self.profile.behaviour.lockout_never_expires)
    }

    pub(super) fn end_lockout(&mut self) {
        self.retained.lockout_until = None;
        self.retained.failures = 0;
        self.log("inf", "pair", "lockout ended");
    }

    fn count_failure(&mut self) {
        let behaviour = &self.profile.behaviour;
        let (Some(limit), Some(window)) =
            (behaviour.lockout_after_failures, behaviour.lockout_window)
        else {
            return;
        };
        self.retained.failures += 1;
        if self.retained.failures >= limit {
            self.retained.lockout_until = Some(hil_rig::time::Instant::now() + window.0);
            self.log(
                "wrn",
                "pair",
                &format!("lockout: {limit} failed attempts, {} s", window.0.as_secs()),
            );
        }
    }

    async fn pair(
        &mut self,
        peer: &Peer,
        key: Key,
        app_version: u32,
        link_drops: bool,
        low_battery: bool,
    ) -> Result<LinkOutcome, SessionEnd> {
        let behaviour = &self.profile.behaviour;
        let old_app = behaviour.handshake_version.filter(|v| app_version < *v);
        if let Some(needed) = old_app.filter(|_| behaviour.check_app_version) {
            self.log(
                "wrn",
                "pair",
                &format!("refused: unsupported_version (app v{app_version} < v{needed})"),
            );
            return Ok(LinkOutcome::Failed(LinkFailure::Refused(
                "unsupported_version".into(),
            )));
        }
        let (_, soc) = self.state_of_charge();
        let min = if low_battery {
            behaviour.brownout_min_soc
        } else {
            behaviour.pairing_min_soc
        };
        if let Some(min) = min.filter(|min| soc < *min) {
            self.log(
                "wrn",
                "pair",
                &format!("refused: low_battery ({soc} % < {min} %)"),
            );
            return Ok(LinkOutcome::Failed(LinkFailure::Refused(
                "low_battery".into(),
            )));
        }
        self.log("inf", "pair", "pairing started");
        let peak = if link_drops {
            // The radio path cannot carry the handshake: it stalls part way.
            self.hw.pairing_time / 3
        } else {
            self.hw.pairing_time
        };
        if let Err(end) = self.draw(self.hw.pairing_peak_amps, peak).await {
            // The central hears nothing more: it will time the link out.
            self.retained.pairing_interrupted = true;
            return Err(end);
        }
        if link_drops {
            self.powered_sleep(SUPERVISION_TIMEOUT).await?;
            return Ok(LinkOutcome::Failed(LinkFailure::Disconnected(
                CONNECTION_TIMEOUT,
            )));
        }
        if old_app.is_some() {
            // The old app derives the session key the old way: the first encrypted packet fails.
            self.log("wrn", "bt", "encryption failed: mic_failure");
            return Ok(LinkOutcome::Failed(LinkFailure::Disconnected(MIC_FAILURE)));
        }
        if self.bonds.store(&peer.address, key).is_err() {
            self.log("wrn", "pair", "refused: bond_table_full");
            return Ok(LinkOutcome::Failed(LinkFailure::Refused(
                "bond_table_full".into(),
            )));
        }
        self.retained.failures = 0;
        self.log("inf", "pair", &format!("bonded with {}", peer.address));
        if self.profile.behaviour.logs_keys {
            let ltk = format!(
                "{key:016x}{:016x}",
                key.rotate_left(17) ^ 0x5A5A_5A5A_5A5A_5A5A
            );
            self.log("dbg", "keys", &format!("LTK 0x{ltk} for {}", peer.address));
        }
        if self.profile.behaviour.ownership && self.owner.is_none() && peer.role != Role::Device {
            self.log("inf", "owner", &format!("owned by {}", peer.role.name()));
            self.owner = Some(peer.clone());
        }
        Ok(LinkOutcome::Bonded)
    }

    /// Logs the disconnect and advertises again.
    pub(super) fn end_link(&self, outcome: LinkOutcome) {
        let reason = match outcome {
            LinkOutcome::Failed(LinkFailure::Disconnected(code)) => code,
            _ => REMOTE_USER_TERMINATED,
        };
        self.log(
            "inf",
            "bt",
            &format!("disconnected (reason 0x{reason:02x})"),
        );
        let resetting = self.update.app_erased;
        if !resetting
            && (reason != CONNECTION_TIMEOUT || self.profile.behaviour.readvertise_after_timeout)
        {
            self.start_advertising();
        }
    }
}
