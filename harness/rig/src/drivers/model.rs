//! What differs between supply models: the strings on the wire. One table per model, one driver
//! for all of them (labgrid's lesson: copies per model drift apart).
//!
//! Templates use `{ch}` for the channel and `{v}` for a value.

use std::time::Duration;

use hil_scenario::Driver;

use super::transport::Framing;

#[derive(Debug)]
pub struct Model {
    /// The name people know it by, for messages.
    pub name: &'static str,
    /// `*IDN?` must contain both (case-insensitive): manufacturer, then model family.
    pub identity: (&'static str, &'static str),
    pub default_baud: u32,
    /// Appended to every command.
    pub terminator: &'static str,
    pub framing: Framing,
    /// Some supplies drop a command that follows the previous one too closely.
    pub command_gap: Duration,
    pub identify: &'static str,
    pub set_volts: &'static str,
    pub set_amps: &'static str,
    pub query_volts: &'static str,
    pub query_amps: &'static str,
    pub output_on: &'static str,
    pub output_off: &'static str,
    pub query_output: OutputQuery,
    pub measure_volts: &'static str,
    pub measure_amps: &'static str,
    /// The SCPI error queue; `None` for dialects that have none.
    pub error_query: Option<&'static str>,
    pub ovp: Option<Ovp>,
    pub volts_decimals: usize,
    pub amps_decimals: usize,
}

/// How a model reports whether an output is on.
#[derive(Debug)]
pub enum OutputQuery {
    /// Answers `ON`/`OFF` or `1`/`0`.
    Word(&'static str),
    /// A hexadecimal status word (`0x0010`); channel n's output is bit `first_bit + n - 1`.
    HexStatus { query: &'static str, first_bit: u8 },
    /// One raw status byte; the (single) output is bit `bit`.
    StatusByte { query: &'static str, bit: u8 },
}

/// Over-voltage protection, where the model has it.
#[derive(Debug)]
pub struct Ovp {
    pub set: &'static str,
    pub query: &'static str,
    /// Some models arm OVP separately from setting its level.
    pub enable: Option<&'static str>,
}

const SCPI_LINE: Framing = Framing::Terminated(b'\n');

pub static RIGOL_DP800: Model = Model {
    name: "Rigol DP800",
    identity: ("rigol", "dp8"),
    default_baud: 9600,
    terminator: "\n",
    framing: SCPI_LINE,
    command_gap: Duration::ZERO,
    identify: "*IDN?",
    set_volts: ":SOUR{ch}:VOLT {v}",
    set_amps: ":SOUR{ch}:CURR {v}",
    query_volts: ":SOUR{ch}:VOLT?",
    query_amps: ":SOUR{ch}:CURR?",
    output_on: ":OUTP CH{ch},ON",
    output_off: ":OUTP CH{ch},OFF",
    query_output: OutputQuery::Word(":OUTP? CH{ch}"),
    measure_volts: ":MEAS:VOLT? CH{ch}",
    measure_amps: ":MEAS:CURR? CH{ch}",
    error_query: Some(":SYST:ERR?"),
    ovp: Some(Ovp {
        set: ":OUTP:OVP:VAL CH{ch},{v}",
        query: ":OUTP:OVP:VAL? CH{ch}",
        enable: Some(":OUTP:OVP CH{ch},ON"),
    }),
    volts_decimals: 3,
    amps_decimals: 3,
};

pub static SIGLENT_SPD3303X: Model = Model {
    name: "Siglent SPD3303X",
    identity: ("siglent", "spd33"),
    default_baud: 9600,
    terminator: "\n",
    framing: SCPI_LINE,
    command_gap: Duration::ZERO,
    identify: "*IDN?",
    set_volts: "CH{ch}:VOLT {v}",
    set_amps: "CH{ch}:CURR {v}",
    query_volts: "CH{ch}:VOLT?",
    query_amps: "CH{ch}:CURR?",
    output_on: "OUTP CH{ch},ON",
    output_off: "OUTP CH{ch},OFF",
    // SYST:STAT? bits 4 and 5 are CH1's and CH2's outputs.
    query_output: OutputQuery::HexStatus {
        query: "SYST:STAT?",
        first_bit: 4,
    },
    measure_volts: "MEAS:VOLT? CH{ch}",
    measure_amps: "MEAS:CURR? CH{ch}",
    error_query: Some("SYST:ERR?"),
    ovp: None,
    volts_decimals: 3,
    amps_decimals: 3,
};

pub static KEYSIGHT_E36300: Model = Model {
    name: "Keysight E36300",
    identity: ("keysight", "e363"),
    default_baud: 9600,
    terminator: "\n",
    framing: SCPI_LINE,
    command_gap: Duration::ZERO,
    identify: "*IDN?",
    set_volts: "VOLT {v},(@{ch})",
    set_amps: "CURR {v},(@{ch})",
    query_volts: "VOLT? (@{ch})",
    query_amps: "CURR? (@{ch})",
    output_on: "OUTP ON,(@{ch})",
    output_off: "OUTP OFF,(@{ch})",
    query_output: OutputQuery::Word("OUTP? (@{ch})"),
    measure_volts: "MEAS:VOLT? (@{ch})",
    measure_amps: "MEAS:CURR? (@{ch})",
    error_query: Some("SYST:ERR?"),
    ovp: Some(Ovp {
        set: "VOLT:PROT {v},(@{ch})",
        query: "VOLT:PROT? (@{ch})",
        enable: None,
    }),
    volts_decimals: 3,
    amps_decimals: 3,
};

/// Korad KA3005P and its Tenma/Velleman rebadges: not SCPI, no terminator, 9600 baud, and
/// commands closer than ~50 ms apart get lost.
pub static KORAD_KA3005P: Model = Model {
    name: "Korad KA3005P",
    identity: ("korad", "ka300"),
    default_baud: 9600,
    terminator: "",
    framing: Framing::Quiet(Duration::from_millis(100)),
    command_gap: Duration::from_millis(50),
    identify: "*IDN?",
    set_volts: "VSET{ch}:{v}",
    set_amps: "ISET{ch}:{v}",
    query_volts: "VSET{ch}?",
    query_amps: "ISET{ch}?",
    output_on: "OUT1",
    output_off: "OUT0",
    // STATUS? bit 6 is the output.
    query_output: OutputQuery::StatusByte {
        query: "STATUS?",
        bit: 6,
    },
    measure_volts: "VOUT{ch}?",
    measure_amps: "IOUT{ch}?",
    error_query: None,
    ovp: None,
    volts_decimals: 2,
    amps_decimals: 3,
};

/// The command table behind a rig file's `driver`; `None` for virtual instruments and Riden.
pub fn model_of(driver: Driver) -> Option<&'static Model> {
    match driver {
        Driver::RigolDp800 => Some(&RIGOL_DP800),
        Driver::SiglentSpd3303x => Some(&SIGLENT_SPD3303X),
        Driver::KeysightE36300 => Some(&KEYSIGHT_E36300),
        Driver::KoradKa3005p => Some(&KORAD_KA3005P),
        // Registers, not commands: see `riden.rs`.
        Driver::RidenRd60xx
        | Driver::VirtualPsu
        | Driver::VirtualCentral
        | Driver::VirtualHub
        | Driver::VirtualNfcCloner
        | Driver::VirtualRelay
        | Driver::VirtualAttenuator
        | Driver::NumatoRelay
        | Driver::LcusRelay
        | Driver::MinicircuitsRcdat
        | Driver::Bluez => None,
    }
}

/// Fills a template.
pub fn command(template: &str, channel: u8, value: Option<&str>) -> String {
    let filled = template.replace("{ch}", &channel.to_string());
    match value {
        Some(v) => filled.replace("{v}", v),
        None => filled,
    }
}

impl Model {
    pub fn volts(&self, volts: f64) -> String {
        format!("{volts:.prec$}", prec = self.volts_decimals)
    }

    pub fn amps(&self, amps: f64) -> String {
        format!("{amps:.prec$}", prec = self.amps_decimals)
    }

    /// Half a step of the model's resolution: a readback further off was not what was set.
    pub fn tolerance(decimals: usize) -> f64 {
        0.5 * 10f64.powi(-(decimals as i32)) + 1e-9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_channel_and_value() {
        assert_eq!(
            command(KEYSIGHT_E36300.set_volts, 2, Some("3.700")),
            "VOLT 3.700,(@2)"
        );
        assert_eq!(
            command(RIGOL_DP800.measure_volts, 3, None),
            ":MEAS:VOLT? CH3"
        );
    }

    #[test]
    fn numbers_have_the_models_resolution() {
        assert_eq!(KORAD_KA3005P.volts(3.7), "3.70");
        assert_eq!(KORAD_KA3005P.amps(0.5), "0.500");
        assert_eq!(RIGOL_DP800.volts(3.7), "3.700");
    }
}
