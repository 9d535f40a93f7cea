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
    /// What the output delivers into the load, (volts at the terminals, amps): constant voltage
    /// less the drop across the series resistance until the current limit, then constant current.
    pub fn measure(self) -> (f64, f64) {
        if !self.on {
            return (0.0, 0.0);
        }
        let amps = self.volts / (LOAD_OHMS + self.series_ohms);
        if amps > self.amps {
            (self.amps * LOAD_OHMS, self.amps)
        } else {
            (self.volts - amps * self.series_ohms, amps)
        }
    }
}
