//! What the report files are written from: the runs, and per scenario its result and its slice
//! of the event stream. A live run builds it event by event; `hil report merge` loads it back.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use hil_runner::{Event, EventKind, RunSummary, ScenarioResult};
use serde::{Deserialize, Serialize};

use crate::partition::{Partition, PartitionRecord};
use crate::results::ResultsFile;

pub struct RunRecord {
    pub run_id: String,
    /// One entry for a run; one per input for a merge.
    pub runs: Vec<RunSource>,
    /// Partitions a merge expected and did not get.
    pub missing: Vec<MissingPartition>,
    pub summary: RunSummary,
    pub scenarios: Vec<ScenarioRecord>,
}

pub struct ScenarioRecord {
    pub result: ScenarioResult,
    /// From `scenario_started` to `scenario_finished`; empty when the events were not kept.
    pub events: Vec<Event>,
}

/// One `hil run` on one rig.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSource {
    pub run_id: String,
    pub rig: String,
    pub rig_path: PathBuf,
    pub seed: u64,
    pub wall_secs: f64,
    pub partition: Option<PartitionRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingPartition {
    pub rig: String,
    pub partition: Partition,
    /// The scenarios that partition would have run.
    pub scenarios: Vec<String>,
}

impl RunRecord {
    pub fn new(run_id: String) -> Self {
        Self {
            run_id,
            runs: Vec::new(),
            missing: Vec::new(),
            summary: RunSummary::default(),
            scenarios: Vec::new(),
        }
    }

    /// Reads back a report directory: `results.json`, with the timelines from `events.jsonl`
    /// when it is there.
    pub fn load(dir: &Path) -> io::Result<RunRecord> {
        let results = ResultsFile::read(&dir.join("results.json"))?;
        let mut timelines = match std::fs::File::open(dir.join("events.jsonl")) {
            Ok(file) => timelines(io::BufReader::new(file))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e),
        };
        let scenarios = results
            .scenarios
            .into_iter()
            .map(|result| ScenarioRecord {
                events: timelines
                    .remove(&(result.rig.clone(), result.id.clone()))
                    .unwrap_or_default(),
                result,
            })
            .collect();
        Ok(RunRecord {
            run_id: results.run_id,
            runs: results.runs,
            missing: results.missing,
            summary: results.summary,
            scenarios,
        })
    }

    /// Whether the record spans rigs, so one scenario id can occur more than once.
    pub fn spans_rigs(&self) -> bool {
        self.runs.iter().any(|r| r.rig != self.runs[0].rig)
    }

    /// Where a scenario's support bundle is, relative to the report directory. Only scenarios
    /// that did not pass (FAIL, ERROR, TIMEOUT) get one.
    pub fn bundle_path(&self, result: &ScenarioResult) -> Option<PathBuf> {
        if result.outcome.is_success() {
            return None;
        }
        let file = format!("{}.tar.gz", result.id);
        Some(if self.spans_rigs() {
            Path::new("bundles").join(&result.rig).join(file)
        } else {
            Path::new("bundles").join(file)
        })
    }

    /// Scenarios that did not pass first (FAIL, ERROR, TIMEOUT), then the rest, each in run order.
    pub fn regressions_first(&self) -> Vec<&ScenarioRecord> {
        let (mut bad, good): (Vec<_>, Vec<_>) = self
            .scenarios
            .iter()
            .partition(|s| !s.result.outcome.is_success());
        bad.extend(good);
        bad
    }
}

/// Cuts the event stream into per-scenario slices.
#[derive(Default)]
pub struct ScenarioSlicer {
    current: Vec<Event>,
}

impl ScenarioSlicer {
    /// Takes the next event; returns the scenario it completes, if it is a `scenario_finished`.
    pub fn push(&mut self, event: &Event) -> Option<ScenarioRecord> {
        match &event.kind {
            EventKind::ScenarioStarted { .. } => {
                self.current.clear();
                self.current.push(event.clone());
                None
            }
            EventKind::ScenarioFinished(result) => {
                let mut events = std::mem::take(&mut self.current);
                events.push(event.clone());
                Some(ScenarioRecord {
                    result: (**result).clone(),
                    events,
                })
            }
            EventKind::StepStarted { .. }
            | EventKind::InstrumentAction { .. }
            | EventKind::ConsoleLine { .. }
            | EventKind::Progress { .. }
            | EventKind::DeviceEvent { .. }
            | EventKind::Measurement(_)
            | EventKind::StepFinished { .. } => {
                self.current.push(event.clone());
                None
            }
            // Run events belong to no scenario.
            EventKind::RunStarted { .. } | EventKind::RunFinished(_) => None,
        }
    }
}

/// Per (rig, scenario id), the events of `events.jsonl`.
fn timelines(reader: impl BufRead) -> io::Result<HashMap<(String, String), Vec<Event>>> {
    let mut slicer = ScenarioSlicer::default();
    let mut found = HashMap::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event = Event::from_json(line.as_bytes()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("events.jsonl line {}: {e}", n + 1),
            )
        })?;
        if let Some(scenario) = slicer.push(&event) {
            let key = (scenario.result.rig.clone(), scenario.result.id.clone());
            found.insert(key, scenario.events);
        }
    }
    Ok(found)
}
