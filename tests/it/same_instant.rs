//! Issue 10, defect 2: events at equal times (the ordering contract of ARCHITECTURE.md) through the
//! whole YAML → simulation path. A job whose work is done at `t` ends at `t`, before arrivals,
//! preemptions and deadline checks at `t`.

use flexrnn::sim::SimTime;

use crate::run_text;

/// The head of a scenario file (these tests go through the YAML path on purpose): one core of
/// `speed` under `scheduler` for `duration`; the processes follow.
fn node(scheduler: &str, speed: &str, duration: &str) -> String {
    format!("name: same-instant\nseed: 1\nduration: {duration}\nnode:\n  cores: 1\n  speed: {speed}\n  scheduler: {scheduler}\nprocesses:\n")
}

/// One core of 1 GFLOP/s: L (2 GFLOP, released at 0, deadline 2 s) and H (1 FLOP, released at 2 s).
/// L ends at exactly 2 s — not missed — under EDF, and H does not preempt it under fixed priority.
#[test]
fn job_done_when_another_arrives_ends_on_time_under_edf_and_fixed_priority() {
    for (scheduler, h_priority) in [("edf", 0), ("fixed_priority", 0), ("processor_sharing", 0)] {
        let text = node(scheduler, "1GFLOP/s", "3s")
            + "  - name: l\n    kind: periodic\n    period: 10s\n    deadline: 2s\n    priority: 1\n    work: { constant: 2GFLOP }\n"
            + &format!("  - name: h\n    kind: periodic\n    period: 10s\n    phase: 2s\n    deadline: 1s\n    priority: {h_priority}\n    work: {{ constant: 1FLOP }}\n");
        let (_, _, results) = run_text(&text, false);
        let jobs = &results[0].outcome.recorder.jobs;
        let l = jobs.iter().find(|j| j.process == 0).expect("L finished");
        assert_eq!(l.end, SimTime(2_000_000_000), "{scheduler}: L ends at {:?}", l.end);
        assert!(l.end <= l.deadline.unwrap(), "{scheduler}: L missed its deadline");
        let h = jobs.iter().find(|j| j.process == 1).expect("H finished");
        assert_eq!(h.end, SimTime(2_000_000_001), "{scheduler}");
    }
}

/// The same with a finishing time that is not a whole nanosecond: L (100 MFLOP on 300 MFLOP/s) is
/// done at 333 333 333.3 ns, i.e. at 333 333 333 ns with a third of a nanosecond of work left in
/// floating point. A higher-priority H released at that nanosecond finds L already ended (without the
/// ordering contract L would be preempted with 0.1 FLOP left and end after H, at 666 666 666 ns).
#[test]
fn job_done_within_half_a_nanosecond_of_an_arrival_is_not_preempted() {
    let text = node("fixed_priority", "300MFLOP/s", "3s")
        + "  - name: l\n    kind: periodic\n    period: 10s\n    priority: 1\n    work: { constant: 100MFLOP }\n"
        + "  - name: h\n    kind: periodic\n    period: 10s\n    phase: 333333333ns\n    priority: 0\n    work: { constant: 100MFLOP }\n";
    let (_, _, results) = run_text(&text, false);
    let jobs = &results[0].outcome.recorder.jobs;
    let end = |p: usize| jobs.iter().find(|j| j.process == p).expect("finished").end;
    assert_eq!(end(0), SimTime(333_333_333));
    assert_eq!(end(1), SimTime(666_666_666));
}

/// Periodic tasks with harmonic periods (10, 20, 40 ms) at utilisation exactly 1 on one core: zero
/// deadline misses under EDF and under rate-monotonic fixed priorities (shorter period, higher
/// priority), as scheduling theory says.
#[test]
fn harmonic_periodic_tasks_at_utilisation_one_have_no_misses_under_edf_and_rate_monotonic() {
    for scheduler in ["edf", "fixed_priority"] {
        let mut text = node(scheduler, "1GFLOP/s", "2s");
        for (i, (period, work)) in [(10, 5), (20, 5), (40, 10)].iter().enumerate() {
            text += &format!(
                "  - name: t{i}\n    kind: periodic\n    period: {period}ms\n    priority: {i}\n    work: {{ constant: {work}MFLOP }}\n"
            );
        }
        let (_, _, results) = run_text(&text, false);
        let jobs = &results[0].outcome.recorder.jobs;
        assert!(jobs.len() >= 340, "{scheduler}: {} jobs finished", jobs.len());
        let missed = jobs.iter().filter(|j| j.end > j.deadline.unwrap()).count();
        assert_eq!(missed, 0, "{scheduler}: {missed} of {} jobs missed", jobs.len());
    }
}

/// A GRU-16 frame (1 888 FLOP) on a core of 377 600 FLOP/s takes exactly its 5 ms deadline; a
/// 1-FLOP job arrives at every such deadline. Every frame but a sequence's last (which also pays the
/// readout) ends exactly at its deadline and is not missed.
#[test]
fn frame_ending_exactly_at_its_deadline_is_not_missed_when_a_job_arrives_then() {
    let text = node("processor_sharing", "377600FLOP/s", "1s")
        + "  - name: digits\n    kind: rnn_stream\n    dataset: digits\n    models: ../models/digits-gru\n    sequences: 1\n    period: 10ms\n    deadline: 5ms\n    on_miss: continue\n    policies:\n      - static: { model: gru-16 }\n"
        + "  - name: tick\n    kind: periodic\n    period: 10ms\n    phase: 5ms\n    work: { constant: 1FLOP }\n";
    let (_, _, results) = run_text(&text, false);
    let steps = &results[0].outcome.recorder.steps;
    assert_eq!(steps.len(), 64);
    for step in steps.iter().filter(|s| s.step < 63) {
        assert_eq!(step.end, Some(step.deadline), "step {} ends at {:?}", step.step, step.end);
        assert!(!step.missed, "step {} ended at its deadline but counts as missed", step.step);
    }
    assert!(steps[63].missed, "the last step also pays the readout: 5.87 ms > 5 ms");
}
