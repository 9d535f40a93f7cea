//! `hil rig check`: is every instrument of a rig there, the model the rig file says, and
//! answering? One line per instrument, with what to do about the ones that are not.

use std::io::Write;
use std::path::Path;

use hil_scenario::{Instrument, Rig};

use crate::catalog::CatalogError;
use crate::commands::config_error;
use crate::{EXIT_FAIL, EXIT_PASS};

/// Exit 0 if every instrument answered as expected, 1 otherwise, 2 if the rig file is invalid.
pub fn rig_check(path: &Path) -> u8 {
    let rig = match Rig::load(path) {
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
    let _ = writeln!(
        stdout,
        "hil: {} of {} instrument(s) OK on rig `{}`",
        rig.instruments.len() - failed,
        rig.instruments.len(),
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
        Ok(readback) if port.is_empty() => ("OK", readback),
        Ok(readback) => ("OK", format!("{port}: {readback}")),
        Err(e) => ("ERROR", e.message),
    }
}
