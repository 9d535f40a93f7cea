//! Bad scenario, rig and profile files are refused with `file:line:col` and what was expected.

use std::path::{Path, PathBuf};

use hil_scenario::{ConfigErrors, PlanError, Rig, Scenario, SmpPort};
use rstest::rstest;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn virtual_rig() -> Rig {
    Rig::load(&repo().join("rigs/virtual.toml")).expect("the built-in rig loads")
}

const GOOD: &str = r#"id = "T01"
failure = "F01"
title = "test"
needs = ["ring.power", "central"]

[[reproduce]]
power = { device = "ring", volts = 3.62, series_ohms = 1.0 }
[[reproduce]]
pair = { central = "phone", device = "ring", expect = "fail" }
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Loads and plans a scenario, returning every error as `location: message`.
fn scenario_errors(text: &str) -> (PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "scenario.toml", text);
    let errors = match Scenario::load(&path) {
        Err(e) => e,
        Ok(scenario) => match scenario.plan(&virtual_rig()) {
            Err(PlanError::Invalid(e)) => e,
            Err(PlanError::NotRunnable(reasons)) => panic!("not runnable: {reasons:?}"),
            Err(PlanError::Incompatible(reasons)) => panic!("incompatible: {reasons:?}"),
            Ok(_) => ConfigErrors { errors: vec![] },
        },
    };
    (
        path,
        errors.errors.iter().map(ToString::to_string).collect(),
    )
}

#[test]
fn the_good_scenario_plans() {
    let (_, errors) = scenario_errors(GOOD);
    assert!(errors.is_empty(), "{errors:?}");
}

#[rstest]
#[case::typo_in_key(
    ("volts = 3.62", "volst = 3.62"),
    "7:28",
    "unknown field `volst`, expected one of"
)]
#[case::wrong_type(("volts = 3.62", "volts = \"high\""), "7:36", "invalid type: string \"high\", expected f64")]
#[case::unknown_device(("device = \"ring\", volts", "device = \"rnig\", volts"), "7:20", "unknown device `rnig`")]
#[case::over_the_rig_limit(("volts = 3.62", "volts = 4.5"), "7:36", "volts = 4.5 is outside 0..=4.25")]
#[case::series_resistance_over_limit(("series_ohms = 1.0", "series_ohms = 50.0"), "7:56", "series_ohms = 50 is outside 0..=10")]
#[case::unknown_central(("central = \"phone\"", "central = \"tablet\""), "9:20", "unknown central `tablet`")]
#[case::unknown_step(("pair = {", "pear = {"), "9:1", "unknown variant `pear`, expected one of `power`, `pair`, `wait_for`, `wait`")]
#[case::unknown_top_level_key(("title = \"test\"", "titel = \"test\""), "3:1", "unknown field `titel`")]
#[case::unknown_failure(("failure = \"F01\"", "failure = \"F99\""), "2:11", "unknown failure \"F99\"")]
#[case::unknown_capability(("\"ring.power\"", "\"ring.pwr\""), "4:10", "unknown capability `pwr`")]
#[case::bad_duration(("expect = \"fail\"", "expect = \"fail\", within = \"soon\""), "9:72", "invalid duration \"soon\"")]
fn scenario_errors_point_at_the_problem(
    #[case] edit: (&str, &str),
    #[case] line_col: &str,
    #[case] message: &str,
) {
    assert!(GOOD.contains(edit.0), "the edit applies");
    let (path, errors) = scenario_errors(&GOOD.replacen(edit.0, edit.1, 1));
    let expected = format!("{}:{line_col}: ", path.display());
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&expected) && e.contains(message)),
        "expected an error at {expected} containing {message:?}, got {errors:#?}"
    );
}

#[test]
fn unknown_wait_for_event_lists_the_profiles_events() {
    let text = format!(
        "{GOOD}[[recover]]\nwait_for = {{ device = \"ring\", event = \"bot\", within = \"5s\" }}\n"
    );
    let (_, errors) = scenario_errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(":11:39: profile `ring-fw` has no event `bot`"),
        "{errors:?}"
    );
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let text = GOOD
        .replace(
            "device = \"ring\", volts = 3.62",
            "device = \"ring\", volts = 9.0",
        )
        .replace("central = \"phone\"", "central = \"tablet\"");
    let (_, errors) = scenario_errors(&text);
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn a_rig_without_a_needed_capability_skips_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "s.toml",
        &GOOD.replace("\"central\"]", "\"central\", \"ring.nfc\"]"),
    );
    // `ring.nfc` is not a capability name at all: that is an error, not a skip.
    assert!(Scenario::load(&path).is_err());

    let path = write(
        dir.path(),
        "s.toml",
        &GOOD.replace("\"central\"]", "\"central\", \"doorbell\"]"),
    );
    let scenario = Scenario::load(&path).unwrap();
    match scenario.plan(&virtual_rig()) {
        Err(PlanError::NotRunnable(reasons)) => {
            assert_eq!(reasons, vec!["rig `virtual` has no `doorbell`".to_string()]);
        }
        other => panic!("expected NotRunnable, got {other:?}"),
    }
}

fn rig_errors(text: &str) -> (PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let profiles = repo().join("fixtures/profiles");
    let text = text.replace("PROFILES", &profiles.display().to_string());
    let path = write(dir.path(), "rig.toml", &text);
    let errors = Rig::load(&path).err().map(|e| e.errors).unwrap_or_default();
    (path, errors.iter().map(ToString::to_string).collect())
}

/// Loads a rig file's text (`PROFILES` standing for the fixture profiles), which must be valid.
fn load_rig(text: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let profiles = repo().join("fixtures/profiles");
    let text = text.replace("PROFILES", &profiles.display().to_string());
    Rig::load(&write(dir.path(), "rig.toml", &text)).unwrap()
}

const GOOD_RIG: &str = r#"name = "bench"

[instrument.psu]
driver = "virtual-psu"

[device.ring]
profile = "PROFILES/ring-fw-2.1.toml"
sim = "ring"
power = { instrument = "psu", channel = 1, max_volts = 4.25, max_amps = 0.5 }
"#;

#[test]
fn the_good_rig_loads() {
    let (_, errors) = rig_errors(GOOD_RIG);
    assert!(errors.is_empty(), "{errors:?}");
}

#[rstest]
#[case::unknown_driver(("virtual-psu", "rigol-dp9000"), "4:10", "unknown variant `rigol-dp9000`")]
#[case::typo_in_key(("max_amps", "max_amsp"), "9:62", "unknown field `max_amsp`")]
#[case::unknown_instrument(("instrument = \"psu\"", "instrument = \"psu9\""), "9:24", "unknown instrument `psu9`")]
#[case::missing_channel(("channel = 1", "channel = 3"), "9:24", "channel 3 does not exist on `psu`")]
#[case::missing_profile(("ring-fw-2.1.toml", "ring-fw-0.toml"), "7:11", "cannot read profile")]
#[case::wrong_type(("max_volts = 4.25", "max_volts = \"4.25\""), "9:56", "invalid type: string \"4.25\", expected f64")]
#[case::real_driver_without_port(("\"virtual-psu\"", "\"rigol-dp800\""), "4:10", "instrument `psu` (rigol-dp800) has no `port`")]
#[case::console_on_a_simulated_device(("sim = \"ring\"\n", "sim = \"ring\"\nconsole = { port = \"/dev/ttyUSB1\" }\n"), "9:20", "simulated device `ring` has its console from the simulator")]
#[case::smp_port_on_a_simulated_device(("sim = \"ring\"\n", "sim = \"ring\"\nsmp = { port = \"/dev/ttyACM1\" }\n"), "9:7", "a simulated device's SMP port is emulated")]
#[case::smp_without_port(("sim = \"ring\"\n", "sim = \"ring\"\nsmp = { baud = 9600 }\n"), "9:7", "`smp` needs `port` (a serial port) or `emulated = true`")]
#[case::smp_emulated_on_a_real_device(("sim = \"ring\"\n", "smp = { emulated = true }\n"), "8:7", "only a simulated device (`sim`) has an emulated SMP port")]
#[case::virtual_driver_with_port(("\"virtual-psu\"", "\"virtual-psu\"\nport = \"/dev/ttyUSB0\""), "5:8", "instrument `psu` (virtual-psu) is virtual and has no port")]
#[case::virtual_driver_emulated(("\"virtual-psu\"", "\"virtual-psu\"\nemulated = true"), "5:12", "instrument `psu` (virtual-psu) is virtual: it is simulated already")]
#[case::port_and_emulated(("\"virtual-psu\"", "\"rigol-dp800\"\nport = \"/dev/ttyUSB0\"\nemulated = true"), "6:12", "instrument `psu` has both a `port` and `emulated = true`")]
#[case::simulated_device_on_a_real_supply(("\"virtual-psu\"", "\"rigol-dp800\"\nport = \"/dev/ttyUSB0\""), "10:24", "simulated device `ring` is fed by `psu`, a real instrument")]
#[case::safe_db_on_a_supply(("\"virtual-psu\"", "\"virtual-psu\"\nsafe_db = 0.0"), "5:11", "`safe_db` is for attenuators; `psu` is virtual-psu")]
#[case::time_scale_below_life(("name = \"bench\"", "name = \"bench\"\ntime_scale = 0.5"), "2:14", "time_scale 0.5 is out of range; expected 1 to 1000")]
#[case::dongle_without_profile(("[device.ring]", "[instrument.phone]\ndriver = \"bt-shell-dongle\"\nemulated = true\n\n[device.ring]"), "7:10", "instrument `phone` (bt-shell-dongle) has no `profile`")]
#[case::dongle_profile_missing(("[device.ring]", "[instrument.phone]\ndriver = \"bt-shell-dongle\"\nemulated = true\nprofile = \"PROFILES/nope-shell.toml\"\n\n[device.ring]"), "9:11", "cannot read shell profile")]
#[case::dongle_reaching_an_unknown_device(("[device.ring]", "[instrument.phone]\ndriver = \"bt-shell-dongle\"\nemulated = true\nprofile = \"PROFILES/zephyr-bt-shell.toml\"\nreach = { rnig = \"ring\" }\n\n[device.ring]"), "10:18", "`reach` names `rnig`, which is not a device on this rig")]
#[case::profile_on_a_supply(("\"virtual-psu\"", "\"virtual-psu\"\nprofile = \"x.toml\""), "5:11", "instrument `psu` (virtual-psu) takes no `profile`")]
fn rig_errors_point_at_the_problem(
    #[case] edit: (&str, &str),
    #[case] line_col: &str,
    #[case] message: &str,
) {
    let (path, errors) = rig_errors(&GOOD_RIG.replacen(edit.0, edit.1, 1));
    let expected = format!("{}:{line_col}: ", path.display());
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&expected) && e.contains(message)),
        "expected an error at {expected} containing {message:?}, got {errors:#?}"
    );
}

#[test]
fn only_a_rig_without_hardware_runs_faster_than_life() {
    let emulated = GOOD_RIG
        .replace("name = \"bench\"", "name = \"bench\"\ntime_scale = 10")
        .replace("\"virtual-psu\"", "\"rigol-dp800\"\nemulated = true");
    let (_, errors) = rig_errors(&emulated);
    assert!(errors.is_empty(), "{errors:?}");

    let (path, errors) =
        rig_errors(&emulated.replace("emulated = true", "port = \"/dev/ttyUSB0\""));
    let expected = format!(
        "{}:2:14: time_scale needs a rig without hardware, but instrument `psu` is real",
        path.display()
    );
    assert!(errors.contains(&expected), "{errors:#?}");
}

#[test]
fn an_emulated_supply_feeds_simulated_devices_on_a_scaled_wall_clock() {
    let rig = GOOD_RIG
        .replace("name = \"bench\"", "name = \"bench\"\ntime_scale = 10")
        .replace("\"virtual-psu\"", "\"rigol-dp800\"\nemulated = true");
    let rig = load_rig(&rig);

    let psu = &rig.instruments["psu"];
    assert!(psu.emulated && psu.is_simulated() && psu.port.is_none());
    assert_eq!(rig.time_scale, 10.0);
    assert!(
        !rig.is_virtual(),
        "real I/O: the wall clock, not the paused one"
    );
}

#[test]
fn a_bench_supply_is_real_and_keeps_its_port() {
    let rig = GOOD_RIG
        .replace(
            "\"virtual-psu\"",
            "\"korad-ka3005p\"\nport = \"/dev/ttyACM0\"\nbaud = 19200",
        )
        .replace("sim = \"ring\"\n", "");
    let rig = load_rig(&rig);

    let psu = &rig.instruments["psu"];
    assert_eq!(psu.port.as_deref(), Some("/dev/ttyACM0"));
    assert_eq!(psu.baud, Some(19200));
    assert_eq!(psu.channels, 1);
    assert!(!rig.is_virtual());
    assert!(!psu.driver.has_series_resistance());
}

#[test]
fn an_emulated_smp_port_keeps_the_rig_virtual_and_a_real_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = repo().join("fixtures/profiles").display().to_string();
    let emulated = GOOD_RIG.replace("PROFILES", &profiles).replace(
        "sim = \"ring\"\n",
        "sim = \"ring\"\nsmp = { emulated = true }\n",
    );
    let rig = Rig::load(&write(dir.path(), "emulated.toml", &emulated)).unwrap();
    assert_eq!(rig.devices["ring"].smp, Some(SmpPort::Emulated));
    assert!(rig.is_virtual());

    let real = GOOD_RIG
        .replace("PROFILES", &profiles)
        .replace("sim = \"ring\"\n", "smp = { port = \"/dev/ttyACM1\" }\n")
        .replace(
            "power = { instrument = \"psu\", channel = 1, max_volts = 4.25, max_amps = 0.5 }\n",
            "",
        );
    let rig = Rig::load(&write(dir.path(), "real.toml", &real)).unwrap();
    let port = SmpPort::Serial {
        port: "/dev/ttyACM1".into(),
        baud: 115_200,
    };
    assert_eq!(rig.devices["ring"].smp, Some(port));
    assert!(!rig.is_virtual());
}

#[test]
fn a_real_devices_console_is_a_capability_on_the_wall_clock() {
    let rig = GOOD_RIG
        .replace(
            "\"virtual-psu\"",
            "\"rigol-dp800\"\nport = \"/dev/ttyUSB0\"",
        )
        .replace(
            "sim = \"ring\"\n",
            "console = { port = \"/dev/ttyUSB1\" }\n",
        );
    let rig = load_rig(&rig);

    let console = rig.devices["ring"].console.as_ref().unwrap();
    assert_eq!(console.port, "/dev/ttyUSB1");
    assert_eq!(console.baud, 115_200);
    assert!(rig.capabilities().contains(&"ring.console".to_string()));
    assert!(!rig.capabilities().contains(&"ring.probe".to_string()));
    assert!(!rig.is_virtual());
}

#[test]
fn a_broken_log_rule_is_located_in_the_rules_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "fw.toml",
        "name = \"fw\"\nversion = \"1\"\ntransports = [\"ble\"]\nrules = \"fw.rules.toml\"\n",
    );
    let rules = write(
        dir.path(),
        "fw.rules.toml",
        "[[rule]]\nmatch = 'reset (?P<reason>\\w+'\nevent = \"boot\"\n\n[[rule]]\nmatch = 'up'\nevent = \"up\"\nkeep = [\"reason\"]\n",
    );
    let errors: Vec<String> = hil_scenario::Profile::load(&dir.path().join("fw.toml"))
        .unwrap_err()
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    let at = |lc: &str| format!("{}:{lc}: ", rules.display());
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&at("2:9")) && e.contains("invalid regular expression")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&at("8:9")) && e.contains("`keep` names `reason`")),
        "{errors:#?}"
    );
}

#[test]
fn a_dongle_reaches_by_name_or_address_and_by_default_every_ble_device() {
    let dongle = GOOD_RIG.replace(
        "[device.ring]",
        "[instrument.phone]\ndriver = \"bt-shell-dongle\"\nemulated = true\nprofile = \"PROFILES/zephyr-bt-shell.toml\"\n\n[device.ring]",
    );
    let dir = tempfile::tempdir().unwrap();
    let text = dongle.replace(
        "PROFILES",
        &repo().join("fixtures/profiles").display().to_string(),
    );
    let rig = Rig::load(&write(dir.path(), "rig.toml", &text)).unwrap();
    let phone = &rig.instruments["phone"];
    assert_eq!(phone.shell.as_ref().unwrap().name, "zephyr-bt-shell");
    assert_eq!(
        phone.reach["ring"],
        hil_scenario::Reach::Name("ring".into())
    );
    let by_address = text.replace(
        "emulated = true\nprofile",
        "emulated = true\nreach = { ring = \"c0:11:22:33:44:55\" }\nprofile",
    );
    let rig = Rig::load(&write(dir.path(), "rig.toml", &by_address)).unwrap();
    assert_eq!(
        rig.instruments["phone"].reach["ring"],
        hil_scenario::Reach::Address("C0:11:22:33:44:55".into())
    );
}

/// A real ring on a bench supply, with room for a worn cell's resistance.
const CELL_BENCH: &str = r#"name = "cell-bench"

[instrument.cell]
driver = "DRIVER"
port = "/dev/ttyUSB0"

[device.ring]
profile = "PROFILES/ring-fw-2.1.toml"
power = { instrument = "cell", max_volts = 4.25, max_amps = 0.5, max_series_ohms = 5.0 }
"#;

const WORN_CELL: &str = r#"id = "T02"
failure = "F01"
title = "worn cell"
needs = ["ring.power"]

[[reproduce]]
power = { device = "ring", volts = 3.62, series_ohms = OHMS }
"#;

#[rstest]
#[case::battery_simulator("keithley-2281s", "1.0", None)]
#[case::battery_simulator_at_the_limit("keithley-2281s", "5.0", None)]
#[case::battery_simulator_over_the_limit(
    "keithley-2281s",
    "50.0",
    Some("series_ohms = 50 is outside 0..=5")
)]
#[case::plain_supply(
    "rigol-dp800",
    "1.0",
    Some("`cell` (rigol-dp800) cannot emulate series resistance")
)]
fn series_resistance_is_planned_only_where_an_instrument_can_add_it(
    #[case] driver: &str,
    #[case] ohms: &str,
    #[case] refusal: Option<&str>,
) {
    let dir = tempfile::tempdir().unwrap();
    let profiles = repo().join("fixtures/profiles");
    let rig = CELL_BENCH
        .replace("DRIVER", driver)
        .replace("PROFILES", &profiles.display().to_string());
    let rig = Rig::load(&write(dir.path(), "rig.toml", &rig)).unwrap();
    let path = write(dir.path(), "s.toml", &WORN_CELL.replace("OHMS", ohms));

    let planned = Scenario::load(&path).unwrap().plan(&rig);

    match (planned, refusal) {
        (Ok(_), None) => {}
        (Err(PlanError::Invalid(e)), Some(message)) => {
            let expected = format!("{}:7:56: ", path.display());
            assert!(
                e.errors
                    .iter()
                    .map(ToString::to_string)
                    .any(|e| e.starts_with(&expected) && e.contains(message)),
                "expected an error at {expected} containing {message:?}, got {e:#?}"
            );
        }
        (other, _) => panic!("expected {refusal:?}, got {other:?}"),
    }
}

/// The example rigs in `rigs/` are what people copy: every one must load.
#[test]
fn every_rig_in_the_repository_loads() {
    let mut loaded = Vec::new();
    for entry in std::fs::read_dir(repo().join("rigs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = Rig::load(&path) {
                panic!("{} does not load: {e:?}", path.display());
            }
            loaded.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    loaded.sort();
    assert!(
        loaded.contains(&"bench-2281s.toml".to_string()),
        "{loaded:?}"
    );
    assert!(loaded.contains(&"virtual.toml".to_string()), "{loaded:?}");
}

#[test]
fn a_dongle_cannot_run_steps_beyond_links() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = repo().join("fixtures/profiles");
    let rig = GOOD_RIG
        .replace(
            "[device.ring]",
            "[instrument.phone]\ndriver = \"bt-shell-dongle\"\nemulated = true\nprofile = \"PROFILES/zephyr-bt-shell.toml\"\n\n[device.ring]",
        )
        .replace("max_amps = 0.5 }", "max_amps = 0.5, max_series_ohms = 5.0 }")
        .replace("PROFILES", &profiles.display().to_string());
    let rig = Rig::load(&write(dir.path(), "rig.toml", &rig)).unwrap();
    let soak = GOOD.replace(
        "pair = { central = \"phone\", device = \"ring\", expect = \"fail\" }",
        "soak = { central = \"phone\", device = \"ring\", for = \"1m\" }\n[[reproduce]]\nsoak = { central = \"phone\", device = \"ring\", for = \"2m\" }",
    );
    let path = write(dir.path(), "s.toml", &soak);
    match Scenario::load(&path).unwrap().plan(&rig) {
        Err(PlanError::NotRunnable(reasons)) => assert_eq!(
            reasons,
            ["`phone` (bt-shell-dongle) cannot do soaks".to_string()]
        ),
        other => panic!("expected NotRunnable, got {other:?}"),
    }
    let path = write(dir.path(), "s.toml", GOOD);
    assert!(
        Scenario::load(&path).unwrap().plan(&rig).is_ok(),
        "pairing is a dongle's job"
    );
}
