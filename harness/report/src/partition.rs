//! `--partition K/N`: which share of the selected scenarios one machine runs. A scenario's share
//! follows from a hash of its id alone, so adding a scenario never moves another one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Partition {
    /// 1-based, as written on the command line.
    pub index: u32,
    pub count: u32,
}

impl Partition {
    pub fn includes(self, scenario_id: &str) -> bool {
        share_of(scenario_id, self.count) == self.index
    }
}

/// The 1-based partition of `count` that `scenario_id` belongs to. FNV-1a: unlike std's hasher it
/// is the same on every machine and Rust version, which a fleet of runners needs.
pub fn share_of(scenario_id: &str, count: u32) -> u32 {
    let hash = scenario_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(count.max(1))) as u32 + 1
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("expected K/N with 1 <= K <= N, got {s:?}");
        let (index, count) = s.split_once('/').ok_or_else(usage)?;
        let index: u32 = index.trim().parse().map_err(|_| usage())?;
        let count: u32 = count.trim().parse().map_err(|_| usage())?;
        if index == 0 || index > count {
            return Err(usage());
        }
        Ok(Partition { index, count })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a partitioned run was cut from, recorded in `results.json` so a merge can tell a
/// missing partition from one that had nothing to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    #[serde(flatten)]
    pub partition: Partition,
    /// Every scenario id selected before the split, sorted.
    pub of: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n_and_refuses_nonsense() {
        assert_eq!(
            "2/3".parse::<Partition>(),
            Ok(Partition { index: 2, count: 3 })
        );
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_id_is_in_exactly_one_partition() {
        let ids: Vec<String> = (1..=40).map(|i| format!("F{i:02}-scenario")).collect();
        let before: Vec<u32> = ids.iter().map(|id| share_of(id, 3)).collect();
        for (id, share) in ids.iter().zip(&before) {
            let owners: Vec<u32> = (1..=3)
                .filter(|&k| Partition { index: k, count: 3 }.includes(id))
                .collect();
            assert_eq!(owners, vec![*share], "{id}");
        }
        // Every partition gets something from 40 ids: the hash spreads.
        for k in 1..=3 {
            assert!(before.contains(&k), "partition {k} is empty: {before:?}");
        }
    }

    #[test]
    fn the_split_is_pinned_across_versions_and_machines() {
        // FNV-1a of the id, mod N, plus one; computed independently. A change here reshuffles
        // every fleet's partitions: only on purpose.
        assert_eq!(share_of("F01-ring-low-battery", 3), 2);
        assert_eq!(share_of("F01-ring-low-battery", 5), 1);
        assert_eq!(share_of("F02-lock-weak-cells", 3), 3);
        assert_eq!(share_of("F19-slow-pairing", 5), 4);
    }
}
