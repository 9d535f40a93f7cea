//! The bt-shell dongle driver against the Zephyr bt shell emulator on a real pty, the emulator's
//! radio the simulated phone of a running world (ring and lock models on a wall clock, sped up).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hil_rig::drivers::{SerialTransport, ShellCentral};
use hil_rig::{LinkFailure, LinkOutcome, RigError};
use hil_scenario::{Reach, Rig, Setpoint, ShellDialect};
use hil_sim::emulators::{Emulator, Fault};

/// Rig time runs this many times faster than life: a 20 s button hold takes a second.
const SCALE: f64 = 20.0;
const DEADLINE: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A world with a dongle in it: the driver talks to the emulator over a pty.
struct Bench {
    dongle: ShellCentral<SerialTransport>,
    emulator: Emulator,
    world: hil_rig::Rig,
    /// The world's runtime, driven by a thread of its own until this is dropped.
    runtime: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Bench {
    fn new() -> Bench {
        Self::with_dialect(
            ShellDialect::load(&repo().join("fixtures/profiles/zephyr-bt-shell.toml")).unwrap(),
        )
    }

    fn with_dialect(dialect: ShellDialect) -> Bench {
        hil_rig::time::set_scale(SCALE);
        let rig = Rig::load(&repo().join("rigs/virtual.toml")).expect("the virtual rig loads");
        let world_runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let runtime = world_runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || world_runtime.block_on(stopped));
        let world = runtime.block_on(async { hil_sim::start_world(&rig, 1) });
        let phone = world.virtual_phone("phone");
        let emulator = Emulator::start_central(phone, runtime.clone()).unwrap();
        let world = world.rig;
        let transport = SerialTransport::open(emulator.port(), 115_200).unwrap();
        let reach = [
            ("ring".to_string(), Reach::Name("ring".into())),
            ("lock".to_string(), Reach::Name("lock".into())),
        ]
        .into();
        let dongle = ShellCentral::new("dongle", transport, Arc::new(dialect), reach);
        Bench {
            dongle,
            emulator,
            world,
            runtime,
            _stop: stop,
        }
    }

    /// Powers the ring from the virtual battery simulator; it boots and advertises.
    fn power_ring(&mut self) {
        let psu = self.world.power.get_mut("psu").unwrap();
        let ring = Setpoint {
            volts: 4.2,
            amps: 0.5,
            series_ohms: Some(0.15),
        };
        self.runtime.block_on(psu.apply(1, ring)).unwrap();
    }

    /// Scans until `device` is heard (rig time: at most two minutes).
    fn wait_heard(&mut self, device: &str) {
        for _ in 0..60 {
            let heard = self.dongle.scan(Duration::from_secs(2)).unwrap();
            if heard.iter().any(|ad| ad.device.as_deref() == Some(device)) {
                return;
            }
        }
        panic!("{device} never advertised");
    }

    /// Holds the ring's button long enough for a factory reset.
    fn reset_ring(&mut self) {
        let relay = self.world.relays.get_mut("relay").unwrap();
        self.runtime.block_on(relay.set(1, true)).unwrap();
        std::thread::sleep(Duration::from_secs_f64(20.0 / SCALE));
        let relay = self.world.relays.get_mut("relay").unwrap();
        self.runtime.block_on(relay.set(1, false)).unwrap();
    }
}

fn bonded(outcome: Result<LinkOutcome, RigError>) {
    assert_eq!(outcome.unwrap(), LinkOutcome::Bonded);
}

fn failed(outcome: Result<LinkOutcome, RigError>) -> LinkFailure {
    match outcome.unwrap() {
        LinkOutcome::Failed(failure) => failure,
        LinkOutcome::Bonded => panic!("the link came up"),
    }
}

/// The error, which must name the dongle's port, and come quickly (no hang).
fn rig_error<T: std::fmt::Debug>(call: impl FnOnce() -> Result<T, RigError>, port: &str) -> String {
    let started = Instant::now();
    let e = call().expect_err("a rig error");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(e.message.contains(port), "{e}");
    e.message
}

#[test]
fn the_dongle_scans_pairs_and_reconnects_with_its_bond() {
    let mut bench = Bench::new();
    bench.power_ring();
    bench.dongle.start().unwrap();
    assert_eq!(bench.dongle.address().map(str::len), Some(17));

    // Before the ring boots the dongle may hear nothing; within a few seconds it hears the ring,
    // and only the ring: the lock is not powered.
    std::thread::sleep(Duration::from_secs_f64(5.0 / SCALE));
    let heard = bench.dongle.scan(Duration::from_secs(2)).unwrap();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0].device.as_deref(), Some("ring"));
    assert!((-100.0..-20.0).contains(&heard[0].rssi_dbm), "{heard:?}");

    assert_eq!(
        failed(bench.dongle.connect("ring", DEADLINE)),
        LinkFailure::NotBonded
    );
    bonded(bench.dongle.pair("ring", DEADLINE));
    bonded(bench.dongle.connect("ring", DEADLINE));
    assert_eq!(
        failed(bench.dongle.pair("lock", Duration::from_secs(5))),
        LinkFailure::NotFound,
        "the lock is off"
    );
}

#[test]
fn a_stale_bond_is_key_missing_until_forgotten_and_the_adapter_toggled() {
    let mut bench = Bench::new();
    bench.power_ring();
    bonded(bench.dongle.pair("ring", DEADLINE));

    bench.reset_ring();
    bench.wait_heard("ring");
    assert_eq!(
        failed(bench.dongle.connect("ring", DEADLINE)),
        LinkFailure::Disconnected(0x06),
        "the ring lost its keys"
    );
    assert_eq!(
        failed(bench.dongle.pair("ring", DEADLINE)),
        LinkFailure::Disconnected(0x06),
        "the dongle re-encrypts with the keys it holds instead of pairing anew"
    );

    bench.dongle.forget("ring").unwrap();
    assert_eq!(
        failed(bench.dongle.connect("ring", DEADLINE)),
        LinkFailure::NotBonded
    );
    bench.dongle.set_adapter_power(false).unwrap();
    assert_eq!(
        failed(bench.dongle.pair("ring", DEADLINE)),
        LinkFailure::AdapterOff
    );
    let off = bench.dongle.scan(Duration::from_secs(1)).unwrap_err();
    assert!(off.message.contains("adapter is off"), "{off}");
    bench.dongle.set_adapter_power(true).unwrap();
    bonded(bench.dongle.pair("ring", DEADLINE));
    bonded(bench.dongle.connect("ring", DEADLINE));
}

#[test]
fn an_app_that_stops_answering_is_timed_out_by_the_ring() {
    let mut bench = Bench::new();
    bench.power_ring();
    bonded(bench.dongle.pair("ring", DEADLINE));
    assert_eq!(
        failed(bench.dongle.stop_answering("ring", DEADLINE)),
        LinkFailure::Disconnected(0x08)
    );
    bonded(bench.dongle.connect("ring", DEADLINE));
}

#[test]
fn an_old_app_handshake_is_refused_until_the_new_app_runs() {
    let mut bench = Bench::new();
    bench.power_ring();
    bench.dongle.install_app(2).unwrap();
    bench.dongle.restart_app().unwrap();
    assert_eq!(
        failed(bench.dongle.pair("ring", DEADLINE)),
        LinkFailure::Refused("unsupported_version".into())
    );
    bench.dongle.install_app(3).unwrap();
    assert_eq!(
        failed(bench.dongle.pair("ring", DEADLINE)),
        LinkFailure::Refused("unsupported_version".into()),
        "installed, but the old app still runs"
    );
    bench.dongle.restart_app().unwrap();
    bonded(bench.dongle.pair("ring", DEADLINE));
}

#[test]
fn a_dongle_that_stops_answering_is_a_timeout_naming_its_port() {
    let mut bench = Bench::new();
    bench.dongle.start().unwrap();
    bench.emulator.inject(Fault::Late(Duration::from_secs(30)));
    let port = bench.emulator.port().to_string();
    let e = rig_error(|| bench.dongle.scan(Duration::from_secs(1)), &port);
    assert!(e.contains("`bt scan on`") && e.contains("timed out"), "{e}");
}

#[test]
fn malformed_shell_output_is_an_error_that_shows_it() {
    let mut bench = Bench::new();
    bench.dongle.start().unwrap();
    bench.emulator.inject(Fault::Garbage);
    let port = bench.emulator.port().to_string();
    let e = rig_error(|| bench.dongle.set_adapter_power(false), &port);
    assert!(e.contains("line noise"), "{e}");
}

#[test]
fn a_dongle_unplugged_mid_scan_is_an_error_naming_its_port() {
    let mut bench = Bench::new();
    bench.power_ring();
    bench.dongle.start().unwrap();
    let port = bench.emulator.port().to_string();
    let emulator = bench.emulator;
    let unplug = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        emulator.inject(Fault::Unplug);
        emulator
    });
    let e = rig_error(|| bench.dongle.scan(Duration::from_secs(40)), &port);
    assert!(e.contains("lost"), "{e}");
    drop(unplug.join());
}

#[test]
fn a_device_the_dongle_does_not_reach_is_a_rig_error() {
    let mut bench = Bench::new();
    let e = bench.dongle.pair("hub", DEADLINE).unwrap_err();
    assert!(e.message.contains("`hub` is not among the devices"), "{e}");
}

#[test]
fn a_stock_shell_without_the_test_commands_refuses_what_needs_them() {
    let dir = tempfile::tempdir().unwrap();
    let stock = std::fs::read_to_string(repo().join("fixtures/profiles/zephyr-bt-shell.toml"))
        .unwrap()
        .replace("app_version = \"hil app-version {version}\"\n", "")
        .replace("silence = \"hil silence-after-encrypt\"\n", "");
    let path = dir.path().join("stock-shell.toml");
    std::fs::write(&path, stock).unwrap();
    let mut bench = Bench::with_dialect(ShellDialect::load(&path).unwrap());
    bench.power_ring();
    let e = bench.dongle.install_app(2).unwrap_err();
    assert!(
        e.message
            .contains("`install_app` needs the test-firmware command `app_version`"),
        "{e}"
    );
    bonded(bench.dongle.pair("ring", DEADLINE));
    let e = bench.dongle.stop_answering("ring", DEADLINE).unwrap_err();
    assert!(
        e.message
            .contains("`stop_answering` needs the test-firmware command `silence`"),
        "{e}"
    );
}
