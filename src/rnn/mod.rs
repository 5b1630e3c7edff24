//! Recurrent networks: the recurrent cell (`cell::RnnCell`, GRU or LSTM by its gate set, one flat
//! state) and its step kernels, classifiers, state maps and model banks (`model`), the Skip-GRU of
//! the ThrRNN family (`skip`), SkipW (`skipw`), nested widths (`nested`), all file I/O (`io`: weights
//! and model cards of every family), and `flex`: one interface over the flexible families. This
//! module knows nothing of the simulator.
//!
//! The files depend on each other in one direction only (checked by a test that reads the sources):
//! `kernels` → `cell` → `model` → `skip`, `skipw`, `nested` (`schedule` beside them) → `io` → `flex`.
//! No model type reads or writes a file; `io` knows every family; only `flex` knows `io`.

pub mod cell;
pub mod flex;
pub mod io;
pub mod kernels;
pub mod model;
pub mod nested;
pub mod schedule;
pub mod skip;
pub mod skipw;

pub use cell::{CellKind, CellScratch, RnnCell, ShapeError};
pub use flex::{FamilyState, FlexState, FlexibleModel, KnobError, Knobs, Setting, StepPlan};
pub use model::{argmax, truncate_or_pad, GruClassifier, ModelBank, RnnClassifier, StateMap};
pub use nested::{NestedGru, NestedRnn, NestedScratch};
pub use schedule::change_steps;
pub use skip::{SkipClassification, SkipGruClassifier, SkipRnnClassifier, SkipState};
pub use skipw::{SkipWClassifier, SkipWKnobs, SkipWState};

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The library code of a source file: everything before its first `#[cfg(test)]` (unit tests
    /// may use any sibling), without comments.
    fn library_code(text: &str) -> String {
        let mut code = String::new();
        for line in text.lines() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            code.push_str(line.split("//").next().unwrap_or(""));
            code.push('\n');
        }
        code
    }

    /// The identifiers that follow each occurrence of `prefix` in `code`.
    fn after<'a>(code: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        code.match_indices(prefix).map(move |(at, _)| {
            let rest = &code[at + prefix.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            &rest[..end]
        })
    }

    /// The dependency graph between `rnn`'s modules, from the library code of `src/rnn/**.rs`: a file
    /// `x.rs` or folder `x/` is node `x`; `super::y` (from a file of `rnn`), `super::super::y` (from a
    /// file of a folder) and `crate::rnn::y` are edges to `y`. Items must be reached through their
    /// module, not through `rnn`'s re-exports, so that every edge is seen.
    fn rnn_imports() -> BTreeMap<String, BTreeSet<String>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rnn");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                for inner in std::fs::read_dir(&path).unwrap() {
                    files.push((name.clone(), true, inner.unwrap().path()));
                }
            } else if name != "mod" {
                files.push((name, false, path));
            }
        }
        let modules: BTreeSet<String> = files.iter().map(|(module, _, _)| module.clone()).collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, in_folder, path) in &files {
            let code = library_code(&std::fs::read_to_string(path).unwrap());
            let mut targets: Vec<&str> = after(&code, "crate::rnn::").collect();
            if *in_folder {
                targets.extend(after(&code, "super::super::"));
            } else {
                targets.extend(after(&code, "super::").filter(|t| *t != "super"));
            }
            let edges = graph.entry(module.clone()).or_default();
            for target in targets {
                assert!(
                    modules.contains(target),
                    "{}: `{target}` is not a module of rnn; name the module that defines it",
                    path.display()
                );
                if target != module {
                    edges.insert(target.to_string());
                }
            }
        }
        graph
    }

    /// The modules of `graph` in an order where every module comes after those it imports, or the
    /// modules left on a cycle.
    fn topological_order(graph: &BTreeMap<String, BTreeSet<String>>) -> Result<Vec<String>, Vec<String>> {
        let mut left = graph.clone();
        let mut order = Vec::new();
        while !left.is_empty() {
            let ready: Vec<String> = left
                .iter()
                .filter(|(_, deps)| deps.iter().all(|d| order.contains(d)))
                .map(|(m, _)| m.clone())
                .collect();
            if ready.is_empty() {
                return Err(left.keys().cloned().collect());
            }
            for module in ready {
                left.remove(&module);
                order.push(module);
            }
        }
        Ok(order)
    }

    #[test]
    fn rnn_modules_import_each_other_without_a_cycle() {
        let graph = rnn_imports();
        let order = topological_order(&graph).unwrap_or_else(|cycle| panic!("import cycle among {cycle:?}: {graph:?}"));
        let position = |m: &str| order.iter().position(|o| o == m).unwrap_or_else(|| panic!("no module {m}"));
        // The layers: kernels → cell → model → the families → io → flex.
        for (lower, upper) in
            [("kernels", "cell"), ("cell", "model"), ("model", "skip"), ("model", "skipw"), ("model", "nested")]
        {
            assert!(position(lower) < position(upper), "{lower} before {upper}: {order:?}");
        }
        assert!(graph["kernels"].is_empty(), "the kernels import nothing of rnn: {graph:?}");
        // No model type knows files: only `flex` may import `io`, and `io` no `flex`.
        for (module, deps) in &graph {
            assert!(module == "flex" || !deps.contains("io"), "{module} imports io: {graph:?}");
            assert!(!deps.contains("flex"), "{module} imports flex: {graph:?}");
        }
        for family in ["cell", "model", "skip", "skipw", "nested"] {
            assert!(graph["io"].contains(family), "io reads and writes {family}: {graph:?}");
        }
    }

    #[test]
    fn the_import_check_sees_a_cycle() {
        let edge = |a: &str, b: &str| (a.to_string(), BTreeSet::from([b.to_string()]));
        let cyclic = BTreeMap::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
        assert_eq!(topological_order(&cyclic), Err(vec!["a".into(), "b".into(), "c".into()]));
        let layered = BTreeMap::from([edge("a", "b"), edge("b", "c"), ("c".to_string(), BTreeSet::new())]);
        assert_eq!(topological_order(&layered), Ok(vec!["c".into(), "b".into(), "a".into()]));
        let code =
            library_code("use super::cell::X; // super::io\nuse crate::rnn::model::Y;\n#[cfg(test)]\nuse super::io;");
        assert_eq!(after(&code, "super::").collect::<Vec<_>>(), ["cell"]);
        assert_eq!(after(&code, "crate::rnn::").collect::<Vec<_>>(), ["model"]);
    }
}
