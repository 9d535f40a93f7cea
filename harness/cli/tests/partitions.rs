//! `hil run --partition K/N` and `hil report merge`: a split catalog merged back together is the
//! whole run; a missing or doubled partition is caught.

mod common;

use common::{comparable, copy_scenario, hil, json, repo, run, text};

/// The catalog plus copies of each scenario under new ids, so a split has something to split.
fn partition_catalog() -> (tempfile::TempDir, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let id = path.file_stem().unwrap().to_str().unwrap().to_string();
        copy_scenario(dir.path(), &id, &id, |s| s);
        for copy in 1..=6 {
            copy_scenario(dir.path(), &id, &format!("{id}-copy{copy}"), |s| s);
        }
        count += 7;
    }
    (dir, count)
}

#[test]
fn partitions_merged_equal_the_whole_run() {
    let (catalog, count) = partition_catalog();
    let catalog_arg = catalog.path().to_str().unwrap();
    let reports = tempfile::tempdir().unwrap();

    let (_, stdout, whole) = run(&[catalog_arg], &reports.path().join("whole"));
    let whole = json(&whole.join("results.json"));
    assert_eq!(
        whole["scenarios"].as_array().unwrap().len(),
        count,
        "{stdout}"
    );

    let mut parts = Vec::new();
    let mut sizes = Vec::new();
    for k in 1..=3 {
        let (_, _, dir) = run(
            &[catalog_arg, "--partition", &format!("{k}/3")],
            &reports.path().join(format!("part{k}")),
        );
        let results = json(&dir.join("results.json"));
        assert_eq!(results["runs"][0]["partition"]["index"], k);
        assert_eq!(
            results["runs"][0]["partition"]["of"]
                .as_array()
                .unwrap()
                .len(),
            count
        );
        sizes.push(results["scenarios"].as_array().unwrap().len());
        parts.push(dir.to_str().unwrap().to_string());
    }
    assert_eq!(
        sizes.iter().sum::<usize>(),
        count,
        "each scenario in one partition: {sizes:?}"
    );
    assert!(
        sizes.iter().filter(|&&n| n > 0).count() >= 2,
        "a real split: {sizes:?}"
    );

    let merged_dir = reports.path().join("merged");
    let mut args = vec!["report", "merge"];
    args.extend(parts.iter().rev().map(String::as_str));
    args.extend(["--out", merged_dir.to_str().unwrap()]);
    let out = hil(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let merged = json(&merged_dir.join("results.json"));
    assert_eq!(comparable(&merged), comparable(&whole));
    assert_eq!(merged["runs"].as_array().unwrap().len(), 3);
    assert_eq!(merged["missing"], serde_json::json!([]));
    for file in ["junit.xml", "report.html", "summary.md", "events.jsonl"] {
        assert!(merged_dir.join(file).exists(), "{file}");
    }
    let junit = std::fs::read_to_string(merged_dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), count);

    // A partition that never reported is named, with what it would have run.
    let partial = reports.path().join("partial");
    let out = hil(&[
        "report",
        "merge",
        &parts[0],
        &parts[2],
        "--out",
        partial.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "incomplete is not a pass");
    assert!(
        text(&out.stderr).contains("partition 2/3 of rig `virtual` is missing"),
        "{}",
        text(&out.stderr)
    );
    let partial = json(&partial.join("results.json"));
    assert_eq!(
        partial["missing"][0]["partition"],
        serde_json::json!({"index": 2, "count": 3})
    );
    assert_eq!(
        partial["missing"][0]["scenarios"].as_array().unwrap().len(),
        sizes[1]
    );

    // The same scenario on the same rig twice is refused.
    let out = hil(&[
        "report",
        "merge",
        &parts[0],
        &parts[0],
        "--out",
        reports.path().join("dup").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is in both"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bad_partition_is_a_usage_error() {
    for bad in ["0/3", "4/3", "x"] {
        let out = hil(&["run", "--partition", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            text(&out.stderr).contains("expected K/N"),
            "{}",
            text(&out.stderr)
        );
    }
}
