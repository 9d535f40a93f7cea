//! The report files of real runs, read by the tools their readers use: results.json against its
//! published JSON Schema, junit.xml in Python's junitparser, report.html in headless Chromium,
//! and the support bundles unpacked.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_scenario, json, run, text};
use serde_json::Value;

const F01: &str = "F01-ring-low-battery";

/// A catalog with one scenario per outcome the virtual rig can produce: F01 as reviewed (PASS),
/// F01 against a stale snapshot (FAIL), F01 with too short a timeout (TIMEOUT), F01 needing a
/// hub the rig lacks (SKIPPED).
fn outcomes_catalog() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_scenario(dir.path(), F01, F01, |s| s);
    copy_scenario(dir.path(), F01, "F90-stale-snapshot", |s| {
        // A secret in a file that goes into the support bundle: it must come out redacted.
        format!("# bench pairing ltk=00112233445566778899aabbccddeeff\n{s}")
    });
    let stale = dir.path().join("snapshots/F90-stale-snapshot.snap");
    let snap = std::fs::read_to_string(&stale).unwrap();
    assert!(snap.contains("charger_wake"));
    std::fs::write(&stale, snap.replace("charger_wake", "power_button")).unwrap();
    copy_scenario(dir.path(), F01, "F91-short-timeout", |s| {
        s.replace("timeout = \"10m\"", "timeout = \"1m\"")
    });
    copy_scenario(dir.path(), F01, "F92-needs-a-doorbell", |s| {
        s.replace("needs = [", "needs = [\"doorbell\", ")
    });
    dir
}

struct OutcomesRun {
    _catalog: tempfile::TempDir,
    _reports: tempfile::TempDir,
    dir: PathBuf,
    stdout: String,
}

fn outcomes_run(extra: &[&str]) -> OutcomesRun {
    let catalog = outcomes_catalog();
    let reports = tempfile::tempdir().unwrap();
    let mut args = vec![catalog.path().to_str().unwrap()];
    args.extend(extra);
    let (code, stdout, dir) = run(&args, reports.path());
    assert_eq!(code, Some(1), "{stdout}");
    OutcomesRun {
        _catalog: catalog,
        _reports: reports,
        dir,
        stdout,
    }
}

#[test]
fn results_json_matches_its_published_schema() {
    let run = outcomes_run(&[]);
    let results = json(&run.dir.join("results.json"));
    let schema: Value = serde_json::from_str(hil_report::RESULTS_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&results)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    let outcomes: BTreeMap<&str, &str> = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        BTreeMap::from([
            (F01, "PASS"),
            ("F90-stale-snapshot", "FAIL"),
            ("F91-short-timeout", "TIMEOUT"),
            ("F92-needs-a-doorbell", "SKIPPED"),
        ])
    );
    // Each result names the firmware each device ran, and the rig.
    let f01 = &results["scenarios"][0];
    assert_eq!(f01["rig"], "virtual");
    assert_eq!(f01["firmware"]["ring"]["profile"], "ring-fw");
    assert!(
        f01["firmware"]["ring"]["version"]
            .as_str()
            .unwrap()
            .starts_with("2.1")
    );
    assert_eq!(results["runs"][0]["rig_path"], "rigs/virtual.toml");

    // The schema is strict: a renamed outcome or an undocumented field does not pass.
    let mut bad = results.clone();
    bad["scenarios"][0]["outcome"] = "MAYBE".into();
    assert!(!validator.is_valid(&bad));
    let mut bad = results;
    bad["scenarios"][0]["undocumented"] = 1.into();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn junit_xml_reads_back_in_junitparser() {
    let run = outcomes_run(&[]);
    let script = r#"
import json, sys
try:
    from junitparser import JUnitXml, Failure, Skipped, Error
except ImportError:
    sys.exit("junitparser is not installed: python3 -m pip install junitparser (.ci/run installs it)")
xml = JUnitXml.fromfile(sys.argv[1])
cases = {}
for suite in xml:
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        cases[case.name] = {"kinds": kinds, "message": case.result[0].message if case.result else None,
                            "classname": case.classname}
print(json.dumps({"tests": xml.tests, "failures": xml.failures, "errors": xml.errors,
                  "skipped": xml.skipped, "cases": cases}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(run.dir.join("junit.xml"))
        .output()
        .expect("python3 is needed to read junit.xml the way CI tools do (.ci/run installs it)");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        text(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["tests"], 4, "{parsed}");
    assert_eq!(
        parsed["failures"], 2,
        "FAIL and TIMEOUT are failures: {parsed}"
    );
    assert_eq!(parsed["errors"], 0, "{parsed}");
    assert_eq!(parsed["skipped"], 1, "{parsed}");
    let fail = &parsed["cases"]["F90-stale-snapshot"];
    assert_eq!(fail["kinds"], serde_json::json!(["Failure"]));
    assert_eq!(fail["classname"], "virtual");
    assert!(
        fail["message"].as_str().unwrap().starts_with(
            "recovery differs from the reviewed snapshot: -    boot reason=power_button"
        ),
        "the message is the first snapshot difference: {fail}"
    );
    assert!(
        parsed["cases"]["F91-short-timeout"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout of 1m")
    );
}

/// Chromium's rendered DOM of `page`: the page as a reader sees it, after its script ran.
fn chromium_dom(page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .expect("chromium is needed to test report.html: apt-get install chromium (.ci/run installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn report_html_shows_a_failed_scenario_on_a_timeline_in_chromium() {
    let catalog = outcomes_catalog();
    let reports = tempfile::tempdir().unwrap();
    let (code, stdout, dir) = run(
        &[
            catalog.path().join(format!("{F01}.toml")).to_str().unwrap(),
            "--profile",
            "ring=fixtures/profiles/mutants/ring-bootloop.toml",
        ],
        reports.path(),
    );
    assert_eq!(code, Some(1), "{stdout}");
    let dom = chromium_dom(&dir.join("report.html"));

    assert!(
        dom.contains(r#"data-ready="true""#),
        "the page's script ran to the end"
    );
    assert!(dom.contains(r#"<section class="scenario" id="scenario-0" data-outcome="FAIL">"#));
    assert_eq!(dom.matches(r#"<svg class="timeline""#).count(), 1);
    // One lane per device, plus steps, instruments and measurements, each with its marks.
    let lanes = lane_marks(&dom);
    for (lane, at_least) in [
        ("steps", 9),
        ("lock", 1),
        ("ring", 20),
        ("phone", 3),
        ("instruments", 3),
        ("measurements", 2),
    ] {
        let marks = lanes.get(lane).copied().unwrap_or_default();
        assert!(
            marks >= at_least,
            "lane {lane}: {marks} marks, expected {at_least}+: {lanes:?}"
        );
    }
    // The boot loop is visible as device events on the ring's lane…
    assert!(dom.contains("boot reason=brownout"));
    assert!(dom.contains("pairing_resumed"));
    // …and in the snapshot diff and the raw log.
    assert!(
        dom.contains(r#"<span class="del">-    low_battery</span>"#),
        "diff lines are marked"
    );
    assert!(dom.contains(r#"<details class="log">"#));
    // Nothing was fetched: no external URL in the page.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
}

/// Marks per lane (`data-lane="…"` groups of the timeline).
fn lane_marks(dom: &str) -> BTreeMap<String, usize> {
    dom.split(r#"<g class="lane" data-lane=""#)
        .skip(1)
        .map(|chunk| {
            let name = chunk.split('"').next().unwrap().to_string();
            let body = chunk.split("</g><g class=\"lane\"").next().unwrap();
            (name, body.matches(r#"<g class="mark "#).count())
        })
        .collect()
}

#[test]
fn summary_md_lists_regressions_first_with_links() {
    let run = outcomes_run(&[]);
    let md = std::fs::read_to_string(run.dir.join("summary.md")).unwrap();
    assert!(
        md.starts_with(
            "## hil: ❌ regressions — 1 passed, 1 failed, 0 errors, 1 timed out, 1 skipped"
        ),
        "{md}"
    );
    assert!(md.contains("[report.html](report.html)"), "{md}");
    let regressions = md.find("### Regressions").expect("a regressions section");
    let passed = md
        .find("<details><summary>1 passed, 1 skipped")
        .expect("the rest, folded");
    assert!(regressions < passed, "{md}");
    for id in ["F90-stale-snapshot", "F91-short-timeout"] {
        let link = format!("(bundles/{id}.tar.gz)");
        assert!(md[regressions..passed].contains(&link), "{link} in {md}");
        assert!(run.dir.join(format!("bundles/{id}.tar.gz")).exists());
    }
    assert!(
        md[regressions..passed].contains("hil run "),
        "re-run commands: {md}"
    );
    assert!(md[passed..].contains(F01), "{md}");
}

fn unpack(bundle: &Path) -> BTreeMap<String, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(bundle).unwrap(),
    ));
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            (name, body)
        })
        .collect()
}

#[test]
fn support_bundles_hold_what_a_firmware_engineer_needs_minus_secrets() {
    let run = outcomes_run(&[]);
    let bundles: Vec<String> = std::fs::read_dir(run.dir.join("bundles"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        bundles,
        ["F90-stale-snapshot.tar.gz", "F91-short-timeout.tar.gz"],
        "only what did not pass"
    );

    let files = unpack(&run.dir.join("bundles/F90-stale-snapshot.tar.gz"));
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    for expected in [
        "F90-stale-snapshot/manifest.json",
        "F90-stale-snapshot/events.jsonl",
        "F90-stale-snapshot/device.log",
        "F90-stale-snapshot/snapshot.diff",
        "F90-stale-snapshot/files/scenario.toml",
        "F90-stale-snapshot/files/rig.toml",
        "F90-stale-snapshot/files/profiles/ring.toml",
        "F90-stale-snapshot/files/profiles/lock.toml",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let manifest: Value = serde_json::from_str(&files["F90-stale-snapshot/manifest.json"]).unwrap();
    assert_eq!(manifest["hil_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["outcome"], "FAIL");
    assert_eq!(manifest["firmware"]["ring"]["profile"], "ring-fw");
    let steps = manifest["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 9, "every step of F01: {steps:#?}");
    assert!(
        steps
            .iter()
            .all(|s| s["outcome"] == "PASS" && s["finished_at"].is_number())
    );
    let readbacks = manifest["readbacks"].as_array().unwrap();
    assert!(readbacks.iter().any(|r| r["readback"]["output_on"] == true));
    assert!(
        readbacks
            .iter()
            .any(|r| r["action"].as_str().unwrap().starts_with("safe state"))
    );
    let events: Vec<Value> = files["F90-stale-snapshot/events.jsonl"]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "scenario_started");
    assert_eq!(events.last().unwrap()["event"], "scenario_finished");
    assert!(files["F90-stale-snapshot/device.log"].contains("ring | "));
    // The bond key in the scenario file did not leave the lab.
    let scenario = &files["F90-stale-snapshot/files/scenario.toml"];
    assert!(scenario.contains("ltk=[REDACTED]"), "{scenario}");
    assert!(
        !files
            .values()
            .any(|f| f.contains("00112233445566778899aabbccddeeff"))
    );
}

#[test]
fn quiet_prints_only_what_did_not_pass_and_logs_get_progress_lines() {
    let quiet = outcomes_run(&["--quiet"]);
    assert!(
        !quiet.stdout.contains(&format!("PASS    {F01}")),
        "{}",
        quiet.stdout
    );
    assert!(!quiet.stdout.contains("hil: [1/4]"), "{}", quiet.stdout);
    assert!(
        quiet.stdout.contains("FAIL    F90-stale-snapshot"),
        "{}",
        quiet.stdout
    );
    assert!(quiet.stdout.contains(
        "hil: 1 passed, 1 failed, 0 errors, 1 timed out, 0 incompatible, 0 aborted, 1 skipped"
    ));

    let normal = outcomes_run(&[]);
    // Not a terminal: plain progress lines, one per scenario, before its result.
    let progress = normal
        .stdout
        .find(&format!("hil: [1/4] {F01} …"))
        .expect(&normal.stdout);
    let result = normal
        .stdout
        .find(&format!("PASS    {F01}"))
        .expect(&normal.stdout);
    assert!(progress < result, "{}", normal.stdout);
    // A skipped scenario never starts, but counts.
    assert!(
        normal.stdout.contains("hil: [3/4] F91-short-timeout …"),
        "{}",
        normal.stdout
    );
    assert!(!normal.stdout.contains("[4/4]"), "{}", normal.stdout);
}

/// A debug build prints its bond keys; none may reach the terminal, a report file or a bundle.
#[test]
fn bond_keys_in_device_logs_never_reach_any_output() {
    let reports = tempfile::tempdir().unwrap();
    // F01 bonds (the key is printed) and, with the debug build's other version, fails its
    // snapshot, so a support bundle is written too.
    let (code, stdout, run_dir) = run(
        &[
            F01,
            "-v",
            "--profile",
            "ring=fixtures/profiles/ring-fw-2.1-debug.toml",
        ],
        reports.path(),
    );
    assert_eq!(code, Some(1), "{stdout}");
    let key = regex::Regex::new(r"(?i)ltk\s*(0x)?[0-9a-f]{8,}").unwrap();
    let mut outputs = vec![("stdout".to_string(), stdout)];
    for entry in walk(&run_dir) {
        if entry.extension().is_some_and(|e| e == "gz") {
            outputs.extend(unpack(&entry));
        } else {
            outputs.push((
                entry.display().to_string(),
                std::fs::read_to_string(&entry).unwrap(),
            ));
        }
    }
    assert!(
        outputs
            .iter()
            .any(|(name, body)| name.ends_with("events.jsonl") && body.contains("LTK <redacted>")),
        "the device did print a key, and it was redacted"
    );
    assert!(
        outputs.iter().any(|(name, _)| name.ends_with("device.log")),
        "a bundle was checked"
    );
    for (name, body) in &outputs {
        assert!(!key.is_match(body), "a bond key leaked into {name}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
