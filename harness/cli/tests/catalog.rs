//! Every `scenarios/*.toml` is its own test case: it runs on the virtual rig and its recovery
//! must match the reviewed snapshot. A new scenario file is a new test, with no code.
//! On a difference, `<id>.snap.new` is written beside the snapshot for `cargo insta review`.

use std::path::{Path, PathBuf};

use hil_cli::{Catalog, ProfileOverride};
use hil_runner::{
    EventBus, Outcome, RunOptions, ScenarioResult, SnapshotMode, SnapshotStatus, run_all,
};
use rstest::rstest;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(scenario: &Path, profiles: &[ProfileOverride], mode: SnapshotMode) -> ScenarioResult {
    let targets = [scenario.display().to_string()];
    let catalog = Catalog::load(&repo().join("rigs/virtual.toml"), profiles, &targets)
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let planned = catalog
        .plan()
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let options = RunOptions {
        run_id: "catalog".into(),
        seed: 1,
        snapshot_mode: mode,
    };
    let (_, mut results) = run_all(
        &planned,
        &catalog.rig,
        &hil_sim::start,
        &EventBus::new(vec![]),
        &options,
    )
    .unwrap();
    results.remove(0)
}

#[rstest]
fn scenario_recovers_as_reviewed(#[files("../../scenarios/*.toml")] scenario: PathBuf) {
    let result = run(&scenario, &[], SnapshotMode::WritePending);
    let diff = match &result.snapshot {
        SnapshotStatus::Mismatch { diff } => diff.as_str(),
        _ => "",
    };
    assert_eq!(
        result.outcome,
        Outcome::Pass,
        "{}: {}\n{diff}\nlog:\n{}",
        result.id,
        result.message.as_deref().unwrap_or(""),
        result.log
    );
    assert_eq!(result.snapshot, SnapshotStatus::Matched);
}

/// Ring firmware 1.9 has no battery guard and resumes an interrupted pairing after a reset, so
/// on a weak cell it boot-loops. F01 must catch it, and the diff must say what differs.
#[test]
fn f01_catches_the_boot_looping_firmware() {
    let buggy = ProfileOverride {
        device: "ring".into(),
        path: repo().join("fixtures/profiles/mutants/ring-bootloop.toml"),
    };
    let result = run(
        &repo().join("scenarios/F01-ring-low-battery.toml"),
        &[buggy],
        SnapshotMode::Check,
    );
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    let SnapshotStatus::Mismatch { diff } = &result.snapshot else {
        panic!("expected a snapshot mismatch, got {:?}", result.snapshot);
    };
    // What the reference firmware does and the buggy one does not…
    for missing in [
        "-    low_battery",
        "-    system_off",
        "-    boot reason=charger_wake",
    ] {
        assert!(diff.contains(missing), "diff lacks {missing:?}:\n{diff}");
    }
    // …and the boot loop it has instead, collapsed.
    assert!(diff.contains("+    repeated ×4+:"), "{diff}");
    assert!(diff.contains("+      pairing_resumed"), "{diff}");
    assert!(
        result
            .message
            .as_deref()
            .unwrap()
            .starts_with("recovery differs from the reviewed snapshot: "),
        "{:?}",
        result.message
    );
}
