use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hil_cli::Cli::parse();
    hil_cli::init_logging();
    ExitCode::from(hil_cli::run(cli))
}
