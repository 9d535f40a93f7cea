use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{Stream, StreamExt};
use hil_scenario::{DeviceCommand, GattRequest, Image};
use serde::Serialize;

use crate::{RigError, time};

/// The phone (or a central dongle) that scans for, pairs with and connects to devices.
///
/// `Err` means the central itself failed (ERROR); a device that does not pair or connect is an
/// `Ok(LinkOutcome::Failed)` (the device's business).
///
/// Pairing, connecting and commands are what every central does; the rest are phone features with
/// defaults that report "not supported" (a dongle or a ring acting as a central lacks them).
#[async_trait]
pub trait Central: Send {
    /// The instrument's name in the rig, for errors.
    fn name(&self) -> &str;

    /// The central's own address, as devices see it.
    fn address(&self) -> &str;

    /// Listens for advertisements for `window` and returns every device heard, strongest first.
    async fn scan(&mut self, _window: Duration) -> Result<Vec<Advertisement>, RigError> {
        Err(not_supported(self.name(), "scan"))
    }

    /// One pairing attempt with `device`: scan, connect, pair (or, if the central holds a bond,
    /// re-encrypt with it, as phones do).
    async fn pair(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError>;

    /// One attempt to reconnect to a bonded device and encrypt the link with the stored keys.
    async fn connect(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError>;

    /// Reconnects with the bond, then stops answering mid-connection, as an app killed by the
    /// phone's battery saver does. Returns once the link has timed out.
    async fn stop_answering(
        &mut self,
        _device: &str,
        _deadline: Duration,
    ) -> Result<LinkOutcome, RigError> {
        Err(not_supported(self.name(), "stop_answering"))
    }

    /// Installs a version of the companion app; it runs after the next restart.
    async fn install_app(&mut self, _version: u32) -> Result<(), RigError> {
        Err(not_supported(self.name(), "install_app"))
    }

    /// Restarts the companion app: the installed version runs, cached session tokens are dropped.
    async fn restart_app(&mut self) -> Result<(), RigError> {
        Err(not_supported(self.name(), "restart_app"))
    }

    /// Removes the device and its bond ("forget this device").
    async fn forget(&mut self, _device: &str) -> Result<(), RigError> {
        Err(not_supported(self.name(), "forget"))
    }

    /// Switches the Bluetooth adapter off or on.
    async fn set_adapter_power(&mut self, _on: bool) -> Result<(), RigError> {
        Err(not_supported(self.name(), "set_adapter_power"))
    }

    /// Updates a device's firmware: upload, test, reset, and read back what runs. With `stop_at`,
    /// the transfer stops at that percentage and the call returns `Stopped` at once, so the caller
    /// can cut the power or the link.
    async fn dfu(
        &mut self,
        _device: &str,
        _image: &Image,
        _stop_at: Option<u8>,
        _deadline: Duration,
    ) -> Result<DfuOutcome, RigError> {
        Err(not_supported(self.name(), "dfu"))
    }

    /// Holds an encrypted connection for `duration`, reconnecting whenever it drops; returns how
    /// many times it dropped (a soak).
    async fn soak(
        &mut self,
        _device: &str,
        _duration: Duration,
    ) -> Result<Result<u32, LinkFailure>, RigError> {
        Err(not_supported(self.name(), "soak"))
    }

    /// One GATT exchange with a bonded device over an encrypted link: connect, read, write or
    /// subscribe, disconnect. An ATT error is `GattOutcome::Failed(LinkFailure::Att(code))`.
    async fn gatt(
        &mut self,
        _device: &str,
        _request: &GattRequest,
        _deadline: Duration,
    ) -> Result<GattOutcome, RigError> {
        Err(not_supported(self.name(), "gatt"))
    }

    /// Sends an application command to a bonded device over an encrypted link.
    async fn command(
        &mut self,
        device: &str,
        command: DeviceCommand,
        deadline: Duration,
    ) -> Result<CommandOutcome, RigError>;
}

/// One device heard during a scan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advertisement {
    /// The rig's name for the device, when the central can tell which device it is.
    pub device: Option<String>,
    /// The advertised local name.
    pub name: String,
    pub address: String,
    pub rssi_dbm: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DfuOutcome {
    /// The update went through; the device now runs `version`.
    Updated {
        version: String,
    },
    /// Stopped at the requested percentage.
    Stopped {
        at_percent: u8,
    },
    Failed(LinkFailure),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandOutcome {
    Done,
    Failed(LinkFailure),
}

/// What came of a GATT exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GattOutcome {
    /// A read's value.
    Read(Vec<u8>),
    Written,
    /// A subscription's notifications, in order (ending with the awaited value, if it came).
    Notified(Vec<Vec<u8>>),
    Failed(LinkFailure),
}

/// A subscription's listening, the same on every central: the values `notifications` brings
/// until `until` is among them, the window (rig time) closes, or the stream ends (the link
/// dropped).
pub async fn listen(
    notifications: impl Stream<Item = Vec<u8>>,
    until: Option<&[u8]>,
    window: Duration,
) -> Vec<Vec<u8>> {
    let mut notifications = std::pin::pin!(notifications);
    let end = time::Instant::now() + window;
    let mut notified = Vec::new();
    while !until.is_some_and(|wanted| notified.iter().any(|v: &Vec<u8>| v == wanted)) {
        match time::timeout_at(end, notifications.next()).await {
            Ok(Some(value)) => notified.push(value),
            Ok(None) | Err(_) => break,
        }
    }
    notified
}

fn not_supported(central: &str, what: &str) -> RigError {
    RigError::new(central, format!("this central does not support `{what}`"))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkOutcome {
    /// Paired and bonded, or reconnected and encrypted with the bond.
    Bonded,
    Failed(LinkFailure),
}

/// Why a link attempt failed, as the central observed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkFailure {
    /// The device was not seen advertising.
    NotFound,
    /// The adapter is off: the central cannot scan at all.
    AdapterOff,
    /// The link dropped with an HCI disconnect reason (0x06 key missing, 0x08 connection timeout, …).
    Disconnected(u8),
    /// SMP pairing failed with a reason code (0x05 pairing not supported, 0x09 repeated attempts, …).
    Smp(u8),
    /// The device answered with an explicit application status, e.g. `low_battery`.
    Refused(String),
    /// `connect` without a bond on the central.
    NotBonded,
    /// The device answered an ATT request with this error code (0x05 insufficient
    /// authentication, 0x0A attribute not found, 0x80–0x9F the application's own).
    Att(u8),
}

impl fmt::Display for LinkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkFailure::NotFound => f.write_str("not_found"),
            LinkFailure::AdapterOff => f.write_str("adapter_off"),
            LinkFailure::Disconnected(code) => {
                write!(f, "hci_0x{code:02X} ({})", hci_reason(*code))
            }
            LinkFailure::Smp(code) => write!(f, "smp_0x{code:02X} ({})", smp_reason(*code)),
            LinkFailure::Refused(status) => write!(f, "refused ({status})"),
            LinkFailure::NotBonded => f.write_str("not_bonded"),
            LinkFailure::Att(code) => write!(f, "att_0x{code:02X} ({})", att_error(*code)),
        }
    }
}

/// Names of the HCI disconnect reasons the catalog mentions.
fn hci_reason(code: u8) -> &'static str {
    match code {
        0x05 => "authentication failure",
        0x06 => "PIN or key missing",
        0x08 => "connection timeout",
        0x13 => "remote user terminated",
        0x22 => "LL response timeout",
        0x3D => "MIC failure",
        0x3E => "failed to establish",
        _ => "other",
    }
}

/// Names of the ATT errors (Core spec Vol 3 Part F 3.4.1.1); 0x80–0x9F are the application's.
fn att_error(code: u8) -> &'static str {
    match code {
        0x02 => "read not permitted",
        0x03 => "write not permitted",
        0x05 => "insufficient authentication",
        0x06 => "request not supported",
        0x0A => "attribute not found",
        0x0E => "unlikely error",
        0x0F => "insufficient encryption",
        0x13 => "value not allowed",
        0x80..=0x9F => "application error",
        _ => "other",
    }
}

/// Names of the SMP pairing-failed reasons the catalog mentions.
fn smp_reason(code: u8) -> &'static str {
    match code {
        0x05 => "pairing not supported",
        0x08 => "unspecified reason",
        0x09 => "repeated attempts",
        0x0B => "unsupported version",
        _ => "other",
    }
}
