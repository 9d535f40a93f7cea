//! `hil report merge`: the result sets of several runs (partitions of one catalog, several rigs)
//! as one report directory, in every format. A scenario run twice on the same rig, or a
//! partition that never reported, is caught here rather than silently counted.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::partition::{Partition, share_of};
use crate::record::{MissingPartition, RunRecord};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("cannot read the report in {}: {source}", dir.display())]
    Read {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("scenario `{id}` on rig `{rig}` is in both {} and {}", first.display(), second.display())]
    DuplicateScenario {
        id: String,
        rig: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("partition {partition} of rig `{rig}` is in both {} and {}", first.display(), second.display())]
    DuplicatePartition {
        rig: String,
        partition: Partition,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("rig `{rig}` has runs split into {first} and into {second} partitions")]
    MixedPartitionCounts {
        rig: String,
        first: u32,
        second: u32,
    },
    #[error("partitions of rig `{rig}` were cut from different scenario selections ({} and {})", first.display(), second.display())]
    DifferentSelections {
        rig: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Merges the report directories `inputs` into `out`; returns what was written.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<RunRecord, MergeError> {
    let mut loaded = Vec::new();
    for dir in inputs {
        let record = RunRecord::load(dir).map_err(|source| MergeError::Read {
            dir: dir.clone(),
            source,
        })?;
        loaded.push((dir.clone(), record));
    }
    check_duplicates(&loaded)?;
    let missing = missing_partitions(&loaded)?;

    let run_id = out.file_name().map_or_else(
        || "merged".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut merged = RunRecord::new(run_id);
    merged.missing = missing;
    let mut sources = Vec::new();
    for (dir, record) in loaded {
        merged.summary.wall_secs = merged.summary.wall_secs.max(record.summary.wall_secs);
        merged.runs.extend(record.runs.iter().cloned());
        for scenario in &record.scenarios {
            if let Some(bundle) = record.bundle_path(&scenario.result) {
                sources.push((dir.join(bundle), scenario.result.clone()));
            }
        }
        merged.scenarios.extend(record.scenarios);
    }
    // The order of a single run over the same catalog, whatever order the inputs came in.
    merged
        .scenarios
        .sort_by(|a, b| (&a.result.id, &a.result.rig).cmp(&(&b.result.id, &b.result.rig)));
    for scenario in &merged.scenarios {
        merged.summary.totals.add(&scenario.result);
        merged.summary.rig_secs += scenario.result.rig_secs;
    }

    let write = |path: &Path, source: io::Error| MergeError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(out).map_err(|e| write(out, e))?;
    concatenate_events(inputs, &out.join("events.jsonl"))
        .map_err(|e| write(&out.join("events.jsonl"), e))?;
    for (from, result) in sources {
        let Some(to) = merged.bundle_path(&result).map(|p| out.join(p)) else {
            continue;
        };
        if from.exists() {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(|e| write(dir, e))?;
            }
            std::fs::copy(&from, &to).map_err(|e| write(&to, e))?;
        }
    }
    crate::files::write_reports(out, &merged).map_err(|e| write(out, e))?;
    Ok(merged)
}

fn check_duplicates(loaded: &[(PathBuf, RunRecord)]) -> Result<(), MergeError> {
    let mut seen: BTreeMap<(&str, &str), &Path> = BTreeMap::new();
    for (dir, record) in loaded {
        for scenario in &record.scenarios {
            let key = (scenario.result.rig.as_str(), scenario.result.id.as_str());
            if let Some(first) = seen.insert(key, dir) {
                return Err(MergeError::DuplicateScenario {
                    id: scenario.result.id.clone(),
                    rig: scenario.result.rig.clone(),
                    first: first.to_path_buf(),
                    second: dir.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Per rig, the partitions of its split that no input holds, with the scenarios they would have run.
fn missing_partitions(
    loaded: &[(PathBuf, RunRecord)],
) -> Result<Vec<MissingPartition>, MergeError> {
    let mut by_rig: BTreeMap<&str, Vec<(&Path, &crate::PartitionRecord)>> = BTreeMap::new();
    for (dir, record) in loaded {
        for run in &record.runs {
            if let Some(partition) = &run.partition {
                by_rig.entry(&run.rig).or_default().push((dir, partition));
            }
        }
    }
    let mut missing = Vec::new();
    for (rig, parts) in by_rig {
        let (first_dir, first) = parts[0];
        let count = first.partition.count;
        let mut present: BTreeMap<u32, &Path> = BTreeMap::new();
        for (dir, part) in &parts {
            if part.partition.count != count {
                return Err(MergeError::MixedPartitionCounts {
                    rig: rig.to_string(),
                    first: count,
                    second: part.partition.count,
                });
            }
            if part.of != first.of {
                return Err(MergeError::DifferentSelections {
                    rig: rig.to_string(),
                    first: first_dir.to_path_buf(),
                    second: dir.to_path_buf(),
                });
            }
            if let Some(other) = present.insert(part.partition.index, dir) {
                return Err(MergeError::DuplicatePartition {
                    rig: rig.to_string(),
                    partition: part.partition,
                    first: other.to_path_buf(),
                    second: dir.to_path_buf(),
                });
            }
        }
        for index in (1..=count).filter(|k| !present.contains_key(k)) {
            missing.push(MissingPartition {
                rig: rig.to_string(),
                partition: Partition { index, count },
                scenarios: first
                    .of
                    .iter()
                    .filter(|id| share_of(id, count) == index)
                    .cloned()
                    .collect(),
            });
        }
    }
    Ok(missing)
}

/// Each input's event stream, one after the other: a record of every run as it happened.
fn concatenate_events(inputs: &[PathBuf], out: &Path) -> io::Result<()> {
    let mut merged = File::create(out)?;
    for dir in inputs {
        match File::open(dir.join("events.jsonl")) {
            Ok(mut events) => {
                io::copy(&mut events, &mut merged)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
