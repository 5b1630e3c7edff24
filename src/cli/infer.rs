//! `flexrnn infer`: one setting of a model folder over a task's sequences; per sequence the readout
//! (logits, or the regression output), the prediction, the label and optionally the final state, as
//! CSV — what a user compares with their own framework's outputs.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use crate::data::{self, SplitPart};
use crate::rnn::model::argmax;
use crate::rnn::FlexibleModel;

#[derive(Debug, clap::Args)]
pub(crate) struct InferArgs {
    /// Model folder (with card.json) of any family.
    model_dir: PathBuf,
    /// Task id whose sequences to run [default: the card's task].
    #[arg(long)]
    data: Option<String>,
    /// The setting every step runs (a model name such as `gru-64`, or a knob setting the family
    /// accepts, e.g. `thr-64@thr=0.3`) [default: the only setting of a one-setting folder].
    #[arg(long, conflicts_with = "schedule")]
    setting: Option<String>,
    /// Settings changed mid-sequence, as `SETTING@FIRST_STEP;SETTING@FIRST_STEP;…` (the first at step
    /// 0, steps increasing), e.g. `gru-16@0;gru-128@32`: every sequence runs `gru-16` for steps 0–31
    /// and `gru-128` from step 32 on, the state carried across as in the simulator (the bank's map).
    #[arg(long)]
    schedule: Option<String>,
    /// Which sequences: `test`, `validation`, `train` or `all` (every sequence, in data-set order).
    #[arg(long, default_value = "test")]
    split: String,
    /// Output CSV file.
    #[arg(long)]
    out: PathBuf,
    /// Also write the final state: `h_0…` (and `c_0…` for an LSTM) of the model in use; of every layer
    /// for a stacked model, bottom layer first: `h_l0_0…`, `c_l0_0…`, `h_l1_0…`, ….
    #[arg(long)]
    states: bool,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
}

/// `f32` as Rust writes it: the shortest text that reads back to the same `f32`.
fn number(v: f32) -> String {
    format!("{v}")
}

/// Runs `flexrnn infer` (see the module doc).
pub(crate) fn infer(args: InferArgs) -> anyhow::Result<()> {
    crate::output::check_file(&args.out, args.force)?;
    let mut model = FlexibleModel::load(&args.model_dir)?;
    let settings_list =
        |model: &FlexibleModel| model.settings().iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    // (first step, setting) pairs: one pair starting at 0 without --schedule.
    let mut schedule: Vec<(usize, usize)> = Vec::new();
    match (&args.setting, &args.schedule) {
        (_, Some(text)) => {
            for (k, entry) in text.split(';').enumerate() {
                let Some((name, step)) = entry.trim().rsplit_once('@') else {
                    anyhow::bail!("--schedule: `{entry}` is not SETTING@FIRST_STEP (e.g. `gru-16@0;gru-128@32`)")
                };
                let step: usize = step.trim().parse().map_err(|_| {
                    anyhow::anyhow!("--schedule: `{entry}`: the first step `{step}` is not a whole number")
                })?;
                let index = model.add_setting(name.trim()).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: --schedule: {name}: {e}; the settings are {}",
                        args.model_dir.display(),
                        settings_list(&model)
                    )
                })?;
                match schedule.last() {
                    None if step != 0 => {
                        anyhow::bail!("--schedule: the first setting must start at step 0, not {step}")
                    }
                    Some(&(previous, _)) if step <= previous => {
                        anyhow::bail!("--schedule: entry {} starts at step {step}, not after {previous}", k + 1)
                    }
                    _ => schedule.push((step, index)),
                }
            }
        }
        (Some(name), None) => {
            let index = model.add_setting(name).map_err(|e| {
                anyhow::anyhow!(
                    "{}: --setting {name}: {e}; the settings are {}",
                    args.model_dir.display(),
                    settings_list(&model)
                )
            })?;
            schedule.push((0, index));
        }
        (None, None) if model.settings().len() == 1 => schedule.push((0, 0)),
        (None, None) => anyhow::bail!(
            "{}: give --setting (or --schedule), one of {}",
            args.model_dir.display(),
            settings_list(&model)
        ),
    }
    // The setting in force at the end of a sequence decides the final state's size.
    let setting = schedule.last().expect("at least one entry").1;
    let id = args.data.clone().unwrap_or_else(|| model.task().to_string());
    let cwd = std::env::current_dir().context("reading the working folder")?;
    let task = data::TaskSpec::parse(&id)?.resolved(&cwd).load().with_context(|| format!("--data {id}"))?;
    let set = &task.set;
    let regression = set.is_regression();
    let fits = if regression { model.classes() == 1 } else { set.classes <= model.classes() };
    anyhow::ensure!(
        set.features == model.input_size() && fits,
        "task `{}` has {} features and {}; the model of {} reads {} features and has {} outputs",
        task.id,
        set.features,
        if regression { "one real target (regression)".to_string() } else { format!("{} classes", set.classes) },
        args.model_dir.display(),
        model.input_size(),
        model.classes()
    );
    let mut part_of = vec![""; set.len()];
    for (part, name) in [(SplitPart::Train, "train"), (SplitPart::Validation, "validation"), (SplitPart::Test, "test")]
    {
        for &i in task.split.indices(part) {
            part_of[i] = name;
        }
    }
    let indices: Vec<usize> = match args.split.as_str() {
        "all" => (0..set.len()).collect(),
        "test" => task.split.indices(SplitPart::Test).to_vec(),
        "validation" => task.split.indices(SplitPart::Validation).to_vec(),
        "train" => task.split.indices(SplitPart::Train).to_vec(),
        other => anyhow::bail!("--split {other}: write test, validation, train or all"),
    };
    anyhow::ensure!(
        !indices.is_empty(),
        "--split {}: task `{}` has no {} sequences (its split: {} train, {} validation, {} test); choose another --split",
        args.split,
        task.id,
        args.split,
        task.split.indices(SplitPart::Train).len(),
        task.split.indices(SplitPart::Validation).len(),
        task.split.indices(SplitPart::Test).len()
    );
    let longest = indices.iter().map(|&i| set.length(i)).max().unwrap_or(0);
    if let Some(&(step, index)) = schedule.iter().find(|&&(step, _)| step >= longest) {
        anyhow::bail!(
            "--schedule: `{}@{step}` starts at step {step}, but the longest selected sequence of `{}` has {longest} steps (0–{})",
            model.settings()[index].name,
            task.id,
            longest.saturating_sub(1)
        );
    }
    let classes = model.classes();
    let hidden = model.settings()[setting].hidden;
    let lstm = model.cell_kind() == crate::rnn::cell::CellKind::Lstm;
    let mut csv = String::from("sequence,part,steps,");
    csv.push_str(if regression { "target,output" } else { "label,prediction" });
    if !regression {
        (0..classes).for_each(|k| write!(csv, ",logit_{k}").expect("writing to a string"));
    }
    let layers = model.layers();
    if args.states {
        for layer in 0..layers {
            let tag = if layers == 1 { String::new() } else { format!("l{layer}_") };
            (0..hidden).for_each(|k| write!(csv, ",h_{tag}{k}").expect("writing to a string"));
            if lstm {
                (0..hidden).for_each(|k| write!(csv, ",c_{tag}{k}").expect("writing to a string"));
            }
        }
    }
    csv.push('\n');
    let mut state = model.new_state();
    let mut outputs = vec![0.0f32; classes];
    for &i in &indices {
        state.reset();
        let mut entry = 0;
        for t in 0..set.length(i) {
            while entry + 1 < schedule.len() && schedule[entry + 1].0 <= t {
                entry += 1;
            }
            let now = schedule[entry].1;
            let plan = model.plan(now, &mut state);
            model.step(now, plan.updates.then(|| set.frame(i, t)), &mut state);
        }
        model.logits(&mut state, &mut outputs);
        write!(csv, "{i},{},{}", part_of[i], set.length(i)).expect("writing to a string");
        if regression {
            write!(csv, ",{},{}", number(set.targets[i]), number(outputs[0])).expect("writing to a string");
        } else {
            write!(csv, ",{},{}", set.labels[i], argmax(&outputs)).expect("writing to a string");
            for &v in &outputs {
                write!(csv, ",{}", number(v)).expect("writing to a string");
            }
        }
        if args.states {
            for layer in 0..layers {
                let (h, c) = model.layer_state(&state, layer);
                for &v in h.iter().chain(c.unwrap_or(&[])) {
                    write!(csv, ",{}", number(v)).expect("writing to a string");
                }
            }
        }
        csv.push('\n');
    }
    crate::output::write_file(&args.out, args.force, csv.as_bytes())?;
    let used: Vec<String> =
        schedule.iter().map(|&(step, index)| format!("{}@{step}", model.settings()[index].name)).collect();
    let used = if schedule.len() == 1 { model.settings()[setting].name.clone() } else { used.join(";") };
    say!("wrote {} ({} sequences of `{}`, setting {used})", args.out.display(), indices.len(), task.id);
    Ok(())
}
