//! Change points of random setting schedules, shared by every trainer and by
//! [`random_width_schedule`](super::nested::random_width_schedule).

/// The steps at which a random schedule over `steps` steps changes its setting: `changes` distinct
/// steps drawn uniformly from `1..steps` (at most `steps − 1` of them), sorted ascending. Shared by the
/// width schedules of nested training, SkipW's knob schedules and the bank's switch schedules, so
/// every trainer draws change points the same way.
pub fn change_steps(steps: usize, changes: usize, rng: &mut impl rand::Rng) -> Vec<usize> {
    let slots = steps.saturating_sub(1);
    let mut points: Vec<usize> =
        rand::seq::index::sample(rng, slots, changes.min(slots)).into_iter().map(|p| p + 1).collect();
    points.sort_unstable();
    points
}
