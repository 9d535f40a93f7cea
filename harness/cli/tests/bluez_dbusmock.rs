//! The BlueZ central driver against python-dbusmock's `bluez5` template, a second opinion on
//! BlueZ's D-Bus API beside our own emulator: `hil rig check` on an absent, present and
//! powered-off adapter, and a scan / pair / forget through btleplug, and the adapter removed
//! mid-scan.
//!
//! As in `bluez.rs`, the driver runs in a child process whose system bus is the private one.

#[path = "bluez/bus.rs"]
mod bus;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bus::{Bus, Policy};
use common::text;
use dbus::blocking::Connection;

const BUS_ENV: &str = "DBUS_SYSTEM_BUS_ADDRESS";
const RING: &str = "C0:11:22:33:44:55";

/// A Python with dbusmock and dbus-python; installs Debian's `python3-dbusmock` as root if none.
fn dbusmock_python() -> Option<PathBuf> {
    let works = |python: &Path| {
        Command::new(python)
            .args(["-c", "import dbus, dbusmock"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // Debian's own Python is the one apt's python3-dbus and python3-dbusmock install into.
    let candidates = [PathBuf::from("/usr/bin/python3"), PathBuf::from("python3")];
    let found = || candidates.iter().find(|p| works(p)).cloned();
    let python = found().or_else(|| {
        bus::apt_install("python3-dbusmock");
        found()
    });
    if python.is_none() {
        bus::skip_loudly("python-dbusmock (apt `python3-dbusmock`)");
    }
    python
}

/// `python3 -m dbusmock --system --template bluez5` on `bus`, up once it owns `org.bluez`.
struct Mock {
    process: Child,
    connection: Connection,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Mock {
    fn start(bus: &Bus) -> Option<Mock> {
        let python = dbusmock_python()?;
        let process = Command::new(python)
            .args(["-m", "dbusmock", "--system", "--template", "bluez5"])
            .env(BUS_ENV, &bus.address)
            .stdout(Stdio::null())
            .spawn()
            .expect("dbusmock starts");
        let connection = Connection::new_address(&bus.address).unwrap();
        let mut mock = Mock {
            process,
            connection,
        };
        let started = Instant::now();
        while !mock.owns_bluez() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "dbusmock never took org.bluez"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(mock)
    }

    fn owns_bluez(&mut self) -> bool {
        let bus = self.connection.with_proxy(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            Duration::from_secs(5),
        );
        let (owned,): (bool,) = bus
            .method_call("org.freedesktop.DBus", "NameHasOwner", ("org.bluez",))
            .unwrap();
        owned
    }

    fn add_adapter_and_ring(&self) {
        let root = self
            .connection
            .with_proxy("org.bluez", "/", Duration::from_secs(5));
        let (_,): (String,) = root
            .method_call("org.bluez.Mock", "AddAdapter", ("hci0", "bench-pc"))
            .unwrap();
        let (_,): (String,) = root
            .method_call("org.bluez.Mock", "AddDevice", ("hci0", RING, "ring"))
            .unwrap();
    }

    fn set_powered(&self, on: bool) {
        use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
        self.connection
            .with_proxy("org.bluez", "/org/bluez/hci0", Duration::from_secs(5))
            .set("org.bluez.Adapter1", "Powered", on)
            .unwrap();
    }
}

fn rig_check(bus: &Bus) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("bench.toml");
    std::fs::write(
        &rig,
        "name = \"bench\"\n\n[instrument.phone]\ndriver = \"bluez\"\nadapter = \"hci0\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(["rig", "check", "--rig"])
        .arg(&rig)
        .env(BUS_ENV, &bus.address)
        .output()
        .expect("hil runs");
    (output.status.code(), text(&output.stdout))
}

#[test]
fn rig_check_on_dbusmock_adapter_absent_present_and_powered_off() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    let Some(mock) = Mock::start(&bus) else {
        return;
    };

    let (code, stdout) = rig_check(&bus);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("no Bluetooth adapter `hci0`: BlueZ has none"),
        "{stdout}"
    );

    mock.add_adapter_and_ring();
    let (code, stdout) = rig_check(&bus);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("hci0 00:01:02:03:04:05, powered"),
        "{stdout}"
    );

    mock.set_powered(false);
    let (code, stdout) = rig_check(&bus);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("adapter `hci0` is powered off"), "{stdout}");
    drop(mock);
}

#[test]
fn btleplug_scans_pairs_and_forgets_on_dbusmock() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    let Some(mock) = Mock::start(&bus) else {
        return;
    };
    mock.add_adapter_and_ring();
    bus::in_child("child_scan_pair_forget", &bus);
    // The driver's RemoveDevice reached the mock: the ring is gone from BlueZ.
    let ring = format!("/org/bluez/hci0/dev_{}", RING.replace(':', "_"));
    let introspect = mock
        .connection
        .with_proxy("org.bluez", ring, Duration::from_secs(5));
    let gone: Result<(String,), _> =
        introspect.method_call("org.freedesktop.DBus.Introspectable", "Introspect", ());
    assert!(
        gone.map_or(true, |(xml,)| !xml.contains("org.bluez.Device1")),
        "the ring is still known to BlueZ"
    );
}

#[test]
#[ignore = "runs in a child process with a private system bus"]
fn child_scan_pair_forget() {
    use hil_rig::drivers::bluez::BluezCentral;
    use hil_rig::{Central, LinkOutcome};
    use hil_scenario::Reach;

    std::env::var(BUS_ENV).expect("run by its parent test, with a private system bus");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut phone = BluezCentral::new("phone", "hci0");
    let heard = runtime
        .block_on(phone.scan(Duration::from_millis(300)))
        .unwrap();
    let ring = heard
        .iter()
        .find(|a| a.name == "ring")
        .expect("the ring is heard");
    assert_eq!((ring.address.as_str(), ring.rssi_dbm), (RING, -79.0));
    assert_eq!(phone.address(), "00:01:02:03:04:05");

    // Found by address, as a rig file's `reach` says.
    let by_address = [("my-ring".to_string(), Reach::Address(RING.into()))];
    let mut phone = phone.reaching(by_address.into_iter().collect());
    let outcome = runtime
        .block_on(phone.pair("my-ring", Duration::from_secs(5)))
        .unwrap();
    assert_eq!(outcome, LinkOutcome::Bonded);
    runtime.block_on(phone.forget("my-ring")).unwrap();

    // The mock's adapter is removed mid-scan (RemoveAdapter): a rig error naming the adapter.
    let unplug = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(300));
        let bus = Connection::new_system().unwrap();
        let root = bus.with_proxy("org.bluez", "/", Duration::from_secs(5));
        let () = root
            .method_call("org.bluez.Mock", "RemoveAdapter", ("hci0",))
            .unwrap();
    });
    let error = runtime
        .block_on(phone.pair("ring", Duration::from_secs(5)))
        .unwrap_err();
    assert!(
        error.message.contains("no Bluetooth adapter `hci0`"),
        "{error}"
    );
    unplug.join().unwrap();
}
