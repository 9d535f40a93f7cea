//! A rig file resolved: profiles loaded, instrument references checked, capabilities known.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cell::Cell;
use crate::diagnostic::{ConfigErrors, Located, Problems, SourceFile};
use crate::profile::{Profile, Transport, list_or_none};
use crate::rig::{Driver, InstrumentSpec, ProbeBinding, RigFile, SimModel, WireProtocol};
use crate::shell::ShellDialect;

#[derive(Clone, Debug)]
pub struct Rig {
    pub name: String,
    pub path: PathBuf,
    pub description: Option<String>,
    /// Snapshots `<id>@<variant>.snap` take precedence on this rig (see the rig file's field).
    pub trace_variant: Option<String>,
    pub devices: BTreeMap<String, Device>,
    pub instruments: BTreeMap<String, Instrument>,
    /// How many times faster than life rig time runs: 1 on a bench; more on an emulated rig.
    pub time_scale: f64,
    /// Devices whose profile the user chose (`--profile`), with the rig's reference profile they
    /// replace: a scenario's `[profiles]` leaves them be, and an update to the reference build
    /// becomes an update to the build under test.
    pub pinned: BTreeMap<String, Arc<Profile>>,
}

#[derive(Clone, Debug)]
pub struct Device {
    pub name: String,
    pub profile: Arc<Profile>,
    pub profile_path: PathBuf,
    pub sim: Option<SimModel>,
    /// What powers it: the rig file's `cell`, or the simulated board's.
    pub cell: Option<Cell>,
    pub power: Option<PowerFeed>,
    pub button: Option<RelayContact>,
    /// A real device's UART.
    pub console: Option<ConsolePort>,
    /// A real device's debug probe.
    pub probe: Option<DebugProbe>,
    /// Its MCUmgr SMP port, if firmware updates go over a wire.
    pub smp: Option<SmpPort>,
}

/// The debug probe wired to a real device.
#[derive(Clone, Debug)]
pub struct DebugProbe {
    /// `VID:PID[:serial]`, checked to be well formed.
    pub selector: String,
    pub chip: String,
    /// Where `chip` is written: the rig loader checks it against probe-rs's target database.
    pub chip_at: Located,
    pub protocol: Option<WireProtocol>,
    pub speed_khz: Option<u32>,
}

/// A device's MCUmgr SMP port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmpPort {
    Serial {
        port: String,
        baud: u32,
    },
    /// The simulator's SMP emulator on a pty, wired to the simulated device.
    Emulated,
}

/// Where a device's log is read from, when not straight from the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsolePort {
    /// A real device's UART.
    Serial { port: String, baud: u32 },
    /// A simulated device's log on a pty, read by the real console driver (emulated rigs).
    Emulated,
}

/// The relay channel wired across a device's button.
#[derive(Clone, Debug)]
pub struct RelayContact {
    pub instrument: String,
    pub channel: u8,
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
    /// A real instrument's serial port.
    pub port: Option<String>,
    pub baud: Option<u32>,
    /// A real driver talking to an emulator of the instrument, wired to the simulated devices.
    pub emulated: bool,
    /// A shell dongle's dialect.
    pub shell: Option<Arc<ShellDialect>>,
    /// How a central dongle finds each device it reaches, by device name.
    pub reach: BTreeMap<String, Reach>,
    /// An attenuator's setting in the safe state, in dB.
    pub safe_db: Option<f64>,
    /// The host Bluetooth adapter of a BlueZ central (`hci0` unless the rig file says).
    pub adapter: Option<String>,
}

/// How a central finds a device on the air.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// By the local name it advertises.
    Name(String),
    /// By its address, `AA:BB:CC:DD:EE:FF`.
    Address(String),
}

impl Reach {
    fn parse(text: &str) -> Reach {
        let is_address = text.len() == 17
            && text.split(':').count() == 6
            && text
                .split(':')
                .all(|byte| byte.len() == 2 && byte.chars().all(|c| c.is_ascii_hexdigit()));
        if is_address {
            Reach::Address(text.to_ascii_uppercase())
        } else {
            Reach::Name(text.to_string())
        }
    }
}

impl Instrument {
    /// Whether the instrument is part of the simulation (virtual or emulated), not hardware.
    pub fn is_simulated(&self) -> bool {
        self.driver.is_virtual() || self.emulated
    }
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
                check_port(&source, &mut problems, name, spec);
                let instrument = Instrument {
                    name: name.clone(),
                    driver,
                    channels: spec.channels.unwrap_or_else(|| driver.default_channels()),
                    port: spec.port.as_ref().map(|p| p.get_ref().clone()),
                    baud: spec.baud,
                    emulated: spec.emulated.as_ref().is_some_and(|e| *e.get_ref()),
                    safe_db: spec.safe_db.as_ref().map(|db| *db.get_ref()),
                    shell: load_shell(&source, &mut problems, base, name, spec),
                    reach: BTreeMap::new(),
                    adapter: spec.adapter.as_ref().map(|a| a.get_ref().clone()),
                };
                if let Some(db) = &spec.safe_db {
                    let value = *db.get_ref();
                    match driver.attenuation_range() {
                        None => problems.push(source.error(
                            db.span(),
                            format!(
                                "`safe_db` is for attenuators; `{name}` is {}",
                                driver.name()
                            ),
                            None,
                        )),
                        Some((max, _)) if !(0.0..=max).contains(&value) => {
                            problems.push(source.error(
                                db.span(),
                                format!("safe_db {value} is out of range; expected 0 to {max} dB"),
                                None,
                            ))
                        }
                        Some(_) => {}
                    }
                }
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
                let wired = check_wiring(
                    &source,
                    &instruments,
                    &binding.instrument,
                    binding.channel,
                    Driver::is_power_supply,
                    "a power supply",
                );
                let simulated = instruments
                    .get(binding.instrument.get_ref())
                    .map(Instrument::is_simulated);
                if wired.is_ok() && simulated == Some(true) && spec.sim.is_none() {
                    problems.push(source.error(
                        binding.instrument.span(),
                        format!(
                            "`{}` is simulated but device `{name}` has no `sim` model",
                            binding.instrument.get_ref()
                        ),
                        Some("add `sim = \"ring\"` or `sim = \"lock\"` to the device".into()),
                    ));
                }
                if wired.is_ok() && simulated == Some(false) && spec.sim.is_some() {
                    problems.push(source.error(
                        binding.instrument.span(),
                        format!(
                            "simulated device `{name}` is fed by `{}`, a real instrument",
                            binding.instrument.get_ref()
                        ),
                        Some("feed it from a virtual or `emulated = true` supply, or remove `sim`".into()),
                    ));
                }
                if let Err(e) = wired {
                    problems.push(e);
                }
                PowerFeed {
                    instrument: binding.instrument.into_inner(),
                    channel: binding.channel,
                    max_volts: binding.max_volts,
                    max_amps: binding.max_amps,
                    max_series_ohms: binding.max_series_ohms,
                }
            });
            let button = spec.button.map(|binding| {
                if let Err(e) = check_wiring(
                    &source,
                    &instruments,
                    &binding.instrument,
                    binding.channel,
                    Driver::is_relay,
                    "a relay",
                ) {
                    problems.push(e);
                }
                RelayContact {
                    instrument: binding.instrument.into_inner(),
                    channel: binding.channel,
                }
            });
            if let (Some(_), Some(probe)) = (spec.sim, &spec.probe) {
                problems.push(source.error(
                    probe.selector.span(),
                    format!("simulated device `{name}` has the simulator's probe"),
                    Some("remove `probe`, or `sim` for a real device".into()),
                ));
            }
            let probe = spec
                .probe
                .map(|binding| debug_probe(&source, &mut problems, binding));
            let console = spec.console.and_then(|binding| {
                let span = binding.span();
                let binding = binding.into_inner();
                let emulated = binding.emulated.as_ref().is_some_and(|e| *e.get_ref());
                let (problem, help) = match (binding.port, emulated, spec.sim) {
                    (None, true, Some(_)) => return Some(ConsolePort::Emulated),
                    (Some(port), false, None) => {
                        return Some(ConsolePort::Serial {
                            port: port.into_inner(),
                            baud: binding.baud,
                        });
                    }
                    (Some(_), true, _) => ("`console` has both `port` and `emulated`", "keep one"),
                    (None, false, _) => (
                        "`console` needs `port` (a serial port) or `emulated = true`",
                        "e.g. console = { port = \"/dev/ttyUSB1\" }",
                    ),
                    (Some(_), false, Some(_)) => (
                        "a simulated device has its console from the simulator",
                        "remove `console` (or write `console = { emulated = true }` to read it through a pty)",
                    ),
                    (None, true, None) => (
                        "only a simulated device's console can be emulated",
                        "give the real device's `port`",
                    ),
                };
                let message = format!("device `{name}`: {problem}");
                problems.push(source.error(span, message, Some(help.into())));
                None
            });
            let smp = spec.smp.and_then(|binding| {
                let span = binding.span();
                let binding = binding.into_inner();
                match (binding.port, binding.emulated, spec.sim) {
                    (None, true, Some(_)) => Some(SmpPort::Emulated),
                    (Some(port), false, None) => Some(SmpPort::Serial {
                        port: port.into_inner(),
                        baud: binding.baud,
                    }),
                    (port, emulated, sim) => {
                        let (message, help) = match (port, emulated, sim) {
                            (Some(_), true, _) => {
                                ("`smp` has both `port` and `emulated`", "keep one")
                            }
                            (None, false, _) => (
                                "`smp` needs `port` (a serial port) or `emulated = true`",
                                "e.g. smp = { port = \"/dev/ttyACM1\" }",
                            ),
                            (_, true, None) => (
                                "only a simulated device (`sim`) has an emulated SMP port",
                                "give the real device's `port`",
                            ),
                            _ => (
                                "a simulated device's SMP port is emulated",
                                "use `smp = { emulated = true }`",
                            ),
                        };
                        problems.push(source.error(span, message, Some(help.into())));
                        None
                    }
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
                        cell: spec.cell.or(spec.sim.map(SimModel::cell)),
                        power,
                        button,
                        console,
                        probe,
                        smp,
                    },
                );
            }
        }

        let mut instruments = instruments;
        for (name, spec) in &file.instrument {
            let reach = resolve_reach(&source, &mut problems, &devices, name, spec);
            if let Some(instrument) = instruments.get_mut(name) {
                instrument.reach = reach;
            }
        }

        let time_scale = check_time_scale(
            &source,
            &mut problems,
            file.time_scale.as_ref(),
            &instruments,
            &devices,
        );
        problems.finish(Rig {
            name: file.name,
            path: path.to_path_buf(),
            description: file.description,
            trace_variant: file.trace_variant,
            devices,
            instruments,
            time_scale,
            pinned: Default::default(),
        })
    }

    /// Whether every instrument and console is simulated, so the rig runs on virtual time.
    pub fn is_virtual(&self) -> bool {
        // Emulated instruments and consoles are real I/O on ptys too; an emulated SMP port serves
        // from the simulated firmware, so virtual time holds for it.
        first_hardware(&self.instruments, &self.devices).is_none()
            && self.instruments.values().all(|i| !i.emulated)
            && self.devices.values().all(|d| d.console.is_none())
    }

    /// Capabilities this rig offers, in the vocabulary of a scenario's `needs`.
    pub fn capabilities(&self) -> Vec<String> {
        let mut caps = Vec::new();
        for device in self.devices.values() {
            caps.push(device.name.clone());
            if device.power.is_some() {
                caps.push(format!("{}.power", device.name));
            }
            if device.button.is_some() {
                caps.push(format!("{}.button", device.name));
            }
            if device.sim.is_some() || device.console.is_some() {
                caps.push(format!("{}.console", device.name));
            }
            if device.sim.is_some() || device.probe.is_some() {
                caps.push(format!("{}.probe", device.name));
            }
        }
        if self.instruments.values().any(|i| i.driver.is_central()) {
            caps.push("central".into());
        }
        if self.attenuator().is_some() {
            caps.push("attenuator".into());
        }
        caps
    }

    /// The RF attenuator between the devices and the central, if the rig has one.
    pub fn attenuator(&self) -> Option<&Instrument> {
        self.instruments.values().find(|i| i.driver.is_attenuator())
    }

    /// Runs `device` (if the rig has it) with `profile` from now on, whatever a scenario asks for.
    pub fn pin_profile(&mut self, device: &str, profile: Arc<Profile>, path: PathBuf) {
        if let Some(d) = self.devices.get_mut(device) {
            let reference = std::mem::replace(&mut d.profile, profile);
            d.profile_path = path;
            self.pinned.entry(device.to_string()).or_insert(reference);
        }
    }

    /// The image `device` should get for `image`: the build under test if the user pinned one and
    /// `image` is the reference build it replaces.
    pub fn image_for(&self, device: &str, image: Arc<Profile>) -> Arc<Profile> {
        match (self.pinned.get(device), self.devices.get(device)) {
            (Some(reference), Some(d))
                if reference.name == image.name && reference.version == image.version =>
            {
                d.profile.clone()
            }
            _ => image,
        }
    }

    /// The same rig with some devices running other firmware profiles (pinned ones excepted).
    pub fn with_profiles(&self, profiles: &BTreeMap<String, Arc<Profile>>) -> Rig {
        let mut rig = self.clone();
        for (device, profile) in profiles
            .iter()
            .filter(|(d, _)| !self.pinned.contains_key(*d))
        {
            if let Some(d) = rig.devices.get_mut(device) {
                d.profile = profile.clone();
            }
        }
        rig
    }

    pub fn device_names(&self) -> Vec<&str> {
        self.devices.keys().map(String::as_str).collect()
    }
}

/// A probe binding with its selector checked: `VID:PID` in hex, then an optional serial number.
fn debug_probe(source: &SourceFile, problems: &mut Problems, binding: ProbeBinding) -> DebugProbe {
    let selector = binding.selector.get_ref();
    let mut parts = selector.splitn(3, ':');
    let hex_id = |part: Option<&str>| {
        part.is_some_and(|p| (1..=4).contains(&p.len()) && u16::from_str_radix(p, 16).is_ok())
    };
    let well_formed = hex_id(parts.next())
        && hex_id(parts.next())
        && parts.next().is_none_or(|serial| !serial.is_empty());
    if !well_formed {
        problems.push(source.error(
            binding.selector.span(),
            format!("probe selector {selector:?} is not `VID:PID` or `VID:PID:serial`"),
            Some(
                "vendor and product ids in hex, e.g. \"1366:1015\" (a J-Link) or \"0d28:0204:0240000032\"; `probe-rs list` prints them"
                    .into(),
            ),
        ));
    }
    DebugProbe {
        selector: selector.clone(),
        chip: binding.chip.get_ref().clone(),
        chip_at: Located::new(source, binding.chip.span()),
        protocol: binding.protocol,
        speed_khz: binding.speed_khz,
    }
}

/// A shell dongle's dialect, from its `profile`; only a shell dongle has one.
fn load_shell(
    source: &SourceFile,
    problems: &mut Problems,
    base: &Path,
    name: &str,
    spec: &InstrumentSpec,
) -> Option<Arc<ShellDialect>> {
    let driver = *spec.driver.get_ref();
    let Some(profile) = &spec.profile else {
        if driver == Driver::BtShellDongle {
            problems.push(source.error(
                spec.driver.span(),
                format!("instrument `{name}` ({}) has no `profile`", driver.name()),
                Some("add e.g. `profile = \"../fixtures/profiles/zephyr-bt-shell.toml\"`: the shell's commands and lines".into()),
            ));
        }
        return None;
    };
    if driver != Driver::BtShellDongle {
        problems.push(source.error(
            profile.span(),
            format!("instrument `{name}` ({}) takes no `profile`", driver.name()),
            Some("only a `bt-shell-dongle` is described by a shell profile".into()),
        ));
        return None;
    }
    let path = base.join(profile.get_ref());
    match ShellDialect::load(&path) {
        Ok(dialect) => Some(Arc::new(dialect)),
        Err(errors) => {
            for e in errors.errors {
                match e {
                    crate::diagnostic::ConfigError::Io { source: io, .. } => {
                        problems.push(source.error(
                            profile.span(),
                            format!("cannot read shell profile {}: {io}", path.display()),
                            Some("the path is relative to the rig file".into()),
                        ))
                    }
                    other => problems.push(other),
                }
            }
            None
        }
    }
}

/// Which devices a central dongle (or BlueZ central) reaches and how it finds them: as the rig file says, or every
/// BLE device by its name.
fn resolve_reach(
    source: &SourceFile,
    problems: &mut Problems,
    devices: &BTreeMap<String, Device>,
    name: &str,
    spec: &InstrumentSpec,
) -> BTreeMap<String, Reach> {
    if !matches!(
        *spec.driver.get_ref(),
        Driver::BtShellDongle | Driver::Bluez
    ) {
        if let Some(reach) = spec.reach.as_ref().and_then(|r| r.values().next()) {
            problems.push(
                source.error(
                    reach.span(),
                    format!("instrument `{name}` takes no `reach`"),
                    Some(
                        "only a `bt-shell-dongle` or `bluez` central is told how to find devices"
                            .into(),
                    ),
                ),
            );
        }
        return BTreeMap::new();
    }
    let Some(reach) = &spec.reach else {
        return devices
            .values()
            .filter(|d| d.profile.transports.contains(&Transport::Ble))
            .map(|d| (d.name.clone(), Reach::Name(d.name.clone())))
            .collect();
    };
    let known: Vec<&str> = devices.keys().map(String::as_str).collect();
    let mut out = BTreeMap::new();
    for (device, how) in reach {
        if devices.contains_key(device) {
            out.insert(device.clone(), Reach::parse(how.get_ref()));
        } else {
            problems.push(source.error(
                how.span(),
                format!("`reach` names `{device}`, which is not a device on this rig"),
                Some(format!("devices: {}", list_or_none(&known))),
            ));
        }
    }
    out
}

/// The first real part of a rig (an instrument on a port, a device's UART, SMP port or probe), in
/// words; `None` for a rig that is all simulation.
fn first_hardware(
    instruments: &BTreeMap<String, Instrument>,
    devices: &BTreeMap<String, Device>,
) -> Option<String> {
    instruments
        .values()
        .filter(|i| !i.is_simulated())
        .map(|i| format!("instrument `{}`", i.name))
        .chain(
            devices
                .values()
                .filter(|d| {
                    matches!(d.console, Some(ConsolePort::Serial { .. })) || d.probe.is_some()
                })
                .map(|d| format!("the console or probe of `{}`", d.name)),
        )
        .chain(
            devices
                .values()
                .filter(|d| matches!(d.smp, Some(SmpPort::Serial { .. })))
                .map(|d| format!("the SMP port of `{}`", d.name)),
        )
        .next()
}

/// Only a rig without hardware can run faster than life.
fn check_time_scale(
    source: &SourceFile,
    problems: &mut Problems,
    time_scale: Option<&toml::Spanned<f64>>,
    instruments: &BTreeMap<String, Instrument>,
    devices: &BTreeMap<String, Device>,
) -> f64 {
    let Some(scale) = time_scale else {
        return 1.0;
    };
    let value = *scale.get_ref();
    let hardware = first_hardware(instruments, devices);
    if !(value.is_finite() && (1.0..=1000.0).contains(&value)) {
        problems.push(source.error(
            scale.span(),
            format!("time_scale {value} is out of range; expected 1 to 1000"),
            None,
        ));
    } else if let Some(hardware) = hardware {
        problems.push(source.error(
            scale.span(),
            format!("time_scale needs a rig without hardware, but {hardware} is real"),
            Some(
                "real instruments and devices run at the speed of life: remove `time_scale`".into(),
            ),
        ));
    } else {
        return value;
    }
    1.0
}

/// A real instrument needs a port to be reached by (or an emulator); a virtual one has neither,
/// nor has a BlueZ central (it names an adapter).
fn check_port(source: &SourceFile, problems: &mut Problems, name: &str, spec: &InstrumentSpec) {
    let driver = *spec.driver.get_ref();
    if let (Some(adapter), false) = (&spec.adapter, driver == Driver::Bluez) {
        problems.push(source.error(
            adapter.span(),
            format!(
                "instrument `{name}` ({}) has no Bluetooth adapter",
                driver.name()
            ),
            Some("`adapter` is for `driver = \"bluez\"`".into()),
        ));
    }
    if let (Some(port), Driver::Bluez) = (&spec.port, driver) {
        problems.push(source.error(
            port.span(),
            format!("instrument `{name}` ({}) has no port", driver.name()),
            Some("remove `port`; a BlueZ central names its `adapter` (e.g. \"hci0\")".into()),
        ));
        return;
    }
    let emulated = spec.emulated.as_ref().filter(|e| *e.get_ref());
    if let Some(emulated) = emulated {
        let problem = if driver.is_virtual() {
            Some(format!(
                "instrument `{name}` ({}) is virtual: it is simulated already",
                driver.name()
            ))
        } else if spec.port.is_some() {
            Some(format!(
                "instrument `{name}` has both a `port` and `emulated = true`"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            problems.push(source.error(
                emulated.span(),
                problem,
                Some("`emulated = true` stands in for the `port` of a real driver".into()),
            ));
        }
        return;
    }
    if driver == Driver::Bluez {
        return;
    }
    match (&spec.port, driver.is_virtual()) {
        (None, false) => problems.push(source.error(
            spec.driver.span(),
            format!(
                "instrument `{name}` ({}) has no `port`",
                driver.name()
            ),
            Some("add e.g. `port = \"/dev/ttyUSB0\"` (`ls /dev/serial/by-id/` lists what is plugged in), or `emulated = true`".into()),
        )),
        (Some(port), true) => problems.push(source.error(
            port.span(),
            format!(
                "instrument `{name}` ({}) is virtual and has no port",
                driver.name()
            ),
            Some("remove `port`, or pick a real driver".into()),
        )),
        (Some(_), false) | (None, true) => {}
    }
}

/// Checks that `instrument` exists, is of the right kind and has `channel`; returns its driver.
fn check_wiring(
    source: &SourceFile,
    instruments: &BTreeMap<String, Instrument>,
    instrument: &toml::Spanned<String>,
    channel: u8,
    is_kind: fn(Driver) -> bool,
    kind: &str,
) -> Result<Driver, crate::ConfigError> {
    let known: Vec<&str> = instruments.keys().map(String::as_str).collect();
    let span = instrument.span();
    match instruments.get(instrument.get_ref()) {
        None => Err(source.error(
            span,
            format!("unknown instrument `{}`", instrument.get_ref()),
            Some(format!("instruments on this rig: {}", list_or_none(&known))),
        )),
        Some(i) if !is_kind(i.driver) => Err(source.error(
            span,
            format!(
                "instrument `{}` ({}) is not {kind}",
                i.name,
                i.driver.name()
            ),
            None,
        )),
        Some(i) if channel == 0 || channel > i.channels => Err(source.error(
            span,
            format!(
                "channel {channel} does not exist on `{}`; expected 1..={}",
                i.name, i.channels
            ),
            None,
        )),
        Some(i) => Ok(i.driver),
    }
}
