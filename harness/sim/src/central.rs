//! The virtual phone: a BLE central running the companion app, with the OS's bond list and the
//! controller's key cache (which only a power cycle of the adapter reloads).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use hil_rig::time::{sleep, timeout};
use hil_rig::{
    Advertisement, Central, CommandOutcome, DeviceCommand, DfuOutcome, GattOutcome, GattRequest,
    LinkFailure, LinkOutcome, RigError, listen,
};
use hil_scenario::Image;
use tokio::sync::{mpsc, oneshot, watch};

use crate::bonds::Key;
use crate::device::{
    Advert, AttAnswer, AttExchange, AttOp, AttResult, GattServerLink, LinkRequest, Notification,
    Peer, Role,
};
use crate::radio::{RadioPath, SUPERVISION_TIMEOUT};

/// How long one scan looks for the device before the app reports "not found".
const SCAN_WINDOW: Duration = Duration::from_secs(10);
/// Connection setup: a few connection intervals.
const CONNECT_TIME: Duration = Duration::from_millis(120);
/// Below this margin no advertisement is heard at all.
const SCAN_MARGIN_DB: f64 = -3.0;
/// Link-layer PDUs in a connection setup and in a pairing handshake.
const CONNECT_PDUS: u32 = 4;
const PAIRING_PDUS: u32 = 30;
const FAILED_TO_ESTABLISH: u8 = 0x3E;

/// The radio path from the central to one device; every central shares the device's radio.
#[derive(Clone)]
pub struct DeviceLink {
    pub address: String,
    pub requests: mpsc::Sender<LinkRequest>,
    pub advert: watch::Receiver<Advert>,
}

pub struct VirtualCentral {
    name: String,
    address: String,
    role: Role,
    links: BTreeMap<String, DeviceLink>,
    radio: RadioPath,
    adapter_on: bool,
    /// The OS's bonded devices.
    bonds: BTreeMap<String, Key>,
    /// The controller's copy of the keys; reloaded from `bonds` when the adapter powers up.
    controller_keys: BTreeMap<String, Key>,
    next_key: Key,
    /// User codes the app exported, by device.
    exported_codes: BTreeMap<String, Vec<String>>,
    /// Handshake version of the running app, and of the installed one (runs after a restart).
    app_running: u32,
    app_installed: u32,
}

/// The companion app version a central starts with.
const CURRENT_APP: u32 = 3;

impl VirtualCentral {
    pub fn new(
        name: String,
        role: Role,
        address: String,
        links: BTreeMap<String, DeviceLink>,
        radio: RadioPath,
        seed: u64,
    ) -> Self {
        Self {
            name,
            role,
            address,
            links,
            radio,
            adapter_on: true,
            bonds: BTreeMap::new(),
            controller_keys: BTreeMap::new(),
            next_key: seed | 1,
            exported_codes: BTreeMap::new(),
            app_running: CURRENT_APP,
            app_installed: CURRENT_APP,
        }
    }

    fn peer(&self) -> Peer {
        Peer {
            address: self.address.clone(),
            role: self.role,
        }
    }

    fn error(&self, message: String) -> RigError {
        RigError::new(&self.name, message)
    }

    /// Scans for `device` and opens a connection to it; the margin of the link on success.
    async fn reach(
        &mut self,
        device: &str,
        deadline: Duration,
    ) -> Result<Result<f64, LinkFailure>, RigError> {
        if !self.adapter_on {
            return Ok(Err(LinkFailure::AdapterOff));
        }
        let radio = self.radio.clone();
        let link = self
            .links
            .get_mut(device)
            .ok_or_else(|| RigError::new(&self.name, format!("no radio path to `{device}`")))?;
        let heard = |a: &Advert| a.on && radio.margin_db(a.tx_dbm) >= SCAN_MARGIN_DB;
        let seen = timeout(SCAN_WINDOW.min(deadline), async {
            link.advert.wait_for(heard).await.map(|a| a.tx_dbm)
        })
        .await;
        let tx_dbm = match seen {
            Err(_) => return Ok(Err(LinkFailure::NotFound)),
            Ok(Err(_)) => return Err(self.error(format!("`{device}` is gone"))),
            Ok(Ok(tx_dbm)) => tx_dbm,
        };
        sleep(CONNECT_TIME).await;
        let margin = self.radio.margin_db(tx_dbm);
        let advertising = self.links[device].advert.borrow().on;
        if !advertising || !self.radio.exchange(margin, CONNECT_PDUS) {
            return Ok(Err(LinkFailure::Disconnected(FAILED_TO_ESTABLISH)));
        }
        Ok(Ok(margin))
    }

    /// Sends a request and waits for the answer; a device that goes silent times the link out.
    async fn request<T>(
        &mut self,
        device: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> LinkRequest,
        timed_out: T,
    ) -> Result<T, RigError> {
        let (reply, answer) = oneshot::channel();
        let sent = self.links[device].requests.send(make(reply)).await;
        if sent.is_err() {
            return Err(self.error(format!("`{device}` is gone")));
        }
        match answer.await {
            Ok(outcome) => Ok(outcome),
            Err(_) => {
                sleep(SUPERVISION_TIMEOUT).await;
                Ok(timed_out)
            }
        }
    }

    async fn encrypt(
        &mut self,
        device: &str,
        key: Key,
        then_silent: bool,
    ) -> Result<LinkOutcome, RigError> {
        let peer = self.peer();
        self.request(
            device,
            |reply| LinkRequest::Connect {
                peer,
                key,
                then_silent,
                reply,
            },
            LINK_TIMED_OUT,
        )
        .await
    }

    /// `connect`, optionally going silent once the link is up.
    async fn reconnect(
        &mut self,
        device: &str,
        deadline: Duration,
        then_silent: bool,
    ) -> Result<LinkOutcome, RigError> {
        let Some(key) = self.bonds.get(device).copied() else {
            return Ok(LinkOutcome::Failed(LinkFailure::NotBonded));
        };
        if let Err(failure) = self.reach(device, deadline).await? {
            return Ok(LinkOutcome::Failed(failure));
        }
        self.encrypt(device, key, then_silent).await
    }

    /// Connects to a bonded device and encrypts the link with the bond, then holds the connection
    /// open for ATT exchanges until the returned link is dropped (BlueZ's Connect … Disconnect).
    pub async fn open_gatt(
        &mut self,
        device: &str,
        deadline: Duration,
    ) -> Result<Result<GattLink, LinkFailure>, RigError> {
        let Some(key) = self.bonds.get(device).copied() else {
            return Ok(Err(LinkFailure::NotBonded));
        };
        if let Err(failure) = self.reach(device, deadline).await? {
            return Ok(Err(failure));
        }
        let (exchanges, served) = mpsc::channel(1);
        let (notify, notifications) = mpsc::unbounded_channel();
        let link = GattServerLink {
            exchanges: served,
            notifications: notify,
        };
        let peer = self.peer();
        let outcome = self
            .request(
                device,
                |reply| LinkRequest::Gatt {
                    peer,
                    key,
                    link,
                    reply,
                },
                LINK_TIMED_OUT,
            )
            .await?;
        Ok(match outcome {
            LinkOutcome::Bonded => Ok(GattLink {
                exchanges,
                notifications,
            }),
            LinkOutcome::Failed(failure) => Err(failure),
        })
    }
}

/// An open, encrypted GATT connection to a device; dropping it disconnects without waiting.
pub struct GattLink {
    exchanges: mpsc::Sender<AttExchange>,
    notifications: mpsc::UnboundedReceiver<Notification>,
}

impl GattLink {
    /// One ATT operation; a device that went away times the link out.
    pub async fn exchange(&self, op: AttOp) -> AttResult {
        let (reply, answer) = oneshot::channel();
        let sent = self.exchanges.send(AttExchange { op, reply }).await;
        match (sent, answer.await) {
            (Ok(()), Ok(answer)) => answer,
            _ => {
                sleep(SUPERVISION_TIMEOUT).await;
                Err(LinkFailure::Disconnected(CONNECTION_TIMEOUT))
            }
        }
    }

    /// Disconnects, and returns once the device has seen the link end.
    pub async fn close(self) {
        let GattLink {
            exchanges,
            mut notifications,
        } = self;
        drop(exchanges);
        // The device lets go of its end as it ends the link.
        while notifications.recv().await.is_some() {}
    }

    /// Notifications since the last look.
    pub fn notified(&mut self) -> Vec<Notification> {
        std::iter::from_fn(|| self.notifications.try_recv().ok()).collect()
    }

    /// A GATT step's exchange, as a companion app makes it on this connection.
    pub async fn run(&mut self, request: &GattRequest) -> GattOutcome {
        let failed = GattOutcome::Failed;
        match request {
            GattRequest::Read(c) => match self.exchange(AttOp::Read(c.clone())).await {
                Ok(AttAnswer::Value(value)) => GattOutcome::Read(value),
                Ok(_) => GattOutcome::Read(Vec::new()),
                Err(failure) => failed(failure),
            },
            GattRequest::Write {
                characteristic,
                value,
            } => {
                let op = AttOp::Write(characteristic.clone(), value.clone());
                match self.exchange(op).await {
                    Ok(_) => GattOutcome::Written,
                    Err(failure) => failed(failure),
                }
            }
            GattRequest::Subscribe {
                characteristic,
                write,
                until,
                window,
            } => {
                if let Err(failure) = self
                    .exchange(AttOp::Subscribe(characteristic.clone()))
                    .await
                {
                    return failed(failure);
                }
                if let Some((written, value)) = write {
                    let op = AttOp::Write(written.clone(), value.clone());
                    if let Err(failure) = self.exchange(op).await {
                        return failed(failure);
                    }
                }
                let uuid = &characteristic.uuid;
                let values = futures_util::stream::poll_fn(|cx| self.notifications.poll_recv(cx))
                    .filter_map(|n| std::future::ready((n.uuid == *uuid).then_some(n.value)));
                let notified = listen(values, until.as_deref(), *window).await;
                GattOutcome::Notified(notified)
            }
        }
    }
}

const CONNECTION_TIMEOUT: u8 = 0x08;
const LINK_TIMED_OUT: LinkOutcome =
    LinkOutcome::Failed(LinkFailure::Disconnected(CONNECTION_TIMEOUT));

#[async_trait]
impl Central for VirtualCentral {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> &str {
        &self.address
    }

    async fn scan(&mut self, window: Duration) -> Result<Vec<Advertisement>, RigError> {
        if !self.adapter_on {
            return Err(self.error("the Bluetooth adapter is off".into()));
        }
        sleep(window).await;
        let mut heard: Vec<Advertisement> = self
            .links
            .iter()
            .filter_map(|(device, link)| {
                let advert = *link.advert.borrow();
                let heard = advert.on && self.radio.margin_db(advert.tx_dbm) >= SCAN_MARGIN_DB;
                heard.then(|| Advertisement {
                    device: Some(device.clone()),
                    name: device.clone(),
                    address: link.address.clone(),
                    rssi_dbm: self.radio.rssi_dbm(advert.tx_dbm),
                })
            })
            .collect();
        heard.sort_by(|a, b| b.rssi_dbm.total_cmp(&a.rssi_dbm));
        Ok(heard)
    }

    async fn pair(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError> {
        let margin = match self.reach(device, deadline).await? {
            Ok(margin) => margin,
            Err(failure) => return Ok(LinkOutcome::Failed(failure)),
        };
        // Like a phone, a central that still holds keys re-encrypts instead of pairing anew.
        if let Some(key) = self.controller_keys.get(device).copied() {
            return self.encrypt(device, key, false).await;
        }
        let key = self.next_key;
        self.next_key = self.next_key.wrapping_add(2);
        let link_drops = !self.radio.exchange(margin, PAIRING_PDUS);
        let peer = self.peer();
        let app_version = self.app_running;
        let outcome = self
            .request(
                device,
                |reply| LinkRequest::Pair {
                    peer,
                    key,
                    app_version,
                    link_drops,
                    reply,
                },
                LINK_TIMED_OUT,
            )
            .await?;
        if outcome == LinkOutcome::Bonded {
            self.bonds.insert(device.to_string(), key);
            self.controller_keys.insert(device.to_string(), key);
        }
        Ok(outcome)
    }

    async fn connect(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError> {
        self.reconnect(device, deadline, false).await
    }

    async fn stop_answering(
        &mut self,
        device: &str,
        deadline: Duration,
    ) -> Result<LinkOutcome, RigError> {
        self.reconnect(device, deadline, true).await
    }

    async fn install_app(&mut self, version: u32) -> Result<(), RigError> {
        self.app_installed = version;
        Ok(())
    }

    async fn restart_app(&mut self) -> Result<(), RigError> {
        self.app_running = self.app_installed;
        Ok(())
    }

    async fn forget(&mut self, device: &str) -> Result<(), RigError> {
        // The controller keeps its copy until the adapter is power-cycled.
        self.bonds.remove(device);
        Ok(())
    }

    async fn set_adapter_power(&mut self, on: bool) -> Result<(), RigError> {
        if on && !self.adapter_on {
            self.controller_keys = self.bonds.clone();
        }
        self.adapter_on = on;
        Ok(())
    }

    async fn command(
        &mut self,
        device: &str,
        command: DeviceCommand,
        deadline: Duration,
    ) -> Result<CommandOutcome, RigError> {
        let Some(key) = self.bonds.get(device).copied() else {
            return Ok(CommandOutcome::Failed(LinkFailure::NotBonded));
        };
        if let Err(failure) = self.reach(device, deadline).await? {
            return Ok(CommandOutcome::Failed(failure));
        }
        let codes = match command {
            DeviceCommand::RestoreCodes => {
                self.exported_codes.get(device).cloned().unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let peer = self.peer();
        let (outcome, returned) = self
            .request(
                device,
                |reply| LinkRequest::Command {
                    peer,
                    key,
                    command,
                    codes,
                    reply,
                },
                (
                    CommandOutcome::Failed(LinkFailure::Disconnected(0x08)),
                    Vec::new(),
                ),
            )
            .await?;
        if command == DeviceCommand::ExportCodes && outcome == CommandOutcome::Done {
            self.exported_codes.insert(device.to_string(), returned);
        }
        Ok(outcome)
    }

    async fn gatt(
        &mut self,
        device: &str,
        request: &GattRequest,
        deadline: Duration,
    ) -> Result<GattOutcome, RigError> {
        Ok(match self.open_gatt(device, deadline).await? {
            Ok(mut link) => {
                let outcome = link.run(request).await;
                link.close().await;
                outcome
            }
            Err(failure) => GattOutcome::Failed(failure),
        })
    }

    async fn dfu(
        &mut self,
        device: &str,
        image: &Image,
        stop_at: Option<u8>,
        deadline: Duration,
    ) -> Result<DfuOutcome, RigError> {
        if let Err(failure) = self.reach(device, deadline).await? {
            return Ok(DfuOutcome::Failed(failure));
        }
        let peer = self.peer();
        let image = image.profile.clone();
        self.request(
            device,
            |reply| LinkRequest::Dfu {
                peer,
                image,
                stop_at,
                reply,
            },
            DfuOutcome::Failed(LinkFailure::Disconnected(0x08)),
        )
        .await
    }

    async fn soak(
        &mut self,
        device: &str,
        duration: Duration,
    ) -> Result<Result<u32, LinkFailure>, RigError> {
        let Some(key) = self.bonds.get(device).copied() else {
            return Ok(Err(LinkFailure::NotBonded));
        };
        if let Err(failure) = self.reach(device, duration).await? {
            return Ok(Err(failure));
        }
        let peer = self.peer();
        self.request(
            device,
            |reply| LinkRequest::Soak {
                peer,
                key,
                duration,
                reply,
            },
            Err(LinkFailure::Disconnected(0x08)),
        )
        .await
    }
}
