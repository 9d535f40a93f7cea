//! Faults injected into real runs on an emulated bench (a Rigol supply on a pty, wall clock):
//! whatever stops a run, the supply ends switched off and the reports are complete.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hil_scenario::Driver;
use hil_sim::emulators::{Emulator, Fault};

use common::{bench, bench_run, json, repo, text};

/// Supply-only scenarios that hold the output on for `hold`.
fn scenarios(dir: &Path, count: usize, hold: &str) -> PathBuf {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for i in 0..count {
        std::fs::write(
            scenarios.join(format!("t{i}.toml")),
            format!(
                "id = \"T{i}\"\nfailure = \"F01\"\ntitle = \"hold\"\nneeds = [\"ring.power\"]\ntimeout = \"5m\"\n\n[[setup]]\npower = {{ device = \"ring\", volts = 3.7, amps = 0.3 }}\n[[reproduce]]\nwait = \"{hold}\"\n"
            ),
        )
        .unwrap();
    }
    scenarios
}

fn spawn(args: &[String], locks: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(args)
        .current_dir(repo())
        .env("HIL_LOCK_DIR", locks)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (generously) until the run's journal holds `needle` `times` times.
fn wait_for_journal(reports: &Path, needle: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let journal =
            std::fs::read_to_string(reports.join("latest/events.jsonl")).unwrap_or_default();
        if journal.matches(needle).count() >= times {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the run never reached {needle} ×{times}; journal so far:\n{journal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigint_mid_step_aborts_through_safe_state_with_complete_reports() {
    let emulator = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), Driver::RigolDp800, emulator.port());
    let scenarios = scenarios(dir.path(), 2, "1h");
    let reports = dir.path().join("reports");
    let child = spawn(&bench_run(&scenarios, &rig, &reports), dir.path());
    wait_for_journal(&reports, r#""action":"wait 1h""#, 1);
    assert!(
        emulator.channel(1).unwrap().on,
        "the output is on during the step"
    );
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!emulator.channel(1).unwrap().on, "safe state: off");
    let results = json(&reports.join("latest/results.json"));
    assert_eq!(
        results["summary"]["totals"]["aborted"], 2,
        "the step stopped, the rest not started"
    );
    assert_eq!(results["scenarios"][0]["message"], "stopped by SIGINT");
}

#[test]
fn sigkill_then_resume_restores_safe_state_first_and_loses_nothing() {
    let emulator = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), Driver::RigolDp800, emulator.port());
    let scenarios = scenarios(dir.path(), 3, "2s");
    let reports = dir.path().join("reports");
    let args = bench_run(&scenarios, &rig, &reports);

    // Killed in the middle of the second scenario: the output is left on.
    let child = spawn(&args, dir.path());
    wait_for_journal(&reports, r#""event":"scenario_finished""#, 1);
    wait_for_journal(&reports, r#""action":"wait 2s""#, 2);
    signal(&child, "-KILL");
    child.wait_with_output().unwrap();
    assert!(
        emulator.channel(1).unwrap().on,
        "a SIGKILL leaves the supply on"
    );

    let mut resumed_args = args.clone();
    resumed_args.push("--resume".into());
    let out = spawn(&resumed_args, dir.path()).wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}{stderr}", text(&out.stdout));
    assert!(
        stderr.contains("did not finish cleanly; restoring the safe state first"),
        "{stderr}"
    );
    assert!(
        stderr.contains("psu: safe state: ch1 off (reads 0.000 V 0.000 A off)"),
        "{stderr}"
    );
    assert!(!emulator.channel(1).unwrap().on);
    let results = json(&reports.join("latest/results.json"));
    let ids: Vec<&str> = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["T0", "T1", "T2"], "nothing lost, nothing twice");
    assert_eq!(results["summary"]["totals"]["pass"], 3);
}

/// One scenario: the output at `volts`, held 1 s, then 4.2 V.
fn one_scenario(dir: &Path, volts: f64) -> PathBuf {
    let path = dir.join("one.toml");
    std::fs::write(
        &path,
        format!(
            "id = \"T-one\"\nfailure = \"F01\"\ntitle = \"one\"\nneeds = [\"ring.power\"]\ntimeout = \"5m\"\n\n[[setup]]\npower = {{ device = \"ring\", volts = {volts}, amps = 0.3 }}\n[[reproduce]]\nwait = \"1s\"\n[[recover]]\npower = {{ device = \"ring\", volts = 4.2, amps = 0.3 }}\n"
        ),
    )
    .unwrap();
    path
}

/// Runs `scenario` on the bench to completion; returns (exit code, stdout, results.json).
fn run_on(
    rig: &Path,
    scenario: &Path,
    reports: &Path,
    locks: &Path,
) -> (Option<i32>, String, serde_json::Value) {
    let args = bench_run(scenario, rig, reports);
    let out = spawn(&args, locks).wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    let results = json(&reports.join("latest/results.json"));
    (out.status.code(), stdout, results)
}

/// Runs the one-scenario bench with `fault` injected while its `wait` step runs; returns the exit
/// code and the scenario's result.
fn run_with_fault(emulator: &Emulator, fault: Fault) -> (Option<i32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), Driver::RigolDp800, emulator.port());
    let scenario = one_scenario(dir.path(), 3.7);
    let reports = dir.path().join("reports");
    let args = bench_run(&scenario, &rig, &reports);
    let child = spawn(&args, dir.path());
    wait_for_journal(&reports, r#""action":"wait 1s""#, 1);
    emulator.inject(fault);
    let out = child.wait_with_output().unwrap();
    let results = json(&reports.join("latest/results.json"));
    (out.status.code(), results["scenarios"][0].clone())
}

#[test]
fn a_supply_that_vanishes_mid_run_is_a_rig_error_naming_its_port() {
    let emulator = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    // Unplugged while the step waits: the next command finds it gone.
    let (code, result) = run_with_fault(&emulator, Fault::Vanish);
    assert_eq!(code, Some(1));
    assert_eq!(result["outcome"], "ERROR", "{result}");
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains("psu") && message.contains(emulator.port()),
        "{message}"
    );
}

#[test]
fn a_setting_the_supply_refuses_is_a_rig_error_in_its_own_words() {
    let emulator = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The rig file allows more than the instrument can give (a misconfigured bench).
    let rig = bench(dir.path(), Driver::RigolDp800, emulator.port());
    let text_rig = std::fs::read_to_string(&rig)
        .unwrap()
        .replace("max_volts = 4.25", "max_volts = 40.0");
    std::fs::write(&rig, text_rig).unwrap();
    let scenario = one_scenario(dir.path(), 35.0);
    let (code, stdout, results) = run_on(&rig, &scenario, &dir.path().join("reports"), dir.path());
    assert_eq!(code, Some(1), "{stdout}");
    let result = &results["scenarios"][0];
    assert_eq!(result["outcome"], "ERROR", "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("Data out of range"),
        "{result}"
    );
    assert_eq!(
        result["warnings"],
        serde_json::json!([]),
        "a refusal is not retried: it would only be refused again"
    );
    assert!(!emulator.channel(1).unwrap().on, "safe state");
}

#[test]
fn a_supply_that_answers_too_late_is_a_rig_error_not_a_hang() {
    let emulator = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let (code, result) = run_with_fault(&emulator, Fault::Late(Duration::from_secs(30)));
    assert_eq!(code, Some(1));
    assert_eq!(result["outcome"], "ERROR", "{result}");
    assert!(
        result["message"].as_str().unwrap().contains("timed out"),
        "{result}"
    );
}

#[test]
fn a_transient_wire_fault_is_retried_and_only_warned_about() {
    let emulator = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    // One answer comes 3 s late (past the driver's 2 s timeout), then the line is fine again.
    let (code, result) = run_with_fault(&emulator, Fault::Late(Duration::from_secs(3)));
    assert_eq!(code, Some(0), "{result}");
    assert_eq!(result["outcome"], "PASS");
    let warning = result["warnings"][0].as_str().unwrap();
    assert!(
        warning.starts_with("retried after: psu") && warning.contains("timed out"),
        "{warning}"
    );
    assert!(!emulator.channel(1).unwrap().on, "safe state");
}
