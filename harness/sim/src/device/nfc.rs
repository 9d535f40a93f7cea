//! NFC: a ring's credential (a static UID, or a rolling counter with a MAC) held to a lock's
//! reader, and a sniffer that records taps so they can be replayed.

use std::sync::{Arc, Mutex, PoisonError};

use hil_rig::{LinkFailure, LinkOutcome};
use hil_scenario::{NfcCredential, Transport};

use super::{Device, SessionEnd};

/// What one tap carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NfcTap {
    pub id: String,
    /// The rolling counter; `None` for a static UID.
    pub counter: Option<u64>,
}

/// The last tap an NFC sniffer near the devices picked up.
#[derive(Clone, Default)]
pub struct Sniffer(Arc<Mutex<Option<NfcTap>>>);

impl Sniffer {
    fn record(&self, tap: &NfcTap) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tap.clone());
    }

    pub fn last(&self) -> Option<NfcTap> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Device {
    /// The credential this device presents on its next tap (and the sniffer records).
    pub(super) fn next_tap(&mut self) -> NfcTap {
        self.nfc_counter += 1;
        let counter = match self.profile.behaviour.nfc_credential {
            NfcCredential::Rolling => Some(self.nfc_counter),
            NfcCredential::StaticUid => None,
        };
        let tap = NfcTap {
            id: self.address.clone(),
            counter,
        };
        self.io.sniffer.record(&tap);
        tap
    }

    /// A lock's reader: enroll a credential, or open for an enrolled one it has not seen before.
    pub(super) async fn on_nfc(
        &mut self,
        tap: NfcTap,
        enroll: bool,
    ) -> Result<LinkOutcome, SessionEnd> {
        if !self.profile.transports.contains(&Transport::Nfc) {
            return Ok(LinkOutcome::Failed(LinkFailure::NotFound));
        }
        if enroll {
            self.nfc_enrolled.insert(tap.id, tap.counter.unwrap_or(0));
            self.log("inf", "nfc", "credential enrolled");
            return Ok(LinkOutcome::Bonded);
        }
        let Some(last) = self.nfc_enrolled.get(&tap.id).copied() else {
            self.log("wrn", "nfc", "refused: unknown_credential");
            return Ok(refused("unknown_credential"));
        };
        if let Some(counter) = tap.counter {
            if counter <= last && self.profile.behaviour.nfc_replay_protection {
                self.log("wrn", "nfc", "refused: replay (counter not fresh)");
                return Ok(refused("replay"));
            }
            self.nfc_enrolled.insert(tap.id, counter);
        }
        self.log("inf", "nfc", "credential accepted");
        if !self.profile.behaviour.bridges {
            self.actuate(true).await?;
            return Ok(LinkOutcome::Bonded);
        }
        let Some(lock) = self.bonded_peer() else {
            self.log("wrn", "bridge", "no lock included");
            return Ok(refused("no_lock"));
        };
        self.log("inf", "bridge", &format!("relaying to {lock}"));
        self.initiate_op(
            &lock,
            super::initiate::InitiateOp::Command(hil_rig::DeviceCommand::Unlock),
        )
        .await
    }
}

fn refused(status: &str) -> LinkOutcome {
    LinkOutcome::Failed(LinkFailure::Refused(status.into()))
}
