//! Reporters: pure consumers of the event stream.

mod files;
mod junit;
mod terminal;

pub use files::{ReportFiles, write_results_json};
pub use junit::junit_xml;
pub use terminal::Terminal;
