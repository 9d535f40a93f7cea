//! A device's bond table: a fixed number of slots and an overwrite policy.

/// Keys are opaque numbers shared by the two ends of a bond.
pub type Key = u64;

#[derive(Debug)]
pub struct BondTable {
    slots: usize,
    overwrite_oldest: bool,
    /// Oldest first.
    bonds: Vec<(String, Key)>,
}

/// The table is full and may not overwrite.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl BondTable {
    pub fn new(slots: usize, overwrite_oldest: bool) -> Self {
        Self {
            slots,
            overwrite_oldest,
            bonds: Vec::new(),
        }
    }

    pub fn key_for(&self, peer: &str) -> Option<Key> {
        self.bonds.iter().find(|(p, _)| p == peer).map(|(_, k)| *k)
    }

    /// Stores a bond, replacing the peer's old one; when full, overwrites the oldest if allowed.
    pub fn store(&mut self, peer: &str, key: Key) -> Result<(), Full> {
        self.bonds.retain(|(p, _)| p != peer);
        if self.bonds.len() >= self.slots {
            if !self.overwrite_oldest || self.slots == 0 {
                return Err(Full);
            }
            self.bonds.remove(0);
        }
        self.bonds.push((peer.to_string(), key));
        Ok(())
    }

    pub fn clear(&mut self) {
        self.bonds.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_pairs_again_replaces_its_bond() {
        let mut table = BondTable::new(1, false);
        table.store("phone", 1).unwrap();
        table.store("phone", 2).unwrap();
        assert_eq!(table.key_for("phone"), Some(2));
    }

    #[test]
    fn a_full_table_overwrites_the_oldest_or_refuses() {
        let mut overwriting = BondTable::new(2, true);
        for (peer, key) in [("a", 1), ("b", 2), ("c", 3)] {
            overwriting.store(peer, key).unwrap();
        }
        let has = |t: &BondTable, p| t.key_for(p).is_some();
        assert!(!has(&overwriting, "a") && has(&overwriting, "b") && has(&overwriting, "c"));

        let mut strict = BondTable::new(2, false);
        strict.store("a", 1).unwrap();
        strict.store("b", 2).unwrap();
        assert_eq!(strict.store("c", 3), Err(Full));
        assert!(has(&strict, "a") && !has(&strict, "c"));
    }
}
