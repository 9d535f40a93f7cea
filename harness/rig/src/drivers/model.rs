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
    /// What a battery simulator adds to a supply; `None` for plain supplies.
    pub simulator: Option<Simulator>,
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

/// A battery simulator (Keithley 2281S): the table's volts are the cell's open-circuit voltage
/// and its amps the simulator's current limit; this adds the function it must be in and the
/// series resistance on top of its battery model's own.
#[derive(Debug)]
pub struct Simulator {
    /// Sent before anything else, each read back: (command, query, what the answer starts with).
    pub setup: &'static [(&'static str, &'static str, &'static str)],
    /// Resistance added to the battery model's own.
    pub set_offset: &'static str,
    pub query_offset: &'static str,
    /// The internal resistance in effect: the model's own plus the offset.
    pub query_resistance: &'static str,
    pub ohms_decimals: usize,
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
    simulator: None,
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
    simulator: None,
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
    simulator: None,
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
    simulator: None,
};

/// Keithley 2281S-20-6 in its battery-simulator function (reference manual 077114601, March
/// 2019). Static method: the open-circuit voltage stays where it is set instead of following the
/// charge drawn. Its current limit and resistance offset cannot change while the output is on
/// (error 704); `Psu` switches the output off to change them. Its protection is programmed when
/// `hil` connects, with the output off.
pub static KEITHLEY_2281S: Model = Model {
    name: "Keithley 2281S",
    identity: ("keithley", "2281s"),
    default_baud: 9600,
    terminator: "\n",
    framing: SCPI_LINE,
    command_gap: Duration::ZERO,
    identify: "*IDN?",
    set_volts: ":BATT:SIM:VOC {v}",
    set_amps: ":BATT:SIM:CURR:LIM {v}",
    query_volts: ":BATT:SIM:VOC?",
    query_amps: ":BATT:SIM:CURR:LIM?",
    output_on: ":BATT:OUTP ON",
    output_off: ":BATT:OUTP OFF",
    query_output: OutputQuery::Word(":BATT:OUTP?"),
    // The terminal voltage: the open-circuit voltage less the drop across the resistance.
    measure_volts: ":BATT:SIM:TVOL?",
    measure_amps: ":BATT:SIM:CURR?",
    error_query: Some(":SYST:ERR?"),
    // Terminal-voltage protection, 0.5–21 V; like the limit, fixed while simulating.
    ovp: Some(Ovp {
        set: ":BATT:SIM:TVOL:PROT {v}",
        query: ":BATT:SIM:TVOL:PROT?",
        enable: None,
    }),
    volts_decimals: 3,
    amps_decimals: 3,
    simulator: Some(Simulator {
        setup: &[
            (":ENTR:FUNC SIM", ":ENTR:FUNC?", "SIM"),
            (":BATT:SIM:METH STAT", ":BATT:SIM:METH?", "STAT"),
        ],
        set_offset: ":BATT:SIM:RES:OFFS {v}",
        query_offset: ":BATT:SIM:RES:OFFS?",
        query_resistance: ":BATT:SIM:RES?",
        ohms_decimals: 3,
    }),
};

/// The command table behind a rig file's `driver`; `None` for virtual instruments and Riden.
pub fn model_of(driver: Driver) -> Option<&'static Model> {
    match driver {
        Driver::RigolDp800 => Some(&RIGOL_DP800),
        Driver::SiglentSpd3303x => Some(&SIGLENT_SPD3303X),
        Driver::KeysightE36300 => Some(&KEYSIGHT_E36300),
        Driver::KoradKa3005p => Some(&KORAD_KA3005P),
        Driver::Keithley2281s => Some(&KEITHLEY_2281S),
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
        | Driver::BtShellDongle => None,
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
