//! One run per rig at a time. The OS file lock is released by the kernel whatever happens to the
//! holder, so a stale lock cannot block anyone; the file's contents say who holds it and whether
//! the last holder finished cleanly (if not, the rig may be left powered: restore safe state).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds (or last held) a rig.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// RFC 3339.
    pub since: String,
    /// False while a run is in progress; a holder that died leaves it false.
    pub clean: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("rig `{rig}` is in use by pid {} on {} since {}", holder.pid, holder.host, holder.since)]
    Busy { rig: String, holder: Holder },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for the whole run; dropping it marks the rig clean and releases it.
pub struct RigLock {
    file: File,
    holder: Holder,
    /// The previous holder, if it did not finish cleanly.
    pub unclean: Option<Holder>,
}

impl RigLock {
    /// Takes the lock of rig `name` in `dir` (created if need be).
    pub fn acquire(dir: &Path, name: &str) -> Result<RigLock, LockError> {
        let path = dir.join(format!("{name}.lock"));
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut previous = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                file.read_to_string(&mut previous).map_err(io)?;
                let holder = serde_json::from_str(&previous).unwrap_or(Holder {
                    pid: 0,
                    host: "unknown".into(),
                    since: "unknown".into(),
                    clean: false,
                });
                return Err(LockError::Busy {
                    rig: name.to_string(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.read_to_string(&mut previous).map_err(io)?;
        let unclean = serde_json::from_str::<Holder>(&previous)
            .ok()
            .filter(|h| !h.clean);
        let mut lock = RigLock {
            file,
            holder: Holder {
                pid: std::process::id(),
                host: hostname(),
                since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
                clean: false,
            },
            unclean,
        };
        lock.record().map_err(io)?;
        Ok(lock)
    }

    /// Writes the holder durably: after a crash, the next run must see `clean: false`.
    fn record(&mut self) -> std::io::Result<()> {
        let body = serde_json::to_vec_pretty(&self.holder)?;
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&body)?;
        self.file.sync_all()
    }
}

impl Drop for RigLock {
    fn drop(&mut self) {
        self.holder.clean = true;
        if let Err(e) = self.record() {
            tracing::warn!("cannot mark the rig lock clean: {e}");
        }
        // The lock itself goes with the file handle.
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let dir = tempfile::tempdir().unwrap();
        let first = RigLock::acquire(dir.path(), "bench-a").unwrap();
        assert!(first.unclean.is_none());
        match RigLock::acquire(dir.path(), "bench-a") {
            Err(LockError::Busy { rig, holder }) => {
                assert_eq!(rig, "bench-a");
                assert_eq!(holder.pid, std::process::id());
                assert!(!holder.clean);
            }
            Err(e) => panic!("expected Busy, got {e}"),
            Ok(_) => panic!("expected Busy, got the lock"),
        }
        // Another rig is independent.
        assert!(RigLock::acquire(dir.path(), "bench-b").is_ok());
        drop(first);
        let again = RigLock::acquire(dir.path(), "bench-a").unwrap();
        assert!(again.unclean.is_none(), "the first holder finished cleanly");
    }

    #[test]
    fn a_holder_that_died_is_reported_unclean() {
        let dir = tempfile::tempdir().unwrap();
        let dead = Holder {
            pid: 999_999,
            host: "bench-host".into(),
            since: "2026-11-24T03:00:00Z".into(),
            clean: false,
        };
        std::fs::write(
            dir.path().join("bench-a.lock"),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        let lock = RigLock::acquire(dir.path(), "bench-a").unwrap();
        assert_eq!(lock.unclean, Some(dead));
    }
}
