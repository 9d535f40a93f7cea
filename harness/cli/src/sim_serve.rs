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
            uarts,
            ..
        } = hil_sim::start_world(&rig, seed);
        // One line per pty: what it is, and where. A device's MCUmgr UART takes
        // `mcumgr --conntype serial --connstring dev=<pty>`; its console UART, any terminal.
        let mut ptys: Vec<(String, &str, Result<&str, String>)> = Vec::new();
        for (name, emulator) in &emulators {
            let driver = rig.instruments[name].driver.name();
            ptys.push((name.clone(), driver, port_of(emulator, |e| e.port())));
        }
        for (device, emulator) in &smp {
            ptys.push((
                format!("{device}.smp"),
                "mcumgr-smp",
                port_of(emulator, |e| e.port()),
            ));
        }
        for (device, uart) in &uarts {
            ptys.push((
                format!("{device}.console"),
                "uart",
                port_of(uart, |u| u.port()),
            ));
        }
        let mut stdout = std::io::stdout().lock();
        for (name, kind, port) in &ptys {
            let _ = match port {
                Ok(port) => writeln!(stdout, "{name:<12} {kind:<18} {port}"),
                Err(e) => writeln!(stdout, "{name:<12} {kind:<18} ERROR cannot start: {e}"),
            };
        }
        // An emulated BlueZ is not on a pty but on the private bus (it failed if unset).
        let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_default();
        for instrument in rig.instruments.values() {
            if instrument.emulated && !emulators.contains_key(&instrument.name) {
                let (name, driver) = (&instrument.name, instrument.driver.name());
                let _ = writeln!(stdout, "{name:<12} {driver:<18} org.bluez on {bus}");
            }
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

fn port_of<T>(started: &std::io::Result<T>, port: impl Fn(&T) -> &str) -> Result<&str, String> {
    started.as_ref().map(port).map_err(ToString::to_string)
}

async fn print_console(device: String, mut console: Box<dyn Console>) {
    while let Ok(Some(line)) = console.read_line().await {
        println!("{device:>6} | {line}");
    }
}
