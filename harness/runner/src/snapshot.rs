//! Recovery snapshots in insta's `.snap` format, so `cargo insta review` works on them too.

use std::io;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::event::SnapshotStatus;

/// What to do with a trace that differs from the reviewed snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Compare only.
    Check,
    /// Compare; on a difference write `<id>.snap.new` beside the snapshot for review.
    WritePending,
    /// Write the trace as the new reviewed snapshot (`--accept`).
    Accept,
}

/// `<scenario dir>/snapshots/<id>.snap`.
pub fn snapshot_path(scenario: &Path, id: &str) -> PathBuf {
    scenario
        .parent()
        .unwrap_or(Path::new("."))
        .join("snapshots")
        .join(format!("{id}.snap"))
}

/// The snapshot a rig with a trace `variant` checks against: `<id>@<variant>.snap` if it exists,
/// or, when accepting a trace that differs from the catalog's `<id>.snap`, the one to create.
pub fn variant_path(
    scenario: &Path,
    id: &str,
    variant: Option<&str>,
    trace: &str,
    mode: SnapshotMode,
) -> io::Result<PathBuf> {
    let base = snapshot_path(scenario, id);
    let Some(variant) = variant else {
        return Ok(base);
    };
    let own = base.with_file_name(format!("{id}@{variant}.snap"));
    let differs = || Ok::<_, io::Error>(read(&base)?.as_deref() != Some(trace.trim_end()));
    if own.exists() || (mode == SnapshotMode::Accept && differs()?) {
        Ok(own)
    } else {
        Ok(base)
    }
}

fn pending_path(snapshot: &Path) -> PathBuf {
    snapshot.with_extension("snap.new")
}

/// Reads the body of a reviewed snapshot, if there is one.
pub fn read(snapshot: &Path) -> io::Result<Option<String>> {
    if !snapshot.exists() {
        return Ok(None);
    }
    let parsed = insta::Snapshot::from_file(snapshot)
        .map_err(|e| io::Error::other(format!("{}: {e}", snapshot.display())))?;
    Ok(parsed.as_text().map(ToString::to_string))
}

fn write(path: &Path, source: &Path, id: &str, trace: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let body = format!(
        "---\nsource: {}\nexpression: recovery trace of {id}\n---\n{}\n",
        source.display(),
        trace.trim_end()
    );
    std::fs::write(path, body)
}

/// Compares `trace` with the reviewed snapshot and acts according to `mode`.
pub fn check(
    snapshot: &Path,
    source: &Path,
    id: &str,
    trace: &str,
    mode: SnapshotMode,
) -> io::Result<SnapshotStatus> {
    let reviewed = read(snapshot)?;
    let pending = pending_path(snapshot);
    if reviewed.as_deref() == Some(trace.trim_end()) {
        remove_if_present(&pending)?;
        return Ok(SnapshotStatus::Matched);
    }
    match mode {
        SnapshotMode::Accept => {
            write(snapshot, source, id, trace)?;
            remove_if_present(&pending)?;
            tracing::info!(path = %snapshot.display(), "accepted snapshot");
            return Ok(SnapshotStatus::Accepted);
        }
        SnapshotMode::WritePending => {
            write(&pending, source, id, trace)?;
            tracing::info!(path = %pending.display(), "wrote pending snapshot for review");
        }
        SnapshotMode::Check => {}
    }
    Ok(match reviewed {
        None => SnapshotStatus::Missing {
            trace: trace.trim_end().to_string(),
        },
        Some(reviewed) => SnapshotStatus::Mismatch {
            diff: diff(&reviewed, trace.trim_end()),
        },
    })
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A unified diff, reviewed snapshot (`-`) against this run (`+`).
pub fn diff(reviewed: &str, actual: &str) -> String {
    TextDiff::from_lines(&format!("{reviewed}\n"), &format!("{actual}\n"))
        .unified_diff()
        .context_radius(3)
        .header("reviewed snapshot", "this run")
        .to_string()
}

/// The first changed line of a diff, for one-line failure messages.
pub fn first_difference(diff: &str) -> Option<&str> {
    diff.lines().find(|l| {
        (l.starts_with('-') || l.starts_with('+')) && !l.starts_with("---") && !l.starts_with("+++")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_then_match_then_mismatch_writes_pending() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("F01.toml");
        let snap = snapshot_path(&scenario, "F01");
        let trace = "ring:\n  setup:\n    boot reason=power_on\n";

        let status = check(&snap, &scenario, "F01", trace, SnapshotMode::WritePending).unwrap();
        assert!(matches!(status, SnapshotStatus::Missing { .. }));
        assert!(pending_path(&snap).exists());

        let status = check(&snap, &scenario, "F01", trace, SnapshotMode::Accept).unwrap();
        assert_eq!(status, SnapshotStatus::Accepted);
        assert!(!pending_path(&snap).exists());
        // insta itself reads what we wrote.
        assert_eq!(read(&snap).unwrap().as_deref(), Some(trace.trim_end()));

        let status = check(&snap, &scenario, "F01", trace, SnapshotMode::Check).unwrap();
        assert_eq!(status, SnapshotStatus::Matched);

        let other = "ring:\n  setup:\n    boot reason=brownout\n";
        let status = check(&snap, &scenario, "F01", other, SnapshotMode::Check).unwrap();
        let SnapshotStatus::Mismatch { diff } = status else {
            panic!("expected a mismatch, got {status:?}");
        };
        assert!(diff.contains("-    boot reason=power_on"), "{diff}");
        assert!(diff.contains("+    boot reason=brownout"), "{diff}");
        assert_eq!(first_difference(&diff), Some("-    boot reason=power_on"));
        assert!(!pending_path(&snap).exists(), "Check mode writes nothing");
    }
}
