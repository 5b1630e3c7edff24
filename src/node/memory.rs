//! Parameter memory: a fast memory of limited capacity holding model parameters, filled from slow
//! memory over one load channel.
//!
//! Blocks (one per model) are kept in least-recently-used order. A step whose block is not resident
//! first loads it: the load starts when the channel is free, takes `bytes / bandwidth`, and evicts
//! least-recently-used blocks until the new one fits. **Loads do not occupy a core** (a DMA engine
//! moves the bytes); the step's compute job is submitted when its load completes. A block larger than
//! the whole memory is streamed on every use and never stays resident. A block being loaded counts as
//! resident for later requests, which wait for the same load.

use crate::sim::SimTime;

/// Identifies a parameter block (e.g. a model of a bank), chosen by the caller.
pub type BlockId = u64;

#[derive(Debug, Clone, Copy)]
struct Resident {
    block: BlockId,
    bytes: u64,
    last_use: u64,
    ready_at: SimTime,
}

/// What a request for a block costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Resident and loaded: use it now.
    Hit,
    /// Resident or being loaded: usable at this time (a load in progress).
    Pending(SimTime),
    /// A new load was started: usable at this time; `bytes` move over the channel.
    Load {
        /// When the block is usable.
        ready_at: SimTime,
        /// Bytes loaded.
        bytes: u64,
    },
}

/// LRU parameter memory with one load channel.
#[derive(Debug, Clone)]
pub struct ParamMemory {
    capacity: u64,
    bandwidth: f64,
    resident: Vec<Resident>,
    used: u64,
    channel_free_at: SimTime,
    clock: u64,
}

impl ParamMemory {
    /// A memory of `capacity` bytes filled at `bandwidth` bytes/s.
    pub fn new(capacity: u64, bandwidth: f64) -> ParamMemory {
        ParamMemory {
            capacity,
            bandwidth,
            resident: Vec::with_capacity(16),
            used: 0,
            channel_free_at: SimTime::ZERO,
            clock: 0,
        }
    }

    /// Requests `block` of `bytes` at `now` (marking it most recently used).
    pub fn access(&mut self, now: SimTime, block: BlockId, bytes: u64) -> Access {
        self.clock += 1;
        if let Some(entry) = self.resident.iter_mut().find(|r| r.block == block) {
            entry.last_use = self.clock;
            return if entry.ready_at <= now { Access::Hit } else { Access::Pending(entry.ready_at) };
        }
        let start = self.channel_free_at.max(now);
        let ready_at = start.saturating_add(SimTime::from_secs_f64(bytes as f64 / self.bandwidth));
        self.channel_free_at = ready_at;
        if bytes <= self.capacity {
            while self.used + bytes > self.capacity {
                let lru = (0..self.resident.len())
                    .min_by_key(|&i| self.resident[i].last_use)
                    .expect("used > 0 means a block is resident");
                self.used -= self.resident[lru].bytes;
                self.resident.swap_remove(lru);
            }
            self.used += bytes;
            self.resident.push(Resident { block, bytes, last_use: self.clock, ready_at });
        }
        Access::Load { ready_at, bytes }
    }

    /// Whether `block` is resident (loaded or loading).
    pub fn is_resident(&self, block: BlockId) -> bool {
        self.resident.iter().any(|r| r.block == block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_eviction_and_load_times() {
        // 100 bytes of memory at 10 bytes/s.
        let mut memory = ParamMemory::new(100, 10.0);
        let t = SimTime::from_secs_f64;
        assert_eq!(memory.access(t(0.0), 1, 60), Access::Load { ready_at: t(6.0), bytes: 60 });
        // A second request during the load waits for it.
        assert_eq!(memory.access(t(1.0), 1, 60), Access::Pending(t(6.0)));
        // Block 2 queues behind block 1 on the channel: 6 s + 3 s.
        assert_eq!(memory.access(t(2.0), 2, 30), Access::Load { ready_at: t(9.0), bytes: 30 });
        assert_eq!(memory.access(t(10.0), 1, 60), Access::Hit);
        // Block 3 (40 bytes) evicts the least recently used: block 2.
        assert_eq!(memory.access(t(10.0), 3, 40), Access::Load { ready_at: t(14.0), bytes: 40 });
        assert!(memory.is_resident(1) && !memory.is_resident(2) && memory.is_resident(3));
        // A block larger than the memory is streamed every time.
        assert!(matches!(memory.access(t(20.0), 4, 200), Access::Load { .. }));
        assert!(matches!(memory.access(t(50.0), 4, 200), Access::Load { .. }));
        assert!(!memory.is_resident(4));
    }
}
