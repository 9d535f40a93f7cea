//! A central dongle driven over its Bluetooth shell: scan, connect, secure, forget, power the
//! stack off and on. What to type and what to read is the shell profile's; the order of things
//! (scan until the device is heard, connect, raise security, read how it ended) is here.
//!
//! Durations the runner gives (scan windows, deadlines) are rig time; waits on the wire are real
//! time, so they are converted with the rig's time scale.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hil_scenario::{Instrument, LinkCode, Reach, ShellCommands, ShellDialect, fill};

use super::shell::{Reply, ShellPort};
use super::transport::{SerialTransport, Transport};
use crate::{Advertisement, LinkFailure, LinkOutcome, RigError};

/// How long a pairing scans for the device before it reports "not found", as a phone's app does.
const SCAN_WINDOW: Duration = Duration::from_secs(10);
/// How long the stack takes to come up after `bt init` (real time).
const INIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a link takes to go down once ended (real time).
const TEARDOWN: Duration = Duration::from_secs(3);
/// The HCI reason for a link that never came up.
const FAILED_TO_ESTABLISH: u8 = 0x3E;
/// The HCI reason Zephyr gives when its create-connection times out.
const UNKNOWN_CONNECTION: u8 = 0x02;
pub const DEFAULT_BAUD: u32 = 115_200;

/// What a link attempt does once the link is encrypted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Pair (or re-encrypt with a bond the dongle holds), then disconnect.
    Pair,
    /// Re-encrypt with the bond, then disconnect.
    Reconnect,
    /// Re-encrypt with the bond, then stop answering until the device times the link out.
    GoSilent,
}

/// A device as last heard: where to connect to it.
#[derive(Clone, Debug)]
struct Heard {
    address: String,
    kind: String,
}

/// The blocking driver.
pub struct ShellCentral<T: Transport> {
    port: ShellPort<T>,
    reach: BTreeMap<String, Reach>,
    heard: BTreeMap<String, Heard>,
    /// Known once started.
    address: Option<String>,
    adapter_on: bool,
    app_installed: Option<u32>,
}

impl ShellCentral<SerialTransport> {
    /// Opens the port of a rig file's instrument's dongle (the stack comes up on first use).
    pub fn open(instrument: &Instrument) -> Result<Self, RigError> {
        let error = |message: String| RigError::new(&instrument.name, message);
        let dialect = instrument
            .shell
            .clone()
            .ok_or_else(|| error("no shell `profile` in the rig file".into()))?;
        let port = instrument
            .port
            .as_deref()
            .ok_or_else(|| error("no `port` in the rig file".into()))?;
        let transport = SerialTransport::open(port, instrument.baud.unwrap_or(DEFAULT_BAUD))
            .map_err(|e| error(e.to_string()))?;
        Ok(Self::new(
            &instrument.name,
            transport,
            dialect,
            instrument.reach.clone(),
        ))
    }
}

impl<T: Transport> ShellCentral<T> {
    /// A dongle on `transport`; its stack is brought up by `start`, or by the first call that
    /// needs it.
    pub fn new(
        name: &str,
        transport: T,
        dialect: Arc<ShellDialect>,
        reach: BTreeMap<String, Reach>,
    ) -> Self {
        Self {
            port: ShellPort::new(name, transport, dialect),
            reach,
            heard: BTreeMap::new(),
            address: None,
            adapter_on: false,
            app_installed: None,
        }
    }

    /// Starts the Bluetooth stack (`bt init`) and reads the dongle's own address, once.
    pub fn start(&mut self) -> Result<(), RigError> {
        if self.address.is_some() {
            return Ok(());
        }
        self.power_on()?;
        let command = self.dialect().commands.identity.clone();
        let lines = self.done(&command)?;
        let identity = &self.dialect().lines.identity;
        let address = lines
            .iter()
            .find_map(|line| Some(identity.captures(line)?["address"].to_ascii_uppercase()))
            .ok_or_else(|| {
                self.port.error(format!(
                    "`{command}` printed no identity address: {lines:?}"
                ))
            })?;
        self.address = Some(address);
        Ok(())
    }

    pub fn name(&self) -> &str {
        self.port.instrument()
    }

    /// The dongle's own address, once started.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// Starts the dongle; one line for `hil rig check`.
    pub fn describe(&mut self) -> Result<String, RigError> {
        self.start()?;
        let dialect = self.dialect();
        Ok(format!(
            "{} {} shell; identity {}",
            dialect.name,
            dialect.version,
            self.address().unwrap_or_default()
        ))
    }

    /// How long to wait for the shell's prompt after a command.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.port.timeout = timeout;
    }

    fn dialect(&self) -> &ShellDialect {
        &self.port.dialect
    }

    /// Runs a command that must be accepted.
    fn done(&mut self, command: &str) -> Result<Vec<String>, RigError> {
        match self.port.run(command)? {
            Reply::Done(lines) => Ok(lines),
            Reply::NotReady => Err(self
                .port
                .error(format!("`{command}`: the Bluetooth stack is not enabled"))),
        }
    }

    fn power_on(&mut self) -> Result<(), RigError> {
        let command = self.dialect().commands.adapter_on.clone();
        self.done(&command)?;
        let initialized = self.dialect().lines.initialized.clone();
        let until = Instant::now() + INIT_TIMEOUT;
        if self
            .port
            .wait_for(until, |l| initialized.is_match(l))?
            .is_none()
        {
            return Err(self.port.error(format!(
                "`{command}`: the stack did not report itself initialized within {INIT_TIMEOUT:?}"
            )));
        }
        self.adapter_on = true;
        Ok(())
    }

    pub fn set_adapter_power(&mut self, on: bool) -> Result<(), RigError> {
        self.start()?;
        if on {
            return self.power_on();
        }
        let command = self.dialect().commands.adapter_off.clone();
        self.done(&command)?;
        self.adapter_on = false;
        Ok(())
    }

    /// Listens for `window` (rig time): every device heard, strongest first.
    pub fn scan(&mut self, window: Duration) -> Result<Vec<Advertisement>, RigError> {
        self.start()?;
        if !self.adapter_on {
            return Err(self.port.error("the Bluetooth adapter is off"));
        }
        let mut heard: Vec<Advertisement> = Vec::new();
        self.listen(real(window), |ad| {
            heard.retain(|a| a.address != ad.address);
            heard.push(ad);
            false
        })?;
        heard.sort_by(|a, b| b.rssi_dbm.total_cmp(&a.rssi_dbm));
        Ok(heard)
    }

    /// Scans until `stop` accepts an advertisement or `window` (real time) passes.
    fn listen(
        &mut self,
        window: Duration,
        mut stop: impl FnMut(Advertisement) -> bool,
    ) -> Result<(), RigError> {
        let commands = &self.dialect().commands;
        let (on, off) = (commands.scan_on.clone(), commands.scan_off.clone());
        if self.port.run(&on)? == Reply::NotReady {
            self.adapter_on = false;
            return Err(self
                .port
                .error(format!("`{on}`: the Bluetooth stack is not enabled")));
        }
        let device = self.dialect().lines.device.clone();
        let until = Instant::now() + window;
        let mut found = false;
        while !found {
            let Some(line) = self.port.wait_for(until, |l| device.is_match(l))? else {
                break;
            };
            let ad = self.advertisement(&device.captures(&line).expect("matched"))?;
            found = stop(ad);
        }
        self.done(&off)?;
        Ok(())
    }

    /// A `[DEVICE]` line as an advertisement, remembering where each device of the rig is.
    fn advertisement(&mut self, caps: &regex::Captures) -> Result<Advertisement, RigError> {
        let address = caps["address"].to_ascii_uppercase();
        let name = caps["name"].to_string();
        let rssi_dbm = caps["rssi"].parse::<f64>().map_err(|_| {
            self.port.error(format!(
                "unreadable RSSI {:?} in a scan report",
                &caps["rssi"]
            ))
        })?;
        let device = self
            .reach
            .iter()
            .find(|(_, how)| match how {
                Reach::Name(wanted) => *wanted == name,
                Reach::Address(wanted) => *wanted == address,
            })
            .map(|(device, _)| device.clone());
        if let Some(device) = &device {
            let kind = caps["type"].to_string();
            let heard = Heard {
                address: address.clone(),
                kind,
            };
            self.heard.insert(device.clone(), heard);
        }
        Ok(Advertisement {
            device,
            name,
            address,
            rssi_dbm,
        })
    }

    pub fn pair(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError> {
        self.link(device, deadline, Then::Pair)
    }

    pub fn connect(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError> {
        self.link(device, deadline, Then::Reconnect)
    }

    pub fn stop_answering(
        &mut self,
        device: &str,
        deadline: Duration,
    ) -> Result<LinkOutcome, RigError> {
        self.link(device, deadline, Then::GoSilent)
    }

    fn link(
        &mut self,
        device: &str,
        deadline: Duration,
        then: Then,
    ) -> Result<LinkOutcome, RigError> {
        self.start()?;
        let until = Instant::now() + real(deadline);
        self.reachable(device)?;
        self.port.drop_events();
        if !self.adapter_on {
            return Ok(LinkOutcome::Failed(LinkFailure::AdapterOff));
        }
        if then != Then::Pair && !self.bonded(device)? {
            return Ok(LinkOutcome::Failed(LinkFailure::NotBonded));
        }
        let silence = match then {
            Then::GoSilent => {
                Some(self.test_command(|c| &c.silence, "silence", "stop_answering")?)
            }
            Then::Pair | Then::Reconnect => None,
        };
        let window = real(SCAN_WINDOW).min(until.saturating_duration_since(Instant::now()));
        let mut seen = false;
        self.listen(window, |ad| {
            seen = ad.device.as_deref() == Some(device);
            seen
        })?;
        let Some(target) = self.heard.get(device).cloned().filter(|_| seen) else {
            return Ok(LinkOutcome::Failed(LinkFailure::NotFound));
        };
        // Armed only for a link about to be made, so it cannot outlive this attempt.
        if let Some(silence) = silence {
            self.done(&silence)?;
        }
        let outcome = match self.open_link(&target, until)? {
            Ok(()) => self.secure(&target, until, then)?,
            Err(failure) => Err(failure),
        };
        Ok(match outcome {
            Ok(()) => LinkOutcome::Bonded,
            Err(failure) => LinkOutcome::Failed(failure),
        })
    }

    /// `bt connect` and its outcome.
    fn open_link(
        &mut self,
        target: &Heard,
        until: Instant,
    ) -> Result<Result<(), LinkFailure>, RigError> {
        let command = fill(
            &self.dialect().commands.connect,
            &[("address", &target.address), ("type", &target.kind)],
        );
        if self.port.run(&command)? == Reply::NotReady {
            self.adapter_on = false;
            return Ok(Err(LinkFailure::AdapterOff));
        }
        let lines = &self.port.dialect.lines;
        let (connected, failed, gone) = (
            lines.connected.clone(),
            lines.connect_failed.clone(),
            lines.disconnected.clone(),
        );
        let about = |re: &regex::Regex, line: &str| {
            re.captures(line)
                .is_some_and(|c| c["address"].eq_ignore_ascii_case(&target.address))
        };
        let line = self.port.wait_for(until, |l| {
            about(&connected, l) || about(&failed, l) || about(&gone, l)
        })?;
        match line {
            Some(line) if connected.is_match(&line) => Ok(Ok(())),
            Some(line) => {
                let caps = failed.captures(&line).or_else(|| gone.captures(&line));
                Ok(Err(match caps.and_then(|c| parse_code(&c["reason"])) {
                    // The create-connection timed out: nothing answered at that address.
                    Some(UNKNOWN_CONNECTION) => LinkFailure::NotFound,
                    reason => LinkFailure::Disconnected(reason.unwrap_or(FAILED_TO_ESTABLISH)),
                }))
            }
            None => {
                self.hang_up()?;
                Ok(Err(LinkFailure::Disconnected(FAILED_TO_ESTABLISH)))
            }
        }
    }

    /// Raises the link's security and reads how it went; ends the link as `then` says.
    fn secure(
        &mut self,
        target: &Heard,
        until: Instant,
        then: Then,
    ) -> Result<Result<(), LinkFailure>, RigError> {
        let command = self.dialect().commands.secure.clone();
        self.done(&command)?;
        let lines = &self.port.dialect.lines;
        let (changed, failed, refused, gone) = (
            lines.security_changed.clone(),
            lines.security_failed.clone(),
            lines.refused.clone(),
            lines.disconnected.clone(),
        );
        let about = |re: &regex::Regex, line: &str| {
            re.captures(line)
                .is_some_and(|c| c["address"].eq_ignore_ascii_case(&target.address))
        };
        let line = self.port.wait_for(until, |l| {
            about(&changed, l)
                || about(&failed, l)
                || about(&gone, l)
                || refused.as_ref().is_some_and(|r| about(r, l))
        })?;
        let Some(line) = line else {
            self.hang_up()?;
            return Ok(Err(LinkFailure::Disconnected(FAILED_TO_ESTABLISH)));
        };
        if let Some(caps) = gone.captures(&line) {
            let reason = parse_code(&caps["reason"]).unwrap_or(FAILED_TO_ESTABLISH);
            return Ok(Err(LinkFailure::Disconnected(reason)));
        }
        let failure = if let Some(caps) = failed.captures(&line) {
            Some(self.security_failure(&caps["reason"])?)
        } else {
            refused
                .as_ref()
                .and_then(|r| r.captures(&line))
                .map(|caps| LinkFailure::Refused(caps["status"].to_string()))
        };
        match (failure, then) {
            (Some(failure), _) => {
                self.wait_gone(&target.address, Instant::now() + TEARDOWN)?;
                Ok(Err(failure))
            }
            (None, Then::GoSilent) => {
                // The device times the silent link out; that reason is the outcome.
                match self.wait_gone(&target.address, until)? {
                    Some(reason) => Ok(Err(LinkFailure::Disconnected(reason))),
                    None => Ok(Ok(())),
                }
            }
            (None, Then::Pair | Then::Reconnect) => {
                self.hang_up()?;
                Ok(Ok(()))
            }
        }
    }

    /// What a shell's security error number stands for.
    fn security_failure(&self, number: &str) -> Result<LinkFailure, RigError> {
        let code = number
            .parse::<i64>()
            .ok()
            .and_then(|n| self.dialect().security_errors.get(&n).copied());
        match code {
            Some(LinkCode::Hci(code)) => Ok(LinkFailure::Disconnected(code)),
            Some(LinkCode::Smp(code)) => Ok(LinkFailure::Smp(code)),
            None => Err(self.port.error(format!(
                "security error {number} is not in the shell profile's [security_errors]"
            ))),
        }
    }

    /// Waits for the link to `address` to go down; its reason, or `None` if it stayed up.
    fn wait_gone(&mut self, address: &str, until: Instant) -> Result<Option<u8>, RigError> {
        let gone = self.dialect().lines.disconnected.clone();
        let line = self.port.wait_for(until, |l| {
            gone.captures(l)
                .is_some_and(|c| c["address"].eq_ignore_ascii_case(address))
        })?;
        Ok(line.and_then(|l| parse_code(&gone.captures(&l)?["reason"])))
    }

    /// Ends whatever link is up; a shell with none says so, which is fine.
    fn hang_up(&mut self) -> Result<(), RigError> {
        let command = self.dialect().commands.disconnect.clone();
        match self.port.run(&command) {
            Ok(_) => {
                let gone = self.dialect().lines.disconnected.clone();
                self.port
                    .wait_for(Instant::now() + TEARDOWN, |l| gone.is_match(l))?;
                Ok(())
            }
            Err(e) if e.message.contains("failed: ") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether the dongle holds a bond with `device`.
    fn bonded(&mut self, device: &str) -> Result<bool, RigError> {
        let Some(address) = self.known_address(device) else {
            // Never heard, so never paired through this dongle.
            return Ok(false);
        };
        let command = self.dialect().commands.bonds.clone();
        let lines = self.done(&command)?;
        let bond = &self.dialect().lines.bond;
        Ok(lines.iter().any(|line| {
            bond.captures(line)
                .is_some_and(|c| c["address"].eq_ignore_ascii_case(&address))
        }))
    }

    fn known_address(&self, device: &str) -> Option<String> {
        match (self.heard.get(device), self.reach.get(device)) {
            (Some(heard), _) => Some(heard.address.clone()),
            (None, Some(Reach::Address(address))) => Some(address.clone()),
            (None, _) => None,
        }
    }

    fn reachable(&self, device: &str) -> Result<(), RigError> {
        if self.reach.contains_key(device) {
            Ok(())
        } else {
            Err(self.port.error(format!(
                "`{device}` is not among the devices this dongle reaches (`reach` in the rig file)"
            )))
        }
    }

    /// Removes the dongle's bond with `device`.
    pub fn forget(&mut self, device: &str) -> Result<(), RigError> {
        self.start()?;
        self.reachable(device)?;
        let Some(address) = self.known_address(device) else {
            return Ok(());
        };
        let kind = self
            .heard
            .get(device)
            .map_or("random".to_string(), |h| h.kind.clone());
        let command = fill(
            &self.dialect().commands.forget,
            &[("address", &address), ("type", &kind)],
        );
        self.done(&command).map(drop)
    }

    /// The companion app's handshake version, presented from the next `restart_app` on.
    pub fn install_app(&mut self, version: u32) -> Result<(), RigError> {
        self.test_command(|c| &c.app_version, "app_version", "install_app")?;
        self.app_installed = Some(version);
        Ok(())
    }

    pub fn restart_app(&mut self) -> Result<(), RigError> {
        self.start()?;
        let template = self.test_command(|c| &c.app_version, "app_version", "restart_app")?;
        if let Some(version) = self.app_installed {
            let command = fill(&template, &[("version", &version.to_string())]);
            self.done(&command)?;
        }
        Ok(())
    }

    /// A test-firmware command the profile may lack.
    fn test_command(
        &self,
        pick: fn(&ShellCommands) -> &Option<String>,
        name: &str,
        what: &str,
    ) -> Result<String, RigError> {
        pick(&self.dialect().commands).clone().ok_or_else(|| {
            self.port.error(format!(
                "`{what}` needs the test-firmware command `{name}`, which shell profile `{}` does not have",
                self.dialect().name
            ))
        })
    }
}

/// Rig time → real time.
fn real(rig: Duration) -> Duration {
    rig.div_f64(crate::time::scale())
}

/// `0x3e` (Zephyr 3.x prints hex) or `62` (2.x printed connection errors in decimal) as a byte.
fn parse_code(text: &str) -> Option<u8> {
    match text.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_code;

    #[test]
    fn reasons_are_hex_with_0x_and_decimal_without() {
        assert_eq!(parse_code("0x3e"), Some(0x3E));
        assert_eq!(parse_code("0x08"), Some(0x08));
        assert_eq!(parse_code("62"), Some(0x3E));
        assert_eq!(parse_code("0xzz"), None);
    }
}
