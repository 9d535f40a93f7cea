//! Stamps events with the rig clock, records the current scenario's events, and hands each one
//! to every reporter in order.

use std::sync::{Arc, Mutex, PoisonError};

use hil_rig::time::Instant;
use tokio::sync::Notify;

use crate::event::{Event, EventKind};

/// A consumer of the event stream (JSON lines, JUnit, the terminal, …). Reporters must handle
/// every event kind explicitly, so a new kind forces each of them to decide.
pub trait Reporter: Send {
    fn on_event(&mut self, event: &Event);
}

#[derive(Clone)]
pub struct EventBus {
    shared: Arc<Shared>,
}

struct Shared {
    reporters: Mutex<Vec<Box<dyn Reporter>>>,
    state: Mutex<State>,
    notify: Notify,
}

struct State {
    /// Zero of the current scenario's (or run's) clock.
    epoch: Option<Instant>,
    /// Events of the current scenario, for wait_for and the recovery trace.
    recorded: Vec<Event>,
}

impl EventBus {
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                reporters: Mutex::new(reporters),
                state: Mutex::new(State {
                    epoch: None,
                    recorded: Vec::new(),
                }),
                notify: Notify::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a new clock and an empty record. Call from inside the scenario's runtime.
    pub fn restart_clock(&self) {
        let mut state = self.state();
        state.epoch = Some(Instant::now());
        state.recorded.clear();
    }

    pub fn emit(&self, kind: EventKind) -> Event {
        let event = {
            let mut state = self.state();
            let at = state.epoch.map(|e| e.elapsed()).unwrap_or_default();
            let event = Event { at, kind };
            state.recorded.push(event.clone());
            event
        };
        for reporter in self
            .shared
            .reporters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter_mut()
        {
            reporter.on_event(&event);
        }
        self.shared.notify.notify_waiters();
        event
    }

    /// Number of events recorded so far in this scenario: a cursor for `recorded_since`.
    pub fn mark(&self) -> usize {
        self.state().recorded.len()
    }

    /// Recorded events from cursor `from` on.
    pub fn recorded_since(&self, from: usize) -> Vec<Event> {
        self.state()
            .recorded
            .get(from..)
            .unwrap_or_default()
            .to_vec()
    }

    /// The first event from cursor `from` on that satisfies `pred`, and its cursor, waiting for
    /// it if need be.
    pub async fn wait_for(&self, from: usize, pred: impl Fn(&Event) -> bool) -> (usize, Event) {
        // Each event is looked at once: a device flooding its console must not make every new
        // line rescan the ones before it.
        let mut next = from;
        loop {
            // Registered before looking, so an event emitted in between is not missed.
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.state();
                let events = state.recorded.get(next..).unwrap_or_default();
                if let Some(i) = events.iter().position(&pred) {
                    return (next + i, events[i].clone());
                }
                next += events.len();
            }
            notified.await;
        }
    }
}
