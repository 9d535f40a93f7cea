//! `hil run` pressing a button through a real relay driver and setting a real attenuator,
//! against the instruments' emulators on real ptys.

mod common;

use std::path::{Path, PathBuf};

use hil_scenario::Driver;
use hil_sim::emulators::Emulator;

use common::{bench_run, refused_then_run_unchecked, repo, run_bench_verbose};

/// A bench: the ring fed by an emulated Rigol, its button on `relay` channel 2, and an RCDAT.
fn bench(dir: &Path, psu: &str, relay: (Driver, &str), attenuator: &str) -> PathBuf {
    let profiles = repo().join("fixtures/profiles");
    let rig = format!(
        r#"name = "bench-switches-{pid}"

[instrument.psu]
driver = "rigol-dp800"
port = "{psu}"

[instrument.buttons]
driver = "{relay_driver}"
port = "{relay_port}"
channels = 2

[instrument.rf]
driver = "minicircuits-rcdat"
port = "{attenuator}"

[device.ring]
profile = "{profiles}/ring-fw-2.1.toml"
power = {{ instrument = "psu", channel = 1, max_volts = 4.25, max_amps = 0.5 }}
button = {{ instrument = "buttons", channel = 2 }}
"#,
        pid = std::process::id(),
        relay_driver = relay.0.name(),
        relay_port = relay.1,
        profiles = profiles.display()
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, rig).unwrap();
    path
}

fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("switches.toml");
    std::fs::write(
        &path,
        r#"id = "T-switches"
failure = "F01"
title = "Button and RF path only"
needs = ["ring.power", "ring.button", "attenuator"]
timeout = "1m"

[[setup]]
power = { device = "ring", volts = 3.7, amps = 0.3 }
[[reproduce]]
press = { device = "ring", hold = "300ms" }
[[reproduce]]
attenuate = { db = 30.25 }
[[recover]]
attenuate = { db = 0 }
"#,
    )
    .unwrap();
    path
}

fn run(rig: &Path, dir: &Path) -> (Option<i32>, String) {
    run_bench_verbose(&scenario(dir), rig, &dir.join("reports"))
}

#[test]
fn a_press_closes_the_relay_for_the_hold_then_opens_it() {
    for driver in [Driver::NumatoRelay, Driver::LcusRelay] {
        let psu = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
        let relay = Emulator::start(driver).unwrap().unwrap();
        let rf = Emulator::start(Driver::MinicircuitsRcdat).unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rig = bench(dir.path(), psu.port(), (driver, relay.port()), rf.port());

        let (code, output) = run(&rig, dir.path());

        assert_eq!(code, Some(0), "{driver:?}: {output}");
        let closed = output.find("buttons: ch2 closed").expect(&output);
        let opened = output.find("buttons: ch2 open").expect(&output);
        assert!(closed < opened, "{output}");
        assert!(output.contains("rf: attenuation 30.25 dB"), "{output}");
        // An LCUS frame may still be on its way to the emulator when `hil` exits.
        let released = (0..500).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            relay.contact(2) == Some(false)
        });
        assert!(released, "{driver:?}: the button is released");
        assert_eq!(rf.attenuation(), Some(0.0), "recovered to 0 dB");
    }
}

#[test]
fn a_relay_board_that_is_not_there_is_a_rig_error_naming_the_port() {
    let psu = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let rf = Emulator::start(Driver::MinicircuitsRcdat).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(
        dir.path(),
        psu.port(),
        (Driver::NumatoRelay, "/dev/ttyACM-gone"),
        rf.port(),
    );

    let mut args = bench_run(&scenario(dir.path()), &rig, &dir.path().join("reports"));
    args.push("-v".into());
    let (code, output) = refused_then_run_unchecked(args, "/dev/ttyACM-gone");

    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("ERROR   T-switches"), "{output}");
    assert!(
        output.contains("/dev/ttyACM-gone does not exist"),
        "{output}"
    );
}
