//! The phone as a central dongle: the catalog's central-side scenarios through the bt-shell-dongle
//! driver, talking over a pty to the Zephyr bt shell emulator whose radio reaches the simulated
//! ring and lock. The recovery snapshots are the virtual rig's.

mod common;

use common::{repo, run};
use serde_json::Value;

const RIG: &str = "rigs/emulated-dongle.toml";

#[test]
fn central_scenarios_run_through_the_dongle_and_match_the_virtual_rigs_snapshots() {
    let reports = tempfile::tempdir().unwrap();
    let scenarios = ["F07", "F10", "F12-reset-order-right", "F18"];
    let mut args = scenarios.to_vec();
    args.extend(["--rig", RIG]);
    let (code, stdout, latest) = run(&args, reports.path());
    assert_eq!(code, Some(0), "{stdout}");

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("results.json")).unwrap())
            .unwrap();
    let ran = results["scenarios"].as_array().unwrap();
    assert_eq!(ran.len(), scenarios.len(), "{stdout}");
    for scenario in ran {
        assert_eq!(scenario["outcome"], "PASS", "{scenario:#}");
        assert_eq!(scenario["snapshot"]["status"], "matched", "{scenario:#}");
    }
}

#[test]
fn a_device_outside_the_dongles_reach_is_an_error_naming_the_dongle() {
    let dir = tempfile::tempdir().unwrap();
    let rig = std::fs::read_to_string(repo().join(RIG))
        .unwrap()
        .replace(
            "reach = { ring = \"ring\", lock = \"lock\" }",
            "reach = { lock = \"lock\" }",
        )
        .replace(
            "\"../fixtures/",
            &format!("\"{}/fixtures/", repo().display()),
        );
    let path = dir.path().join("rig.toml");
    std::fs::write(&path, rig).unwrap();

    let reports = tempfile::tempdir().unwrap();
    let (code, stdout, _) = run(&["F18", "--rig", path.to_str().unwrap()], reports.path());
    assert_ne!(code, Some(0), "{stdout}");
    assert!(stdout.contains("ERROR"), "{stdout}");
    assert!(
        stdout.contains("phone") && stdout.contains("`ring` is not among the devices"),
        "{stdout}"
    );
}

#[test]
fn rig_check_starts_the_dongles_stack_through_its_shell() {
    let out = common::hil(&["rig", "check", "--rig", RIG]);
    let stdout = common::text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("bt-shell-dongle    (emulated) zephyr-bt-shell 3.7 shell; identity C"),
        "{stdout}"
    );
}
