//! What the CLI tests share: running the `hil` binary (each run with its own rig locks), and
//! scenario catalogs made from `scenarios/` in temp dirs.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `hil` from the repository root. Each call gets its own rig-lock directory: tests run in
/// parallel, and real runs on one rig must not.
pub fn hil(args: &[impl AsRef<OsStr>]) -> Output {
    let locks = tempfile::tempdir().unwrap();
    hil_locked_in(args, locks.path())
}

/// Runs `hil` with its rig locks in `locks`.
pub fn hil_locked_in(args: &[impl AsRef<OsStr>], locks: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(args)
        .current_dir(repo())
        .env("HIL_LOCK_DIR", locks)
        .output()
        .expect("hil runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `scenarios/<id>` copied to `dir` under a new id, with its reviewed snapshot.
pub fn copy_scenario(dir: &Path, id: &str, new_id: &str, edit: impl Fn(String) -> String) {
    let scenario = std::fs::read_to_string(repo().join(format!("scenarios/{id}.toml"))).unwrap();
    let scenario = scenario.replacen(&format!("id = \"{id}\""), &format!("id = \"{new_id}\""), 1);
    // `[profiles]` paths are relative to the scenario file; the copy lives elsewhere.
    let scenario = scenario.replace(
        "\"../fixtures/",
        &format!("\"{}/fixtures/", repo().display()),
    );
    std::fs::write(dir.join(format!("{new_id}.toml")), edit(scenario)).unwrap();
    let snapshot = repo().join(format!("scenarios/snapshots/{id}.snap"));
    std::fs::create_dir_all(dir.join("snapshots")).unwrap();
    std::fs::copy(snapshot, dir.join(format!("snapshots/{new_id}.snap"))).unwrap();
}

/// Runs `hil run` with `args` into a fresh report dir; returns (exit code, stdout, run dir).
pub fn run(args: &[&str], reports: &Path) -> (Option<i32>, String, PathBuf) {
    let mut all = vec!["run", "--report-dir", reports.to_str().unwrap()];
    all.extend(args);
    let out = hil(&all);
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    (out.status.code(), text(&out.stdout), reports.join("latest"))
}

pub fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// results.json without what legitimately differs between runs: wall times and run ids.
pub fn comparable(results: &Value) -> Value {
    let mut scenarios = results["scenarios"].clone();
    for s in scenarios.as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("wall_secs");
    }
    serde_json::json!({
        "scenarios": scenarios,
        "totals": results["summary"]["totals"],
        "rig_secs": results["summary"]["rig_secs"],
    })
}

/// A bench rig: the ring fed by `driver` on `port`, channel 1.
pub fn bench(dir: &Path, driver: hil_scenario::Driver, port: &str) -> PathBuf {
    let profiles = repo().join("fixtures/profiles");
    let rig = format!(
        r#"name = "bench-{pid}"

[instrument.psu]
driver = "{driver}"
port = "{port}"

[device.ring]
profile = "{profiles}/ring-fw-2.1.toml"
power = {{ instrument = "psu", channel = 1, max_volts = 4.25, max_amps = 0.5 }}
"#,
        pid = std::process::id(),
        driver = driver.name(),
        profiles = profiles.display()
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, rig).unwrap();
    path
}

/// `hil run SCENARIO --rig RIG --accept --report-dir REPORTS`: a run on a test bench.
pub fn bench_run(scenario: &Path, rig: &Path, reports: &Path) -> Vec<String> {
    [
        "run",
        &scenario.display().to_string(),
        "--rig",
        &rig.display().to_string(),
        "--accept",
        "--report-dir",
        &reports.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// A verbose bench run to completion: the exit code, and stdout and stderr together.
pub fn run_bench_verbose(scenario: &Path, rig: &Path, reports: &Path) -> (Option<i32>, String) {
    let mut args = bench_run(scenario, rig, reports);
    args.push("-v".into());
    let out = hil(&args);
    let output = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.code(), output)
}

/// A bench run on a rig whose hardware at `port` is missing: `hil run` checks the rig first and
/// refuses to start, naming the port (exit 2, no report). Then the same run with
/// `--no-rig-check`: the exit code and output, where the missing part makes its scenario ERROR.
pub fn refused_then_run_unchecked(mut args: Vec<String>, port: &str) -> (Option<i32>, String) {
    let out = hil(&args);
    let output = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{output}");
    assert!(
        output
            .lines()
            .any(|l| l.starts_with("ERROR") && l.contains(port)),
        "{output}"
    );
    assert!(output.contains("is not ready"), "{output}");
    assert!(!output.contains("hil: run "), "nothing was run: {output}");

    args.push("--no-rig-check".into());
    let out = hil(&args);
    let output = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.code(), output)
}
