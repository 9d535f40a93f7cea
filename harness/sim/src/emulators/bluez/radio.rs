//! The emulated BlueZ's radio: the world's central, an async `Central` on the scenario's runtime,
//! called from the emulator's thread; and how BlueZ reports what the radio said.

use std::future::Future;
use std::pin::Pin;

use hil_rig::{Central, LinkFailure, LinkOutcome, RigError};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

type Job = Box<
    dyn for<'a> FnOnce(&'a mut dyn Central) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> + Send,
>;

/// A D-Bus error as BlueZ sends it: name and message.
pub type BluezError = (&'static str, String);

#[derive(Clone)]
pub struct Radio {
    jobs: mpsc::Sender<Job>,
}

impl Radio {
    /// Serves `central` on a task of `handle`'s runtime until every `Radio` clone is dropped.
    pub fn serve(mut central: Box<dyn Central>, handle: &Handle) -> Self {
        let (jobs, mut queue) = mpsc::channel::<Job>(1);
        handle.spawn(async move {
            while let Some(job) = queue.recv().await {
                job(central.as_mut()).await;
            }
        });
        Self { jobs }
    }

    /// Runs one call on the central and waits for it (blocking: call from the emulator's thread).
    pub fn call<T, F>(&self, call: F) -> Result<T, BluezError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(
                &'a mut dyn Central,
            )
                -> Pin<Box<dyn Future<Output = Result<T, RigError>> + Send + 'a>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |central| {
            Box::pin(async move {
                let _ = reply.send(call(central).await);
            })
        });
        let gone = || ("org.bluez.Error.Failed", "the radio is gone".to_string());
        self.jobs.blocking_send(job).map_err(|_| gone())?;
        answer
            .blocking_recv()
            .map_err(|_| gone())?
            .map_err(|e| ("org.bluez.Error.Failed", e.message))
    }
}

/// Resource Not Ready: what BlueZ answers when the adapter is off.
pub fn not_ready() -> BluezError {
    ("org.bluez.Error.NotReady", "Resource Not Ready".into())
}

/// The error BlueZ returns from Device1.Pair or Device1.Connect when the link attempt fails
/// (src/error.h, src/device.c): LE connection errors carry a reason string, SMP failures do not.
pub fn link_error(outcome: LinkOutcome) -> Result<(), BluezError> {
    let LinkOutcome::Failed(failure) = outcome else {
        return Ok(());
    };
    let failed = |reason: &str| ("org.bluez.Error.Failed", reason.to_string());
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
        LinkFailure::Disconnected(_) | LinkFailure::NotBonded => failed("le-connection-unknown"),
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
