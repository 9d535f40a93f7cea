//! A device's firmware starting links itself: a ring enrolling with a lock and presenting its
//! credential over whatever transport the two share (BLE proximity first, else an NFC tap), and
//! retrying a lock that rejected its keys.

use std::time::Duration;

use hil_rig::time::Instant;
use hil_rig::{CommandOutcome, DeviceCommand, LinkFailure, LinkOutcome};
use hil_scenario::Transport;
use tokio::sync::{mpsc, oneshot, watch};

use super::link::{CONNECTION_TIMEOUT, PIN_OR_KEY_MISSING};
use super::{Advert, Device, LinkRequest, Peer, Role, SessionEnd};

/// How often a ring retries a lock that rejected its keys.
const RETRY_INTERVAL: Duration = Duration::from_secs(20);

/// Another device this one can reach.
#[derive(Clone)]
pub struct PeerLink {
    pub address: String,
    pub requests: mpsc::Sender<LinkRequest>,
    pub advert: watch::Receiver<Advert>,
    pub transports: Vec<Transport>,
}

/// What the firmware is asked to do, toward which device.
pub struct Initiate {
    pub target: String,
    pub op: InitiateOp,
    pub reply: oneshot::Sender<LinkOutcome>,
}

#[derive(Clone, Copy, Debug)]
pub enum InitiateOp {
    Pair,
    Connect,
    Command(DeviceCommand),
}

impl Device {
    pub(super) async fn initiate(&mut self, request: Initiate) -> Result<(), SessionEnd> {
        let outcome = self.initiate_op(&request.target, request.op).await?;
        let _ = request.reply.send(outcome);
        Ok(())
    }

    pub(super) async fn initiate_op(
        &mut self,
        target: &str,
        op: InitiateOp,
    ) -> Result<LinkOutcome, SessionEnd> {
        let Some(peer) = self.io.peers.get(target).cloned() else {
            return Ok(LinkOutcome::Failed(LinkFailure::NotFound));
        };
        let shared =
            |t: Transport| self.profile.transports.contains(&t) && peer.transports.contains(&t);
        let radio = [Transport::Ble, Transport::Zwave]
            .into_iter()
            .find(|t| shared(*t));
        let outcome = if let Some(radio) = radio {
            self.over_radio(target, &peer, radio, op).await?
        } else if shared(Transport::Nfc) {
            self.over_nfc(&peer, op).await?
        } else {
            LinkOutcome::Failed(LinkFailure::NotFound)
        };
        match &outcome {
            LinkOutcome::Failed(LinkFailure::Disconnected(PIN_OR_KEY_MISSING)) => {
                self.log(
                    "wrn",
                    "access",
                    &format!(
                        "{target} rejected our keys, retrying in {} s",
                        RETRY_INTERVAL.as_secs()
                    ),
                );
                self.retry_peer = Some(target.to_string());
            }
            LinkOutcome::Bonded => self.retry_peer = None,
            LinkOutcome::Failed(_) => {}
        }
        Ok(outcome)
    }

    /// A link over BLE or Z-Wave (S2): the same connect, pair and secure exchange.
    async fn over_radio(
        &mut self,
        target: &str,
        peer: &PeerLink,
        radio: Transport,
        op: InitiateOp,
    ) -> Result<LinkOutcome, SessionEnd> {
        if !peer.advert.borrow().on {
            return Ok(LinkOutcome::Failed(LinkFailure::NotFound));
        }
        self.log(
            "inf",
            "access",
            &format!("connecting to {target} over {}", radio.name()),
        );
        let me = Peer {
            address: self.address.clone(),
            role: Role::Device,
        };
        let key = self.bonds.key_for(&peer.address);
        let outcome = match op {
            InitiateOp::Pair => {
                self.keys_issued += 1;
                let key = self.keys_issued;
                let (reply, answer) = oneshot::channel();
                let sent = peer.requests.send(LinkRequest::Pair {
                    peer: me,
                    key,
                    app_version: u32::MAX,
                    link_drops: false,
                    reply,
                });
                let outcome = exchange(sent.await.is_ok(), answer).await;
                if outcome == LinkOutcome::Bonded && self.bonds.store(&peer.address, key).is_err() {
                    return Ok(LinkOutcome::Failed(LinkFailure::Refused(
                        "bond_table_full".into(),
                    )));
                }
                outcome
            }
            InitiateOp::Connect => {
                let Some(key) = key else {
                    return Ok(LinkOutcome::Failed(LinkFailure::NotBonded));
                };
                let (reply, answer) = oneshot::channel();
                let sent = peer.requests.send(LinkRequest::Connect {
                    peer: me,
                    key,
                    then_silent: false,
                    reply,
                });
                exchange(sent.await.is_ok(), answer).await
            }
            InitiateOp::Command(command) => {
                let Some(key) = key else {
                    return Ok(LinkOutcome::Failed(LinkFailure::NotBonded));
                };
                let (reply, answer) = oneshot::channel();
                let sent = peer.requests.send(LinkRequest::Command {
                    peer: me,
                    key,
                    command,
                    codes: Vec::new(),
                    reply,
                });
                let answered = match (sent.await.is_ok(), answer.await) {
                    (true, Ok((outcome, _))) => Some(outcome),
                    _ => None,
                };
                match answered {
                    Some(CommandOutcome::Done) => LinkOutcome::Bonded,
                    Some(CommandOutcome::Failed(failure)) => LinkOutcome::Failed(failure),
                    None => LinkOutcome::Failed(LinkFailure::Disconnected(CONNECTION_TIMEOUT)),
                }
            }
        };
        Ok(outcome)
    }

    async fn over_nfc(
        &mut self,
        peer: &PeerLink,
        op: InitiateOp,
    ) -> Result<LinkOutcome, SessionEnd> {
        let enroll = match op {
            InitiateOp::Pair => true,
            InitiateOp::Command(DeviceCommand::Unlock) => false,
            // A tap opens or enrolls; there is no connection to keep or other command to send.
            InitiateOp::Connect | InitiateOp::Command(_) => {
                return Ok(LinkOutcome::Failed(LinkFailure::Refused(
                    "not_over_nfc".into(),
                )));
            }
        };
        // An unpowered reader has no field: nothing reads the tap.
        if !peer.advert.borrow().on {
            return Ok(LinkOutcome::Failed(LinkFailure::NotFound));
        }
        // An unpowered reader has no field: nothing reads the tap.
        if !peer.advert.borrow().on {
            return Ok(LinkOutcome::Failed(LinkFailure::NotFound));
        }
        self.log("inf", "access", "tapping over nfc");
        let tap = self.next_tap();
        let (reply, answer) = oneshot::channel();
        let sent = peer.requests.send(LinkRequest::Nfc { tap, enroll, reply });
        Ok(exchange(sent.await.is_ok(), answer).await)
    }

    /// A device this one has a bond with: where a hub relays credentials.
    pub(super) fn bonded_peer(&self) -> Option<String> {
        self.io
            .peers
            .iter()
            .find(|(_, peer)| self.bonds.key_for(&peer.address).is_some())
            .map(|(name, _)| name.clone())
    }

    pub(super) fn next_retry(&self) -> Option<Instant> {
        self.retry_peer
            .as_ref()
            .map(|_| Instant::now() + RETRY_INTERVAL)
    }

    /// Tries the lock that rejected our keys once more.
    pub(super) async fn retry_stale_peer(&mut self) -> Result<Option<Instant>, SessionEnd> {
        if let Some(target) = self.retry_peer.clone() {
            self.initiate_op(&target, InitiateOp::Connect).await?;
        }
        Ok(self.next_retry())
    }
}

/// The answer to a request sent to a peer; a peer that went silent times the link out.
async fn exchange(sent: bool, answer: oneshot::Receiver<LinkOutcome>) -> LinkOutcome {
    match (sent, answer.await) {
        (true, Ok(outcome)) => outcome,
        _ => LinkOutcome::Failed(LinkFailure::Disconnected(CONNECTION_TIMEOUT)),
    }
}
