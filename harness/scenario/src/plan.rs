//! Scenario + rig → `Plan`: every reference resolved, every capability present, every setpoint
//! inside the rig's limits. Nothing touches an instrument before a plan exists.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Serialize;
use toml::Spanned;

use crate::diagnostic::{ConfigErrors, Problems, SourceFile};
use crate::profile::list_or_none;
use crate::rig_plan::{Device, Rig};
use crate::scenario::{DeviceCommand, Expect, Output, Phase, Quantity, ScenarioFile, Step, Unit};

/// Capability suffixes a scenario may name in `needs` after a device name.
const DEVICE_CAPABILITIES: [&str; 3] = ["power", "console", "button"];

/// F19: every pairing is timed; over 2 minutes warns, over 5 fails, unless the scenario says otherwise.
const PAIRING_WARN: f64 = 120.0;
const PAIRING_MAX: f64 = 300.0;
const DEFAULT_PAIR_WITHIN: Duration = Duration::from_secs(120);
const DEFAULT_COMMAND_WITHIN: Duration = Duration::from_secs(30);

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
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerSetting {
    On(Setpoint),
    Off,
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

        let id_ok = Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._-]*$").expect("valid regex");
        if !id_ok.is_match(file.id.get_ref()) {
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
        let failure_ok = Regex::new(r"^F(0[1-9]|1[0-9]|2[0-2])$").expect("valid regex");
        if !failure_ok.is_match(file.failure.get_ref()) {
            problems.push(source.error(
                file.failure.span(),
                format!("unknown failure {:?}", file.failure.get_ref()),
                Some("expected a catalog id from F01 to F22 (FAILURES.md)".into()),
            ));
        }
        for need in &file.needs {
            if let Some((_, cap)) = need.get_ref().split_once('.') {
                if !DEVICE_CAPABILITIES.contains(&cap) {
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
        let mut steps = Vec::new();
        for phase in Phase::ALL {
            for (i, step) in self.file.phase(phase).iter().enumerate() {
                let (line, col) = self.source.line_col(step.span().start);
                if let Some(action) = self.resolve(step.get_ref(), rig, &mut problems) {
                    steps.push(PlannedStep {
                        phase,
                        index: i + 1,
                        location: format!("{}:{line}:{col}", self.path.display()),
                        action,
                    });
                }
            }
        }
        let limits = self.limits(&steps, &mut problems);
        problems
            .finish(Plan {
                id: self.id.clone(),
                failure: self.failure.clone(),
                title: self.title.clone(),
                tags: self.tags.clone(),
                path: self.path.clone(),
                timeout: self.timeout(),
                steps,
                limits,
            })
            .map_err(PlanError::Invalid)
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

    fn central(
        &self,
        name: &Spanned<String>,
        rig: &Rig,
        problems: &mut Problems,
    ) -> Option<String> {
        let found = rig
            .instruments
            .get(name.get_ref())
            .is_some_and(|c| c.driver.is_central());
        if !found {
            let centrals: Vec<&str> = rig
                .instruments
                .values()
                .filter(|i| i.driver.is_central())
                .map(|i| i.name.as_str())
                .collect();
            problems.push(self.source.error(
                name.span(),
                format!("unknown central `{}`", name.get_ref()),
                Some(format!(
                    "centrals on rig `{}`: {}",
                    rig.name,
                    list_or_none(&centrals)
                )),
            ));
        }
        found.then(|| name.get_ref().clone())
    }

    /// A pairing-like step: `pair` or `connect`.
    fn link_step(
        &self,
        p: &crate::scenario::PairStep,
        rig: &Rig,
        problems: &mut Problems,
    ) -> Option<(String, String, Duration, u32)> {
        let central = self.central(&p.central, rig, problems);
        let device = self.device(&p.device, rig, problems)?;
        let attempts = p.attempts.as_ref().map_or(1, |a| *a.get_ref());
        if attempts == 0 {
            let span = p.attempts.as_ref().map_or(0..0, Spanned::span);
            problems.push(
                self.source
                    .error(span, "`attempts` must be at least 1", None),
            );
        }
        Some((
            central?,
            device.name.clone(),
            p.within.map_or(DEFAULT_PAIR_WITHIN, |d| d.0),
            attempts,
        ))
    }

    fn resolve(&self, step: &Step, rig: &Rig, problems: &mut Problems) -> Option<Action> {
        let src = &self.source;
        match step {
            Step::Power(p) => {
                let device = self.device(&p.device, rig, problems)?;
                let Some(feed) = &device.power else {
                    problems.push(src.error(
                        p.device.span(),
                        format!(
                            "device `{}` has no power feed on rig `{}`",
                            device.name, rig.name
                        ),
                        Some(format!(
                            "add `{}.power` to `needs` to skip rigs without one",
                            device.name
                        )),
                    ));
                    return None;
                };
                let setting = match p.output {
                    Output::Off => PowerSetting::Off,
                    Output::On => {
                        let Some(volts) = &p.volts else {
                            problems.push(src.error(
                                p.device.span(),
                                "`volts` is required to switch a supply on",
                                Some("add `volts = …`, or `output = \"off\"`".into()),
                            ));
                            return None;
                        };
                        let limit = |value: &Spanned<f64>,
                                     max: f64,
                                     what: &str,
                                     problems: &mut Problems| {
                            self.check_limit(value, max, what, rig, device, problems)
                        };
                        let volts = limit(volts, feed.max_volts, "volts", problems);
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
                })
            }
            Step::Pair(p) => {
                let (central, device, within, attempts) = self.link_step(p, rig, problems)?;
                Some(Action::Pair {
                    central,
                    device,
                    expect: p.expect,
                    within,
                    attempts,
                })
            }
            Step::Connect(p) => {
                let (central, device, within, attempts) = self.link_step(p, rig, problems)?;
                Some(Action::Connect {
                    central,
                    device,
                    expect: p.expect,
                    within,
                    attempts,
                })
            }
            Step::Forget(f) => {
                let central = self.central(&f.central, rig, problems);
                let device = self.device(&f.device, rig, problems)?;
                Some(Action::Forget {
                    central: central?,
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
                    central,
                    install: a.install,
                    restart: a.restart,
                })
            }
            Step::StopAnswering(f) => {
                let central = self.central(&f.central, rig, problems);
                let device = self.device(&f.device, rig, problems)?;
                Some(Action::StopAnswering {
                    central: central?,
                    device: device.name.clone(),
                })
            }
            Step::Command(c) => {
                let central = self.central(&c.central, rig, problems);
                let device = self.device(&c.device, rig, problems)?;
                Some(Action::Command {
                    central: central?,
                    device: device.name.clone(),
                    send: c.send,
                    expect: c.expect,
                    within: c.within.map_or(DEFAULT_COMMAND_WITHIN, |d| d.0),
                })
            }
            Step::Adapter(a) => Some(Action::Adapter {
                central: self.central(&a.central, rig, problems)?,
                on: a.power == Output::On,
            }),
            Step::Press(p) => {
                let device = self.device(&p.device, rig, problems)?;
                let Some(contact) = &device.button else {
                    problems.push(src.error(
                        p.device.span(),
                        format!(
                            "device `{}` has no button relay on rig `{}`",
                            device.name, rig.name
                        ),
                        Some(format!(
                            "add `{}.button` to `needs` to skip rigs without one",
                            device.name
                        )),
                    ));
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
                if let Some((max, step)) = attenuator.driver.attenuation_range() {
                    if !(0.0..=max).contains(&db) || (db / step).fract() != 0.0 {
                        problems.push(src.error(
                            a.db.span(),
                            format!("{db} dB is not a setting of `{}`: expected 0..={max} dB in {step} dB steps", attenuator.name),
                            None,
                        ));
                    }
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

mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
