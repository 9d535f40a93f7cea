//! The emulated rig: scenarios through the real drivers, talking over ptys to emulators wired to
//! the simulated devices, on a sped-up wall clock.

mod common;

use common::{run, text};
use rstest::rstest;
use serde_json::Value;

/// Scenarios whose instruments all act (battery simulators, supply, relay, attenuator) run through
/// the real drivers with the virtual rig's reviewed snapshots.
#[rstest]
#[case::f01_ring_low_battery("F01-ring-low-battery")]
#[case::f03_lock_batteries_weak("F03-lock-batteries-weak")]
#[case::f04_power_cycle_too_short("F04-power-cycle-too-short")]
#[case::f12_reset_order_wrong("F12-reset-order-wrong")]
#[case::f13_ring_reset_procedure("F13-ring-reset-procedure")]
#[case::f22_nothing_works("F22-nothing-works")]
fn catalog_scenarios_pass_through_the_real_drivers(#[case] id: &str) {
    let reports = tempfile::tempdir().unwrap();
    let (code, stdout, latest) = run(&[id, "--rig", "rigs/emulated.toml"], reports.path());
    assert_eq!(code, Some(0), "{stdout}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("results.json")).unwrap())
            .unwrap();
    let scenario = &results["scenarios"][0];
    assert_eq!(scenario["id"], id);
    assert_eq!(scenario["snapshot"]["status"], "matched", "{scenario:#}");
}

#[test]
fn a_scenario_runs_through_the_real_drivers_and_matches_the_virtual_rigs_snapshot() {
    let reports = tempfile::tempdir().unwrap();
    let (code, stdout, latest) = run(&["F15", "--rig", "rigs/emulated.toml"], reports.path());
    assert_eq!(code, Some(0), "{stdout}");

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("results.json")).unwrap())
            .unwrap();
    let scenario = &results["scenarios"][0];
    assert_eq!(scenario["outcome"], "PASS", "{scenario:#}");
    assert_eq!(scenario["snapshot"]["status"], "matched", "{scenario:#}");
    // The rig's time_scale of 10: generous bounds, the machine may be busy.
    let (rig, wall) = (
        scenario["rig_secs"].as_f64().unwrap(),
        scenario["wall_secs"].as_f64().unwrap(),
    );
    assert!(
        rig > 30.0 && wall < rig / 3.0,
        "rig {rig} s in wall {wall} s"
    );

    // What the drivers read back came from the emulators, wired to the devices: the lock's
    // supply current is what the simulated lock draws, the attenuation what the RCDAT is set to.
    let events = std::fs::read_to_string(latest.join("events.jsonl")).unwrap();
    let actions: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "instrument_action")
        .collect();
    let lock_on = actions
        .iter()
        .find(|a| a["instrument"] == "lock_cells" && a["readback"]["output_on"] == true)
        .unwrap_or_else(|| panic!("{}", text(events.as_bytes())));
    let amps = lock_on["readback"]["amps"].as_f64().unwrap();
    assert!(
        amps > 0.0 && amps < 0.1,
        "an idle lock draws milliamps, not a bench resistor's tens: {lock_on}"
    );
    assert!(
        actions
            .iter()
            .any(|a| a["instrument"] == "atten" && a["readback"]["db"] == 54.0),
        "{actions:#?}"
    );
    // The safe state: supplies off, the buttons' contacts open, the attenuator at its safe_db.
    let teardown: Vec<String> = actions
        .iter()
        .filter(|a| a["action"].as_str().unwrap().starts_with("safe state"))
        .map(|a| {
            format!(
                "{} {}",
                a["instrument"].as_str().unwrap(),
                a["action"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        teardown,
        [
            "psu safe state: ch3 off",
            "lock_cells safe state: ch1 off",
            "ring_cell safe state: ch1 off",
            "relay safe state: ch2 open",
            "relay safe state: ch1 open",
            "atten safe state: attenuation 0 dB",
        ],
    );
}

#[test]
fn rig_check_checks_each_emulated_instrument_through_its_real_driver() {
    let out = common::hil(&["rig", "check", "--rig", "rigs/emulated.toml"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for line in [
        "rigol-dp800        (emulated) RIGOL TECHNOLOGIES,DP832",
        "numato-relay       (emulated) firmware",
        "minicircuits-rcdat (emulated) RCDAT-6000-90",
    ] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
}

/// `hil sim serve` keeps an emulated rig's world up for any client: here the real 2281S driver,
/// as a bench script would use it, switches the ring's cell on and the ring boots.
#[test]
fn sim_serve_gives_each_emulator_a_pty_and_prints_the_devices_consoles() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut serve = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(["sim", "serve", "--rig", "rigs/emulated.toml"])
        .current_dir(common::repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(serve.stdout.take().unwrap());
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .try_for_each(|l| lines.send(l))
    });
    let next_line = || {
        printed
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("hil sim serve prints")
    };
    let mut cell_port = None;
    loop {
        let line = next_line();
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["ring_cell", "keithley-2281s", port] = words[..] {
            cell_port = Some(port.to_string());
        }
        if line.starts_with("hil: serving rig `emulated`") {
            break;
        }
    }
    let cell_port = cell_port.expect("the battery simulator's pty is printed");

    let mut cell = hil_rig::drivers::open(&hil_scenario::Instrument {
        name: "ring_cell".into(),
        driver: hil_scenario::Driver::Keithley2281s,
        channels: 1,
        port: Some(cell_port),
        baud: None,
        emulated: false,
        safe_db: None,
        shell: None,
        reach: Default::default(),
    })
    .unwrap();
    assert!(cell.identify().unwrap().contains("2281S"));
    let setpoint = hil_scenario::Setpoint {
        volts: 4.0,
        amps: 0.5,
        series_ohms: Some(0.2),
    };
    cell.apply(1, setpoint).unwrap();
    let booted = (0..50)
        .map(|_| next_line())
        .any(|line| line.contains("ring | *** Booting ring-fw"));
    assert!(booted, "the ring boots on the served battery simulator");

    // SIGTERM ends it cleanly.
    Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(serve.wait().unwrap().success());
}
