//! `reports/<run-id>/`: `events.jsonl` streamed as events happen, a support bundle as each
//! scenario that did not pass finishes, and the run's reports when it finishes.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
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
    /// Continuing an interrupted run: its record already holds the run and the scenarios done.
    resumed: bool,
}

/// What an interrupted run left: enough to carry on where it stopped.
pub struct Resumed {
    pub files: ReportFiles,
    /// Scenarios that finished before the interruption (their results are kept).
    pub done: Vec<String>,
    /// The interrupted run's seed: the rest must use the same.
    pub seed: u64,
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
            resumed: false,
        })
    }

    /// Carries on the run in `dir`: `events.jsonl` is its journal. Every scenario that finished is
    /// kept; what came after the last one (a scenario cut short, a torn line) is dropped.
    pub fn resume(dir: &Path) -> io::Result<Resumed> {
        let path = dir.join("events.jsonl");
        let journal = std::fs::read(&path)?;
        let mut record = RunRecord::new(String::new());
        let mut slicer = ScenarioSlicer::default();
        let mut kept = 0;
        let mut offset = 0;
        for line in journal.split_inclusive(|b| *b == b'\n') {
            offset += line.len();
            // A line torn by the crash does not parse (or lacks its newline): the journal ends there.
            let Some(event) = line
                .strip_suffix(b"\n")
                .and_then(|l| Event::from_json(l).ok())
            else {
                break;
            };
            match &event.kind {
                EventKind::RunStarted {
                    run_id,
                    rig,
                    rig_path,
                    seed,
                    ..
                } if record.runs.is_empty() => {
                    record.run_id.clone_from(run_id);
                    record.runs.push(RunSource {
                        run_id: run_id.clone(),
                        rig: rig.clone(),
                        rig_path: rig_path.clone(),
                        seed: *seed,
                        wall_secs: 0.0,
                        partition: None,
                    });
                    kept = offset;
                }
                EventKind::RunFinished(_) => {
                    return Err(io::Error::other(
                        "that run finished: there is nothing to resume",
                    ));
                }
                _ => {
                    if let Some(scenario) = slicer.push(&event) {
                        record.scenarios.push(scenario);
                        kept = offset;
                    }
                }
            }
        }
        if record.runs.is_empty() {
            return Err(io::Error::other("the journal does not start with a run"));
        }
        let done = record
            .scenarios
            .iter()
            .map(|s| s.result.id.clone())
            .collect();
        let seed = record.runs[0].seed;
        let file = std::fs::OpenOptions::new().write(true).open(&path)?;
        file.set_len(kept as u64)?;
        let mut events = BufWriter::new(file);
        events.seek(io::SeekFrom::End(0))?;
        Ok(Resumed {
            files: ReportFiles {
                dir: dir.to_path_buf(),
                events,
                partition: None,
                slicer: ScenarioSlicer::default(),
                record,
                error: None,
                resumed: true,
            },
            done,
            seed,
        })
    }

    /// Where the reports of this run go.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.events, event)?;
        self.events.write_all(b"\n")?;
        // Streamed: whoever tails the file (or reads it after a crash) sees every event so far.
        self.events.flush()?;
        let finished = self.slicer.push(event);
        match &event.kind {
            // A resumed run is the same run: it keeps its id and its first start.
            EventKind::RunStarted { .. } if self.resumed => {}
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
                // The journal: a crash after this point loses nothing that finished.
                self.events.flush()?;
                self.events.get_ref().sync_data()?;
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
                if self.resumed {
                    // Totals over the whole run, not just the part after the interruption.
                    let mut totals = hil_runner::Totals::default();
                    for scenario in &self.record.scenarios {
                        totals.add(&scenario.result);
                    }
                    self.record.summary.totals = totals;
                    self.record.summary.rig_secs = self
                        .record
                        .scenarios
                        .iter()
                        .map(|s| s.result.rig_secs)
                        .sum();
                }
                if let Some(run) = self.record.runs.last_mut() {
                    run.wall_secs = summary.wall_secs;
                }
                write_reports(&self.dir, &self.record)?;
            }
            EventKind::ScenarioStarted { .. }
            | EventKind::StepStarted { .. }
            | EventKind::InstrumentAction { .. }
            | EventKind::ConsoleLine { .. }
            | EventKind::Progress { .. }
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
