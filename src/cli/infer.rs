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
    #[arg(long)]
    setting: Option<String>,
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
    let setting = match &args.setting {
        Some(name) => model.add_setting(name).map_err(|e| {
            anyhow::anyhow!(
                "{}: --setting {name}: {e}; the settings are {}",
                args.model_dir.display(),
                model.settings().iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            )
        })?,
        None if model.settings().len() == 1 => 0,
        None => anyhow::bail!(
            "{}: give --setting, one of {}",
            args.model_dir.display(),
            model.settings().iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
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
        for t in 0..set.length(i) {
            let plan = model.plan(setting, &mut state);
            model.step(setting, plan.updates.then(|| set.frame(i, t)), &mut state);
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
    say!(
        "wrote {} ({} sequences of `{}`, setting {})",
        args.out.display(),
        indices.len(),
        task.id,
        model.settings()[setting].name
    );
    Ok(())
}
