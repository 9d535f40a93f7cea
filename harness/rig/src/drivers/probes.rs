//! Checks of a rig's debug probes that need probe-rs, kept to one place so the rest of the
//! harness builds the same with or without it (the `probe-rs` feature).

use std::path::Path;

use hil_scenario::{ConfigErrors, DebugProbe, Device, Rig};

use crate::{Probe, RigError};

/// Loads a rig file with every check, including the chip names only probe-rs can judge.
pub fn load_rig(path: &Path) -> Result<Rig, ConfigErrors> {
    let rig = Rig::load(path)?;
    check_chips(&rig)?;
    Ok(rig)
}

/// Every probe's chip name against probe-rs's target database, each error at the `chip` value
/// with the closest names probe-rs knows.
#[cfg(feature = "probe-rs")]
pub fn check_chips(rig: &Rig) -> Result<(), ConfigErrors> {
    let errors: Vec<_> = rig
        .devices
        .values()
        .filter_map(|d| d.probe.as_ref())
        .filter_map(|probe| {
            let message = super::target::chip(&probe.chip).err()?;
            let close = super::target::closest_chips(&probe.chip);
            let help = format!(
                "closest probe-rs targets: {}; `probe-rs chip list` lists them all",
                close.join(", ")
            );
            Some(probe.chip_at.error(message, Some(help)))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors { errors })
    }
}

/// Opens the probe wired to `device`, attached to its chip; `device` runs its profile's build.
#[cfg(feature = "probe-rs")]
pub fn open_probe(device: &Device) -> Result<Box<dyn Probe>, RigError> {
    let wiring = device
        .probe
        .as_ref()
        .ok_or_else(|| RigError::new(&device.name, "has no debug probe in the rig file"))?;
    let running = device.profile.image.as_deref();
    Ok(Box::new(super::BenchProbe::open(
        &device.name,
        wiring,
        running,
    )?))
}

/// `hil rig check`'s line for a probe: found, opened and attached to the chip the rig names.
#[cfg(feature = "probe-rs")]
pub fn check_probe(device: &str, wiring: &DebugProbe) -> Result<String, RigError> {
    super::BenchProbe::open(device, wiring, None)?;
    Ok(format!("{}: attached to {}", wiring.selector, wiring.chip))
}

#[cfg(not(feature = "probe-rs"))]
pub fn check_chips(rig: &Rig) -> Result<(), ConfigErrors> {
    let errors: Vec<_> = rig
        .devices
        .values()
        .filter_map(|d| d.probe.as_ref())
        .map(|probe| {
            probe.chip_at.error(
                "this `hil` was built without probe-rs: it cannot drive a debug probe",
                Some("build with the default `probe-rs` feature".into()),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors { errors })
    }
}

#[cfg(not(feature = "probe-rs"))]
pub fn open_probe(device: &Device) -> Result<Box<dyn Probe>, RigError> {
    Err(without_probe_rs(&device.name))
}

#[cfg(not(feature = "probe-rs"))]
pub fn check_probe(device: &str, _wiring: &DebugProbe) -> Result<String, RigError> {
    Err(without_probe_rs(device))
}

#[cfg(not(feature = "probe-rs"))]
fn without_probe_rs(device: &str) -> RigError {
    RigError::new(
        format!("probe on {device}"),
        "this `hil` was built without probe-rs",
    )
}

#[cfg(all(test, feature = "probe-rs"))]
mod tests {
    use std::path::Path;

    #[test]
    fn an_unknown_chip_is_a_located_error_with_the_closest_names() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/profiles/ring-fw-2.1.toml")
            .canonicalize()
            .unwrap();
        let rig = dir.path().join("bench.toml");
        std::fs::write(
            &rig,
            format!(
                "name = \"bench\"\n[device.ring]\nprofile = {:?}\nprobe = {{ selector = \"1366:1015\", chip = \"nRF52841_xxAA\" }}\n",
                profile.display().to_string()
            ),
        )
        .unwrap();
        let rig = hil_scenario::Rig::load(&rig).unwrap();
        let errors = super::check_chips(&rig).unwrap_err().errors;
        assert_eq!(errors.len(), 1);
        let hil_scenario::ConfigError::File(e) = &errors[0] else {
            panic!("not located: {:?}", errors[0]);
        };
        assert!(e.location.ends_with("bench.toml:4:42"), "{}", e.location);
        assert!(
            e.message.contains("unknown chip `nRF52841_xxAA`"),
            "{}",
            e.message
        );
        assert!(
            e.help.as_deref().unwrap().contains("nRF52840_xxAA"),
            "{:?}",
            e.help
        );
    }
}
