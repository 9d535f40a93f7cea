//! `hil run`, `hil list`, `hil validate`, `hil report merge`; `hil rig check` is in `rig_check`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Args;
use hil_report::{Partition, PartitionRecord, Progress, ReportFiles, Terminal, Verbosity};
use hil_runner::lock::RigLock;
use hil_runner::{EventBus, Interrupt, Planned, Reporter, RunOptions, SnapshotMode};

use crate::catalog::{self, Catalog, CatalogError, ProfileOverride};
use crate::rig_check;
use crate::{EXIT_CONFIG, EXIT_FAIL, EXIT_PASS};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files, directories, ids or failure ids (`F01`); default: every scenario.
    pub targets: Vec<String>,
    #[arg(long, default_value = catalog::DEFAULT_RIG)]
    pub rig: PathBuf,
    /// Bless this run's recovery traces as the reviewed snapshots.
    #[arg(long)]
    pub accept: bool,
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Seed for everything random on the virtual rig; the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run a device with another firmware profile, e.g. `ring=fixtures/profiles/mutants/ring-bootloop.toml`.
    #[arg(long = "profile", value_name = "DEVICE=FILE")]
    pub profiles: Vec<ProfileOverride>,
    /// Print every step, instrument action and device event as it happens.
    #[arg(long, short, conflicts_with = "quiet")]
    pub verbose: bool,
    /// No progress, and only what did not pass plus the totals.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only share K of N of the selected scenarios (by a hash of each id, so adding a
    /// scenario moves no other); `hil report merge` puts the N reports back together.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<Partition>,
    /// Retries of an instrument setting that failed on the wire, before it is an ERROR.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Known-flaky scenarios with an expiry: they run, are reported apart and do not fail the run.
    #[arg(long, default_value = "scenarios/quarantine.toml")]
    pub quarantine: PathBuf,
    /// Carry on the run in `<report-dir>/latest` after a crash: run only the scenarios it had not
    /// finished (same arguments and seed), and write its reports as if it had never stopped.
    #[arg(long, conflicts_with = "partition")]
    pub resume: bool,
    /// Start without first checking the rig's hardware (`hil rig check`); a broken instrument
    /// then makes its scenarios ERROR instead of stopping the run before it starts.
    #[arg(long)]
    pub no_rig_check: bool,
}

pub fn run_command(args: &RunArgs) -> u8 {
    let mut catalog = match Catalog::load(&args.rig, &args.profiles, &args.targets) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    let partition = args.partition.map(|partition| {
        let of = catalog.scenarios.iter().map(|s| s.id.clone()).collect();
        catalog.scenarios.retain(|s| partition.includes(&s.id));
        PartitionRecord { partition, of }
    });
    let mut planned = match catalog.plan() {
        Ok(p) => p,
        Err(e) => return config_error(e.into()),
    };
    let quarantine = match load_quarantine(&args.quarantine) {
        Ok(q) => q,
        Err(e) => return config_error(e.into()),
    };
    let _lock = match lock_rig(&catalog.rig) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    if !args.no_rig_check {
        let lines = rig_check::check_rig(&catalog.rig, rig_check::Scope::Hardware);
        if rig_check::print(&lines) > 0 {
            eprintln!(
                "error: rig `{}` is not ready (the ERROR lines above); nothing was run",
                catalog.rig.name
            );
            return EXIT_CONFIG;
        }
    }
    let run_id = run_id();
    let (dir, files) = if args.resume {
        let latest = args.report_dir.join("latest");
        let dir = match std::fs::canonicalize(&latest) {
            Ok(dir) => dir,
            Err(e) => return io_error(&latest, e),
        };
        let resumed = match ReportFiles::resume(&dir) {
            Ok(r) => r,
            Err(e) => return io_error(&dir, e),
        };
        if resumed.seed != args.seed {
            eprintln!(
                "error: the run in {} used --seed {}; resume it with the same arguments",
                dir.display(),
                resumed.seed
            );
            return EXIT_CONFIG;
        }
        planned.retain(|p| !resumed.done.contains(&planned_id(p).to_string()));
        println!(
            "hil: resuming {}: {} scenario(s) done, {} to go",
            dir.display(),
            resumed.done.len(),
            planned.len()
        );
        (dir, resumed.files)
    } else {
        let dir = match unique_dir(&args.report_dir, &run_id) {
            Ok(dir) => dir,
            Err(e) => return io_error(&args.report_dir, e),
        };
        let files = match ReportFiles::create(&dir, partition) {
            Ok(f) => f,
            Err(e) => return io_error(&dir, e),
        };
        // The run in progress is the latest: a crashed one is what `--resume` finds there.
        if let Err(e) = point_latest(&args.report_dir, &dir) {
            return io_error(&args.report_dir.join("latest"), e);
        }
        (dir, files)
    };
    let files = SharedFiles::new(files);
    let bus = EventBus::new(reporters(args, &files));
    let options = RunOptions {
        run_id: dir
            .file_name()
            .map_or(run_id, |n| n.to_string_lossy().into_owned()),
        seed: args.seed,
        snapshot_mode: if args.accept {
            SnapshotMode::Accept
        } else {
            SnapshotMode::WritePending
        },
        interrupt: stop_on_signals("the rig goes to its safe state and the reports are written"),
        quarantine,
        instrument_retries: args.retries,
    };
    let (summary, _) = match hil_runner::run_all(
        &planned,
        &catalog.rig,
        &crate::connect::connect,
        &bus,
        &options,
    ) {
        Ok(done) => done,
        Err(e) => return io_error(&dir, e),
    };
    if let Some(e) = files.take_error() {
        return io_error(&dir, e);
    }
    // `hil run | head` closes stdout early: not worth a panic after the reports are written.
    let _ = writeln!(std::io::stdout(), "hil: reports in {}", dir.display());
    if summary.totals.all_passed() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

/// The terminal and progress display the flags and stdout call for, and the report files.
fn reporters(args: &RunArgs, files: &SharedFiles) -> Vec<Box<dyn Reporter>> {
    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let interactive = std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
    let mut reporters: Vec<Box<dyn Reporter>> = Vec::new();
    let progress = match (args.quiet, interactive) {
        (true, _) => None,
        (false, true) => Some(Progress::bar()),
        (false, false) => Some(Progress::lines(Box::new(std::io::stdout()))),
    };
    let out = progress
        .as_ref()
        .map_or_else(|| Box::new(std::io::stdout()) as _, Progress::stdout);
    reporters.push(Box::new(Terminal::new(out, verbosity)));
    if let Some(progress) = progress {
        reporters.push(Box::new(progress));
    }
    reporters.push(Box::new(files.clone()));
    reporters
}

/// `hil report merge`: exit 0 if everything passed and nothing is missing, 1 otherwise, 2 if the
/// inputs cannot be merged.
pub fn merge(inputs: &[PathBuf], out: &Path) -> u8 {
    let merged = match hil_report::merge(inputs, out) {
        Ok(merged) => merged,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_CONFIG;
        }
    };
    for missing in &merged.missing {
        eprintln!(
            "warning: partition {} of rig `{}` is missing; not run: {}",
            missing.partition,
            missing.rig,
            missing.scenarios.join(", ")
        );
    }
    let t = &merged.summary.totals;
    let _ = writeln!(
        std::io::stdout(),
        "hil: merged {} run(s): {} passed, {} failed, {} errors, {} timed out, {} skipped; reports in {}",
        merged.runs.len(),
        t.pass,
        t.fail,
        t.error,
        t.timeout,
        t.skipped,
        out.display()
    );
    if t.all_passed() && merged.missing.is_empty() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

pub fn list(rig: &Path) -> u8 {
    let catalog = match Catalog::load(rig, &[], &[]) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    let planned = match catalog.plan() {
        Ok(p) => p,
        Err(e) => return config_error(e.into()),
    };
    println!(
        "{:<28} {:<7} {:<40} {:<24} RUNNABLE ON `{}`",
        "ID", "FAILURE", "TITLE", "TAGS", catalog.rig.name
    );
    for (scenario, plan) in catalog.scenarios.iter().zip(&planned) {
        let runnable = match plan {
            Planned::Ready(_) => "yes".to_string(),
            Planned::NotRun {
                outcome, reasons, ..
            } => format!("no ({outcome}): {}", reasons.join("; ")),
        };
        println!(
            "{:<28} {:<7} {:<40} {:<24} {runnable}",
            scenario.id,
            scenario.failure,
            scenario.title,
            scenario.tags.join(",")
        );
    }
    EXIT_PASS
}

pub fn validate(files: &[PathBuf], rig: &Path) -> u8 {
    let targets: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let catalog = match Catalog::load(rig, &[], &targets) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    match catalog.plan() {
        Ok(planned) => {
            let skipped = planned
                .iter()
                .filter(|p| matches!(p, Planned::NotRun { .. }))
                .count();
            println!(
                "hil: {} scenario(s) valid against rig `{}` ({} not runnable on it)",
                planned.len(),
                catalog.rig.name,
                skipped
            );
            EXIT_PASS
        }
        Err(e) => config_error(e.into()),
    }
}

pub fn rig_safe(path: &Path) -> u8 {
    let rig = match hil_rig::drivers::load_rig(path) {
        Ok(rig) => rig,
        Err(e) => return config_error(e.into()),
    };
    // Not while a run holds the rig: stopping it (Ctrl-C) leaves the rig safe anyway.
    let _lock = match lock_rig(&rig) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    match hil_runner::restore_safe_state(&rig, &crate::connect::connect) {
        Ok(actions) => {
            actions.iter().for_each(|a| println!("{a}"));
            if actions.iter().any(|a| a.result.is_err()) {
                EXIT_FAIL
            } else {
                EXIT_PASS
            }
        }
        Err(e) => io_error(path, e),
    }
}

/// The quarantine in force today; none if the file does not exist.
fn load_quarantine(
    path: &Path,
) -> Result<std::collections::BTreeMap<String, String>, hil_scenario::ConfigErrors> {
    if !path.exists() {
        return Ok(Default::default());
    }
    let quarantine = hil_scenario::Quarantine::load(path, SystemTime::now())?;
    for expired in &quarantine.expired {
        eprintln!("hil: quarantine expired, counting again: {expired}");
    }
    Ok(quarantine.active)
}

fn planned_id(planned: &Planned) -> &str {
    match planned {
        Planned::Ready(plan) => &plan.id,
        Planned::NotRun { id, .. } => id,
    }
}

/// Takes the rig for this run; restores its safe state first if the last run died holding it.
fn lock_rig(rig: &hil_scenario::Rig) -> Result<RigLock, u8> {
    let dir = std::env::var_os("HIL_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("hil-locks"));
    let lock = RigLock::acquire(&dir, &rig.name).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_CONFIG
    })?;
    if let Some(last) = &lock.unclean {
        eprintln!(
            "hil: the last run on rig `{}` (pid {} on {}, since {}) did not finish cleanly; restoring the safe state first",
            rig.name, last.pid, last.host, last.since
        );
        match hil_runner::restore_safe_state(rig, &crate::connect::connect) {
            Ok(actions) => actions.iter().for_each(|a| eprintln!("hil:   {a}")),
            Err(e) => {
                eprintln!("error: cannot restore the safe state: {e}");
                return Err(EXIT_CONFIG);
            }
        }
    }
    Ok(lock)
}

/// Ctrl-C and SIGTERM stop a command cleanly (a run: the scenario in progress goes through safe
/// state and its report, and the rest is reported ABORTED); `then` says what happens next.
pub(crate) fn stop_on_signals(then: &'static str) -> Interrupt {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let interrupt = Interrupt::default();
    match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            let raise = interrupt.clone();
            std::thread::spawn(move || {
                for signal in signals.forever() {
                    let name = if signal == SIGINT {
                        "SIGINT"
                    } else {
                        "SIGTERM"
                    };
                    eprintln!("hil: {name}: stopping; {then}");
                    raise.raise(name);
                }
            });
        }
        Err(e) => tracing::warn!("cannot watch for Ctrl-C: {e}"),
    }
    interrupt
}

pub(crate) fn config_error(e: CatalogError) -> u8 {
    match e {
        CatalogError::Config(errors) => {
            // One plain `file:line:col: message` line per error first: greppable, and what CI logs keep.
            for error in &errors.errors {
                eprintln!("error: {error}");
            }
            if std::io::stderr().is_terminal() {
                eprintln!("{:?}", miette::Report::new(errors));
            } else {
                for error in errors.errors {
                    let report = miette::Report::new(error);
                    eprintln!("{report:?}");
                }
            }
        }
        CatalogError::Usage(message) => eprintln!("error: {message}"),
    }
    EXIT_CONFIG
}

fn io_error(path: &Path, e: std::io::Error) -> u8 {
    eprintln!("error: {}: {e}", path.display());
    EXIT_CONFIG
}

/// `20261124T071530Z`: sorts by time, safe in file names.
fn run_id() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(['-', ':'], "")
}

/// `reports/<run-id>`, with a suffix if a run in the same second already took it.
fn unique_dir(root: &Path, run_id: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(root)?;
    for n in 1.. {
        let name = if n == 1 {
            run_id.to_string()
        } else {
            format!("{run_id}-{n}")
        };
        let dir = root.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("some suffix is free")
}

/// Points `reports/latest` at this run, replacing the old link atomically.
fn point_latest(root: &Path, dir: &Path) -> std::io::Result<()> {
    let target = dir.file_name().expect("run dir has a name");
    let tmp = root.join(".latest.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(tmp, root.join("latest"))
}

/// The report files are fed by the bus and read back afterwards for their I/O error.
#[derive(Clone)]
struct SharedFiles(std::sync::Arc<std::sync::Mutex<ReportFiles>>);

impl SharedFiles {
    fn new(files: ReportFiles) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(files)))
    }

    fn take_error(&self) -> Option<std::io::Error> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take_error()
    }
}

impl Reporter for SharedFiles {
    fn on_event(&mut self, event: &hil_runner::Event) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .on_event(event);
    }
}
