//! The emulated BlueZ's radio calls: one job at a time on the world's central (`backend.rs`),
//! waited for, and how BlueZ reports what came of it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hil_rig::{Advertisement, LinkFailure, LinkOutcome, RigError};

use hil_scenario::Characteristic;

use crate::device::{AttAnswer, AttOp, AttResult, Notification};
use crate::emulators::backend::{Done, Job, LinkKind, Radio};

/// A D-Bus error as BlueZ sends it: name and message.
pub type BluezError = (&'static str, String);

/// The radio, shared by the D-Bus handlers and the listening loop of the emulator's thread.
#[derive(Clone)]
pub struct SharedRadio(Arc<Mutex<Radio>>);

impl SharedRadio {
    pub fn new(radio: Radio) -> Self {
        Self(Arc::new(Mutex::new(radio)))
    }

    /// Runs `job` and waits for what came of it.
    fn run(&self, job: Job) -> Result<Done, BluezError> {
        let radio = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        radio.ask(job);
        radio.wait().ok_or_else(|| failed("the radio is gone"))
    }

    /// Pairs with, or reconnects to, `device` at `address`.
    pub fn link(&self, device: &str, address: &str, how: LinkKind) -> Result<(), BluezError> {
        let job = Job::Link {
            device: device.to_string(),
            address: address.to_string(),
            how,
        };
        match self.run(job)? {
            Done::Link { outcome, .. } => link_error(outcome.map_err(rig_error)?),
            other => Err(unexpected(&other)),
        }
    }

    /// One ATT operation on the connection held to `device`: its answer, and what the device
    /// notified meanwhile.
    pub fn att(
        &self,
        device: &str,
        op: AttOp,
    ) -> Result<(AttResult, Vec<Notification>), BluezError> {
        let job = Job::Att {
            device: device.to_string(),
            op,
        };
        match self.run(job)? {
            Done::Att { answer, notified } => Ok((answer, notified)),
            other => Err(unexpected(&other)),
        }
    }

    /// The GATT database of the device at the end of the held connection.
    pub fn discover(&self, device: &str) -> Result<Vec<Characteristic>, BluezError> {
        match self.att(device, AttOp::Discover)? {
            (Ok(AttAnswer::Characteristics(found)), _) => Ok(found),
            (Ok(_), _) => Ok(Vec::new()),
            (Err(failure), _) => Err(failed(&format!("service discovery failed: {failure}"))),
        }
    }

    /// Closes the connection held to `device`, if one is.
    pub fn close(&self, device: &str) {
        let _ = self.run(Job::CloseGatt(device.to_string()));
    }

    pub fn forget(&self, device: &str) -> Result<(), BluezError> {
        match self.run(Job::Forget(device.to_string()))? {
            Done::Other(result) => result.map_err(rig_error),
            other => Err(unexpected(&other)),
        }
    }

    pub fn power(&self, on: bool) -> Result<(), BluezError> {
        match self.run(Job::Power(on))? {
            Done::Powered(_) => Ok(()),
            Done::Other(result) => result.map_err(rig_error),
            other => Err(unexpected(&other)),
        }
    }

    /// What the radio hears in `window` (rig time); nothing if it cannot listen.
    pub fn listen(&self, window: Duration) -> Vec<Advertisement> {
        match self.run(Job::Scan(window)) {
            Ok(Done::Scan(Ok(heard))) => heard,
            _ => Vec::new(),
        }
    }
}

fn failed(reason: &str) -> BluezError {
    ("org.bluez.Error.Failed", reason.to_string())
}

fn rig_error(e: RigError) -> BluezError {
    failed(&e.message)
}

fn unexpected(done: &Done) -> BluezError {
    failed(&format!("the radio answered another job: {done:?}"))
}

/// Resource Not Ready: what BlueZ answers when the adapter is off.
pub fn not_ready() -> BluezError {
    ("org.bluez.Error.NotReady", "Resource Not Ready".into())
}

/// The error BlueZ returns from Device1.Pair or Device1.Connect when the link attempt fails
/// (src/error.h, src/device.c): LE connection errors carry a reason string, SMP failures do not.
fn link_error(outcome: LinkOutcome) -> Result<(), BluezError> {
    let LinkOutcome::Failed(failure) = outcome else {
        return Ok(());
    };
    Err(match failure {
        LinkFailure::AdapterOff => not_ready(),
        LinkFailure::Disconnected(0x06) => failed("le-connection-key-missing"),
        LinkFailure::Disconnected(0x08) => failed("le-connection-timeout"),
        LinkFailure::Disconnected(0x13) => failed("le-connection-abort-by-remote"),
        LinkFailure::Disconnected(0x22) => failed("le-connection-link-layer-protocol-error"),
        // The controller gave up creating the connection: BlueZ says it aborted it locally.
        LinkFailure::Disconnected(0x3E) | LinkFailure::NotFound => {
            failed("le-connection-abort-by-local")
        }
        LinkFailure::Disconnected(_) | LinkFailure::NotBonded | LinkFailure::Att(_) => {
            failed("le-connection-unknown")
        }
        LinkFailure::Smp(_) => (
            "org.bluez.Error.AuthenticationFailed",
            "Authentication Failed".into(),
        ),
        LinkFailure::Refused(_) => (
            "org.bluez.Error.AuthenticationRejected",
            "Authentication Rejected".into(),
        ),
    })
}
