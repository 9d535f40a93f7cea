//! `report.html`: one self-contained page (inline CSS, JS and SVG; nothing fetched) to read in
//! the morning: a summary table, then per scenario its timeline, measurements, snapshot diff,
//! event table and device log. Device text is untrusted: maud escapes every `(…)` splice, and
//! nothing device-made is ever spliced with `PreEscaped`.

mod timeline;

use std::time::Duration;

use hil_runner::{Outcome, ScenarioResult, SnapshotStatus, Verdict};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::record::{RunRecord, ScenarioRecord};
use crate::text::{clock, firmware_versions};

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

pub fn render(record: &RunRecord) -> String {
    let totals = &record.summary.totals;
    let ordered = record.regressions_first();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "hil " (record.run_id) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "hil run " code { (record.run_id) } }
                    p.totals {
                        span.outcome-pass { (totals.pass) " passed" } " · "
                        span.outcome-fail { (totals.fail) " failed" } " · "
                        span.outcome-error { (totals.error) " errors" } " · "
                        span.outcome-timeout { (totals.timeout) " timed out" } " · "
                        span.outcome-skipped { (totals.skipped) " skipped" } " · "
                        (clock(Duration::from_secs_f64(record.summary.rig_secs))) " of rig time · hil " (crate::HIL_VERSION)
                    }
                    ul.runs {
                        @for run in &record.runs {
                            li {
                                "rig " code { (run.rig) } " (" (run.rig_path.display()) "), run " code { (run.run_id) }
                                ", seed " (run.seed)
                                @if let Some(p) = &run.partition { ", partition " (p.partition) " of " (p.of.len()) " scenarios" }
                            }
                        }
                    }
                    @for missing in &record.missing {
                        p.missing { "Missing: partition " (missing.partition) " of rig " code { (missing.rig) }
                            " did not report; not run: " (missing.scenarios.join(", ")) }
                    }
                    label.filter { input #only-regressions type="checkbox"; " only regressions" }
                }
                (summary_table(record, &ordered))
                @for (index, scenario) in ordered.iter().enumerate() {
                    (section(record, index, scenario))
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

fn summary_table(record: &RunRecord, ordered: &[&ScenarioRecord]) -> Markup {
    html! {
        table.summary {
            thead { tr { th { "outcome" } th { "scenario" } th { "rig" } th { "firmware" } th { "rig time" } th { "wall" } th { "first reason" } th { "bundle" } } }
            tbody {
                @for (index, scenario) in ordered.iter().enumerate() {
                    @let r = &scenario.result;
                    tr data-outcome=(r.outcome.label()) {
                        td { (badge(r.outcome)) }
                        td { a href={"#scenario-" (index)} { (r.id) } br; small { (r.title) } }
                        td { (r.rig) }
                        td { (firmware_versions(r)) }
                        td.num { (clock(Duration::from_secs_f64(r.rig_secs))) }
                        td.num { (format!("{:.3}s", r.wall_secs)) }
                        td.reason { (r.message.as_deref().unwrap_or("")) }
                        td { @if let Some(path) = record.bundle_path(r) { a href=(path.display()) { "tar.gz" } } }
                    }
                }
            }
        }
    }
}

fn section(record: &RunRecord, index: usize, scenario: &ScenarioRecord) -> Markup {
    let r = &scenario.result;
    let marks = timeline::marks(&scenario.events);
    html! {
        section.scenario id={"scenario-" (index)} data-outcome=(r.outcome.label()) {
            h2 { (badge(r.outcome)) " " (r.id) " " small { (r.title) } }
            @if let Some(message) = &r.message { p.reason { (message) } }
            @for warning in &r.warnings { p.warning { "warning: " (warning) } }
            dl.facts {
                dt { "failure" } dd { (r.failure) }
                dt { "rig" } dd { (r.rig) }
                dt { "firmware" } dd {
                    @for (device, fw) in &r.firmware { span.fw { (device) ": " (fw.profile) " " (fw.version) } " " }
                }
                dt { "time" } dd { (clock(Duration::from_secs_f64(r.rig_secs))) " rig, " (format!("{:.3}", r.wall_secs)) " s wall, seed " (r.seed) }
                dt { "re-run" } dd { code { (r.rerun) } }
                @if let Some(path) = record.bundle_path(r) { dt { "bundle" } dd { a href=(path.display()) { (path.display()) } } }
            }
            @if marks.is_empty() {
                p.empty { "No events recorded for this scenario." }
            } @else {
                (timeline::render(index, r, &marks))
            }
            (measurements(r))
            (snapshot(&r.snapshot))
            @if !marks.is_empty() {
                details.events {
                    summary { "Events (" (marks.len()) ")" }
                    table {
                        thead { tr { th { "rig time" } th { "lane" } th { "what" } th { "" } } }
                        tbody {
                            @for mark in &marks {
                                tr id={"event-" (index) "-" (mark.seq)} class=(mark.kind) {
                                    td.num { (format!("{:.3}", mark.at)) }
                                    td { (mark.lane) }
                                    td { (mark.kind) }
                                    td.text { (mark.text) }
                                }
                            }
                        }
                    }
                }
            }
            @if !r.log.is_empty() {
                details.log {
                    summary { "Device log (" (r.log.lines().count()) " lines)" }
                    pre { (r.log) }
                }
            }
        }
    }
}

fn measurements(r: &ScenarioResult) -> Markup {
    html! {
        @if !r.measurements.is_empty() {
            table.measurements {
                thead { tr { th { "measurement" } th { "value" } th { "min" } th { "warn" } th { "max" } th { "verdict" } } }
                tbody {
                    @for m in &r.measurements {
                        @let unit = m.unit.symbol();
                        tr class={"verdict-" (format!("{:?}", m.verdict).to_lowercase())} {
                            td { (m.name) }
                            td.num { (format!("{:.3}{unit}", m.value)) }
                            td.num { @if let Some(v) = m.min { (v) (unit) } }
                            td.num { @if let Some(v) = m.warn { (v) (unit) } }
                            td.num { @if let Some(v) = m.max { (v) (unit) } }
                            td { (verdict(m.verdict)) }
                        }
                    }
                }
            }
        }
    }
}

fn snapshot(status: &SnapshotStatus) -> Markup {
    html! {
        @match status {
            SnapshotStatus::Matched => p.snapshot { "Recovery matches the reviewed snapshot." },
            SnapshotStatus::Accepted => p.snapshot { "Recovery accepted as the new reviewed snapshot." },
            SnapshotStatus::NotChecked => p.snapshot { "Recovery snapshot not checked." },
            SnapshotStatus::Missing { trace } => {
                p.snapshot { "No reviewed snapshot yet; this run's recovery trace:" }
                pre.trace { (trace) }
            },
            SnapshotStatus::Mismatch { diff } => {
                p.snapshot { "Recovery differs from the reviewed snapshot:" }
                pre.diff {
                    @for line in diff.lines() {
                        span class=(diff_class(line)) { (line) } "\n"
                    }
                }
            },
        }
    }
}

fn diff_class(line: &str) -> &'static str {
    if line.starts_with("+++") || line.starts_with("---") {
        "file"
    } else if line.starts_with('+') {
        "add"
    } else if line.starts_with('-') {
        "del"
    } else if line.starts_with("@@") {
        "hunk"
    } else {
        "same"
    }
}

fn badge(outcome: Outcome) -> Markup {
    html! { span class={"badge outcome-" (outcome.label().to_lowercase())} { (outcome.label()) } }
}

fn verdict(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Warn => "warn",
        Verdict::Fail => "FAIL",
        Verdict::Recorded => "recorded",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hil_runner::{Event, EventKind};

    use super::*;
    use crate::record::RunRecord;

    const HOSTILE: &str = r#"<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;

    #[test]
    fn device_text_is_escaped_everywhere() {
        let result: ScenarioResult = serde_json::from_value(serde_json::json!({
            "id": "F01-x", "failure": "F01", "title": HOSTILE, "path": "t.toml", "rig": "virtual",
            "firmware": {"ring": {"profile": HOSTILE, "version": HOSTILE, "path": "p.toml"}},
            "outcome": "FAIL", "message": HOSTILE, "warnings": [HOSTILE], "measurements": [],
            "snapshot": {"status": "mismatch", "diff": format!("-{HOSTILE}\n+{HOSTILE}")},
            "rig_secs": 10.0, "wall_secs": 0.1, "seed": 1, "rerun": HOSTILE, "log": HOSTILE
        }))
        .unwrap();
        let at = Duration::from_secs(1);
        let events = vec![
            Event {
                at,
                kind: EventKind::ConsoleLine {
                    device: HOSTILE.into(),
                    line: HOSTILE.into(),
                },
            },
            Event {
                at,
                kind: EventKind::DeviceEvent {
                    device: "ring".into(),
                    name: HOSTILE.into(),
                    fields: [(HOSTILE.to_string(), HOSTILE.to_string())].into(),
                    keep: vec![],
                },
            },
        ];
        let mut record = RunRecord::new("r".into());
        record.scenarios.push(ScenarioRecord { result, events });
        let page = render(&record);

        assert_eq!(
            page.matches("<script>").count(),
            1,
            "only the page's own script"
        );
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
        // The device's hostile event name reaches the timeline as text, and as a harmless class.
        assert!(page.contains(
            r#"class="mark event event--script-alert-1---script----img-src-x-onerror-alert-2--""#
        ));
    }
}
