//! `summary.md`: a short Markdown digest for `$GITHUB_STEP_SUMMARY` or a chat message. What
//! regressed comes first, with its reason, its bundle and the command that re-runs it.

use std::fmt::Write;
use std::time::Duration;

use hil_runner::{Outcome, ScenarioResult};

use crate::record::RunRecord;
use crate::text::{clock, firmware_versions};

pub fn render(record: &RunRecord) -> String {
    let mut md = String::new();
    let totals = &record.summary.totals;
    let regressions = totals.fail + totals.error + totals.timeout;
    let verdict = if regressions == 0 && record.missing.is_empty() {
        "✅ all passed"
    } else {
        "❌ regressions"
    };
    let _ = writeln!(
        md,
        "## hil: {verdict} — {} passed, {} failed, {} errors, {} timed out, {} skipped\n",
        totals.pass, totals.fail, totals.error, totals.timeout, totals.skipped
    );
    let rigs: Vec<String> = record
        .runs
        .iter()
        .map(|run| match &run.partition {
            Some(p) => format!("`{}` (partition {})", escape(&run.rig), p.partition),
            None => format!("`{}`", escape(&run.rig)),
        })
        .collect();
    let _ = writeln!(
        md,
        "Run `{}` on {} · hil {} · {} of rig time · [report.html](report.html)\n",
        escape(&record.run_id),
        rigs.join(", "),
        crate::HIL_VERSION,
        clock(Duration::from_secs_f64(record.summary.rig_secs)),
    );
    for missing in &record.missing {
        let _ = writeln!(
            md,
            "> **Missing:** partition {} of rig `{}` did not report; not run: {}\n",
            missing.partition,
            escape(&missing.rig),
            list(&missing.scenarios)
        );
    }

    let ordered = record.regressions_first();
    let (bad, good) = ordered.split_at(regressions);
    if !bad.is_empty() {
        md.push_str("### Regressions\n\n| outcome | scenario | rig | firmware | first reason | bundle |\n|---|---|---|---|---|---|\n");
        for scenario in bad {
            let r = &scenario.result;
            let bundle = record
                .bundle_path(r)
                .map(|p| format!("[{}]({})", escape(&r.id), p.display()))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| **{}** | {} | {} | {} | {} | {bundle} |",
                r.outcome,
                title(r),
                escape(&r.rig),
                escape(&firmware_versions(r)),
                escape(r.message.as_deref().unwrap_or("")),
            );
        }
        md.push_str("\nRe-run one locally:\n\n```sh\n");
        for scenario in bad {
            // A fenced block shows text as is; only a fence of its own could end it early.
            let _ = writeln!(md, "{}", scenario.result.rerun.replace("```", "'''"));
        }
        md.push_str("```\n\n");
    }
    if !good.is_empty() {
        let skipped = good
            .iter()
            .filter(|s| s.result.outcome == Outcome::Skipped)
            .count();
        let _ = writeln!(
            md,
            "<details><summary>{} passed, {skipped} skipped</summary>\n\n| outcome | scenario | rig | rig time | note |\n|---|---|---|---|---|",
            good.len() - skipped
        );
        for scenario in good {
            let r = &scenario.result;
            let note = match r.outcome {
                Outcome::Skipped | Outcome::Incompatible | Outcome::Aborted => {
                    r.message.clone().unwrap_or_default()
                }
                Outcome::Pass | Outcome::Fail | Outcome::Error | Outcome::Timeout => {
                    r.warnings.join("; ")
                }
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                r.outcome,
                title(r),
                escape(&r.rig),
                clock(Duration::from_secs_f64(r.rig_secs)),
                escape(&note)
            );
        }
        md.push_str("\n</details>\n");
    }
    md
}

fn title(r: &ScenarioResult) -> String {
    format!("`{}` {}", r.id.replace('`', "'"), escape(&r.title))
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        return "nothing".into();
    }
    ids.iter()
        .map(|id| format!("`{}`", id.replace('`', "'")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text shown as text: Markdown and HTML characters escaped, kept on one line (a table cell).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_text_cannot_break_out_of_its_cell() {
        assert_eq!(
            escape("a|b <img src=x> [l](u) `c`\nnext"),
            r"a\|b &lt;img src=x&gt; \[l\](u) \`c\` next"
        );
    }
}
