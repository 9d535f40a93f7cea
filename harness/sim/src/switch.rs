//! The virtual relay board, RF attenuator and debug probe.

use std::collections::BTreeMap;

use async_trait::async_trait;
use std::time::Duration;

use hil_rig::{Attenuator, Console, Probe, Relay, RigError};
use tokio::sync::watch;

use crate::radio::RadioPath;

/// Relay contacts; a channel wired across a device's button closes it.
pub struct VirtualRelay {
    name: String,
    channels: u8,
    contacts: BTreeMap<u8, watch::Sender<bool>>,
}

impl VirtualRelay {
    pub fn new(name: String, channels: u8, contacts: BTreeMap<u8, watch::Sender<bool>>) -> Self {
        Self {
            name,
            channels,
            contacts,
        }
    }
}

#[async_trait]
impl Relay for VirtualRelay {
    async fn set(&mut self, channel: u8, closed: bool) -> Result<(), RigError> {
        if channel == 0 || channel > self.channels {
            return Err(RigError::new(&self.name, format!("no channel {channel}")));
        }
        if let Some(contact) = self.contacts.get(&channel) {
            contact.send_replace(closed);
        }
        Ok(())
    }
}

/// An attenuator with the range and step of a Mini-Circuits RCDAT: 0–90 dB in 0.25 dB steps.
pub struct VirtualAttenuator {
    name: String,
    path: RadioPath,
}

impl VirtualAttenuator {
    const MAX_DB: f64 = 90.0;
    const STEP_DB: f64 = 0.25;

    pub fn new(name: String, path: RadioPath) -> Self {
        Self { name, path }
    }
}

#[async_trait]
impl Attenuator for VirtualAttenuator {
    async fn set(&mut self, db: f64) -> Result<f64, RigError> {
        if !(0.0..=Self::MAX_DB).contains(&db) {
            return Err(RigError::new(
                &self.name,
                format!("{db} dB is out of range 0..={}", Self::MAX_DB),
            ));
        }
        self.path
            .set_attenuation((db / Self::STEP_DB).round() * Self::STEP_DB);
        Ok(self.path.attenuation())
    }
}

/// A debug probe on a virtual device: writes the image into its flash and resets it. The device
/// model has no core to halt, flash to erase or RTT buffer, so those are refused (the planner
/// already skips scenarios that need them on the virtual rig).
pub struct VirtualProbe {
    device: String,
    flash: tokio::sync::mpsc::UnboundedSender<std::sync::Arc<hil_scenario::Profile>>,
}

impl VirtualProbe {
    pub fn new(
        device: String,
        flash: tokio::sync::mpsc::UnboundedSender<std::sync::Arc<hil_scenario::Profile>>,
    ) -> Self {
        Self { device, flash }
    }
}

#[async_trait]
impl Probe for VirtualProbe {
    async fn flash(&mut self, image: &hil_scenario::Image) -> Result<(), RigError> {
        self.flash
            .send(image.profile.clone())
            .map_err(|_| RigError::new(format!("probe on {}", self.device), "the target is gone"))
    }

    async fn reset(&mut self) -> Result<(), RigError> {
        Err(self.unsupported("reset"))
    }

    async fn halt(&mut self) -> Result<(), RigError> {
        Err(self.unsupported("halt"))
    }

    async fn erase(&mut self) -> Result<(), RigError> {
        Err(self.unsupported("erase"))
    }

    async fn rtt(&mut self, _within: Duration) -> Result<Box<dyn Console>, RigError> {
        Err(self.unsupported("rtt"))
    }
}

impl VirtualProbe {
    fn unsupported(&self, what: &str) -> RigError {
        RigError::new(
            format!("probe on {}", self.device),
            format!("the virtual probe only flashes; `{what}` needs a probe on a bench"),
        )
    }
}
