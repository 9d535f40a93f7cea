//! How each emulated model talks: its command patterns and reply formats, written from the
//! programming manuals independently of the driver's tables, so a test catches either being wrong.
//! One table per model, one emulator for all of them.

use hil_scenario::Driver;

/// What a command does. Patterns name the channel `ch` (default 1) and the value `v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Identify,
    SetVolts,
    SetAmps,
    /// `v` is ON/OFF or 1/0; without `ch`, every channel (Korad's `OUT1`).
    SetOutput,
    QueryVolts,
    QueryAmps,
    QueryOutput,
    MeasureVolts,
    MeasureAmps,
    SetOvp,
    QueryOvp,
    EnableOvp,
    NextError,
    /// Siglent's `SYST:STAT?`: a hex word, CH1's output at bit 4, CH2's at bit 5.
    HexStatus,
    /// Korad's `STATUS?`: one raw byte, the output at bit 6.
    StatusByte,
    /// A battery simulator's function (`POWER`, `TEST` or `SIMULATOR`; `v` as short or long form).
    SetFunction,
    QueryFunction,
    /// Whether the simulated cell discharges (`DYNAMIC`) or holds its voltage (`STATIC`).
    SetMethod,
    QueryMethod,
    /// The resistance added to the battery model's own.
    SetResistanceOffset,
    QueryResistanceOffset,
    /// The internal resistance in effect: the model's own plus the offset.
    QueryResistance,
}

/// How commands are delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiting {
    /// SCPI: one command per line.
    Lines,
    /// Korad: no terminator; commands are recognised one after another in the byte stream.
    Concatenated,
}

#[derive(Debug)]
pub struct Dialect {
    pub identity: &'static str,
    pub channels: u8,
    pub max_volts: f64,
    pub max_amps: f64,
    pub delimiting: Delimiting,
    /// Ends every reply.
    pub reply_end: &'static str,
    /// Case-insensitive regexes, matched against a whole command.
    pub commands: &'static [(&'static str, Op)],
    pub format_volts: fn(f64) -> String,
    pub format_amps: fn(f64) -> String,
    /// How `QueryOutput` answers: (on, off).
    pub output_words: (&'static str, &'static str),
    /// SCPI models queue errors for `SYST:ERR?`; Korad silently ignores what it dislikes.
    pub has_error_queue: bool,
    /// How long the instrument takes to answer.
    pub latency_ms: u64,
    /// A battery simulator's cell; `None` for plain supplies.
    pub cell: Option<Cell>,
}

/// What a battery simulator simulates, beyond a supply.
#[derive(Debug)]
pub struct Cell {
    /// The recalled battery model's own internal resistance (a real model's varies with the
    /// state of charge; one value is enough to catch a driver that ignores it).
    pub model_ohms: f64,
    /// The resistance offset's range.
    pub offset_range: (f64, f64),
}

fn three_decimals(x: f64) -> String {
    format!("{x:.3}")
}

/// Keysight answers in scientific notation: `+3.70000000E+00`.
fn scientific(x: f64) -> String {
    let s = format!("{x:.8E}");
    let (mantissa, exponent) = s.split_once('E').expect("formatted with an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    format!(
        "{}{mantissa}E{exponent:+03}",
        if x < 0.0 { "" } else { "+" }
    )
}

fn korad_volts(x: f64) -> String {
    format!("{x:05.2}")
}

const RIGOL_DP800: Dialect = Dialect {
    identity: "RIGOL TECHNOLOGIES,DP832,DP8C000000001,00.01.16",
    channels: 3,
    max_volts: 30.0,
    max_amps: 3.0,
    delimiting: Delimiting::Lines,
    reply_end: "\n",
    commands: &[
        (r"\*IDN\?", Op::Identify),
        (
            r":?SOUR(?:CE)?(?P<ch>\d):VOLT(?:AGE)?\s+(?P<v>\S+)",
            Op::SetVolts,
        ),
        (
            r":?SOUR(?:CE)?(?P<ch>\d):CURR(?:ENT)?\s+(?P<v>\S+)",
            Op::SetAmps,
        ),
        (r":?SOUR(?:CE)?(?P<ch>\d):VOLT(?:AGE)?\?", Op::QueryVolts),
        (r":?SOUR(?:CE)?(?P<ch>\d):CURR(?:ENT)?\?", Op::QueryAmps),
        (r":?OUTP(?:UT)?\s+CH(?P<ch>\d),(?P<v>ON|OFF)", Op::SetOutput),
        (r":?OUTP(?:UT)?\?\s+CH(?P<ch>\d)", Op::QueryOutput),
        (
            r":?MEAS(?:URE)?:VOLT(?:AGE)?\?\s+CH(?P<ch>\d)",
            Op::MeasureVolts,
        ),
        (
            r":?MEAS(?:URE)?:CURR(?:ENT)?\?\s+CH(?P<ch>\d)",
            Op::MeasureAmps,
        ),
        (
            r":?OUTP(?:UT)?:OVP:VAL\s+CH(?P<ch>\d),(?P<v>\S+)",
            Op::SetOvp,
        ),
        (r":?OUTP(?:UT)?:OVP:VAL\?\s+CH(?P<ch>\d)", Op::QueryOvp),
        (r":?OUTP(?:UT)?:OVP\s+CH(?P<ch>\d),ON", Op::EnableOvp),
        (r":?SYST(?:EM)?:ERR(?:OR)?\?", Op::NextError),
    ],
    format_volts: three_decimals,
    format_amps: three_decimals,
    output_words: ("ON", "OFF"),
    has_error_queue: true,
    latency_ms: 10,
    cell: None,
};

const SIGLENT_SPD3303X: Dialect = Dialect {
    identity: "Siglent Technologies,SPD3303X,SPD3XIDD000001,1.01.01.02.05,V3.0",
    channels: 2,
    max_volts: 32.0,
    max_amps: 3.2,
    delimiting: Delimiting::Lines,
    reply_end: "\n",
    commands: &[
        (r"\*IDN\?", Op::Identify),
        (r"CH(?P<ch>\d):VOLT(?:AGE)?\s+(?P<v>\S+)", Op::SetVolts),
        (r"CH(?P<ch>\d):CURR(?:ENT)?\s+(?P<v>\S+)", Op::SetAmps),
        (r"CH(?P<ch>\d):VOLT(?:AGE)?\?", Op::QueryVolts),
        (r"CH(?P<ch>\d):CURR(?:ENT)?\?", Op::QueryAmps),
        (r"OUTP(?:UT)?\s+CH(?P<ch>\d),(?P<v>ON|OFF)", Op::SetOutput),
        (
            r"MEAS(?:URE)?:VOLT(?:AGE)?\?\s+CH(?P<ch>\d)",
            Op::MeasureVolts,
        ),
        (
            r"MEAS(?:URE)?:CURR(?:ENT)?\?\s+CH(?P<ch>\d)",
            Op::MeasureAmps,
        ),
        (r"SYST(?:EM)?:STAT(?:US)?\?", Op::HexStatus),
        (r"SYST(?:EM)?:ERR(?:OR)?\?", Op::NextError),
    ],
    format_volts: three_decimals,
    format_amps: three_decimals,
    output_words: ("ON", "OFF"),
    has_error_queue: true,
    latency_ms: 15,
    cell: None,
};

const KEYSIGHT_E36300: Dialect = Dialect {
    identity: "Keysight Technologies,E36312A,MY00000001,1.0.4-1.0.0-1.00",
    channels: 3,
    max_volts: 25.0,
    max_amps: 1.0,
    delimiting: Delimiting::Lines,
    reply_end: "\n",
    commands: &[
        (r"\*IDN\?", Op::Identify),
        (
            r"(?:SOUR(?:CE)?:)?VOLT(?:AGE)?\s+(?P<v>[^,\s]+),\(@(?P<ch>\d)\)",
            Op::SetVolts,
        ),
        (
            r"(?:SOUR(?:CE)?:)?CURR(?:ENT)?\s+(?P<v>[^,\s]+),\(@(?P<ch>\d)\)",
            Op::SetAmps,
        ),
        (
            r"(?:SOUR(?:CE)?:)?VOLT(?:AGE)?\?\s+\(@(?P<ch>\d)\)",
            Op::QueryVolts,
        ),
        (
            r"(?:SOUR(?:CE)?:)?CURR(?:ENT)?\?\s+\(@(?P<ch>\d)\)",
            Op::QueryAmps,
        ),
        (
            r"OUTP(?:UT)?\s+(?P<v>ON|OFF|1|0),\(@(?P<ch>\d)\)",
            Op::SetOutput,
        ),
        (r"OUTP(?:UT)?\?\s+\(@(?P<ch>\d)\)", Op::QueryOutput),
        (
            r"MEAS(?:URE)?:VOLT(?:AGE)?\?\s+\(@(?P<ch>\d)\)",
            Op::MeasureVolts,
        ),
        (
            r"MEAS(?:URE)?:CURR(?:ENT)?\?\s+\(@(?P<ch>\d)\)",
            Op::MeasureAmps,
        ),
        (
            r"VOLT(?:AGE)?:PROT(?:ECTION)?\s+(?P<v>[^,\s]+),\(@(?P<ch>\d)\)",
            Op::SetOvp,
        ),
        (
            r"VOLT(?:AGE)?:PROT(?:ECTION)?\?\s+\(@(?P<ch>\d)\)",
            Op::QueryOvp,
        ),
        (r"SYST(?:EM)?:ERR(?:OR)?\?", Op::NextError),
    ],
    format_volts: scientific,
    format_amps: scientific,
    output_words: ("1", "0"),
    has_error_queue: true,
    latency_ms: 10,
    cell: None,
};

const KORAD_KA3005P: Dialect = Dialect {
    identity: "KORAD KA3005P V5.8 SN:00000001",
    channels: 1,
    max_volts: 31.0,
    max_amps: 5.1,
    delimiting: Delimiting::Concatenated,
    reply_end: "",
    commands: &[
        (r"\*IDN\?", Op::Identify),
        (r"VSET(?P<ch>\d):(?P<v>\d+(?:\.\d*)?)", Op::SetVolts),
        (r"ISET(?P<ch>\d):(?P<v>\d+(?:\.\d*)?)", Op::SetAmps),
        (r"VSET(?P<ch>\d)\?", Op::QueryVolts),
        (r"ISET(?P<ch>\d)\?", Op::QueryAmps),
        (r"VOUT(?P<ch>\d)\?", Op::MeasureVolts),
        (r"IOUT(?P<ch>\d)\?", Op::MeasureAmps),
        (r"OUT(?P<v>[01])", Op::SetOutput),
        (r"STATUS\?", Op::StatusByte),
    ],
    format_volts: korad_volts,
    format_amps: three_decimals,
    output_words: ("1", "0"),
    has_error_queue: false,
    latency_ms: 30,
    cell: None,
};

/// Keithley 2281S-20-6, from its reference manual (077114601, March 2019): the battery
/// simulator's commands (`:BATTery[n]:SIMulator:…`, `[n]` optional and 1) and the function
/// selection every other command depends on.
const KEITHLEY_2281S: Dialect = Dialect {
    identity: "KEITHLEY INSTRUMENTS,MODEL 2281S-20-6,04412345,02.03.00",
    channels: 1,
    // The Voc range is really the recalled model's; 20 V is the instrument's.
    max_volts: 20.0,
    max_amps: 6.1,
    delimiting: Delimiting::Lines,
    reply_end: "\n",
    commands: &[
        (r"\*IDN\?", Op::Identify),
        (
            r":?ENTR(?:Y)?:FUNC(?:TION)?\s+(?P<v>POW(?:ER)?|TEST|SIM(?:ULATOR)?)",
            Op::SetFunction,
        ),
        (r":?ENTR(?:Y)?:FUNC(?:TION)?\?", Op::QueryFunction),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:METH(?:OD)?\s+(?P<v>DYN(?:AMIC)?|STAT(?:IC)?)",
            Op::SetMethod,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:METH(?:OD)?\?",
            Op::QueryMethod,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:VOC\s+(?P<v>\S+)",
            Op::SetVolts,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:VOC\?",
            Op::QueryVolts,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:CURR(?:ENT)?:LIM(?:IT)?\s+(?P<v>\S+)",
            Op::SetAmps,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:CURR(?:ENT)?:LIM(?:IT)?\?",
            Op::QueryAmps,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:RES(?:ISTANCE)?:OFFS(?:ET)?\s+(?P<v>\S+)",
            Op::SetResistanceOffset,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:RES(?:ISTANCE)?:OFFS(?:ET)?\?",
            Op::QueryResistanceOffset,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:RES(?:ISTANCE)?\?",
            Op::QueryResistance,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:TVOL(?:TAGE)?\?",
            Op::MeasureVolts,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:TVOL(?:TAGE)?:PROT(?:ECTION)?(?::LEV(?:EL)?)?\s+(?P<v>\S+)",
            Op::SetOvp,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:TVOL(?:TAGE)?:PROT(?:ECTION)?(?::LEV(?:EL)?)?\?",
            Op::QueryOvp,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:SIM(?:ULATOR)?:CURR(?:ENT)?\?",
            Op::MeasureAmps,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:OUTP(?:UT)?(?::STAT(?:E)?)?\s+(?P<v>ON|OFF|1|0)",
            Op::SetOutput,
        ),
        (
            r":?BATT(?:ERY)?(?P<ch>\d)?:OUTP(?:UT)?(?::STAT(?:E)?)?\?",
            Op::QueryOutput,
        ),
        (r":?SYST(?:EM)?:ERR(?:OR)?\?", Op::NextError),
    ],
    format_volts: three_decimals,
    format_amps: three_decimals,
    output_words: ("1", "0"),
    has_error_queue: true,
    latency_ms: 10,
    cell: Some(Cell {
        model_ohms: 0.12,
        offset_range: (-100.0, 100.0),
    }),
};

/// The command dialect of a real supply; `None` for virtual instruments, Riden (registers),
/// relay boards and attenuators (see `relay.rs` and `attenuator.rs`).
pub fn dialect_of(driver: Driver) -> Option<&'static Dialect> {
    match driver {
        Driver::RigolDp800 => Some(&RIGOL_DP800),
        Driver::SiglentSpd3303x => Some(&SIGLENT_SPD3303X),
        Driver::KeysightE36300 => Some(&KEYSIGHT_E36300),
        Driver::KoradKa3005p => Some(&KORAD_KA3005P),
        Driver::Keithley2281s => Some(&KEITHLEY_2281S),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysight_numbers_look_like_keysights() {
        assert_eq!(scientific(3.7), "+3.70000000E+00");
        assert_eq!(scientific(0.05), "+5.00000000E-02");
        assert_eq!(korad_volts(3.7), "03.70");
    }
}
