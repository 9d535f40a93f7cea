//! Blocking serial drivers behind the async `PowerSupply` trait. Serial I/O blocks, so each call
//! runs on tokio's blocking pool and the executor keeps serving the rest of the rig meanwhile.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use hil_scenario::Setpoint;

use super::supply::SerialSupply;
use crate::{PowerSupply, Readback, RigError};

pub struct AsyncPsu {
    name: String,
    psu: Arc<Mutex<Box<dyn SerialSupply>>>,
}

impl AsyncPsu {
    pub fn new(psu: Box<dyn SerialSupply>) -> Self {
        Self {
            name: psu.name().to_string(),
            psu: Arc::new(Mutex::new(psu)),
        }
    }

    async fn run<R: Send + 'static>(
        &self,
        call: impl FnOnce(&mut dyn SerialSupply) -> Result<R, RigError> + Send + 'static,
    ) -> Result<R, RigError> {
        let psu = self.psu.clone();
        tokio::task::spawn_blocking(move || {
            // A panic mid-call leaves the driver usable: the next call starts a fresh exchange.
            call(psu.lock().unwrap_or_else(PoisonError::into_inner).as_mut())
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
