//! The RF path between the devices' shield box and the central's: free-space loss, the
//! attenuator, link margin against receiver sensitivity, and seeded packet loss.

use std::sync::{Arc, Mutex, PoisonError};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Free-space path loss at 2.44 GHz over the 1 m between the boxes.
pub const FREE_SPACE_1M_DB: f64 = 40.0;
/// A phone's BLE receiver (1M PHY).
pub const CENTRAL_SENSITIVITY_DBM: f64 = -90.0;
/// A phone's transmit power.
pub const CENTRAL_TX_DBM: f64 = 4.0;
/// nRF52840 receiver sensitivity, 1M PHY.
pub const DEVICE_SENSITIVITY_DBM: f64 = -95.0;
/// A link that goes silent is declared lost after this (HCI 0x08).
pub const SUPERVISION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// Link-layer retransmissions before a PDU counts as lost (the supervision timeout ends it).
const RETRANSMISSIONS: i32 = 6;
/// How sharply packet errors fall with margin (dB per e-fold).
const PER_SLOPE_DB: f64 = 1.5;

#[derive(Clone)]
pub struct RadioPath(Arc<Mutex<PathState>>);

struct PathState {
    attenuation_db: f64,
    rng: ChaCha8Rng,
}

impl RadioPath {
    pub fn new(seed: u64) -> Self {
        Self(Arc::new(Mutex::new(PathState {
            attenuation_db: 0.0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PathState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_attenuation(&self, db: f64) {
        self.state().attenuation_db = db;
    }

    pub fn attenuation(&self) -> f64 {
        self.state().attenuation_db
    }

    /// What the central's receiver measures of a device transmitting at `device_tx_dbm`.
    pub fn rssi_dbm(&self, device_tx_dbm: f64) -> f64 {
        device_tx_dbm - FREE_SPACE_1M_DB - self.attenuation()
    }

    /// Margin over sensitivity of the weaker direction, for a device transmitting at `device_tx_dbm`.
    pub fn margin_db(&self, device_tx_dbm: f64) -> f64 {
        let uplink = self.rssi_dbm(device_tx_dbm) - CENTRAL_SENSITIVITY_DBM;
        let downlink =
            CENTRAL_TX_DBM - FREE_SPACE_1M_DB - self.attenuation() - DEVICE_SENSITIVITY_DBM;
        uplink.min(downlink)
    }

    /// Whether `pdus` link-layer PDUs all get through at this margin. Seeded: the same seed gives
    /// the same answers in the same order; only near the cliff (±3 dB) does the seed matter.
    pub fn exchange(&self, margin_db: f64, pdus: u32) -> bool {
        let lost = pdu_error_rate(margin_db).powi(RETRANSMISSIONS);
        let mut state = self.state();
        (0..pdus).all(|_| state.rng.random::<f64>() >= lost)
    }
}

/// Probability that one transmission is lost at a given margin.
fn pdu_error_rate(margin_db: f64) -> f64 {
    1.0 / (1.0 + (margin_db / PER_SLOPE_DB).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strong_link_always_gets_through_and_a_dead_one_never() {
        let path = RadioPath::new(1);
        assert!((0..100).all(|_| path.exchange(10.0, 30)));
        assert!((0..100).all(|_| !path.exchange(-6.0, 30)));
    }

    #[test]
    fn margin_is_set_by_the_weaker_direction() {
        let path = RadioPath::new(1);
        // A 0 dBm device at 1 m: uplink 0 - 40 + 90 = 50 dB, downlink 4 - 40 + 95 = 59 dB.
        assert_eq!(path.margin_db(0.0), 50.0);
        path.set_attenuation(30.0);
        assert_eq!(path.margin_db(-24.0), -4.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_packet_losses() {
        let draws = |seed| {
            let path = RadioPath::new(seed);
            (0..64).map(|_| path.exchange(0.0, 30)).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4), "near the cliff the seed matters");
    }
}
