//! One emulated output and the load on it.

/// The emulated load on every output: a resistor, so current follows voltage.
const LOAD_OHMS: f64 = 100.0;

/// What an output is set to, as the instrument's front panel would show.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Channel {
    /// A battery simulator's open-circuit voltage.
    pub volts: f64,
    pub amps: f64,
    pub on: bool,
    pub ovp: Option<f64>,
    /// A battery simulator's internal resistance, between its open-circuit voltage and the
    /// terminals; zero on a plain supply.
    pub series_ohms: f64,
}

impl Channel {
    /// What the output delivers, (volts at the terminals, amps): constant voltage less the drop
    /// across the series resistance until the current limit, then constant current. `drawn` is
    /// what a wired device draws (emulated rig); without one the output feeds a bench resistor.
    pub fn measure(self, drawn: Option<f64>) -> (f64, f64) {
        if !self.on {
            return (0.0, 0.0);
        }
        let amps = drawn.unwrap_or(self.volts / (LOAD_OHMS + self.series_ohms));
        if amps > self.amps {
            // Current limited: the voltage falls as across a resistor drawing `amps` at `volts`.
            (self.volts * self.amps / amps, self.amps)
        } else {
            (self.volts - amps * self.series_ohms, amps)
        }
    }
}
