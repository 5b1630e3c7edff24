//! `flexrnn import`: PyTorch state dicts (safetensors) → a model folder that `run`, `study`, `eval`
//! and `infer` read (a switching bank of one or more models; see [`crate::rnn::io::import`]).

use std::path::PathBuf;

use anyhow::Context;

use crate::data;
use crate::rnn::cell::CellKind;
use crate::rnn::io::card::{BankCard, BankFamily, Card, CardImport, CardImportFile, CardModel};
use crate::rnn::io::import::{import_classifier, ImportNames};
use crate::rnn::io::{classifier_tensors, encode_tensors, map_tensors, readout_rows};
use crate::rnn::model::truncate_pad_map;

/// How the card states the state maps of an imported bank.
pub(crate) const TRUNCATE_PAD_MAPS: &str = "truncation / zero padding: a switch between models of different sizes keeps the first min(H_from, H_to) units of h (and of c for an LSTM; in every layer of a stacked cell) and sets the others to 0; maps.safetensors holds these as dense maps (their FLOPs are those of a dense map). `flexrnn import --fit-maps-on TASK` fits maps on data instead (ridge regression, as `flexrnn train` does).";

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// A PyTorch state dict saved as safetensors (`safetensors.torch.save_file(model.state_dict(),
    /// …)`); repeat for a switching bank of several models.
    #[arg(long = "model", required = true, value_name = "FILE")]
    models: Vec<PathBuf>,
    /// The task id the models solve (e.g. `digits`, `ts:TRAIN.ts,TEST.ts`): `eval`, `infer` and
    /// streams play its data; the readout must have its number of classes (1 for regression).
    #[arg(long)]
    task: String,
    /// Cell kind, `gru` or `lstm` [default: from the shapes: `weight_hh` of 3H rows is a GRU, 4H an
    /// LSTM].
    #[arg(long)]
    cell: Option<String>,
    /// Prefix of the recurrent layer's tensor names, e.g. `rnn.` for `rnn.weight_ih_l0`.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Prefix of the `nn.Linear` readout's tensor names: `<HEAD>weight` and `<HEAD>bias`.
    #[arg(long, default_value = "head.")]
    head: String,
    /// Fit the state maps of a bank of several models on this task's data (a task id, e.g. `digits`
    /// or `npz:TRAIN.npz`; it needs the models' input size), as `flexrnn train` does: ridge regression
    /// of each model's flat state on another's after every step of the task's training split, λ
    /// chosen on its validation split, measured on its test split [default: truncation / zero
    /// padding, fitted on nothing].
    #[arg(long, value_name = "TASK")]
    fit_maps_on: Option<String>,
    /// Output folder (the model folder).
    #[arg(long)]
    out: PathBuf,
    /// Replace a model folder already in --out (without it, an existing card.json is an error), or
    /// write into an --out folder holding files import did not write (files of the same names are
    /// replaced, nothing else is touched). A --model file is never overwritten.
    #[arg(long)]
    force: bool,
}

/// Runs `flexrnn import` (see the module doc).
pub(crate) fn import(args: ImportArgs, command: String) -> anyhow::Result<()> {
    use sha2::Digest;
    let cell = match args.cell.as_deref() {
        None => None,
        Some(text) => {
            Some(CellKind::parse(text).ok_or_else(|| anyhow::anyhow!("--cell `{text}`: write `gru` or `lstm`"))?)
        }
    };
    let rule = super::output_rule("import", args.force);
    super::check_out(&args.out, rule)?;
    let cwd = std::env::current_dir().context("reading the working folder")?;
    let task = data::TaskSpec::parse(&args.task)?.resolved(&cwd).load()?;
    let (input, classes) = (task.set.features, task.set.classes);
    let outputs = readout_rows(if task.is_regression() { 0 } else { classes });
    let names = ImportNames { prefix: args.prefix.clone(), head: args.head.clone(), cell };
    let mut imported = Vec::new();
    for (index, path) in args.models.iter().enumerate() {
        let bytes = crate::rnn::io::read(path)?;
        let sha256: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        let model = import_classifier(&bytes, path, &format!("model-{index}"), &names, input, outputs)?;
        if let Some((_, twin, _)) = imported.iter().find(|(_, _, other)| *other == sha256) {
            anyhow::bail!(
                "{}: the same bytes as --model {twin} (SHA-256 {sha256}); a bank holds each model once",
                path.display()
            );
        }
        // Recorded as an absolute path, as the card's task is, so that the card names the file
        // wherever it is read from.
        imported.push((model, cwd.join(path).display().to_string(), sha256));
    }
    let kind = imported[0].0.classifier.cell_kind();
    if let Some((other, path, _)) = imported.iter().find(|(m, _, _)| m.classifier.cell_kind() != kind) {
        anyhow::bail!(
            "{path}: an {} cell; the first --model ({}) is a {} cell, and a bank holds one cell kind",
            other.classifier.cell_kind(),
            imported[0].1,
            kind
        );
    }
    let layers = imported[0].0.classifier.cell.layers();
    if let Some((other, path, _)) = imported.iter().find(|(m, _, _)| m.classifier.cell.layers() != layers) {
        anyhow::bail!(
            "{path}: {} stacked layers; the first --model ({}) has {layers}, and a bank's models have one number of layers (its maps act layer by layer)",
            other.classifier.cell.layers(),
            imported[0].1,
        );
    }
    // Narrowest first (stable: files of one size keep their order); names `<cell>-<H>`, then `-2`, `-3`…
    imported.sort_by_key(|(m, _, _)| m.classifier.hidden_size());
    let mut used: Vec<String> = Vec::new();
    for (model, _, _) in imported.iter_mut() {
        let base = format!("{}-{}", kind.as_str(), model.classifier.hidden_size());
        let mut name = base.clone();
        let mut k = 2;
        while used.contains(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        used.push(name.clone());
        model.classifier.name = name;
    }
    let validation = task.part(data::SplitPart::Validation);
    let test = task.part(data::SplitPart::Test);
    let mut card_models = Vec::new();
    for (model, _, _) in &imported {
        let c = &model.classifier;
        let score = |set: &data::SequenceSet| (!set.is_empty()).then(|| crate::train::score(c, set).value());
        let (test_score, validation_score) = (score(&test), score(&validation));
        let regression = task.is_regression();
        card_models.push(CardModel {
            name: c.name.clone(),
            hidden: c.hidden_size(),
            flops_per_step: c.cell.flops_per_step(),
            flops_readout: c.flops_readout(),
            param_bytes: c.param_bytes(),
            test_accuracy: test_score.filter(|_| !regression),
            validation_accuracy: validation_score.filter(|_| !regression),
            test_mse: test_score.filter(|_| regression),
            validation_mse: validation_score.filter(|_| regression),
            best_epoch: 0,
            train_wall_s: 0.0,
            family: Some(kind.as_str().to_string()),
            flops_per_skip: None,
            budget_lambda: None,
            knob_grid: Vec::new(),
        });
    }
    let classifiers: Vec<crate::rnn::RnnClassifier> = imported.iter().map(|(m, _, _)| m.classifier.clone()).collect();
    let (maps, card_maps, fitted_on) = match &args.fit_maps_on {
        None => {
            let mut maps = Vec::new();
            for a in &classifiers {
                for b in &classifiers {
                    let (ha, hb) = (a.hidden_size(), b.hidden_size());
                    if ha != hb {
                        maps.push((a.name.clone(), b.name.clone(), truncate_pad_map(kind, layers, ha, hb)));
                    }
                }
            }
            (maps, Vec::new(), None)
        }
        Some(id) => {
            anyhow::ensure!(
                classifiers.len() >= 2,
                "--fit-maps-on {id}: a bank of one model has no state maps to fit; give two or more --model files"
            );
            let fit =
                data::TaskSpec::parse(id)?.resolved(&cwd).load().with_context(|| format!("--fit-maps-on {id}"))?;
            anyhow::ensure!(
                fit.set.features == input,
                "--fit-maps-on {}: {} features per step; the models read {input}",
                fit.id,
                fit.set.features
            );
            let (train, validation, test) = (
                fit.part(data::SplitPart::Train),
                fit.part(data::SplitPart::Validation),
                fit.part(data::SplitPart::Test),
            );
            anyhow::ensure!(
                !train.is_empty() && !validation.is_empty(),
                "--fit-maps-on {}: its split has {} training and {} validation sequences; the ridge fit needs both",
                fit.id,
                train.len(),
                validation.len()
            );
            let (_, named, card_maps) = crate::train::bank::fit_bank_maps(
                &classifiers,
                &train,
                &validation,
                &test,
                |from, to, mse, truncation| {
                    say!("map {from} → {to}: test MSE {mse:.5} (truncation / zero padding {truncation:.5})")
                },
            )
            .with_context(|| format!("fitting the state maps on {}", fit.id))?;
            (named, card_maps, Some(fit.id.clone()))
        }
    };
    let card = Card {
        task: task.id.clone(),
        cell: kind,
        layers,
        input,
        classes: if task.is_regression() { 0 } else { classes },
        family: BankCard { kind: BankFamily::Switch, models: card_models, maps: card_maps, switch_fine_tune: None },
        training: None,
        import: Some(CardImport {
            command,
            format: "PyTorch state_dict() saved as safetensors".into(),
            prefix: args.prefix.clone(),
            head: args.head.clone(),
            cell_from: if cell.is_some() { "flag" } else { "shapes" }.into(),
            files: imported
                .iter()
                .map(|(m, path, sha256)| CardImportFile {
                    model: m.classifier.name.clone(),
                    path: path.clone(),
                    sha256: sha256.clone(),
                    layout: m.layout.into(),
                    dtypes: m.dtypes.join(", "),
                })
                .collect(),
            state_maps: match &fitted_on {
                Some(id) => format!(
                    "ridge regression, as `flexrnn train` fits them: one affine map per ordered pair of models of their flat states (h, or [h; c]{}), fitted on the states after every step of the training split of task `{id}`, the penalty λ chosen on its validation split; `maps` gives each map's test-split MSE next to truncation / zero padding's",
                    if layers > 1 { ", of every layer" } else { "" }
                ),
                None if maps.is_empty() => "none (one model, or models of one size: the state passes as it is)".into(),
                None => TRUNCATE_PAD_MAPS.into(),
            },
            maps_fitted_on: fitted_on.clone(),
        }),
        seeds: None,
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (model, _, _) in &imported {
        let c = &model.classifier;
        files.push((format!("{}.safetensors", c.name).into(), encode_tensors(&classifier_tensors(c))));
    }
    if imported.len() > 1 {
        let tensors = map_tensors(maps.iter().map(|(a, b, m)| (a.as_str(), b.as_str(), m)));
        files.push(("maps.safetensors".into(), encode_tensors(&tensors)));
    }
    files.push(("card.json".into(), serde_json::to_vec_pretty(&card).context("serialising the model card")?));
    // The user's PyTorch files may sit in --out under a name import writes (`gru-64.safetensors`):
    // never replace one, even with --force.
    for (name, _) in &files {
        let target = args.out.join(name);
        if let Some(source) = args.models.iter().find(|m| same_file(m, &target)) {
            anyhow::bail!(
                "{}: import would write {} over --model {} itself; choose another --out or rename the file",
                args.out.display(),
                target.display(),
                source.display()
            );
        }
    }
    super::write_out(&args.out, rule, &files)?;
    for (model, path, _) in &imported {
        let c = &model.classifier;
        let entry = card.family.models.iter().find(|e| e.name == c.name).expect("one entry per model");
        let score = match (entry.test_accuracy, entry.test_mse) {
            (Some(a), _) => format!("test accuracy {a:.4}"),
            (_, Some(m)) => format!("test MSE {m:.5}"),
            _ => "no test split".into(),
        };
        let layers = c.cell.layers();
        let stacked = if layers > 1 { format!(" × {layers} layers") } else { String::new() };
        say!(
            "{path}: {} ({}, H {}{stacked}) → {}: {score}",
            model.layout,
            model.dtypes.join(", "),
            c.hidden_size(),
            c.name
        );
    }
    say!("wrote {}", args.out.display());
    Ok(())
}

/// Whether `a` and `b` name the same existing file (after resolving links and `..`); `false` when
/// either does not exist.
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
