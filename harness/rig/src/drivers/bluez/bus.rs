//! The BlueZ calls btleplug lacks (Pair, RemoveDevice, Powered, Paired), straight over D-Bus, and
//! the checks that tell a QA engineer why the host's Bluetooth is unusable (the F16 family).

use std::sync::Arc;
use std::time::Duration;

use dbus::arg::{PropMap, RefArg};
use dbus::nonblock::stdintf::org_freedesktop_dbus::{ObjectManager, Properties};
use dbus::nonblock::{Proxy, SyncConnection};

const BLUEZ: &str = "org.bluez";
pub const ADAPTER1: &str = "org.bluez.Adapter1";
pub const DEVICE1: &str = "org.bluez.Device1";
/// BlueZ answers property reads and most calls at once; a slower answer means it is stuck.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the host's Bluetooth cannot be used, each with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    NoSystemBus(String),
    BluezNotRunning,
    /// BlueZ left the bus or hung while a call was under way.
    BluezStopped,
    PermissionDenied(String),
    NoAdapter {
        wanted: String,
        present: Vec<String>,
    },
    PoweredOff(String),
    /// BlueZ answered with something unexpected.
    Other(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::NoSystemBus(cause) => write!(
                f,
                "no D-Bus system bus ({cause}): BlueZ is reached over it; start dbus \
                 (`sudo systemctl start dbus`) or, in a container, mount /run/dbus/system_bus_socket"
            ),
            Unusable::BluezNotRunning => f.write_str(
                "BlueZ is not running (nobody provides `org.bluez` on the system bus): \
                 `sudo systemctl start bluetooth`, and check `systemctl status bluetooth`",
            ),
            Unusable::BluezStopped => f.write_str(
                "BlueZ stopped answering mid-call (bluetoothd crashed or hangs): \
                 `systemctl status bluetooth`, `journalctl -u bluetooth`",
            ),
            Unusable::PermissionDenied(cause) => write!(
                f,
                "permission denied talking to BlueZ ({cause}): run as a user in the `bluetooth` \
                 group (`sudo usermod -aG bluetooth $USER`, then log in again) or check \
                 /etc/dbus-1/system.d/bluetooth.conf"
            ),
            Unusable::NoAdapter { wanted, present } if present.is_empty() => write!(
                f,
                "no Bluetooth adapter `{wanted}`: BlueZ has none; plug in the adapter and check \
                 `bluetoothctl list` and `rfkill list`"
            ),
            Unusable::NoAdapter { wanted, present } => write!(
                f,
                "no Bluetooth adapter `{wanted}`; BlueZ has {}: fix `adapter` in the rig file",
                present.join(", ")
            ),
            Unusable::PoweredOff(adapter) => write!(
                f,
                "Bluetooth adapter `{adapter}` is powered off: `bluetoothctl power on` \
                 (if it will not, `rfkill unblock bluetooth`)"
            ),
            Unusable::Other(cause) => write!(f, "BlueZ: {cause}"),
        }
    }
}

/// A D-Bus error as BlueZ returns it: the error name and its message.
pub fn error_parts(error: &dbus::Error) -> (&str, &str) {
    (
        error.name().unwrap_or_default(),
        error.message().unwrap_or_default(),
    )
}

/// The unusable state behind a D-Bus error that is about the bus or BlueZ, not about a device.
pub fn unusable(error: &dbus::Error) -> Unusable {
    match error_parts(error) {
        ("org.freedesktop.DBus.Error.ServiceUnknown", _)
        | ("org.freedesktop.DBus.Error.NameHasNoOwner", _) => Unusable::BluezNotRunning,
        ("org.freedesktop.DBus.Error.NoReply", _) | ("org.freedesktop.DBus.Error.Timeout", _) => {
            Unusable::BluezStopped
        }
        ("org.freedesktop.DBus.Error.AccessDenied", message)
        | ("org.freedesktop.DBus.Error.AuthFailed", message) => {
            Unusable::PermissionDenied(message.to_string())
        }
        (name, message) => Unusable::Other(format!("{name}: {message}")),
    }
}

/// A connection to the system bus and the adapter's object on it.
#[derive(Clone)]
pub struct Bluez {
    connection: Arc<SyncConnection>,
    pub adapter: dbus::Path<'static>,
}

impl Bluez {
    /// Connects to the system bus and finds `adapter` (e.g. `hci0`). Must run inside tokio.
    pub async fn open(adapter: &str) -> Result<Self, Unusable> {
        let (resource, connection) = dbus_tokio::connection::new_system_sync()
            .map_err(|e| Unusable::NoSystemBus(e.message().unwrap_or("unknown").to_string()))?;
        // The resource runs the connection; when it ends the bus is gone and calls fail.
        tokio::spawn(resource);
        let bus = Proxy::new(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            CALL_TIMEOUT,
            connection.clone(),
        );
        let (owned,): (bool,) = bus
            .method_call("org.freedesktop.DBus", "NameHasOwner", (BLUEZ,))
            .await
            .map_err(|e| unusable(&e))?;
        if !owned {
            return Err(Unusable::BluezNotRunning);
        }
        let root = Proxy::new(BLUEZ, "/", CALL_TIMEOUT, connection.clone());
        let objects = root.get_managed_objects().await.map_err(|e| unusable(&e))?;
        let mut present: Vec<String> = objects
            .iter()
            .filter(|(_, interfaces)| interfaces.contains_key(ADAPTER1))
            .filter_map(|(path, _)| path.rsplit('/').next().map(str::to_string))
            .collect();
        present.sort();
        if !present.iter().any(|name| name == adapter) {
            return Err(Unusable::NoAdapter {
                wanted: adapter.to_string(),
                present,
            });
        }
        Ok(Self {
            connection,
            adapter: dbus::Path::from(format!("/org/bluez/{adapter}")),
        })
    }

    fn proxy<'a>(
        &'a self,
        path: &'a dbus::Path<'static>,
        timeout: Duration,
    ) -> Proxy<'a, Arc<SyncConnection>> {
        Proxy::new(BLUEZ, path.clone(), timeout, self.connection.clone())
    }

    /// The adapter's own address.
    pub async fn address(&self) -> Result<String, dbus::Error> {
        self.proxy(&self.adapter, CALL_TIMEOUT)
            .get(ADAPTER1, "Address")
            .await
    }

    pub async fn powered(&self) -> Result<bool, dbus::Error> {
        self.proxy(&self.adapter, CALL_TIMEOUT)
            .get(ADAPTER1, "Powered")
            .await
    }

    /// Adapter1.Powered: BlueZ switches the controller off or on before it answers.
    pub async fn set_powered(&self, on: bool) -> Result<(), dbus::Error> {
        self.proxy(&self.adapter, CALL_TIMEOUT)
            .set(ADAPTER1, "Powered", on)
            .await
    }

    /// Adapter1.RemoveDevice: drops the device and its bond (keys) from BlueZ.
    pub async fn remove_device(&self, device: &dbus::Path<'static>) -> Result<(), dbus::Error> {
        self.proxy(&self.adapter, CALL_TIMEOUT)
            .method_call(ADAPTER1, "RemoveDevice", (device.clone(),))
            .await
    }

    /// Device1.Pair: pairs and bonds; returns when pairing succeeded or failed.
    pub async fn pair(
        &self,
        device: &dbus::Path<'static>,
        timeout: Duration,
    ) -> Result<(), dbus::Error> {
        self.proxy(device, timeout)
            .method_call(DEVICE1, "Pair", ())
            .await
    }

    /// The adapter's devices whose advertised name or address is `wanted`, with their
    /// properties. Fails when BlueZ or the adapter has gone.
    pub async fn devices_named(
        &self,
        wanted: &str,
    ) -> Result<Vec<(dbus::Path<'static>, PropMap)>, Unusable> {
        let objects = self
            .proxy(&dbus::Path::from("/"), CALL_TIMEOUT)
            .get_managed_objects()
            .await
            .map_err(|e| unusable(&e))?;
        if !objects.contains_key(&self.adapter) {
            let name = self.adapter.rsplit('/').next().unwrap_or_default();
            return Err(Unusable::NoAdapter {
                wanted: name.to_string(),
                present: Vec::new(),
            });
        }
        let prefix = format!("{}/", self.adapter);
        Ok(objects
            .into_iter()
            .filter(|(path, _)| path.starts_with(&prefix))
            .filter_map(|(path, mut interfaces)| Some((path, interfaces.remove(DEVICE1)?)))
            .filter(|(_, props)| {
                ["Name", "Alias", "Address"].iter().any(|key| {
                    props
                        .get(*key)
                        .and_then(|v| v.0.as_str())
                        .is_some_and(|v| v.eq_ignore_ascii_case(wanted))
                })
            })
            .collect())
    }
}

/// A boolean property of a device, false when absent.
pub fn flag(props: &PropMap, key: &str) -> bool {
    props
        .get(key)
        .and_then(|v| v.0.as_i64())
        .is_some_and(|v| v != 0)
}
