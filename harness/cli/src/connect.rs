//! Connecting a rig for a run: the virtual rig's models from the simulator, real instruments over
//! their serial ports, and the host's Bluetooth through BlueZ: supplies identified and with
//! over-voltage protection armed at each device's limit, relay contacts across buttons released,
//! attenuators identified, central dongles' stacks up, device consoles read from, debug probes
//! attached to their chips, all before any step runs; devices' MCUmgr ports get the SMP client.

use std::time::Duration;

use async_trait::async_trait;
use hil_rig::drivers::bluez::{BluezCentral, DEFAULT_ADAPTER};
use hil_rig::drivers::{
    AsyncAttenuator, AsyncPsu, AsyncRelay, SerialConsole, SerialRelay, SerialSupply,
    SerialTransport, ShellCentral, ShellDongle, SmpClient, SmpUpdater,
};
use hil_rig::{
    Advertisement, Attenuator, Central, CommandOutcome, Console, DeviceCommand, DfuOutcome,
    LinkOutcome, PowerSupply, Probe, Progress, Readback, Relay, RigError, Updater,
};
use hil_scenario::{ConsolePort, Driver, Image, Instrument, Rig, Setpoint, SmpPort};

/// The baud rate an emulated UART (MCUmgr, console) is opened at (a pty ignores it).
const EMULATED_BAUD: u32 = 115_200;

/// The run's view of `rig`. Called inside the scenario's runtime.
pub fn connect(rig: &Rig, seed: u64) -> hil_rig::Rig {
    let hil_sim::World {
        rig: mut connected,
        mut emulators,
        mut smp,
        mut uarts,
        ..
    } = hil_sim::start_world(rig, seed);
    for instrument in rig.instruments.values().filter(|i| !i.driver.is_virtual()) {
        let name = instrument.name.clone();
        // An emulated instrument is reached like a real one, on its emulator's pty.
        let reached = match emulators.remove(&name) {
            None => Ok(instrument.clone()),
            Some(Err(e)) => Err(RigError::new(
                &name,
                format!("cannot start its emulator: {e}"),
            )),
            Some(Ok(emulator)) => {
                let port = emulator.port().to_string();
                connected.emulators.push(Box::new(emulator));
                Ok(Instrument {
                    port: Some(port),
                    ..instrument.clone()
                })
            }
        };
        if instrument.driver == Driver::Bluez {
            let adapter = instrument.adapter.as_deref().unwrap_or(DEFAULT_ADAPTER);
            let central: Box<dyn Central> = match reached {
                Ok(_) => {
                    Box::new(BluezCentral::new(&name, adapter).reaching(instrument.reach.clone()))
                }
                Err(cause) => Box::new(Unavailable(cause)),
            };
            connected.centrals.insert(name, central);
        } else if instrument.driver.is_relay() {
            let relay: Box<dyn Relay> = match reached.and_then(|i| open_released(rig, &i)) {
                Ok(relay) => Box::new(AsyncRelay::new(&name, relay)),
                Err(cause) => Box::new(Unavailable(cause)),
            };
            connected.relays.insert(name, relay);
        } else if instrument.driver.is_central() {
            // Its stack comes up at the first call, on the blocking pool: the emulated rig's
            // dongle answers from this runtime's tasks.
            let central: Box<dyn Central> = match reached.and_then(|i| ShellCentral::open(&i)) {
                Ok(dongle) => Box::new(ShellDongle::new(dongle)),
                Err(cause) => Box::new(Unavailable(cause)),
            };
            connected.centrals.insert(name, central);
        } else if instrument.driver.is_attenuator() {
            let attenuator: Box<dyn Attenuator> = match reached.and_then(|i| open_identified(&i)) {
                Ok(attenuator) => Box::new(attenuator),
                Err(cause) => Box::new(Unavailable(cause)),
            };
            connected.attenuators.insert(name, attenuator);
        } else {
            let supply: Box<dyn PowerSupply> = match reached.and_then(|i| open_protected(rig, &i)) {
                Ok(psu) => Box::new(AsyncPsu::new(&name, psu)),
                Err(cause) => Box::new(Unavailable(cause)),
            };
            connected.power.insert(name, supply);
        }
    }
    for device in rig.devices.values() {
        if let Some(port) = &device.smp {
            let emulator = smp.remove(&device.name);
            let updater = open_updater(&device.name, port, emulator, &mut connected.emulators);
            connected.updaters.insert(device.name.clone(), updater);
        }
        if let Some(wire) = &device.console {
            let opened = match (wire, uarts.remove(&device.name)) {
                (ConsolePort::Serial { port, baud }, _) => {
                    SerialConsole::open(&device.name, port, *baud)
                }
                // The simulated firmware's log, through the same driver as a real UART.
                (ConsolePort::Emulated, Some(Ok(uart))) => {
                    SerialConsole::open(&device.name, uart.port(), EMULATED_BAUD)
                }
                (ConsolePort::Emulated, Some(Err(e))) => Err(RigError::new(
                    &device.name,
                    format!("cannot start its emulated UART: {e}"),
                )),
                (ConsolePort::Emulated, None) => Err(RigError::new(
                    &device.name,
                    "an emulated console needs a simulated device",
                )),
            };
            let console: Box<dyn Console> = match opened {
                Ok(console) => Box::new(console),
                Err(cause) => Box::new(Unavailable(cause)),
            };
            connected.consoles.insert(device.name.clone(), console);
        }
        if device.probe.is_some() {
            let probe = hil_rig::drivers::open_probe(device)
                .unwrap_or_else(|cause| Box::new(Unavailable(cause)));
            connected.probes.insert(device.name.clone(), probe);
        }
    }
    connected
}

/// The real SMP client on a device's MCUmgr port, or on its emulator's pty (kept running with the
/// rig); opened at the first update.
fn open_updater(
    device: &str,
    port: &SmpPort,
    emulator: Option<std::io::Result<hil_sim::emulators::Emulator>>,
    running: &mut Vec<Box<dyn std::any::Any + Send>>,
) -> Box<dyn Updater> {
    let client = match (port, emulator) {
        (SmpPort::Serial { port, baud }, _) => SmpClient::new(device, port, *baud),
        (SmpPort::Emulated, Some(Ok(emulator))) => {
            let client = SmpClient::new(device, emulator.port(), EMULATED_BAUD);
            running.push(Box::new(emulator));
            client
        }
        (SmpPort::Emulated, failed) => {
            let cause = failed
                .and_then(Result::err)
                .map_or_else(|| "no emulator was started".to_string(), |e| e.to_string());
            let error = RigError::new(device, format!("cannot start its SMP emulator: {cause}"));
            return Box::new(Unavailable(error));
        }
    };
    Box::new(SmpUpdater::new(client))
}

/// Opens and identifies a supply, then arms its OVP at the limit of every device it feeds: the
/// driver-level limit, beside the plan's and the readback check.
fn open_protected(rig: &Rig, instrument: &Instrument) -> Result<Box<dyn SerialSupply>, RigError> {
    let mut psu = hil_rig::drivers::open(instrument)?;
    psu.identify()?;
    let feeds = rig
        .devices
        .values()
        .filter_map(|d| d.power.as_ref())
        .filter(|feed| feed.instrument == instrument.name);
    for feed in feeds {
        psu.protect(feed.channel, feed.max_volts)?;
    }
    Ok(psu)
}

/// Opens a relay board and opens every contact wired across a button: a contact left closed
/// by a crashed run would hold the button down through the next scenario's setup.
fn open_released(
    rig: &Rig,
    instrument: &Instrument,
) -> Result<SerialRelay<SerialTransport>, RigError> {
    let mut relay = hil_rig::drivers::open_relay(instrument)?;
    let contacts = rig
        .devices
        .values()
        .filter_map(|d| d.button.as_ref())
        .filter(|contact| contact.instrument == instrument.name);
    for contact in contacts {
        relay.set(contact.channel, false)?;
    }
    Ok(relay)
}

fn open_identified(instrument: &Instrument) -> Result<AsyncAttenuator, RigError> {
    let mut attenuator = hil_rig::drivers::open_attenuator(instrument)?;
    attenuator.identify()?;
    Ok(AsyncAttenuator::new(&instrument.name, attenuator))
}

/// An instrument that could not be opened: every call reports why, so the scenario is an ERROR
/// that names the instrument and the cause.
struct Unavailable(RigError);

#[async_trait]
impl PowerSupply for Unavailable {
    async fn apply(&mut self, _channel: u8, _setpoint: Setpoint) -> Result<Readback, RigError> {
        Err(self.0.clone())
    }

    async fn off(&mut self, _channel: u8) -> Result<Readback, RigError> {
        Err(self.0.clone())
    }
}

#[async_trait]
impl Relay for Unavailable {
    async fn set(&mut self, _channel: u8, _closed: bool) -> Result<(), RigError> {
        Err(self.0.clone())
    }
}

#[async_trait]
impl Attenuator for Unavailable {
    async fn set(&mut self, _db: f64) -> Result<f64, RigError> {
        Err(self.0.clone())
    }
}

#[async_trait]
impl Central for Unavailable {
    fn name(&self) -> &str {
        &self.0.instrument
    }

    fn address(&self) -> &str {
        "unavailable"
    }

    async fn pair(&mut self, _device: &str, _deadline: Duration) -> Result<LinkOutcome, RigError> {
        Err(self.0.clone())
    }

    async fn connect(
        &mut self,
        _device: &str,
        _deadline: Duration,
    ) -> Result<LinkOutcome, RigError> {
        Err(self.0.clone())
    }

    async fn scan(&mut self, _window: Duration) -> Result<Vec<Advertisement>, RigError> {
        Err(self.0.clone())
    }

    async fn forget(&mut self, _device: &str) -> Result<(), RigError> {
        Err(self.0.clone())
    }

    async fn set_adapter_power(&mut self, _on: bool) -> Result<(), RigError> {
        Err(self.0.clone())
    }

    async fn command(
        &mut self,
        _device: &str,
        _command: DeviceCommand,
        _deadline: Duration,
    ) -> Result<CommandOutcome, RigError> {
        Err(self.0.clone())
    }
}

#[async_trait]
impl Updater for Unavailable {
    async fn update(
        &mut self,
        _image: &hil_scenario::Image,
        _stop_at: Option<u8>,
        _progress: Progress,
        _deadline: std::time::Duration,
    ) -> Result<DfuOutcome, RigError> {
        Err(self.0.clone())
    }

    async fn hang_up(&mut self) -> Result<(), RigError> {
        Err(self.0.clone())
    }
}

#[async_trait]
impl Console for Unavailable {
    async fn read_line(&mut self) -> Result<Option<String>, RigError> {
        Err(self.0.clone())
    }
}

#[async_trait]
impl Probe for Unavailable {
    async fn flash(&mut self, _image: &Image) -> Result<(), RigError> {
        Err(self.0.clone())
    }

    async fn reset(&mut self) -> Result<(), RigError> {
        Err(self.0.clone())
    }

    async fn halt(&mut self) -> Result<(), RigError> {
        Err(self.0.clone())
    }

    async fn erase(&mut self) -> Result<(), RigError> {
        Err(self.0.clone())
    }

    async fn rtt(&mut self, _within: std::time::Duration) -> Result<Box<dyn Console>, RigError> {
        Err(self.0.clone())
    }
}
