//! Centrals that are not phones: a device whose firmware starts links itself (the ring toward the
//! lock), and an NFC cloner that replays what it sniffed.

use std::time::Duration;

use async_trait::async_trait;
use hil_rig::{Central, CommandOutcome, DeviceCommand, LinkFailure, LinkOutcome, RigError};
use tokio::sync::{mpsc, oneshot};

use crate::central::DeviceLink;
use crate::device::{Initiate, InitiateOp, LinkRequest, Sniffer};

/// A device acting as a central: each call asks the device's own firmware to do it.
pub struct DeviceCentral {
    name: String,
    address: String,
    firmware: mpsc::Sender<LinkRequest>,
}

impl DeviceCentral {
    pub fn new(name: String, address: String, firmware: mpsc::Sender<LinkRequest>) -> Self {
        Self {
            name,
            address,
            firmware,
        }
    }

    async fn ask(&self, target: &str, op: InitiateOp) -> Result<LinkOutcome, RigError> {
        let (reply, answer) = oneshot::channel();
        let request = LinkRequest::Initiate(Initiate {
            target: target.to_string(),
            op,
            reply,
        });
        if self.firmware.send(request).await.is_err() {
            return Err(RigError::new(&self.name, "the device is gone"));
        }
        // Dropped unanswered: the device reset or lost power before it could act.
        Ok(answer
            .await
            .unwrap_or(LinkOutcome::Failed(LinkFailure::Disconnected(0x08))))
    }
}

#[async_trait]
impl Central for DeviceCentral {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> &str {
        &self.address
    }

    async fn pair(&mut self, device: &str, _deadline: Duration) -> Result<LinkOutcome, RigError> {
        self.ask(device, InitiateOp::Pair).await
    }

    async fn connect(
        &mut self,
        device: &str,
        _deadline: Duration,
    ) -> Result<LinkOutcome, RigError> {
        self.ask(device, InitiateOp::Connect).await
    }

    async fn command(
        &mut self,
        device: &str,
        command: DeviceCommand,
        _deadline: Duration,
    ) -> Result<CommandOutcome, RigError> {
        Ok(
            match self.ask(device, InitiateOp::Command(command)).await? {
                LinkOutcome::Bonded => CommandOutcome::Done,
                LinkOutcome::Failed(failure) => CommandOutcome::Failed(failure),
            },
        )
    }
}

/// An NFC sniffer/cloner: `command unlock` replays the last tap it recorded.
pub struct VirtualNfcCloner {
    name: String,
    sniffer: Sniffer,
    links: std::collections::BTreeMap<String, DeviceLink>,
}

impl VirtualNfcCloner {
    pub fn new(
        name: String,
        sniffer: Sniffer,
        links: std::collections::BTreeMap<String, DeviceLink>,
    ) -> Self {
        Self {
            name,
            sniffer,
            links,
        }
    }

    fn unsupported(&self) -> RigError {
        RigError::new(
            &self.name,
            "an NFC cloner only replays recorded credentials (`command`)",
        )
    }
}

#[async_trait]
impl Central for VirtualNfcCloner {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> &str {
        &self.name
    }

    async fn pair(&mut self, _device: &str, _deadline: Duration) -> Result<LinkOutcome, RigError> {
        Err(self.unsupported())
    }

    async fn connect(
        &mut self,
        _device: &str,
        _deadline: Duration,
    ) -> Result<LinkOutcome, RigError> {
        Err(self.unsupported())
    }

    async fn command(
        &mut self,
        device: &str,
        command: DeviceCommand,
        _deadline: Duration,
    ) -> Result<CommandOutcome, RigError> {
        if command != DeviceCommand::Unlock {
            return Err(self.unsupported());
        }
        let Some(tap) = self.sniffer.last() else {
            return Err(RigError::new(
                &self.name,
                "nothing recorded yet: no device has tapped",
            ));
        };
        let link = self
            .links
            .get(device)
            .ok_or_else(|| RigError::new(&self.name, format!("no reader `{device}` in range")))?;
        let (reply, answer) = oneshot::channel();
        let request = LinkRequest::Nfc {
            tap,
            enroll: false,
            reply,
        };
        if link.requests.send(request).await.is_err() {
            return Err(RigError::new(&self.name, format!("`{device}` is gone")));
        }
        Ok(match answer.await {
            Ok(LinkOutcome::Bonded) => CommandOutcome::Done,
            Ok(LinkOutcome::Failed(failure)) => CommandOutcome::Failed(failure),
            Err(_) => CommandOutcome::Failed(LinkFailure::NotFound),
        })
    }
}
