//! Blocking serial drivers behind the rig's async traits. Serial I/O blocks, so each call runs
//! on tokio's blocking pool and the executor keeps serving the rest of the rig meanwhile.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use hil_scenario::Setpoint;

use super::attenuator::Rcdat;
use super::relay::SerialRelay;
use super::supply::SerialSupply;
use super::transport::SerialTransport;
use crate::{Attenuator, PowerSupply, Readback, Relay, RigError};

/// One blocking driver `D`, shared with the blocking pool for the length of each call.
pub struct Blocking<D> {
    name: String,
    driver: Arc<Mutex<D>>,
}

/// A supply driver, as the runner sees it.
pub type AsyncPsu = Blocking<Box<dyn SerialSupply>>;
pub type AsyncRelay = Blocking<SerialRelay<SerialTransport>>;
pub type AsyncAttenuator = Blocking<Rcdat<SerialTransport>>;

impl<D: Send + 'static> Blocking<D> {
    /// `name` is the instrument's, for the error if the driver's thread fails.
    pub fn new(name: &str, driver: D) -> Self {
        Self {
            name: name.to_string(),
            driver: Arc::new(Mutex::new(driver)),
        }
    }

    pub(super) async fn run<R: Send + 'static>(
        &self,
        call: impl FnOnce(&mut D) -> Result<R, RigError> + Send + 'static,
    ) -> Result<R, RigError> {
        let driver = self.driver.clone();
        tokio::task::spawn_blocking(move || {
            // A panic mid-call leaves the driver usable: the next call starts a fresh exchange.
            call(&mut driver.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await
        .map_err(|e| RigError::new(&self.name, format!("driver thread failed: {e}")))?
    }
}

#[async_trait]
impl PowerSupply for AsyncPsu {
    async fn apply(&mut self, channel: u8, setpoint: Setpoint) -> Result<Readback, RigError> {
        self.run(move |psu| psu.apply(channel, setpoint)).await
    }

    async fn off(&mut self, channel: u8) -> Result<Readback, RigError> {
        self.run(move |psu| psu.off(channel)).await
    }
}

#[async_trait]
impl Relay for AsyncRelay {
    async fn set(&mut self, channel: u8, closed: bool) -> Result<(), RigError> {
        self.run(move |relay| relay.set(channel, closed)).await
    }
}

#[async_trait]
impl Attenuator for AsyncAttenuator {
    async fn set(&mut self, db: f64) -> Result<f64, RigError> {
        self.run(move |attenuator| attenuator.set(db)).await
    }
}
