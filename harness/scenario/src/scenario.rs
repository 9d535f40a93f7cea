//! The scenario file as written: `scenarios/*.toml`. See README "Write a scenario".

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use crate::duration::HumanDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Stable identity, used for snapshots, reports and re-runs.
    pub id: Spanned<String>,
    /// Catalog entry this scenario reproduces (`F01`…`F22`).
    pub failure: Spanned<String>,
    pub title: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Capabilities the rig must have (`ring`, `ring.power`, `central`, …); a rig without them skips
    /// the scenario instead of failing it.
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    /// Upper bound on the whole scenario; past it the outcome is TIMEOUT.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default)]
    pub setup: Vec<Spanned<Step>>,
    #[serde(default)]
    pub reproduce: Vec<Spanned<Step>>,
    #[serde(default)]
    pub recover: Vec<Spanned<Step>>,
    #[serde(default)]
    pub measure: Vec<MeasureSpec>,
    /// Firmware profiles this scenario runs instead of the rig's, by device (relative to this file).
    #[serde(default)]
    pub profiles: BTreeMap<String, Spanned<String>>,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(15 * 60))
}

/// The three phases of a scenario, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Setup,
    Reproduce,
    Recover,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Setup, Phase::Reproduce, Phase::Recover];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Reproduce => "reproduce",
            Phase::Recover => "recover",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ScenarioFile {
    pub fn phase(&self, phase: Phase) -> &[Spanned<Step>] {
        match phase {
            Phase::Setup => &self.setup,
            Phase::Reproduce => &self.reproduce,
            Phase::Recover => &self.recover,
        }
    }
}

/// One step: a table with exactly one key naming the action.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Program a device's supply (PSU or battery simulator) and switch it on, or switch it off.
    Power(PowerStep),
    /// Ask a central to pair with a device, retrying like the app does.
    Pair(PairStep),
    /// Wait until a device reports an event (from its firmware profile's log rules).
    WaitFor(WaitForStep),
    /// Let time pass.
    Wait(HumanDuration),
    /// Hold a device's button through its relay, then release it.
    Press(PressStep),
    /// Set the RF attenuator between the devices and the central.
    Attenuate(AttenuateStep),
    /// Reconnect a central to a device it is bonded with (an encrypted link, no new pairing).
    Connect(PairStep),
    /// Remove the device and its bond from the central ("forget this device").
    Forget(CentralDevice),
    /// Reconnect, then go silent mid-connection (an app killed by the battery saver).
    StopAnswering(CentralDevice),
    /// Switch the central's Bluetooth adapter off or on.
    Adapter(AdapterStep),
    /// Send an application command to a bonded device (unlock, export codes, …).
    Command(CommandStep),
    /// Install a companion-app version on the central, and/or restart the app.
    App(AppStep),
    /// Update a device's firmware over the air (MCUmgr/SMP-style upload, test, reset).
    Dfu(DfuStep),
    /// Write a firmware image over the debug probe and reset (a rig action: works on a brick).
    Flash(FlashStep),
    /// Reset the device's core over the debug probe and let it run.
    Reset(ProbeStep),
    /// Halt the device's core over the debug probe (it stays halted until a reset or a flash).
    Halt(ProbeStep),
    /// Erase the device's whole flash over the debug probe: the device no longer boots.
    Erase(ProbeStep),
    /// Attach to the firmware's RTT control block over the probe and read its up channels as the
    /// device's log, defmt-decoded when the flashed ELF carries a defmt table.
    Rtt(RttStep),
    /// Hold an encrypted connection for a while and count the drops (measurement `disconnects`).
    Soak(SoakStep),
    /// Listen for advertisements and expect to hear a device (or not); its RSSI is measured.
    Scan(ScanStep),
    /// Read a characteristic of a bonded device's GATT server (from its firmware profile).
    GattRead(GattReadStep),
    /// Write a characteristic, with response: accepted, or refused with an ATT error.
    GattWrite(GattWriteStep),
    /// Enable a characteristic's notifications, optionally write another (the app's command
    /// flow), and listen for a notified value.
    Subscribe(SubscribeStep),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GattReadStep {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
    pub characteristic: Spanned<String>,
    /// The value the read must return: a name from the profile, or hex bytes.
    pub expect: Option<Spanned<String>>,
    pub within: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GattWriteStep {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
    pub characteristic: Spanned<String>,
    /// A name from the profile, or hex bytes.
    pub value: Spanned<String>,
    #[serde(default = "expect_ok")]
    pub expect: Expect,
    pub within: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeStep {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
    pub characteristic: Spanned<String>,
    /// Written once notifications are on.
    pub write: Option<GattValue>,
    /// The value that must be notified; without it, every notification within the window is
    /// recorded and none is required.
    pub expect: Option<Spanned<String>>,
    /// How long to listen (default 10 s).
    pub within: Option<HumanDuration>,
}

/// A value for a characteristic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GattValue {
    pub characteristic: Spanned<String>,
    pub value: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanStep {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
    /// How long the central listens (default 10 s).
    pub within: Option<HumanDuration>,
    #[serde(default = "expect_ok")]
    pub expect: Expect,
    /// Name of the RSSI measurement (default `rssi`), in dBm.
    pub measure: Option<String>,
}

fn expect_ok() -> Expect {
    Expect::Ok
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoakStep {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
    #[serde(rename = "for")]
    pub duration: HumanDuration,
    /// Name of the drop-count measurement (default `disconnects`).
    pub measure: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DfuStep {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
    /// The image's firmware profile, relative to the scenario file.
    pub image: Spanned<String>,
    pub interrupt: Option<Interrupt>,
    pub expect: Expect,
    pub within: Option<HumanDuration>,
}

/// Cut the update short at a point of the transfer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interrupt {
    pub at_percent: Spanned<u8>,
    pub by: InterruptBy,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptBy {
    /// The device's supply is switched off.
    Power,
    /// The RF path is attenuated to its maximum.
    Link,
    /// The central's app is killed.
    App,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashStep {
    pub device: Spanned<String>,
    pub image: Spanned<String>,
}

/// A debug-probe action on a device.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeStep {
    pub device: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RttStep {
    pub device: Spanned<String>,
    /// How long the firmware may take to set its control block up after a reset (default 5 s).
    pub within: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppStep {
    pub central: Spanned<String>,
    /// App version to install; it runs after a restart.
    pub install: Option<u32>,
    #[serde(default)]
    pub restart: bool,
}

/// Application commands a companion app sends (the lock's control characteristic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceCommand {
    Unlock,
    Lock,
    /// Copy the user codes into the app.
    ExportCodes,
    /// Write the codes the app exported back to the device.
    RestoreCodes,
}

impl DeviceCommand {
    pub fn name(self) -> &'static str {
        match self {
            DeviceCommand::Unlock => "unlock",
            DeviceCommand::Lock => "lock",
            DeviceCommand::ExportCodes => "export_codes",
            DeviceCommand::RestoreCodes => "restore_codes",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandStep {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
    pub send: DeviceCommand,
    pub expect: ExpectSpec,
    pub within: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PressStep {
    pub device: Spanned<String>,
    /// How long the button is held.
    pub hold: HumanDuration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttenuateStep {
    pub db: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralDevice {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterStep {
    pub central: Spanned<String>,
    pub power: Output,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    #[default]
    On,
    Off,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerStep {
    pub device: Spanned<String>,
    #[serde(default)]
    pub output: Output,
    pub volts: Option<Spanned<f64>>,
    /// Instead of `volts`: the open-circuit voltage of the device's cell at this state of charge.
    pub soc_percent: Option<Spanned<f64>>,
    /// Current limit; defaults to the rig's `max_amps` for the device.
    pub amps: Option<Spanned<f64>>,
    /// Series resistance that emulates a cell's internal resistance (battery simulators only).
    pub series_ohms: Option<Spanned<f64>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Ok,
    Fail,
}

/// What a link step expects, as written: the planner turns `incompatible` into a check of its own.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExpectSpec {
    Ok,
    Fail,
    /// The two devices share no transport: the planner must see it, and nothing is attempted.
    Incompatible,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairStep {
    pub central: Spanned<String>,
    pub device: Spanned<String>,
    pub expect: ExpectSpec,
    /// Deadline for the whole step, all attempts included.
    pub within: Option<HumanDuration>,
    /// Attempts the app makes before giving up (default 1).
    pub attempts: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitForStep {
    pub device: Spanned<String>,
    pub event: Spanned<String>,
    /// Fields the event must carry, e.g. `{ reason = "charger_wake" }`.
    #[serde(default)]
    pub with: BTreeMap<String, String>,
    pub within: HumanDuration,
    /// Record the wait as a measurement with this name.
    pub measure: Option<String>,
}

/// Limits for a measurement the steps record (`pairing_time`, or a `wait_for`'s `measure`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureSpec {
    pub name: Spanned<String>,
    pub min: Option<Quantity>,
    pub max: Option<Quantity>,
    /// Past this the scenario passes with a warning.
    pub warn: Option<Quantity>,
}

/// A limit: a plain number or a duration (stored in seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub unit: Unit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Seconds,
    Volts,
    /// Received signal strength.
    Dbm,
    None,
}

impl Unit {
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Volts => "V",
            Unit::Dbm => " dBm",
            Unit::None => "",
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a duration such as \"2m\"")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity {
                    value: v,
                    unit: Unit::None,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                self.visit_f64(v as f64)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                humantime::parse_duration(v)
                    .map(|d| Quantity {
                        value: d.as_secs_f64(),
                        unit: Unit::Seconds,
                    })
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid duration {v:?}: {e}; expected a number or a duration such as \"2m\""
                        ))
                    })
            }
        }
        d.deserialize_any(Visitor)
    }
}
