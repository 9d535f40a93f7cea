//! `hil run` through a real supply driver, against the instrument's emulator on a real pty.

mod common;

use hil_scenario::Driver;
use hil_sim::emulators::Emulator;

use common::{bench, bench_run, hil, refused_then_run_unchecked, text};

/// A scenario that only drives the supply (a bench without consoles can run it).
fn scenario(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("supply.toml");
    std::fs::write(
        &path,
        r#"id = "T-supply"
failure = "F01"
title = "Supply only"
needs = ["ring.power"]
timeout = "1m"

[[setup]]
power = { device = "ring", volts = 3.7, amps = 0.3 }
[[reproduce]]
wait = "200ms"
[[recover]]
power = { device = "ring", volts = 4.2, amps = 0.3 }
"#,
    )
    .unwrap();
    path
}

#[test]
fn a_run_drives_a_real_driver_and_leaves_the_supply_safe() {
    let emulator = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), Driver::RigolDp800, emulator.port());
    let scenario = scenario(dir.path());
    let reports = dir.path().join("reports");
    let mut args = bench_run(&scenario, &rig, &reports);
    args.push("-v".into());
    let out = hil(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("psu: ch1 4.20 V ≤0.30 A → reads 4.200 V"),
        "{stdout}"
    );
    let channel = emulator.channel(1).unwrap();
    assert!(!channel.on, "safe state: the output is off at the end");
    assert_eq!(
        channel.ovp,
        Some(4.25),
        "OVP armed at the ring's limit before any step"
    );
}

#[test]
fn a_supply_that_is_not_there_is_a_rig_error_naming_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), Driver::RigolDp800, "/dev/ttyUSB-gone");
    let scenario = scenario(dir.path());
    let reports = dir.path().join("reports");
    let (code, stdout) =
        refused_then_run_unchecked(bench_run(&scenario, &rig, &reports), "/dev/ttyUSB-gone");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("ERROR   T-supply"), "{stdout}");
    assert!(stdout.contains("/dev/ttyUSB-gone"), "{stdout}");
}

#[test]
fn rig_safe_switches_a_real_supply_off_by_hand() {
    let emulator = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), Driver::RigolDp800, emulator.port());
    // Leave the output on, as a run killed mid-way would.
    let mut driver =
        hil_rig::drivers::open(&hil_scenario::Rig::load(&rig).unwrap().instruments["psu"]).unwrap();
    driver
        .apply(
            1,
            hil_scenario::Setpoint {
                volts: 4.0,
                amps: 0.3,
                series_ohms: None,
            },
        )
        .unwrap();
    drop(driver);
    assert!(emulator.channel(1).unwrap().on);

    let out = hil(&["rig", "safe", "--rig", &rig.display().to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("psu: safe state: ch1 off (reads 0.000 V 0.000 A off)"),
        "{stdout}"
    );
    assert!(!emulator.channel(1).unwrap().on);
}
