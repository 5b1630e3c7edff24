//! Studies: identical results for any thread count, for shards merged, and for interrupted runs
//! resumed; errors that name the study file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::root;

fn flexrnn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flexrnn"));
    command.current_dir(root());
    command
}

/// A small study over the shipped default scenario: 2 loads × 2 replications × 3 policies = 12 runs, 4 s each.
fn write_study(dir: &Path) -> PathBuf {
    let text = format!(
        "name: small\nseed: 11\nscenario: {}\nreplications: 2\nset:\n  duration: 4s\n  node.power: {{ idle: 0.5W, busy: 2W }}\naxes:\n  - path: processes.requests.rate\n    values: [4/s, 16/s]\n",
        root().join("scenarios/default.yaml").display()
    );
    let path = dir.join("small.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every file under `dir`, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(path.strip_prefix(base).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn study(study: &Path, out: &Path, extra: &[&str]) -> String {
    let output = flexrnn().arg("study").arg(study).arg("--out").arg(out).args(extra).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn threads_shards_and_resumes_give_byte_identical_studies() {
    let input = tempfile::tempdir().unwrap();
    let file = write_study(input.path());
    let work = tempfile::tempdir().unwrap();
    let one = work.path().join("one");
    let stdout = study(&file, &one, &["--jobs", "1"]);
    assert!(stdout.contains("12 runs simulated, 0 reused"), "{stdout}");
    assert!(stdout.contains("| 1 processes.requests.rate=16/s |"), "{stdout}");
    let reference = tree(&one);
    let mut expected_files: Vec<String> =
        ["runs.csv", "summary.csv", "paired.csv", "summary.md", "view.json", "study.json", "study.yaml", "report.html"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for figure in ["miss_rate_vs_load", "accuracy_vs_flops", "latency_cdf", "setting_share", "energy_vs_accuracy"] {
        for file in ["svg", "pdf", "png", "csv", "-wide.svg", "-wide.pdf", "-wide.png"].map(|e| {
            if e.starts_with('-') {
                format!("{figure}{e}")
            } else {
                format!("{figure}.{e}")
            }
        }) {
            expected_files.push(format!("figures/{file}"));
        }
    }
    for expected in &expected_files {
        assert!(reference.contains_key(Path::new(expected)), "{expected} missing");
    }
    assert_eq!(reference.keys().filter(|p| p.starts_with("runs")).count(), 12);
    // Summary: 2 points × 3 policies × 8 metrics, each with n = 2 replications.
    let summary = String::from_utf8(reference[Path::new("summary.csv")].clone()).unwrap();
    assert_eq!(summary.lines().count(), 1 + 2 * 3 * 8, "{summary}");
    assert!(summary.lines().skip(1).all(|l| l.split(',').nth(5) == Some("2")), "{summary}");
    let stamp = String::from_utf8(reference[Path::new("study.json")].clone()).unwrap();
    assert!(stamp.contains("\"complete\": true") && stamp.contains("report.html"), "{stamp}");
    // runs.csv: `seed_hex` is `seed` as text no CSV reader takes for a number (issue 10: seeds above
    // 2^53 lost precision in R).
    let runs = String::from_utf8(reference[Path::new("runs.csv")].clone()).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    assert_eq!(header[..7], ["point", "point_label", "offered_load", "replication", "seed", "seed_hex", "run_policy"]);
    let mut above_2_pow_53 = 0;
    for line in runs.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let seed: u64 = fields[4].parse().unwrap();
        assert_eq!(fields[5], format!("x{seed:016x}"), "{line}");
        above_2_pow_53 += usize::from(seed > 1 << 53);
    }
    assert!(above_2_pow_53 > 0, "the study's seeds are 64-bit");
    let html = String::from_utf8(reference[Path::new("report.html")].clone()).unwrap();
    assert!(html.contains("<svg") && html.contains("greedy_slack") && !html.contains("http"), "self-contained report");

    // Two threads.
    let two = work.path().join("two");
    study(&file, &two, &["--jobs", "2"]);
    assert!(tree(&two) == reference, "2 threads differ from 1");

    // Three shards in separate folders, merged.
    let shards: Vec<PathBuf> = (1..=3).map(|i| work.path().join(format!("shard{i}"))).collect();
    for (i, shard) in shards.iter().enumerate() {
        let stdout = study(&file, shard, &["--shard", &format!("{}/3", i + 1)]);
        assert!(stdout.contains("4 runs recorded"), "{stdout}");
    }
    let merged = work.path().join("merged");
    let incomplete = flexrnn().arg("merge").arg(&file).arg(&shards[0]).arg("--out").arg(&merged).output().unwrap();
    assert!(!incomplete.status.success());
    let message = String::from_utf8_lossy(&incomplete.stderr);
    assert!(message.contains("8 of 12 runs have no valid record"), "{message}");
    let missing = flexrnn().arg("merge").arg(&file).arg(work.path().join("nope")).output().unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such folder"));
    let output = flexrnn().arg("merge").arg(&file).args(&shards).arg("--out").arg(&merged).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(tree(&merged) == reference, "sharded + merged differs from unsharded");

    // The SLURM example script, as two array tasks would run it, then merged.
    let cluster = work.path().join("cluster");
    std::fs::create_dir_all(cluster.join("target/release")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_flexrnn"), cluster.join("target/release/flexrnn")).unwrap();
    for task in ["1", "2"] {
        let output = Command::new("bash")
            .arg(root().join("scripts/slurm-study.sh"))
            .arg(&file)
            .current_dir(&cluster)
            .env("SLURM_ARRAY_TASK_ID", task)
            .env("SLURM_ARRAY_TASK_COUNT", "2")
            .env("SLURM_CPUS_PER_TASK", "1")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let from_slurm = work.path().join("from-slurm");
    let output = flexrnn()
        .arg("merge")
        .arg(&file)
        .arg(cluster.join("results/small-shards/shard-1"))
        .arg(cluster.join("results/small-shards/shard-2"))
        .arg("--out")
        .arg(&from_slurm)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(tree(&from_slurm) == reference, "the SLURM script's shards, merged, differ from unsharded");

    // An interrupted study: some records never written, one cut short, a temporary file left
    // behind by the kill, no aggregate files yet. Resuming runs only what is missing.
    let resumed = work.path().join("resumed");
    std::fs::create_dir_all(resumed.join("runs")).unwrap();
    std::fs::write(resumed.join("study.json"), &reference[Path::new("study.json")]).unwrap();
    let mut kept = 0;
    for (path, bytes) in reference.iter().filter(|(p, _)| p.starts_with("runs")) {
        kept += 1;
        match kept % 3 {
            0 => {}                                                                      // never written
            1 => std::fs::write(resumed.join(path), bytes).unwrap(),                     // finished
            _ => std::fs::write(resumed.join(path), &bytes[..bytes.len() / 2]).unwrap(), // cut short
        }
    }
    std::fs::write(resumed.join("runs/.flexrnn-tmp-abc123"), b"{\"partial").unwrap();
    // A record of a grid point the study no longer has (e.g. an axis value removed).
    std::fs::write(resumed.join("runs/p009-r000-k00.json"), &reference[Path::new("runs/p000-r000-k00.json")]).unwrap();
    let stdout = study(&file, &resumed, &[]);
    assert!(stdout.contains("8 runs simulated, 4 reused"), "{stdout}");
    assert!(stdout.contains("removed 1 run record(s)"), "{stdout}");
    assert!(tree(&resumed) == reference, "resumed study differs from an uninterrupted one");
}

#[test]
fn study_errors_name_the_file_line_and_allowed_values() {
    let input = tempfile::tempdir().unwrap();
    let file = write_study(input.path());
    // A bad path injected into the study file's text: the error must name its line.
    let text = std::fs::read_to_string(&file).unwrap().replace("processes.requests.rate", "processes.request.rate");
    std::fs::write(&file, text).unwrap();
    let output = flexrnn().arg("study").arg(&file).arg("--out").arg(input.path().join("o")).output().unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("small.yaml:9:") && message.contains("no element named `request`"), "{message}");
    assert!(message.contains("digits, requests, batch-job"), "{message}");
    let out = input.path().join("o");
    assert!(!out.exists(), "nothing written for a bad study");
    // A folder holding something else is never used.
    let foreign = input.path().join("thesis");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("thesis.tex"), b"x").unwrap();
    let good = write_study(input.path());
    let output = flexrnn().arg("study").arg(&good).arg("--out").arg(&foreign).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a flexrnn study folder"));
    let output = flexrnn().arg("study").arg(&good).args(["--shard", "4/3"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("need 1 ≤ I ≤ N"));
}

/// `study --force` into a folder holding other files writes the study among them and never touches
/// them — not even a file named like a run record that is not one.
#[test]
fn study_with_force_writes_among_foreign_files_and_keeps_them() {
    let input = tempfile::tempdir().unwrap();
    let text = format!(
        "name: tiny\nseed: 1\nscenario: {}\nreplications: 1\nset:\n  duration: 1s\n",
        root().join("scenarios/default.yaml").display()
    );
    let file = input.path().join("tiny.yaml");
    std::fs::write(&file, text).unwrap();
    let out = input.path().join("thesis");
    std::fs::create_dir_all(out.join("runs")).unwrap();
    std::fs::write(out.join("thesis.tex"), "mine").unwrap();
    std::fs::write(out.join("runs/p099-r000-k00.json"), "{}").unwrap();
    let refused = flexrnn().arg("study").arg(&file).arg("--out").arg(&out).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert!(!out.join("study.json").exists());
    study(&file, &out, &["--force"]);
    assert_eq!(std::fs::read_to_string(out.join("thesis.tex")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(out.join("runs/p099-r000-k00.json")).unwrap(), "{}");
    assert!(out.join("report.html").is_file() && out.join("runs/p000-r000-k00.json").is_file());
    // Now the study's folder: a rerun needs no --force and reuses every run.
    let stdout = study(&file, &out, &[]);
    assert!(stdout.contains("0 runs simulated, 3 reused"), "{stdout}");
    assert_eq!(std::fs::read_to_string(out.join("runs/p099-r000-k00.json")).unwrap(), "{}");
}

/// A study over a scenario whose background load is at or above 100 % warns as `run` does, once per
/// grid point (issue 10: `study` did not warn at all).
#[test]
fn study_warns_about_background_load_at_or_above_capacity_once_per_point() {
    let input = tempfile::tempdir().unwrap();
    let text = format!(
        "name: overload\nseed: 3\nscenario: {}\nreplications: 2\nset:\n  duration: 1s\naxes:\n  - path: processes.requests.rate\n    values: [4/s, 40/s, 60/s]\n",
        root().join("scenarios/default.yaml").display()
    );
    let file = input.path().join("overload.yaml");
    std::fs::write(&file, text).unwrap();
    let output = flexrnn().arg("study").arg(&file).arg("--out").arg(input.path().join("o")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    // Requests of 500 kFLOP at 40/s on 25 MFLOP/s: 80 %, plus the on/off batch job's 50 %.
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("grid point 1 (processes.requests.rate=40/s)") && warnings[0].contains("130%"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("grid point 2 (processes.requests.rate=60/s)") && warnings[1].contains("170%"),
        "{stderr}"
    );
    assert!(warnings.iter().all(|w| w.contains("overload.yaml") && w.contains("grow without bound")), "{stderr}");
}

/// Writes the one-point, one-replication study `name` (3 runs of 1 s) with `seed` into `dir`.
fn write_tiny(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let text = format!(
        "name: {name}\nseed: {seed}\nscenario: {}\nreplications: 1\nset:\n  duration: 1s\n",
        root().join("scenarios/default.yaml").display()
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    file
}

/// Issue 10 follow-up: `rm -rf A/runs; ln -s ../Bst/runs A/runs; study tiny.yaml --out A` took
/// another study's records as its own and deleted 4 of them; a `figures -> ../impfig` link was
/// written through.
#[cfg(unix)]
#[test]
fn study_never_reads_writes_or_deletes_through_a_symlink_in_its_folder() {
    let input = tempfile::tempdir().unwrap();
    let tiny = write_tiny(input.path(), "tiny", 1);
    let other = write_tiny(input.path(), "other", 2);
    let (a, b) = (input.path().join("A"), input.path().join("Bst"));
    study(&tiny, &a, &[]);
    study(&other, &b, &[]);
    let b_before = tree(&b);
    std::fs::remove_dir_all(a.join("runs")).unwrap();
    std::os::unix::fs::symlink("../Bst/runs", a.join("runs")).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let output = flexrnn().arg("study").arg(&tiny).arg("--out").arg(&a).args(extra).output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("`runs` is a symbolic link"), "{stderr}");
    }
    assert!(tree(&b) == b_before, "the other study's records untouched");
    std::fs::remove_file(a.join("runs")).unwrap();
    let impfig = input.path().join("impfig");
    std::fs::create_dir(&impfig).unwrap();
    std::fs::write(impfig.join("keep.svg"), "mine").unwrap();
    std::fs::remove_dir_all(a.join("figures")).unwrap();
    std::os::unix::fs::symlink("../impfig", a.join("figures")).unwrap();
    let output = flexrnn().arg("study").arg(&tiny).arg("--out").arg(&a).arg("--force").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("`figures` is a symbolic link"));
    assert_eq!(std::fs::read_dir(&impfig).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(impfig.join("keep.svg")).unwrap(), "mine");
}

/// Issue 10 follow-up: `study --force` and `merge --force` deleted a record copied from another study
/// into `runs/`. Only records that study.json lists or whose fingerprint is this study's are removed.
#[test]
fn study_and_merge_keep_run_records_of_other_studies_and_remove_only_their_own() {
    let input = tempfile::tempdir().unwrap();
    let tiny = write_tiny(input.path(), "tiny", 1);
    let other = write_tiny(input.path(), "other", 2);
    let (su2, b) = (input.path().join("su2"), input.path().join("b"));
    study(&other, &b, &[]);
    study(&tiny, &su2, &[]);
    let foreign = std::fs::read(b.join("runs/p000-r000-k01.json")).unwrap();
    std::fs::write(su2.join("runs/p005-r000-k00.json"), &foreign).unwrap();
    // A record of this study no longer part of it (as after lowering `replications`): its own.
    let own = std::fs::read(su2.join("runs/p000-r000-k02.json")).unwrap();
    let stamp: serde_json::Value = serde_json::from_slice(&std::fs::read(su2.join("study.json")).unwrap()).unwrap();
    assert_eq!(stamp["records"], serde_json::json!(["p000-r000-k00.json", "p000-r000-k01.json", "p000-r000-k02.json"]));
    std::fs::write(su2.join("runs/p000-r000-k07.json"), &own).unwrap();
    let output = flexrnn().arg("study").arg(&tiny).arg("--out").arg(&su2).arg("--force").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("removed 1 run record(s)"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kept 1 file(s)") && stderr.contains("runs/p005-r000-k00.json"), "{stderr}");
    assert_eq!(std::fs::read(su2.join("runs/p005-r000-k00.json")).unwrap(), foreign);
    assert!(!su2.join("runs/p000-r000-k07.json").exists());
    let output = flexrnn().arg("merge").arg(&tiny).arg(&su2).arg("--out").arg(input.path().join("m")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let m = input.path().join("m");
    std::fs::write(m.join("runs/p005-r000-k00.json"), &foreign).unwrap();
    let output = flexrnn().arg("merge").arg(&tiny).arg(&su2).arg("--out").arg(&m).arg("--force").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read(m.join("runs/p005-r000-k00.json")).unwrap(), foreign);
}
