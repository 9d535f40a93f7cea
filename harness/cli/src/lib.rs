//! The `hil` command. Exit codes: 0 all passed, 1 any FAIL/ERROR/TIMEOUT, 2 usage or configuration error.

mod catalog;
mod commands;
mod connect;
mod rig_check;
mod sim_serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use catalog::{Catalog, ProfileOverride};
pub use commands::{RunArgs, run_command};
pub use connect::connect;

/// Every scenario passed (skips included).
pub const EXIT_PASS: u8 = 0;
/// At least one scenario FAILED, ERRORED or TIMED OUT.
pub const EXIT_FAIL: u8 = 1;
/// Bad command line or configuration: nothing was run.
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "hil",
    version,
    about = "Hardware-in-the-loop tests for smart ring ↔ smart lock pairing"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios (all of them by default) and write reports/<run-id>/.
    Run(RunArgs),
    /// List scenarios and whether they can run on the rig.
    List {
        #[arg(long, default_value = catalog::DEFAULT_RIG)]
        rig: PathBuf,
    },
    /// Check scenario, rig and profile files without running anything.
    Validate {
        /// Scenario files or directories (default: scenarios/).
        files: Vec<PathBuf>,
        #[arg(long, default_value = catalog::DEFAULT_RIG)]
        rig: PathBuf,
    },
    /// Work with report directories.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Work with a rig's instruments.
    #[command(subcommand)]
    Rig(RigCommand),
    /// Work with the simulator.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Start an emulated rig's simulated devices and instrument emulators, print each
    /// emulator's pty and the devices' consoles, and serve until Ctrl-C.
    Serve {
        #[arg(long, default_value = "rigs/emulated.toml")]
        rig: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
enum RigCommand {
    /// Open every real instrument, identify it and read its outputs back; exit 1 if any fails.
    Check {
        #[arg(long, default_value = catalog::DEFAULT_RIG)]
        rig: PathBuf,
    },
    /// Apply the rig's safe state: supplies off, button contacts open, attenuators at `safe_db`.
    Safe {
        #[arg(long, default_value = catalog::DEFAULT_RIG)]
        rig: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Combine the reports of partitions and rigs into one report, in every format.
    Merge {
        /// Report directories (`reports/<run-id>/`), one per partition or rig.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long, default_value = "reports/merged")]
        out: PathBuf,
    },
}

/// Diagnostics (not results) on stderr, filtered by `HIL_LOG` (e.g. `HIL_LOG=debug`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HIL_LOG").unwrap_or_else(
        // mcumgr-toolkit warns at each retry (a device rebooting is silent by design); probe-rs
        // warns about every USB backend that finds no bus. Their errors still show.
        |_| tracing_subscriber::EnvFilter::new("warn,mcumgr_toolkit=error,probe_rs=error"),
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Run(args) => commands::run_command(&args),
        Command::List { rig } => commands::list(&rig),
        Command::Validate { files, rig } => commands::validate(&files, &rig),
        Command::Report(ReportCommand::Merge { dirs, out }) => commands::merge(&dirs, &out),
        Command::Rig(RigCommand::Check { rig }) => rig_check::rig_check(&rig),
        Command::Rig(RigCommand::Safe { rig }) => commands::rig_safe(&rig),
        Command::Sim(SimCommand::Serve { rig, seed }) => sim_serve::serve(&rig, seed),
    }
}
