//! A central's radio for an emulator thread: the backend (the world's virtual phone) lives in a
//! task on the world's runtime and does one job at a time; the emulator sends jobs without
//! waiting and picks up what is done whenever it looks, as firmware gets events from its
//! controller. GATT connections stay open between jobs, as a controller's do.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use hil_rig::{Advertisement, Central, LinkFailure, LinkOutcome, RigError};
use tokio::sync::mpsc as tokio_mpsc;

use crate::central::{GattLink, VirtualCentral};
use crate::device::{AttOp, AttResult, Notification};

/// What the radio is asked to do.
#[derive(Debug)]
pub enum Job {
    /// Listen for this long (rig time).
    Scan(Duration),
    /// Reach `device` at `address` and secure a link: pair, or re-encrypt with the bond, or
    /// re-encrypt and then go silent.
    Link {
        device: String,
        address: String,
        how: LinkKind,
    },
    Forget(String),
    Power(bool),
    /// Present this app handshake version from now on.
    AppVersion(u32),
    /// One ATT operation on `device`'s open connection (`LinkKind::Hold`).
    Att {
        device: String,
        op: AttOp,
    },
    /// Close `device`'s connection.
    CloseGatt(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Pair,
    Reconnect,
    GoSilent,
    /// Reconnect and hold the encrypted connection open for ATT operations (`Job::Att`) until
    /// `Job::CloseGatt`.
    Hold,
}

/// What came of a job.
#[derive(Debug)]
pub enum Done {
    Scan(Result<Vec<Advertisement>, RigError>),
    Link {
        address: String,
        how: LinkKind,
        outcome: Result<LinkOutcome, RigError>,
    },
    Powered(bool),
    /// An ATT operation's answer, and what was notified while it ran.
    Att {
        answer: AttResult,
        notified: Vec<Notification>,
    },
    /// A job with nothing to report (forget, app version), or its error.
    Other(Result<(), RigError>),
}

/// How long a link attempt may take, as the phone's app allows (rig time).
const LINK_DEADLINE: Duration = Duration::from_secs(30);

pub struct Radio {
    jobs: tokio_mpsc::UnboundedSender<Job>,
    done: mpsc::Receiver<Done>,
    pub address: String,
}

impl Radio {
    /// Serves `backend` on `runtime` until the radio is dropped.
    pub fn new(backend: VirtualCentral, runtime: &tokio::runtime::Handle) -> Self {
        let (jobs, mut queue) = tokio_mpsc::unbounded_channel::<Job>();
        let (report, done) = mpsc::channel();
        let address = backend.address().to_string();
        let mut controller = Controller {
            backend,
            open: BTreeMap::new(),
        };
        runtime.spawn(async move {
            while let Some(job) = queue.recv().await {
                if report.send(controller.run(job).await).is_err() {
                    return;
                }
            }
        });
        Self {
            jobs,
            done,
            address,
        }
    }

    /// Queues a job; if the world is gone, nothing will come of it.
    pub fn ask(&self, job: Job) {
        let _ = self.jobs.send(job);
    }

    /// A finished job, if any.
    pub fn poll(&self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    /// Waits for the next finished job (blocking: from an emulator's thread); `None` once the
    /// world is gone.
    pub fn wait(&self) -> Option<Done> {
        self.done.recv().ok()
    }
}

/// The backend and the connections it holds open, by device.
struct Controller {
    backend: VirtualCentral,
    open: BTreeMap<String, GattLink>,
}

impl Controller {
    async fn run(&mut self, job: Job) -> Done {
        let backend = &mut self.backend;
        match job {
            Job::Scan(window) => Done::Scan(backend.scan(window).await),
            Job::Link {
                device,
                address,
                how,
            } => {
                let outcome = match how {
                    LinkKind::Pair => backend.pair(&device, LINK_DEADLINE).await,
                    LinkKind::Reconnect => backend.connect(&device, LINK_DEADLINE).await,
                    LinkKind::GoSilent => backend.stop_answering(&device, LINK_DEADLINE).await,
                    LinkKind::Hold => match backend.open_gatt(&device, LINK_DEADLINE).await {
                        Ok(Ok(link)) => {
                            self.open.insert(device, link);
                            Ok(LinkOutcome::Bonded)
                        }
                        Ok(Err(failure)) => Ok(LinkOutcome::Failed(failure)),
                        Err(e) => Err(e),
                    },
                };
                Done::Link {
                    address,
                    how,
                    outcome,
                }
            }
            Job::Att { device, op } => match self.open.get_mut(&device) {
                Some(link) => {
                    let answer = link.exchange(op).await;
                    let notified = link.notified();
                    if matches!(answer, Err(LinkFailure::Disconnected(_))) {
                        self.open.remove(&device);
                    }
                    Done::Att { answer, notified }
                }
                None => Done::Att {
                    answer: Err(LinkFailure::NotBonded),
                    notified: Vec::new(),
                },
            },
            Job::CloseGatt(device) => {
                if let Some(link) = self.open.remove(&device) {
                    link.close().await;
                }
                Done::Other(Ok(()))
            }
            Job::Forget(device) => Done::Other(backend.forget(&device).await),
            Job::Power(on) => {
                if !on {
                    // The controller drops every connection when it powers down.
                    self.open.clear();
                }
                match backend.set_adapter_power(on).await {
                    Ok(()) => Done::Powered(on),
                    Err(e) => Done::Other(Err(e)),
                }
            }
            Job::AppVersion(version) => {
                let installed = backend.install_app(version).await;
                Done::Other(match installed {
                    Ok(()) => backend.restart_app().await,
                    Err(e) => Err(e),
                })
            }
        }
    }
}
