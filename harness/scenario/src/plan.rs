//! Scenario + rig → `Plan`: every reference resolved, every capability present, every setpoint
//! inside the rig's limits. Nothing touches an instrument before a plan exists.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;
use toml::Spanned;

mod gatt_steps;
mod probe_steps;

pub use probe_steps::ProbeOp;

use crate::diagnostic::{ConfigError, ConfigErrors, Problems, SourceFile};
use crate::gatt::GattRequest;
use crate::profile::{Profile, Transport, list_or_none};
use crate::rig::Driver;
use crate::rig_plan::{Device, Rig};
use crate::scenario::{
    DeviceCommand, Expect, ExpectSpec, InterruptBy, Output, Phase, Quantity, ScenarioFile, Step,
    Unit,
};

/// Capability suffixes a scenario may name in `needs` after a device name.
const DEVICE_CAPABILITIES: [&str; 4] = ["power", "console", "button", "probe"];

/// A scenario id names its snapshot file.
static SCENARIO_ID: std::sync::LazyLock<Regex> =
    std::sync::LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._-]*$").expect("valid regex"));
/// The catalog's entries, FAILURES.md.
static FAILURE_ID: std::sync::LazyLock<Regex> =
    std::sync::LazyLock::new(|| Regex::new(r"^F(0[1-9]|1[0-9]|2[0-2])$").expect("valid regex"));

/// F19: every pairing is timed; over 2 minutes warns, over 5 fails, unless the scenario says otherwise.
const PAIRING_WARN: f64 = 120.0;
const PAIRING_MAX: f64 = 300.0;
const DEFAULT_PAIR_WITHIN: Duration = Duration::from_secs(120);
const DEFAULT_COMMAND_WITHIN: Duration = Duration::from_secs(30);
const DEFAULT_DFU_WITHIN: Duration = Duration::from_secs(600);
/// How long a `scan` listens when the step does not say: a phone app's scan window.
const DEFAULT_SCAN_WINDOW: Duration = Duration::from_secs(10);

/// A parsed scenario file, checked for everything that does not depend on a rig.
#[derive(Debug)]
pub struct Scenario {
    pub id: String,
    pub failure: String,
    pub title: String,
    pub tags: Vec<String>,
    pub path: PathBuf,
    source: SourceFile,
    file: ScenarioFile,
}

/// Why a scenario cannot become a plan on a given rig.
#[derive(Debug)]
pub enum PlanError {
    /// The rig lacks something the scenario `needs`: skip it there, it is not an error.
    NotRunnable(Vec<String>),
    /// The scenario is wrong for this rig (unknown device, setpoint over a limit, …).
    Invalid(ConfigErrors),
    /// Two devices the scenario links share no transport: nothing could ever pair them.
    Incompatible(Vec<String>),
}

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub id: String,
    pub failure: String,
    pub title: String,
    pub tags: Vec<String>,
    pub path: PathBuf,
    #[serde(with = "secs")]
    pub timeout: Duration,
    pub steps: Vec<PlannedStep>,
    pub limits: Vec<Limit>,
    /// Firmware profiles this scenario runs instead of the rig's, by device.
    #[serde(skip)]
    pub profiles: BTreeMap<String, Arc<Profile>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlannedStep {
    pub phase: Phase,
    /// 1-based position within its phase.
    pub index: usize,
    /// `file:line:col` of the step, for messages.
    pub location: String,
    pub action: Action,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Power {
        device: String,
        instrument: String,
        channel: u8,
        setting: PowerSetting,
        /// The rig's hard limit for this device: a readback above it is a rig fault.
        max_volts: f64,
    },
    Pair {
        central: String,
        device: String,
        expect: Expect,
        #[serde(with = "secs")]
        within: Duration,
        attempts: u32,
    },
    WaitFor {
        device: String,
        event: String,
        with: BTreeMap<String, String>,
        #[serde(with = "secs")]
        within: Duration,
        measure: Option<String>,
    },
    Wait(#[serde(with = "secs")] Duration),
    Press {
        device: String,
        instrument: String,
        channel: u8,
        #[serde(with = "secs")]
        hold: Duration,
    },
    Attenuate {
        instrument: String,
        db: f64,
    },
    Connect {
        central: String,
        device: String,
        expect: Expect,
        #[serde(with = "secs")]
        within: Duration,
        attempts: u32,
    },
    Forget {
        central: String,
        device: String,
    },
    StopAnswering {
        central: String,
        device: String,
    },
    App {
        central: String,
        install: Option<u32>,
        restart: bool,
    },
    Dfu {
        central: String,
        device: String,
        image: Image,
        interrupt: Option<DfuInterrupt>,
        expect: Expect,
        #[serde(with = "secs")]
        within: Duration,
    },
    Flash {
        device: String,
        image: Image,
    },
    /// A debug-probe action other than writing an image.
    Probe {
        device: String,
        op: ProbeOp,
    },
    Scan {
        central: String,
        device: String,
        #[serde(with = "secs")]
        window: Duration,
        expect: Expect,
        measure: String,
    },
    Soak {
        central: String,
        device: String,
        #[serde(with = "secs")]
        duration: Duration,
        measure: String,
    },
    /// A link step whose two ends share no transport, as the scenario expects: nothing is attempted.
    Incompatible {
        central: String,
        device: String,
        central_transports: Vec<Transport>,
        device_transports: Vec<Transport>,
    },
    Adapter {
        central: String,
        on: bool,
    },
    Command {
        central: String,
        device: String,
        send: DeviceCommand,
        expect: Expect,
        #[serde(with = "secs")]
        within: Duration,
    },
    /// A GATT exchange with a bonded device.
    Gatt {
        central: String,
        device: String,
        request: Box<GattRequest>,
        /// A write expects to be accepted (`ok`) or refused with an ATT error (`fail`).
        expect: Expect,
        /// The value a read must return, or a subscription must be notified.
        value: Option<Vec<u8>>,
        /// The firmware's names for its ATT application errors, for reports.
        errors: BTreeMap<String, u8>,
        #[serde(with = "secs")]
        within: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerSetting {
    On(Setpoint),
    Off,
}

/// A firmware image: on the virtual rig, the profile of the build it contains.
#[derive(Clone, Debug)]
pub struct Image {
    pub path: PathBuf,
    pub profile: Arc<Profile>,
}

impl Serialize for Image {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.path.display())
    }
}

/// Where an update is cut short, and how.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DfuInterrupt {
    /// The device's supply channel is switched off.
    Power {
        at_percent: u8,
        instrument: String,
        channel: u8,
    },
    /// The RF attenuator goes to its maximum.
    Link { at_percent: u8, attenuator: String },
    /// The central's app is killed.
    App { at_percent: u8 },
}

impl DfuInterrupt {
    pub fn at_percent(&self) -> u8 {
        match self {
            DfuInterrupt::Power { at_percent, .. }
            | DfuInterrupt::Link { at_percent, .. }
            | DfuInterrupt::App { at_percent } => *at_percent,
        }
    }
}

/// What a supply channel is programmed to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Setpoint {
    pub volts: f64,
    pub amps: f64,
    pub series_ohms: Option<f64>,
}

/// Limits a measurement is checked against.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limit {
    pub name: String,
    pub unit: Unit,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub warn: Option<f64>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ConfigErrors> {
        let source = SourceFile::read(path)?;
        let file: ScenarioFile = source.parse()?;
        let mut problems = Problems::default();

        if !SCENARIO_ID.is_match(file.id.get_ref()) {
            problems.push(
                source.error(
                    file.id.span(),
                    format!("invalid id {:?}", file.id.get_ref()),
                    Some(
                        "expected letters, digits, `.`, `_` or `-`: the id names the snapshot file"
                            .into(),
                    ),
                ),
            );
        }

        if !FAILURE_ID.is_match(file.failure.get_ref()) {
            problems.push(source.error(
                file.failure.span(),
                format!("unknown failure {:?}", file.failure.get_ref()),
                Some("expected a catalog id from F01 to F22 (FAILURES.md)".into()),
            ));
        }
        for need in &file.needs {
            if let Some((_, cap)) = need.get_ref().split_once('.')
                && !DEVICE_CAPABILITIES.contains(&cap)
            {
                problems.push(source.error(
                    need.span(),
                    format!("unknown capability `{cap}`"),
                    Some(format!(
                        "expected `central`, `<device>` or `<device>.{{{}}}`",
                        DEVICE_CAPABILITIES.join(",")
                    )),
                ));
            }
        }
        if Phase::ALL.iter().all(|p| file.phase(*p).is_empty()) {
            problems.push(source.error(
                0..0,
                "the scenario has no steps",
                Some("add `[[reproduce]]` and `[[recover]]` steps".into()),
            ));
        }
        let scenario = Scenario {
            id: file.id.get_ref().clone(),
            failure: file.failure.get_ref().clone(),
            title: file.title.clone(),
            tags: file.tags.clone(),
            path: path.to_path_buf(),
            source,
            file,
        };
        problems.finish(scenario)
    }

    /// An error located at this scenario's `id`.
    pub fn id_error(&self, message: impl Into<String>, help: Option<String>) -> crate::ConfigError {
        self.source.error(self.file.id.span(), message, help)
    }

    pub fn timeout(&self) -> Duration {
        self.file.timeout.0
    }

    /// Resolves the scenario against a rig.
    pub fn plan(&self, rig: &Rig) -> Result<Plan, PlanError> {
        let caps = rig.capabilities();
        let missing: Vec<String> = self
            .file
            .needs
            .iter()
            .filter(|n| !caps.contains(n.get_ref()))
            .map(|n| format!("rig `{}` has no `{}`", rig.name, n.get_ref()))
            .collect();
        if !missing.is_empty() {
            return Err(PlanError::NotRunnable(missing));
        }

        let mut problems = Problems::default();
        let (profiles, mut not_runnable) = self.profile_overrides(rig, &mut problems);
        let rig = &rig.with_profiles(&profiles);
        let mut incompatible = Vec::new();
        let mut steps = Vec::new();
        for phase in Phase::ALL {
            for (i, step) in self.file.phase(phase).iter().enumerate() {
                let (line, col) = self.source.line_col(step.span().start);
                let mut findings = Findings {
                    problems: &mut problems,
                    incompatible: &mut incompatible,
                    not_runnable: &mut not_runnable,
                    pinned: &rig.pinned,
                };
                if let Some(action) = self.resolve(step.get_ref(), rig, &mut findings) {
                    steps.push(PlannedStep {
                        phase,
                        index: i + 1,
                        location: format!("{}:{line}:{col}", self.path.display()),
                        action,
                    });
                }
            }
        }
        for reason in steps.iter().filter_map(|s| beyond_central(rig, &s.action)) {
            if !not_runnable.contains(&reason) {
                not_runnable.push(reason);
            }
        }
        let limits = self.limits(&steps, &mut problems);
        let plan = problems
            .finish(Plan {
                id: self.id.clone(),
                failure: self.failure.clone(),
                title: self.title.clone(),
                tags: self.tags.clone(),
                path: self.path.clone(),
                timeout: self.timeout(),
                steps,
                limits,
                profiles,
            })
            .map_err(PlanError::Invalid)?;
        if !not_runnable.is_empty() {
            Err(PlanError::NotRunnable(not_runnable))
        } else if !incompatible.is_empty() {
            Err(PlanError::Incompatible(incompatible))
        } else {
            Ok(plan)
        }
    }

    fn device<'r>(
        &self,
        name: &Spanned<String>,
        rig: &'r Rig,
        problems: &mut Problems,
    ) -> Option<&'r Device> {
        let device = rig.devices.get(name.get_ref());
        if device.is_none() {
            problems.push(self.source.error(
                name.span(),
                format!("unknown device `{}`", name.get_ref()),
                Some(format!(
                    "devices on rig `{}`: {}; a scenario that needs a device some rigs lack lists it in `needs`",
                    rig.name,
                    list_or_none(&rig.device_names())
                )),
            ));
        }
        device
    }

    /// The scenario's `[profiles]`, loaded; errors are located at the entry.
    /// Also returns why the scenario cannot run, if `--profile` pinned a device to firmware of
    /// another model (other transports) than the one the scenario is about.
    fn profile_overrides(
        &self,
        rig: &Rig,
        problems: &mut Problems,
    ) -> (BTreeMap<String, Arc<Profile>>, Vec<String>) {
        let mut loaded = BTreeMap::new();
        let mut not_runnable = Vec::new();
        for (device, path) in &self.file.profiles {
            if !rig.devices.contains_key(device) {
                problems.push(self.source.error(
                    path.span(),
                    format!(
                        "`[profiles]` names device `{device}`, which rig `{}` does not have",
                        rig.name
                    ),
                    Some(format!("devices: {}", list_or_none(&rig.device_names()))),
                ));
                continue;
            }
            let Some(wanted) = self.image(path, problems) else {
                continue;
            };
            match (rig.pinned.contains_key(device), rig.devices.get(device)) {
                (true, Some(d)) if d.profile.transports != wanted.profile.transports => {
                    not_runnable.push(format!(
                        "this scenario is about `{device}` running {} ({}); `--profile` gives it {} ({})",
                        wanted.profile.name,
                        transport_names(&wanted.profile.transports),
                        d.profile.name,
                        transport_names(&d.profile.transports)
                    ));
                }
                (true, _) => {}
                (false, _) => {
                    loaded.insert(device.clone(), wanted.profile);
                }
            }
        }
        (loaded, not_runnable)
    }

    /// The error for a step on a device that lacks what the step drives.
    fn lacks(
        &self,
        at: &Spanned<String>,
        device: &Device,
        rig: &Rig,
        what: &str,
        capability: &str,
    ) -> ConfigError {
        self.source.error(
            at.span(),
            format!(
                "device `{}` has no {what} on rig `{}`",
                device.name, rig.name
            ),
            Some(format!(
                "add `{}.{capability}` to `needs` to skip rigs without one",
                device.name
            )),
        )
    }

    /// A firmware image (profile) named in this file, loaded; errors are located at the name.
    fn image(&self, path: &Spanned<String>, problems: &mut Problems) -> Option<Image> {
        let file = self
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join(path.get_ref());
        match Profile::load(&file) {
            Ok(profile) => Some(Image {
                path: file,
                profile: Arc::new(profile),
            }),
            Err(errors) => {
                for e in errors.errors {
                    match e {
                        crate::ConfigError::Io { source, .. } => problems.push(self.source.error(
                            path.span(),
                            format!("cannot read profile {}: {source}", file.display()),
                            Some("the path is relative to the scenario file".into()),
                        )),
                        other => problems.push(other),
                    }
                }
                None
            }
        }
    }

    /// A central: a central instrument, or a device whose firmware starts links itself.
    fn central(
        &self,
        name: &Spanned<String>,
        rig: &Rig,
        problems: &mut Problems,
    ) -> Option<CentralRef> {
        if let Some(i) = rig
            .instruments
            .get(name.get_ref())
            .filter(|i| i.driver.is_central())
        {
            return Some(CentralRef {
                name: i.name.clone(),
                transports: i.driver.transports().to_vec(),
                replay_only: i.driver.only_replays(),
            });
        }
        if let Some(d) = rig
            .devices
            .get(name.get_ref())
            .filter(|d| d.profile.behaviour.acts_as_central)
        {
            return Some(CentralRef {
                name: d.name.clone(),
                transports: d.profile.transports.clone(),
                replay_only: false,
            });
        }
        let mut centrals: Vec<&str> = rig
            .instruments
            .values()
            .filter(|i| i.driver.is_central())
            .map(|i| i.name.as_str())
            .collect();
        centrals.extend(
            rig.devices
                .values()
                .filter(|d| d.profile.behaviour.acts_as_central)
                .map(|d| d.name.as_str()),
        );
        problems.push(self.source.error(
            name.span(),
            format!("unknown central `{}`", name.get_ref()),
            Some(format!(
                "centrals on rig `{}`: {}",
                rig.name,
                list_or_none(&centrals)
            )),
        ));
        None
    }

    /// Checks that a link step's two ends share a transport, or that the scenario expects them not to.
    /// `Some(action)` replaces the step when they are incompatible as expected.
    fn transport_check(
        &self,
        central: &CentralRef,
        device: &Device,
        expect: ExpectSpec,
        at: &Spanned<String>,
        findings: &mut Findings<'_>,
    ) -> Option<Action> {
        let common: Vec<&str> = central
            .transports
            .iter()
            .filter(|t| device.profile.transports.contains(t))
            .map(|t| t.name())
            .collect();
        let names = |ts: &[Transport]| ts.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ");
        match (common.is_empty(), expect) {
            (true, ExpectSpec::Incompatible) => Some(Action::Incompatible {
                central: central.name.clone(),
                device: device.name.clone(),
                central_transports: central.transports.clone(),
                device_transports: device.profile.transports.clone(),
            }),
            (true, _) => {
                findings.incompatible.push(format!(
                    "`{}` speaks [{}] and `{}` speaks [{}]: no common transport, so they can never pair",
                    central.name,
                    names(&central.transports),
                    device.name,
                    names(&device.profile.transports)
                ));
                None
            }
            (false, ExpectSpec::Incompatible)
                if findings.pinned.contains_key(&device.name)
                    || findings.pinned.contains_key(&central.name) =>
            {
                // The premise was the firmware `--profile` replaced: nothing to test here.
                findings.not_runnable.push(format!(
                    "`--profile` gives `{}` and `{}` a common transport [{}]; this scenario is about devices without one",
                    central.name,
                    device.name,
                    common.join(", ")
                ));
                None
            }
            (false, ExpectSpec::Incompatible) => {
                findings.problems.push(self.source.error(
                    at.span(),
                    format!(
                        "`{}` and `{}` share [{}]: `expect = \"incompatible\"` does not hold",
                        central.name,
                        device.name,
                        common.join(", ")
                    ),
                    None,
                ));
                None
            }
            (false, _) => None,
        }
    }

    /// A pairing-like step (`pair`, `connect`): both ends resolved, transports checked.
    fn link_step(
        &self,
        p: &crate::scenario::PairStep,
        rig: &Rig,
        findings: &mut Findings<'_>,
    ) -> Option<Linked> {
        let central = self.central(&p.central, rig, findings.problems);
        let device = self.device(&p.device, rig, findings.problems)?;
        let attempts = p.attempts.as_ref().map_or(1, |a| *a.get_ref());
        if attempts == 0 {
            let span = p.attempts.as_ref().map_or(0..0, Spanned::span);
            findings.problems.push(
                self.source
                    .error(span, "`attempts` must be at least 1", None),
            );
        }
        let central = central?;
        if central.replay_only {
            findings.problems.push(self.source.error(
                p.central.span(),
                format!(
                    "`{}` can only replay recorded credentials: use `command`",
                    central.name
                ),
                None,
            ));
            return None;
        }
        if let Some(incompatible) =
            self.transport_check(&central, device, p.expect, &p.device, findings)
        {
            return Some(Linked::Incompatible(incompatible));
        }
        Some(Linked::Link {
            central: central.name,
            device: device.name.clone(),
            expect: as_expect(p.expect),
            within: p.within.map_or(DEFAULT_PAIR_WITHIN, |d| d.0),
            attempts,
        })
    }

    fn resolve(&self, step: &Step, rig: &Rig, findings: &mut Findings<'_>) -> Option<Action> {
        match step {
            Step::Pair(p) => Some(match self.link_step(p, rig, findings)? {
                Linked::Link {
                    central,
                    device,
                    expect,
                    within,
                    attempts,
                } => Action::Pair {
                    central,
                    device,
                    expect,
                    within,
                    attempts,
                },
                Linked::Incompatible(action) => action,
            }),
            Step::Connect(p) => Some(match self.link_step(p, rig, findings)? {
                Linked::Link {
                    central,
                    device,
                    expect,
                    within,
                    attempts,
                } => Action::Connect {
                    central,
                    device,
                    expect,
                    within,
                    attempts,
                },
                Linked::Incompatible(action) => action,
            }),
            Step::Command(c) => {
                let central = self.central(&c.central, rig, findings.problems);
                let device = self.device(&c.device, rig, findings.problems)?;
                let central = central?;
                if let Some(incompatible) =
                    self.transport_check(&central, device, c.expect, &c.device, findings)
                {
                    return Some(incompatible);
                }
                Some(Action::Command {
                    central: central.name,
                    device: device.name.clone(),
                    send: c.send,
                    expect: as_expect(c.expect),
                    within: c.within.map_or(DEFAULT_COMMAND_WITHIN, |d| d.0),
                })
            }
            Step::Reset(p) => self.probe_step(p, ProbeOp::Reset, rig, findings),
            Step::Halt(p) => self.probe_step(p, ProbeOp::Halt, rig, findings),
            Step::Erase(p) => self.probe_step(p, ProbeOp::Erase, rig, findings),
            Step::Rtt(r) => self.rtt_step(r, rig, findings),
            Step::GattRead(r) => self.gatt_read_step(r, rig, findings),
            Step::GattWrite(w) => self.gatt_write_step(w, rig, findings),
            Step::Subscribe(s) => self.subscribe_step(s, rig, findings),
            other => self.resolve_action(other, rig, findings.problems),
        }
    }

    fn resolve_action(&self, step: &Step, rig: &Rig, problems: &mut Problems) -> Option<Action> {
        let src = &self.source;
        match step {
            Step::Power(p) => {
                let device = self.device(&p.device, rig, problems)?;
                let Some(feed) = &device.power else {
                    problems.push(self.lacks(&p.device, device, rig, "power feed", "power"));
                    return None;
                };
                let setting = match p.output {
                    Output::Off => PowerSetting::Off,
                    Output::On => {
                        let limit = |value: &Spanned<f64>,
                                     max: f64,
                                     what: &str,
                                     problems: &mut Problems| {
                            self.check_limit(value, max, what, rig, device, problems)
                        };
                        let volts = match (&p.volts, &p.soc_percent) {
                            (Some(volts), None) => limit(volts, feed.max_volts, "volts", problems),
                            (None, Some(soc)) => {
                                let volts = self.cell_volts(soc, rig, device, problems)?;
                                let at_soc = Spanned::new(soc.span(), volts);
                                limit(&at_soc, feed.max_volts, "volts", problems)
                            }
                            (Some(_), Some(soc)) => {
                                problems.push(src.error(
                                    soc.span(),
                                    "give `volts` or `soc_percent`, not both",
                                    None,
                                ));
                                return None;
                            }
                            (None, None) => {
                                problems.push(src.error(
                                    p.device.span(),
                                    "`volts` or `soc_percent` is required to switch a supply on",
                                    Some("add `volts = …`, or `output = \"off\"`".into()),
                                ));
                                return None;
                            }
                        };
                        let amps = match &p.amps {
                            Some(a) => limit(a, feed.max_amps, "amps", problems),
                            None => feed.max_amps,
                        };
                        let series_ohms = match &p.series_ohms {
                            None => None,
                            Some(r) => {
                                let driver = rig.instruments[&feed.instrument].driver;
                                if !driver.has_series_resistance() {
                                    problems.push(src.error(
                                        r.span(),
                                        format!(
                                            "`{}` ({}) cannot emulate series resistance",
                                            feed.instrument,
                                            driver.name()
                                        ),
                                        Some(
                                            "use a battery simulator, or drop `series_ohms`".into(),
                                        ),
                                    ));
                                }
                                match feed.max_series_ohms {
                                    Some(max) => Some(limit(r, max, "series_ohms", problems)),
                                    None => {
                                        problems.push(src.error(
                                            r.span(),
                                            format!(
                                                "rig `{}` sets no `max_series_ohms` for `{}`",
                                                rig.name, device.name
                                            ),
                                            Some(format!(
                                                "declare it in the device's power feed in {}",
                                                rig.path.display()
                                            )),
                                        ));
                                        None
                                    }
                                }
                            }
                        };
                        PowerSetting::On(Setpoint {
                            volts,
                            amps,
                            series_ohms,
                        })
                    }
                };
                Some(Action::Power {
                    device: device.name.clone(),
                    instrument: feed.instrument.clone(),
                    channel: feed.channel,
                    setting,
                    max_volts: feed.max_volts,
                })
            }
            Step::Forget(f) => {
                let central = self.central(&f.central, rig, problems);
                let device = self.device(&f.device, rig, problems)?;
                Some(Action::Forget {
                    central: central?.name,
                    device: device.name.clone(),
                })
            }
            Step::App(a) => {
                let central = self.central(&a.central, rig, problems)?;
                if a.install.is_none() && !a.restart {
                    problems.push(src.error(
                        a.central.span(),
                        "an `app` step needs `install = <version>`, `restart = true`, or both",
                        None,
                    ));
                }
                Some(Action::App {
                    central: central.name,
                    install: a.install,
                    restart: a.restart,
                })
            }
            Step::StopAnswering(f) => {
                let central = self.central(&f.central, rig, problems);
                let device = self.device(&f.device, rig, problems)?;
                Some(Action::StopAnswering {
                    central: central?.name,
                    device: device.name.clone(),
                })
            }
            Step::Pair(_)
            | Step::Connect(_)
            | Step::Command(_)
            | Step::Reset(_)
            | Step::Halt(_)
            | Step::Erase(_)
            | Step::Rtt(_)
            | Step::GattRead(_)
            | Step::GattWrite(_)
            | Step::Subscribe(_) => {
                unreachable!("link, probe and GATT steps are resolved by `resolve`")
            }
            Step::Dfu(d) => {
                let central = self.central(&d.central, rig, problems);
                let device = self.device(&d.device, rig, problems)?;
                let image = self.image(&d.image, problems);
                let interrupt = match &d.interrupt {
                    None => None,
                    Some(i) => {
                        let at_percent = *i.at_percent.get_ref();
                        if !(1..=99).contains(&at_percent) {
                            problems.push(src.error(
                                i.at_percent.span(),
                                "`at_percent` must be between 1 and 99",
                                None,
                            ));
                        }
                        match i.by {
                            InterruptBy::App => Some(DfuInterrupt::App { at_percent }),
                            InterruptBy::Power => match &device.power {
                                Some(feed) => Some(DfuInterrupt::Power {
                                    at_percent,
                                    instrument: feed.instrument.clone(),
                                    channel: feed.channel,
                                }),
                                None => {
                                    problems.push(src.error(
                                        i.at_percent.span(),
                                        format!(
                                            "cutting the power needs a power feed for `{}`",
                                            device.name
                                        ),
                                        None,
                                    ));
                                    None
                                }
                            },
                            InterruptBy::Link => {
                                match rig.attenuator() {
                                    Some(a) => Some(DfuInterrupt::Link {
                                        at_percent,
                                        attenuator: a.name.clone(),
                                    }),
                                    None => {
                                        problems.push(src.error(i.at_percent.span(), format!("dropping the link needs an RF attenuator on rig `{}`", rig.name), None));
                                        None
                                    }
                                }
                            }
                        }
                    }
                };
                let image = image.map(|i| Image {
                    profile: rig.image_for(&device.name, i.profile),
                    ..i
                });
                Some(Action::Dfu {
                    central: central?.name,
                    device: device.name.clone(),
                    image: image?,
                    interrupt,
                    expect: d.expect,
                    within: d.within.map_or(DEFAULT_DFU_WITHIN, |w| w.0),
                })
            }
            Step::Soak(k) => {
                let central = self.central(&k.central, rig, problems);
                let device = self.device(&k.device, rig, problems)?;
                Some(Action::Soak {
                    central: central?.name,
                    device: device.name.clone(),
                    duration: k.duration.0,
                    measure: k.measure.clone().unwrap_or_else(|| "disconnects".into()),
                })
            }
            Step::Scan(k) => {
                let central = self.central(&k.central, rig, problems);
                let device = self.device(&k.device, rig, problems)?;
                Some(Action::Scan {
                    central: central?.name,
                    device: device.name.clone(),
                    window: k.within.map_or(DEFAULT_SCAN_WINDOW, |w| w.0),
                    expect: k.expect,
                    measure: k.measure.clone().unwrap_or_else(|| "rssi".into()),
                })
            }
            Step::Flash(f) => self.flash_step(f, rig, problems),
            Step::Adapter(a) => Some(Action::Adapter {
                central: self.central(&a.central, rig, problems)?.name,
                on: a.power == Output::On,
            }),
            Step::Press(p) => {
                let device = self.device(&p.device, rig, problems)?;
                let Some(contact) = &device.button else {
                    problems.push(self.lacks(&p.device, device, rig, "button relay", "button"));
                    return None;
                };
                Some(Action::Press {
                    device: device.name.clone(),
                    instrument: contact.instrument.clone(),
                    channel: contact.channel,
                    hold: p.hold.0,
                })
            }
            Step::Attenuate(a) => {
                let Some(attenuator) = rig.attenuator() else {
                    problems.push(src.error(
                        a.db.span(),
                        format!("rig `{}` has no RF attenuator", rig.name),
                        Some("add `attenuator` to `needs` to skip rigs without one".into()),
                    ));
                    return None;
                };
                let db = *a.db.get_ref();
                if let Some((max, step)) = attenuator.driver.attenuation_range()
                    && (!(0.0..=max).contains(&db) || (db / step).fract() != 0.0)
                {
                    problems.push(src.error(
                            a.db.span(),
                            format!("{db} dB is not a setting of `{}`: expected 0..={max} dB in {step} dB steps", attenuator.name),
                            None,
                        ));
                }
                Some(Action::Attenuate {
                    instrument: attenuator.name.clone(),
                    db,
                })
            }
            Step::WaitFor(w) => {
                let device = self.device(&w.device, rig, problems)?;
                let events: Vec<&str> = device.profile.events().collect();
                if !events.contains(&w.event.get_ref().as_str()) {
                    problems.push(src.error(
                        w.event.span(),
                        format!(
                            "profile `{}` has no event `{}`",
                            device.profile.name,
                            w.event.get_ref()
                        ),
                        Some(format!("events it reports: {}", list_or_none(&events))),
                    ));
                }
                Some(Action::WaitFor {
                    device: device.name.clone(),
                    event: w.event.get_ref().clone(),
                    with: w.with.clone(),
                    within: w.within.0,
                    measure: w.measure.clone(),
                })
            }
            Step::Wait(d) => Some(Action::Wait(d.0)),
        }
    }

    /// A setpoint, after checking it lies in `0..=max`.
    /// The open-circuit voltage of `device`'s cell at a state of charge.
    fn cell_volts(
        &self,
        soc: &Spanned<f64>,
        rig: &Rig,
        device: &Device,
        problems: &mut Problems,
    ) -> Option<f64> {
        let percent = *soc.get_ref();
        let Some(cell) = device.cell else {
            problems.push(self.source.error(
                soc.span(),
                format!(
                    "rig `{}` does not say what powers `{}`, so a state of charge has no voltage",
                    rig.name, device.name
                ),
                Some(format!(
                    "add e.g. `cell = \"lipo-1s\"` to the device in {}",
                    rig.path.display()
                )),
            ));
            return None;
        };
        if !(0.0..=100.0).contains(&percent) {
            problems.push(self.source.error(
                soc.span(),
                format!("soc_percent = {percent} is outside 0..=100"),
                None,
            ));
            return None;
        }
        Some(cell.open_circuit_volts(percent))
    }

    fn check_limit(
        &self,
        value: &Spanned<f64>,
        max: f64,
        what: &str,
        rig: &Rig,
        device: &Device,
        problems: &mut Problems,
    ) -> f64 {
        let v = *value.get_ref();
        if !(0.0..=max).contains(&v) {
            problems.push(self.source.error(
                value.span(),
                format!(
                    "{what} = {v} is outside 0..={max}, the limit rig `{}` sets for `{}`",
                    rig.name, device.name
                ),
                Some(format!(
                    "the limit is `max_{what}` in {}",
                    rig.path.display()
                )),
            ));
        }
        v
    }

    fn limits(&self, steps: &[PlannedStep], problems: &mut Problems) -> Vec<Limit> {
        let mut recorded: Vec<(&str, Unit)> = Vec::new();
        for step in steps {
            match &step.action {
                Action::Pair { .. } => recorded.push(("pairing_time", Unit::Seconds)),
                Action::Connect { .. } => recorded.push(("connect_time", Unit::Seconds)),
                Action::Soak { measure, .. } => recorded.push((measure, Unit::None)),
                Action::Scan { measure, .. } => recorded.push((measure, Unit::Dbm)),
                Action::WaitFor {
                    measure: Some(m), ..
                } => recorded.push((m, Unit::Seconds)),
                _ => {}
            }
        }
        let mut limits = Vec::new();
        for spec in &self.file.measure {
            let name = spec.name.get_ref();
            let Some((_, unit)) = recorded.iter().find(|(n, _)| n == name) else {
                let names: Vec<&str> = recorded.iter().map(|(n, _)| *n).collect();
                problems.push(self.source.error(
                    spec.name.span(),
                    format!("no step records a measurement `{name}`"),
                    Some(format!(
                        "measurements this scenario records: {}",
                        list_or_none(&names)
                    )),
                ));
                continue;
            };
            let mut value = |q: Option<Quantity>| {
                let q = q?;
                if q.unit != *unit {
                    problems.push(self.source.error(
                        spec.name.span(),
                        format!("`{name}` is in {unit:?} but a limit is in {:?}", q.unit),
                        None,
                    ));
                }
                Some(q.value)
            };
            limits.push(Limit {
                name: name.clone(),
                unit: *unit,
                min: value(spec.min),
                max: value(spec.max),
                warn: value(spec.warn),
            });
        }
        if recorded.iter().any(|(n, _)| *n == "pairing_time")
            && !limits.iter().any(|l| l.name == "pairing_time")
        {
            limits.push(Limit {
                name: "pairing_time".into(),
                unit: Unit::Seconds,
                min: None,
                max: Some(PAIRING_MAX),
                warn: Some(PAIRING_WARN),
            });
        }
        limits
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Power {
                device, setting, ..
            } => match setting {
                PowerSetting::Off => write!(f, "power {device} off"),
                PowerSetting::On(s) => write!(f, "power {device} {s}"),
            },
            Action::Pair {
                central,
                device,
                expect,
                ..
            } => write!(f, "pair {central} with {device}, expect {expect:?}"),
            Action::WaitFor { device, event, .. } => write!(f, "wait for {device} {event}"),
            Action::Wait(d) => write!(f, "wait {}", humantime::format_duration(*d)),
            Action::Press { device, hold, .. } => {
                write!(
                    f,
                    "press {device} button for {}",
                    humantime::format_duration(*hold)
                )
            }
            Action::Attenuate { db, .. } => write!(f, "attenuate the RF path to {db} dB"),
            Action::Connect {
                central,
                device,
                expect,
                ..
            } => write!(f, "connect {central} to {device}, expect {expect:?}"),
            Action::Forget { central, device } => write!(f, "forget {device} on {central}"),
            Action::App {
                central,
                install,
                restart,
            } => {
                write!(f, "{central}:")?;
                if let Some(v) = install {
                    write!(f, " install app v{v}")?;
                }
                if *restart {
                    write!(f, " restart the app")?;
                }
                Ok(())
            }
            Action::StopAnswering { central, device } => {
                write!(f, "{central} goes silent while connected to {device}")
            }
            Action::Dfu {
                central,
                device,
                image,
                interrupt,
                ..
            } => {
                write!(
                    f,
                    "{central} updates {device} to {} {}",
                    image.profile.name, image.profile.version
                )?;
                match interrupt {
                    Some(i) => write!(f, ", cut at {} %", i.at_percent()),
                    None => Ok(()),
                }
            }
            Action::Scan {
                central,
                device,
                window,
                expect,
                ..
            } => write!(
                f,
                "{central} listens {} for {device}, expect {expect:?}",
                humantime::format_duration(*window)
            ),
            Action::Soak {
                central,
                device,
                duration,
                ..
            } => write!(
                f,
                "{central} holds a connection to {device} for {}",
                humantime::format_duration(*duration)
            ),
            Action::Gatt {
                central,
                device,
                request,
                expect,
                value,
                ..
            } => {
                let c = request.characteristic();
                match &**request {
                    GattRequest::Read(_) => write!(f, "{central} reads {device} {}", c.name)?,
                    GattRequest::Write { value, .. } => write!(
                        f,
                        "{central} writes {device} {} = {}, expect {expect:?}",
                        c.name,
                        c.describe(value)
                    )?,
                    GattRequest::Subscribe { write, .. } => {
                        write!(f, "{central} subscribes to {device} {}", c.name)?;
                        if let Some((written, bytes)) = write {
                            write!(f, ", writes {} = {}", written.name, written.describe(bytes))?;
                        }
                    }
                }
                match value {
                    Some(v) => write!(f, ", expect {}", c.describe(v)),
                    None => Ok(()),
                }
            }
            Action::Flash { device, image } => {
                write!(
                    f,
                    "flash {device} with {} {} over the probe",
                    image.profile.name, image.profile.version
                )
            }
            Action::Probe { device, op } => match op {
                ProbeOp::Rtt { .. } => write!(f, "read {device}'s RTT log over the probe"),
                ProbeOp::Reset | ProbeOp::Halt | ProbeOp::Erase => {
                    write!(f, "{} {device} over the probe", op.name())
                }
            },
            Action::Incompatible {
                central, device, ..
            } => {
                write!(f, "{central} and {device} share no transport (expected)")
            }
            Action::Command {
                central,
                device,
                send,
                expect,
                ..
            } => write!(
                f,
                "{central} sends {} to {device}, expect {expect:?}",
                send.name()
            ),
            Action::Adapter { central, on } => {
                write!(
                    f,
                    "switch {central}'s adapter {}",
                    if *on { "on" } else { "off" }
                )
            }
        }
    }
}

impl fmt::Display for Setpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} V ≤{:.2} A", self.volts, self.amps)?;
        if let Some(r) = self.series_ohms {
            write!(f, " {r} Ω series")?;
        }
        Ok(())
    }
}

fn transport_names(transports: &[Transport]) -> String {
    transports
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join("+")
}

/// A step's expectation once `incompatible` has been checked and replaced by the planner.
fn as_expect(spec: ExpectSpec) -> Expect {
    match spec {
        ExpectSpec::Ok => Expect::Ok,
        ExpectSpec::Fail | ExpectSpec::Incompatible => Expect::Fail,
    }
}

/// A `pair` or `connect` step resolved: both ends, or the expected incompatibility instead.
enum Linked {
    Link {
        central: String,
        device: String,
        expect: Expect,
        within: Duration,
        attempts: u32,
    },
    Incompatible(Action),
}

/// A step its central's driver cannot carry out: a shell dongle has no application layer, and a
/// host's controller keeps answering while its app is silent.
fn beyond_central(rig: &Rig, action: &Action) -> Option<String> {
    let (central, what, lacks): (_, _, fn(Driver) -> bool) = match action {
        Action::Command { central, .. } => (central, "application commands", Driver::links_only),
        Action::Dfu { central, .. } => (central, "firmware updates", Driver::links_only),
        Action::Soak { central, .. } => (central, "soaks", Driver::links_only),
        Action::Gatt { central, .. } => (central, "GATT", |d: Driver| !d.has_gatt_client()),
        Action::StopAnswering { central, .. } => (
            central,
            "`stop_answering` (the host's controller keeps answering)",
            Driver::always_answers,
        ),
        _ => return None,
    };
    let driver = rig.instruments.get(central)?.driver;
    lacks(driver).then(|| format!("`{central}` ({}) cannot do {what}", driver.name()))
}

/// A resolved central: an instrument, or a device that starts links itself.
struct CentralRef {
    name: String,
    transports: Vec<Transport>,
    replay_only: bool,
}

/// What resolving a step can find besides its action.
struct Findings<'a> {
    problems: &'a mut Problems,
    /// Link steps whose ends share no transport.
    incompatible: &'a mut Vec<String>,
    /// Reasons the scenario cannot run with the firmware the user pinned.
    not_runnable: &'a mut Vec<String>,
    pinned: &'a BTreeMap<String, Arc<Profile>>,
}

mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
