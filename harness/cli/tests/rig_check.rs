//! `hil rig check` against emulated supplies on real ptys, and against a port that is not there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hil_scenario::Driver;
use hil_sim::emulators::{Emulator, Fault};

fn hil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("hil runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn emulator(driver: Driver) -> Emulator {
    Emulator::start(driver).unwrap().unwrap()
}

/// A rig file with `instruments` (name, driver, port) and a virtual phone.
fn rig_file(dir: &tempfile::TempDir, instruments: &[(&str, Driver, &str)]) -> PathBuf {
    let mut toml =
        String::from("name = \"bench\"\n\n[instrument.phone]\ndriver = \"virtual-central\"\n");
    for (name, driver, port) in instruments {
        toml += &format!(
            "\n[instrument.{name}]\ndriver = \"{}\"\nport = \"{port}\"\n",
            driver.name()
        );
    }
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn line<'a>(stdout: &'a str, instrument: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(instrument))
        .unwrap_or_else(|| panic!("no line for {instrument} in:\n{stdout}"))
}

#[test]
fn every_emulated_supply_checks_out() {
    let models = [
        ("dp832", Driver::RigolDp800, "RIGOL TECHNOLOGIES,DP832"),
        (
            "spd",
            Driver::SiglentSpd3303x,
            "Siglent Technologies,SPD3303X",
        ),
        (
            "e36312",
            Driver::KeysightE36300,
            "Keysight Technologies,E36312A",
        ),
        ("korad", Driver::KoradKa3005p, "KORAD KA3005P"),
        ("riden", Driver::RidenRd60xx, "Riden RD6006"),
        ("k2281", Driver::Keithley2281s, "MODEL 2281S-20-6"),
    ];
    let emulators: Vec<Emulator> = models.iter().map(|(_, d, _)| emulator(*d)).collect();
    let dir = tempfile::tempdir().unwrap();
    let instruments: Vec<_> = models
        .iter()
        .zip(&emulators)
        .map(|((name, driver, _), e)| (*name, *driver, e.port()))
        .collect();
    let rig = rig_file(&dir, &instruments);

    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);

    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for ((name, _, identity), emulator) in models.iter().zip(&emulators) {
        let line = line(&stdout, name);
        assert!(line.starts_with("OK"), "{line}");
        assert!(line.contains(emulator.port()), "{line}");
        assert!(line.contains(identity), "{line}");
        assert!(line.contains("CH1 off 0.000 V 0.000 A"), "{line}");
    }
    assert!(line(&stdout, "phone").contains("OK") && stdout.contains("(virtual)"));
    assert!(
        stdout.contains("7 of 7 instrument(s), console(s), SMP port(s) and probe(s) OK"),
        "{stdout}"
    );
}

#[test]
fn emulated_relay_boards_and_an_attenuator_check_out() {
    let models = [
        ("numato", Driver::NumatoRelay),
        ("lcus", Driver::LcusRelay),
        ("rcdat", Driver::MinicircuitsRcdat),
    ];
    let emulators: Vec<Emulator> = models.iter().map(|(_, d)| emulator(*d)).collect();
    let dir = tempfile::tempdir().unwrap();
    let instruments: Vec<_> = models
        .iter()
        .zip(&emulators)
        .map(|((name, driver), e)| (*name, *driver, e.port()))
        .collect();
    let rig = rig_file(&dir, &instruments);

    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);

    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let numato = line(&stdout, "numato");
    assert!(
        numato
            .contains("firmware 00000008; relay 1 open; relay 2 open; relay 3 open; relay 4 open"),
        "{numato}"
    );
    assert!(
        line(&stdout, "lcus").contains("cannot be asked anything"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "rcdat").contains("RCDAT-6000-90; 0.00 dB"),
        "{stdout}"
    );
    assert!(
        stdout.contains("4 of 4 instrument(s), console(s), SMP port(s) and probe(s) OK"),
        "{stdout}"
    );
}

#[test]
fn a_relay_board_in_place_of_an_attenuator_is_named() {
    let numato = emulator(Driver::NumatoRelay);
    let dir = tempfile::tempdir().unwrap();
    let rig = rig_file(&dir, &[("att", Driver::MinicircuitsRcdat, numato.port())]);

    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);

    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let att = line(&stdout, "att");
    assert!(
        att.starts_with("ERROR") && att.contains("wrong model"),
        "{att}"
    );
    assert!(att.contains(numato.port()), "{att}");
}

#[test]
fn a_missing_port_a_wrong_model_and_a_silent_supply_are_named() {
    let keysight = emulator(Driver::KeysightE36300);
    let silent = emulator(Driver::SiglentSpd3303x);
    silent.inject(Fault::Late(Duration::from_secs(60)));
    let dir = tempfile::tempdir().unwrap();
    let rig = rig_file(
        &dir,
        &[
            ("psu1", Driver::RigolDp800, "/dev/ttyHIL-not-plugged-in"),
            ("psu2", Driver::RigolDp800, keysight.port()),
            ("psu3", Driver::SiglentSpd3303x, silent.port()),
        ],
    );

    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);

    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let missing = line(&stdout, "psu1");
    assert!(missing.starts_with("ERROR"), "{missing}");
    assert!(
        missing.contains("/dev/ttyHIL-not-plugged-in does not exist"),
        "{missing}"
    );
    let wrong = line(&stdout, "psu2");
    assert!(
        wrong.starts_with("ERROR") && wrong.contains("wrong model"),
        "{wrong}"
    );
    assert!(line(&stdout, "phone").starts_with("OK"), "{stdout}");
}

#[test]
fn a_real_supply_without_a_port_is_a_located_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("bench.toml");
    std::fs::write(
        &rig,
        "name = \"bench\"\n\n[instrument.psu1]\ndriver = \"korad-ka3005p\"\n",
    )
    .unwrap();

    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);

    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:4:10: instrument `psu1` (korad-ka3005p) has no `port`",
            rig.display()
        )),
        "{stderr}"
    );
}

#[rstest::rstest]
#[case::dp832(
    "rigs/bench-dp832.toml",
    "psu",
    "usb-RIGOL_TECHNOLOGIES_DP832_DP8C000000000-if00"
)]
#[case::keithley_2281s(
    "rigs/bench-2281s.toml",
    "cell",
    "usb-GPIB_bridge_to_KEITHLEY_2281S-if00"
)]
fn an_example_bench_rig_is_valid_and_names_its_missing_supply(
    #[case] rig: &str,
    #[case] supply: &str,
    #[case] port: &str,
) {
    let out = hil(&["rig", "check", "--rig", rig]);

    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let line = line(&stdout, supply);
    assert!(line.starts_with("ERROR"), "{line}");
    assert!(line.contains(&format!("{port} does not exist")), "{line}");
}

/// A rig with a real device console on `port` and nothing else but a virtual phone.
fn console_rig(dir: &tempfile::TempDir, port: &str) -> PathBuf {
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/profiles");
    let toml = format!(
        "name = \"bench\"\n\n[instrument.phone]\ndriver = \"virtual-central\"\n\n[device.ring]\nprofile = \"{}/ring-fw-2.1.toml\"\nconsole = {{ port = \"{port}\" }}\n",
        profiles.display()
    );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

#[test]
fn a_console_is_opened_and_its_first_line_shown_or_its_noise_named() {
    use std::io::Write;

    use serialport::{SerialPort, TTYPort};

    for (sent, status, shown) in [
        (
            &b"*** Booting ring-fw v2.1.0 ***\r\n"[..],
            "OK",
            "\"*** Booting ring-fw v2.1.0 ***\"",
        ),
        (
            &b"\xf0\x9f\xfe\x80\x13\x88\xff\xfe\r\n"[..],
            "ERROR",
            "unreadable at 115200 baud",
        ),
        (&b""[..], "OK", "silent for 1s (device off?)"),
    ] {
        let (mut device, console) = TTYPort::pair().unwrap();
        let port = console.name().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rig = console_rig(&dir, &port);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            device.write_all(sent).unwrap();
            std::thread::sleep(Duration::from_secs(2));
            drop(device);
        });

        let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);
        let stdout = text(&out.stdout);
        let ring = line(&stdout, "ring");
        assert!(ring.starts_with(status) && ring.contains(shown), "{ring}");
        assert_eq!(
            out.status.code(),
            Some(if status == "OK" { 0 } else { 1 }),
            "{stdout}"
        );
        drop(console);
        writer.join().unwrap();
    }
}

#[test]
fn a_console_port_that_is_not_there_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let rig = console_rig(&dir, "/dev/ttyUSB-gone");
    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    let ring = line(&stdout, "ring");
    assert!(
        ring.starts_with("ERROR") && ring.contains("/dev/ttyUSB-gone"),
        "{ring}"
    );
    assert_eq!(out.status.code(), Some(1));
}

/// A bench ring with a J-Link on its SWD pins (`chip` as given).
fn probe_rig(dir: &tempfile::TempDir, chip: &str) -> PathBuf {
    let profile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/profiles/ring-fw-2.1.toml");
    let toml = format!(
        "name = \"bench\"\n\n[device.ring]\nprofile = {:?}\nprobe = {{ selector = \"1366:1015\", chip = \"{chip}\" }}\n",
        profile.display().to_string()
    );
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// No probe is plugged into this machine: the probe's line is an ERROR that says what to check.
#[test]
fn a_missing_debug_probe_is_an_error_line_with_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let rig = probe_rig(&dir, "nRF52840_xxAA");

    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);

    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let probe = line(&stdout, "ring");
    assert!(
        probe.starts_with("ERROR") && probe.contains("probe-rs"),
        "{probe}"
    );
    assert!(
        probe.contains("no debug probe 1366:1015 attached; probes found: none"),
        "{probe}"
    );
    assert!(
        probe.contains("udev") && probe.contains("plugdev"),
        "{probe}"
    );
    assert!(
        stdout.contains("0 of 1 instrument(s), console(s), SMP port(s) and probe(s) OK"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_chip_is_refused_at_its_place_in_the_rig_file() {
    let dir = tempfile::tempdir().unwrap();
    let rig = probe_rig(&dir, "nRF52841_xxAA");

    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);

    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bench.toml:5:42: unknown chip `nRF52841_xxAA`"),
        "{stderr}"
    );
    assert!(stderr.contains("nRF52840_xxAA"), "closest names: {stderr}");
}

#[test]
fn an_smp_port_is_named_when_it_is_missing_and_a_silent_one_passes() {
    use serialport::{SerialPort, TTYPort};

    let dir = tempfile::tempdir().unwrap();
    let rig = console_rig(&dir, "/dev/ttyUSB-gone");
    let rig_text = std::fs::read_to_string(&rig)
        .unwrap()
        .replace("console = {", "smp = {");
    std::fs::write(&rig, rig_text).unwrap();
    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    let ring = line(&stdout, "ring");
    assert!(
        ring.starts_with("ERROR")
            && ring.contains("mcumgr-smp")
            && ring.contains("/dev/ttyUSB-gone"),
        "{ring}"
    );
    assert_eq!(out.status.code(), Some(1));

    // A UART nobody answers on: the device may just be off.
    let (_device, uart) = TTYPort::pair().unwrap();
    let port = uart.name().unwrap();
    let rig_text = std::fs::read_to_string(&rig)
        .unwrap()
        .replace("/dev/ttyUSB-gone", &port);
    std::fs::write(&rig, rig_text).unwrap();
    let out = hil(&["rig", "check", "--rig", rig.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    let ring = line(&stdout, "ring");
    assert!(ring.starts_with("OK") && ring.contains("silent"), "{ring}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}
