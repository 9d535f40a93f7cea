use async_trait::async_trait;

use std::time::Duration;

use crate::{Console, RigError};

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
    /// Writes the image, reads it back, and resets the core into it.
    async fn flash(&mut self, image: &hil_scenario::Image) -> Result<(), RigError>;
    /// Resets the core and lets it run.
    async fn reset(&mut self) -> Result<(), RigError>;
    /// Stops the core where it is.
    async fn halt(&mut self) -> Result<(), RigError>;
    /// Erases all of the chip's flash.
    async fn erase(&mut self) -> Result<(), RigError>;
    /// Waits up to `within` for the firmware's RTT control block, then reads its up channels as
    /// the device's log.
    async fn rtt(&mut self, within: Duration) -> Result<Box<dyn Console>, RigError>;
}
