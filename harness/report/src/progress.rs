//! Progress while a run goes: on an interactive terminal a live bar (scenario k/n, the current
//! step, rig and wall time); otherwise, as in CI logs, one plain line as each scenario starts.

use std::io::{self, Write};
use std::time::Duration;

use hil_runner::{Event, EventKind, Reporter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::text::clock;

pub struct Progress {
    display: Display,
    /// Finished so far, skipped ones included (they finish without starting).
    finished: usize,
    total: usize,
    scenario: String,
    step: String,
}

enum Display {
    Bar(ProgressBar),
    Lines(Box<dyn Write + Send>),
}

impl Progress {
    /// A live bar on stdout. Other reporters printing to stdout must use [`Progress::stdout`].
    pub fn bar() -> Self {
        Self::with_bar(ProgressBar::with_draw_target(
            None,
            ProgressDrawTarget::stdout(),
        ))
    }

    /// One line per scenario as it starts, for logs.
    pub fn lines(out: Box<dyn Write + Send>) -> Self {
        Self::new(Display::Lines(out))
    }

    fn with_bar(bar: ProgressBar) -> Self {
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{pos}/{len}] {wide_msg} {elapsed_precise} wall",
            )
            .expect("valid template"),
        );
        Self::new(Display::Bar(bar))
    }

    fn new(display: Display) -> Self {
        Self {
            display,
            finished: 0,
            total: 0,
            scenario: String::new(),
            step: String::new(),
        }
    }

    /// Stdout for other reporters: lines written through it do not tear the bar.
    pub fn stdout(&self) -> Box<dyn Write + Send> {
        match &self.display {
            Display::Bar(bar) => Box::new(AboveBar {
                bar: bar.clone(),
                pending: Vec::new(),
            }),
            Display::Lines(_) => Box::new(io::stdout()),
        }
    }

    fn show(&mut self, event: &Event) -> io::Result<()> {
        match &event.kind {
            EventKind::RunStarted { scenarios, .. } => {
                self.total = *scenarios;
                if let Display::Bar(bar) = &self.display {
                    bar.set_length(*scenarios as u64);
                    // Ticks keep the wall clock moving during a long step on a real rig.
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
            }
            EventKind::ScenarioStarted { id, .. } => {
                self.scenario.clone_from(id);
                self.step.clear();
                if let Display::Lines(out) = &mut self.display {
                    writeln!(out, "hil: [{}/{}] {id} …", self.finished + 1, self.total)?;
                    out.flush()?;
                }
            }
            EventKind::StepStarted {
                phase,
                index,
                action,
                ..
            } => self.step = format!("{phase} {index}: {action}"),
            EventKind::ScenarioFinished(_) => {
                self.finished += 1;
                if let Display::Bar(bar) = &self.display {
                    bar.inc(1);
                }
            }
            EventKind::RunFinished(_) => {
                if let Display::Bar(bar) = &self.display {
                    bar.finish_and_clear();
                }
            }
            EventKind::InstrumentAction { .. }
            | EventKind::ConsoleLine { .. }
            | EventKind::Progress { .. }
            | EventKind::DeviceEvent { .. }
            | EventKind::Measurement(_)
            | EventKind::StepFinished { .. } => {}
        }
        if let Display::Bar(bar) = &self.display {
            bar.set_message(format!(
                "{} · {} · rig {}",
                self.scenario,
                self.step,
                clock(event.at)
            ));
        }
        Ok(())
    }
}

impl Reporter for Progress {
    fn on_event(&mut self, event: &Event) {
        // Progress is a courtesy: a closed stdout must not stop the run.
        let _ = self.show(event);
    }
}

/// Buffers a reporter's output and prints it above the bar on flush.
struct AboveBar {
    bar: ProgressBar,
    pending: Vec<u8>,
}

impl Write for AboveBar {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.bar.suspend(|| {
            let mut out = io::stdout().lock();
            out.write_all(&pending)?;
            out.flush()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hil_runner::{EventKind, RunSummary, ScenarioResult};
    use hil_scenario::Phase;

    use super::*;

    fn event(kind: EventKind) -> Event {
        Event {
            at: Duration::from_millis(83_250),
            kind,
        }
    }

    fn run(progress: &mut Progress) {
        progress.on_event(&event(EventKind::RunStarted {
            run_id: "r".into(),
            rig: "virtual".into(),
            rig_path: "rigs/virtual.toml".into(),
            scenarios: 2,
            seed: 1,
        }));
        for id in ["F01-a", "F02-b"] {
            if id == "F02-b" {
                progress.on_event(&event(EventKind::ScenarioFinished(Box::new(result(
                    "F01-a",
                )))));
            }
            progress.on_event(&event(EventKind::ScenarioStarted {
                id: id.into(),
                failure: "F01".into(),
                title: "t".into(),
            }));
            progress.on_event(&event(EventKind::StepStarted {
                phase: Phase::Recover,
                index: 2,
                action: "pair phone ↔ ring".into(),
                location: "t.toml:30:1".into(),
            }));
        }
    }

    fn result(id: &str) -> ScenarioResult {
        serde_json::from_value(serde_json::json!({
            "id": id, "failure": "F01", "title": "t", "path": "t.toml", "rig": "virtual",
            "firmware": {}, "outcome": "PASS", "message": null, "warnings": [], "measurements": [],
            "snapshot": {"status": "matched"}, "rig_secs": 1.0, "wall_secs": 0.1, "seed": 1,
            "rerun": "hil run t.toml", "log": ""
        }))
        .unwrap()
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn logs_get_one_line_per_scenario_with_its_position() {
        let out = Shared::default();
        let mut progress = Progress::lines(Box::new(out.clone()));
        run(&mut progress);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "hil: [1/2] F01-a …\nhil: [2/2] F02-b …\n");
    }

    #[test]
    fn the_bar_shows_scenario_k_of_n_the_step_and_rig_time() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let mut progress = Progress::with_bar(bar.clone());
        run(&mut progress);
        assert_eq!(bar.length(), Some(2));
        assert_eq!(
            bar.message(),
            "F02-b · recover 2: pair phone ↔ ring · rig 1:23.250"
        );
        assert_eq!(bar.position(), 1);
        progress.on_event(&event(EventKind::ScenarioFinished(Box::new(result(
            "F02-b",
        )))));
        assert_eq!(bar.position(), 2);
        progress.on_event(&event(EventKind::RunFinished(RunSummary::default())));
        assert!(bar.is_finished());
    }
}
