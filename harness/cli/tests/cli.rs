//! The `hil` binary as users run it: exit codes, reports, located errors.

mod common;

use common::{hil, hil_locked_in, repo, text};

/// A copy of the catalog in a temp dir, so runs can write snapshots without touching the repo.
fn catalog_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("snapshots")).unwrap();
    for entry in std::fs::read_dir(repo().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    for entry in std::fs::read_dir(repo().join("scenarios/snapshots")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snap") {
            std::fs::copy(
                &path,
                dir.path().join("snapshots").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    dir
}

#[test]
fn list_shows_the_catalog_and_what_runs_here() {
    let out = hil(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let f01 = stdout
        .lines()
        .find(|l| l.starts_with("F01-ring-low-battery"))
        .expect("F01 listed");
    assert!(
        f01.contains("F01")
            && f01.contains("Ring battery low during pairing")
            && f01.ends_with("yes"),
        "{f01}"
    );
}

#[test]
fn run_writes_reports_and_prints_rig_and_wall_time() {
    let reports = tempfile::tempdir().unwrap();
    let out = hil(&["run", "--report-dir", &reports.path().display().to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));

    let latest = reports.path().join("latest");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["schema_version"], 2);
    let f01 = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "F01-ring-low-battery")
        .expect("F01 in results");
    assert_eq!(f01["outcome"], "PASS");
    // F01 spans minutes of rig time in far less wall time.
    assert!(f01["rig_secs"].as_f64().unwrap() >= 120.0, "{f01}");
    assert!(
        f01["rerun"]
            .as_str()
            .unwrap()
            .starts_with("hil run scenarios/F01-ring-low-battery.toml")
    );

    let junit = std::fs::read_to_string(latest.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testcase name="F01-ring-low-battery" classname="virtual""#),
        "{junit}"
    );
    let events = std::fs::read_to_string(latest.join("events.jsonl")).unwrap();
    assert!(
        events
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(events.contains(r#""event":"run_finished""#));

    assert!(stdout.contains("PASS    F01-ring-low-battery"), "{stdout}");
    assert!(
        stdout.contains("rig time in") && stdout.contains("s wall ("),
        "{stdout}"
    );
}

#[test]
fn a_firmware_that_recovers_badly_fails_with_a_diff() {
    let catalog = catalog_copy();
    let reports = tempfile::tempdir().unwrap();
    let scenario = catalog.path().join("F01-ring-low-battery.toml");
    let out = hil(&[
        "run",
        &scenario.display().to_string(),
        "--profile",
        "ring=fixtures/profiles/mutants/ring-bootloop.toml",
        "--report-dir",
        &reports.path().display().to_string(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL    F01-ring-low-battery"), "{stdout}");
    assert!(
        stdout.contains("-    low_battery") && stdout.contains("+      pairing_resumed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("--profile ring=fixtures/profiles/mutants/ring-bootloop.toml"),
        "the re-run command keeps the firmware under test: {stdout}"
    );
    // The trace is offered for review, not accepted.
    assert!(
        catalog
            .path()
            .join("snapshots/F01-ring-low-battery.snap.new")
            .exists()
    );
    let junit = std::fs::read_to_string(reports.path().join("latest/junit.xml")).unwrap();
    assert!(
        junit.contains("<failure message=\"recovery differs from the reviewed snapshot"),
        "{junit}"
    );
}

#[test]
fn accept_blesses_a_new_snapshot_and_the_next_run_passes() {
    let catalog = catalog_copy();
    let reports = tempfile::tempdir().unwrap();
    let snapshot = catalog.path().join("snapshots/F01-ring-low-battery.snap");
    std::fs::remove_file(&snapshot).unwrap();
    let scenario = catalog
        .path()
        .join("F01-ring-low-battery.toml")
        .display()
        .to_string();
    let report_dir = reports.path().display().to_string();

    let out = hil(&["run", &scenario, "--report-dir", &report_dir]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "no reviewed snapshot yet is a failure"
    );
    assert!(text(&out.stdout).contains("run with --accept"));

    let out = hil(&["run", &scenario, "--accept", "--report-dir", &report_dir]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(
        std::fs::read_to_string(&snapshot).unwrap(),
        std::fs::read_to_string(repo().join("scenarios/snapshots/F01-ring-low-battery.snap"))
            .unwrap()
            .replace(
                "source: scenarios/",
                &format!("source: {}/", catalog.path().display())
            ),
        "the accepted snapshot is the reviewed one"
    );
    assert!(
        !catalog
            .path()
            .join("snapshots/F01-ring-low-battery.snap.new")
            .exists()
    );

    let out = hil(&["run", &scenario, "--report-dir", &report_dir]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn bad_files_exit_2_with_file_line_col_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let f01 = std::fs::read_to_string(repo().join("scenarios/F01-ring-low-battery.toml")).unwrap();
    std::fs::write(&bad, f01.replace("volts = 4.20", "volts = 4.5")).unwrap();
    let reports = dir.path().join("reports");

    for args in [
        vec!["validate", bad.to_str().unwrap()],
        vec![
            "run",
            bad.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
    ] {
        let out = hil(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "{}:31:36: volts = 4.5 is outside 0..=4.25",
                bad.display()
            )),
            "{stderr}"
        );
    }
    assert!(!reports.exists(), "nothing ran, nothing was written");
}

#[test]
fn usage_errors_exit_2() {
    let out = hil(&["run", "F77-nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no scenario file or id matches `F77-nope`"));

    let out = hil(&["run", "--profile", "toaster=x.toml", "F01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--profile names device `toaster`"));

    let out = hil(&["run", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn validate_accepts_the_catalog() {
    let out = hil(&["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid against rig `virtual`"));
}

#[test]
fn a_second_run_on_the_same_rig_is_refused_naming_the_holder() {
    let locks = tempfile::tempdir().unwrap();
    let held = hil_runner::lock::RigLock::acquire(locks.path(), "virtual").unwrap();
    let out = hil_locked_in(&["run", "F01"], locks.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "rig `virtual` is in use by pid {}",
            std::process::id()
        )),
        "{stderr}"
    );
    drop(held);
}

#[test]
fn a_run_that_died_holding_the_rig_gets_its_safe_state_restored_first() {
    let locks = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let dead =
        r#"{ "pid": 999999, "host": "bench-7", "since": "2026-11-24T03:00:00Z", "clean": false }"#;
    std::fs::write(locks.path().join("virtual.lock"), dead).unwrap();
    let out = hil_locked_in(
        &[
            "run",
            "F01",
            "--report-dir",
            &reports.path().display().to_string(),
        ],
        locks.path(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr
            .contains("(pid 999999 on bench-7, since 2026-11-24T03:00:00Z) did not finish cleanly"),
        "{stderr}"
    );
    assert!(
        stderr.contains("psu: safe state: ch1 off (reads 0.000 V 0.000 A off)"),
        "{stderr}"
    );
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(locks.path().join("virtual.lock")).unwrap())
            .unwrap();
    assert_eq!(after["clean"], true, "this run finished cleanly");
}

#[test]
fn a_quarantined_failure_is_reported_apart_and_does_not_fail_the_run() {
    let catalog = catalog_copy();
    let reports = tempfile::tempdir().unwrap();
    // A stale snapshot makes F01 fail.
    let snapshot = catalog.path().join("snapshots/F01-ring-low-battery.snap");
    let stale = std::fs::read_to_string(&snapshot)
        .unwrap()
        .replace("charger_wake", "power_button");
    std::fs::write(&snapshot, stale).unwrap();
    let quarantine = catalog.path().join("quarantine.toml");
    std::fs::write(
        &quarantine,
        "[[quarantine]]\nid = \"F01-ring-low-battery\"\nuntil = \"2999-12-31\"\nreason = \"HIL-42 charger wake flaky on bench-b\"\n",
    )
    .unwrap();
    let run = |quarantine: &std::path::Path| {
        hil(&[
            "run",
            &catalog
                .path()
                .join("F01-ring-low-battery.toml")
                .display()
                .to_string(),
            "--quarantine",
            &quarantine.display().to_string(),
            "--report-dir",
            &reports.path().display().to_string(),
        ])
    };
    let out = run(&quarantine);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("FAIL    F01-ring-low-battery"), "{stdout}");
    assert!(
        stdout.contains("quarantined until 2999-12-31: HIL-42"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 failed") && stdout.contains("1 quarantined"),
        "{stdout}"
    );

    // Once it expires, the same failure fails the run again.
    std::fs::write(
        &quarantine,
        "[[quarantine]]\nid = \"F01-ring-low-battery\"\nuntil = \"2020-01-01\"\nreason = \"old\"\n",
    )
    .unwrap();
    let out = run(&quarantine);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("quarantine expired, counting again: F01-ring-low-battery"));
}
