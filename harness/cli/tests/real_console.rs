//! `hil run` reading a real device's console: its lines, from a pty, become the device's events
//! through its profile's log rules.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hil_scenario::Driver;
use hil_sim::emulators::Emulator;
use serialport::{SerialPort, TTYPort};

use common::{bench_run, refused_then_run_unchecked, repo, run_bench_verbose};

/// A bench: the ring fed by an emulated Rigol, its log on `console`.
fn bench(dir: &Path, psu: &str, console: &str) -> PathBuf {
    let profiles = repo().join("fixtures/profiles");
    let rig = format!(
        r#"name = "bench-console-{pid}"

[instrument.psu]
driver = "rigol-dp800"
port = "{psu}"

[device.ring]
profile = "{profiles}/ring-fw-2.1.toml"
power = {{ instrument = "psu", channel = 1, max_volts = 4.25, max_amps = 0.5 }}
console = {{ port = "{console}" }}
"#,
        pid = std::process::id(),
        profiles = profiles.display()
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, rig).unwrap();
    path
}

/// Power the ring, then wait up to `within` for its console to say it advertises.
fn scenario(dir: &Path, within: &str) -> PathBuf {
    let path = dir.join("console.toml");
    std::fs::write(
        &path,
        format!(
            r#"id = "T-console"
failure = "F01"
title = "Console only"
needs = ["ring.power", "ring.console"]
timeout = "2m"

[[setup]]
power = {{ device = "ring", volts = 3.7, amps = 0.3 }}
[[reproduce]]
wait_for = {{ device = "ring", event = "advertising", within = "{within}" }}
[[recover]]
power = {{ device = "ring", volts = 4.2, amps = 0.3 }}
"#
        ),
    )
    .unwrap();
    path
}

fn run(rig: &Path, dir: &Path) -> (Option<i32>, String) {
    run_bench_verbose(&scenario(dir, "1m"), rig, &dir.join("reports"))
}

#[test]
fn a_devices_console_lines_become_its_events() {
    let psu = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let (mut master, slave) = TTYPort::pair().unwrap();
    let console = slave.name().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), psu.port(), &console);
    // The ring logs until the run is over: whenever `hil` starts reading, a line comes.
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::spawn({
        let stop = stop.clone();
        move || {
            let _slave = slave;
            while !stop.load(Ordering::Relaxed) {
                let line = b"[00:00:01.234,000] <inf> bt: advertising as ring\r\n";
                if master.write_all(line).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });

    let (code, output) = run(&rig, dir.path());
    stop.store(true, Ordering::Relaxed);

    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("advertising"), "{output}");
}

#[test]
fn a_console_that_is_not_there_is_a_rig_error_naming_the_port() {
    let psu = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), psu.port(), "/dev/ttyUSB-no-console");

    let mut args = bench_run(
        &scenario(dir.path(), "1m"),
        &rig,
        &dir.path().join("reports"),
    );
    args.push("-v".into());
    let (code, output) = refused_then_run_unchecked(args, "/dev/ttyUSB-no-console");

    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("ERROR   T-console"), "{output}");
    assert!(
        output.contains("/dev/ttyUSB-no-console does not exist"),
        "{output}"
    );
}

/// A console flooding line noise (a wrong baud rate, a crashed logger) does not hang the run:
/// `hil run`'s rig check refuses to start on it, and past the check the awaited event never
/// comes, so the step fails at its deadline and the supply still ends off.
#[test]
fn a_console_flooding_garbage_ends_the_wait_at_its_deadline() {
    let psu = Emulator::start(Driver::RigolDp800).unwrap().unwrap();
    let (mut master, slave) = TTYPort::pair().unwrap();
    let console = slave.name().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rig = bench(dir.path(), psu.port(), &console);
    let stop = Arc::new(AtomicBool::new(false));
    let flood = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let _slave = slave;
            // Bytes of every value, CR and LF among them, at what a 115200-baud UART carries
            // (11.5 kB/s; a pty would take them far faster than any UART delivers).
            let noise: Vec<u8> = (0..=255u8).cycle().take(1152).collect();
            // Writes give up after a while once nobody reads, so the flag is seen.
            master.set_timeout(Duration::from_millis(100)).unwrap();
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                match master.write(&noise) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            sent
        }
    });
    let scenario = scenario(dir.path(), "5s");

    // Checked before the run, the noise is named as a baud problem and nothing runs; past the
    // check (or if the noise starts later), the wait ends at its deadline.
    let mut args = bench_run(&scenario, &rig, &dir.path().join("reports"));
    args.push("-v".into());
    let (code, output) = refused_then_run_unchecked(args, "unreadable at 115200 baud");
    stop.store(true, Ordering::Relaxed);
    let sent = flood.join().unwrap();

    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("ring did not report `advertising` within 5s"),
        "{output}"
    );
    assert!(sent > 20_000, "the flood was real: {sent} bytes");
    assert!(!psu.channel(1).unwrap().on, "safe state");
}
