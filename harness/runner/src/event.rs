//! The one event stream. Every observable thing in a run is an `Event`; reporters, the recovery
//! snapshot and the exit code are all derived from it. Nothing else prints results.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use hil_rig::Readback;
use hil_scenario::{Phase, Unit};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    /// Time on the rig's clock since the scenario (or the run, for run events) started;
    /// virtual time on the virtual rig.
    #[serde(serialize_with = "secs", deserialize_with = "from_secs")]
    pub at: Duration,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// An event from one line of `events.jsonl`.
    ///
    /// Through `serde_json::Value` first: a dependency (defmt-decoder) turns on serde_json's
    /// `arbitrary_precision`, under which numbers inside a flattened or internally tagged enum
    /// fail to parse straight from text ("invalid type: map, expected f64", serde-rs/json#505).
    pub fn from_json(line: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_value(serde_json::from_slice(line)?)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        run_id: String,
        rig: String,
        /// The rig file, so reporters can bundle it.
        rig_path: PathBuf,
        scenarios: usize,
        seed: u64,
    },
    ScenarioStarted {
        id: String,
        failure: String,
        title: String,
    },
    StepStarted {
        phase: Phase,
        index: usize,
        action: String,
        location: String,
    },
    /// Something the harness did to an instrument, and what the instrument read back.
    InstrumentAction {
        instrument: String,
        action: String,
        readback: InstrumentReadback,
    },
    /// A raw line from a device's console.
    ConsoleLine {
        device: String,
        line: String,
    },
    /// Something a device did: a console line recognised by its profile, or a central's observation.
    DeviceEvent {
        device: String,
        name: String,
        fields: BTreeMap<String, String>,
        /// Fields that belong in the recovery snapshot.
        keep: Vec<String>,
    },
    Measurement(Measurement),
    /// How far a transfer has got: an image upload, once per chunk the device acknowledged.
    Progress {
        device: String,
        what: String,
        done: u64,
        total: u64,
    },
    StepFinished {
        phase: Phase,
        index: usize,
        outcome: Outcome,
        message: Option<String>,
    },
    ScenarioFinished(Box<ScenarioResult>),
    RunFinished(RunSummary),
}

/// What an instrument reads back after an action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InstrumentReadback {
    Supply(Readback),
    Contact {
        closed: bool,
    },
    Attenuation {
        db: f64,
    },
    /// A debug probe wrote this firmware version.
    Flashed {
        version: String,
    },
    /// What a debug probe left the target's core in.
    Target {
        state: TargetState,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    Running,
    Halted,
    /// The flash is blank: nothing boots until the next flash.
    Erased,
    /// Running, its RTT up channels read as the device's log.
    Logging,
}

impl fmt::Display for InstrumentReadback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstrumentReadback::Supply(r) => write!(
                f,
                "{:.3} V {:.3} A {}",
                r.volts,
                r.amps,
                if r.output_on { "on" } else { "off" }
            ),
            InstrumentReadback::Contact { closed } => {
                f.write_str(if *closed { "closed" } else { "open" })
            }
            InstrumentReadback::Attenuation { db } => write!(f, "{db} dB"),
            InstrumentReadback::Flashed { version } => write!(f, "v{version} written"),
            InstrumentReadback::Target { state } => f.write_str(match state {
                TargetState::Running => "running",
                TargetState::Halted => "halted",
                TargetState::Erased => "erased",
                TargetState::Logging => "RTT attached",
            }),
        }
    }
}

/// How a scenario (or a step) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Pass,
    /// The device did not behave: an expectation, a limit or the recovery snapshot failed.
    Fail,
    /// The rig failed: an instrument, a port, a console. Not the device's fault.
    Error,
    /// The scenario ran past its `timeout`.
    Timeout,
    /// Not run: the rig lacks a capability the scenario needs.
    Skipped,
    /// Not run: two devices the scenario links share no transport; found at plan time.
    Incompatible,
    /// Stopped by the operator (Ctrl-C, SIGTERM), or not started because the run was.
    Aborted,
}

impl Outcome {
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Pass | Outcome::Skipped)
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Error => "ERROR",
            Outcome::Timeout => "TIMEOUT",
            Outcome::Skipped => "SKIPPED",
            Outcome::Incompatible => "INCOMPATIBLE",
            Outcome::Aborted => "ABORTED",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub name: String,
    pub value: f64,
    pub unit: Unit,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub warn: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    /// No limit declared: recorded only.
    Recorded,
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = self.unit.symbol();
        write!(f, "{} = {:.3}{unit}", self.name, self.value)?;
        if let Some(max) = self.max {
            write!(f, " (max {max}{unit})")?;
        }
        if let Some(min) = self.min {
            write!(f, " (min {min}{unit})")?;
        }
        Ok(())
    }
}

/// What happened to the recovery snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SnapshotStatus {
    Matched,
    /// Written by `--accept`.
    Accepted,
    /// No reviewed snapshot exists yet.
    Missing {
        trace: String,
    },
    Mismatch {
        diff: String,
    },
    /// The scenario ended before a trace worth comparing existed (ERROR, TIMEOUT, SKIPPED).
    NotChecked,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub id: String,
    pub failure: String,
    pub title: String,
    pub path: PathBuf,
    pub rig: String,
    /// Firmware each device ran, by device name.
    pub firmware: BTreeMap<String, Firmware>,
    pub outcome: Outcome,
    /// The first reason for the outcome, one line.
    pub message: Option<String>,
    pub warnings: Vec<String>,
    pub measurements: Vec<Measurement>,
    pub snapshot: SnapshotStatus,
    /// Rig-clock duration: virtual time on the virtual rig.
    pub rig_secs: f64,
    pub wall_secs: f64,
    pub seed: u64,
    /// The command that re-runs just this scenario.
    pub rerun: String,
    /// Every device's console, in order, stamped with rig time.
    pub log: String,
    /// Known flaky (`quarantine.toml`): reported apart, does not fail the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<String>,
}

/// The firmware profile a device ran: what a bug report needs to name the build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Firmware {
    pub profile: String,
    pub version: String,
    pub path: PathBuf,
}

impl Firmware {
    pub fn of_rig(rig: &hil_scenario::Rig) -> BTreeMap<String, Firmware> {
        rig.devices
            .iter()
            .map(|(name, device)| {
                let firmware = Firmware {
                    profile: device.profile.name.clone(),
                    version: device.profile.version.clone(),
                    path: device.profile_path.clone(),
                };
                (name.clone(), firmware)
            })
            .collect()
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub timeout: usize,
    pub skipped: usize,
    pub incompatible: usize,
    pub aborted: usize,
    /// Did not pass, but quarantined: counted here instead of under its outcome.
    #[serde(default)]
    pub quarantined: usize,
}

impl Totals {
    pub fn add(&mut self, result: &ScenarioResult) {
        if result.quarantined.is_some() && !result.outcome.is_success() {
            self.quarantined += 1;
            return;
        }
        *match result.outcome {
            Outcome::Pass => &mut self.pass,
            Outcome::Fail => &mut self.fail,
            Outcome::Error => &mut self.error,
            Outcome::Timeout => &mut self.timeout,
            Outcome::Skipped => &mut self.skipped,
            Outcome::Incompatible => &mut self.incompatible,
            Outcome::Aborted => &mut self.aborted,
        } += 1;
    }

    pub fn all_passed(&self) -> bool {
        self.fail + self.error + self.timeout + self.incompatible + self.aborted == 0
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunSummary {
    pub totals: Totals,
    pub rig_secs: f64,
    pub wall_secs: f64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn from_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readbacks carry numbers inside the flattened, tagged event: the case `arbitrary_precision`
    /// (on in this build, through defmt-decoder) breaks when parsed straight from text.
    #[test]
    fn an_event_with_numbers_in_tagged_enums_reads_back_from_its_json_line() {
        let event = Event {
            at: Duration::from_millis(1500),
            kind: EventKind::InstrumentAction {
                instrument: "psu".into(),
                action: "ch1 4.20 V".into(),
                readback: InstrumentReadback::Supply(Readback {
                    output_on: true,
                    volts: 4.2,
                    amps: 0.05,
                }),
            },
        };
        let line = serde_json::to_string(&event).unwrap();
        let back = Event::from_json(line.as_bytes()).unwrap();
        assert_eq!(back.at, event.at);
        let EventKind::InstrumentAction { readback, .. } = back.kind else {
            panic!("{back:?}");
        };
        assert_eq!(
            readback,
            InstrumentReadback::Supply(Readback {
                output_on: true,
                volts: 4.2,
                amps: 0.05
            })
        );
    }
}
