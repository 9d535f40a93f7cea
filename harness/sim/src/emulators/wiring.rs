//! What an emulated instrument is wired to on an emulated rig: the simulated devices' supply
//! rails, the contacts across their buttons, the RF path to the central. After every command the
//! instrument's front panel is pushed into the world; before one, what the devices draw is read
//! back into the instrument's measurements.

use std::collections::BTreeMap;

use tokio::sync::watch;

use super::Protocol;
use crate::device::Supply;
use crate::psu::Rail;
use crate::radio::RadioPath;

/// Nothing wired (the default) is a bench of its own: outputs into resistors, contacts open air.
#[derive(Default)]
pub struct Wiring {
    pub(crate) rails: BTreeMap<u8, Rail>,
    pub(crate) contacts: BTreeMap<u8, watch::Sender<bool>>,
    pub(crate) radio: Option<RadioPath>,
}

impl Wiring {
    /// Reads what each wired device draws into the instrument.
    pub(super) fn sense(&self, instrument: &mut dyn Protocol) {
        for (&channel, rail) in &self.rails {
            instrument.set_drawn(channel, *rail.load.borrow());
        }
    }

    /// Pushes the instrument's outputs, contacts and attenuation into the world; only changes
    /// are sent, so a device sees one supply edge per real change.
    pub(super) fn drive(&self, instrument: &dyn Protocol) {
        for (&channel, rail) in &self.rails {
            let Some(output) = instrument.channel(channel) else {
                continue;
            };
            let supply = if output.on {
                Supply {
                    on: true,
                    volts: output.volts,
                    series_ohms: output.series_ohms,
                    amps_limit: output.amps,
                }
            } else {
                Supply::OFF
            };
            rail.supply.send_if_modified(|now| {
                let changed = *now != supply;
                *now = supply;
                changed
            });
        }
        for (&channel, contact) in &self.contacts {
            if let Some(closed) = instrument.contact(channel) {
                contact.send_if_modified(|now| std::mem::replace(now, closed) != closed);
            }
        }
        if let (Some(radio), Some(db)) = (&self.radio, instrument.attenuation())
            && radio.attenuation() != db
        {
            radio.set_attenuation(db);
        }
    }
}
