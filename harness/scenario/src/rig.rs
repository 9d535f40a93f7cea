//! The rig file as written: `rigs/*.toml`. It names the devices under test, the instruments
//! wired to them, and the limits nothing may exceed.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::cell::Cell;
use crate::profile::Transport;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigFile {
    pub name: String,
    pub description: Option<String>,
    /// For a rig whose recovery traces differ from the catalog's by design (a firmware update
    /// over a UART has no BLE link to log): scenarios' `snapshots/<id>@<variant>.snap` are used
    /// where they exist.
    pub trace_variant: Option<String>,
    /// How many times faster than life a rig without real hardware runs (emulated rigs).
    pub time_scale: Option<Spanned<f64>>,
    #[serde(default)]
    pub device: BTreeMap<String, DeviceSpec>,
    #[serde(default)]
    pub instrument: BTreeMap<String, InstrumentSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// Firmware profile, relative to the rig file: log rules, capabilities, thresholds.
    pub profile: Spanned<String>,
    /// On the virtual rig: which simulated hardware runs the firmware.
    pub sim: Option<SimModel>,
    /// What powers the device, for steps that ask for a state of charge (a simulated board's
    /// is known).
    pub cell: Option<Cell>,
    pub power: Option<PowerBinding>,
    /// A relay contact across the device's button (ring side button, lock pinhole reset).
    pub button: Option<RelayBinding>,
    /// A real device's UART, read line by line into its profile's log rules.
    pub console: Option<Spanned<ConsoleBinding>>,
    /// A debug probe on the device's SWD/JTAG port (probe-rs).
    pub probe: Option<ProbeBinding>,
    /// The device's MCUmgr SMP port (a UART): `dfu` steps upload through it instead of a central.
    pub smp: Option<Spanned<SmpBinding>>,
}

/// Which debug probe is wired to a device, and what chip it will find there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeBinding {
    /// `VID:PID` or `VID:PID:serial` in hex, as `probe-rs list` prints it.
    pub selector: Spanned<String>,
    /// The chip's probe-rs target name, e.g. `nRF52840_xxAA`.
    pub chip: Spanned<String>,
    /// The wire protocol; probe-rs picks one the probe and chip share when unset.
    pub protocol: Option<WireProtocol>,
    /// Clock of the debug wire in kHz; the probe's default when unset.
    pub speed_khz: Option<u32>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WireProtocol {
    Swd,
    Jtag,
}

/// Where a device's MCUmgr server listens: a real serial port, or (`emulated = true`, simulated
/// devices only) an SMP emulator on a pty in front of the simulated firmware.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmpBinding {
    pub port: Option<Spanned<String>>,
    #[serde(default = "console_baud")]
    pub baud: u32,
    #[serde(default)]
    pub emulated: bool,
}

/// The serial port a device's log comes out of: a real UART, or (`emulated = true`, simulated
/// devices only) the simulated firmware's log on a pty, read by the real console driver.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleBinding {
    pub port: Option<Spanned<String>>,
    #[serde(default = "console_baud")]
    pub baud: u32,
    pub emulated: Option<Spanned<bool>>,
}

/// What most firmware logs at.
fn console_baud() -> u32 {
    115_200
}

/// Which relay channel is wired across a button.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayBinding {
    pub instrument: Spanned<String>,
    #[serde(default = "first_channel")]
    pub channel: u8,
}

/// Simulated hardware a virtual device runs on.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SimModel {
    /// A smart ring: small LiPo cell, PMIC with under-voltage lockout, haptic motor.
    Ring,
    /// A smart lock: 4×AA alkaline pack, motor, BLE radio.
    Lock,
    /// A home hub on a USB supply: NFC reader, Z-Wave and BLE radios.
    Hub,
}

impl SimModel {
    /// What powers the simulated board.
    pub fn cell(self) -> Cell {
        match self {
            SimModel::Ring => Cell::Lipo1s,
            SimModel::Lock => Cell::Alkaline4aa,
            SimModel::Hub => Cell::Usb,
        }
    }
}

/// Which instrument channel feeds a device, and the most it may ever be given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerBinding {
    pub instrument: Spanned<String>,
    #[serde(default = "first_channel")]
    pub channel: u8,
    pub max_volts: f64,
    pub max_amps: f64,
    /// Largest series resistance a step may ask for (battery simulators).
    pub max_series_ohms: Option<f64>,
}

fn first_channel() -> u8 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    pub driver: Spanned<Driver>,
    /// Channels of a power supply.
    pub channels: Option<u8>,
    /// A real instrument's serial port, e.g. `/dev/serial/by-id/usb-…` (stable across replugs).
    pub port: Option<Spanned<String>>,
    /// Instead of a port: `hil` runs an emulator of the instrument on a pty, wired to the
    /// simulated devices, and drives it with the real driver.
    pub emulated: Option<Spanned<bool>>,
    /// Overrides the model's usual baud rate.
    pub baud: Option<u32>,
    /// An attenuator's setting in the rig's safe state (applied after every scenario).
    pub safe_db: Option<Spanned<f64>>,
    /// A shell dongle's dialect: a shell profile, relative to the rig file.
    pub profile: Option<Spanned<String>>,
    /// Devices a central dongle reaches, each by its advertised name or its address
    /// (`AA:BB:CC:DD:EE:FF`). Without it, every BLE device by its name in the rig.
    pub reach: Option<BTreeMap<String, Spanned<String>>>,
    /// The host's Bluetooth adapter a BlueZ central uses, e.g. `hci0`.
    pub adapter: Option<Spanned<String>>,
}

/// Every driver `hil` has. Checked by serde, so a typo is a located error, not a runtime surprise.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// The virtual rig's programmable supply; it can emulate a cell's series resistance.
    VirtualPsu,
    /// The virtual rig's phone: a BLE central running the companion app.
    VirtualCentral,
    /// The virtual rig's home hub: a central that can own a lock and bridge transports.
    VirtualHub,
    /// An NFC sniffer/cloner (a Proxmark, say): records a ring's taps and replays them.
    VirtualNfcCloner,
    /// The virtual rig's relay board: contacts across device buttons.
    VirtualRelay,
    /// The virtual rig's programmable RF attenuator, between the devices' and the central's shield boxes.
    VirtualAttenuator,
    /// Rigol DP800 series (DP832, DP821, …): SCPI over USB-CDC or RS-232.
    RigolDp800,
    /// Siglent SPD3303X / SPD3303X-E: SCPI.
    SiglentSpd3303x,
    /// Keysight E36300 series (E36311A, E36312A, E36313A): SCPI.
    KeysightE36300,
    /// Korad KA3005P and its Tenma/Velleman rebadges: Korad's own terse protocol.
    KoradKa3005p,
    /// Riden RD6006/RD6012/RD6018/RD6024: Modbus RTU registers.
    RidenRd60xx,
    /// Keithley 2281S-20-6 in its battery-simulator function: SCPI; a cell's open-circuit
    /// voltage with a series resistance, like the virtual supply.
    #[serde(rename = "keithley-2281s")]
    Keithley2281s,
    /// Numato Lab USB relay modules (1–32 channels): ASCII commands with echo, contacts read back.
    NumatoRelay,
    /// LCUS-type USB relay boards (CH340): 4-byte binary frames, no readback.
    LcusRelay,
    /// Mini-Circuits RCDAT-6000-90 programmable attenuator: ASCII over serial.
    MinicircuitsRcdat,
    /// The host's own Bluetooth adapter as the phone, through BlueZ (btleplug); no port.
    Bluez,
    /// A central dongle running a Bluetooth shell on its UART (Zephyr's `bt` shell), described
    /// by a shell profile.
    BtShellDongle,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::VirtualPsu => "virtual-psu",
            Driver::VirtualCentral => "virtual-central",
            Driver::VirtualHub => "virtual-hub",
            Driver::VirtualNfcCloner => "virtual-nfc-cloner",
            Driver::VirtualRelay => "virtual-relay",
            Driver::VirtualAttenuator => "virtual-attenuator",
            Driver::RigolDp800 => "rigol-dp800",
            Driver::SiglentSpd3303x => "siglent-spd3303x",
            Driver::KeysightE36300 => "keysight-e36300",
            Driver::KoradKa3005p => "korad-ka3005p",
            Driver::RidenRd60xx => "riden-rd60xx",
            Driver::Keithley2281s => "keithley-2281s",
            Driver::NumatoRelay => "numato-relay",
            Driver::LcusRelay => "lcus-relay",
            Driver::MinicircuitsRcdat => "minicircuits-rcdat",
            Driver::Bluez => "bluez",
            Driver::BtShellDongle => "bt-shell-dongle",
        }
    }

    pub fn is_virtual(self) -> bool {
        match self {
            Driver::VirtualPsu
            | Driver::VirtualCentral
            | Driver::VirtualHub
            | Driver::VirtualNfcCloner
            | Driver::VirtualRelay
            | Driver::VirtualAttenuator => true,
            Driver::RigolDp800
            | Driver::SiglentSpd3303x
            | Driver::KeysightE36300
            | Driver::KoradKa3005p
            | Driver::RidenRd60xx
            | Driver::Keithley2281s
            | Driver::NumatoRelay
            | Driver::LcusRelay
            | Driver::MinicircuitsRcdat
            | Driver::BtShellDongle
            | Driver::Bluez => false,
        }
    }

    pub fn is_power_supply(self) -> bool {
        matches!(
            self,
            Driver::VirtualPsu
                | Driver::RigolDp800
                | Driver::SiglentSpd3303x
                | Driver::KeysightE36300
                | Driver::KoradKa3005p
                | Driver::RidenRd60xx
                | Driver::Keithley2281s
        )
    }

    pub fn is_central(self) -> bool {
        matches!(
            self,
            Driver::VirtualCentral
                | Driver::VirtualHub
                | Driver::VirtualNfcCloner
                | Driver::BtShellDongle
                | Driver::Bluez
        )
    }

    /// Transports a central instrument can reach devices over.
    pub fn transports(self) -> &'static [Transport] {
        match self {
            Driver::VirtualCentral | Driver::BtShellDongle | Driver::Bluez => &[Transport::Ble],
            Driver::VirtualHub => &[Transport::Ble, Transport::Nfc, Transport::Zwave],
            Driver::VirtualNfcCloner => &[Transport::Nfc],
            Driver::VirtualPsu
            | Driver::VirtualRelay
            | Driver::VirtualAttenuator
            | Driver::RigolDp800
            | Driver::SiglentSpd3303x
            | Driver::KeysightE36300
            | Driver::KoradKa3005p
            | Driver::RidenRd60xx
            | Driver::Keithley2281s
            | Driver::NumatoRelay
            | Driver::LcusRelay
            | Driver::MinicircuitsRcdat => &[],
        }
    }

    /// A central that scans, pairs and connects but has no application layer: no commands,
    /// firmware updates or soaks (a shell dongle; the host's BlueZ, which reaches the firmware's
    /// characteristics only through GATT steps).
    pub fn links_only(self) -> bool {
        matches!(self, Driver::BtShellDongle | Driver::Bluez)
    }

    /// A central that reads, writes and subscribes to characteristics (GATT steps): a phone, or
    /// the host's BlueZ. The shell dialect has no GATT commands in its profile yet.
    pub fn has_gatt_client(self) -> bool {
        matches!(self, Driver::VirtualCentral | Driver::Bluez)
    }

    /// A central whose controller keeps answering the link while its app is silent (a host's
    /// BlueZ), so it cannot `stop_answering`.
    pub fn always_answers(self) -> bool {
        self == Driver::Bluez
    }

    /// A central that can only replay recorded credentials (`command`), not pair or connect.
    pub fn only_replays(self) -> bool {
        matches!(self, Driver::VirtualNfcCloner)
    }

    pub fn is_relay(self) -> bool {
        matches!(
            self,
            Driver::VirtualRelay | Driver::NumatoRelay | Driver::LcusRelay
        )
    }

    pub fn is_attenuator(self) -> bool {
        matches!(self, Driver::VirtualAttenuator | Driver::MinicircuitsRcdat)
    }

    /// Whether the instrument can put a resistance in series with its output.
    pub fn has_series_resistance(self) -> bool {
        matches!(self, Driver::VirtualPsu | Driver::Keithley2281s)
    }

    /// Channels when the rig file does not say.
    pub fn default_channels(self) -> u8 {
        match self {
            Driver::VirtualPsu | Driver::SiglentSpd3303x => 2,
            Driver::RigolDp800 | Driver::KeysightE36300 => 3,
            Driver::KoradKa3005p | Driver::RidenRd60xx | Driver::Keithley2281s => 1,
            Driver::VirtualRelay | Driver::NumatoRelay => 4,
            Driver::LcusRelay => 1,
            Driver::VirtualCentral
            | Driver::VirtualHub
            | Driver::VirtualNfcCloner
            | Driver::VirtualAttenuator
            | Driver::MinicircuitsRcdat
            | Driver::BtShellDongle
            | Driver::Bluez => 0,
        }
    }

    /// Attenuation range and step of an RF attenuator, in dB.
    pub fn attenuation_range(self) -> Option<(f64, f64)> {
        match self {
            // Like a Mini-Circuits RCDAT-6000-90: 0–90 dB in 0.25 dB steps.
            Driver::VirtualAttenuator | Driver::MinicircuitsRcdat => Some((90.0, 0.25)),
            Driver::VirtualPsu
            | Driver::VirtualCentral
            | Driver::VirtualHub
            | Driver::VirtualNfcCloner
            | Driver::VirtualRelay
            | Driver::RigolDp800
            | Driver::SiglentSpd3303x
            | Driver::KeysightE36300
            | Driver::KoradKa3005p
            | Driver::RidenRd60xx
            | Driver::Keithley2281s
            | Driver::NumatoRelay
            | Driver::LcusRelay
            | Driver::BtShellDongle
            | Driver::Bluez => None,
        }
    }
}
