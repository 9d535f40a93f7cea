//! `results.json`: the run's machine-readable record. Its layout is published as a JSON Schema
//! (`results.schema.json` beside this crate's manifest) and versioned by `schema_version`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use hil_runner::{RunSummary, ScenarioResult};
use serde::{Deserialize, Serialize};

use crate::record::{MissingPartition, RunRecord, RunSource};

/// Version of the `results.json` layout; bumped on any incompatible change.
/// 2: `runs` (rig, seed, partition per input run), `missing`, `hil_version`, per-result `firmware`.
pub const RESULTS_SCHEMA_VERSION: u32 = 2;

/// The JSON Schema of `results.json`.
pub const RESULTS_SCHEMA: &str = include_str!("../results.schema.json");

#[derive(Serialize, Deserialize)]
pub struct ResultsFile {
    pub schema_version: u32,
    pub hil_version: String,
    pub run_id: String,
    pub runs: Vec<RunSource>,
    pub missing: Vec<MissingPartition>,
    pub summary: RunSummary,
    pub scenarios: Vec<ScenarioResult>,
}

impl ResultsFile {
    pub fn of(record: &RunRecord) -> Self {
        Self {
            schema_version: RESULTS_SCHEMA_VERSION,
            hil_version: crate::HIL_VERSION.to_string(),
            run_id: record.run_id.clone(),
            runs: record.runs.clone(),
            missing: record.missing.clone(),
            summary: record.summary.clone(),
            scenarios: record.scenarios.iter().map(|s| s.result.clone()).collect(),
        }
    }

    pub fn read(path: &Path) -> io::Result<Self> {
        let invalid = |message: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {message}", path.display()),
            )
        };
        let value: serde_json::Value =
            serde_json::from_reader(io::BufReader::new(File::open(path)?))
                .map_err(|e| invalid(e.to_string()))?;
        let version = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(RESULTS_SCHEMA_VERSION)) {
            return Err(invalid(format!(
                "schema_version {version:?}, this hil reads version {RESULTS_SCHEMA_VERSION}"
            )));
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }

    pub fn write(&self, path: &Path) -> io::Result<()> {
        let mut out = BufWriter::new(File::create(path)?);
        serde_json::to_writer_pretty(&mut out, self)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}
