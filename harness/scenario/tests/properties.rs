//! Property tests: whatever bytes a scenario, rig or profile file holds, and whatever a device
//! prints, the parsers and the redaction never panic, and errors always point inside the file.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use hil_scenario::{Profile, Rig, Scenario};
use proptest::prelude::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Random edits of a real file: the kind of damage a typo, a bad merge or a truncation does.
fn edited(original: &'static str) -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0..3u8,
        "[ -~\n\"=\\[\\]{}]{0,6}",
    );
    prop::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut text: Vec<char> = original.chars().collect();
        for (at, kind, insert) in edits {
            let i = at.index(text.len().max(1)).min(text.len());
            match kind {
                0 => drop(text.splice(i..i, insert.chars())),
                1 => drop(text.drain(i..(i + insert.len()).min(text.len()))),
                _ => text.truncate(i),
            }
        }
        text.into_iter().collect()
    })
}

/// Every error location is `path:line:col` inside the text.
fn assert_located(errors: &hil_scenario::ConfigErrors, path: &Path, text: &str) {
    let lines = text.lines().count().max(1) + 1;
    for e in &errors.errors {
        let Some(location) = e.location() else {
            continue;
        };
        let rest = location
            .strip_prefix(&format!("{}:", path.display()))
            .unwrap_or_else(|| panic!("error outside the file: {location}"));
        let (line, col) = rest.split_once(':').expect("line:col");
        let (line, col): (usize, usize) = (line.parse().unwrap(), col.parse().unwrap());
        assert!(
            (1..=lines).contains(&line) && col >= 1,
            "{location} in a {lines}-line file"
        );
    }
}

const F01: &str = include_str!("../../../scenarios/F01-ring-low-battery.toml");
const RIG: &str = include_str!("../../../rigs/virtual.toml");

static VIRTUAL_RIG: LazyLock<Rig> =
    LazyLock::new(|| Rig::load(&repo().join("rigs/virtual.toml")).unwrap());
static RING: LazyLock<Profile> =
    LazyLock::new(|| Profile::load(&repo().join("fixtures/profiles/ring-fw-2.1.toml")).unwrap());

proptest! {
    // Bounded so CI stays quick on two cores; raise `PROPTEST_CASES` to dig deeper locally.
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn damaged_scenarios_never_panic_and_errors_point_inside(text in edited(F01)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, &text).unwrap();
        match Scenario::load(&path) {
            Err(errors) => assert_located(&errors, &path, &text),
            Ok(scenario) => {
                if let Err(hil_scenario::PlanError::Invalid(errors)) = scenario.plan(&VIRTUAL_RIG) {
                    assert_located(&errors, &path, &text);
                }
            }
        }
    }

    #[test]
    fn damaged_rigs_never_panic(text in edited(RIG)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rig.toml");
        // The rig's profile paths are relative to it: point them at the real fixtures.
        let text = text.replace("\"../fixtures/", &format!("\"{}/fixtures/", repo().display()));
        std::fs::write(&path, &text).unwrap();
        if let Err(errors) = Rig::load(&path) {
            assert_located(&errors, &path, &text);
        }
    }

    #[test]
    fn any_console_line_is_recognised_or_not_without_panicking(line in "\\PC{0,200}") {
        let profile = &*RING;
        let _ = profile.recognise(&line);
        let once = profile.redact(&line).into_owned();
        prop_assert_eq!(profile.redact(&once).into_owned(), once.clone(), "redaction is idempotent");
    }

    #[test]
    fn no_key_survives_redaction(prefix in "[ -~]{0,30}", key in "[0-9a-f]{8,32}", label in "(LTK|ltk|IRK|CSRK|passkey)", sep in "( |: |=|  )") {
        let profile = &*RING;
        let line = format!("{prefix}{label}{sep}0x{key}");
        let redacted = profile.redact(&line);
        prop_assert!(!redacted.contains(&key), "{} leaked in {}", key, redacted);
    }
}
