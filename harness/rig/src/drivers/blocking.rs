//! Blocking serial drivers behind the rig's async traits. Serial I/O blocks, so each call runs
//! on tokio's blocking pool and the executor keeps serving the rest of the rig meanwhile.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use hil_scenario::{DeviceCommand, Setpoint};

use super::attenuator::Rcdat;
use super::dongle::ShellCentral;
use super::relay::SerialRelay;
use super::supply::SerialSupply;
use super::transport::SerialTransport;
use crate::{
    Advertisement, Attenuator, Central, CommandOutcome, LinkOutcome, PowerSupply, Readback, Relay,
    RigError,
};

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

    async fn run<R: Send + 'static>(
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

/// The dongle as the runner sees it: each call on the blocking pool (the first starts it).
pub struct ShellDongle {
    name: String,
    /// The dongle's address once a call has started it.
    address: Arc<OnceLock<String>>,
    driver: Blocking<ShellCentral<SerialTransport>>,
}

impl ShellDongle {
    pub fn new(central: ShellCentral<SerialTransport>) -> Self {
        let name = central.name().to_string();
        Self {
            address: Arc::default(),
            driver: Blocking::new(&name, central),
            name,
        }
    }

    async fn run<R: Send + 'static>(
        &self,
        call: impl FnOnce(&mut ShellCentral<SerialTransport>) -> Result<R, RigError> + Send + 'static,
    ) -> Result<R, RigError> {
        let address = self.address.clone();
        self.driver
            .run(move |d| {
                d.start()?;
                if let Some(own) = d.address() {
                    address.get_or_init(|| own.to_string());
                }
                call(d)
            })
            .await
    }
}

#[async_trait]
impl Central for ShellDongle {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> &str {
        self.address.get().map_or("", String::as_str)
    }

    async fn scan(&mut self, window: Duration) -> Result<Vec<Advertisement>, RigError> {
        self.run(move |d| d.scan(window)).await
    }

    async fn pair(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError> {
        let device = device.to_string();
        self.run(move |d| d.pair(&device, deadline)).await
    }

    async fn connect(&mut self, device: &str, deadline: Duration) -> Result<LinkOutcome, RigError> {
        let device = device.to_string();
        self.run(move |d| d.connect(&device, deadline)).await
    }

    async fn stop_answering(
        &mut self,
        device: &str,
        deadline: Duration,
    ) -> Result<LinkOutcome, RigError> {
        let device = device.to_string();
        self.run(move |d| d.stop_answering(&device, deadline)).await
    }

    async fn install_app(&mut self, version: u32) -> Result<(), RigError> {
        self.run(move |d| d.install_app(version)).await
    }

    async fn restart_app(&mut self) -> Result<(), RigError> {
        self.run(ShellCentral::restart_app).await
    }

    async fn forget(&mut self, device: &str) -> Result<(), RigError> {
        let device = device.to_string();
        self.run(move |d| d.forget(&device)).await
    }

    async fn set_adapter_power(&mut self, on: bool) -> Result<(), RigError> {
        self.run(move |d| d.set_adapter_power(on)).await
    }

    async fn command(
        &mut self,
        _device: &str,
        command: DeviceCommand,
        _deadline: Duration,
    ) -> Result<CommandOutcome, RigError> {
        Err(RigError::new(
            &self.name,
            format!(
                "a shell dongle cannot send application commands (`{}`): its profile has no GATT writes",
                command.name()
            ),
        ))
    }
}
