//! `scenarios/quarantine.toml`: scenarios known to be flaky, each until a date. They still run;
//! their results are reported apart and do not fail the run until the entry expires.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{ConfigErrors, Problems, SourceFile};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineFile {
    #[serde(default)]
    quarantine: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    /// Last day of the quarantine, `YYYY-MM-DD`.
    until: Spanned<String>,
    /// Why, and where it is tracked.
    reason: String,
}

/// The quarantine in force on a given day.
#[derive(Debug, Default)]
pub struct Quarantine {
    /// Active entries: scenario id → a note for reports (`until 2026-12-31: reason`).
    pub active: BTreeMap<String, String>,
    /// Entries past their date, as notes: they no longer shield anything.
    pub expired: Vec<String>,
}

impl Quarantine {
    /// Loads `path` as of `now`.
    pub fn load(path: &Path, now: SystemTime) -> Result<Quarantine, ConfigErrors> {
        let source = SourceFile::read(path)?;
        let file: QuarantineFile = source.parse()?;
        let mut problems = Problems::default();
        let mut quarantine = Quarantine::default();
        for entry in file.quarantine {
            // The end of the `until` day, UTC.
            let end = humantime::parse_rfc3339(&format!("{}T23:59:59Z", entry.until.get_ref()));
            let Ok(end) = end else {
                problems.push(source.error(
                    entry.until.span(),
                    format!("invalid date {:?}", entry.until.get_ref()),
                    Some("expected YYYY-MM-DD".into()),
                ));
                continue;
            };
            let note = format!("until {}: {}", entry.until.get_ref(), entry.reason);
            if now <= end {
                quarantine.active.insert(entry.id, note);
            } else {
                quarantine.expired.push(format!("{} ({note})", entry.id));
            }
        }
        problems.finish(quarantine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_shield_until_the_end_of_their_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quarantine.toml");
        std::fs::write(
            &path,
            "[[quarantine]]\nid = \"F15\"\nuntil = \"2026-11-30\"\nreason = \"bench-b attenuator, HIL-12\"\n\n[[quarantine]]\nid = \"F03\"\nuntil = \"2026-11-01\"\nreason = \"old\"\n",
        )
        .unwrap();
        let day = |s: &str| humantime::parse_rfc3339(s).unwrap();
        let q = Quarantine::load(&path, day("2026-11-30T22:00:00Z")).unwrap();
        assert_eq!(
            q.active["F15"],
            "until 2026-11-30: bench-b attenuator, HIL-12"
        );
        assert_eq!(q.expired, vec!["F03 (until 2026-11-01: old)".to_string()]);
        let q = Quarantine::load(&path, day("2026-12-01T00:00:01Z")).unwrap();
        assert!(q.active.is_empty());
    }

    #[test]
    fn a_bad_date_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quarantine.toml");
        std::fs::write(
            &path,
            "[[quarantine]]\nid = \"F15\"\nuntil = \"next week\"\nreason = \"x\"\n",
        )
        .unwrap();
        let errors = Quarantine::load(&path, SystemTime::now()).unwrap_err();
        let message = errors.errors[0].to_string();
        assert!(
            message.contains("quarantine.toml:3:9: invalid date \"next week\""),
            "{message}"
        );
    }
}
