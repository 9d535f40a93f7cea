//! A BLE central on the host's own Bluetooth adapter, through BlueZ: btleplug scans, reads what
//! was heard, connects and makes GATT exchanges (`gatt.rs`); the BlueZ calls btleplug lacks
//! (Pair, RemoveDevice, Powered) go straight over D-Bus (`bus.rs`). Devices are found by
//! advertised name or address, as the rig file's `reach` says; without it a rig device `ring` is
//! the device advertising as `ring`.

mod bus;
mod failure;
mod gatt;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use btleplug::api::{Central as _, Manager as _, Peripheral as _, ScanFilter};
use btleplug::platform::{Adapter, Manager, Peripheral};
use hil_scenario::{DeviceCommand, GattRequest, Reach};

use crate::time;
use crate::{
    Advertisement, Central, CommandOutcome, GattOutcome, LinkFailure, LinkOutcome, RigError,
};

pub use bus::Unusable;
use bus::{Bluez, flag};
use failure::{LinkError, link_failure};

/// The adapter a rig file's BlueZ central uses when it names none.
pub const DEFAULT_ADAPTER: &str = "hci0";
/// How long one scan looks for a device before reporting "not found", as the virtual phone does.
const SCAN_WINDOW: Duration = Duration::from_secs(10);
/// How often a scan looks at what BlueZ has heard (rig time).
const SCAN_POLL: Duration = Duration::from_millis(200);

pub struct BluezCentral {
    name: String,
    adapter_name: String,
    /// How each device is found, by the rig's device name.
    reach: BTreeMap<String, Reach>,
    address: String,
    session: Option<Session>,
}

struct Session {
    bluez: Bluez,
    adapter: Adapter,
}

/// Checks that the host's Bluetooth is usable for `adapter`: the system bus, BlueZ, the adapter,
/// its power. The adapter's address on success. Must run inside tokio.
pub async fn check_adapter(adapter: &str) -> Result<String, Unusable> {
    let bluez = Bluez::open(adapter).await?;
    if !bluez.powered().await.map_err(|e| bus::unusable(&e))? {
        return Err(Unusable::PoweredOff(adapter.to_string()));
    }
    bluez.address().await.map_err(|e| bus::unusable(&e))
}

impl BluezCentral {
    /// A central on `adapter` (e.g. `hci0`); BlueZ is reached on first use.
    pub fn new(name: &str, adapter: &str) -> Self {
        Self {
            name: name.to_string(),
            adapter_name: adapter.to_string(),
            reach: BTreeMap::new(),
            address: adapter.to_string(),
            session: None,
        }
    }

    /// Finds devices by these names or addresses instead of their rig names.
    pub fn reaching(mut self, reach: BTreeMap<String, Reach>) -> Self {
        self.reach = reach;
        self
    }

    /// The advertised name or address `device` is found by.
    fn target<'a>(&'a self, device: &'a str) -> &'a str {
        match self.reach.get(device) {
            Some(Reach::Name(name)) => name,
            Some(Reach::Address(address)) => address,
            None => device,
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> RigError {
        RigError::new(&self.name, message.to_string())
    }

    /// BlueZ over D-Bus and btleplug's view of the same adapter, opened once.
    async fn session(&mut self) -> Result<&Session, RigError> {
        if self.session.is_none() {
            let bluez = Bluez::open(&self.adapter_name)
                .await
                .map_err(|e| self.error(e))?;
            let manager = Manager::new().await.map_err(|e| self.error(e))?;
            let adapters = manager.adapters().await.map_err(|e| self.error(e))?;
            let mut found = None;
            for adapter in adapters {
                let info = adapter.adapter_info().await.map_err(|e| self.error(e))?;
                let id = info.split_whitespace().next().unwrap_or_default();
                if id.rsplit('/').next() == Some(self.adapter_name.as_str()) {
                    found = Some(adapter);
                }
            }
            let adapter = found.ok_or_else(|| {
                self.error(format!(
                    "btleplug does not see adapter `{}`",
                    self.adapter_name
                ))
            })?;
            if let Ok(address) = bluez.address().await {
                self.address = address;
            }
            self.session = Some(Session { bluez, adapter });
        }
        Ok(self.session.as_ref().expect("opened above"))
    }

    /// BlueZ vanished or refused mid-run: a rig error that says which.
    fn bus_error(&self, error: &dbus::Error) -> RigError {
        self.error(bus::unusable(error))
    }

    async fn powered(&mut self) -> Result<bool, RigError> {
        let result = self.session().await?.bluez.powered().await;
        result.map_err(|e| self.bus_error(&e))
    }

    /// Scans until `device` is heard (by name or address) or the window closes.
    async fn find(&mut self, device: &str, deadline: Duration) -> Result<Option<Found>, RigError> {
        let name = self.name.clone();
        let target = self.target(device).to_string();
        let session = self.session().await?;
        let adapter = session.adapter.clone();
        let bluez = session.bluez.clone();
        adapter
            .start_scan(ScanFilter::default())
            .await
            .map_err(|e| scan_error(&name, e))?;
        let search = async {
            loop {
                let heard = bluez.devices_named(&target).await?;
                if let Some((path, props)) = heard.into_iter().find(|(_, p)| p.contains_key("RSSI"))
                {
                    return Ok::<_, Unusable>(Found {
                        paired: flag(&props, "Paired"),
                        address: props
                            .get("Address")
                            .and_then(|v| v.0.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        path,
                    });
                }
                time::sleep(SCAN_POLL).await;
            }
        };
        let found = time::timeout(SCAN_WINDOW.min(deadline), search).await;
        // Stopping may fail when the adapter went away meanwhile; the search result says why.
        let _ = adapter.stop_scan().await;
        match found {
            Err(_) => Ok(None),
            Ok(Err(e)) => Err(self.error(e)),
            Ok(Ok(found)) => Ok(Some(found)),
        }
    }

    /// btleplug's handle on a device BlueZ has heard.
    async fn peripheral(&mut self, address: &str) -> Result<Peripheral, RigError> {
        let name = self.name.clone();
        let adapter = self.session().await?.adapter.clone();
        let peripherals = adapter
            .peripherals()
            .await
            .map_err(|e| RigError::new(&name, e.to_string()))?;
        for peripheral in peripherals {
            if peripheral
                .address()
                .to_string()
                .eq_ignore_ascii_case(address)
            {
                return Ok(peripheral);
            }
        }
        Err(self.error(format!("btleplug does not know {address}")))
    }

    /// Connects to a device BlueZ holds a bond for (Device1.Connect; BlueZ encrypts with the
    /// bond): the connected peripheral, or why the device did not take the link.
    async fn open(
        &mut self,
        found: &Found,
        deadline: Duration,
    ) -> Result<Result<Peripheral, LinkFailure>, RigError> {
        let peripheral = self.peripheral(&found.address).await?;
        match time::timeout(deadline, peripheral.connect()).await {
            Err(_) => Ok(Err(LinkFailure::Disconnected(0x08))),
            Ok(Ok(())) => Ok(Ok(peripheral)),
            Ok(Err(e)) => self.link_error(LinkError::from_btleplug(e)).map(Err),
        }
    }

    /// Connects and encrypts with the bond BlueZ holds, then lets go.
    async fn reconnect(
        &mut self,
        found: &Found,
        deadline: Duration,
    ) -> Result<LinkOutcome, RigError> {
        Ok(match self.open(found, deadline).await? {
            Ok(peripheral) => {
                let _ = peripheral.disconnect().await;
                LinkOutcome::Bonded
            }
            Err(failure) => LinkOutcome::Failed(failure),
        })
    }

    /// Scans for a device BlueZ holds a bond with.
    async fn bonded(
        &mut self,
        device: &str,
        deadline: Duration,
    ) -> Result<Result<Found, LinkFailure>, RigError> {
        if !self.powered().await? {
            return Ok(Err(LinkFailure::AdapterOff));
        }
        Ok(match self.find(device, deadline).await? {
            None => Err(LinkFailure::NotFound),
            Some(found) if !found.paired => Err(LinkFailure::NotBonded),
            Some(found) => Ok(found),
        })
    }

    /// The device's failure a BlueZ error reports, or the rig's error.
    fn link_error(&self, error: LinkError) -> Result<LinkFailure, RigError> {
        link_failure(&error).ok_or_else(|| self.error(error))
    }
}

/// A device heard in a scan.
struct Found {
    path: dbus::Path<'static>,
    address: String,
    paired: bool,
}

fn scan_error(central: &str, error: btleplug::Error) -> RigError {
    match LinkError::from_btleplug(error) {
        LinkError::Bus(e) => RigError::new(central, bus::unusable(&e).to_string()),
        other => RigError::new(central, format!("cannot scan: {other}")),
    }
}

#[async_trait]
impl Central for BluezCentral {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> &str {
        &self.address
    }

    async fn scan(&mut self, window: Duration) -> Result<Vec<Advertisement>, RigError> {
        if !self.powered().await? {
            return Err(self.error("the Bluetooth adapter is off"));
        }
        let name = self.name.clone();
        let adapter = self.session().await?.adapter.clone();
        let failed = |e: btleplug::Error| scan_error(&name, e);
        adapter
            .start_scan(ScanFilter::default())
            .await
            .map_err(failed)?;
        time::sleep(window).await;
        let peripherals = adapter.peripherals().await.map_err(failed);
        let _ = adapter.stop_scan().await;
        let mut heard = Vec::new();
        for peripheral in peripherals? {
            let Some(props) = peripheral.properties().await.map_err(failed)? else {
                continue;
            };
            let Some(rssi) = props.rssi else { continue };
            heard.push(Advertisement {
                device: None,
                name: props.local_name.unwrap_or_default(),
                address: props.address.to_string(),
                rssi_dbm: f64::from(rssi),
            });
        }
        heard.sort_by(|a, b| b.rssi_dbm.total_cmp(&a.rssi_dbm));
        Ok(heard)
    }

    async fn pair(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError> {
        if !self.powered().await? {
            return Ok(LinkOutcome::Failed(LinkFailure::AdapterOff));
        }
        let Some(found) = self.find(device, deadline).await? else {
            return Ok(LinkOutcome::Failed(LinkFailure::NotFound));
        };
        // Like a phone, a central that holds a bond encrypts with it instead of pairing anew.
        if found.paired {
            return self.reconnect(&found, deadline).await;
        }
        let bluez = self.session().await?.bluez.clone();
        match time::timeout(deadline, bluez.pair(&found.path, deadline)).await {
            Err(_) => Ok(LinkOutcome::Failed(LinkFailure::Disconnected(0x08))),
            Ok(Ok(())) => {
                // Pairing leaves the link up; the step is over.
                if let Ok(peripheral) = self.peripheral(&found.address).await {
                    let _ = peripheral.disconnect().await;
                }
                Ok(LinkOutcome::Bonded)
            }
            Ok(Err(e)) => self.link_error(LinkError::Bus(e)).map(LinkOutcome::Failed),
        }
    }

    async fn connect(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError> {
        match self.bonded(device, deadline).await? {
            Ok(found) => self.reconnect(&found, deadline).await,
            Err(failure) => Ok(LinkOutcome::Failed(failure)),
        }
    }

    async fn gatt(
        &mut self,
        device: &str,
        request: &GattRequest,
        deadline: Duration,
    ) -> Result<GattOutcome, RigError> {
        let found = match self.bonded(device, deadline).await? {
            Ok(found) => found,
            Err(failure) => return Ok(GattOutcome::Failed(failure)),
        };
        let peripheral = match self.open(&found, deadline).await? {
            Ok(peripheral) => peripheral,
            Err(failure) => return Ok(GattOutcome::Failed(failure)),
        };
        let outcome = gatt::exchange(&peripheral, request).await;
        // Already gone when the device dropped the link.
        let _ = peripheral.disconnect().await;
        outcome.map_err(|e| self.error(e))
    }

    async fn forget(&mut self, device: &str) -> Result<(), RigError> {
        let bluez = self.session().await?.bluez.clone();
        let known = bluez
            .devices_named(self.target(device))
            .await
            .map_err(|e| self.error(e))?;
        for (path, _) in known {
            bluez
                .remove_device(&path)
                .await
                .map_err(|e| self.bus_error(&e))?;
        }
        Ok(())
    }

    async fn set_adapter_power(&mut self, on: bool) -> Result<(), RigError> {
        let bluez = self.session().await?.bluez.clone();
        bluez.set_powered(on).await.map_err(|e| {
            let (name, message) = bus::error_parts(&e);
            self.error(format!(
                "cannot switch adapter `{}` {}: {name}: {message}",
                self.adapter_name,
                if on { "on" } else { "off" }
            ))
        })
    }

    async fn command(
        &mut self,
        _device: &str,
        command: DeviceCommand,
        _deadline: Duration,
    ) -> Result<CommandOutcome, RigError> {
        Err(self.error(format!(
            "`{command:?}` is the companion app's own protocol; on BlueZ, write the firmware's \
             control characteristic with a `gatt_write` or `subscribe` step"
        )))
    }
}
