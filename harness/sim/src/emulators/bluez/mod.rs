//! BlueZ on a D-Bus bus: `org.bluez` with an adapter whose radio is the virtual world. The
//! BlueZ central driver (btleplug + D-Bus) is tested against it on a private `dbus-daemon`.
//!
//! While discovering, the adapter listens through the world's central (`Central::scan`) and shows
//! what it heard as Device1 objects with name and RSSI; Pair goes to the central's `pair`, Connect
//! opens a connection that stays up for GATT (`gatt.rs`) until Disconnect, failures coming back
//! as the D-Bus errors BlueZ returns; RemoveDevice is `forget`, Powered is `set_adapter_power`.
//! The emulator runs on its own thread on the wall clock.

mod gatt;
mod objects;
mod radio;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use dbus::blocking::SyncConnection;
use dbus::blocking::stdintf::org_freedesktop_dbus::RequestNameReply;
use dbus::channel::{MatchingReceiver, Sender, Token};
use dbus::message::MatchRule;
use dbus_crossroads::{Crossroads, IfaceToken};
use tokio::runtime::Handle;

use crate::central::VirtualCentral;
use crate::emulators::backend::Radio;
use objects::{Adapter, DEVICE1, Device, changed, device_path};
use radio::SharedRadio;

/// Where btleplug (and so the BlueZ driver) finds the system bus.
const PRIVATE_BUS_ENV: &str = "DBUS_SYSTEM_BUS_ADDRESS";
/// How long the adapter listens per look while discovering (rig time).
const LISTEN_WINDOW: Duration = Duration::from_millis(500);
/// How long the thread waits for D-Bus traffic between looks.
const POLL: Duration = Duration::from_millis(10);

/// Something a test does to the emulated BlueZ from outside, as a person at the bench would.
enum Control {
    /// The adapter is unplugged: its objects vanish.
    RemoveAdapter,
}

/// A running emulated BlueZ. Leaves the bus when dropped, as a stopped bluetoothd does.
pub struct BluezEmulator {
    stop: Arc<AtomicBool>,
    control: mpsc::Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

impl BluezEmulator {
    /// For an emulated rig: BlueZ with `adapter` on the bus `DBUS_SYSTEM_BUS_ADDRESS` names, which
    /// must be set (a private bus: the real system bus's BlueZ is not to be taken over), over
    /// `central` on the current tokio runtime.
    pub fn on_private_bus(adapter: &str, central: VirtualCentral) -> Result<Self, String> {
        let address = std::env::var(PRIVATE_BUS_ENV).map_err(|_| {
            format!(
                "an emulated BlueZ needs a private D-Bus bus: start one with `dbus-daemon \
                 --session --print-address --fork` and set {PRIVATE_BUS_ENV} to the address it prints"
            )
        })?;
        Self::start(&address, adapter, central, &Handle::current())
            .map_err(|e| format!("cannot emulate BlueZ on {address}: {e}"))
    }

    /// Connects to the bus at `bus_address` (e.g. `unix:path=/tmp/…/bus`), takes `org.bluez`
    /// and exports `adapter` (e.g. `hci0`), whose radio is `central` served on `handle`'s runtime.
    pub fn start(
        bus_address: &str,
        adapter: &str,
        central: VirtualCentral,
        handle: &Handle,
    ) -> Result<Self, dbus::Error> {
        let connection = Arc::new(SyncConnection::new_address(bus_address)?);
        let radio = Radio::new(central, handle);
        let address = radio.address.clone();
        let radio = SharedRadio::new(radio);

        let mut cr = Crossroads::new();
        cr.set_object_manager_support(Some(connection.clone()));
        let manager = cr.object_manager();
        cr.insert("/", &[manager], ());
        let gatt_ifaces = gatt::register(&mut cr, &radio);
        let adapter_iface = objects::register_adapter(&mut cr, radio.clone());
        let device_iface = objects::register_device(&mut cr, radio.clone(), gatt_ifaces);
        let adapter = dbus::Path::from(format!("/org/bluez/{adapter}"));
        cr.insert(
            adapter.clone(),
            &[adapter_iface],
            Adapter {
                address,
                powered: true,
                discovering: false,
            },
        );
        let cr = Arc::new(Mutex::new(cr));
        let dispatch = cr.clone();
        let receiving = connection.start_receive(
            MatchRule::new_method_call(),
            Box::new(move |message, connection| {
                let mut cr = dispatch.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = cr.handle_message(message, connection);
                true
            }),
        );
        let owner = connection.request_name("org.bluez", false, true, true)?;
        if owner != RequestNameReply::PrimaryOwner {
            return Err(dbus::Error::new_failed("org.bluez is taken on this bus"));
        }

        let stop = Arc::new(AtomicBool::new(false));
        let (control, controls) = mpsc::channel();
        let bluez = Bluez {
            connection,
            cr,
            radio,
            device_iface,
            adapter,
            controls,
            heard: BTreeSet::new(),
            receiving,
        };
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bluez-emulator".into())
            .spawn(move || bluez.run(&stopped))
            .map_err(|e| dbus::Error::new_failed(&e.to_string()))?;
        Ok(Self {
            stop,
            control,
            thread: Some(thread),
        })
    }

    /// Unplugs the adapter: its object and its devices leave the bus (InterfacesRemoved).
    pub fn remove_adapter(&self) {
        let _ = self.control.send(Control::RemoveAdapter);
    }
}

impl Drop for BluezEmulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The emulator's thread: answers D-Bus calls and, while discovering, listens.
struct Bluez {
    connection: Arc<SyncConnection>,
    cr: Arc<Mutex<Crossroads>>,
    radio: SharedRadio,
    device_iface: IfaceToken<Device>,
    adapter: dbus::Path<'static>,
    controls: mpsc::Receiver<Control>,
    /// Every device object ever announced.
    heard: BTreeSet<dbus::Path<'static>>,
    /// The dispatcher's registration on the connection.
    receiving: Token,
}

impl Bluez {
    fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            if self.connection.process(POLL).is_err() {
                break;
            }
            while let Ok(control) = self.controls.try_recv() {
                match control {
                    Control::RemoveAdapter => self.remove_adapter(),
                }
            }
            if self.discovering() {
                self.listen();
            }
        }
        self.leave_bus();
    }

    /// Lets go of the connection (the dispatcher and the object manager hold it too), so it
    /// closes and `org.bluez` leaves the bus, as when bluetoothd exits.
    fn leave_bus(self) {
        self.connection.stop_receive(self.receiving);
        self.cr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_object_manager_support(None);
    }

    fn crossroads(&self) -> std::sync::MutexGuard<'_, Crossroads> {
        self.cr.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn discovering(&self) -> bool {
        self.crossroads()
            .data_mut::<Adapter>(&self.adapter)
            .is_some_and(|a| a.powered && a.discovering)
    }

    /// One listening window: new devices appear, known ones get their RSSI updated.
    fn listen(&mut self) {
        let heard = self.radio.listen(LISTEN_WINDOW);
        let mut cr = self.cr.lock().unwrap_or_else(PoisonError::into_inner);
        for advert in heard {
            let path = device_path(&self.adapter, &advert.address);
            let rssi = advert.rssi_dbm.round() as i16;
            match cr.data_mut::<Device>(&path) {
                Some(known) if known.rssi == rssi => {}
                Some(known) => {
                    known.rssi = rssi;
                    let message = changed(&path, DEVICE1, vec![("RSSI", Box::new(rssi))]);
                    let _ = self.connection.send(message);
                }
                None => {
                    // Inserting announces the device (InterfacesAdded), as BlueZ does.
                    let device = Device::heard(&self.adapter, &advert);
                    cr.insert(path.clone(), &[self.device_iface], device);
                    self.heard.insert(path);
                }
            }
        }
    }

    fn remove_adapter(&mut self) {
        let mut cr = self.cr.lock().unwrap_or_else(PoisonError::into_inner);
        // Devices forgotten meanwhile are gone already; removing them again does nothing.
        for device in std::mem::take(&mut self.heard) {
            if let Some(removed) = cr.remove::<Device>(&device) {
                removed.gatt_objects.remove(&mut cr);
            }
        }
        cr.remove::<Adapter>(&self.adapter);
    }
}
