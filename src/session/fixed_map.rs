//! [`FixedMap`]: a hash map of fixed capacity, allocated once, for the security tables
//! (replay timestamps, certificate bindings, connections per address).
//!
//! Open addressing with linear probing and backward-shift deletion over a power-of-two slot
//! array at most half full, so a lookup ends at the first empty slot after a short run. Keys
//! are hashed with the standard library's randomly keyed SipHash: a peer that picks the keys
//! (addresses, SessionIds) cannot aim them at one probe run. Nothing here allocates after
//! [`FixedMap::with_capacity`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// The map already holds its capacity of entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full;

/// A map of at most `capacity` entries that never grows.
#[derive(Clone, Debug)]
pub(crate) struct FixedMap<K, V> {
    slots: Box<[Option<(K, V)>]>,
    mask: usize,
    len: usize,
    capacity: usize,
    hasher: RandomState,
}

impl<K: Copy + Eq + Hash, V: Copy> FixedMap<K, V> {
    /// A map for `capacity` entries (at least one).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let slot_count = capacity.saturating_mul(2).next_power_of_two();
        FixedMap {
            slots: vec![None; slot_count].into_boxed_slice(),
            mask: slot_count - 1,
            len: 0,
            capacity,
            hasher: RandomState::new(),
        }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The most entries the map holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn home(&self, key: &K) -> usize {
        // Truncation is fine: only the low bits select the slot.
        (self.hasher.hash_one(key) as usize) & self.mask
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn find(&self, key: &K) -> (usize, bool) {
        let mut index = self.home(key);
        loop {
            match self.slots.get(index) {
                Some(Some((k, _))) if k == key => return (index, true),
                Some(Some(_)) => index = (index + 1) & self.mask,
                // The array is never more than half full, so an empty slot always exists.
                _ => return (index, false),
            }
        }
    }

    /// The value for `key`.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        match self.find(key) {
            (index, true) => self.slots.get(index).copied().flatten().map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets the value for `key`; `Err(Full)` if `key` is new and the map is full.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Result<(), Full> {
        let (index, found) = self.find(&key);
        if !found && self.len >= self.capacity {
            return Err(Full);
        }
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some((key, value));
        }
        if !found {
            self.len += 1;
        }
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (mut hole, found) = self.find(key);
        if !found {
            return None;
        }
        let removed = self.slots.get_mut(hole)?.take().map(|(_, v)| v);
        self.len -= 1;
        // Backward shift: pull later members of the run into the hole when their home slot
        // does not lie cyclically in (hole, index], so every key stays reachable from home.
        let mut index = (hole + 1) & self.mask;
        while let Some(Some((k, _))) = self.slots.get(index) {
            let home = self.home(k);
            let stays = if hole <= index {
                hole < home && home <= index
            } else {
                hole < home || home <= index
            };
            if !stays {
                let moved = self.slots.get_mut(index).and_then(Option::take);
                if let Some(slot) = self.slots.get_mut(hole) {
                    *slot = moved;
                }
                hole = index;
            }
            index = (index + 1) & self.mask;
        }
        removed
    }

    /// Every entry, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.slots.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_hash_map_under_random_inserts_and_removes() {
        let mut fixed: FixedMap<u16, u32> = FixedMap::with_capacity(50);
        let mut model: HashMap<u16, u32> = HashMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 97) as u16;
            if x & 0x100 == 0 {
                let expected_full = !model.contains_key(&key) && model.len() >= 50;
                let result = fixed.insert(key, step);
                assert_eq!(result.is_err(), expected_full);
                if !expected_full {
                    model.insert(key, step);
                }
            } else {
                assert_eq!(fixed.remove(&key), model.remove(&key));
            }
            assert_eq!(fixed.len(), model.len());
            assert_eq!(fixed.get(&key), model.get(&key).copied());
        }
        for (k, v) in &model {
            assert_eq!(fixed.get(k), Some(*v));
        }
        assert_eq!(fixed.iter().count(), model.len());
    }

    #[test]
    fn full_map_refuses_new_keys_but_updates_old_ones() {
        let mut map: FixedMap<u8, u8> = FixedMap::with_capacity(2);
        assert_eq!(map.capacity(), 2);
        assert_eq!(map.insert(1, 1), Ok(()));
        assert_eq!(map.insert(2, 2), Ok(()));
        assert_eq!(map.insert(3, 3), Err(Full));
        assert_eq!(map.insert(1, 9), Ok(()));
        assert_eq!(map.get(&1), Some(9));
        assert_eq!(map.remove(&2), Some(2));
        assert_eq!(map.insert(3, 3), Ok(()));
    }
}
