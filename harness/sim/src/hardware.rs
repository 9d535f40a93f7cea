//! Electrical and timing facts of the simulated boards. The firmware's behaviour comes from its
//! profile; these are the hardware it runs on.

use std::time::Duration;

use hil_scenario::SimModel;

use crate::battery::{ALKALINE_4XAA, LIPO, OcvCurve};

#[derive(Clone, Debug)]
pub struct Hardware {
    /// What the fuel gauge assumes is connected.
    pub chemistry: OcvCurve,
    /// Contacts and traces between the supply and the regulator.
    pub wiring_ohms: f64,
    /// Supply at the board below which the PMIC holds the SoC in reset (brown-out).
    pub brownout_volts: f64,
    /// Supply needed to come out of reset (hysteresis above brown-out).
    pub power_on_volts: f64,
    /// From system off, a supply at or above this means "on the charger" and wakes the SoC.
    pub charger_wake_volts: Option<f64>,
    pub idle_amps: f64,
    /// Peak while pairing: radio TX, crypto, the bond written to flash, the haptic/beeper confirm.
    pub pairing_peak_amps: f64,
    /// How long into the peak a sagging rail collapses.
    pub sag_after: Duration,
    pub boot_time: Duration,
    pub pairing_time: Duration,
}

impl Hardware {
    pub fn of(model: SimModel) -> Hardware {
        match model {
            // A ring: ~20 mAh LiPo, buck to 1.8 V; the PMIC's under-voltage lockout sits high to
            // protect the tiny cell. The haptic motor dominates the pairing peak.
            SimModel::Ring => Hardware {
                chemistry: LIPO,
                wiring_ohms: 0.1,
                brownout_volts: 3.45,
                power_on_volts: 3.55,
                charger_wake_volts: Some(4.05),
                idle_amps: 0.0015,
                pairing_peak_amps: 0.18,
                sag_after: Duration::from_millis(150),
                boot_time: Duration::from_millis(1200),
                pairing_time: Duration::from_secs(3),
            },
            // A lock: 4×AA into a 3.3 V regulator; no charger.
            SimModel::Lock => Hardware {
                chemistry: ALKALINE_4XAA,
                wiring_ohms: 0.3,
                brownout_volts: 4.0,
                power_on_volts: 4.2,
                charger_wake_volts: None,
                idle_amps: 0.002,
                pairing_peak_amps: 0.05,
                sag_after: Duration::from_millis(100),
                boot_time: Duration::from_secs(2),
                pairing_time: Duration::from_secs(4),
            },
        }
    }
}
