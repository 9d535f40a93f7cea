//! A private D-Bus "system" bus (`dbus-daemon`) for one test, and the emulated BlueZ on it whose
//! radio is the virtual rig's phone on a wall-clock runtime.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use hil_sim::VirtualCentral;
use hil_sim::emulators::BluezEmulator;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Who may talk to whom on the private bus.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Open,
    /// Nobody may call BlueZ: what a user outside the `bluetooth` group meets.
    DenyBluez,
}

pub struct Bus {
    daemon: Child,
    _dir: tempfile::TempDir,
    pub address: String,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// Makes sure `program` exists, installing `package` with apt if need be. `false`, after saying
/// so loudly, when it cannot be had.
pub fn ensure(program: &str, package: &str) -> bool {
    let found = || {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if found() || (apt_install(package) && found()) {
        return true;
    }
    skip_loudly(&format!("`{program}` (apt package `{package}`)"));
    false
}

/// Installs a Debian package when running as root (as CI does); whether apt succeeded.
pub fn apt_install(package: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["install", "-y", "-qq", "--no-install-recommends", package];
    root && (apt(&install) || (apt(&["update", "-qq"]) && apt(&install)))
}

/// Says, so nobody mistakes the test's pass for a run, that it did not run.
pub fn skip_loudly(missing: &str) {
    eprintln!(
        "\n!!!!!!!! SKIPPED: {missing} is missing and could not be installed (install it, or run \
         as root so the test installs it). This test did NOT run. !!!!!!!!\n"
    );
}

impl Bus {
    /// Starts a private bus; `None` (said loudly) when `dbus-daemon` cannot be had.
    pub fn start(policy: Policy) -> Option<Bus> {
        if !ensure("dbus-daemon", "dbus") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("system_bus_socket");
        let deny = match policy {
            Policy::Open => "",
            Policy::DenyBluez => {
                r#"<policy context="mandatory"><deny send_destination="org.bluez"/></policy>"#
            }
        };
        let config = format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
  {deny}
</busconfig>
"#,
            socket.display()
        );
        let config_path = dir.path().join("bus.conf");
        std::fs::write(&config_path, config).unwrap();
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config_path.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon starts");
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        assert!(!address.trim().is_empty(), "dbus-daemon printed no address");
        Some(Bus {
            daemon,
            _dir: dir,
            address: address.trim().to_string(),
        })
    }
}

/// Runs the ignored test `name` of this test binary in a child whose system bus is `bus` (the
/// driver finds the bus only in its environment, and tests cannot set their own).
pub fn in_child(name: &str, bus: &Bus) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed in its child:\n{stdout}\n{stderr}"
    );
}

/// The virtual rig's world on a wall-clock runtime of its own thread; runs until dropped.
pub struct World {
    pub handle: Handle,
    pub phone: Option<VirtualCentral>,
    _stop: oneshot::Sender<()>,
}

/// The virtual rig's devices' supply channels, volts and current limits (the lock's motor starts
/// at over an ampere).
pub const RING: (u8, f64, f64) = (1, 4.0, 0.5);
pub const LOCK: (u8, f64, f64) = (2, 6.0, 2.0);

impl World {
    /// Starts the world and powers these devices, so there is something to hear.
    pub fn start(rig: &Path, powered: &[(u8, f64, f64)]) -> World {
        let rig = hil_scenario::Rig::load(rig).expect("the rig loads");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let world = runtime.block_on(async { hil_sim::start_world(&rig, 1) });
        let phone = Some(world.virtual_phone("phone"));
        let mut world = world.rig;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let powered = powered.to_vec();
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let psu = world.power.get_mut("psu").unwrap();
                for (channel, volts, amps) in powered {
                    let setpoint = hil_scenario::Setpoint {
                        volts,
                        amps,
                        series_ohms: None,
                    };
                    psu.apply(channel, setpoint).await.unwrap();
                }
                let _ = stopped.await;
                drop(world);
            })
        });
        World {
            handle,
            phone,
            _stop: stop,
        }
    }
}

/// The emulated BlueZ on `bus`, over the virtual phone of the rig at `rig` (ring powered).
pub fn emulate(bus: &Bus, rig: &Path) -> (BluezEmulator, World) {
    emulate_at(&bus.address, rig, &[RING])
}

/// The same on the bus at `address`, with these devices powered.
pub fn emulate_at(address: &str, rig: &Path, powered: &[(u8, f64, f64)]) -> (BluezEmulator, World) {
    let mut world = World::start(rig, powered);
    let phone = world.phone.take().expect("the rig has a virtual `phone`");
    let emulator =
        BluezEmulator::start(address, "hci0", phone, &world.handle).expect("BlueZ starts");
    (emulator, world)
}
