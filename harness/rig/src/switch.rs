use async_trait::async_trait;

use crate::RigError;

/// A relay board: contacts across buttons (ring side button, lock pinhole) or power rails.
#[async_trait]
pub trait Relay: Send {
    /// Closes or opens one contact.
    async fn set(&mut self, channel: u8, closed: bool) -> Result<(), RigError>;
}

/// A programmable RF attenuator on the path between the devices and the central.
#[async_trait]
pub trait Attenuator: Send {
    /// Sets the attenuation and returns what the instrument reads back, in dB.
    async fn set(&mut self, db: f64) -> Result<f64, RigError>;
}

/// A debug probe on a device (probe-rs on a bench): writes an image and resets, whatever the
/// firmware is doing, so it can restore a bricked device.
#[async_trait]
pub trait Probe: Send {
    async fn flash(&mut self, image: &hil_scenario::Image) -> Result<(), RigError>;
}
