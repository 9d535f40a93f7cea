//! The BlueZ central driver (btleplug + D-Bus) against the emulated BlueZ on a private
//! `dbus-daemon`, whose radio is the virtual rig's phone: `hil rig check` names each reason the
//! host's Bluetooth is unusable (F16), the driver's error paths, and F05 / F14 (GATT: read, write,
//! subscribe, ATT errors) and F10 / F16 (bonds, adapter) run through the driver on the emulated
//! rig with the virtual rig's snapshots.
//!
//! btleplug reaches the system bus only through `DBUS_SYSTEM_BUS_ADDRESS`, and this workspace
//! cannot set environment variables in-process (no unsafe code), so whatever runs the driver runs
//! in a child: the `hil` binary, or this test binary re-run on one ignored `child_…` test.

#[path = "bluez/bus.rs"]
mod bus;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bus::{Bus, Policy, emulate};
use common::{repo, text};

const BUS_ENV: &str = "DBUS_SYSTEM_BUS_ADDRESS";

/// The virtual rig with its phone replaced by the host's adapter through BlueZ.
fn bluez_rig(dir: &Path, adapter: &str) -> PathBuf {
    let virtual_rig = std::fs::read_to_string(repo().join("rigs/virtual.toml")).unwrap();
    let rig = virtual_rig
        .replace(
            "[instrument.phone]\ndriver = \"virtual-central\"",
            &format!("[instrument.phone]\ndriver = \"bluez\"\nadapter = \"{adapter}\""),
        )
        .replace(
            "\"../fixtures/",
            &format!("\"{}/fixtures/", repo().display()),
        );
    assert!(
        rig.contains("driver = \"bluez\""),
        "rigs/virtual.toml changed shape"
    );
    let path = dir.join("bluez.toml");
    std::fs::write(&path, rig).unwrap();
    path
}

fn virtual_rig() -> PathBuf {
    repo().join("rigs/virtual.toml")
}

fn rig_check(address: &str, adapter: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let rig = bluez_rig(dir.path(), adapter);
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(["rig", "check", "--rig"])
        .arg(&rig)
        .env(BUS_ENV, address)
        .output()
        .expect("hil runs");
    let stdout = text(&output.stdout);
    let phone = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("phone"))
        .unwrap_or_else(|| panic!("no line for the phone in:\n{stdout}"))
        .to_string();
    (output, phone)
}

fn assert_error(output: &Output, line: &str, words: &str) {
    assert_eq!(output.status.code(), Some(1), "{line}");
    assert!(line.starts_with("ERROR"), "{line}");
    assert!(line.contains(words), "expected `{words}` in:\n{line}");
}

#[test]
fn scenarios_beyond_the_bluez_central_are_skipped_at_plan_time() {
    let dir = tempfile::tempdir().unwrap();
    let rig = bluez_rig(dir.path(), "hci0");
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(["list", "--rig"])
        .arg(&rig)
        .current_dir(repo())
        .output()
        .expect("hil runs");
    let stdout = text(&output.stdout);
    let line = |id: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in:\n{stdout}"))
    };
    assert!(line("F10-").ends_with("yes"), "{stdout}");
    assert!(
        line("F11-stale-bond-on-lock")
            .contains("SKIPPED): `phone` (bluez) cannot do application commands"),
        "{stdout}"
    );
    assert!(
        line("F18-").contains("SKIPPED): `phone` (bluez) cannot do `stop_answering`"),
        "{stdout}"
    );
}

#[test]
fn rig_check_says_when_there_is_no_system_bus() {
    let (output, line) = rig_check("unix:path=/nonexistent/system_bus_socket", "hci0");
    assert_error(&output, &line, "no D-Bus system bus");
}

#[test]
fn rig_check_says_when_bluez_is_not_running() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    let (output, line) = rig_check(&bus.address, "hci0");
    assert_error(&output, &line, "BlueZ is not running");
    assert!(line.contains("systemctl start bluetooth"), "{line}");
}

#[test]
fn rig_check_says_when_there_is_no_adapter() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    let (bluez, _world) = emulate(&bus, &virtual_rig());
    let (output, line) = rig_check(&bus.address, "hci1");
    assert_error(
        &output,
        &line,
        "no Bluetooth adapter `hci1`; BlueZ has hci0",
    );

    bluez.remove_adapter();
    std::thread::sleep(Duration::from_millis(200));
    let (output, line) = rig_check(&bus.address, "hci0");
    assert_error(
        &output,
        &line,
        "no Bluetooth adapter `hci0`: BlueZ has none",
    );
}

#[test]
fn rig_check_says_when_the_adapter_is_off_and_ok_when_on() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    let (_bluez, _world) = emulate(&bus, &virtual_rig());
    let (output, line) = rig_check(&bus.address, "hci0");
    assert_eq!(output.status.code(), Some(0), "{line}");
    assert!(
        line.starts_with("OK") && line.contains("hci0") && line.contains("powered"),
        "{line}"
    );

    set_powered(&bus, false);
    let (output, line) = rig_check(&bus.address, "hci0");
    assert_error(&output, &line, "adapter `hci0` is powered off");
    assert!(line.contains("bluetoothctl power on"), "{line}");
}

#[test]
fn rig_check_says_when_permission_is_denied() {
    let Some(bus) = Bus::start(Policy::DenyBluez) else {
        return;
    };
    let (_bluez, _world) = emulate(&bus, &virtual_rig());
    let (output, line) = rig_check(&bus.address, "hci0");
    assert_error(&output, &line, "permission denied");
    assert!(line.contains("bluetooth` group"), "{line}");
}

/// Switches the emulated adapter with Adapter1.Powered, as `bluetoothctl power off` does.
fn set_powered(bus: &Bus, on: bool) {
    use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
    let connection = dbus::blocking::Connection::new_address(&bus.address).unwrap();
    connection
        .with_proxy("org.bluez", "/org/bluez/hci0", Duration::from_secs(5))
        .set("org.bluez.Adapter1", "Powered", on)
        .unwrap();
}

#[test]
fn the_driver_reports_bluez_and_adapter_failures_as_rig_errors() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    bus::in_child("child_driver_error_paths", &bus);
}

/// The bus the parent gave this child.
fn child_bus() -> String {
    std::env::var(BUS_ENV).expect("run by its parent test, with a private system bus")
}

/// The virtual rig, sped up 10x on the wall clock, with its phone an emulated BlueZ (on the
/// private bus, over the virtual phone) driven by the BlueZ driver. (rigs/emulated.toml's supply
/// has no series resistance, which F10 and F16 ask for.)
fn emulated_bluez_rig(dir: &Path) -> PathBuf {
    let rig = std::fs::read_to_string(bluez_rig(dir, "hci0")).unwrap();
    let rig = rig
        .replace(
            "driver = \"bluez\"\n",
            "driver = \"bluez\"\nemulated = true\n",
        )
        .replacen("\n\n[instrument.", "\ntime_scale = 10\n\n[instrument.", 1);
    assert!(rig.contains("emulated = true") && rig.contains("time_scale"));
    let path = dir.join("emulated-bluez.toml");
    std::fs::write(&path, rig).unwrap();
    path
}

#[test]
fn f05_f10_f14_f16_run_through_btleplug_on_the_emulated_rig_with_the_virtual_rigs_snapshots() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_bluez_rig(dir.path());
    let reports = dir.path().join("reports");
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(["run", "F05", "F10", "F14", "F16", "--report-dir"])
        .arg(&reports)
        .arg("--rig")
        .arg(&rig)
        .env(BUS_ENV, &bus.address)
        .env("HIL_LOCK_DIR", dir.path())
        .current_dir(repo())
        .output()
        .expect("hil runs");
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("latest/results.json")).unwrap(),
    )
    .unwrap();
    let scenarios = results["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 4, "{stdout}");
    for scenario in scenarios {
        assert_eq!(scenario["outcome"], "PASS", "{scenario:#}");
        assert_eq!(scenario["snapshot"]["status"], "matched", "{scenario:#}");
    }
}

#[test]
fn an_emulated_bluez_without_a_private_bus_is_a_rig_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_bluez_rig(dir.path());
    let reports = dir.path().join("reports");
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(["run", "F16", "--report-dir"])
        .arg(&reports)
        .arg("--rig")
        .arg(&rig)
        .env_remove(BUS_ENV)
        .env("HIL_LOCK_DIR", dir.path())
        .current_dir(repo())
        .output()
        .expect("hil runs");
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ERROR"), "{stdout}");
    assert!(
        stdout.contains("an emulated BlueZ needs a private D-Bus bus"),
        "{stdout}"
    );
}

#[test]
fn rig_check_checks_an_emulated_bluez_through_the_driver() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_bluez_rig(dir.path());
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(["rig", "check", "--rig"])
        .arg(&rig)
        .env(BUS_ENV, &bus.address)
        .output()
        .expect("hil runs");
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("bluez              (emulated) hci0"),
        "{stdout}"
    );
}

#[test]
#[ignore = "runs in a child process with a private system bus (see bus::in_child)"]
fn child_driver_error_paths() {
    use hil_rig::drivers::bluez::BluezCentral;
    use hil_rig::{Central, LinkFailure, LinkOutcome};

    let address = child_bus();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let window = Duration::from_secs(2);

    // BlueZ not running: a rig error that says so, not a device failure.
    let mut phone = BluezCentral::new("phone", "hci0");
    let error = runtime.block_on(phone.pair("ring", window)).unwrap_err();
    assert!(error.message.contains("BlueZ is not running"), "{error}");

    // A scan hears the powered ring, with its name and RSSI.
    let bus = BusAddress(address);
    let (bluez, world) = bus.emulate();
    let mut phone = BluezCentral::new("phone", "hci0");
    let heard = runtime.block_on(phone.scan(window)).unwrap();
    let ring = heard
        .iter()
        .find(|a| a.name == "ring")
        .expect("the ring is heard");
    assert!(ring.rssi_dbm < -20.0 && ring.rssi_dbm > -100.0, "{heard:?}");
    assert_eq!(ring.address.len(), 17, "{heard:?}");

    // Pairing with a device that is not there: NotFound, after the scan window.
    let outcome = runtime.block_on(phone.pair("lock", window)).unwrap();
    assert_eq!(outcome, LinkOutcome::Failed(LinkFailure::NotFound));

    // The adapter is unplugged mid-scan.
    let unplug = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        bluez.remove_adapter();
        bluez
    });
    let error = runtime.block_on(phone.pair("lock", window)).unwrap_err();
    assert!(
        error.message.contains("no Bluetooth adapter `hci0`"),
        "{error}"
    );
    let bluez = unplug.join().unwrap();

    // bluetoothd dies mid-scan.
    drop(bluez);
    drop(world);
    let (bluez, world) = bus.emulate();
    let mut phone = BluezCentral::new("phone", "hci0");
    let kill = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(bluez);
        drop(world);
    });
    let error = runtime.block_on(phone.pair("lock", window)).unwrap_err();
    // Killed between two calls, or during one.
    assert!(
        error.message.contains("BlueZ is not running")
            || error.message.contains("BlueZ stopped answering mid-call"),
        "{error}"
    );
    kill.join().unwrap();
}

/// The bus a child was given, for emulators of its own.
struct BusAddress(String);

impl BusAddress {
    /// BlueZ over a world with the ring powered.
    fn emulate(&self) -> (hil_sim::emulators::BluezEmulator, bus::World) {
        bus::emulate_at(&self.0, &virtual_rig(), &[bus::RING])
    }
}

#[test]
fn the_driver_turns_bluetoothds_gatt_errors_into_att_codes() {
    let Some(bus) = Bus::start(Policy::Open) else {
        return;
    };
    bus::in_child("child_gatt_exchanges", &bus);
}

#[test]
#[ignore = "runs in a child process with a private system bus (see bus::in_child)"]
fn child_gatt_exchanges() {
    use hil_rig::drivers::bluez::BluezCentral;
    use hil_rig::{Central, GattOutcome, LinkFailure, LinkOutcome};
    use hil_scenario::GattRequest;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Duration::from_secs(10);
    let rig = hil_scenario::Rig::load(&virtual_rig()).unwrap();
    let gatt = &rig.devices["lock"].profile.gatt;
    let status = gatt.characteristics["status"].clone();
    let control = gatt.characteristics["control"].clone();
    let (_bluez, _world) = bus::emulate_at(&child_bus(), &virtual_rig(), &[bus::LOCK]);
    let mut phone = BluezCentral::new("phone", "hci0");
    let exchange = |phone: &mut BluezCentral, request: GattRequest| {
        runtime
            .block_on(phone.gatt("lock", &request, deadline))
            .unwrap()
    };

    // Not bonded yet: BlueZ holds no keys for the lock.
    assert_eq!(
        exchange(&mut phone, GattRequest::Read(status.clone())),
        GattOutcome::Failed(LinkFailure::NotBonded)
    );
    let paired = runtime.block_on(phone.pair("lock", deadline)).unwrap();
    assert_eq!(paired, LinkOutcome::Bonded);

    // A read through ReadValue: lock-fw's `locked`.
    assert_eq!(
        exchange(&mut phone, GattRequest::Read(status.clone())),
        GattOutcome::Read(vec![0x00])
    );
    // The firmware's own ATT errors come back through bluetoothd's D-Bus errors:
    // "Operation failed with ATT error: 0x13" and NotPermitted "Read not permitted".
    assert_eq!(
        exchange(
            &mut phone,
            GattRequest::Write {
                characteristic: control.clone(),
                value: vec![0x7f],
            }
        ),
        GattOutcome::Failed(LinkFailure::Att(0x13))
    );
    assert_eq!(
        exchange(&mut phone, GattRequest::Read(control.clone())),
        GattOutcome::Failed(LinkFailure::Att(0x02))
    );
    // A characteristic the device does not have: attribute not found, found by the driver.
    let mut missing = status.clone();
    missing.uuid = "8e7f00ff-5a4b-4c3d-9e2f-1a2b3c4d5e6f".into();
    assert_eq!(
        exchange(&mut phone, GattRequest::Read(missing)),
        GattOutcome::Failed(LinkFailure::Att(0x0A))
    );
    // Subscribe, write, hear the bolt move (PropertiesChanged on Value).
    assert_eq!(
        exchange(
            &mut phone,
            GattRequest::Subscribe {
                characteristic: status.clone(),
                write: Some((control.clone(), vec![0x01])),
                until: Some(vec![0x01]),
                window: Duration::from_secs(5),
            }
        ),
        GattOutcome::Notified(vec![vec![0x01]])
    );
    // Nothing moves: the window closes with nothing heard.
    assert_eq!(
        exchange(
            &mut phone,
            GattRequest::Subscribe {
                characteristic: status,
                write: None,
                until: None,
                window: Duration::from_millis(300),
            }
        ),
        GattOutcome::Notified(Vec::new())
    );
}
