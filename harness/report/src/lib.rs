//! Reporters: pure consumers of the event stream, and the report files they write.
//!
//! A run's directory holds `events.jsonl` (streamed), `results.json`, `junit.xml`,
//! `report.html`, `summary.md` and `bundles/`; [`merge`] builds the same files from several runs.

mod bundle;
mod files;
mod html;
mod junit;
mod merge;
mod partition;
mod progress;
mod record;
mod redact;
mod results;
mod summary;
mod terminal;
mod text;

pub use files::{ReportFiles, Resumed};
pub use junit::junit_xml;
pub use merge::{MergeError, merge};
pub use partition::{Partition, PartitionRecord};
pub use progress::Progress;
pub use record::{MissingPartition, RunRecord, RunSource, ScenarioRecord};
pub use results::{RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION};
pub use terminal::{Terminal, Verbosity};

/// The version of hil that wrote a report (the workspace shares one version).
pub const HIL_VERSION: &str = env!("CARGO_PKG_VERSION");
