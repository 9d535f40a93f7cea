//! The cells that power devices: open-circuit voltage vs state of charge, as a fuel gauge reads
//! it. A scenario may ask for a state of charge (`soc_percent`); the plan turns it into the
//! open-circuit voltage of the device's cell, which any supply can then give.

use serde::Deserialize;

/// What powers a device, as a rig file names it (`cell = "lipo-1s"`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Cell {
    /// A single LiPo cell (rings).
    #[serde(rename = "lipo-1s")]
    Lipo1s,
    /// Four alkaline AA cells in series (locks).
    #[serde(rename = "alkaline-4aa")]
    Alkaline4aa,
    /// A USB supply (hubs): "full" whenever it is within USB's tolerance.
    Usb,
}

impl Cell {
    pub fn name(self) -> &'static str {
        match self {
            Cell::Lipo1s => "lipo-1s",
            Cell::Alkaline4aa => "alkaline-4aa",
            Cell::Usb => "usb",
        }
    }

    /// (volts, percent) points, ascending in both.
    pub fn curve(self) -> &'static [(f64, f64)] {
        match self {
            // FAILURES.md, "Numbers worth knowing".
            Cell::Lipo1s => &[
                (3.5, 0.0),
                (3.8, 30.0),
                (3.9, 55.0),
                (4.0, 75.0),
                (4.1, 87.0),
                (4.2, 100.0),
            ],
            // 1.6 V fresh, 0.9 V end, per cell.
            Cell::Alkaline4aa => &[
                (3.6, 0.0),
                (4.4, 10.0),
                (5.2, 40.0),
                (6.0, 85.0),
                (6.4, 100.0),
            ],
            Cell::Usb => &[(4.4, 0.0), (4.75, 100.0)],
        }
    }

    /// State of charge in whole percent at an open-circuit voltage, clamped to 0..=100.
    pub fn state_of_charge(self, volts: f64) -> u8 {
        let soc = interpolate(self.curve(), volts);
        soc.round().clamp(0.0, 100.0) as u8
    }

    /// The open-circuit voltage at a state of charge (0..=100), in volts.
    pub fn open_circuit_volts(self, soc_percent: f64) -> f64 {
        let by_soc: Vec<(f64, f64)> = self.curve().iter().map(|&(v, s)| (s, v)).collect();
        let volts = interpolate(&by_soc, soc_percent);
        // Millivolts: what a supply is set to.
        (volts * 1000.0).round() / 1000.0
    }
}

/// Piecewise-linear y(x) through points ascending in x, held flat beyond the ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    let (first, last) = (points[0], points[points.len() - 1]);
    if x <= first.0 {
        return first.1;
    }
    points.windows(2).find(|w| x <= w[1].0).map_or(last.1, |w| {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        y0 + (x - x0) / (x1 - x0) * (y1 - y0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lipo_curve_matches_catalog_points() {
        let lipo = Cell::Lipo1s;
        assert_eq!(lipo.state_of_charge(4.2), 100);
        assert_eq!(lipo.state_of_charge(3.9), 55);
        assert_eq!(lipo.state_of_charge(3.5), 0);
        // F01's setpoint: 3.62 V is about 12 %.
        assert_eq!(lipo.state_of_charge(3.62), 12);
        assert_eq!(lipo.state_of_charge(2.0), 0);
        assert_eq!(lipo.state_of_charge(5.0), 100);
    }

    #[test]
    fn weak_lock_pack_reads_low() {
        assert_eq!(Cell::Alkaline4aa.state_of_charge(4.4), 10);
        assert!(Cell::Alkaline4aa.state_of_charge(6.0) >= 85);
    }

    #[test]
    fn open_circuit_volts_is_the_inverse_of_state_of_charge() {
        assert_eq!(Cell::Lipo1s.open_circuit_volts(12.0), 3.62);
        assert_eq!(Cell::Lipo1s.open_circuit_volts(15.0), 3.65);
        assert_eq!(Cell::Lipo1s.open_circuit_volts(100.0), 4.2);
        assert_eq!(Cell::Alkaline4aa.open_circuit_volts(10.0), 4.4);
        for cell in [Cell::Lipo1s, Cell::Alkaline4aa, Cell::Usb] {
            for soc in 0..=100 {
                let volts = cell.open_circuit_volts(f64::from(soc));
                assert_eq!(cell.state_of_charge(volts), soc, "{cell:?} at {soc} %");
            }
        }
    }
}
