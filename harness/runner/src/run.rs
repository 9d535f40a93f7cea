//! A run: many scenarios on one rig, one after the other, each on a freshly connected rig.

use std::path::PathBuf;

use hil_scenario::Plan;

use crate::bus::EventBus;
use crate::event::{EventKind, Firmware, Outcome, RunSummary, ScenarioResult, SnapshotStatus};
use crate::execute::{ScenarioContext, run_scenario};
use crate::interrupt::Interrupt;
use crate::safe::SafeAction;
use crate::snapshot::SnapshotMode;

/// A scenario as the planner left it for this rig.
pub enum Planned {
    Ready(Box<Plan>),
    /// Decided at plan time: SKIPPED (the rig lacks what the scenario needs) or INCOMPATIBLE.
    NotRun {
        id: String,
        failure: String,
        title: String,
        path: PathBuf,
        outcome: Outcome,
        reasons: Vec<String>,
    },
}

pub struct RunOptions {
    pub run_id: String,
    pub seed: u64,
    pub snapshot_mode: SnapshotMode,
    /// Raised by Ctrl-C or SIGTERM: stops the scenario running and the rest of the run.
    pub interrupt: Interrupt,
    /// Quarantined scenario ids, with a note for the reports.
    pub quarantine: std::collections::BTreeMap<String, String>,
    /// How often an idempotent instrument action (a supply setting) is retried, with backoff,
    /// before it is an ERROR.
    pub instrument_retries: u32,
}

/// Connects the capabilities of a rig; called inside the scenario's runtime.
pub type Connect<'a> = dyn Fn(&hil_scenario::Rig, u64) -> hil_rig::Rig + 'a;

/// Runs every scenario in order and returns the totals. On a virtual rig each scenario runs on a
/// paused clock, so waits cost no wall time.
pub fn run_all(
    planned: &[Planned],
    rig: &hil_scenario::Rig,
    connect: &Connect<'_>,
    bus: &EventBus,
    options: &RunOptions,
) -> std::io::Result<(RunSummary, Vec<ScenarioResult>)> {
    let wall = std::time::Instant::now();
    hil_rig::time::set_scale(rig.time_scale);
    bus.emit(EventKind::RunStarted {
        run_id: options.run_id.clone(),
        rig: rig.name.clone(),
        rig_path: rig.path.clone(),
        scenarios: planned.len(),
        seed: options.seed,
    });
    let mut summary = RunSummary::default();
    let mut results = Vec::new();
    let mut consecutive_errors = 0;
    let mut last_error = String::new();
    for entry in planned {
        let result = match entry {
            Planned::Ready(plan) if consecutive_errors >= UNHEALTHY_AFTER => {
                let not_run = NotRun {
                    id: &plan.id,
                    failure: &plan.failure,
                    title: &plan.title,
                    path: &plan.path,
                    outcome: Outcome::Skipped,
                    message: format!(
                        "rig `{}` marked unhealthy after {UNHEALTHY_AFTER} rig errors in a row (last: {last_error})",
                        rig.name
                    ),
                };
                not_run.report(rig, bus, options)
            }
            Planned::Ready(plan) if options.interrupt.cause().is_none() => {
                let scenario_rig;
                let rig = if plan.profiles.is_empty() {
                    rig
                } else {
                    scenario_rig = rig.with_profiles(&plan.profiles);
                    &scenario_rig
                };
                let seed = scenario_seed(options.seed, &plan.id);
                tracing::debug!(id = %plan.id, seed, virtual_clock = rig.is_virtual(), "starting scenario");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(rig.is_virtual())
                    .build()?;
                let ctx = ScenarioContext {
                    plan,
                    rig,
                    bus,
                    seed,
                    snapshot_mode: options.snapshot_mode,
                    rerun: rerun_command(&plan.path, rig, options.seed),
                    interrupt: options.interrupt.clone(),
                    quarantined: options.quarantine.get(&plan.id).cloned(),
                    instrument_retries: options.instrument_retries,
                };
                runtime.block_on(async { run_scenario(ctx, connect(rig, seed)).await })
            }
            Planned::Ready(plan) => {
                let cause = options.interrupt.cause().unwrap_or_default();
                let not_run = NotRun {
                    id: &plan.id,
                    failure: &plan.failure,
                    title: &plan.title,
                    path: &plan.path,
                    outcome: Outcome::Aborted,
                    message: format!("not started: the run was stopped by {cause}"),
                };
                not_run.report(rig, bus, options)
            }
            Planned::NotRun {
                id,
                failure,
                title,
                path,
                outcome,
                reasons,
            } => {
                tracing::debug!(%id, ?outcome, ?reasons, "not running scenario");
                let not_run = NotRun {
                    id,
                    failure,
                    title,
                    path,
                    outcome: *outcome,
                    message: reasons.join("; "),
                };
                not_run.report(rig, bus, options)
            }
        };
        if result.outcome == Outcome::Error {
            consecutive_errors += 1;
            last_error = result.message.clone().unwrap_or_default();
        } else if result.outcome != Outcome::Skipped {
            consecutive_errors = 0;
        }
        summary.totals.add(&result);
        summary.rig_secs += result.rig_secs;
        results.push(result);
    }
    summary.wall_secs = wall.elapsed().as_secs_f64();
    bus.emit(EventKind::RunFinished(summary.clone()));
    Ok((summary, results))
}

/// Rig errors in a row after which the rest of the rig's queue is skipped: an unplugged hub or a
/// dead supply would otherwise turn every remaining scenario into another ERROR.
const UNHEALTHY_AFTER: usize = 3;

/// A scenario decided without running it.
struct NotRun<'a> {
    id: &'a str,
    failure: &'a str,
    title: &'a str,
    path: &'a std::path::Path,
    outcome: Outcome,
    message: String,
}

impl NotRun<'_> {
    fn report(
        self,
        rig: &hil_scenario::Rig,
        bus: &EventBus,
        options: &RunOptions,
    ) -> ScenarioResult {
        let result = ScenarioResult {
            id: self.id.to_string(),
            failure: self.failure.to_string(),
            title: self.title.to_string(),
            path: self.path.to_path_buf(),
            rig: rig.name.clone(),
            firmware: Firmware::of_rig(rig),
            outcome: self.outcome,
            message: Some(self.message),
            warnings: Vec::new(),
            measurements: Vec::new(),
            snapshot: SnapshotStatus::NotChecked,
            rig_secs: 0.0,
            wall_secs: 0.0,
            seed: options.seed,
            rerun: rerun_command(self.path, rig, options.seed),
            log: String::new(),
            quarantined: options.quarantine.get(self.id).cloned(),
        };
        bus.emit(EventKind::ScenarioFinished(Box::new(result.clone())));
        result
    }
}

/// Each scenario gets its own seed, derived from the run's, so adding a scenario changes no other.
fn scenario_seed(seed: u64, id: &str) -> u64 {
    id.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The command that runs this scenario again the same way: same rig, seed and firmware.
fn rerun_command(scenario: &std::path::Path, rig: &hil_scenario::Rig, seed: u64) -> String {
    let mut command = format!(
        "hil run {} --rig {} --seed {seed}",
        scenario.display(),
        rig.path.display()
    );
    for device in rig.pinned.keys() {
        if let Some(d) = rig.devices.get(device) {
            command += &format!(" --profile {device}={}", d.profile_path.display());
        }
    }
    command
}

/// Applies the rig's safe state outside any run: after a crash, or by hand (`hil rig safe`).
pub fn restore_safe_state(
    rig: &hil_scenario::Rig,
    connect: &Connect<'_>,
) -> std::io::Result<Vec<SafeAction>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(rig.is_virtual())
        .build()?;
    Ok(runtime.block_on(async {
        let mut connected = connect(rig, 0);
        crate::safe::apply(rig, &mut connected).await
    }))
}
