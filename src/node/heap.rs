//! An indexed binary heap over the node's job slots: push, pop and the removal of any slot in
//! O(log n), the key stored beside the slot so comparisons touch no job. Allocates only when it
//! grows past its largest size so far (its buffers are kept), never per operation after that.

/// A heap key: `before` is the heap's order (the first in it is at the top).
pub(super) trait HeapKey: Copy {
    /// Whether `self` comes strictly before `other`.
    fn before(&self, other: &Self) -> bool;
}

/// No position: the slot is not in the heap.
const ABSENT: u32 = u32::MAX;

/// A binary heap of job slots (`u32`) ordered by their keys, with each slot's position kept so a
/// slot can be removed from anywhere.
#[derive(Debug, Clone)]
pub(super) struct IndexedHeap<K> {
    entries: Vec<(K, u32)>,
    /// Position in `entries` of each slot, or [`ABSENT`].
    position: Vec<u32>,
}

impl<K: HeapKey> IndexedHeap<K> {
    /// An empty heap with room for `capacity` slots.
    pub(super) fn with_capacity(capacity: usize) -> IndexedHeap<K> {
        IndexedHeap { entries: Vec::with_capacity(capacity), position: vec![ABSENT; capacity] }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry (key and slot).
    pub(super) fn peek(&self) -> Option<(K, u32)> {
        self.entries.first().copied()
    }

    /// The slots in heap order (not sorted).
    pub(super) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.iter().map(|e| e.1)
    }

    /// Adds `slot` (not in the heap) with `key`.
    pub(super) fn push(&mut self, key: K, slot: u32) {
        let s = slot as usize;
        if s >= self.position.len() {
            self.position.resize((s + 1).max(2 * self.position.len()), ABSENT);
        }
        debug_assert_eq!(self.position[s], ABSENT, "slot {slot} pushed twice");
        let i = self.entries.len();
        self.entries.push((key, slot));
        self.sift_up(i);
    }

    /// Removes and returns the first entry.
    pub(super) fn pop(&mut self) -> Option<(K, u32)> {
        let top = self.peek()?;
        self.remove_at(0);
        Some(top)
    }

    /// Removes `slot` if it is in the heap; returns its key.
    pub(super) fn remove(&mut self, slot: u32) -> Option<K> {
        let i = *self.position.get(slot as usize)?;
        if i == ABSENT {
            return None;
        }
        let key = self.entries[i as usize].0;
        self.remove_at(i as usize);
        Some(key)
    }

    /// Replaces every key by `f(key, slot)` and restores the order (O(n)).
    pub(super) fn rekey(&mut self, mut f: impl FnMut(K, u32) -> K) {
        for entry in &mut self.entries {
            entry.0 = f(entry.0, entry.1);
        }
        for i in (0..self.entries.len() / 2).rev() {
            self.sift_down(i);
        }
        for (i, entry) in self.entries.iter().enumerate() {
            self.position[entry.1 as usize] = i as u32;
        }
    }

    fn remove_at(&mut self, i: usize) {
        let last = self.entries.len() - 1;
        let removed = self.entries[i].1;
        self.entries.swap(i, last);
        self.entries.pop();
        self.position[removed as usize] = ABSENT;
        if i < last {
            // The entry moved into the hole may belong above or below it.
            if i > 0 && self.entries[i].0.before(&self.entries[(i - 1) / 2].0) {
                self.sift_up(i);
            } else {
                self.sift_down(i);
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let entry = self.entries[i];
        while i > 0 {
            let parent = (i - 1) / 2;
            if !entry.0.before(&self.entries[parent].0) {
                break;
            }
            self.entries[i] = self.entries[parent];
            self.position[self.entries[i].1 as usize] = i as u32;
            i = parent;
        }
        self.entries[i] = entry;
        self.position[entry.1 as usize] = i as u32;
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.entries.len();
        let entry = self.entries[i];
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.entries[right].0.before(&self.entries[left].0) { right } else { left };
            if !self.entries[child].0.before(&entry.0) {
                break;
            }
            self.entries[i] = self.entries[child];
            self.position[self.entries[i].1 as usize] = i as u32;
            i = child;
        }
        self.entries[i] = entry;
        self.position[entry.1 as usize] = i as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl HeapKey for u64 {
        fn before(&self, other: &Self) -> bool {
            self < other
        }
    }

    /// Random pushes, pops and removals against a sorted list.
    #[test]
    fn heap_pops_in_order_and_removes_any_slot() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut heap = IndexedHeap::<u64>::with_capacity(4);
        let mut present: Vec<(u64, u32)> = Vec::new();
        let mut next_slot = 0u32;
        for _ in 0..20_000 {
            match rng.random_range(0..3) {
                0 => {
                    let key = rng.random_range(0..50u64);
                    heap.push(key, next_slot);
                    present.push((key, next_slot));
                    next_slot += 1;
                }
                1 => {
                    let popped = heap.pop();
                    let min = present.iter().map(|p| p.0).min();
                    assert_eq!(popped.map(|p| p.0), min);
                    if let Some((_, slot)) = popped {
                        present.retain(|p| p.1 != slot);
                    }
                }
                _ if !present.is_empty() => {
                    let (key, slot) = present.swap_remove(rng.random_range(0..present.len()));
                    assert_eq!(heap.remove(slot), Some(key));
                    assert_eq!(heap.remove(slot), None);
                }
                _ => {}
            }
            assert_eq!(heap.len(), present.len());
        }
        heap.rekey(|k, _| 100 - k);
        let mut last = 0;
        while let Some((k, _)) = heap.pop() {
            assert!(k >= last);
            last = k;
        }
    }
}
