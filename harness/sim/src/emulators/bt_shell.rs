//! A central dongle running Zephyr's Bluetooth shell, written from Zephyr's shell and bt shell
//! sources (subsys/shell, subsys/bluetooth/host/shell/bt.c) independently of the driver's shell
//! profile, so a test catches either being wrong. Its radio is a `Central` backend: on the
//! emulated rig, the sim's virtual phone, which reaches the simulated ring and lock.
//!
//! The shell's side of a link is split in steps (`bt connect`, `bt security`, `bt disconnect`);
//! the backend does a whole session in one call. So the session runs at `bt connect` (as a
//! pairing, a reconnection with the bond, or one that then goes silent, from what the dongle
//! holds) and its outcome is told step by step as the shell would have seen it.

use std::collections::BTreeMap;
use std::time::Duration;

use hil_rig::{Advertisement, LinkFailure, LinkOutcome};

use super::Protocol;
use super::backend::{Done, Job, LinkKind, Radio};
use crate::central::VirtualCentral;

const PROMPT: &str = "\x1b[1;32muart:~$ \x1b[m";
/// The shell's colour for errors (`shell_error`), and back to normal.
const RED: &str = "\x1b[1;31m";
const NORMAL: &str = "\x1b[m";
/// How long the controller listens per scan report round (rig time).
const SCAN_ROUND: Duration = Duration::from_millis(250);
/// HCI reasons the dongle's side prints.
const LOCAL_HOST_TERMINATED: u8 = 0x16;
const REMOTE_USER_TERMINATED: u8 = 0x13;
/// `bt_conn_le_create` timed out: nothing answered at that address.
const UNKNOWN_CONNECTION: u8 = 0x02;
const FAILED_TO_ESTABLISH: u8 = 0x3E;

/// The link to one device, as the shell sees it.
enum Link {
    None,
    /// `bt connect` is running on the radio.
    Pending {
        address: String,
    },
    /// Connected; `bt security` tells how the session went.
    Up {
        address: String,
        how: LinkKind,
        outcome: LinkOutcome,
    },
    /// Encrypted and still up, until `bt disconnect`.
    Secure {
        address: String,
    },
}

pub struct BtShell {
    radio: Radio,
    enabled: bool,
    scanning: bool,
    scan_pending: bool,
    /// Devices heard, by address.
    heard: BTreeMap<String, String>,
    /// Bonded devices: address → device.
    bonds: BTreeMap<String, String>,
    link: Link,
    /// `hil silence-after-encrypt`: the next link goes silent once encrypted.
    silence: bool,
    /// Asynchronous lines not yet printed.
    pending: Vec<String>,
    /// The boot banner and first prompt are out.
    booted: bool,
}

impl BtShell {
    pub fn new(backend: VirtualCentral, runtime: &tokio::runtime::Handle) -> Self {
        Self {
            radio: Radio::new(backend, runtime),
            enabled: false,
            scanning: false,
            scan_pending: false,
            heard: BTreeMap::new(),
            bonds: BTreeMap::new(),
            link: Link::None,
            silence: false,
            pending: Vec::new(),
            booted: false,
        }
    }

    /// Runs one command line: its output lines (errors already coloured).
    fn run(&mut self, line: &str) -> Vec<String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => Vec::new(),
            ["bt", "init"] if self.enabled => vec![error("Bluetooth init failed (err -120)")],
            ["bt", "init"] => {
                self.radio.ask(Job::Power(true));
                Vec::new()
            }
            ["bt", "disable"] => {
                self.enabled = false;
                self.scanning = false;
                self.link = Link::None;
                self.radio.ask(Job::Power(false));
                vec!["Bluetooth disabled".into()]
            }
            ["bt", "id-show"] => vec![format!("*0: {} (random)", self.radio.address)],
            ["bt", "scan", "on"] if !self.enabled => {
                vec![error("Bluetooth set active scan failed (err -11)")]
            }
            ["bt", "scan", "on"] if self.scanning => {
                vec![error("Bluetooth set active scan failed (err -120)")]
            }
            ["bt", "scan", "on"] => {
                self.scanning = true;
                vec!["Bluetooth active scan enabled".into()]
            }
            ["bt", "scan", "off"] if !self.scanning => {
                vec![error("Stopping scanning failed (err -120)")]
            }
            ["bt", "scan", "off"] => {
                self.scanning = false;
                vec!["Scan successfully stopped".into()]
            }
            ["bt", "connect", address, kind] => self.connect(address, kind),
            ["bt", "security", level] => self.secure(level),
            ["bt", "disconnect"] => self.disconnect(),
            ["bt", "bonds"] => {
                let mut out = vec!["Bonded devices:".to_string()];
                out.extend(
                    self.bonds
                        .keys()
                        .map(|address| format!("Remote Identity: {address} (random)")),
                );
                out.push(format!("Total {}", self.bonds.len()));
                out
            }
            ["bt", "clear", "all"] => {
                for device in std::mem::take(&mut self.bonds).into_values() {
                    self.radio.ask(Job::Forget(device));
                }
                vec!["Pairings successfully cleared".into()]
            }
            ["bt", "clear", address, "public" | "random"] => {
                if let Some(device) = self.bonds.remove(&address.to_ascii_uppercase()) {
                    self.radio.ask(Job::Forget(device));
                }
                vec!["Pairing successfully cleared".into()]
            }
            ["hil", "app-version", version] => match version.parse() {
                Ok(version) => {
                    self.radio.ask(Job::AppVersion(version));
                    vec![format!("hil: app handshake version {version}")]
                }
                Err(_) => vec![error(&format!("Invalid version {version}"))],
            },
            ["hil", "silence-after-encrypt"] => {
                self.silence = true;
                vec!["hil: silent after the next encryption".into()]
            }
            [command, ..] if ["bt", "hil"].contains(command) => {
                vec![error(&format!(
                    "{line}: wrong parameter count or unknown command"
                ))]
            }
            [command, ..] => vec![error(&format!("{command}: command not found"))],
        }
    }

    fn connect(&mut self, address: &str, kind: &str) -> Vec<String> {
        let address = address.to_ascii_uppercase();
        if !is_address(&address) || !["public", "random"].contains(&kind) {
            return vec![error("Invalid peer address (err -22)")];
        }
        if !self.enabled {
            return vec![error("Connection failed (-11)")];
        }
        if !matches!(self.link, Link::None) {
            return vec![error("Connection failed (-16)")];
        }
        let Some(device) = self.heard.get(&address).cloned() else {
            // Nothing answers at that address: the create-connection timeout.
            self.pending.push(format!(
                "Failed to connect to {address} (random) (0x{UNKNOWN_CONNECTION:02x})"
            ));
            return vec!["Connection pending".into()];
        };
        let how = if std::mem::take(&mut self.silence) {
            LinkKind::GoSilent
        } else if self.bonds.contains_key(&address) {
            LinkKind::Reconnect
        } else {
            LinkKind::Pair
        };
        self.radio.ask(Job::Link {
            device,
            address: address.clone(),
            how,
        });
        self.link = Link::Pending { address };
        vec!["Connection pending".into()]
    }

    fn secure(&mut self, level: &str) -> Vec<String> {
        if !matches!(level, "1" | "2" | "3" | "4") {
            return vec![error("Invalid security level")];
        }
        let Link::Up {
            address,
            how,
            outcome,
        } = std::mem::replace(&mut self.link, Link::None)
        else {
            return vec![error("Not connected")];
        };
        let who = format!("{address} (random)");
        let gone = |reason: u8| format!("Disconnected: {who} (reason 0x{reason:02x})");
        match outcome {
            LinkOutcome::Bonded => {
                if how == LinkKind::Pair {
                    let device = self.heard.get(&address).cloned().unwrap_or_default();
                    self.bonds.insert(address.clone(), device);
                }
                self.pending
                    .push(format!("Security changed: {who} level {level}"));
                self.link = Link::Secure { address };
            }
            // Silent once encrypted: the device times the link out.
            LinkOutcome::Failed(LinkFailure::Disconnected(0x08)) if how == LinkKind::GoSilent => {
                self.pending
                    .push(format!("Security changed: {who} level {level}"));
                self.pending.push(gone(0x08));
            }
            LinkOutcome::Failed(LinkFailure::Disconnected(0x06) | LinkFailure::NotBonded) => {
                self.pending.push(format!(
                    "Security failed: {who} level 1 reason: PIN or key missing (2)"
                ));
                self.pending.push(gone(REMOTE_USER_TERMINATED));
            }
            LinkOutcome::Failed(LinkFailure::Smp(code)) => {
                let (number, text) = security_error(code);
                self.pending.push(format!(
                    "Security failed: {who} level 1 reason: {text} ({number})"
                ));
                self.pending.push(gone(REMOTE_USER_TERMINATED));
            }
            LinkOutcome::Failed(LinkFailure::Refused(status)) => {
                self.pending
                    .push(format!("hil: handshake refused by {who}: {status}"));
                self.pending.push(gone(REMOTE_USER_TERMINATED));
            }
            LinkOutcome::Failed(LinkFailure::Disconnected(reason)) => {
                self.pending.push(gone(reason));
            }
            // Links end in ATT errors only over GATT, which this dialect does not speak.
            LinkOutcome::Failed(LinkFailure::Att(_)) => {
                self.pending.push(gone(REMOTE_USER_TERMINATED));
            }
            LinkOutcome::Failed(LinkFailure::NotFound | LinkFailure::AdapterOff) => {
                self.pending.push(gone(FAILED_TO_ESTABLISH));
            }
        }
        Vec::new()
    }

    fn disconnect(&mut self) -> Vec<String> {
        match std::mem::replace(&mut self.link, Link::None) {
            Link::Secure { address } | Link::Up { address, .. } => {
                self.pending.push(format!(
                    "Disconnected: {address} (random) (reason 0x{LOCAL_HOST_TERMINATED:02x})"
                ));
                Vec::new()
            }
            Link::Pending { address } => {
                // The session runs on; its outcome is dropped when it comes.
                self.link = Link::Pending { address };
                vec![error("Not connected")]
            }
            Link::None => vec![error("Not connected")],
        }
    }

    /// Takes what the radio finished into the shell's state and its pending lines.
    fn collect(&mut self) {
        while let Some(done) = self.radio.poll() {
            match done {
                Done::Scan(Ok(ads)) => {
                    self.scan_pending = false;
                    if self.scanning {
                        for ad in ads {
                            self.report(ad);
                        }
                    }
                }
                // The adapter went off under the scan: the next round says so.
                Done::Scan(Err(_)) => self.scan_pending = false,
                Done::Powered(true) => {
                    self.enabled = true;
                    self.pending.push("Bluetooth initialized".into());
                }
                // The shell makes no GATT jobs (`Done::Att`): its dialect has no `gatt` commands.
                Done::Powered(false) | Done::Other(Ok(())) | Done::Att { .. } => {}
                Done::Other(Err(e)) => self.pending.push(error(&e.message)),
                Done::Link {
                    address,
                    how,
                    outcome,
                } => self.linked(address, how, outcome),
            }
        }
        if self.scanning && self.enabled && !self.scan_pending {
            self.scan_pending = true;
            self.radio.ask(Job::Scan(SCAN_ROUND));
        }
    }

    /// A scan report, as Zephyr 3.x prints it.
    fn report(&mut self, ad: Advertisement) {
        if let Some(device) = &ad.device {
            self.heard.insert(ad.address.clone(), device.clone());
        }
        self.pending.push(format!(
            "[DEVICE]: {} (random), AD evt type 0, RSSI {} {} C:1 S:1 D:0 SR:0 E:0 Prim: LE 1M, Secn: No packets, Interval: 0x0000 (0 us), SID: 0xff",
            ad.address,
            ad.rssi_dbm.round(),
            ad.name
        ));
    }

    /// The session at `bt connect` is over: the link is up, or it never came up.
    fn linked(
        &mut self,
        address: String,
        how: LinkKind,
        outcome: Result<LinkOutcome, hil_rig::RigError>,
    ) {
        if !matches!(&self.link, Link::Pending { address: a } if *a == address) {
            return;
        }
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                self.link = Link::None;
                self.pending.push(error(&e.message));
                return;
            }
        };
        let never_up = match &outcome {
            LinkOutcome::Failed(LinkFailure::NotFound | LinkFailure::AdapterOff) => {
                Some(UNKNOWN_CONNECTION)
            }
            LinkOutcome::Failed(LinkFailure::Disconnected(FAILED_TO_ESTABLISH)) => {
                Some(FAILED_TO_ESTABLISH)
            }
            _ => None,
        };
        if let Some(reason) = never_up {
            self.link = Link::None;
            self.pending.push(format!(
                "Failed to connect to {address} (random) (0x{reason:02x})"
            ));
            return;
        }
        self.pending.push(format!("Connected: {address} (random)"));
        self.link = Link::Up {
            address,
            how,
            outcome,
        };
    }
}

/// Zephyr's `security_err_get()`: an SMP reason as `enum bt_security_err`, with the shell's text.
fn security_error(smp: u8) -> (u8, &'static str) {
    match smp {
        0x01 | 0x04 | 0x0B | 0x0C => (1, "Authentication failure"),
        0x02 => (3, "OOB not available"),
        0x03 | 0x06 => (4, "Authentication requirements"),
        0x05 | 0x07 => (5, "Pairing not supported"),
        0x09 | 0x0D | 0x0E => (6, "Pairing not allowed"),
        0x0A => (7, "Invalid parameters"),
        _ => (9, "Unspecified"),
    }
}

fn is_address(text: &str) -> bool {
    text.len() == 17
        && text
            .split(':')
            .all(|byte| byte.len() == 2 && byte.chars().all(|c| c.is_ascii_hexdigit()))
}

fn error(text: &str) -> String {
    format!("{RED}{text}{NORMAL}")
}

impl Protocol for BtShell {
    fn take_requests(&mut self, received: &mut Vec<u8>, _quiet: bool) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        // The shell ends a command at CR or LF; the LF of a CR LF ends nothing more.
        while let Some(end) = received.iter().position(|&b| b == b'\r' || b == b'\n') {
            let line: Vec<u8> = received.drain(..=end).collect();
            if received.first() == Some(&b'\n') && line.last() == Some(&b'\r') {
                received.remove(0);
            }
            lines.push(line[..end].to_vec());
        }
        lines
    }

    fn execute(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let line = String::from_utf8_lossy(request).trim().to_string();
        // Each typed character is echoed; the output follows, then the prompt again.
        let mut reply = format!("{line}\r\n");
        for out in self.run(&line) {
            reply += &out;
            reply += "\r\n";
        }
        reply += PROMPT;
        Some(reply.into_bytes())
    }

    fn unsolicited(&mut self) -> Option<Vec<u8>> {
        if !std::mem::replace(&mut self.booted, true) {
            return Some(
                format!("*** Booting Zephyr OS build v3.7.0 ***\r\n\r\n\r\n{PROMPT}").into_bytes(),
            );
        }
        self.collect();
        if self.pending.is_empty() {
            return None;
        }
        // Asynchronous prints erase the prompt line, print, and print the prompt again.
        let mut out = String::from("\r\x1b[J");
        for line in self.pending.drain(..) {
            out += &line;
            out += "\r\n";
        }
        out += PROMPT;
        Some(out.into_bytes())
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(2)
    }

    fn noise(&self) -> Vec<u8> {
        format!("bt \u{fffd}\x13s#\u{fffd}~\r\n\x00\x7f{PROMPT}").into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_errors_fold_as_zephyrs_do() {
        assert_eq!(security_error(0x05).0, 5);
        assert_eq!(security_error(0x09).0, 6);
        assert_eq!(security_error(0x08).0, 9);
    }
}
