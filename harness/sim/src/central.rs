//! The virtual phone: a BLE central running the companion app.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use hil_rig::{Central, PairFailure, PairOutcome, RigError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep, timeout};

use crate::device::LinkRequest;

/// How long one scan looks for the device before the app reports "not found".
const SCAN_WINDOW: Duration = Duration::from_secs(10);
/// Connection setup: a few connection intervals.
const CONNECT_TIME: Duration = Duration::from_millis(120);
/// A link that goes silent is declared lost after this (HCI 0x08).
const SUPERVISION_TIMEOUT: Duration = Duration::from_secs(4);

/// The radio path from the central to one device.
pub struct DeviceLink {
    pub requests: mpsc::Sender<LinkRequest>,
    pub advertising: watch::Receiver<bool>,
}

pub struct VirtualCentral {
    name: String,
    address: String,
    links: BTreeMap<String, DeviceLink>,
}

impl VirtualCentral {
    pub fn new(name: String, address: String, links: BTreeMap<String, DeviceLink>) -> Self {
        Self {
            name,
            address,
            links,
        }
    }
}

#[async_trait]
impl Central for VirtualCentral {
    fn address(&self) -> &str {
        &self.address
    }

    async fn pair(&mut self, device: &str, deadline: Duration) -> Result<PairOutcome, RigError> {
        let link = self
            .links
            .get_mut(device)
            .ok_or_else(|| RigError::new(&self.name, format!("no radio path to `{device}`")))?;
        let seen = timeout(SCAN_WINDOW.min(deadline), async {
            link.advertising
                .wait_for(|advertising| *advertising)
                .await
                .map(drop)
        })
        .await;
        match seen {
            Err(_) => return Ok(PairOutcome::Failed(PairFailure::NotFound)),
            Ok(Err(_)) => return Err(RigError::new(&self.name, format!("`{device}` is gone"))),
            Ok(Ok(())) => {}
        }
        sleep(CONNECT_TIME).await;
        if !*link.advertising.borrow() {
            return Ok(PairOutcome::Failed(PairFailure::Disconnected(0x3E)));
        }
        let (reply, answer) = oneshot::channel();
        let request = LinkRequest::Pair {
            central: self.address.clone(),
            reply,
        };
        if link.requests.send(request).await.is_err() {
            return Err(RigError::new(&self.name, format!("`{device}` is gone")));
        }
        match answer.await {
            Ok(outcome) => Ok(outcome),
            // The device went silent mid-handshake.
            Err(_) => {
                sleep(SUPERVISION_TIMEOUT).await;
                Ok(PairOutcome::Failed(PairFailure::Disconnected(0x08)))
            }
        }
    }
}
