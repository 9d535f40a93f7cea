//! `hil rig check`: is every instrument of a rig there, the model the rig file says, and
//! answering? One line per instrument and per device's debug probe, with what to do about the
//! ones that are not.

use std::io::Write;
use std::path::Path;

use hil_scenario::{Instrument, Rig};

use crate::catalog::CatalogError;
use crate::commands::config_error;
use crate::{EXIT_FAIL, EXIT_PASS};

/// Exit 0 if every instrument answered as expected, 1 otherwise, 2 if the rig file is invalid.
pub fn rig_check(path: &Path) -> u8 {
    let rig =
        match Rig::load(path).and_then(|rig| hil_rig::drivers::check_chips(&rig).map(|()| rig)) {
            Ok(rig) => rig,
            Err(e) => return config_error(CatalogError::Config(e)),
        };
    let mut stdout = std::io::stdout().lock();
    let mut failed = 0;
    for instrument in rig.instruments.values() {
        let (status, detail) = check(instrument);
        if status == "ERROR" {
            failed += 1;
        }
        let _ = writeln!(
            stdout,
            "{status:<5}  {:<12} {:<18} {detail}",
            instrument.name,
            instrument.driver.name()
        );
    }
    let probes: Vec<_> = rig
        .devices
        .values()
        .filter_map(|d| Some((d, d.probe.as_ref()?)))
        .collect();
    for (device, wiring) in &probes {
        let (status, detail) = match hil_rig::drivers::check_probe(&device.name, wiring) {
            Ok(found) => ("OK", found),
            Err(e) => ("ERROR", e.message),
        };
        if status == "ERROR" {
            failed += 1;
        }
        let _ = writeln!(
            stdout,
            "{status:<5}  {:<12} {:<18} {detail}",
            format!("{}.probe", device.name),
            "probe-rs"
        );
    }
    let checked = rig.instruments.len() + probes.len();
    let _ = writeln!(
        stdout,
        "hil: {} of {checked} instrument(s) OK on rig `{}`",
        checked - failed,
        rig.name
    );
    if failed == 0 { EXIT_PASS } else { EXIT_FAIL }
}

fn check(instrument: &Instrument) -> (&'static str, String) {
    if instrument.driver.is_virtual() {
        return ("OK", "(virtual)".into());
    }
    let port = instrument.port.as_deref().unwrap_or_default();
    match hil_rig::drivers::check(instrument) {
        Ok(readback) => ("OK", format!("{port}: {readback}")),
        Err(e) => ("ERROR", e.message),
    }
}
