//! Power supplies, relay boards, attenuators, a central dongle and devices' MCUmgr UARTs that
//! speak their real wire protocols on a pty: the drivers in `hil_rig::drivers` are tested against
//! them, and `hil rig check` can be tried without a bench.
//!
//! Each emulator runs on its own thread on the wall clock (never on a paused tokio clock: see
//! DESIGN.md). Faults can be injected to see how a driver copes with a misbehaving instrument.

mod attenuator;
mod backend;
mod bluez;
mod bt_shell;
mod channel;
mod dialect;
mod instrument;
mod relay;
mod riden;
mod smp;
mod uart;
mod wiring;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use hil_scenario::Driver;
use serialport::{SerialPort, TTYPort};

pub use bluez::BluezEmulator;
pub use channel::Channel;
pub use uart::Uart;
pub use wiring::Wiring;

use attenuator::RcdatAttenuator;
use bt_shell::BtShell;
use instrument::Instrument;
use relay::{LcusBoard, NumatoBoard};
use riden::RidenRegisters;
use smp::McuBootUart;

use crate::device::McuMgrPort;

/// A wire protocol an emulated instrument answers in.
trait Protocol: Send {
    /// Takes the complete requests out of `received`. With `quiet`, the line has gone quiet, so
    /// whatever is there is complete or noise.
    fn take_requests(&mut self, received: &mut Vec<u8>, quiet: bool) -> Vec<Vec<u8>>;

    /// Runs one request; the reply as it goes on the wire, if it has one.
    fn execute(&mut self, request: &[u8]) -> Option<Vec<u8>>;

    /// A supply's output, as its front panel shows it.
    fn channel(&self, _channel: u8) -> Option<Channel> {
        None
    }

    /// What the device wired to a supply output draws now (emulated rig).
    fn set_drawn(&mut self, _channel: u8, _amps: f64) {}

    /// Whether a relay contact is closed.
    fn contact(&self, _channel: u8) -> Option<bool> {
        None
    }

    /// An attenuator's setting, in dB.
    fn attenuation(&self) -> Option<f64> {
        None
    }

    /// How long the instrument takes to answer.
    fn latency(&self) -> Duration;

    /// Line noise in place of a reply, framed like one so the driver reads it at once.
    fn noise(&self) -> Vec<u8>;

    /// What the instrument prints on its own, between commands (a shell's asynchronous lines).
    fn unsolicited(&mut self) -> Option<Vec<u8>> {
        None
    }
}

/// How long the line must be quiet before an unterminated (Korad) command counts as complete.
const QUIET: Duration = Duration::from_millis(20);

/// Misbehaviour for the next command that expects an answer (or, for `Vanish`, the next command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers this much later than usual.
    Late(Duration),
    /// Answers with line noise.
    Garbage,
    /// Closes the port mid-command, as an instrument unplugged or switched off does.
    Vanish,
    /// Closes the port at once, whatever it is doing (a dongle pulled out mid-scan).
    Unplug,
}

/// A running emulated instrument. Stops when dropped.
pub struct Emulator {
    port: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    instrument: Mutex<Box<dyn Protocol>>,
    wiring: Mutex<Wiring>,
    fault: Mutex<Option<Fault>>,
    /// Replaces the model's answer latency when set (`set_latency`).
    latency: Mutex<Option<Duration>>,
    stop: AtomicBool,
}

impl Emulator {
    /// Starts the emulator for a real driver on a fresh pty, on a bench of its own (resistive
    /// loads); `None` for virtual drivers.
    pub fn start(driver: Driver) -> io::Result<Option<Emulator>> {
        Self::start_wired(driver, Wiring::default())
    }

    /// Starts the emulator for a real driver on a fresh pty, its outputs wired to simulated
    /// devices; `None` for virtual drivers.
    pub fn start_wired(driver: Driver, wiring: Wiring) -> io::Result<Option<Emulator>> {
        let protocol: Box<dyn Protocol> = match (dialect::dialect_of(driver), driver) {
            (Some(dialect), _) => Box::new(Instrument::new(dialect)),
            (None, Driver::RidenRd60xx) => Box::new(RidenRegisters::new()),
            (None, Driver::NumatoRelay) => Box::new(NumatoBoard::new()),
            (None, Driver::LcusRelay) => Box::new(LcusBoard::new()),
            (None, Driver::MinicircuitsRcdat) => Box::new(RcdatAttenuator::new()),
            (None, _) => return Ok(None),
        };
        Self::spawn(protocol, wiring).map(Some)
    }

    /// Starts a central dongle running Zephyr's Bluetooth shell on a fresh pty; its radio is
    /// `backend` (the sim's virtual phone, which reaches the simulated devices), served on
    /// `runtime`, where the world's models run.
    pub fn start_central(
        backend: crate::central::VirtualCentral,
        runtime: tokio::runtime::Handle,
    ) -> io::Result<Emulator> {
        Self::spawn(Box::new(BtShell::new(backend, &runtime)), Wiring::default())
    }

    /// Starts a device's MCUmgr SMP server (its UART) on a fresh pty, in front of `firmware`.
    pub fn mcumgr(firmware: McuMgrPort) -> io::Result<Emulator> {
        Self::spawn(Box::new(McuBootUart::new(firmware)), Wiring::default())
    }

    fn spawn(protocol: Box<dyn Protocol>, wiring: Wiring) -> io::Result<Emulator> {
        // The driver opens the slave by path (`pair` takes no lock on it); keeping our handle
        // open means the master never reads EIO between the driver's opens.
        let (mut master, slave) = TTYPort::pair().map_err(io::Error::from)?;
        master.set_timeout(QUIET).map_err(io::Error::from)?;
        let port = slave
            .name()
            .ok_or_else(|| io::Error::other("the pty has no name"))?;
        let shared = Arc::new(Shared {
            instrument: Mutex::new(protocol),
            wiring: Mutex::new(wiring),
            fault: Mutex::new(None),
            latency: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let thread = std::thread::Builder::new()
            .name(format!("emulator {port}"))
            .spawn({
                let shared = shared.clone();
                move || serve(&shared, master, slave)
            })?;
        Ok(Emulator {
            port,
            shared,
            thread: Some(thread),
        })
    }

    /// The path a driver opens, e.g. `/dev/pts/7`.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// Misbehaves once, at the next command it applies to.
    pub fn inject(&self, fault: Fault) {
        *lock(&self.shared.fault) = Some(fault);
    }

    /// Answers after `latency` instead of the model's own (10 ms for a Rigol): zero measures
    /// what a driver itself costs per command.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = Some(latency);
    }

    /// What a channel is set to, as the instrument's front panel would show.
    pub fn channel(&self, channel: u8) -> Option<Channel> {
        lock(&self.shared.instrument).channel(channel)
    }

    /// Whether a relay contact is closed, as the board's LED would show.
    pub fn contact(&self, channel: u8) -> Option<bool> {
        lock(&self.shared.instrument).contact(channel)
    }

    /// What an attenuator is set to, in dB.
    pub fn attenuation(&self) -> Option<f64> {
        lock(&self.shared.instrument).attenuation()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sleeps, but wakes early when the emulator is being stopped, so dropping it does not wait out
/// an injected delay.
fn pause(shared: &Shared, duration: Duration) {
    let until = std::time::Instant::now() + duration;
    while !shared.stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads commands and answers them until stopped, or until a `Vanish` fault closes the pty
/// (dropping both ends, so the driver's side hangs up).
fn serve(shared: &Shared, mut master: TTYPort, _slave: TTYPort) {
    let mut received = Vec::new();
    let mut buf = [0u8; 256];
    while !shared.stop.load(Ordering::Relaxed) {
        let quiet = match master.read(&mut buf) {
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => true,
            Err(_) => return,
        };
        if *lock(&shared.fault) == Some(Fault::Unplug) {
            return;
        }
        let requests = lock(&shared.instrument).take_requests(&mut received, quiet);
        for request in requests {
            if answer(shared, &mut master, &request).is_err() {
                return;
            }
        }
        let printed = lock(&shared.instrument).unsolicited();
        if let Some(printed) = printed
            && master.write_all(&printed).is_err()
        {
            return;
        }
    }
}

/// Executes one request and writes its answer, honouring an injected fault. `Err` means the pty
/// is gone (or was closed on purpose).
fn answer(shared: &Shared, master: &mut TTYPort, request: &[u8]) -> Result<(), ()> {
    let (reply, latency, noise) = {
        let mut instrument = lock(&shared.instrument);
        let wiring = lock(&shared.wiring);
        wiring.sense(instrument.as_mut());
        let reply = instrument.execute(request);
        wiring.drive(instrument.as_ref());
        let latency = lock(&shared.latency).unwrap_or_else(|| instrument.latency());
        (reply, latency, instrument.noise())
    };
    let mut fault = lock(&shared.fault);
    if matches!(*fault, Some(Fault::Vanish | Fault::Unplug)) {
        return Err(());
    }
    let Some(mut reply) = reply else {
        return Ok(());
    };
    // The instrument's own time to answer is rig time: on a sped-up emulated rig it shrinks with
    // the rest of the world, so driver round trips cost the rig time they cost on a bench.
    std::thread::sleep(latency.div_f64(hil_rig::time::scale()));
    match fault.take() {
        Some(Fault::Late(by)) => pause(shared, by),
        Some(Fault::Garbage) => reply = noise,
        Some(Fault::Vanish | Fault::Unplug) | None => {}
    }
    drop(fault);
    master.write_all(&reply).map_err(drop)
}
