//! The virtual rig: simulated ring, lock and phone behind the same capability traits as a bench.
//!
//! Runs on whatever clock tokio provides; under a paused clock minutes of scenario take
//! milliseconds, deterministically for a seed.

mod bonds;
mod central;
mod console;
mod device;
mod device_central;
pub mod emulators;
mod hardware;
mod psu;
mod radio;
mod switch;

use std::collections::BTreeMap;

use hil_scenario::{ConsolePort, Driver};
use tokio::sync::{mpsc, oneshot, watch};

use crate::central::DeviceLink;
pub use crate::central::{GattLink, VirtualCentral};
use crate::console::VirtualConsole;
use crate::device::{Advert, Device, DeviceIo, McuMgrPort, PeerLink, Role, Sniffer, Supply};
use crate::device_central::{DeviceCentral, VirtualNfcCloner};
use crate::emulators::{BluezEmulator, Emulator, Uart, Wiring};
use crate::hardware::Hardware;
use crate::psu::{Rail, VirtualPsu};
use crate::radio::RadioPath;
use crate::switch::{VirtualAttenuator, VirtualProbe, VirtualRelay};

/// The simulated part of a rig, running: virtual instruments ready to use, and emulators (on
/// ptys) of the `emulated = true` instruments, wired to the simulated devices, for the real
/// drivers to open.
pub struct World {
    pub rig: hil_rig::Rig,
    /// By instrument name; an emulator that could not start (no pty) is an error to report.
    pub emulators: BTreeMap<String, std::io::Result<Emulator>>,
    /// By device name: the MCUmgr SMP servers on the UARTs of devices with `smp = { emulated =
    /// true }`, for the real SMP client to open.
    pub smp: BTreeMap<String, std::io::Result<Emulator>>,
    /// By device name: the logs of devices with `console = { emulated = true }` on ptys, for the
    /// real console driver to read.
    pub uarts: BTreeMap<String, std::io::Result<Uart>>,
    /// What a new phone needs to reach the devices: their radio links and the radio path.
    links: BTreeMap<String, DeviceLink>,
    radio: RadioPath,
    seed: u64,
}

impl World {
    /// Another phone of this world, for an emulator to put in front of it (its address is the
    /// one a rig central called `name` has).
    pub fn virtual_phone(&self, name: &str) -> VirtualCentral {
        virtual_central(name, Role::Phone, &self.links, &self.radio, self.seed)
    }
}

/// Builds the virtual rig for a resolved rig file and starts its devices. Must be called inside a
/// tokio runtime; devices stop when the returned rig is dropped.
pub fn start(rig: &hil_scenario::Rig, seed: u64) -> hil_rig::Rig {
    start_world(rig, seed).rig
}

/// Builds the simulated part of a rig and starts its devices and emulators. Must be called inside
/// a tokio runtime; devices stop when the rig is dropped, emulators when they are.
pub fn start_world(rig: &hil_scenario::Rig, seed: u64) -> World {
    let radio = RadioPath::new(seed);
    let mut rails: BTreeMap<(String, u8), Rail> = BTreeMap::new();
    let mut contacts: BTreeMap<(String, u8), watch::Sender<bool>> = BTreeMap::new();
    let mut links = BTreeMap::new();
    let mut out = hil_rig::Rig::default();
    let mut uarts = BTreeMap::new();

    let sniffer = Sniffer::default();
    let mut smp = BTreeMap::new();
    let mut boards = Vec::new();
    for device in rig.devices.values() {
        // The rig loader guarantees a simulated device has a power feed.
        let (Some(model), Some(feed)) = (device.sim, &device.power) else {
            continue;
        };
        let (supply_tx, supply_rx) = watch::channel(Supply::OFF);
        let (load_tx, load_rx) = watch::channel(0.0);
        let (console_tx, console_rx) = mpsc::unbounded_channel();
        let (crash_tx, crash_rx) = oneshot::channel();
        let (request_tx, request_rx) = mpsc::channel(4);
        let (advert_tx, advert_rx) = watch::channel(Advert::default());
        let (button_tx, button_rx) = watch::channel(false);
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        let (mcumgr_tx, mcumgr_rx) = mpsc::channel(4);
        if device.smp == Some(hil_scenario::SmpPort::Emulated) {
            smp.insert(device.name.clone(), Emulator::mcumgr(McuMgrPort(mcumgr_tx)));
        }
        out.probes.insert(
            device.name.clone(),
            Box::new(VirtualProbe::new(device.name.clone(), probe_tx)),
        );
        rails.insert(
            (feed.instrument.clone(), feed.channel),
            Rail {
                supply: supply_tx,
                load: load_rx,
            },
        );
        if let Some(contact) = &device.button {
            contacts.insert((contact.instrument.clone(), contact.channel), button_tx);
        }
        let link = PeerLink {
            address: address(seed, &device.name),
            requests: request_tx,
            advert: advert_rx,
            transports: device.profile.transports.clone(),
        };
        links.insert(
            device.name.clone(),
            DeviceLink {
                address: link.address.clone(),
                requests: link.requests.clone(),
                advert: link.advert.clone(),
            },
        );
        if device.console == Some(ConsolePort::Emulated) {
            // A crash then shows as the UART going away.
            uarts.insert(device.name.clone(), Uart::start(&device.name, console_rx));
        } else {
            out.consoles.insert(
                device.name.clone(),
                Box::new(VirtualConsole::new(console_rx, crash_rx)),
            );
        }
        let io = DeviceIo {
            supply: supply_rx,
            load: load_tx,
            console: console_tx,
            requests: request_rx,
            advert: advert_tx,
            button: button_rx,
            peers: BTreeMap::new(),
            sniffer: sniffer.clone(),
            probe: probe_rx,
            mcumgr: mcumgr_rx,
        };
        boards.push((device, model, link, io, crash_tx));
    }
    // Every device can reach every other (they share the devices' shield box).
    let peers: BTreeMap<String, PeerLink> = boards
        .iter()
        .map(|(device, _, link, _, _)| (device.name.clone(), link.clone()))
        .collect();
    for (device, model, link, mut io, crash) in boards {
        io.peers = peers
            .iter()
            .filter(|(name, _)| **name != device.name)
            .map(|(name, peer)| (name.clone(), peer.clone()))
            .collect();
        if device.profile.behaviour.acts_as_central {
            out.centrals.insert(
                device.name.clone(),
                Box::new(DeviceCentral::new(
                    device.name.clone(),
                    link.address.clone(),
                    link.requests.clone(),
                )),
            );
        }
        let sim = Device::new(
            device.name.clone(),
            link.address,
            Hardware::of(model),
            device.profile.clone(),
            io,
        );
        console::supervise(device.name.clone(), tokio::spawn(sim.run()), crash);
    }

    let mut emulators = BTreeMap::new();
    for instrument in rig.instruments.values() {
        let name = instrument.name.clone();
        if instrument.emulated && instrument.driver == Driver::Bluez {
            // BlueZ on a private D-Bus bus, its radio a virtual phone of its own.
            let phone = virtual_central(&name, Role::Phone, &links, &radio, seed);
            let adapter = instrument.adapter.as_deref();
            let adapter = adapter.unwrap_or(hil_rig::drivers::bluez::DEFAULT_ADAPTER);
            match BluezEmulator::on_private_bus(adapter, phone) {
                Ok(bluez) => out.emulators.push(Box::new(bluez)),
                Err(e) => {
                    emulators.insert(name, Err(std::io::Error::other(e)));
                }
            }
            continue;
        }
        if instrument.emulated {
            let channels = 1..=instrument.channels;
            let wiring = Wiring {
                rails: channels
                    .clone()
                    .filter_map(|ch| Some((ch, rails.remove(&(name.clone(), ch))?)))
                    .collect(),
                contacts: channels
                    .filter_map(|ch| Some((ch, contacts.remove(&(name.clone(), ch))?)))
                    .collect(),
                radio: instrument.driver.is_attenuator().then(|| radio.clone()),
            };
            let emulator = if instrument.driver == Driver::BtShellDongle {
                // The dongle's radio is a phone of the world's.
                let phone = virtual_central(&name, Role::Phone, &links, &radio, seed);
                Emulator::start_central(phone, tokio::runtime::Handle::current())
            } else {
                Emulator::start_wired(instrument.driver, wiring).and_then(|e| {
                    e.ok_or_else(|| std::io::Error::other("no emulator for this driver"))
                })
            };
            emulators.insert(name, emulator);
            continue;
        }
        match instrument.driver {
            Driver::VirtualPsu => {
                let channels = (1..=instrument.channels)
                    .map(|ch| {
                        let rail = rails
                            .remove(&(name.clone(), ch))
                            .unwrap_or_else(unwired_rail);
                        (ch, rail)
                    })
                    .collect();
                out.power
                    .insert(name.clone(), Box::new(VirtualPsu::new(name, channels)));
            }
            Driver::VirtualRelay => {
                let wired = (1..=instrument.channels)
                    .filter_map(|ch| Some((ch, contacts.remove(&(name.clone(), ch))?)))
                    .collect();
                out.relays.insert(
                    name.clone(),
                    Box::new(VirtualRelay::new(name, instrument.channels, wired)),
                );
            }
            Driver::VirtualNfcCloner => {
                out.centrals.insert(
                    name.clone(),
                    Box::new(VirtualNfcCloner::new(name, sniffer.clone(), links.clone())),
                );
            }
            Driver::VirtualAttenuator => {
                out.attenuators.insert(
                    name.clone(),
                    Box::new(VirtualAttenuator::new(name, radio.clone())),
                );
            }
            Driver::VirtualCentral | Driver::VirtualHub => {
                let role = if instrument.driver == Driver::VirtualHub {
                    Role::Hub
                } else {
                    Role::Phone
                };
                let central = virtual_central(&name, role, &links, &radio, seed);
                out.centrals.insert(name, Box::new(central));
            }
            // Real instruments are reached through `hil_rig::drivers`, not simulated here.
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
            | Driver::Bluez => {}
        }
    }
    World {
        rig: out,
        emulators,
        smp,
        uarts,
        links,
        radio,
        seed,
    }
}

/// A phone or hub that reaches every device over the radio path.
fn virtual_central(
    name: &str,
    role: Role,
    links: &BTreeMap<String, DeviceLink>,
    radio: &RadioPath,
    seed: u64,
) -> VirtualCentral {
    VirtualCentral::new(
        name.to_string(),
        role,
        address(seed, name),
        links.clone(),
        radio.clone(),
        seed ^ u64::from(role == Role::Hub),
    )
}

/// A channel with nothing connected: it draws no current.
fn unwired_rail() -> Rail {
    let (supply, _) = watch::channel(Supply::OFF);
    let (_, load) = watch::channel(0.0);
    Rail { supply, load }
}

/// A random static BLE address, stable for a seed and a name.
fn address(seed: u64, name: &str) -> String {
    // FNV-1a: tiny, stable across platforms and releases (unlike std's hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let bytes = h.to_be_bytes();
    // Static random addresses have the two top bits set.
    format!(
        "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        bytes[0] | 0xC0,
        bytes[1],
        bytes[2],
        bytes[3],
        bytes[4],
        bytes[5]
    )
}
