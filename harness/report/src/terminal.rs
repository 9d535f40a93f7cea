//! The terminal: one line per scenario, the reason and diff of anything that did not pass, and a
//! summary with rig time against wall time.

use std::io::Write;
use std::time::Duration;

use hil_runner::{Event, EventKind, Outcome, Reporter, SnapshotStatus, Verdict};

use crate::text::clock;

pub struct Terminal {
    out: Box<dyn Write + Send>,
    verbose: bool,
    quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Only what did not pass, and the totals.
    Quiet,
    /// A line per scenario, the details of what did not pass, the totals.
    Normal,
    /// Also steps, instrument actions and device events as they happen.
    Verbose,
}

impl Terminal {
    pub fn new(out: Box<dyn Write + Send>, verbosity: Verbosity) -> Self {
        Self {
            out,
            verbose: verbosity == Verbosity::Verbose,
            quiet: verbosity == Verbosity::Quiet,
        }
    }

    fn print(&mut self, event: &Event) -> std::io::Result<()> {
        let out = &mut self.out;
        match &event.kind {
            EventKind::RunStarted { .. } if self.quiet => Ok(()),
            EventKind::ScenarioFinished(result) if self.quiet && result.outcome.is_success() => {
                Ok(())
            }
            EventKind::RunStarted {
                run_id,
                rig,
                scenarios,
                seed,
                rig_path: _,
            } => writeln!(
                out,
                "hil: run {run_id}: {scenarios} scenario(s) on rig `{rig}` (seed {seed})"
            ),
            EventKind::ScenarioStarted { id, .. } if self.verbose => writeln!(out, "  ▶ {id}"),
            EventKind::StepStarted {
                phase,
                index,
                action,
                ..
            } if self.verbose => writeln!(out, "    {} {phase} {index}: {action}", clock(event.at)),
            EventKind::InstrumentAction {
                instrument,
                action,
                readback,
            } if self.verbose => writeln!(
                out,
                "    {}   {instrument}: {action} → reads {readback}",
                clock(event.at)
            ),
            EventKind::DeviceEvent {
                device,
                name,
                fields,
                ..
            } if self.verbose => {
                let fields: String = fields.iter().map(|(k, v)| format!(" {k}={v}")).collect();
                writeln!(out, "    {}   {device}: {name}{fields}", clock(event.at))
            }
            EventKind::ScenarioFinished(result) => {
                write!(
                    out,
                    "  {:<7} {}  {}",
                    result.outcome.label(),
                    result.id,
                    result.title
                )?;
                if !matches!(result.outcome, Outcome::Skipped | Outcome::Incompatible) {
                    write!(
                        out,
                        "  [{} rig time in {:.3}s]",
                        clock(Duration::from_secs_f64(result.rig_secs)),
                        result.wall_secs
                    )?;
                }
                writeln!(out)?;
                if let Some(message) = &result.message {
                    writeln!(out, "          {message}")?;
                }
                if let Some(note) = &result.quarantined {
                    writeln!(out, "          quarantined {note}")?;
                }
                for m in &result.measurements {
                    let mark = match m.verdict {
                        Verdict::Fail => "✗",
                        Verdict::Warn => "!",
                        Verdict::Pass | Verdict::Recorded => "·",
                    };
                    writeln!(out, "          {mark} {m}")?;
                }
                for warning in &result.warnings {
                    writeln!(out, "          warning: {warning}")?;
                }
                match &result.snapshot {
                    SnapshotStatus::Mismatch { diff } => {
                        for line in diff.lines() {
                            writeln!(out, "          {line}")?;
                        }
                    }
                    SnapshotStatus::Accepted => writeln!(out, "          snapshot accepted")?,
                    SnapshotStatus::Missing { .. }
                    | SnapshotStatus::Matched
                    | SnapshotStatus::NotChecked => {}
                }
                if !result.outcome.is_success() {
                    writeln!(out, "          re-run: {}", result.rerun)?;
                }
                Ok(())
            }
            EventKind::RunFinished(summary) => {
                let t = &summary.totals;
                let speedup = if summary.wall_secs > 0.0 {
                    format!(" ({:.0}×)", summary.rig_secs / summary.wall_secs)
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "hil: {} passed, {} failed, {} errors, {} timed out, {} incompatible, {} aborted, {} skipped, {} quarantined; {} of rig time in {:.3}s wall{speedup}",
                    t.pass,
                    t.fail,
                    t.error,
                    t.timeout,
                    t.incompatible,
                    t.aborted,
                    t.skipped,
                    t.quarantined,
                    clock(Duration::from_secs_f64(summary.rig_secs)),
                    summary.wall_secs
                )
            }
            EventKind::ScenarioStarted { .. }
            | EventKind::StepStarted { .. }
            | EventKind::InstrumentAction { .. }
            | EventKind::DeviceEvent { .. }
            | EventKind::ConsoleLine { .. }
            | EventKind::Progress { .. }
            | EventKind::Measurement(_)
            | EventKind::StepFinished { .. } => Ok(()),
        }
    }
}

impl Reporter for Terminal {
    fn on_event(&mut self, event: &Event) {
        // A closed stdout (`hil run | head`) must not stop the run; the report files still get written.
        let _ = self.print(event).and_then(|()| self.out.flush());
    }
}
