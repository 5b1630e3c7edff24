//! Job ids: whose a job on the node is ([`JobOwner`]) and the two-way map to the node's [`JobId`]s.

use crate::node::JobId;

/// Whose a job on the node is: the engine's view of a node [`JobId`] (see [`JobIds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JobOwner {
    /// A job of background process `process` in its in-flight slot `slot` (an on/off process: its
    /// job number).
    Background { process: usize, slot: u64 },
    /// The `number`-th RNN step job of stream `stream`.
    Step { stream: usize, number: u64 },
    /// A pipeline stage job of stream `stream` in stage slot `slot`.
    Stage { stream: usize, slot: u64 },
}

/// The two-way map between [`JobOwner`]s and the node's [`JobId`]s, sized for the world's owner count.
///
/// The node breaks ties by id (which of the jobs finishing at one instant is handled first, the
/// water-filling order; a round-robin core compares ids to its last job), so ids must sort and compare
/// as (owner index, kind, number): owner index = background process index, then number of background
/// processes + stream index; kind: background jobs and steps 0, stages 1. The owner index takes the top
/// `64 − 1 − number_bits` bits — as many as the count of owners needs, at least one —, the kind the
/// next bit, the number or slot the low `number_bits` bits (at least 31, since at most 2^32 owners
/// are allowed). A number wraps at 2^number_bits: only slots (below the jobs on the node at once) and
/// counters of owners with one job on the node at a time (steps, on/off jobs) are numbers, so two jobs
/// on the node never share an id.
#[derive(Debug, Clone, Copy)]
pub(super) struct JobIds {
    n_background: usize,
    number_bits: u32,
}

impl JobIds {
    /// Most owners (background processes + streams) a world may have.
    pub(super) const MAX_OWNERS: u64 = 1 << 32;

    /// The layout for `n_background` background processes and `n_streams` streams; `None` above
    /// [`JobIds::MAX_OWNERS`] owners.
    pub(super) fn new(n_background: usize, n_streams: usize) -> Option<JobIds> {
        let owners = n_background as u64 + n_streams as u64;
        if owners > Self::MAX_OWNERS {
            return None;
        }
        let owner_bits = (u64::BITS - owners.saturating_sub(1).leading_zeros()).max(1);
        Some(JobIds { n_background, number_bits: u64::BITS - 1 - owner_bits })
    }

    pub(super) fn id(self, owner: JobOwner) -> JobId {
        let (index, kind, number) = match owner {
            JobOwner::Background { process, slot } => (process, 0, slot),
            JobOwner::Step { stream, number } => (self.n_background + stream, 0, number),
            JobOwner::Stage { stream, slot } => (self.n_background + stream, 1, slot),
        };
        let mask = (1u64 << self.number_bits) - 1;
        JobId(((index as u64) << (self.number_bits + 1)) | (kind << self.number_bits) | (number & mask))
    }

    pub(super) fn owner(self, id: JobId) -> JobOwner {
        let index = (id.0 >> (self.number_bits + 1)) as usize;
        let stage = (id.0 >> self.number_bits) & 1 == 1;
        let number = id.0 & ((1u64 << self.number_bits) - 1);
        match index.checked_sub(self.n_background) {
            None => JobOwner::Background { process: index, slot: number },
            Some(stream) if stage => JobOwner::Stage { stream, slot: number },
            Some(stream) => JobOwner::Step { stream, number },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{JobIds, JobOwner};

    /// The node breaks ties by id, so ids must order as the 16-bit layout they replace did:
    /// (owner index, steps before stages, number). Any owner count fits; each id maps back.
    #[test]
    fn job_ids_round_trip_and_sort_by_owner_kind_number() {
        for (n_background, n_streams) in [(0, 1), (1, 0), (2, 3), (65_536, 2), (70_000, 1), (1 << 31, 1 << 31)] {
            let ids = JobIds::new(n_background, n_streams).expect("at most 2^32 owners");
            let last_stream = n_streams.saturating_sub(1);
            let owners = [
                (n_background > 0).then_some(JobOwner::Background { process: 0, slot: 0 }),
                (n_background > 0).then_some(JobOwner::Background { process: 0, slot: 5 }),
                (n_background > 0).then(|| JobOwner::Background { process: n_background - 1, slot: 1 << 30 }),
                (n_streams > 0).then_some(JobOwner::Step { stream: 0, number: 7 }),
                (n_streams > 0).then_some(JobOwner::Stage { stream: 0, slot: 0 }),
                (n_streams > 0).then_some(JobOwner::Step { stream: last_stream, number: (1 << 30) + 3 }),
                (n_streams > 0).then_some(JobOwner::Stage { stream: last_stream, slot: 2 }),
            ];
            let owners: Vec<JobOwner> = owners.into_iter().flatten().collect();
            let id_list: Vec<_> = owners.iter().map(|&o| ids.id(o)).collect();
            for (&owner, &id) in owners.iter().zip(&id_list) {
                assert_eq!(ids.owner(id), owner);
            }
            let key = |owner: JobOwner| match owner {
                JobOwner::Background { process, slot } => (process, 0, slot),
                JobOwner::Step { stream, number } => (n_background + stream, 0, number),
                JobOwner::Stage { stream, slot } => (n_background + stream, 1, slot),
            };
            for (a, b) in owners.iter().flat_map(|a| owners.iter().map(move |b| (a, b))) {
                assert_eq!(ids.id(*a).cmp(&ids.id(*b)), key(*a).cmp(&key(*b)), "{a:?} vs {b:?}");
            }
        }
        assert!(JobIds::new(1 << 32, 1).is_none());
    }
}
