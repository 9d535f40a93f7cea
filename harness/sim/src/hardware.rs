//! Electrical and timing facts of the simulated boards. The firmware's behaviour comes from its
//! profile; these are the hardware it runs on.

use std::time::Duration;

use hil_scenario::SimModel;

use hil_scenario::Cell;

#[derive(Clone, Debug)]
pub struct Hardware {
    /// What the fuel gauge assumes is connected.
    pub cell: Cell,
    /// Contacts and traces between the supply and the regulator.
    pub wiring_ohms: f64,
    /// Supply at the board below which the PMIC holds the SoC in reset (brown-out).
    pub brownout_volts: f64,
    /// Supply needed to come out of reset (hysteresis above brown-out).
    pub power_on_volts: f64,
    /// From system off, a supply at or above this means "on the charger" and wakes the SoC.
    pub charger_wake_volts: Option<f64>,
    pub idle_amps: f64,
    /// The fuel gauge's load pulse for measuring the cell's internal resistance.
    pub gauge_pulse_amps: f64,
    /// Peak while pairing: radio TX, crypto, the bond written to flash, the haptic/beeper confirm.
    pub pairing_peak_amps: f64,
    /// How long into the peak a sagging rail collapses.
    pub sag_after: Duration,
    pub boot_time: Duration,
    pub pairing_time: Duration,
    /// Radio output with a healthy supply.
    pub tx_dbm: f64,
    /// How radio output falls when the supply sags (regulator headroom, PA supply).
    pub tx_droop: Option<TxDroop>,
    pub button: Button,
    /// How long retained RAM outlives a supply cut (bulk capacitance).
    pub retention_holdup: Duration,
    pub motor: Option<Motor>,
}

/// A bolt motor: a start (stall) current, then a running current.
#[derive(Clone, Copy, Debug)]
pub struct Motor {
    pub start_amps: f64,
    pub start_time: Duration,
    pub run_amps: f64,
    pub run_time: Duration,
}

/// Below `full_volts`, radio output falls by `db_per_volt`.
#[derive(Clone, Copy, Debug)]
pub struct TxDroop {
    pub full_volts: f64,
    pub db_per_volt: f64,
}

/// What holding the device's button does.
#[derive(Clone, Copy, Debug)]
pub struct Button {
    /// Held at least this long (and no longer than `reset_window_max`), it factory-resets.
    pub factory_reset_hold: Duration,
    pub reset_window_max: Option<Duration>,
    /// The factory reset only works on the charger (ring).
    pub reset_needs_charger: bool,
    /// Any other press reboots (ring); otherwise it is ignored (lock pinhole).
    pub other_press_reboots: bool,
    /// Beep when the hold reaches the reset threshold: the cue to let go (lock).
    pub beeps: bool,
    /// After a factory reset the radio comes back this much later (ring: calibration, ~1 min).
    pub radio_delay_after_reset: Duration,
}

impl Hardware {
    /// Radio output at a supply voltage.
    pub fn tx_dbm_at(&self, volts: f64) -> f64 {
        match self.tx_droop {
            Some(d) if volts < d.full_volts => self.tx_dbm - (d.full_volts - volts) * d.db_per_volt,
            _ => self.tx_dbm,
        }
    }

    pub fn of(model: SimModel) -> Hardware {
        match model {
            // A ring: ~20 mAh LiPo, buck to 1.8 V; the PMIC's under-voltage lockout sits high to
            // protect the tiny cell. The haptic motor dominates the pairing peak.
            SimModel::Ring => Hardware {
                cell: model.cell(),
                wiring_ohms: 0.1,
                brownout_volts: 3.45,
                power_on_volts: 3.55,
                charger_wake_volts: Some(4.05),
                idle_amps: 0.0015,
                gauge_pulse_amps: 0.05,
                pairing_peak_amps: 0.18,
                sag_after: Duration::from_millis(150),
                boot_time: Duration::from_millis(1200),
                pairing_time: Duration::from_secs(3),
                tx_dbm: 0.0,
                // Buck converter: output is flat down to brown-out.
                tx_droop: None,
                button: Button {
                    factory_reset_hold: Duration::from_secs(20),
                    reset_window_max: None,
                    reset_needs_charger: true,
                    other_press_reboots: true,
                    beeps: false,
                    radio_delay_after_reset: Duration::from_secs(60),
                },
                retention_holdup: Duration::from_millis(50),
                motor: None,
            },
            // A hub on a 5 V USB supply: slow to boot (Linux), no battery, no motor.
            SimModel::Hub => Hardware {
                cell: model.cell(),
                wiring_ohms: 0.2,
                brownout_volts: 4.4,
                power_on_volts: 4.6,
                charger_wake_volts: None,
                idle_amps: 0.35,
                gauge_pulse_amps: 0.35,
                pairing_peak_amps: 0.5,
                sag_after: Duration::from_millis(100),
                boot_time: Duration::from_secs(20),
                pairing_time: Duration::from_secs(5),
                tx_dbm: 4.0,
                tx_droop: None,
                button: Button {
                    factory_reset_hold: Duration::from_secs(10),
                    reset_window_max: None,
                    reset_needs_charger: false,
                    other_press_reboots: true,
                    beeps: false,
                    radio_delay_after_reset: Duration::from_secs(5),
                },
                retention_holdup: Duration::from_millis(10),
                motor: None,
            },
            // A lock: 4×AA into a 3.3 V regulator; no charger.
            SimModel::Lock => Hardware {
                cell: model.cell(),
                wiring_ohms: 0.3,
                brownout_volts: 4.0,
                power_on_volts: 4.2,
                charger_wake_volts: None,
                idle_amps: 0.002,
                gauge_pulse_amps: 0.1,
                pairing_peak_amps: 0.05,
                sag_after: Duration::from_millis(100),
                boot_time: Duration::from_secs(2),
                pairing_time: Duration::from_secs(4),
                tx_dbm: 0.0,
                // Weak cells sag under the PA's peaks: the lock still beeps and turns, but its
                // range shrinks from metres to centimetres (−24 dBm at 4.4 V).
                tx_droop: Some(TxDroop {
                    full_volts: 5.2,
                    db_per_volt: 30.0,
                }),
                button: Button {
                    factory_reset_hold: Duration::from_secs(10),
                    reset_window_max: Some(Duration::from_secs(20)),
                    reset_needs_charger: false,
                    other_press_reboots: false,
                    beeps: true,
                    radio_delay_after_reset: Duration::from_secs(2),
                },
                // A 2200 µF bulk capacitor keeps the controller's RAM for about 30 s.
                retention_holdup: Duration::from_secs(30),
                motor: Some(Motor {
                    start_amps: 1.2,
                    start_time: Duration::from_millis(300),
                    run_amps: 0.35,
                    run_time: Duration::from_millis(1200),
                }),
            },
        }
    }
}
