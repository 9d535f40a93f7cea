//! Mutation testing of the catalog: each profile in `fixtures/profiles/mutants/` is a firmware
//! build with one realistic defect. Run with it, the catalog must FAIL at least one scenario with
//! a message (or snapshot diff) that names the misbehaviour. A mutant nothing catches is a gap in
//! the catalog: add the scenario.

use std::path::{Path, PathBuf};

use hil_cli::{Catalog, ProfileOverride};
use hil_runner::{
    EventBus, Outcome, RunOptions, ScenarioResult, SnapshotMode, SnapshotStatus, run_all,
};
use rstest::rstest;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_catalog_with(device: &str, mutant: &str) -> Vec<ScenarioResult> {
    let profile = ProfileOverride {
        device: device.into(),
        path: repo().join("fixtures/profiles/mutants").join(mutant),
    };
    let targets = [repo().join("scenarios").display().to_string()];
    let catalog = Catalog::load(&repo().join("rigs/virtual.toml"), &[profile], &targets)
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let planned = catalog
        .plan()
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let options = RunOptions {
        run_id: "mutants".into(),
        seed: 1,
        snapshot_mode: SnapshotMode::Check,
        interrupt: Default::default(),
        quarantine: Default::default(),
        instrument_retries: 2,
    };
    run_all(
        &planned,
        &catalog.rig,
        &hil_sim::start,
        &EventBus::new(vec![]),
        &options,
    )
    .unwrap()
    .1
}

/// What a FAIL says: its message and, for a snapshot mismatch, the diff.
fn failure_text(result: &ScenarioResult) -> String {
    let diff = match &result.snapshot {
        SnapshotStatus::Mismatch { diff } => diff.as_str(),
        _ => "",
    };
    format!("{}\n{diff}", result.message.as_deref().unwrap_or(""))
}

#[rstest]
#[case::pairs_below_brownout_and_boot_loops(
    "ring",
    "ring-bootloop.toml",
    "F01-ring-low-battery",
    "+      pairing_resumed"
)]
#[case::ignores_brownout_reset_reason(
    "ring",
    "ring-no-low-battery-guard.toml",
    "F01-ring-low-battery",
    "-    low_battery"
)]
#[case::no_battery_health_check(
    "ring",
    "ring-no-battery-health.toml",
    "F02-worn-ring-cell",
    "did not report `battery_fault`"
)]
#[case::bonds_survive_factory_reset(
    "ring",
    "ring-bonds-survive-reset.toml",
    "F13-ring-reset-procedure",
    "ring reconnected to phone"
)]
#[case::no_readvertising_after_supervision_timeout(
    "ring",
    "ring-no-readvertise.toml",
    "F18-pairs-then-disconnects",
    "ring did not report `advertising`"
)]
#[case::ownership_survives_factory_reset(
    "lock",
    "lock-ownership-survives-reset.toml",
    "F11-stale-bond-on-lock",
    "refused (owned)"
)]
#[case::bolt_position_lost_after_motor_brownout(
    "lock",
    "lock-bolt-lost.toml",
    "F05-lock-motor-sag",
    "lock status reads unknown, expected locked"
)]
#[case::user_codes_not_restorable(
    "lock",
    "lock-codes-not-restorable.toml",
    "F21-reset-erases-user-codes",
    "refused (restore_failed)"
)]
#[case::old_app_handshake_fails_silently(
    "ring",
    "ring-no-app-version-check.toml",
    "F07-app-handshake-mismatch",
    "hci_0x3D (MIC failure)"
)]
#[case::lockout_never_expires(
    "lock",
    "lock-lockout-never-expires.toml",
    "F19-slow-pairing",
    "last: smp_0x09 (repeated attempts)"
)]
#[case::replayed_nfc_tap_accepted(
    "lock",
    "lock-accepts-replayed-nfc.toml",
    "F20-nfc-replay",
    "lock carried out `unlock` from cloner"
)]
#[case::static_nfc_uid(
    "ring",
    "ring-static-nfc-uid.toml",
    "F20-nfc-replay",
    "lock carried out `unlock` from cloner"
)]
#[case::update_never_confirmed(
    "ring",
    "ring-no-image-confirm.toml",
    "F09-dfu-power-cut",
    "ring did not report `firmware` version=2.1.0"
)]
#[case::single_bank_bricks_on_interruption(
    "lock",
    "lock-single-bank-bricks.toml",
    "F09-dfu-link-drop",
    "lock was not updated to lock-fw 1.5.0"
)]
#[case::full_bond_table_rejects(
    "lock",
    "lock-full-table-rejects.toml",
    "F11-lock-bond-table-full",
    "refused (bond_table_full)"
)]
fn the_catalog_catches_the_mutant(
    #[case] device: &str,
    #[case] mutant: &str,
    #[case] scenario: &str,
    #[case] names_the_misbehaviour: &str,
) {
    let results = run_catalog_with(device, mutant);
    let failed: Vec<&ScenarioResult> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .collect();
    let caught = failed.iter().find(|r| r.id == scenario).unwrap_or_else(|| {
        let ids: Vec<&str> = failed.iter().map(|r| r.id.as_str()).collect();
        panic!("{mutant}: {scenario} did not FAIL (failed: {ids:?})")
    });
    let text = failure_text(caught);
    assert!(
        text.contains(names_the_misbehaviour),
        "{mutant}: {scenario} failed without naming the misbehaviour ({names_the_misbehaviour:?}):\n{text}"
    );
    for result in &results {
        assert_ne!(
            result.outcome,
            Outcome::Error,
            "a firmware defect is never a rig ERROR: {}",
            result.id
        );
    }
}

/// Every mutant on disk is in the table above.
#[test]
fn every_mutant_is_exercised() {
    let source = include_str!("mutants.rs");
    for entry in std::fs::read_dir(repo().join("fixtures/profiles/mutants")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            source.contains(&format!("\"{name}\"")),
            "mutant {name} has no case"
        );
    }
}
