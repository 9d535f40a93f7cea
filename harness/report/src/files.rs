//! `reports/<run-id>/`: `events.jsonl` streamed as events happen, a support bundle as each
//! scenario that did not pass finishes, and the run's reports when it finishes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use hil_runner::{Event, EventKind, Reporter};

use crate::partition::PartitionRecord;
use crate::record::{RunRecord, RunSource, ScenarioSlicer};
use crate::results::ResultsFile;

pub struct ReportFiles {
    dir: PathBuf,
    events: BufWriter<File>,
    /// Recorded in `results.json` with the run it belongs to.
    partition: Option<PartitionRecord>,
    slicer: ScenarioSlicer,
    record: RunRecord,
    /// First I/O error; reported once, at the end.
    error: Option<io::Error>,
}

impl ReportFiles {
    pub fn create(dir: &Path, partition: Option<PartitionRecord>) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            events: BufWriter::new(File::create(dir.join("events.jsonl"))?),
            partition,
            slicer: ScenarioSlicer::default(),
            record: RunRecord::new(String::new()),
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
        let finished = self.slicer.push(event);
        match &event.kind {
            EventKind::RunStarted {
                run_id,
                rig,
                rig_path,
                seed,
                scenarios: _,
            } => {
                self.record.run_id.clone_from(run_id);
                self.record.runs.push(RunSource {
                    run_id: run_id.clone(),
                    rig: rig.clone(),
                    rig_path: rig_path.clone(),
                    seed: *seed,
                    wall_secs: 0.0,
                    partition: self.partition.take(),
                });
            }
            EventKind::ScenarioFinished(_) => {
                // A crash after this point loses nothing that finished.
                self.events.flush()?;
                if let Some(scenario) = finished {
                    if let (Some(path), Some(run)) = (
                        self.record.bundle_path(&scenario.result),
                        self.record.runs.last(),
                    ) {
                        crate::bundle::write(&self.dir.join(path), run, &scenario)?;
                    }
                    self.record.scenarios.push(scenario);
                }
            }
            EventKind::RunFinished(summary) => {
                self.events.flush()?;
                self.record.summary = summary.clone();
                if let Some(run) = self.record.runs.last_mut() {
                    run.wall_secs = summary.wall_secs;
                }
                write_reports(&self.dir, &self.record)?;
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
        if self.error.is_none()
            && let Err(e) = self.record(event)
        {
            self.error = Some(e);
        }
    }
}

/// `results.json`, `junit.xml`, `report.html` and `summary.md` of a finished (or merged) run.
pub(crate) fn write_reports(dir: &Path, record: &RunRecord) -> io::Result<()> {
    let results = ResultsFile::of(record);
    results.write(&dir.join("results.json"))?;
    let junit = crate::junit_xml(&record.run_id, &results.scenarios).map_err(io::Error::other)?;
    std::fs::write(dir.join("junit.xml"), junit)?;
    std::fs::write(dir.join("report.html"), crate::html::render(record))?;
    std::fs::write(dir.join("summary.md"), crate::summary::render(record))
}
