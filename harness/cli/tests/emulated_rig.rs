//! The emulated rig: scenarios through the real drivers, talking over ptys to emulators wired to
//! the simulated devices, on a sped-up wall clock.

mod common;

use common::{run, text};
use serde_json::Value;

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
        .find(|a| a["instrument"] == "psu" && a["readback"]["output_on"] == true)
        .unwrap_or_else(|| panic!("{}", text(events.as_bytes())));
    let amps = lock_on["readback"]["amps"].as_f64().unwrap();
    assert!(
        amps > 0.0 && amps < 0.1,
        "an idle lock draws milliamps, not a bench resistor's 60 mA: {lock_on}"
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
            "psu safe state: ch2 off",
            "psu safe state: ch1 off",
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

/// `hil sim serve` keeps an emulated rig's world up for any client: here the real Rigol driver,
/// as a bench script would use it, switches the lock's supply on and the lock boots.
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
    let mut stdout = BufReader::new(serve.stdout.take().unwrap()).lines();
    let mut next_line = || stdout.next().expect("hil sim serve still prints").unwrap();
    let mut psu_port = None;
    loop {
        let line = next_line();
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["psu", "rigol-dp800", port] = words[..] {
            psu_port = Some(port.to_string());
        }
        if line.starts_with("hil: serving rig `emulated`") {
            break;
        }
    }
    let psu_port = psu_port.expect("the supply's pty is printed");

    let mut psu = hil_rig::drivers::open(&hil_scenario::Instrument {
        name: "psu".into(),
        driver: hil_scenario::Driver::RigolDp800,
        channels: 3,
        port: Some(psu_port),
        baud: None,
        emulated: false,
        safe_db: None,
    })
    .unwrap();
    assert!(psu.identify().unwrap().contains("DP832"));
    let setpoint = hil_scenario::Setpoint {
        volts: 6.0,
        amps: 1.0,
        series_ohms: None,
    };
    psu.apply(2, setpoint).unwrap();
    let booted = (0..50)
        .map(|_| next_line())
        .any(|line| line.contains("lock | *** Booting lock-fw"));
    assert!(booted, "the lock boots on the served supply");

    // SIGTERM ends it cleanly.
    Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(serve.wait().unwrap().success());
}
