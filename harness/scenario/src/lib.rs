//! Scenario, rig and firmware-profile files, and the `Plan` they resolve into.
//!
//! Pure: reads configuration files, never touches an instrument. Every error points at
//! `file:line:col` with the offending span.

mod cell;
mod diagnostic;
mod duration;
mod gatt;
mod plan;
mod profile;
mod quarantine;
mod rig;
mod rig_plan;
mod scenario;
mod shell;

pub use cell::Cell;
pub use diagnostic::{ConfigError, ConfigErrors, FileError, Located, SourceFile};
pub use duration::HumanDuration;
pub use gatt::{Characteristic, Gatt, GattOp, GattRequest, hex};
pub use plan::{
    Action, DfuInterrupt, Image, Limit, Plan, PlanError, PlannedStep, PowerSetting, ProbeOp,
    Scenario, Setpoint,
};
pub use profile::{Behaviour, DfuBanks, NfcCredential, Profile, Recognised, Rule, Transport};
pub use quarantine::Quarantine;
pub use rig::{Driver, SimModel, WireProtocol};
pub use rig_plan::{ConsolePort, DebugProbe, Device, Instrument, PowerFeed, Reach, Rig, SmpPort};
pub use scenario::{DeviceCommand, Expect, InterruptBy, Phase, Unit};
pub use shell::{LinkCode, ShellCommands, ShellDialect, ShellLines, fill};
