//! F08 and F09 through the real MCUmgr SMP client (mcumgr-toolkit) against the SMP emulator on a
//! pty, wired to the simulated ring and lock (`rigs/virtual-smp.toml`), in-process through the
//! runner on virtual time. The recovery traces must equal the BLE ones but for what a UART update
//! cannot show: no BLE connection lines, and a stall the firmware notices only if the upload
//! stays silent past its timeout.

mod common;

use std::path::Path;

use common::{copy_scenario, repo};
use hil_cli::{Catalog, ProfileOverride};
use hil_runner::{
    EventBus, Outcome, RunOptions, ScenarioResult, SnapshotMode, SnapshotStatus, run_all,
};
use regex::Regex;
use rstest::rstest;

fn run(
    rig: &str,
    targets: &[&Path],
    overrides: &[ProfileOverride],
    mode: SnapshotMode,
) -> Vec<ScenarioResult> {
    let targets: Vec<String> = targets.iter().map(|t| t.display().to_string()).collect();
    let catalog = Catalog::load(&repo().join("rigs").join(rig), overrides, &targets)
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let planned = catalog
        .plan()
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let options = RunOptions {
        run_id: "smp".into(),
        seed: 1,
        snapshot_mode: mode,
        interrupt: Default::default(),
        quarantine: Default::default(),
        instrument_retries: 2,
    };
    run_all(
        &planned,
        &catalog.rig,
        &hil_cli::connect,
        &EventBus::new(vec![]),
        &options,
    )
    .unwrap()
    .1
}

fn scenario(id: &str) -> std::path::PathBuf {
    repo().join("scenarios").join(format!("{id}.toml"))
}

#[test]
fn f08_and_f09_pass_over_smp_with_their_reviewed_snapshots() {
    let ids = [
        "F08-outdated-firmware",
        "F09-dfu-power-cut",
        "F09-dfu-link-drop",
        "F09-dfu-app-killed",
    ];
    let files: Vec<_> = ids.iter().map(|id| scenario(id)).collect();
    let targets: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let results = run("virtual-smp.toml", &targets, &[], SnapshotMode::Check);
    assert_eq!(results.len(), ids.len());
    for result in &results {
        assert_eq!(
            result.outcome,
            Outcome::Pass,
            "{}: {:?}",
            result.id,
            result.message
        );
        assert_eq!(result.snapshot, SnapshotStatus::Matched, "{}", result.id);
    }
}

/// Lines a UART update legitimately lacks, next to a BLE one.
fn ble_only(line: &str) -> bool {
    static ONLY: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"^\s*(connected|disconnected reason=0x[0-9a-f]{2}|advertising|dfu_stalled percent=\d+)$")
            .unwrap()
    });
    ONLY.is_match(line)
}

fn snapshot_body(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.splitn(3, "---\n")
        .nth(2)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[rstest]
#[case::ring_power_cut_early("F09-dfu-power-cut", "at_percent = 40", "at_percent = 15")]
#[case::ring_power_cut_late("F09-dfu-power-cut", "at_percent = 40", "at_percent = 85")]
#[case::ring_app_killed_late("F09-dfu-app-killed", "at_percent = 30", "at_percent = 70")]
#[case::lock_link_drop_early("F09-dfu-link-drop", "at_percent = 60", "at_percent = 25")]
#[case::lock_link_drop_late("F09-dfu-link-drop", "at_percent = 60", "at_percent = 90")]
fn an_interruption_anywhere_recovers_like_over_ble(
    #[case] id: &str,
    #[case] from: &str,
    #[case] to: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let new_id = format!("{id}-{}", to.trim_start_matches("at_percent = "));
    copy_scenario(dir.path(), id, &new_id, |s| {
        assert!(s.contains(from));
        s.replace(from, to)
    });
    let file = dir.path().join(format!("{new_id}.toml"));
    // The BLE trace becomes the reviewed snapshot; the SMP run writes its own where it differs.
    let ble = run("virtual.toml", &[&file], &[], SnapshotMode::Accept);
    assert_eq!(
        ble[0].outcome,
        Outcome::Pass,
        "over BLE: {:?}",
        ble[0].message
    );
    let smp = run("virtual-smp.toml", &[&file], &[], SnapshotMode::Accept);
    assert_eq!(
        smp[0].outcome,
        Outcome::Pass,
        "over SMP: {:?}",
        smp[0].message
    );

    let snapshots = dir.path().join("snapshots");
    let ble = snapshot_body(&snapshots.join(format!("{new_id}.snap")));
    let smp = snapshot_body(&snapshots.join(format!("{new_id}@smp.snap")));
    // Every SMP line appears in the BLE trace, in order; what only BLE has is link noise.
    let mut missing = Vec::new();
    let mut ble_lines = ble.iter();
    for line in &smp {
        loop {
            let Some(next) = ble_lines.next() else {
                panic!(
                    "`{line}` is not in the BLE trace (in order):\n{}",
                    smp.join("\n")
                );
            };
            if next == line {
                break;
            }
            missing.push(next.clone());
        }
    }
    missing.extend(ble_lines.cloned());
    let unexplained: Vec<_> = missing.iter().filter(|l| !ble_only(l)).collect();
    assert!(unexplained.is_empty(), "only over BLE: {unexplained:?}");
    assert!(
        smp.iter().any(|l| l.contains("dfu_resumed")),
        "{}",
        smp.join("\n")
    );
}

#[rstest]
#[case::single_bank_bootloader_bricks(
    "lock",
    "lock-single-bank-bricks.toml",
    "F09-dfu-link-drop",
    "lock was not updated to lock-fw 1.5.0"
)]
#[case::image_never_confirmed(
    "ring",
    "ring-no-image-confirm.toml",
    "F09-dfu-power-cut",
    "ring did not report `firmware` version=2.1.0"
)]
fn a_buggy_update_path_fails_over_smp_too(
    #[case] device: &str,
    #[case] mutant: &str,
    #[case] id: &str,
    #[case] message: &str,
) {
    let build = ProfileOverride {
        device: device.into(),
        path: repo().join("fixtures/profiles/mutants").join(mutant),
    };
    let file = scenario(id);
    let results = run("virtual-smp.toml", &[&file], &[build], SnapshotMode::Check);
    assert_eq!(results[0].outcome, Outcome::Fail);
    let said = results[0].message.as_deref().unwrap_or_default();
    assert!(said.contains(message), "{said}");
}

/// The emulated rig: battery simulators, attenuator and MCUmgr UARTs behind their real drivers,
/// on the wall clock ×10, through the `hil` binary.
#[test]
fn hil_run_updates_over_smp_on_the_emulated_rig() {
    let reports = tempfile::tempdir().unwrap();
    let (code, stdout, run) = common::run(
        &[
            "F09-dfu-app-killed",
            "F09-dfu-link-drop",
            "--rig",
            "rigs/emulated-smp.toml",
        ],
        reports.path(),
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("2 passed"), "{stdout}");
    // Each chunk the lock acknowledged is a progress event, up to the whole image.
    let events = std::fs::read_to_string(run.join("events.jsonl")).unwrap();
    let uploads: Vec<_> = events
        .lines()
        .filter(|l| l.contains("\"event\":\"progress\"") && l.contains("\"device\":\"lock\""))
        .collect();
    assert!(uploads.len() > 100, "{} progress events", uploads.len());
    let whole = 192 * 1024;
    assert!(
        uploads
            .iter()
            .any(|l| l.contains(&format!("\"done\":{whole},\"total\":{whole}"))),
        "{:?}",
        uploads.last()
    );
}
