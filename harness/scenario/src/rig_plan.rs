//! A rig file resolved: profiles loaded, instrument references checked, capabilities known.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{ConfigErrors, Problems, SourceFile};
use crate::profile::{Profile, list_or_none};
use crate::rig::{Driver, RigFile, SimModel};

#[derive(Debug)]
pub struct Rig {
    pub name: String,
    pub path: PathBuf,
    pub description: Option<String>,
    pub devices: BTreeMap<String, Device>,
    pub instruments: BTreeMap<String, Instrument>,
}

#[derive(Debug)]
pub struct Device {
    pub name: String,
    pub profile: Arc<Profile>,
    pub profile_path: PathBuf,
    pub sim: Option<SimModel>,
    pub power: Option<PowerFeed>,
}

/// The supply channel wired to a device and the limits it must stay within.
#[derive(Clone, Debug)]
pub struct PowerFeed {
    pub instrument: String,
    pub channel: u8,
    pub max_volts: f64,
    pub max_amps: f64,
    pub max_series_ohms: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Instrument {
    pub name: String,
    pub driver: Driver,
    pub channels: u8,
}

impl Rig {
    pub fn load(path: &Path) -> Result<Rig, ConfigErrors> {
        let source = SourceFile::read(path)?;
        let file: RigFile = source.parse()?;
        let mut problems = Problems::default();
        let base = path.parent().unwrap_or(Path::new("."));

        let instruments: BTreeMap<String, Instrument> = file
            .instrument
            .iter()
            .map(|(name, spec)| {
                let driver = *spec.driver.get_ref();
                let instrument = Instrument {
                    name: name.clone(),
                    driver,
                    channels: spec.channels.unwrap_or_else(|| driver.default_channels()),
                };
                (name.clone(), instrument)
            })
            .collect();

        let mut devices = BTreeMap::new();
        for (name, spec) in file.device {
            let profile_path = base.join(spec.profile.get_ref());
            let profile = match Profile::load(&profile_path) {
                Ok(p) => Some(Arc::new(p)),
                Err(errors) => {
                    // A missing profile is the rig file's fault; a broken one is the profile's.
                    for e in errors.errors {
                        match e {
                            crate::diagnostic::ConfigError::Io { source: io, .. } => {
                                problems.push(source.error(
                                    spec.profile.span(),
                                    format!("cannot read profile {}: {io}", profile_path.display()),
                                    Some("the path is relative to the rig file".into()),
                                ))
                            }
                            other => problems.push(other),
                        }
                    }
                    None
                }
            };
            if spec.sim.is_some() && spec.power.is_none() {
                problems.push(source.error(
                    spec.profile.span(),
                    format!("simulated device `{name}` has no `power` feed"),
                    Some("a simulated board runs only when a supply channel feeds it".into()),
                ));
            }
            let power = spec.power.map(|binding| {
                let known = || instruments.keys().map(String::as_str).collect::<Vec<_>>();
                match instruments.get(binding.instrument.get_ref()) {
                    None => problems.push(source.error(
                        binding.instrument.span(),
                        format!("unknown instrument `{}`", binding.instrument.get_ref()),
                        Some(format!(
                            "instruments on this rig: {}",
                            list_or_none(&known())
                        )),
                    )),
                    Some(i) if !i.driver.is_power_supply() => problems.push(source.error(
                        binding.instrument.span(),
                        format!(
                            "instrument `{}` ({}) is not a power supply",
                            i.name,
                            i.driver.name()
                        ),
                        None,
                    )),
                    Some(i) if binding.channel == 0 || binding.channel > i.channels => problems
                        .push(source.error(
                            binding.instrument.span(),
                            format!(
                                "channel {} does not exist on `{}`; expected 1..={}",
                                binding.channel, i.name, i.channels
                            ),
                            None,
                        )),
                    Some(i) if i.driver.is_virtual() && spec.sim.is_none() => {
                        problems.push(source.error(
                            binding.instrument.span(),
                            format!(
                                "`{}` is virtual but device `{name}` has no `sim` model",
                                i.name
                            ),
                            Some("add `sim = \"ring\"` or `sim = \"lock\"` to the device".into()),
                        ))
                    }
                    Some(_) => {}
                }
                PowerFeed {
                    instrument: binding.instrument.into_inner(),
                    channel: binding.channel,
                    max_volts: binding.max_volts,
                    max_amps: binding.max_amps,
                    max_series_ohms: binding.max_series_ohms,
                }
            });
            if let Some(profile) = profile {
                devices.insert(
                    name.clone(),
                    Device {
                        name,
                        profile,
                        profile_path,
                        sim: spec.sim,
                        power,
                    },
                );
            }
        }

        problems.finish(Rig {
            name: file.name,
            path: path.to_path_buf(),
            description: file.description,
            devices,
            instruments,
        })
    }

    /// Whether every instrument is simulated, so the rig runs on virtual time.
    pub fn is_virtual(&self) -> bool {
        self.instruments.values().all(|i| i.driver.is_virtual())
    }

    /// Capabilities this rig offers, in the vocabulary of a scenario's `needs`.
    pub fn capabilities(&self) -> Vec<String> {
        let mut caps = Vec::new();
        for device in self.devices.values() {
            caps.push(device.name.clone());
            if device.power.is_some() {
                caps.push(format!("{}.power", device.name));
            }
            if device.sim.is_some() {
                caps.push(format!("{}.console", device.name));
            }
        }
        if self.instruments.values().any(|i| i.driver.is_central()) {
            caps.push("central".into());
        }
        caps
    }

    pub fn device_names(&self) -> Vec<&str> {
        self.devices.keys().map(String::as_str).collect()
    }
}
