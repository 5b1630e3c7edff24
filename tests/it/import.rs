//! `flexrnn import` (issue 13, "Bring your own network"): PyTorch state dicts written here with
//! PyTorch's names, layouts and element types (no PyTorch needed), checked against a scalar `f64`
//! implementation of PyTorch's equations written in this file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use flexrnn::data::{SplitPart, Task};
use flexrnn::rnn::cell::CellKind;
use flexrnn::rnn::io::import::{import_classifier, ImportNames};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// Largest absolute difference allowed between the crate's `f32` inference and the `f64` reference.
const TOLERANCE: f64 = 1e-5;

fn flexrnn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flexrnn"));
    command.current_dir(crate::root());
    command
}

/// How the tensors are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Store {
    F32,
    F16,
    Bf16,
}

/// A PyTorch recurrent classifier's tensors (values as stored, widened to `f64`) and how they are named.
#[derive(Debug, Clone)]
pub struct TorchModel {
    pub kind: CellKind,
    pub input: usize,
    pub hidden: usize,
    pub outputs: usize,
    /// name → (shape, values as `f64` after the storage type's rounding), PyTorch names.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
    pub store: Store,
    /// Stacked layers (`num_layers` of `nn.GRU` / `nn.LSTM`).
    pub layers: usize,
    /// `weight_ih` etc. name of the layer tensors: `<prefix>weight_ih[_l0]`.
    prefix: String,
    suffix: String,
    head: String,
}

/// Deterministic values in [-scale, scale) (a 64-bit LCG; no dependence on `rand`'s versions).
fn values(seed: u64, n: usize, scale: f64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            ((unit * 2.0 - 1.0) * scale) as f32
        })
        .collect()
}

/// Rounds `v` to the storage type and returns the stored 2 or 4 little-endian bytes and the stored value.
fn stored(v: f32, store: Store) -> (Vec<u8>, f64) {
    match store {
        Store::F32 => (v.to_le_bytes().to_vec(), f64::from(v)),
        Store::F16 => {
            let h = half::f16::from_f32(v);
            (h.to_bits().to_le_bytes().to_vec(), h.to_f64())
        }
        Store::Bf16 => {
            // Truncation (what a `.to(torch.bfloat16)` may not do, but any bf16 bits are valid input).
            let bits = (v.to_bits() >> 16) as u16;
            (bits.to_le_bytes().to_vec(), f64::from(f32::from_bits(u32::from(bits) << 16)))
        }
    }
}

impl TorchModel {
    /// An `nn.GRU`/`nn.LSTM` (`cell_module` false: `_l0` names) or `nn.GRUCell`/`nn.LSTMCell` with a
    /// readout `<head>weight`, `<head>bias`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: CellKind,
        cell_module: bool,
        prefix: &str,
        head: &str,
        input: usize,
        hidden: usize,
        outputs: usize,
        store: Store,
        seed: u64,
    ) -> TorchModel {
        TorchModel::stacked(kind, cell_module, prefix, head, input, hidden, outputs, store, seed, 1)
    }

    /// [`Self::new`] with `layers` stacked layers (`nn.GRU` / `nn.LSTM` names `…_l1`, … for the layers
    /// above the first; `cell_module` must be false when `layers` > 1).
    #[allow(clippy::too_many_arguments)]
    pub fn stacked(
        kind: CellKind,
        cell_module: bool,
        prefix: &str,
        head: &str,
        input: usize,
        hidden: usize,
        outputs: usize,
        store: Store,
        seed: u64,
        layers: usize,
    ) -> TorchModel {
        assert!(layers == 1 || !cell_module, "a Cell module has one layer");
        let rows = kind.gates() * hidden;
        let suffix = if cell_module { "" } else { "_l0" };
        let mut model = TorchModel {
            kind,
            input,
            hidden,
            outputs,
            tensors: BTreeMap::new(),
            store,
            layers,
            prefix: prefix.into(),
            suffix: suffix.into(),
            head: head.into(),
        };
        let scale = 1.0 / (hidden as f64).sqrt();
        let shapes: [(String, Vec<usize>); 6] = [
            (model.layer("weight_ih"), vec![rows, input]),
            (model.layer("weight_hh"), vec![rows, hidden]),
            (model.layer("bias_ih"), vec![rows]),
            (model.layer("bias_hh"), vec![rows]),
            (format!("{head}weight"), vec![outputs, hidden]),
            (format!("{head}bias"), vec![outputs]),
        ];
        for (k, (name, shape)) in shapes.into_iter().enumerate() {
            let n = shape.iter().product();
            let v = values(seed * 10 + k as u64, n, 2.0 * scale).into_iter().map(|v| stored(v, store).1).collect();
            model.tensors.insert(name, (shape, v));
        }
        for l in 1..layers {
            for (k, (base, shape)) in [
                ("weight_ih", vec![rows, hidden]),
                ("weight_hh", vec![rows, hidden]),
                ("bias_ih", vec![rows]),
                ("bias_hh", vec![rows]),
            ]
            .into_iter()
            .enumerate()
            {
                let n = shape.iter().product();
                let v = values(seed * 1000 + 100 * l as u64 + k as u64, n, 2.0 * scale)
                    .into_iter()
                    .map(|v| stored(v, store).1)
                    .collect();
                model.tensors.insert(format!("{prefix}{base}_l{l}"), (shape, v));
            }
        }
        model
    }

    /// The name of layer `l`'s tensor (`weight_ih`, 1 → `<prefix>weight_ih_l1`).
    pub fn layer_at(&self, base: &str, l: usize) -> String {
        if l == 0 {
            self.layer(base)
        } else {
            format!("{}{base}_l{l}", self.prefix)
        }
    }

    /// The name of a layer tensor (`weight_ih` → `<prefix>weight_ih_l0`).
    pub fn layer(&self, base: &str) -> String {
        format!("{}{base}{}", self.prefix, self.suffix)
    }

    fn get(&self, name: &str) -> &[f64] {
        &self.tensors[name].1
    }

    /// The safetensors bytes (element type [`Self::store`]; extra tensors as given, F32).
    pub fn bytes_with(&self, extra: &[(&str, Vec<usize>, Dtype, Vec<u8>)], drop: &[&str]) -> Vec<u8> {
        let mut data: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = Vec::new();
        for (name, (shape, v)) in &self.tensors {
            if drop.contains(&name.as_str()) {
                continue;
            }
            let bytes: Vec<u8> = v.iter().flat_map(|&x| stored(x as f32, self.store).0).collect();
            let dtype = match self.store {
                Store::F32 => Dtype::F32,
                Store::F16 => Dtype::F16,
                Store::Bf16 => Dtype::BF16,
            };
            data.push((name.clone(), shape.clone(), dtype, bytes));
        }
        for (name, shape, dtype, bytes) in extra {
            data.push((name.to_string(), shape.clone(), *dtype, bytes.clone()));
        }
        let views: Vec<(String, TensorView<'_>)> =
            data.iter().map(|(n, s, d, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
        safetensors::serialize(views, None).unwrap()
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.bytes_with(&[], &[])
    }

    /// PyTorch's equations in `f64`: the final state of the top layer (`h`, or `[h; c]`) and the
    /// readout of its `h`.
    pub fn reference(&self, sequence: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (mut states, out) = self.reference_layers(sequence);
        (states.pop().unwrap(), out)
    }

    /// PyTorch's equations in `f64` for every layer (`nn.GRU` / `nn.LSTM`: layer `l > 0` reads layer
    /// `l − 1`'s new `h` of the same step; no dropout): each layer's final state (`h`, or `[h; c]`),
    /// bottom layer first, and the readout of the top layer's `h`.
    pub fn reference_layers(&self, sequence: &[f32]) -> (Vec<Vec<f64>>, Vec<f64>) {
        let h_n = self.hidden;
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut h = vec![vec![0.0; h_n]; self.layers];
        let mut c = vec![vec![0.0; h_n]; self.layers];
        for x in sequence.chunks_exact(self.input) {
            let mut below: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            for l in 0..self.layers {
                let i_n = below.len();
                let (w_ih, w_hh) = (self.get(&self.layer_at("weight_ih", l)), self.get(&self.layer_at("weight_hh", l)));
                let (b_ih, b_hh) = (self.get(&self.layer_at("bias_ih", l)), self.get(&self.layer_at("bias_hh", l)));
                // gi[row] = W_ih x + b_ih, gh[row] = W_hh h + b_hh, rows in PyTorch's gate order.
                let rows = self.kind.gates() * h_n;
                let gi: Vec<f64> =
                    (0..rows).map(|r| b_ih[r] + (0..i_n).map(|k| w_ih[r * i_n + k] * below[k]).sum::<f64>()).collect();
                let gh: Vec<f64> =
                    (0..rows).map(|r| b_hh[r] + (0..h_n).map(|k| w_hh[r * h_n + k] * h[l][k]).sum::<f64>()).collect();
                let (h, c) = (&mut h[l], &mut c[l]);
                match self.kind {
                    CellKind::Gru => {
                        // r, z, n: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); h' = (1 − z) ⊙ n + z ⊙ h.
                        for u in 0..h_n {
                            let r = sigmoid(gi[u] + gh[u]);
                            let z = sigmoid(gi[h_n + u] + gh[h_n + u]);
                            let n = (gi[2 * h_n + u] + r * gh[2 * h_n + u]).tanh();
                            h[u] = (1.0 - z) * n + z * h[u];
                        }
                    }
                    CellKind::Lstm => {
                        // i, f, g, o: c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c').
                        for u in 0..h_n {
                            let i = sigmoid(gi[u] + gh[u]);
                            let f = sigmoid(gi[h_n + u] + gh[h_n + u]);
                            let g = (gi[2 * h_n + u] + gh[2 * h_n + u]).tanh();
                            let o = sigmoid(gi[3 * h_n + u] + gh[3 * h_n + u]);
                            c[u] = f * c[u] + i * g;
                            h[u] = o * c[u].tanh();
                        }
                    }
                }
                below = h.clone();
            }
        }
        let top = &h[self.layers - 1];
        let (w, b) = (self.get(&format!("{}weight", self.head)), self.get(&format!("{}bias", self.head)));
        let out = (0..self.outputs).map(|o| b[o] + (0..h_n).map(|k| w[o * h_n + k] * top[k]).sum::<f64>()).collect();
        let states = h
            .into_iter()
            .zip(c)
            .map(|(mut h, c)| {
                if self.kind == CellKind::Lstm {
                    h.extend(c);
                }
                h
            })
            .collect();
        (states, out)
    }
}

/// Writes `model` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs `flexrnn import` with `args`; panics with stderr unless it succeeds.
fn import(args: &[&std::ffi::OsStr]) -> String {
    let output = flexrnn().arg("import").args(args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `flexrnn import` and returns its stderr; panics if it succeeds.
fn import_fails(args: &[&std::ffi::OsStr]) -> String {
    let output = flexrnn().arg("import").args(args).output().unwrap();
    assert!(!output.status.success(), "import succeeded: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

/// The six cases of the tests: GRU and LSTM in F32, F16 and BF16, alternating module kinds, prefixes
/// and head names. Digits: 1 feature, 10 classes.
fn cases() -> Vec<(TorchModel, &'static str, &'static str)> {
    let mut out = Vec::new();
    for (k, (kind, store)) in [
        (CellKind::Gru, Store::F32),
        (CellKind::Lstm, Store::F32),
        (CellKind::Gru, Store::F16),
        (CellKind::Lstm, Store::F16),
        (CellKind::Gru, Store::Bf16),
        (CellKind::Lstm, Store::Bf16),
    ]
    .into_iter()
    .enumerate()
    {
        let (cell_module, prefix, head) = match k % 3 {
            0 => (false, "rnn.", "head."),
            1 => (true, "", "fc."),
            _ => (false, "", "head."),
        };
        out.push((TorchModel::new(kind, cell_module, prefix, head, 1, 6 + k, 10, store, k as u64 + 1), prefix, head));
    }
    out
}

#[test]
fn imported_gru_and_lstm_in_f32_f16_bf16_compute_pytorchs_outputs() {
    let task = Task::load("digits").unwrap();
    let test = task.part(SplitPart::Test);
    let dir = tempfile::tempdir().unwrap();
    for (index, (model, prefix, head)) in cases().into_iter().enumerate() {
        let file = write(dir.path(), &format!("m{index}.safetensors"), &model.bytes());
        let out = dir.path().join(format!("out{index}"));
        let stdout = import(&[
            os("--model"),
            file.as_os_str(),
            os("--task"),
            os("digits"),
            os("--prefix"),
            os(prefix),
            os("--head"),
            os(head),
            os("--out"),
            out.as_os_str(),
        ]);
        let (bank, card) = flexrnn::rnn::io::load_bank(&out).unwrap();
        assert_eq!((card.cell, card.input, card.classes, card.task.as_str()), (model.kind, 1, 10, "digits"));
        assert!(card.training.is_none(), "an imported card records no training run");
        let source = card.import.as_ref().unwrap();
        assert_eq!(source.files.len(), 1);
        assert_eq!(source.files[0].sha256, sha256_hex(&std::fs::read(&file).unwrap()), "{stdout}");
        let dtype = match model.store {
            Store::F32 => "F32",
            Store::F16 => "F16",
            Store::Bf16 => "BF16",
        };
        assert_eq!(source.files[0].dtypes, dtype);
        assert_eq!(source.cell_from, "shapes");
        let classifier = &bank.models()[0];
        assert_eq!(classifier.name, format!("{}-{}", model.kind.as_str(), model.hidden));
        let mut outputs = vec![0.0f32; 10];
        let mut worst = 0.0f64;
        for i in 0..25 {
            classifier.outputs(test.sequence(i), &mut outputs);
            let (_, reference) = model.reference(test.sequence(i));
            for (a, b) in outputs.iter().zip(&reference) {
                worst = worst.max((f64::from(*a) - b).abs());
            }
        }
        assert!(worst <= TOLERANCE, "{:?} {:?}: largest difference {worst:e}", model.kind, model.store);
        // `infer` writes the same logits and the final state, every test sequence.
        let csv = dir.path().join(format!("infer{index}.csv"));
        let setting = format!("{}-{}", model.kind.as_str(), model.hidden);
        infer(&out, &["--setting", &setting, "--states"], &csv);
        let rows = read_csv(&csv);
        let states = if model.kind == CellKind::Lstm { 2 * model.hidden } else { model.hidden };
        assert_eq!(rows.len(), test.len());
        let test_indices = task.split.indices(SplitPart::Test);
        let mut worst = 0.0f64;
        for (row, (&index, i)) in rows.iter().zip(test_indices.iter().zip(0..)) {
            assert_eq!(row["sequence"], index.to_string());
            assert_eq!((row["part"].as_str(), row["steps"].as_str()), ("test", "64"));
            assert_eq!(row["label"], test.labels[i].to_string());
            let (state, reference) = model.reference(test.sequence(i));
            let logits: Vec<f64> = (0..10).map(|k| row[&format!("logit_{k}")].parse().unwrap()).collect();
            let best = (0..10).fold(0, |b, k| if logits[k] > logits[b] { k } else { b });
            assert_eq!(row["prediction"], best.to_string());
            let written: Vec<f64> = (0..model.hidden)
                .map(|k| row[&format!("h_{k}")].parse().unwrap())
                .chain((0..states - model.hidden).map(|k| row[&format!("c_{k}")].parse().unwrap()))
                .collect();
            for (a, b) in logits.iter().chain(&written).zip(reference.iter().chain(&state)) {
                worst = worst.max((a - b).abs());
            }
        }
        assert!(worst <= TOLERANCE, "infer {:?} {:?}: largest difference {worst:e}", model.kind, model.store);
    }
}

/// Runs `flexrnn infer FOLDER ARGS --out CSV`; panics with stderr unless it succeeds.
fn infer(folder: &Path, args: &[&str], csv: &Path) {
    let output = flexrnn().arg("infer").arg(folder).args(args).arg("--out").arg(csv).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// A CSV file as rows of column → value.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    lines.map(|line| header.iter().cloned().zip(line.split(',').map(str::to_string)).collect()).collect()
}

#[test]
fn infer_writes_a_regression_output_and_never_overwrites_a_file_without_force() {
    let dir = tempfile::tempdir().unwrap();
    // The adding task: 2 features, one real output.
    let model = TorchModel::new(CellKind::Lstm, false, "", "head.", 2, 5, 1, Store::Bf16, 11);
    let file = write(dir.path(), "adding.safetensors", &model.bytes());
    let out = dir.path().join("adding");
    import(&[os("--model"), file.as_os_str(), os("--task"), os("adding"), os("--out"), out.as_os_str()]);
    let csv = dir.path().join("adding.csv");
    // One model: no --setting needed.
    infer(&out, &["--split", "validation"], &csv);
    let task = Task::load("adding").unwrap();
    let validation = task.part(SplitPart::Validation);
    let rows = read_csv(&csv);
    assert_eq!(rows.len(), validation.len());
    for (i, row) in rows.iter().enumerate().take(50) {
        assert_eq!(row["part"], "validation");
        assert_eq!(row["target"].parse::<f32>().unwrap(), validation.targets[i]);
        let (_, reference) = model.reference(validation.sequence(i));
        let output: f64 = row["output"].parse().unwrap();
        assert!((output - reference[0]).abs() <= TOLERANCE, "{output} vs {}", reference[0]);
    }
    assert!(!rows[0].contains_key("h_0"), "no states without --states");
    // The file exists now: refused without --force, replaced with it.
    std::fs::write(&csv, "mine").unwrap();
    let output = flexrnn().arg("infer").arg(&out).arg("--out").arg(&csv).output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "mine");
    infer(&out, &["--force", "--split", "all"], &csv);
    assert_eq!(read_csv(&csv).len(), task.set.len());
    // An unknown setting names the ones there are.
    let output = flexrnn()
        .arg("infer")
        .arg(&out)
        .args(["--setting", "gru-9"])
        .arg("--out")
        .arg(dir.path().join("x.csv"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && err.contains("gru-9") && err.contains("lstm-5"), "{err}");
    // A schedule entry after the last step (adding: 50 steps), and a selection without sequences.
    let fails = |args: &[&str]| {
        let output =
            flexrnn().arg("infer").arg(&out).args(args).arg("--out").arg(dir.path().join("y.csv")).output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = fails(&["--schedule", "lstm-5@0;lstm-5@50"]);
    assert!(err.contains("`lstm-5@50` starts at step 50") && err.contains("has 50 steps (0–49)"), "{err}");
    let npz = dir.path().join("d.npz");
    savez(&npz, &[("x", "<f4", vec![3, 4, 2], vec![0; 96]), ("y", "<f4", vec![3], vec![0; 12])]);
    let err = fails(&["--data", &format!("npz:{},test=0", npz.display())]);
    assert!(err.contains("--split test") && err.contains("no test sequences"), "{err}");
    assert!(!dir.path().join("y.csv").exists());
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The import error for `bytes` (library path, digits' sizes).
fn refused(bytes: &[u8], names: &ImportNames) -> String {
    import_classifier(bytes, Path::new("m.safetensors"), "m", names, 1, 10).unwrap_err().to_string()
}

fn default_names() -> ImportNames {
    ImportNames { prefix: String::new(), head: "head.".into(), cell: None }
}

#[test]
fn import_refuses_a_missing_tensor_by_name() {
    let model = TorchModel::new(CellKind::Gru, false, "", "head.", 1, 4, 10, Store::F32, 3);
    let err = refused(&model.bytes_with(&[], &["bias_hh_l0"]), &default_names());
    assert!(err.contains("missing tensor `bias_hh_l0`") && err.contains("m.safetensors"), "{err}");
    let err = refused(&model.bytes_with(&[], &["head.bias"]), &default_names());
    assert!(err.contains("missing tensor `head.bias`"), "{err}");
    // A wrong prefix: the message lists what the file holds.
    let names = ImportNames { prefix: "rnn.".into(), ..default_names() };
    let err = refused(&model.bytes(), &names);
    assert!(err.contains("rnn.weight_ih_l0") && err.contains("`weight_ih_l0`"), "{err}");
}

#[test]
fn import_refuses_a_wrong_shape_by_name() {
    // A GRU of 4 units whose bias_ih has 3H + 1 rows.
    let model = TorchModel::new(CellKind::Gru, true, "", "head.", 1, 4, 10, Store::F32, 4);
    let mut broken = model.clone();
    broken.tensors.insert("bias_ih".into(), (vec![13], vec![0.0; 13]));
    let err = refused(&broken.bytes(), &default_names());
    assert!(err.contains("tensor `bias_ih` has shape [13], expected [12]") && err.contains("r, z, n"), "{err}");
    // weight_hh of 5H rows: neither cell.
    let mut broken = model.clone();
    broken.tensors.insert("weight_hh".into(), (vec![20, 4], vec![0.0; 80]));
    let err = refused(&broken.bytes(), &default_names());
    assert!(err.contains("`weight_hh`") && err.contains("neither a GRU"), "{err}");
    // The GRU's tensors with --cell lstm.
    let names = ImportNames { cell: Some(CellKind::Lstm), ..default_names() };
    let err = refused(&model.bytes(), &names);
    assert!(err.contains("`weight_hh`") && err.contains("[16, 4]"), "{err}");
    // The input size of another task (2 features).
    let err = import_classifier(&model.bytes(), Path::new("m.safetensors"), "m", &default_names(), 2, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tensor `weight_ih` has shape [12, 1], expected [12, 2]"), "{err}");
    // A transposed recurrent kernel [H, 3H].
    let mut transposed = model.clone();
    transposed.tensors.insert("weight_hh".into(), (vec![4, 12], vec![0.0; 48]));
    let err = refused(&transposed.bytes(), &default_names());
    assert!(err.contains("`weight_hh`") && err.contains("transposed"), "{err}");
    // A readout of 3 classes for a 10-class task.
    let three = TorchModel::new(CellKind::Gru, true, "", "head.", 1, 4, 3, Store::F32, 4);
    let err = refused(&three.bytes(), &default_names());
    assert!(err.contains("`head.weight` has 3 outputs; the task needs 10"), "{err}");
}

#[test]
fn import_refuses_an_unknown_dtype_by_name() {
    let model = TorchModel::new(CellKind::Lstm, false, "rnn.", "head.", 1, 4, 10, Store::F32, 5);
    // bias_hh_l0 as F64.
    let f64_bytes: Vec<u8> = (0..16).flat_map(|i| (i as f64 * 0.1).to_le_bytes()).collect();
    let bytes = model.bytes_with(&[("rnn.bias_hh_l0", vec![16], Dtype::F64, f64_bytes)], &["rnn.bias_hh_l0"]);
    let names = ImportNames { prefix: "rnn.".into(), ..default_names() };
    let err = refused(&bytes, &names);
    assert!(err.contains("tensor `rnn.bias_hh_l0` is F64") && err.contains("F32, F16 and BF16"), "{err}");
    // An integer readout bias.
    let i32_bytes: Vec<u8> = (0..10i32).flat_map(|i| i.to_le_bytes()).collect();
    let bytes = model.bytes_with(&[("head.bias", vec![10], Dtype::I32, i32_bytes)], &["head.bias"]);
    let err = refused(&bytes, &names);
    assert!(err.contains("tensor `head.bias` is I32"), "{err}");
}

#[test]
fn import_refuses_gaps_in_stacked_layers_bad_upper_shapes_and_bidirectional_layers_by_name() {
    let model = TorchModel::stacked(CellKind::Gru, false, "", "head.", 1, 4, 10, Store::F32, 6, 3);
    // Layer 1 missing, layer 2 present.
    let err = refused(&model.bytes_with(&[], &["weight_ih_l1"]), &default_names());
    assert!(err.contains("tensor `bias_hh_l1` belongs to layer 1, but `weight_ih_l1` is missing"), "{err}");
    assert!(err.contains("without gaps"), "{err}");
    // Layer 2's input kernel transposed ([H, 3H]) and of a wrong size.
    let mut broken = model.clone();
    broken.tensors.insert("weight_ih_l2".into(), (vec![4, 12], vec![0.0; 48]));
    let err = refused(&broken.bytes(), &default_names());
    assert!(err.contains("`weight_ih_l2` has shape [4, 12]: it looks transposed"), "{err}");
    broken.tensors.insert("weight_ih_l2".into(), (vec![12, 5], vec![0.0; 60]));
    let err = refused(&broken.bytes(), &default_names());
    assert!(err.contains("`weight_ih_l2` has shape [12, 5], expected [12, 4] (layer 2"), "{err}");
    let err = refused(&model.bytes_with(&[], &["bias_hh_l2"]), &default_names());
    assert!(err.contains("missing tensor `bias_hh_l2`"), "{err}");
    let bytes = model.bytes_with(&[("weight_ih_l0_reverse", vec![12, 1], Dtype::F32, vec![0; 48])], &[]);
    let err = refused(&bytes, &default_names());
    assert!(err.contains("`weight_ih_l0_reverse`") && err.contains("bidirectional"), "{err}");
}

#[test]
fn import_cli_names_the_file_and_tensor_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let model = TorchModel::new(CellKind::Gru, false, "", "head.", 1, 4, 10, Store::F32, 7);
    let file = write(dir.path(), "bad.safetensors", &model.bytes_with(&[], &["weight_hh_l0"]));
    let out = dir.path().join("out");
    let err =
        import_fails(&[os("--model"), file.as_os_str(), os("--task"), os("digits"), os("--out"), out.as_os_str()]);
    assert!(err.contains("bad.safetensors") && err.contains("missing tensor `weight_hh_l0`"), "{err}");
    assert!(!out.join("card.json").exists(), "nothing written");
    // The adding task is a regression: a 10-output readout does not fit.
    let file = write(
        dir.path(),
        "ten.safetensors",
        &TorchModel::new(CellKind::Gru, false, "", "head.", 2, 4, 10, Store::F32, 7).bytes(),
    );
    let err =
        import_fails(&[os("--model"), file.as_os_str(), os("--task"), os("adding"), os("--out"), out.as_os_str()]);
    assert!(err.contains("`head.weight` has 10 outputs; the task needs 1 (one real output"), "{err}");
}

#[test]
fn import_refuses_renamed_unread_and_projection_tensors_and_bias_free_layers() {
    let model = TorchModel::new(CellKind::Gru, false, "rnn.", "head.", 1, 4, 10, Store::F32, 11);
    let names = ImportNames { prefix: "rnn.".into(), ..default_names() };
    let w_ih = model.tensors["rnn.weight_ih_l0"].clone();
    let f32s = |v: &[f64]| v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect::<Vec<u8>>();
    // weight_ih_l0 renamed: the first layer is missing, said as a missing tensor with the file's names.
    let renamed =
        model.bytes_with(&[("rnn.w_ih_l0", w_ih.0.clone(), Dtype::F32, f32s(&w_ih.1))], &["rnn.weight_ih_l0"]);
    let err = refused(&renamed, &names);
    assert!(err.starts_with("m.safetensors") || err.contains("m.safetensors"), "{err}");
    assert!(err.contains("missing tensor `rnn.weight_ih_l0`") && err.contains("`rnn.w_ih_l0`"), "{err}");
    // A misspelt extra tensor under the prefix would be ignored: refused, listing what is read.
    let extra = model.bytes_with(&[("rnn.weight_xx_l0", w_ih.0.clone(), Dtype::F32, f32s(&w_ih.1))], &[]);
    let err = refused(&extra, &names);
    assert!(err.contains("tensor `rnn.weight_xx_l0` is not part of the 1-layer nn.GRU"), "{err}");
    assert!(err.contains("`rnn.weight_hh_l0`") && err.contains("`head.bias`"), "{err}");
    // nn.GRUCell names beside nn.GRU names.
    let both = model.bytes_with(&[("rnn.weight_ih", w_ih.0.clone(), Dtype::F32, f32s(&w_ih.1))], &[]);
    assert!(refused(&both, &names).contains("tensor `rnn.weight_ih` is not part of"));
    // An LSTM with proj_size: its projection is named.
    let lstm = TorchModel::new(CellKind::Lstm, false, "", "head.", 1, 4, 10, Store::F32, 12);
    let projected = lstm.bytes_with(&[("weight_hr_l0", vec![2, 4], Dtype::F32, f32s(&[0.0; 8]))], &[]);
    assert!(refused(&projected, &default_names()).contains("proj_size"));
    // bias=False: the missing bias says how to import such a layer.
    let err = refused(&lstm.bytes_with(&[], &["bias_ih_l0", "bias_hh_l0"]), &default_names());
    assert!(err.contains("missing tensor `bias_") && err.contains("bias=False"), "{err}");
    // Not a safetensors file at all.
    let err = refused(b"x,y\n1,2\n", &default_names());
    assert!(err.contains("not a readable safetensors file"), "{err}");
}

#[test]
fn import_never_replaces_a_model_folder_without_force_nor_a_model_file_and_refuses_a_file_twice() {
    let dir = tempfile::tempdir().unwrap();
    let out = import_bank(dir.path());
    let before = std::fs::read(out.join("gru-4.safetensors")).unwrap();
    // Re-running into the same folder without --force: refused, the bank left as it was.
    let one = write(
        dir.path(),
        "one.safetensors",
        &TorchModel::new(CellKind::Gru, false, "rnn.", "head.", 1, 8, 10, Store::F32, 13).bytes(),
    );
    let args = [
        os("--model"),
        one.as_os_str(),
        os("--task"),
        os("digits"),
        os("--prefix"),
        os("rnn."),
        os("--out"),
        out.as_os_str(),
    ];
    let err = import_fails(&args);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(out.join("gru-4.safetensors")).unwrap(), before);
    assert!(out.join("maps.safetensors").exists());
    // A --model file inside --out under a name import writes: never replaced, even with --force.
    let user = dir.path().join("mine");
    std::fs::create_dir(&user).unwrap();
    let own = write(&user, "gru-8.safetensors", &std::fs::read(&one).unwrap());
    let err = import_fails(&[
        os("--model"),
        own.as_os_str(),
        os("--task"),
        os("digits"),
        os("--prefix"),
        os("rnn."),
        os("--out"),
        user.as_os_str(),
        os("--force"),
    ]);
    assert!(err.contains("over --model") && err.contains("gru-8.safetensors"), "{err}");
    assert_eq!(std::fs::read(&own).unwrap(), std::fs::read(&one).unwrap());
    assert!(!user.join("card.json").exists());
    // The same file twice in a bank.
    let err = import_fails(&[
        os("--model"),
        one.as_os_str(),
        os("--model"),
        one.as_os_str(),
        os("--task"),
        os("digits"),
        os("--prefix"),
        os("rnn."),
        os("--out"),
        dir.path().join("twice").as_os_str(),
    ]);
    assert!(err.contains("the same bytes as --model"), "{err}");
}

/// Imports a bank of a 4- and a 6-unit GRU (given in the opposite order) for digits.
fn import_bank(dir: &Path) -> PathBuf {
    let wide = TorchModel::new(CellKind::Gru, false, "rnn.", "head.", 1, 6, 10, Store::F32, 8);
    let narrow = TorchModel::new(CellKind::Gru, false, "rnn.", "head.", 1, 4, 10, Store::Bf16, 9);
    let a = write(dir, "wide.safetensors", &wide.bytes());
    let b = write(dir, "narrow.safetensors", &narrow.bytes());
    let out = dir.join("bank");
    import(&[
        os("--model"),
        a.as_os_str(),
        os("--model"),
        b.as_os_str(),
        os("--task"),
        os("digits"),
        os("--prefix"),
        os("rnn."),
        os("--out"),
        out.as_os_str(),
    ]);
    out
}

#[test]
fn several_files_make_a_switching_bank_with_truncation_padding_maps() {
    let dir = tempfile::tempdir().unwrap();
    let out = import_bank(dir.path());
    let (bank, card) = flexrnn::rnn::io::load_bank(&out).unwrap();
    let names: Vec<&str> = bank.models().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["gru-4", "gru-6"], "narrowest first");
    let source = card.import.unwrap();
    assert_eq!(source.files[0].path, dir.path().join("narrow.safetensors").display().to_string());
    assert_eq!((source.files[0].dtypes.as_str(), source.files[1].dtypes.as_str()), ("BF16", "F32"));
    assert!(
        source.state_maps.starts_with("truncation / zero padding") && source.state_maps.contains("--fit-maps-on TASK")
    );
    // gru-6 → gru-4 keeps the first 4 units; gru-4 → gru-6 pads with zeros.
    let mut state = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut spare = vec![0.0; 6];
    bank.carry_state(1, 0, &mut state, &mut spare);
    assert_eq!(state[..4], [1.0, 2.0, 3.0, 4.0]);
    let mut state = vec![1.0, 2.0, 3.0, 4.0, 9.0, 9.0];
    bank.carry_state(0, 1, &mut state, &mut spare);
    assert_eq!(state, [1.0, 2.0, 3.0, 4.0, 0.0, 0.0]);
}

#[test]
fn an_imported_bank_runs_in_a_scenario_and_a_one_model_folder_is_evaluated_alone() {
    let dir = tempfile::tempdir().unwrap();
    let bank = import_bank(dir.path());
    run_default_scenario_on(dir.path(), &bank, "gru-6", "gru-4");
    // One model: eval measures it alone (it was refused before: "fewer than two settings").
    let one = TorchModel::new(CellKind::Lstm, true, "", "head.", 1, 5, 10, Store::F16, 10);
    let single = write(dir.path(), "one.safetensors", &one.bytes());
    let folder = dir.path().join("one");
    import(&[os("--model"), single.as_os_str(), os("--task"), os("digits"), os("--out"), folder.as_os_str()]);
    let eval_out = dir.path().join("eval");
    let output = flexrnn()
        .arg("eval")
        .arg(&folder)
        .arg("--out")
        .arg(&eval_out)
        .args(["--resamples", "0", "--jobs", "1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let eval_csv = std::fs::read_to_string(eval_out.join("eval.csv")).unwrap();
    assert_eq!(eval_csv.lines().count(), 2, "the header and the setting alone: {eval_csv}");
    // Its measured accuracy is that of the reference on the whole test split.
    let test = Task::load("digits").unwrap().part(SplitPart::Test);
    let right = (0..test.len())
        .filter(|&i| {
            let (_, out) = one.reference(test.sequence(i));
            let best = (0..10).fold(0, |b, k| if out[k] > out[b] { k } else { b });
            best as u32 == test.labels[i]
        })
        .count();
    let card: serde_json::Value = serde_json::from_slice(&std::fs::read(folder.join("card.json")).unwrap()).unwrap();
    let accuracy = card["models"][0]["test_accuracy"].as_f64().unwrap();
    assert!((accuracy - right as f64 / test.len() as f64).abs() < 1e-12, "card {accuracy}, reference {right}");
}

/// A `numpy.savez` file (uncompressed zip of `.npy` arrays) of `arrays` (name, descr, shape, bytes).
fn savez(path: &Path, arrays: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, descr, shape, data) in arrays {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(&flexrnn::data::npz::npy_bytes(descr, shape, data)).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn npz_data_split_by_percent_unstandardised_runs_an_imported_model_through_infer() {
    let dir = tempfile::tempdir().unwrap();
    let (n, steps, features) = (40, 7, 3);
    let x: Vec<f32> = values(21, n * steps * features, 5.0);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    let file = dir.path().join("mine.npz");
    savez(
        &file,
        &[
            ("x", "<f4", vec![n, steps, features], x.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ("y", "<i8", vec![n], labels.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ],
    );
    let id = format!("npz:{},test=25", file.display());
    let task = Task::load(&id).unwrap();
    assert_eq!((task.set.len(), task.set.steps, task.set.features, task.set.classes), (n, steps, features, 3));
    assert_eq!(task.set.values, x, "values as given: no standardisation");
    assert!(task.standardisation.is_none());
    assert_eq!(task.split.test.len(), 10, "25 % of 40, stratified: round(0.25 × 13, 13, 14) = 3 + 3 + 4");
    assert_eq!(task.split.validation.len() + task.split.train.len() + 10, n);
    // A GRU imported for it and run by infer over every sequence.
    let model = TorchModel::new(CellKind::Gru, false, "", "head.", features, 4, 3, Store::F32, 12);
    let weights = write(dir.path(), "g.safetensors", &model.bytes());
    let out = dir.path().join("g");
    import(&[os("--model"), weights.as_os_str(), os("--task"), os(&id), os("--out"), out.as_os_str()]);
    let csv = dir.path().join("g.csv");
    infer(&out, &["--split", "all"], &csv);
    let rows = read_csv(&csv);
    assert_eq!(rows.len(), n);
    for (i, row) in rows.iter().enumerate() {
        let (_, reference) = model.reference(task.set.sequence(i));
        for (k, r) in reference.iter().enumerate() {
            let logit: f64 = row[&format!("logit_{k}")].parse().unwrap();
            assert!((logit - r).abs() <= TOLERANCE, "sequence {i}: {logit} vs {r}");
        }
        assert_eq!(row["label"], labels[i].to_string());
    }
    // Float targets make a regression task; float64 inputs are read.
    let targets: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
    let x64: Vec<u8> = x.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
    let regression = dir.path().join("reg.npz");
    savez(
        &regression,
        &[
            ("x", "<f8", vec![n, steps, features], x64),
            ("y", "<f8", vec![n], targets.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ],
    );
    let task = Task::load(&format!("npz:{}", regression.display())).unwrap();
    assert!(task.is_regression());
    assert_eq!((task.split.test.len(), task.set.targets[3]), (8, 1.5));
    // Errors name the file and the array.
    let broken = dir.path().join("broken.npz");
    savez(&broken, &[("x", "<f4", vec![n, steps, features], x.iter().flat_map(|v| v.to_le_bytes()).collect())]);
    let err = Task::load(&format!("npz:{}", broken.display())).unwrap_err().to_string();
    assert!(err.contains("broken.npz") && err.contains("no array `y`"), "{err}");
    savez(
        &broken,
        &[
            ("x", "<f4", vec![n, steps * features], x.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ("y", "<i8", vec![n], labels.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ],
    );
    let err = Task::load(&format!("npz:{}", broken.display())).unwrap_err().to_string();
    assert!(err.contains("`x` has shape [40, 21]; expected [N, T, I]"), "{err}");
    let err = Task::load(&format!("npz:{},test=95", broken.display())).unwrap_err().to_string();
    assert!(err.contains("test=95") && err.contains("0–90"), "{err}");
}

/// The stacked cases: a 2-layer GRU and a 2-layer LSTM in F32, a 2-layer GRU in F16 and a 3-layer
/// LSTM in BF16 (digits: 1 feature, 10 classes).
fn stacked_cases() -> Vec<TorchModel> {
    vec![
        TorchModel::stacked(CellKind::Gru, false, "rnn.", "head.", 1, 7, 10, Store::F32, 21, 2),
        TorchModel::stacked(CellKind::Lstm, false, "", "head.", 1, 6, 10, Store::F32, 22, 2),
        TorchModel::stacked(CellKind::Gru, false, "", "fc.", 1, 5, 10, Store::F16, 23, 2),
        TorchModel::stacked(CellKind::Lstm, false, "rnn.", "head.", 1, 4, 10, Store::Bf16, 24, 3),
    ]
}

#[test]
fn stacked_gru_and_lstm_layers_compute_pytorchs_outputs_and_every_layers_state_through_infer() {
    let task = Task::load("digits").unwrap();
    let test = task.part(SplitPart::Test);
    let dir = tempfile::tempdir().unwrap();
    for (index, model) in stacked_cases().into_iter().enumerate() {
        let file = write(dir.path(), &format!("s{index}.safetensors"), &model.bytes());
        let out = dir.path().join(format!("stacked{index}"));
        let (prefix, head) = (model.prefix.clone(), model.head.clone());
        import(&[
            os("--model"),
            file.as_os_str(),
            os("--task"),
            os("digits"),
            os("--prefix"),
            os(&prefix),
            os("--head"),
            os(&head),
            os("--out"),
            out.as_os_str(),
        ]);
        let (bank, card) = flexrnn::rnn::io::load_bank(&out).unwrap();
        let cell = &bank.models()[0].cell;
        assert_eq!((card.layers, cell.layers()), (model.layers, model.layers));
        let card_json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("card.json")).unwrap()).unwrap();
        assert_eq!(card_json["layers"], model.layers);
        if index == 0 {
            // An imported stacked card validates against the shipped schema.
            let schema: serde_json::Value =
                serde_json::from_slice(&std::fs::read(crate::at("schema/card.schema.json")).unwrap()).unwrap();
            let validator = jsonschema::draft202012::new(&schema).unwrap();
            let errors: Vec<String> = validator.iter_errors(&card_json).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}");
        }
        // FLOPs and parameters: layer 0 reads the input, the others the H units below.
        let (h, g) = (model.hidden as u64, model.kind.gates() as u64);
        let per_layer = |i: u64| model.kind.flops_per_step(i as usize, model.hidden);
        let expected_flops = per_layer(1) + (model.layers as u64 - 1) * per_layer(h);
        assert_eq!(card.family.models[0].flops_per_step, expected_flops);
        let params =
            g * h * (1 + h) + 2 * g * h + (model.layers as u64 - 1) * (g * h * 2 * h + 2 * g * h) + 10 * h + 10;
        assert_eq!(card.family.models[0].param_bytes, 4 * params);
        assert_eq!(
            card.import.as_ref().unwrap().files[0].layout,
            if model.kind == CellKind::Gru { "nn.GRU" } else { "nn.LSTM" }
        );
        let csv = dir.path().join(format!("stacked{index}.csv"));
        infer(&out, &["--states"], &csv);
        let rows = read_csv(&csv);
        assert_eq!(rows.len(), test.len());
        let lstm = model.kind == CellKind::Lstm;
        let mut worst = 0.0f64;
        for (i, row) in rows.iter().enumerate() {
            let (states, reference) = model.reference_layers(test.sequence(i));
            let logits: Vec<f64> = (0..10).map(|k| row[&format!("logit_{k}")].parse().unwrap()).collect();
            for (a, b) in logits.iter().zip(&reference) {
                worst = worst.max((a - b).abs());
            }
            for (l, state) in states.iter().enumerate() {
                let written: Vec<f64> = (0..model.hidden)
                    .map(|k| row[&format!("h_l{l}_{k}")].parse().unwrap())
                    .chain(
                        (0..if lstm { model.hidden } else { 0 }).map(|k| row[&format!("c_l{l}_{k}")].parse().unwrap()),
                    )
                    .collect();
                assert_eq!(written.len(), state.len());
                for (a, b) in written.iter().zip(state) {
                    worst = worst.max((a - b).abs());
                }
            }
        }
        assert!(
            worst <= TOLERANCE,
            "{:?} {:?} × {}: largest difference {worst:e}",
            model.kind,
            model.store,
            model.layers
        );
        assert!(!rows[0].contains_key("h_0"), "a stacked model's columns name the layer");
    }
}

#[test]
fn a_bank_of_stacked_models_switches_layer_by_layer_and_runs_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let wide = TorchModel::stacked(CellKind::Lstm, false, "", "head.", 1, 6, 10, Store::F32, 31, 2);
    let narrow = TorchModel::stacked(CellKind::Lstm, false, "", "head.", 1, 4, 10, Store::F32, 32, 2);
    let one = TorchModel::new(CellKind::Lstm, false, "", "head.", 1, 4, 10, Store::F32, 33);
    let (a, b, c) = (
        write(dir.path(), "wide.safetensors", &wide.bytes()),
        write(dir.path(), "narrow.safetensors", &narrow.bytes()),
        write(dir.path(), "one.safetensors", &one.bytes()),
    );
    // A bank mixing 2-layer and 1-layer models is refused, naming both files.
    let err = import_fails(&[
        os("--model"),
        a.as_os_str(),
        os("--model"),
        c.as_os_str(),
        os("--task"),
        os("digits"),
        os("--out"),
        dir.path().join("mixed").as_os_str(),
    ]);
    assert!(err.contains("one.safetensors: 1 stacked layers") && err.contains("wide.safetensors) has 2"), "{err}");
    let out = dir.path().join("bank");
    import(&[
        os("--model"),
        a.as_os_str(),
        os("--model"),
        b.as_os_str(),
        os("--task"),
        os("digits"),
        os("--out"),
        out.as_os_str(),
    ]);
    let (bank, _) = flexrnn::rnn::io::load_bank(&out).unwrap();
    // Flat states [h1; c1; h0; c0]: lstm-6 → lstm-4 keeps the first 4 units of each part.
    let mut state: Vec<f32> = (0..24).map(|k| k as f32).collect();
    let mut spare = vec![0.0; 24];
    bank.carry_state(1, 0, &mut state, &mut spare);
    assert_eq!(state[..16], [0., 1., 2., 3., 6., 7., 8., 9., 12., 13., 14., 15., 18., 19., 20., 21.]);
    assert_eq!(bank.switch_flops(1, 0), 2 * 16 * 24 + 16);
    // `run` on a scenario that switches between them, and `eval` of the bank.
    run_default_scenario_on(dir.path(), &out, "lstm-6", "lstm-4");
    let eval_out = dir.path().join("eval");
    let output = flexrnn()
        .arg("eval")
        .arg(&out)
        .arg("--out")
        .arg(&eval_out)
        .args(["--resamples", "0", "--jobs", "1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let eval_csv = std::fs::read_to_string(eval_out.join("eval.csv")).unwrap();
    assert!(eval_csv.contains("lstm-4") && eval_csv.contains("lstm-6"), "{eval_csv}");
}

/// `tests/fixtures/compressed-split.npz`, written by NumPy 2.4 (committed; no Python at test time):
/// ```python
/// import numpy as np
/// n, t, i = 12, 5, 2
/// k = np.arange(n * t * i)
/// x = (((k % 17) - 8) * 0.25).astype(np.float32).reshape(n, t, i)
/// y = (np.arange(n) % 3).astype(np.int64)
/// split = np.array([2 if j % 5 == 0 else 1 if j % 5 == 1 else 0 for j in range(n)], dtype=np.int8)
/// np.savez_compressed("compressed-split.npz", x=x, y=y, split=split)
/// ```
#[test]
fn npz_savez_compressed_with_a_split_array_is_read_and_a_split_given_twice_is_refused() {
    let fixture = crate::root().join("tests/fixtures/compressed-split.npz");
    let task = Task::load(&format!("npz:{}", fixture.display())).unwrap();
    let expected: Vec<f32> = (0..120).map(|k| ((k % 17) as f32 - 8.0) * 0.25).collect();
    assert_eq!(task.set.values, expected, "deflated x read exactly");
    assert_eq!(task.set.labels, (0..12).map(|j| j % 3).collect::<Vec<u32>>());
    assert_eq!(task.split.test, [0, 5, 10]);
    assert_eq!(task.split.validation, [1, 6, 11]);
    assert_eq!(task.split.train, [2, 3, 4, 7, 8, 9]);
    // The file's split and percentages together are refused, naming the file.
    let err = Task::load(&format!("npz:{},test=30", fixture.display())).unwrap_err().to_string();
    assert!(
        err.contains("compressed-split.npz") && err.contains("`split` array") && err.contains("percentages"),
        "{err}"
    );
    // A split value other than 0, 1, 2 and a split of the wrong length are refused.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.npz");
    let x: Vec<u8> = expected.iter().flat_map(|v| v.to_le_bytes()).collect();
    let y: Vec<u8> = (0..12i64).flat_map(|j| (j % 3).to_le_bytes()).collect();
    let mut split = vec![0u8; 12];
    split[7] = 3;
    savez(
        &bad,
        &[
            ("x", "<f4", vec![12, 5, 2], x.clone()),
            ("y", "<i8", vec![12], y.clone()),
            ("split", "|u1", vec![12], split),
        ],
    );
    let err = Task::load(&format!("npz:{}", bad.display())).unwrap_err().to_string();
    assert!(
        err.contains("bad.npz") && err.contains("`split[7]` = 3; write 0 (train), 1 (validation) or 2 (test)"),
        "{err}"
    );
    savez(&bad, &[("x", "<f4", vec![12, 5, 2], x), ("y", "<i8", vec![12], y), ("split", "|u1", vec![11], vec![0; 11])]);
    let err = Task::load(&format!("npz:{}", bad.display())).unwrap_err().to_string();
    assert!(err.contains("`split` is `|u1` of shape [11]; expected integers of shape [N] = [12]"), "{err}");
}

/// Writes shipped model `name` of `models/digits-gru` as a PyTorch `nn.GRU` state dict (`weight_ih_l0`
/// …, `head.weight`, `head.bias`).
fn shipped_as_pytorch(dir: &Path, name: &str) -> PathBuf {
    let bytes = std::fs::read(crate::at("models/digits-gru").join(format!("{name}.safetensors"))).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let renamed: Vec<(String, TensorView<'_>)> = file
        .tensors()
        .into_iter()
        .map(|(n, view)| {
            let new = match n.strip_prefix("cell.") {
                Some(base) => format!("{base}_l0"),
                None => n.replacen("readout.", "head.", 1),
            };
            (new, view)
        })
        .collect();
    write(dir, &format!("{name}.safetensors"), &safetensors::serialize(renamed, None).unwrap())
}

/// Mean cross-entropy on digits' test split of runs that switch models: per sequence, 3 seeded
/// schedules of 1 to 3 changes, the state carried by the bank's maps.
fn mixed_run_loss(bank: &flexrnn::rnn::ModelBank) -> f64 {
    use rand::SeedableRng;
    let test = Task::load("digits").unwrap().part(SplitPart::Test);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let mut logits = vec![0.0f32; 10];
    let (mut sum, mut count) = (0.0, 0);
    for i in 0..test.len() {
        for _ in 0..3 {
            let schedule = flexrnn::train::bank::random_schedule(&mut rng, 2, test.length(i), 3);
            flexrnn::train::bank::run_schedule(bank, test.sequence(i), &schedule, &mut logits);
            let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let log_sum = logits.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln() + max;
            sum += log_sum - f64::from(logits[test.labels[i] as usize]);
            count += 1;
        }
    }
    sum / f64::from(count)
}

#[test]
fn ridge_maps_fitted_on_the_users_data_beat_truncation_in_mixed_runs_and_match_trains_own_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (small, large) = (shipped_as_pytorch(dir.path(), "gru-16"), shipped_as_pytorch(dir.path(), "gru-64"));
    let models = [os("--model"), small.as_os_str(), os("--model"), large.as_os_str(), os("--task"), os("digits")];
    let truncated = dir.path().join("truncated");
    import(&[&models[..], &[os("--out"), truncated.as_os_str()]].concat());
    let fitted = dir.path().join("fitted");
    let stdout = import(&[&models[..], &[os("--fit-maps-on"), os("digits"), os("--out"), fitted.as_os_str()]].concat());
    assert!(stdout.contains("map 16 → 64: test MSE"), "{stdout}");
    let (truncated_bank, truncated_card) = flexrnn::rnn::io::load_bank(&truncated).unwrap();
    let (fitted_bank, card) = flexrnn::rnn::io::load_bank(&fitted).unwrap();
    let source = card.import.as_ref().unwrap();
    assert_eq!(source.maps_fitted_on.as_deref(), Some("digits"));
    assert!(source.state_maps.starts_with("ridge regression") && source.state_maps.contains("task `digits`"));
    assert!(truncated_card.import.unwrap().maps_fitted_on.is_none());
    assert_eq!(card.family.maps.len(), 2);
    for map in &card.family.maps {
        assert!(map.test_mse < map.test_mse_truncate_pad, "{map:?}");
    }
    // The same fit as `flexrnn train`'s before its switch fine-tune: `train_bank`'s ridge fit on the
    // task's own train / validation / test parts with these two (shipped) members. (The shipped bank's
    // own maps were fine-tuned after that fit, so they are no reference any more.)
    let (shipped, _) = flexrnn::rnn::io::load_bank(&crate::at("models/digits-gru")).unwrap();
    let members: Vec<_> =
        ["gru-16", "gru-64"].iter().map(|n| shipped.models()[shipped.index_of(n).unwrap()].clone()).collect();
    let task = Task::load("digits").unwrap();
    let (train_part, validation_part, test_part) =
        (task.part(SplitPart::Train), task.part(SplitPart::Validation), task.part(SplitPart::Test));
    let (trains_fit, _, _) =
        flexrnn::train::bank::fit_bank_maps(&members, &train_part, &validation_part, &test_part, |_, _, _, _| {})
            .unwrap();
    for (from, to) in [(0, 1), (1, 0)] {
        let ours = fitted_bank.switch(from, to).unwrap().unwrap();
        let theirs = &trains_fit.iter().find(|(a, b, _)| (*a, *b) == (from, to)).unwrap().2;
        let worst = ours.weight.iter().zip(&theirs.weight).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-6, "map {from} → {to}: largest weight difference {worst}");
    }
    // Held-out sequences run with switches: ridge maps lose less than truncation / zero padding.
    let (ridge, truncation) = (mixed_run_loss(&fitted_bank), mixed_run_loss(&truncated_bank));
    assert!(ridge < truncation, "mixed-run cross-entropy: ridge {ridge:.4}, truncation {truncation:.4}");
    // One model has nothing to fit.
    let err = import_fails(&[
        os("--model"),
        small.as_os_str(),
        os("--task"),
        os("digits"),
        os("--fit-maps-on"),
        os("digits"),
        os("--out"),
        dir.path().join("one").as_os_str(),
    ]);
    assert!(err.contains("a bank of one model has no state maps to fit"), "{err}");
}

#[test]
fn a_stacked_card_of_a_one_layer_family_and_weights_with_more_layers_than_the_card_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A SkipW card saying `"layers": 2`.
    let skipw = dir.path().join("skipw");
    std::fs::create_dir(&skipw).unwrap();
    for entry in std::fs::read_dir(crate::at("models/digits-skipw")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, skipw.join(path.file_name().unwrap())).unwrap();
    }
    let mut card: serde_json::Value = serde_json::from_slice(&std::fs::read(skipw.join("card.json")).unwrap()).unwrap();
    card["layers"] = 2.into();
    std::fs::write(skipw.join("card.json"), serde_json::to_vec_pretty(&card).unwrap()).unwrap();
    let err = flexrnn::rnn::FlexibleModel::load(&skipw).unwrap_err().to_string();
    assert!(err.contains("card.json") && err.contains("`layers` is 2") && err.contains("family `skipw`"), "{err}");
    // A 2-layer import whose card is edited to one layer: the weights' layer 1 is named.
    let model = TorchModel::stacked(CellKind::Gru, false, "", "head.", 1, 4, 10, Store::F32, 41, 2);
    let file = write(dir.path(), "two.safetensors", &model.bytes());
    let out = dir.path().join("two");
    import(&[os("--model"), file.as_os_str(), os("--task"), os("digits"), os("--out"), out.as_os_str()]);
    let text = std::fs::read_to_string(out.join("card.json")).unwrap();
    std::fs::write(out.join("card.json"), text.replace("\"layers\": 2,", "")).unwrap();
    let err = flexrnn::rnn::io::load_bank(&out).unwrap_err().to_string();
    assert!(
        err.contains("gru-4.safetensors")
            && err.contains("`cell.weight_ih_l1` is a layer beyond the card's `layers` (1)"),
        "{err}"
    );
}

/// `infer --schedule`: a one-entry schedule writes exactly what `--setting` writes, and
/// `gru-16@0;gru-128@32` predicts, for every test sequence, what `FlexibleModel` run step by step with
/// that switch (the bank's state map at step 32) predicts; a malformed schedule is refused.
#[test]
fn infer_schedule_switches_the_setting_mid_sequence() {
    use flexrnn::rnn::FlexibleModel;
    let dir = tempfile::tempdir().unwrap();
    let bank = crate::at("models/digits-gru");
    let (one, alone, mixed) = (dir.path().join("one.csv"), dir.path().join("alone.csv"), dir.path().join("mixed.csv"));
    infer(&bank, &["--schedule", "gru-16@0"], &one);
    infer(&bank, &["--setting", "gru-16"], &alone);
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&alone).unwrap());
    infer(&bank, &["--schedule", "gru-16@0;gru-128@32"], &mixed);
    let rows = read_csv(&mixed);
    let model = FlexibleModel::load(&bank).unwrap();
    let (narrow, wide) = (model.setting_index("gru-16").unwrap(), model.setting_index("gru-128").unwrap());
    let task = flexrnn::data::TaskSpec::parse("digits").unwrap().load().unwrap();
    let test = task.split.indices(SplitPart::Test);
    assert_eq!(rows.len(), test.len());
    let mut state = model.new_state();
    let mut differs = 0;
    for (row, &i) in rows.iter().zip(test) {
        state.reset();
        for t in 0..task.set.length(i) {
            let setting = if t < 32 { narrow } else { wide };
            let plan = model.plan(setting, &mut state);
            model.step(setting, plan.updates.then(|| task.set.frame(i, t)), &mut state);
        }
        let prediction = model.predict(&mut state);
        assert_eq!(row["prediction"], prediction.to_string(), "sequence {i}");
        differs += usize::from(
            read_csv(&alone).iter().any(|r| r["sequence"] == i.to_string() && r["prediction"] != row["prediction"]),
        );
    }
    assert!(differs > 0, "the switch changes some predictions");
    let bad = flexrnn()
        .arg("infer")
        .arg(&bank)
        .args(["--schedule", "gru-16@4", "--out"])
        .arg(dir.path().join("x.csv"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("must start at step 0"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// Runs `flexrnn run` on the default scenario's text, shortened to 2 s, with the bank `bank` in place of
/// `models/digits-gru` and its models `wide` and `narrow` in place of gru-128 and gru-16 (a file for the
/// binary, under `dir`); panics unless it succeeds and greedy_slack ran more than 10 steps.
fn run_default_scenario_on(dir: &Path, bank: &Path, wide: &str, narrow: &str) {
    let bank_path = bank.display().to_string();
    let (wide, narrow) = (format!("model: {wide}"), format!("model: {narrow}"));
    let scenario = crate::yaml_with(
        "default.yaml",
        &[
            ("duration: 120s", "duration: 2s"),
            ("../models/digits-gru", &bank_path),
            ("model: gru-128", &wide),
            ("model: gru-16", &narrow),
        ],
    );
    let file = write(dir, "imported.yaml", scenario.as_bytes());
    let results = dir.join("results");
    let output = flexrnn().arg("run").arg(&file).arg("--out").arg(&results).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let steps = std::fs::read_to_string(results.join("greedy_slack/steps.csv")).unwrap();
    assert!(steps.lines().count() > 10, "{steps}");
}
