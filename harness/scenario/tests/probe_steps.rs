//! Debug-probe wiring in a rig file and the probe steps (`flash`, `reset`, `halt`, `erase`, `rtt`)
//! planned against a bench and against the virtual rig.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hil_scenario::{Action, PlanError, ProbeOp, Rig, Scenario};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A ring on a bench with a J-Link on its SWD pins.
fn bench_rig(dir: &Path, probe: &str) -> Result<Rig, Vec<String>> {
    let profile = repo().join("fixtures/profiles/ring-fw-2.1.toml");
    let text = format!(
        "name = \"bench\"\n[device.ring]\nprofile = {:?}\nprobe = {probe}\n",
        profile.display().to_string()
    );
    Rig::load(&write(dir, "bench.toml", &text))
        .map_err(|e| e.errors.iter().map(ToString::to_string).collect())
}

const J_LINK: &str = r#"{ selector = "1366:1015", chip = "nRF52840_xxAA" }"#;

/// A firmware profile like the catalog's, naming `image` as its build artefact (if any).
fn profile(dir: &Path, image: Option<&str>) -> PathBuf {
    let rules = repo().join("fixtures/profiles/zephyr-ble.rules.toml");
    let mut text = format!(
        "name = \"ring-fw\"\nversion = \"2.2.0\"\ntransports = [\"ble\"]\nrules = {:?}\n",
        rules.display().to_string()
    );
    if let Some(image) = image {
        text.push_str(&format!("image = {image:?}\n"));
    }
    write(dir, "ring-fw-2.2.toml", &text)
}

fn scenario(dir: &Path, steps: &str) -> Scenario {
    let text = format!(
        "id = \"T-probe\"\nfailure = \"F09\"\ntitle = \"probe\"\nneeds = [\"ring.probe\"]\n\n{steps}"
    );
    Scenario::load(&write(dir, "scenario.toml", &text)).unwrap()
}

fn invalid(result: Result<hil_scenario::Plan, PlanError>) -> Vec<String> {
    match result {
        Err(PlanError::Invalid(e)) => e.errors.iter().map(ToString::to_string).collect(),
        other => panic!("expected located errors, got {other:?}"),
    }
}

#[test]
fn a_probe_makes_a_real_device_probe_capable_and_the_rig_real() {
    let dir = tempfile::tempdir().unwrap();
    let rig = bench_rig(
        dir.path(),
        r#"{ selector = "0d28:0204:0240000032", chip = "nRF52840_xxAA", protocol = "swd", speed_khz = 4000 }"#,
    )
    .unwrap();
    let probe = rig.devices["ring"].probe.as_ref().unwrap();
    assert_eq!(probe.selector, "0d28:0204:0240000032");
    assert_eq!(probe.chip, "nRF52840_xxAA");
    assert_eq!(probe.speed_khz, Some(4000));
    assert!(rig.capabilities().contains(&"ring.probe".to_string()));
    assert!(!rig.is_virtual());
    let located = probe.chip_at.error("checked later", None).to_string();
    assert!(
        located.contains("bench.toml:4:53: checked later"),
        "{located}"
    );
}

#[test]
fn a_malformed_selector_or_protocol_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for (probe, at, message) in [
        (
            r#"{ selector = "J-Link", chip = "nRF52840_xxAA" }"#,
            "4:22",
            "probe selector \"J-Link\" is not `VID:PID`",
        ),
        (
            r#"{ selector = "1366:", chip = "nRF52840_xxAA" }"#,
            "4:22",
            "is not `VID:PID` or `VID:PID:serial`",
        ),
        (
            r#"{ selector = "1366:1015", chip = "nRF52840_xxAA", protocol = "spi" }"#,
            "4:70",
            "unknown variant `spi`",
        ),
    ] {
        let errors = bench_rig(dir.path(), probe).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("bench.toml:{at}: ")) && e.contains(message)),
            "{probe}: expected {message:?} at {at}, got {errors:#?}"
        );
    }
}

#[test]
fn a_simulated_device_has_no_probe_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("fixtures").display().to_string();
    let text = std::fs::read_to_string(repo().join("rigs/virtual.toml"))
        .unwrap()
        .replace("../fixtures", &fixtures)
        .replacen(
            "sim = \"ring\"",
            &format!("sim = \"ring\"\nprobe = {J_LINK}"),
            1,
        );
    let errors = Rig::load(&write(dir.path(), "virtual.toml", &text)).unwrap_err();
    assert!(
        errors.errors.iter().any(|e| e
            .to_string()
            .contains("simulated device `ring` has the simulator's probe")),
        "{errors:?}"
    );
}

#[test]
fn a_bench_flashes_the_profiles_build_artefact() {
    let dir = tempfile::tempdir().unwrap();
    let rig = bench_rig(dir.path(), J_LINK).unwrap();
    std::fs::create_dir(dir.path().join("build")).unwrap();
    write(dir.path(), "build/zephyr.elf", "\x7fELF");
    profile(dir.path(), Some("build/zephyr.elf"));
    let plan = scenario(
        dir.path(),
        "[[recover]]\nflash = { device = \"ring\", image = \"ring-fw-2.2.toml\" }\n",
    )
    .plan(&rig)
    .unwrap();
    let Action::Flash { image, .. } = &plan.steps[0].action else {
        panic!("{:?}", plan.steps[0].action);
    };
    assert_eq!(
        image.profile.image.as_deref(),
        Some(dir.path().join("build/zephyr.elf").as_path())
    );
}

#[test]
fn a_bench_flash_without_a_writable_artefact_is_refused_at_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let rig = bench_rig(dir.path(), J_LINK).unwrap();
    let flash = "[[recover]]\nflash = { device = \"ring\", image = \"ring-fw-2.2.toml\" }\n";
    for (image, message) in [
        (None, "profile `ring-fw` 2.2.0 names no build artefact"),
        (
            Some("build/missing.elf"),
            "missing.elf of profile `ring-fw` does not exist",
        ),
        (Some("build/zephyr.uf2"), "is not an image a probe writes"),
    ] {
        profile(dir.path(), image);
        let errors = invalid(scenario(dir.path(), flash).plan(&rig));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("scenario.toml:7:36: ") && e.contains(message)),
            "expected {message:?}, got {errors:#?}"
        );
    }
}

#[test]
fn probe_steps_plan_on_a_bench_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rig = bench_rig(dir.path(), J_LINK).unwrap();
    let plan = scenario(
        dir.path(),
        "[[reproduce]]\nerase = { device = \"ring\" }\n[[recover]]\nhalt = { device = \"ring\" }\n[[recover]]\nreset = { device = \"ring\" }\n[[recover]]\nrtt = { device = \"ring\" }\n[[recover]]\nrtt = { device = \"ring\", within = \"2s\" }\n",
    )
    .plan(&rig)
    .unwrap();
    let ops: Vec<ProbeOp> = plan
        .steps
        .iter()
        .map(|s| match &s.action {
            Action::Probe { device, op } if device == "ring" => *op,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ops,
        [
            ProbeOp::Erase,
            ProbeOp::Halt,
            ProbeOp::Reset,
            ProbeOp::Rtt {
                within: Duration::from_secs(5)
            },
            ProbeOp::Rtt {
                within: Duration::from_secs(2)
            },
        ]
    );
    assert_eq!(
        plan.steps[3].action.to_string(),
        "read ring's RTT log over the probe"
    );
    assert_eq!(
        plan.steps[0].action.to_string(),
        "erase ring over the probe"
    );
}

#[test]
fn the_virtual_probe_only_flashes_so_other_probe_steps_skip_the_virtual_rig() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::load(&repo().join("rigs/virtual.toml")).unwrap();
    let result = scenario(dir.path(), "[[recover]]\nreset = { device = \"ring\" }\n").plan(&rig);
    match result {
        Err(PlanError::NotRunnable(reasons)) => assert_eq!(
            reasons,
            ["`reset` step: the virtual probe on `ring` only flashes"]
        ),
        other => panic!("expected NotRunnable, got {other:?}"),
    }
    // Flashing a profile without an artefact is fine there: the simulator runs the profile.
    profile(dir.path(), None);
    let flash = "[[recover]]\nflash = { device = \"ring\", image = \"ring-fw-2.2.toml\" }\n";
    assert!(scenario(dir.path(), flash).plan(&rig).is_ok());
}

#[test]
fn a_probe_step_on_a_device_without_a_probe_is_refused_at_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let rig = bench_rig(dir.path(), J_LINK).unwrap();
    let errors =
        invalid(scenario(dir.path(), "[[recover]]\nhalt = { device = \"rnig\" }\n").plan(&rig));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("scenario.toml:7:19: unknown device `rnig`")),
        "{errors:#?}"
    );
}
