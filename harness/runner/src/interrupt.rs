//! An operator's request to stop (Ctrl-C, SIGTERM): the running scenario stops at once, goes
//! through safe state and its report, and the rest of the run is not started.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Interrupt(Arc<Inner>);

#[derive(Default)]
struct Inner {
    raised: AtomicBool,
    cause: Mutex<Option<String>>,
    notify: Notify,
}

impl Interrupt {
    /// Asks the run to stop; `cause` names what asked (e.g. "SIGINT"). The first cause wins.
    pub fn raise(&self, cause: &str) {
        self.0
            .cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| cause.to_string());
        self.0.raised.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// What asked the run to stop, once something has.
    pub fn cause(&self) -> Option<String> {
        if !self.0.raised.load(Ordering::SeqCst) {
            return None;
        }
        self.0
            .cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Resolves once the run is asked to stop.
    pub async fn raised(&self) -> String {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(cause) = self.cause() {
                return cause;
            }
            notified.await;
        }
    }
}
