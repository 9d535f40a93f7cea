//! A central's radio for an emulator thread: the backend (an async `Central`) lives in a task on
//! the world's runtime and does one job at a time; the emulator sends jobs without waiting and
//! picks up what is done whenever it looks, as firmware gets events from its controller.

use std::sync::mpsc;
use std::time::Duration;

use hil_rig::{Advertisement, Central, LinkOutcome, RigError};
use tokio::sync::mpsc as tokio_mpsc;

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Pair,
    Reconnect,
    GoSilent,
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
    pub fn new(mut backend: Box<dyn Central>, runtime: &tokio::runtime::Handle) -> Self {
        let (jobs, mut queue) = tokio_mpsc::unbounded_channel::<Job>();
        let (report, done) = mpsc::channel();
        let address = backend.address().to_string();
        runtime.spawn(async move {
            while let Some(job) = queue.recv().await {
                if report.send(run(backend.as_mut(), job).await).is_err() {
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
}

async fn run(backend: &mut dyn Central, job: Job) -> Done {
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
            };
            Done::Link {
                address,
                how,
                outcome,
            }
        }
        Job::Forget(device) => Done::Other(backend.forget(&device).await),
        Job::Power(on) => match backend.set_adapter_power(on).await {
            Ok(()) => Done::Powered(on),
            Err(e) => Done::Other(Err(e)),
        },
        Job::AppVersion(version) => {
            let installed = backend.install_app(version).await;
            Done::Other(match installed {
                Ok(()) => backend.restart_app().await,
                Err(e) => Err(e),
            })
        }
    }
}
