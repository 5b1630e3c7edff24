//! The one seed derivation of the simulator: every random stream of a run and every run of a study
//! gets its seed from a parent seed and a label through [`derive()`].
//!
//! | what | parent | label | source |
//! |---|---|---|---|
//! | background process or RNN stream `name` ([`crate::workload::process_rng`]) | scenario seed | `name` | workload |
//! | the policy of stream `name` | scenario seed | `name/policy` | policy registry |
//! | the stage durations of stream `name`'s pipeline | scenario seed | `name/pipeline` | engine |
//! | replication `r` at grid point `p` of a study ([`crate::study::spec::Study::run_seed`]) | study seed | `study/point p/replication r` | study |
//!
//! A seed depends only on its parent and its label, never on the order in which streams are created,
//! on other processes or policies, or on the thread count: adding a process leaves the others' draws
//! unchanged, and every policy of a study run sees the same background work (common random numbers).
//! The derivation is fixed by the formula below (no `Hash` or `RandomState`), so results are the same
//! on every platform and Rust version. Model training and `flexrnn eval` draw from their own
//! documented seeds (`--seed`), not from this function.

/// FNV-1a (64-bit) of `text` (Fowler–Noll–Vo, offset basis 0xcbf29ce484222325, prime
/// 0x100000001b3): a stable hash, identical on every platform and Rust version.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014):
/// one step of the generator, which spreads a 64-bit value over all bits.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The seed of the random stream called `label` under the parent seed `parent`:
/// `splitmix64(parent) XOR fnv1a(label)` (both defined above).
///
/// SplitMix64 makes neighbouring parents (seeds 1, 2, 3, …) unrelated; FNV-1a separates labels.
/// The result is meant to seed a generator that mixes its seed again (PCG-64's `seed_from_u64`) or
/// to be a parent itself, as a study run's seed is for the run's processes.
pub fn derive(parent: u64, label: &str) -> u64 {
    splitmix64(parent) ^ fnv1a(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_match_their_published_reference_values() {
        // FNV-1a 64 test vectors (Fowler–Noll–Vo reference code) and SplitMix64's first output for
        // state 0 (Vigna's splitmix64.c): if these change, every published result changes.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a("foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn derive_is_pinned_and_separates_parents_and_labels() {
        assert_eq!(derive(0, ""), splitmix64(0) ^ 0xcbf2_9ce4_8422_2325);
        assert_eq!(derive(7, "jobs"), derive(7, "jobs"));
        let seeds = [derive(1, "jobs"), derive(2, "jobs"), derive(1, "video"), derive(1, "jobs/policy")];
        for (i, a) in seeds.iter().enumerate() {
            for b in &seeds[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
