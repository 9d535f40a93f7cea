//! `hil run --resume` after a crash: the journal (`events.jsonl`, synced per finished scenario)
//! keeps what finished, and the resumed run's reports equal an uninterrupted run's.

mod common;

use common::{comparable, json, run};

/// Leaves `events.jsonl` as a SIGKILL after `finished` scenarios would: those scenarios, then the
/// next one cut short half-way through a line. The reports of the end of the run are not there.
fn crash_after(run_dir: &std::path::Path, finished: usize) {
    let journal = std::fs::read_to_string(run_dir.join("events.jsonl")).unwrap();
    let mut cut = 0;
    let mut seen = 0;
    for line in journal.split_inclusive('\n') {
        cut += line.len();
        if line.contains(r#""event":"scenario_finished""#) {
            seen += 1;
            if seen == finished {
                break;
            }
        }
    }
    let rest = &journal[cut..];
    let torn = rest.lines().take(5).collect::<Vec<_>>().join("\n");
    let torn = &torn[..torn.len() - 7];
    std::fs::write(
        run_dir.join("events.jsonl"),
        format!("{}{torn}", &journal[..cut]),
    )
    .unwrap();
    for report in ["results.json", "junit.xml", "report.html", "summary.md"] {
        std::fs::remove_file(run_dir.join(report)).unwrap();
    }
}

#[test]
fn a_resumed_run_reports_what_an_uninterrupted_one_does() {
    let whole = tempfile::tempdir().unwrap();
    let (code, _, whole_dir) = run(&[], whole.path());
    assert_eq!(code, Some(0));

    let crashed = tempfile::tempdir().unwrap();
    let (_, _, crashed_dir) = run(&[], crashed.path());
    crash_after(&crashed_dir, 9);

    let (code, stdout, resumed_dir) = run(&["--resume"], crashed.path());
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("9 scenario(s) done"), "{stdout}");
    assert_eq!(
        std::fs::canonicalize(&resumed_dir).unwrap(),
        std::fs::canonicalize(&crashed_dir).unwrap(),
        "the same run, carried on"
    );

    let whole = json(&whole_dir.join("results.json"));
    let resumed = json(&resumed_dir.join("results.json"));
    assert_eq!(
        comparable(&resumed),
        comparable(&whole),
        "nothing lost, nothing twice"
    );

    // The journal reads back whole: every scenario finished exactly once.
    let journal = std::fs::read_to_string(resumed_dir.join("events.jsonl")).unwrap();
    let finished = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("no torn line left"))
        .filter(|e| e["event"] == "scenario_finished")
        .count();
    assert_eq!(finished, whole["scenarios"].as_array().unwrap().len());
}

#[test]
fn a_finished_run_has_nothing_to_resume() {
    let reports = tempfile::tempdir().unwrap();
    let (code, _, _) = run(&["F01"], reports.path());
    assert_eq!(code, Some(0));
    let out = common::hil(&[
        "run",
        "F01",
        "--resume",
        "--report-dir",
        &reports.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out.stderr).contains("nothing to resume"));
}
