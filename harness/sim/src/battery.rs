//! Open-circuit voltage vs state of charge, as a firmware fuel gauge reads it.

/// (volts, percent) points, ascending.
pub type OcvCurve = &'static [(f64, f64)];

/// Single LiPo cell (FAILURES.md "Numbers worth knowing").
pub const LIPO: OcvCurve = &[
    (3.5, 0.0),
    (3.8, 30.0),
    (3.9, 55.0),
    (4.0, 75.0),
    (4.1, 87.0),
    (4.2, 100.0),
];

/// Four alkaline AA cells in series: 1.6 V fresh, 0.9 V end, per cell.
pub const ALKALINE_4XAA: OcvCurve = &[
    (3.6, 0.0),
    (4.4, 10.0),
    (5.2, 40.0),
    (6.0, 85.0),
    (6.4, 100.0),
];

/// A mains adapter: "full" whenever it is within USB's tolerance.
pub const USB_SUPPLY: OcvCurve = &[(4.4, 0.0), (4.75, 100.0)];

/// State of charge in whole percent, linearly interpolated and clamped to 0..=100.
pub fn state_of_charge(curve: OcvCurve, volts: f64) -> u8 {
    let (first, last) = (curve[0], curve[curve.len() - 1]);
    let soc = if volts <= first.0 {
        first.1
    } else if volts >= last.0 {
        last.1
    } else {
        curve
            .windows(2)
            .find(|w| volts <= w[1].0)
            .map(|w| {
                let ((v0, s0), (v1, s1)) = (w[0], w[1]);
                s0 + (volts - v0) / (v1 - v0) * (s1 - s0)
            })
            .unwrap_or(last.1)
    };
    soc.round().clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lipo_curve_matches_catalog_points() {
        assert_eq!(state_of_charge(LIPO, 4.2), 100);
        assert_eq!(state_of_charge(LIPO, 3.9), 55);
        assert_eq!(state_of_charge(LIPO, 3.5), 0);
        // F01's setpoint: 3.62 V is about 12 %.
        assert_eq!(state_of_charge(LIPO, 3.62), 12);
        assert_eq!(state_of_charge(LIPO, 2.0), 0);
        assert_eq!(state_of_charge(LIPO, 5.0), 100);
    }

    #[test]
    fn weak_lock_pack_reads_low() {
        assert_eq!(state_of_charge(ALKALINE_4XAA, 4.4), 10);
        assert!(state_of_charge(ALKALINE_4XAA, 6.0) >= 85);
    }
}
