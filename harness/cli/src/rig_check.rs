//! `hil rig check`: is every instrument of a rig there, the model the rig file says, and
//! answering? One line per instrument and per device's debug probe, with what to do about the
//! ones that are not.

use std::io::Write;
use std::path::Path;

use std::time::Duration;

use hil_rig::drivers::bluez::{DEFAULT_ADAPTER, check_adapter};
use hil_rig::drivers::{SerialConsole, SmpClient, Unanswered};
use hil_scenario::{ConsolePort, Driver, Instrument, Rig, SmpPort};

use crate::catalog::CatalogError;
use crate::commands::config_error;
use crate::{EXIT_FAIL, EXIT_PASS};

/// One thing checked: status (`OK`/`ERROR`), name, what it is, detail.
pub(crate) type Line<'a> = (&'static str, &'a str, &'static str, String);

/// Exit 0 if every instrument answered as expected, 1 otherwise, 2 if the rig file is invalid.
pub fn rig_check(path: &Path) -> u8 {
    let rig = match hil_rig::drivers::load_rig(path) {
        Ok(rig) => rig,
        Err(e) => return config_error(CatalogError::Config(e)),
    };
    let lines = check_rig(&rig, Scope::Everything);
    let failed = print(&lines);
    println!(
        "hil: {} of {} instrument(s), console(s), SMP port(s) and probe(s) OK on rig `{}`",
        lines.len() - failed,
        lines.len(),
        rig.name
    );
    if failed == 0 { EXIT_PASS } else { EXIT_FAIL }
}

/// What to check: everything, or only the hardware (what `hil run` checks before it starts:
/// virtual and emulated parts are built fresh for every scenario).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Everything,
    Hardware,
}

pub(crate) fn check_rig(rig: &Rig, scope: Scope) -> Vec<Line<'_>> {
    let everything = scope == Scope::Everything;
    let mut lines = Vec::new();
    for instrument in rig.instruments.values() {
        if everything || !instrument.is_simulated() {
            let (status, detail) = check(rig, instrument);
            lines.push((
                status,
                instrument.name.as_str(),
                instrument.driver.name(),
                detail,
            ));
        }
    }
    for device in rig.devices.values() {
        let name = device.name.as_str();
        if let Some(console) = &device.console
            && (everything || matches!(console, ConsolePort::Serial { .. }))
        {
            let (status, detail) = check_console(name, console);
            lines.push((status, name, "console", detail));
        }
        if let Some(port) = &device.smp
            && (everything || matches!(port, SmpPort::Serial { .. }))
        {
            let (status, detail) = check_smp(name, port);
            lines.push((status, name, "mcumgr-smp", detail));
        }
        if let Some(wiring) = &device.probe {
            let (status, detail) = match hil_rig::drivers::check_probe(name, wiring) {
                Ok(found) => ("OK", found),
                Err(e) => ("ERROR", e.message),
            };
            lines.push((status, name, "probe-rs", detail));
        }
    }
    lines
}

/// Prints one line per thing checked; returns how many failed.
pub(crate) fn print(lines: &[Line<'_>]) -> usize {
    let mut stdout = std::io::stdout().lock();
    for (status, name, kind, detail) in lines {
        let _ = writeln!(stdout, "{status:<5}  {name:<12} {kind:<18} {detail}");
    }
    lines.iter().filter(|l| l.0 == "ERROR").count()
}

fn check(rig: &Rig, instrument: &Instrument) -> (&'static str, String) {
    if instrument.driver.is_virtual() {
        return ("OK", "(virtual)".into());
    }
    if instrument.emulated && instrument.driver == Driver::Bluez {
        return check_emulated_bluez(rig, instrument);
    }
    if instrument.emulated && instrument.driver.is_central() {
        return check_emulated_central(rig, instrument);
    }
    if instrument.emulated {
        return check_emulated(instrument);
    }
    let port = instrument.port.as_deref().unwrap_or_default();
    match hil_rig::drivers::check(instrument) {
        Ok(readback) if port.is_empty() => ("OK", readback),
        Ok(readback) => ("OK", format!("{port}: {readback}")),
        Err(e) => ("ERROR", e.message),
    }
}

/// How long a console is listened to for a first line.
const LISTEN: Duration = Duration::from_secs(1);

/// A device's console opens, and what it says in the first second is readable: a silent one is
/// fine (the device may be off), line noise means a wrong baud rate.
fn check_console(device: &str, console: &ConsolePort) -> (&'static str, String) {
    let ConsolePort::Serial { port, baud } = console else {
        return (
            "OK",
            "(emulated: the simulated device's log on a pty)".into(),
        );
    };
    let mut reader = match SerialConsole::open(device, port, *baud) {
        Ok(reader) => reader,
        Err(e) => return ("ERROR", e.message),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return ("ERROR", e.to_string()),
    };
    let first = runtime.block_on(async { tokio::time::timeout(LISTEN, reader.next_line()).await });
    match first {
        Err(_) => ("OK", format!("{port}: silent for {LISTEN:?} (device off?)")),
        Ok(Err(e)) => ("ERROR", e.message),
        Ok(Ok(None)) => ("ERROR", format!("{port}: closed at once")),
        Ok(Ok(Some(line))) if looks_like_noise(&line.text) => (
            "ERROR",
            format!(
                "{port}: unreadable at {baud} baud: {:?} (wrong `baud`?)",
                line.text
            ),
        ),
        Ok(Ok(Some(line))) => ("OK", format!("{port}: {:?}", line.text)),
    }
}

/// A device's MCUmgr port opens and, if the device is on, answers an echo. Silence is fine (the
/// device may be off); an error answer or a port that will not open is not.
fn check_smp(device: &str, port: &SmpPort) -> (&'static str, String) {
    let (path, baud) = match port {
        SmpPort::Emulated => {
            return (
                "OK",
                "(emulated, in front of the simulated firmware)".into(),
            );
        }
        SmpPort::Serial { port, baud } => (port, *baud),
    };
    let mut client = SmpClient::new(device, path, baud);
    match client.hello() {
        Ok(Ok(())) => ("OK", format!("{path}: MCUmgr answers")),
        Ok(Err(Unanswered::Silent)) => (
            "OK",
            format!("{path}: silent (device off, or not running MCUmgr on this UART?)"),
        ),
        Ok(Err(Unanswered::Refused(why))) => ("ERROR", format!("{path}: {why}")),
        Err(e) => ("ERROR", e.message),
    }
}

/// Mostly bytes that are not text: what a UART read at the wrong baud rate gives.
fn looks_like_noise(line: &str) -> bool {
    let odd = line
        .chars()
        .filter(|c| *c == '\u{fffd}' || (c.is_control() && *c != '\t'))
        .count();
    odd * 4 > line.chars().count()
}

/// An emulated instrument is checked like a real one, against its emulator: the driver's half.
fn check_emulated(instrument: &Instrument) -> (&'static str, String) {
    let emulator = match hil_sim::emulators::Emulator::start(instrument.driver) {
        Ok(Some(emulator)) => emulator,
        Ok(None) => return ("ERROR", "no emulator for this driver".into()),
        Err(e) => return ("ERROR", format!("cannot start its emulator: {e}")),
    };
    check_through_driver(instrument, &emulator)
}

/// The real driver's check, on the emulator's pty.
fn check_through_driver(
    instrument: &Instrument,
    emulator: &hil_sim::emulators::Emulator,
) -> (&'static str, String) {
    let on_pty = Instrument {
        port: Some(emulator.port().to_string()),
        ..instrument.clone()
    };
    match hil_rig::drivers::check(&on_pty) {
        Ok(readback) => ("OK", format!("(emulated) {readback}")),
        Err(e) => ("ERROR", format!("(emulated) {}", e.message)),
    }
}

/// An emulated central's radio is the simulated world's: the world runs while it is checked.
fn check_emulated_central(rig: &Rig, instrument: &Instrument) -> (&'static str, String) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return ("ERROR", format!("cannot start the simulated world: {e}")),
    };
    let world_runtime = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let world_thread = std::thread::spawn(move || runtime.block_on(stopped));
    let mut world = world_runtime.block_on(async { hil_sim::start_world(rig, 1) });
    let checked = match world.emulators.remove(&instrument.name) {
        Some(Ok(emulator)) => check_through_driver(instrument, &emulator),
        Some(Err(e)) => ("ERROR", format!("cannot start its emulator: {e}")),
        None => ("ERROR", "no emulator for this driver".into()),
    };
    drop(world);
    drop(stop);
    let _ = world_thread.join();
    checked
}

/// An emulated BlueZ needs the simulated devices behind its radio: the rig's world is started for
/// the check, and the driver's check runs against the emulator on the private bus.
fn check_emulated_bluez(rig: &Rig, instrument: &Instrument) -> (&'static str, String) {
    let adapter = instrument.adapter.as_deref().unwrap_or(DEFAULT_ADAPTER);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return ("ERROR", format!("cannot start a runtime: {e}")),
    };
    let checked = runtime.block_on(async {
        let world = hil_sim::start_world(rig, 1);
        if let Some(Err(e)) = world.emulators.get(&instrument.name) {
            return Err(e.to_string());
        }
        check_adapter(adapter).await.map_err(|e| e.to_string())
    });
    match checked {
        Ok(address) => ("OK", format!("(emulated) {adapter} {address}, powered")),
        Err(e) => ("ERROR", format!("(emulated) {e}")),
    }
}
