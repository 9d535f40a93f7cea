//! `reports/<run-id>/`: `events.jsonl` streamed as events happen, `results.json` and
//! `junit.xml` written when the run finishes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use hil_runner::{Event, EventKind, Reporter, RunSummary, ScenarioResult};
use serde::Serialize;

/// Version of the `results.json` layout; bumped on any incompatible change.
pub const RESULTS_SCHEMA_VERSION: u32 = 1;

pub struct ReportFiles {
    dir: PathBuf,
    events: BufWriter<File>,
    run_id: String,
    rig: String,
    seed: u64,
    results: Vec<ScenarioResult>,
    /// First I/O error; reported once, at the end.
    error: Option<io::Error>,
}

#[derive(Serialize)]
struct ResultsFile<'a> {
    schema_version: u32,
    run_id: &'a str,
    rig: &'a str,
    seed: u64,
    summary: &'a RunSummary,
    scenarios: &'a [ScenarioResult],
}

impl ReportFiles {
    pub fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            events: BufWriter::new(File::create(dir.join("events.jsonl"))?),
            run_id: String::new(),
            rig: String::new(),
            seed: 0,
            results: Vec::new(),
            error: None,
        })
    }

    /// Where the reports of this run go.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.events, event)?;
        self.events.write_all(b"\n")?;
        match &event.kind {
            EventKind::RunStarted {
                run_id, rig, seed, ..
            } => {
                self.run_id.clone_from(run_id);
                self.rig.clone_from(rig);
                self.seed = *seed;
            }
            EventKind::ScenarioFinished(result) => {
                self.results.push((**result).clone());
                // A crash after this point loses nothing that finished.
                self.events.flush()?;
            }
            EventKind::RunFinished(summary) => {
                self.events.flush()?;
                let results = ResultsFile {
                    schema_version: RESULTS_SCHEMA_VERSION,
                    run_id: &self.run_id,
                    rig: &self.rig,
                    seed: self.seed,
                    summary,
                    scenarios: &self.results,
                };
                write_results_json(&self.dir.join("results.json"), &results)?;
                std::fs::write(
                    self.dir.join("junit.xml"),
                    crate::junit_xml(&self.run_id, &self.results).map_err(io::Error::other)?,
                )?;
            }
            EventKind::ScenarioStarted { .. }
            | EventKind::StepStarted { .. }
            | EventKind::InstrumentAction { .. }
            | EventKind::ConsoleLine { .. }
            | EventKind::DeviceEvent { .. }
            | EventKind::Measurement(_)
            | EventKind::StepFinished { .. } => {}
        }
        Ok(())
    }

    /// The first error writing the reports, if any.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl Reporter for ReportFiles {
    fn on_event(&mut self, event: &Event) {
        if self.error.is_none() {
            if let Err(e) = self.record(event) {
                self.error = Some(e);
            }
        }
    }
}

pub fn write_results_json(path: &Path, results: &impl Serialize) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    serde_json::to_writer_pretty(&mut out, results)?;
    out.write_all(b"\n")?;
    out.flush()
}
