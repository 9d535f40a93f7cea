//! Serving a central: pairing (with the firmware's battery guard and the bond table) and
//! reconnecting with a bond.

use hil_rig::{LinkFailure, LinkOutcome};
use tokio::sync::oneshot;

use super::{Device, LinkRequest, SessionEnd};
use crate::bonds::Key;
use crate::radio::SUPERVISION_TIMEOUT;

/// HCI reason the device gives when the central ends the link normally.
const REMOTE_USER_TERMINATED: u8 = 0x13;
const CONNECTION_TIMEOUT: u8 = 0x08;
const PIN_OR_KEY_MISSING: u8 = 0x06;

impl Device {
    /// Serves one request; `Err` if the session ended meanwhile (e.g. a brown-out).
    pub(super) async fn serve(
        &mut self,
        request: LinkRequest,
        low_battery: bool,
    ) -> Result<(), SessionEnd> {
        match request {
            LinkRequest::Pair {
                central,
                key,
                link_drops,
                reply,
            } => {
                self.stop_advertising();
                self.log("inf", "bt", &format!("connected to {central}"));
                let outcome = self.pair(&central, key, link_drops, low_battery).await?;
                self.end_link(reply, outcome);
            }
            LinkRequest::Connect {
                central,
                key,
                reply,
            } => {
                self.stop_advertising();
                self.log("inf", "bt", &format!("connected to {central}"));
                let outcome = if self.bonds.key_for(&central) == Some(key) {
                    self.log("inf", "bt", "security changed: encrypted with bond");
                    LinkOutcome::Bonded
                } else {
                    self.log("wrn", "bt", "security failed: key_missing");
                    LinkOutcome::Failed(LinkFailure::Disconnected(PIN_OR_KEY_MISSING))
                };
                self.end_link(reply, outcome);
            }
        }
        Ok(())
    }

    async fn pair(
        &mut self,
        central: &str,
        key: Key,
        link_drops: bool,
        low_battery: bool,
    ) -> Result<LinkOutcome, SessionEnd> {
        let behaviour = &self.profile.behaviour;
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
        if let Err(end) = self.pairing_load(peak).await {
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
        match self.bonds.store(central, key) {
            Ok(()) => {
                self.log("inf", "pair", &format!("bonded with {central}"));
                Ok(LinkOutcome::Bonded)
            }
            Err(_) => {
                self.log("wrn", "pair", "refused: bond_table_full");
                Ok(LinkOutcome::Failed(LinkFailure::Refused(
                    "bond_table_full".into(),
                )))
            }
        }
    }

    /// Answers the central, logs the disconnect, and advertises again.
    fn end_link(&self, reply: oneshot::Sender<LinkOutcome>, outcome: LinkOutcome) {
        let reason = match outcome {
            LinkOutcome::Failed(LinkFailure::Disconnected(code)) => code,
            _ => REMOTE_USER_TERMINATED,
        };
        self.log(
            "inf",
            "bt",
            &format!("disconnected (reason 0x{reason:02x})"),
        );
        // The central may have given up waiting; that is its business.
        let _ = reply.send(outcome);
        self.start_advertising();
    }
}
