//! The rig's safe state: every supply output that feeds a device off, every relay contact across
//! a button released, every attenuator at the setting its rig file declares. Applied at the end of
//! every scenario whatever happened, before a run on a rig whose last run died, and by
//! `hil rig safe`.

use std::fmt;

use hil_rig::RigError;

use crate::event::InstrumentReadback;

/// One action of the safe state, done or failed.
pub struct SafeAction {
    pub instrument: String,
    pub action: String,
    pub result: Result<InstrumentReadback, RigError>,
}

impl fmt::Display for SafeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(readback) => write!(f, "{}: {} (reads {readback})", self.instrument, self.action),
            Err(e) => write!(
                f,
                "{}: {}: ERROR {}",
                self.instrument, self.action, e.message
            ),
        }
    }
}

/// Applies the safe state, supplies first (what can hurt a device), and carries on past a
/// failure: the other outputs still need it.
pub async fn apply(description: &hil_scenario::Rig, rig: &mut hil_rig::Rig) -> Vec<SafeAction> {
    let mut done = Vec::new();
    let not_connected = |instrument: &str| RigError::new(instrument, "not connected");
    for feed in description
        .devices
        .values()
        .filter_map(|d| d.power.as_ref())
    {
        let result = match rig.power.get_mut(&feed.instrument) {
            Some(psu) => psu.off(feed.channel).await.map(InstrumentReadback::Supply),
            None => Err(not_connected(&feed.instrument)),
        };
        done.push(SafeAction {
            instrument: feed.instrument.clone(),
            action: format!("safe state: ch{} off", feed.channel),
            result,
        });
    }
    for contact in description
        .devices
        .values()
        .filter_map(|d| d.button.as_ref())
    {
        let result = match rig.relays.get_mut(&contact.instrument) {
            Some(relay) => relay
                .set(contact.channel, false)
                .await
                .map(|()| InstrumentReadback::Contact { closed: false }),
            None => Err(not_connected(&contact.instrument)),
        };
        done.push(SafeAction {
            instrument: contact.instrument.clone(),
            action: format!("safe state: ch{} open", contact.channel),
            result,
        });
    }
    for instrument in description.instruments.values() {
        let Some(db) = instrument.safe_db else {
            continue;
        };
        let result = match rig.attenuators.get_mut(&instrument.name) {
            Some(attenuator) => attenuator
                .set(db)
                .await
                .map(|db| InstrumentReadback::Attenuation { db }),
            None => Err(not_connected(&instrument.name)),
        };
        done.push(SafeAction {
            instrument: instrument.name.clone(),
            action: format!("safe state: attenuation {db} dB"),
            result,
        });
    }
    done
}
