//! SCPI round trips through hil's Rigol DP800 driver, for `bench/run`, which runs pyvisa-py's
//! same loop (`bench/scpi_pyvisa.py`) against the same emulator.
//!
//! ```text
//! scpi_bench serve [LATENCY_MS]  start the Rigol emulator on a pty, print its path, serve until
//!                                standard input closes (LATENCY_MS replaces the model's 10 ms)
//! scpi_bench client PORT COUNT   COUNT × (a verified set, a checked query); prints one line per
//!                                command: `set <µs>` or `query <µs>`
//! ```
//!
//! A set is `:SOUR1:VOLT <v>` then `SYST:ERR?`, which must answer code 0; a query is
//! `:MEAS:VOLT? CH1`, whose answer must be the volts just set (the output is on, into the
//! emulator's load). The first `WARMUP` rounds are not printed.

use std::io::{BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hil_rig::drivers::{Psu, RIGOL_DP800, SerialSupply, SerialTransport, default_baud};
use hil_scenario::Driver;
use hil_sim::emulators::Emulator;

const WARMUP: usize = 10;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = match args.as_slice() {
        ["serve"] => serve(None),
        ["serve", ms] => ms
            .parse()
            .map_err(|e| format!("LATENCY_MS {ms:?}: {e}"))
            .and_then(|ms| serve(Some(Duration::from_millis(ms)))),
        ["client", port, count] => count
            .parse()
            .map_err(|e| format!("COUNT {count:?}: {e}"))
            .and_then(|count| client(port, count)),
        _ => Err("usage: scpi_bench serve [LATENCY_MS] | scpi_bench client PORT COUNT".into()),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scpi_bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(latency: Option<Duration>) -> Result<(), String> {
    let emulator = Emulator::start(Driver::RigolDp800)
        .map_err(|e| e.to_string())?
        .ok_or("the Rigol DP800 has no emulator")?;
    if let Some(latency) = latency {
        emulator.set_latency(latency);
    }
    println!("{}", emulator.port());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    // Serves until whoever started us closes our standard input.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

fn client(port: &str, count: usize) -> Result<(), String> {
    let baud = default_baud(Driver::RigolDp800).ok_or("the Rigol DP800 has no baud rate")?;
    let transport = SerialTransport::open(port, baud).map_err(|e| e.to_string())?;
    let mut psu = Psu::new("bench", &RIGOL_DP800, transport, 3);
    psu.identify().map_err(|e| e.to_string())?;
    psu.write(":SOUR1:CURR 0.5").map_err(|e| e.to_string())?;
    psu.write(":OUTP CH1,ON").map_err(|e| e.to_string())?;

    let mut out = BufWriter::new(std::io::stdout().lock());
    for round in 0..WARMUP + count {
        let volts = 1.0 + (round % 400) as f64 / 100.0;
        let start = Instant::now();
        psu.write(&format!(":SOUR1:VOLT {volts:.3}"))
            .map_err(|e| e.to_string())?;
        let set = start.elapsed();
        let start = Instant::now();
        let answer = psu.query(":MEAS:VOLT? CH1").map_err(|e| e.to_string())?;
        let query = start.elapsed();
        let measured: f64 = answer
            .parse()
            .map_err(|_| format!("`:MEAS:VOLT? CH1` answered {answer:?}"))?;
        if (measured - volts).abs() > 0.0005 {
            return Err(format!("set {volts:.3} V, measured {measured} V"));
        }
        if round >= WARMUP {
            writeln!(out, "set {}", micros(set)).map_err(|e| e.to_string())?;
            writeln!(out, "query {}", micros(query)).map_err(|e| e.to_string())?;
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    psu.off(1).map_err(|e| e.to_string())?;
    Ok(())
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}
