//! Tests of the crate's layering, read from the sources: which module may import which
//! (ARCHITECTURE.md's invariants), that no module imports itself through a cycle, and that the
//! library writes files only through `output`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module graph: module → the modules it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The library code of a source file: everything before its first `#[cfg(test)]` (unit tests may use
/// anything), without comments.
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

/// Every `.rs` file under `dir`, with the name of the child of `dir` it belongs to (`x` for `x.rs`
/// and for everything in the folder `x/`) and whether it lies in such a folder; `mod.rs`/`lib.rs`
/// and `main.rs` of `dir` itself are left out, and so are test files (`tests.rs`) and this one.
fn source_files(dir: &Path) -> Vec<(String, bool, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut inner = Vec::new();
            walk(&path, &mut inner);
            files.extend(inner.into_iter().map(|p| (name.clone(), true, p)));
        } else if !["mod", "lib", "main", "layering"].contains(&name.as_str())
            && path.extension().is_some_and(|e| e == "rs")
        {
            files.push((name, false, path));
        }
    }
    files.sort();
    files
}

/// The graph of the top-level modules of the crate, from `crate::x` paths in their library code.
fn crate_imports() -> Graph {
    let files = source_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let modules: BTreeSet<String> = files.iter().map(|(module, _, _)| module.clone()).collect();
    let mut graph = Graph::new();
    for (module, _, path) in &files {
        let code = library_code(&std::fs::read_to_string(path).unwrap());
        let edges = graph.entry(module.clone()).or_default();
        for target in after(&code, "crate::") {
            assert!(modules.contains(target), "{}: `crate::{target}` is not a module", path.display());
            if target != module {
                edges.insert(target.to_string());
            }
        }
    }
    graph
}

/// The dependency graph between `rnn`'s modules, from the library code of `src/rnn/**.rs`: a file
/// `x.rs` or folder `x/` is node `x`; `super::y` (from a file of `rnn`), `super::super::y` (from a
/// file of a folder) and `crate::rnn::y` are edges to `y`. Items must be reached through their
/// module, not through `rnn`'s re-exports, so that every edge is seen.
fn rnn_imports() -> Graph {
    let files = source_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rnn"));
    let modules: BTreeSet<String> = files.iter().map(|(module, _, _)| module.clone()).collect();
    let mut graph = Graph::new();
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
fn topological_order(graph: &Graph) -> Result<Vec<String>, Vec<String>> {
    let mut left = graph.clone();
    let mut order = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> =
            left.iter().filter(|(_, deps)| deps.iter().all(|d| order.contains(d))).map(|(m, _)| m.clone()).collect();
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
fn crate_modules_import_each_other_without_a_cycle_and_keep_their_layers() {
    let graph = crate_imports();
    topological_order(&graph).unwrap_or_else(|cycle| panic!("import cycle among {cycle:?}: {graph:?}"));
    let imports = |module: &str| graph.get(module).unwrap_or_else(|| panic!("no module {module}: {graph:?}"));
    let only = |module: &str, allowed: &[&str]| {
        let extra: Vec<&String> = imports(module).iter().filter(|m| !allowed.contains(&m.as_str())).collect();
        assert!(extra.is_empty(), "{module} may import only {allowed:?}, but imports {extra:?}");
    };
    // The kernel knows only time and events.
    only("sim", &[]);
    // The node knows jobs, not processes or RNNs; workloads describe processes (and read their
    // trace files through `input`), not the world.
    only("node", &["sim"]);
    only("units", &["sim"]);
    only("metrics", &["sim"]);
    only("workload", &["sim", "seed", "input"]);
    // The RNN code knows nothing of the simulator.
    for module in ["rnn", "train", "data"] {
        only(module, &["rnn", "train", "data", "input"]);
    }
    // Profiling times the networks' own kernels; it knows the profile format, not the simulator.
    only("profile", &["rnn", "data", "workload"]);
    // Policies see observations, options and their context, never the world, the network or files.
    only("policy", &["sim", "units", "workload", "seed"]);
    // Pure computations of results do not know where they are written.
    for module in ["report", "study", "eval", "validate", "runner", "engine", "scenario", "profile"] {
        assert!(!imports(module).contains("output"), "{module} imports output: {graph:?}");
        assert!(!imports(module).contains("cli"), "{module} imports cli: {graph:?}");
    }
}

#[test]
fn the_library_writes_files_only_through_output() {
    const WRITES: [&str; 7] =
        ["fs::write", "File::create", "fs::rename", "remove_dir", "remove_file", "create_dir", "OpenOptions"];
    let files = source_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for (module, _, path) in files.iter().filter(|(module, _, _)| module != "output") {
        let code = library_code(&std::fs::read_to_string(path).unwrap());
        for call in WRITES {
            assert!(!code.contains(call), "{} ({module}) calls {call}: write through crate::output", path.display());
        }
    }
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
    let cyclic = Graph::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(topological_order(&cyclic), Err(vec!["a".into(), "b".into(), "c".into()]));
    let layered = Graph::from([edge("a", "b"), edge("b", "c"), ("c".to_string(), BTreeSet::new())]);
    assert_eq!(topological_order(&layered), Ok(vec!["c".into(), "b".into(), "a".into()]));
    let code =
        library_code("use super::cell::X; // super::io\nuse crate::rnn::model::Y;\n#[cfg(test)]\nuse super::io;");
    assert_eq!(after(&code, "super::").collect::<Vec<_>>(), ["cell"]);
    assert_eq!(after(&code, "crate::rnn::").collect::<Vec<_>>(), ["model"]);
}
