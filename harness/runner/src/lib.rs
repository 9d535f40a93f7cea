//! Plan → execution → one typed event stream.
//!
//! The executor drives capability traits and never prints; everything it observes becomes an
//! [`Event`] on the [`EventBus`], which reporters, the recovery trace and the snapshot consume.

mod bus;
mod event;
mod execute;
mod interrupt;
pub mod lock;
mod probe_step;
mod run;
mod safe;
pub mod snapshot;
mod trace;

pub use bus::{EventBus, Reporter};
pub use event::{
    Event, EventKind, Firmware, InstrumentReadback, Measurement, Outcome, RunSummary,
    ScenarioResult, SnapshotStatus, TargetState, Totals, Verdict,
};
pub use interrupt::Interrupt;
pub use run::{Connect, Planned, RunOptions, restore_safe_state, run_all};
pub use safe::SafeAction;
pub use snapshot::SnapshotMode;
pub use trace::recovery_trace;
