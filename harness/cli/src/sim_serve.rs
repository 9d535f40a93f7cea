//! `hil sim serve`: an emulated rig's world, kept running for other tools. Each emulated
//! instrument waits on its pty for any client (pyvisa, a terminal, a bench script) and the
//! simulated devices' consoles are printed, so switching a supply output on over SCPI shows the
//! device boot. Runs at the speed of life: clients time their own waits.

use std::io::Write;
use std::path::Path;

use hil_rig::Console;

use crate::catalog::CatalogError;
use crate::commands::{config_error, stop_on_signals};
use crate::{EXIT_CONFIG, EXIT_PASS};

pub fn serve(path: &Path, seed: u64) -> u8 {
    let rig = match hil_rig::drivers::load_rig(path) {
        Ok(rig) => rig,
        Err(e) => return config_error(CatalogError::Config(e)),
    };
    let emulated_smp = rig
        .devices
        .values()
        .any(|d| d.smp == Some(hil_scenario::SmpPort::Emulated));
    if !rig.instruments.values().any(|i| i.emulated) && !emulated_smp {
        eprintln!(
            "error: rig `{}` has no `emulated = true` instrument or SMP port: nothing to serve",
            rig.name
        );
        return EXIT_CONFIG;
    }
    let interrupt = stop_on_signals("the emulators close");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_CONFIG;
        }
    };
    runtime.block_on(async {
        let hil_sim::World {
            rig: world,
            emulators,
            smp,
        } = hil_sim::start_world(&rig, seed);
        let mut stdout = std::io::stdout().lock();
        for (name, emulator) in &emulators {
            let driver = rig.instruments[name].driver.name();
            let _ = match emulator {
                Ok(emulator) => writeln!(stdout, "{name:<12} {driver:<18} {}", emulator.port()),
                Err(e) => writeln!(stdout, "{name:<12} {driver:<18} ERROR cannot start: {e}"),
            };
        }
        // A device's MCUmgr UART: `mcumgr --conntype serial --connstring dev=<pty>` talks to it.
        for (device, emulator) in &smp {
            let name = format!("{device}.smp");
            let _ = match emulator {
                Ok(emulator) => writeln!(
                    stdout,
                    "{name:<12} {:<18} {}",
                    "mcumgr-smp",
                    emulator.port()
                ),
                Err(e) => writeln!(
                    stdout,
                    "{name:<12} {:<18} ERROR cannot start: {e}",
                    "mcumgr-smp"
                ),
            };
        }
        let _ = writeln!(
            stdout,
            "hil: serving rig `{}` (seed {seed}); Ctrl-C stops",
            rig.name
        );
        let _ = stdout.flush();
        drop(stdout);
        for (device, console) in world.consoles {
            tokio::spawn(print_console(device, console));
        }
        interrupt.raised().await;
        drop(emulators);
        drop(smp);
    });
    EXIT_PASS
}

async fn print_console(device: String, mut console: Box<dyn Console>) {
    while let Ok(Some(line)) = console.read_line().await {
        println!("{device:>6} | {line}");
    }
}
