//! One simulated device: hardware (power path, brown-out, radio, button) running a firmware model
//! configured by the device's profile. It talks only through what a real board exposes: it draws
//! current from its supply, writes text to its console, advertises, answers link requests and
//! reacts to its button.

mod button;
mod dfu;
mod gatt;
mod initiate;
mod link;
mod lock;
mod mcumgr;
mod nfc;

pub use gatt::{AttAnswer, AttExchange, AttOp, AttResult, GattServerLink, Notification};
pub use initiate::{Initiate, InitiateOp, PeerLink};
pub use mcumgr::{McuMgrCall, McuMgrPort, McuMgrRequest, McuMgrResponse, SlotState};
pub use nfc::{NfcTap, Sniffer};

use std::sync::Arc;
use std::time::Duration;

use hil_rig::time::{Instant, sleep_until};
use hil_rig::{CommandOutcome, DeviceCommand, LinkOutcome};
use hil_scenario::{Profile, Transport};
use tokio::sync::{mpsc, oneshot, watch};

use crate::bonds::{BondTable, Key};
use crate::hardware::Hardware;

/// What a supply channel presents to a device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Supply {
    pub on: bool,
    pub volts: f64,
    pub series_ohms: f64,
    pub amps_limit: f64,
}

impl Supply {
    pub const OFF: Supply = Supply {
        on: false,
        volts: 0.0,
        series_ohms: 0.0,
        amps_limit: 0.0,
    };
}

/// What a device is putting on the air.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Advert {
    pub on: bool,
    pub tx_dbm: f64,
}

/// What kind of central is asking: locks treat a hub owner differently from a phone owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Phone,
    Hub,
    /// Another device (a ring presenting itself to a lock).
    Device,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Phone => "phone",
            Role::Hub => "hub",
            Role::Device => "device",
        }
    }
}

/// Who is on the other end of a link request.
#[derive(Clone, Debug)]
pub struct Peer {
    pub address: String,
    pub role: Role,
}

/// A request from a central over the radio.
pub enum LinkRequest {
    /// Pair and store `key`; `link_drops` when the radio path will not carry the whole handshake.
    Pair {
        peer: Peer,
        key: Key,
        /// The handshake version of the central's app.
        app_version: u32,
        link_drops: bool,
        reply: oneshot::Sender<LinkOutcome>,
    },
    /// Reconnect and encrypt with the bond `key`; with `then_silent` the central stops answering
    /// once the link is up.
    Connect {
        peer: Peer,
        key: Key,
        then_silent: bool,
        reply: oneshot::Sender<LinkOutcome>,
    },
    /// Reconnect with `key` and run an application command; `codes` travel with a restore.
    Command {
        peer: Peer,
        key: Key,
        command: DeviceCommand,
        codes: Vec<String>,
        reply: oneshot::Sender<(CommandOutcome, Vec<String>)>,
    },
    /// An NFC credential held to the reader: to enroll it, or to open.
    Nfc {
        tap: NfcTap,
        enroll: bool,
        reply: oneshot::Sender<LinkOutcome>,
    },
    /// Asks this device's firmware to start a link to another device (the ring to the lock).
    Initiate(Initiate),
    /// Upload a firmware image; with `stop_at` the transfer stalls at that percentage.
    Dfu {
        peer: Peer,
        image: Arc<Profile>,
        stop_at: Option<u8>,
        reply: oneshot::Sender<hil_rig::DfuOutcome>,
    },
    /// Reconnect with `key` and, once the link is encrypted (`reply`), serve ATT exchanges on it
    /// until the central closes it.
    Gatt {
        peer: Peer,
        key: Key,
        link: GattServerLink,
        reply: oneshot::Sender<LinkOutcome>,
    },
    /// Hold an encrypted connection for `duration` and report how often it dropped.
    Soak {
        peer: Peer,
        key: Key,
        duration: Duration,
        reply: oneshot::Sender<Result<u32, hil_rig::LinkFailure>>,
    },
}

/// The device's wires to the rest of the virtual rig.
pub struct DeviceIo {
    pub supply: watch::Receiver<Supply>,
    pub load: watch::Sender<f64>,
    pub console: mpsc::UnboundedSender<String>,
    pub requests: mpsc::Receiver<LinkRequest>,
    pub advert: watch::Sender<Advert>,
    /// Closed while the button is held.
    pub button: watch::Receiver<bool>,
    /// Other devices this one can reach, by device name.
    pub peers: std::collections::BTreeMap<String, PeerLink>,
    /// What an NFC sniffer near this device records of its taps.
    pub sniffer: Sniffer,
    /// Images the debug probe writes.
    pub probe: mpsc::UnboundedReceiver<Arc<Profile>>,
    /// MCUmgr requests from the host on the device's UART.
    pub mcumgr: mpsc::Receiver<McuMgrCall>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResetReason {
    PowerOn,
    Brownout,
    ChargerWake,
    Button,
    FactoryReset,
    /// Into a freshly uploaded image.
    Update,
    /// By the debug probe, after writing an image.
    Probe,
    /// Asked for over MCUmgr, with no new image to boot.
    Software,
}

impl ResetReason {
    fn name(self) -> &'static str {
        match self {
            ResetReason::PowerOn => "power_on",
            ResetReason::Brownout => "brownout",
            ResetReason::ChargerWake => "charger_wake",
            ResetReason::Button => "button",
            ResetReason::FactoryReset => "factory_reset",
            ResetReason::Update => "update",
            ResetReason::Probe => "probe",
            ResetReason::Software => "software",
        }
    }
}

/// How a powered session of the firmware ended.
enum SessionEnd {
    /// Supply switched off or below the power-on threshold.
    PowerLost,
    /// The rail collapsed under load.
    Brownout,
    /// Firmware asked for system off.
    SystemOff,
    /// Firmware reset itself.
    Reset(ResetReason),
    /// The virtual rig was torn down.
    Closed,
}

/// State that survives a reset, and a supply cut shorter than the hold-up time (retained RAM).
#[derive(Default)]
struct Retained {
    brownout: bool,
    pairing_interrupted: bool,
    /// Failed security attempts in a row, and the lockout they triggered.
    failures: u32,
    lockout_until: Option<Instant>,
    /// A bolt actuation was under way.
    actuating: bool,
}

/// Where the bolt physically is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bolt {
    Locked,
    Unlocked,
}

pub struct Device {
    name: String,
    /// Its BLE address, and its NFC credential id.
    address: String,
    hw: Hardware,
    profile: Arc<Profile>,
    io: DeviceIo,
    retained: Retained,
    /// In flash: survives resets and power loss, cleared by a factory reset.
    bonds: BondTable,
    /// NFC credentials enrolled in a lock: id → last counter seen.
    nfc_enrolled: std::collections::BTreeMap<String, u64>,
    /// Taps this device has made (the rolling counter).
    nfc_counter: u64,
    /// Bond keys this device has issued as a central.
    keys_issued: u64,
    /// A peer that rejected our keys: the firmware keeps retrying it.
    retry_peer: Option<String>,
    update: dfu::UpdateState,
    owner: Option<Peer>,
    codes: Vec<String>,
    bolt: Bolt,
    /// The firmware knows where the bolt is (false after a reset mid-actuation, unless it
    /// re-senses it).
    bolt_known: bool,
    powered_at: Instant,
    /// When the supply last went away, to tell whether retained RAM survived.
    unpowered_since: Option<Instant>,
}

impl Device {
    pub fn new(
        name: String,
        address: String,
        hw: Hardware,
        profile: Arc<Profile>,
        io: DeviceIo,
    ) -> Self {
        let behaviour = &profile.behaviour;
        let bonds = BondTable::new(behaviour.bond_slots, behaviour.bond_overwrite_oldest);
        // An installed lock holds a few user codes.
        let codes = if hw.motor.is_some() {
            vec!["1357".into(), "2468".into(), "8080".into()]
        } else {
            Vec::new()
        };
        Self {
            name,
            address,
            hw,
            profile,
            io,
            retained: Retained::default(),
            bonds,
            nfc_enrolled: std::collections::BTreeMap::new(),
            nfc_counter: 0,
            keys_issued: 0,
            retry_peer: None,
            update: dfu::UpdateState::default(),
            owner: None,
            codes,
            bolt: Bolt::Locked,
            bolt_known: true,
            powered_at: Instant::now(),
            unpowered_since: None,
        }
    }

    pub async fn run(mut self) {
        let mut reason = ResetReason::PowerOn;
        loop {
            let hw = self.hw.clone();
            let awake = self
                .wait_supply(|s, drop| s.on && s.volts - drop >= hw.power_on_volts)
                .await;
            if !awake {
                return;
            }
            if let Some(since) = self.unpowered_since.take()
                && since.elapsed() >= self.hw.retention_holdup
            {
                self.retained = Retained::default();
            }
            tracing::debug!(device = %self.name, reason = reason.name(), "reset released");
            reason = match self.session(reason).await {
                SessionEnd::Closed => return,
                SessionEnd::Reset(reason) => reason,
                SessionEnd::Brownout => {
                    self.retained.brownout = true;
                    ResetReason::Brownout
                }
                SessionEnd::PowerLost => {
                    self.unpowered_since = Some(Instant::now());
                    ResetReason::PowerOn
                }
                SessionEnd::SystemOff => {
                    let Some(wake) = self.hw.charger_wake_volts else {
                        return;
                    };
                    // Asleep until the charger is detected, or the supply goes away entirely.
                    if !self.wait_supply(|s, _| !s.on || s.volts >= wake).await {
                        return;
                    }
                    if self.io.supply.borrow().on {
                        ResetReason::ChargerWake
                    } else {
                        self.unpowered_since = Some(Instant::now());
                        ResetReason::PowerOn
                    }
                }
            };
        }
    }

    /// Waits until `ready(supply, idle drop)` holds; false if the rig is gone.
    async fn wait_supply(&mut self, ready: impl Fn(&Supply, f64) -> bool) -> bool {
        loop {
            let supply = *self.io.supply.borrow_and_update();
            if ready(&supply, self.drop_at(&supply, self.hw.idle_amps)) {
                return true;
            }
            if self.io.supply.changed().await.is_err() {
                return false;
            }
        }
    }

    fn drop_at(&self, supply: &Supply, amps: f64) -> f64 {
        amps * (supply.series_ohms + self.hw.wiring_ohms)
    }

    /// Volts at the board while drawing `amps`, or `None` if the supply cannot deliver them.
    fn rail_under(&self, amps: f64) -> Option<f64> {
        let supply = *self.io.supply.borrow();
        (supply.on && amps <= supply.amps_limit).then(|| supply.volts - self.drop_at(&supply, amps))
    }

    fn supply_lost(&self) -> bool {
        self.rail_under(self.hw.idle_amps)
            .is_none_or(|v| v < self.hw.brownout_volts)
    }

    fn state_of_charge(&self) -> (f64, u8) {
        let volts = self.rail_under(self.hw.idle_amps).unwrap_or(0.0);
        (volts, self.hw.cell.state_of_charge(volts))
    }

    /// The cell's internal resistance as the gauge measures it: the sag under a known pulse.
    fn cell_ohms(&self) -> Option<f64> {
        let rest = self.rail_under(self.hw.idle_amps)?;
        let loaded = self.rail_under(self.hw.gauge_pulse_amps)?;
        Some((rest - loaded) / (self.hw.gauge_pulse_amps - self.hw.idle_amps))
    }

    fn on_charger(&self) -> bool {
        let (volts, _) = self.state_of_charge();
        self.hw.charger_wake_volts.is_some_and(|wake| volts >= wake)
    }

    /// Writes a Zephyr-style log line stamped with uptime.
    fn log(&self, level: &str, module: &str, message: &str) {
        let up = self.powered_at.elapsed();
        let (secs, micros) = (up.as_secs(), up.subsec_micros());
        let line = format!(
            "[{:02}:{:02}:{:02}.{:03},{:03}] <{level}> {module}: {message}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            micros / 1000,
            micros % 1000
        );
        // A closed console just means nobody is listening any more.
        let _ = self.io.console.send(line);
    }

    fn start_advertising(&self) {
        // What "reachable" looks like on this device's radios.
        let announce = if self.profile.transports.contains(&Transport::Ble) {
            ("bt", "advertising")
        } else if self.profile.transports.contains(&Transport::Zwave) {
            ("zwave", "listening")
        } else {
            ("nfc", "ready")
        };
        self.log(
            "inf",
            announce.0,
            &format!("{} as {}", announce.1, self.name),
        );
        self.io.advert.send_replace(Advert {
            on: true,
            tx_dbm: self.tx_dbm(),
        });
    }

    fn stop_advertising(&self) {
        self.io.advert.send_modify(|a| a.on = false);
    }

    fn tx_dbm(&self) -> f64 {
        let volts = self.rail_under(self.hw.idle_amps).unwrap_or(0.0);
        self.hw.tx_dbm_at(volts)
    }

    /// Everything the firmware does between a reset and the next.
    async fn session(&mut self, reason: ResetReason) -> SessionEnd {
        self.powered_at = Instant::now();
        // An upload over the wire does not survive a reset: only its offset, in flash, does.
        self.update.last_chunk_at = None;
        self.io.load.send_replace(self.hw.idle_amps);
        if let Err(end) = self.powered_sleep(self.hw.boot_time).await {
            return end;
        }
        if let Err(end) = self.bootloader(reason).await {
            return end;
        }
        let behaviour = self.profile.behaviour.clone();
        let _ = self.io.console.send(format!(
            "*** Booting {} v{} ***",
            self.profile.name, self.profile.version
        ));
        self.log("inf", "pm", &format!("reset reason: {}", reason.name()));
        self.after_boot();
        let (volts, soc) = self.state_of_charge();
        self.log("inf", "battery", &format!("{volts:.2} V, {soc} %"));
        self.report_lock_state();

        let mut low_battery =
            self.retained.brownout && behaviour.brownout_min_soc.is_some_and(|min| soc < min);
        let battery_fault = behaviour.max_cell_ohms.and_then(|max| {
            let ohms = self.cell_ohms()?;
            (ohms > max).then_some(ohms)
        });
        if let Some(ohms) = battery_fault {
            self.log(
                "wrn",
                "battery",
                &format!("health fault: internal resistance {ohms:.1} ohm"),
            );
        }
        self.retained.brownout = false;
        if low_battery {
            self.log(
                "wrn",
                "battery",
                &format!("low ({soc} %), pairing disabled until charged"),
            );
        }

        if std::mem::take(&mut self.retained.pairing_interrupted)
            && behaviour.resume_pairing_after_reset
        {
            self.log("inf", "pair", "resuming interrupted pairing");
            if let Err(end) = self
                .draw(self.hw.pairing_peak_amps, self.hw.pairing_time)
                .await
            {
                self.retained.pairing_interrupted = true;
                return end;
            }
            self.log("wrn", "pair", "peer gone, pairing abandoned");
        }

        if reason == ResetReason::FactoryReset
            && let Err(end) = self
                .powered_sleep(self.hw.button.radio_delay_after_reset)
                .await
        {
            return end;
        }
        self.start_advertising();
        let mut system_off_at = low_battery
            .then_some(behaviour.low_battery_off_after)
            .flatten()
            .map(|d| Instant::now() + d.0);
        let mut press = button::Press::default();
        self.io.button.borrow_and_update();
        let mut button_wired = true;
        let mut uart_wired = true;
        let mut retry_at = self.next_retry();

        loop {
            let lockout_ends_at = self.lockout_ends_at();
            let upload_gives_up_at = self.upload_gives_up_at();
            tokio::select! {
                biased;
                changed = self.io.supply.changed() => {
                    if let Some(end) = self.supply_changed(changed) {
                        return end;
                    }
                    let tx_dbm = self.tx_dbm();
                    self.io.advert.send_if_modified(|a| {
                        let changed = a.tx_dbm != tx_dbm;
                        a.tx_dbm = tx_dbm;
                        changed
                    });
                    let (_, soc) = self.state_of_charge();
                    if low_battery && behaviour.brownout_min_soc.is_some_and(|min| soc >= min) {
                        low_battery = false;
                        system_off_at = None;
                        self.log("inf", "battery", &format!("charging ({soc} %), pairing enabled"));
                    }
                }
                image = self.io.probe.recv() => return self.flashed(image),
                request = self.io.requests.recv() => {
                    let Some(request) = request else {
                        return SessionEnd::Closed;
                    };
                    if let Err(end) = self.serve(request, low_battery, battery_fault.is_some()).await {
                        return end;
                    }
                    retry_at = self.next_retry();
                }
                call = self.io.mcumgr.recv(), if uart_wired => match call {
                    // Nothing on the UART's other end: no host will ever ask.
                    None => uart_wired = false,
                    Some(call) => {
                        if let Err(end) = self.mcumgr(call) {
                            return end;
                        }
                    }
                },
                () = sleep_until_or_never(upload_gives_up_at) => {
                    if let Err(end) = self.upload_given_up() {
                        return end;
                    }
                }
                changed = self.io.button.changed(), if button_wired => {
                    if changed.is_err() {
                        // No relay across this button: nothing will ever press it.
                        button_wired = false;
                        continue;
                    }
                    let closed = *self.io.button.borrow_and_update();
                    if let Some(end) = self.on_button(&mut press, closed) {
                        return end;
                    }
                }
                () = sleep_until_or_never(press.cue_at(&self.hw.button)) => {
                    press.cued = true;
                    self.log("inf", "ui", "beep: release to reset");
                }
                () = sleep_until_or_never(lockout_ends_at) => self.end_lockout(),
                () = sleep_until_or_never(retry_at) => {
                    match self.retry_stale_peer().await {
                        Ok(next) => retry_at = next,
                        Err(end) => return end,
                    }
                }
                () = sleep_until_or_never(system_off_at) => {
                    self.log("wrn", "pm", "battery low, entering system off");
                    return self.power_down(SessionEnd::SystemOff);
                }
            }
        }
    }

    /// Draws `amps` (the pairing peak, a motor) for `duration`; the rail may collapse under it.
    async fn draw(&mut self, amps: f64, duration: Duration) -> Result<(), SessionEnd> {
        self.io.load.send_replace(amps);
        match self.rail_under(amps) {
            Some(v) if v >= self.hw.brownout_volts => {
                self.powered_sleep(duration).await?;
                self.io.load.send_replace(self.hw.idle_amps);
                Ok(())
            }
            sagged => {
                hil_rig::time::sleep(self.hw.sag_after).await;
                let volts = sagged.unwrap_or(0.0);
                self.log("wrn", "pm", &format!("power-fail warning ({volts:.2} V)"));
                Err(self.power_down(SessionEnd::Brownout))
            }
        }
    }

    /// What a change of the supply means: the end of the session if it went away.
    fn supply_changed(
        &mut self,
        changed: Result<(), watch::error::RecvError>,
    ) -> Option<SessionEnd> {
        if changed.is_err() {
            return Some(SessionEnd::Closed);
        }
        self.supply_lost()
            .then(|| self.power_down(SessionEnd::PowerLost))
    }

    /// Sleeps while watching the supply; a lost supply ends the session.
    async fn powered_sleep(&mut self, duration: Duration) -> Result<(), SessionEnd> {
        let deadline = Instant::now() + duration;
        loop {
            tokio::select! {
                biased;
                () = sleep_until(deadline) => return Ok(()),
                changed = self.io.supply.changed() => {
                    if let Some(end) = self.supply_changed(changed) {
                        return Err(end);
                    }
                }
            }
        }
    }

    /// The SoC stops: radio silent, no load, in-flight requests dropped (the peer sees a timeout).
    fn power_down(&mut self, end: SessionEnd) -> SessionEnd {
        self.stop_advertising();
        self.io.load.send_replace(0.0);
        while self.io.requests.try_recv().is_ok() {}
        while self.io.mcumgr.try_recv().is_ok() {}
        end
    }
}

async fn sleep_until_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
