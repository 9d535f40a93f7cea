//! The firmware's GATT server: the characteristics its profile declares, bound by their names to
//! what the firmware model knows (`status`: where the bolt is; `control`: the bolt commands).
//!
//! A central opens a connection and then makes ATT exchanges on it one at a time until it closes
//! the connection, as over the air: BlueZ's Connect, ReadValue, StartNotify, WriteValue, …,
//! Disconnect are one link to the device. Values travel as the profile's bytes; what the model
//! cannot answer gets the ATT error a Zephyr GATT server would send.

use hil_rig::{CommandOutcome, DeviceCommand, LinkFailure};
use hil_scenario::Characteristic;
use tokio::sync::{mpsc, oneshot};

use super::lock::bolt_name;
use super::{Device, Peer, SessionEnd};

const READ_NOT_PERMITTED: u8 = 0x02;
const WRITE_NOT_PERMITTED: u8 = 0x03;
const ATTRIBUTE_NOT_FOUND: u8 = 0x0A;
const UNLIKELY_ERROR: u8 = 0x0E;
const VALUE_NOT_ALLOWED: u8 = 0x13;

/// One ATT operation a central makes on an open connection.
#[derive(Clone, Debug)]
pub enum AttOp {
    Read(Characteristic),
    /// A write with response.
    Write(Characteristic, Vec<u8>),
    /// Enables notifications (writes the characteristic's CCC descriptor).
    Subscribe(Characteristic),
    /// Primary service and characteristic discovery: what the server has.
    Discover,
}

/// What an ATT operation answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttAnswer {
    Done,
    /// A read's value.
    Value(Vec<u8>),
    /// Discovery: the server's characteristics (each with its service).
    Characteristics(Vec<Characteristic>),
}

/// An ATT operation's answer; an ATT error is `Err(LinkFailure::Att(code))`.
pub type AttResult = Result<AttAnswer, LinkFailure>;

/// An ATT operation and where its answer goes.
#[derive(Debug)]
pub struct AttExchange {
    pub op: AttOp,
    pub reply: oneshot::Sender<AttResult>,
}

/// A value notified on a characteristic (by UUID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub uuid: String,
    pub value: Vec<u8>,
}

/// The device's side of an open GATT connection.
pub struct GattServerLink {
    pub exchanges: mpsc::Receiver<AttExchange>,
    pub notifications: mpsc::UnboundedSender<Notification>,
}

/// What the model serves behind a characteristic, by the profile's name for it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attribute {
    /// The bolt's position: read, and notified when it moves.
    Status,
    /// Bolt commands.
    Control,
}

impl Device {
    /// Serves ATT exchanges on a secured connection until the central closes it. A lost supply
    /// ends the session and drops the connection mid-exchange (the central times out).
    pub(super) async fn serve_gatt(
        &mut self,
        peer: &Peer,
        mut link: GattServerLink,
    ) -> Result<(), SessionEnd> {
        // The characteristic whose notifications the central enabled.
        let mut subscribed: Option<String> = None;
        loop {
            let exchange = tokio::select! {
                biased;
                changed = self.io.supply.changed() => {
                    if let Some(end) = self.supply_changed(changed) {
                        return Err(end);
                    }
                    continue;
                }
                exchange = link.exchanges.recv() => exchange,
            };
            let Some(AttExchange { op, reply }) = exchange else {
                return Ok(());
            };
            let answer = match op {
                AttOp::Discover => Ok(AttAnswer::Characteristics(
                    self.profile
                        .gatt
                        .characteristics
                        .values()
                        .cloned()
                        .collect(),
                )),
                AttOp::Read(c) => match self.attribute(&c) {
                    Some(Attribute::Status) => {
                        self.status_value().map(AttAnswer::Value).map_err(att)
                    }
                    Some(Attribute::Control) => Err(att(READ_NOT_PERMITTED)),
                    None => Err(att(ATTRIBUTE_NOT_FOUND)),
                },
                AttOp::Subscribe(c) => match self.attribute(&c) {
                    Some(Attribute::Status) => {
                        subscribed = Some(c.uuid);
                        Ok(AttAnswer::Done)
                    }
                    _ => Err(att(ATTRIBUTE_NOT_FOUND)),
                },
                AttOp::Write(c, value) => {
                    let before = self.status_value();
                    let written = self.gatt_write(peer, &c, &value).await?;
                    let after = self.status_value();
                    // A notification goes out before the write's response, as the bolt moved
                    // while the command ran.
                    let moved = after != before;
                    if let (Some(uuid), Ok(value), true) = (&subscribed, after, moved) {
                        let uuid = uuid.clone();
                        let _ = link.notifications.send(Notification { uuid, value });
                    }
                    written.map(|()| AttAnswer::Done)
                }
            };
            let _ = reply.send(answer);
        }
    }

    /// What the model serves behind `c`, found as a real server does: by UUID in its own table.
    fn attribute(&self, c: &Characteristic) -> Option<Attribute> {
        // Only a board with a bolt motor serves the lock's characteristics.
        self.hw.motor.as_ref()?;
        match self.profile.gatt.by_uuid(&c.uuid)?.name.as_str() {
            "status" => Some(Attribute::Status),
            "control" => Some(Attribute::Control),
            _ => None,
        }
    }

    /// The status characteristic's value, in this firmware's bytes.
    fn status_value(&self) -> Result<Vec<u8>, u8> {
        let name = if self.bolt_known {
            bolt_name(self.bolt)
        } else {
            "unknown"
        };
        self.own_value("status", name)
    }

    fn own_value(&self, characteristic: &str, name: &str) -> Result<Vec<u8>, u8> {
        self.profile
            .gatt
            .characteristics
            .get(characteristic)
            .and_then(|c| c.values.get(name).cloned())
            .ok_or(UNLIKELY_ERROR)
    }

    /// A write: the control characteristic runs the bolt command its value names.
    async fn gatt_write(
        &mut self,
        peer: &Peer,
        c: &Characteristic,
        value: &[u8],
    ) -> Result<Result<(), LinkFailure>, SessionEnd> {
        match self.attribute(c) {
            Some(Attribute::Control) => {}
            Some(Attribute::Status) => return Ok(Err(att(WRITE_NOT_PERMITTED))),
            None => return Ok(Err(att(ATTRIBUTE_NOT_FOUND))),
        }
        let command = if self.own_value("control", "unlock").as_deref() == Ok(value) {
            DeviceCommand::Unlock
        } else if self.own_value("control", "lock").as_deref() == Ok(value) {
            DeviceCommand::Lock
        } else {
            return Ok(Err(att(VALUE_NOT_ALLOWED)));
        };
        let (outcome, _) = self.run_command(peer, command, Vec::new()).await?;
        Ok(match outcome {
            CommandOutcome::Done => Ok(()),
            CommandOutcome::Failed(LinkFailure::Refused(status)) => {
                let code = self.profile.gatt.errors.get(&status).copied();
                Err(att(code.unwrap_or(UNLIKELY_ERROR)))
            }
            CommandOutcome::Failed(other) => Err(other),
        })
    }
}

fn att(code: u8) -> LinkFailure {
    LinkFailure::Att(code)
}
