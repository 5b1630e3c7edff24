//! The book (`docs/src/*.md`) and the front page (`README.md`) against the code: every YAML block
//! parses through the library's own readers, every command of the tutorial runs, every relative link
//! and anchor resolves, the command-line chapter shows each command's `--help` as the binary prints
//! it, and the outputs chapter names every column the tutorial's runs write.
//!
//! Conventions the chapters follow so that these tests can find things:
//! - ```` ```yaml ```` is a whole scenario or study file; ```` ```yaml fragment ```` is a part of one
//!   (only valid YAML is required); ```` ```yaml file=PATH ```` is a file the tutorial asks the reader to
//!   save at `PATH` (relative to the repository's root).
//! - ```` ```console ```` blocks hold commands, one per line starting with `$ flexrnn `.
//! - ```` ```text ```` blocks in `cli.md` that start with `$ flexrnn … --help` hold that output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use flexrnn::runner;
use flexrnn::scenario::Scenario;
use flexrnn::study::spec::Study;

use crate::{at, root};

/// A fenced code block of a Markdown file.
#[derive(Debug)]
struct Block {
    /// The info string after the opening fence (`yaml fragment`, `console`, …).
    info: String,
    /// The lines between the fences, each ending in `\n`.
    body: String,
    /// 1-based line of the opening fence.
    line: usize,
}

impl Block {
    fn language(&self) -> &str {
        self.info.split_whitespace().next().unwrap_or("")
    }

    fn attribute(&self, key: &str) -> Option<&str> {
        self.info.split_whitespace().skip(1).find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.info.split_whitespace().skip(1).any(|word| word == flag)
    }
}

/// The fenced code blocks of `text` (fences of three or more backticks at the start of a line), and the
/// text outside them (code lines blanked, so line numbers stay).
fn split_markdown(text: &str) -> (Vec<Block>, String) {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut open: Option<(usize, String, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let fence = line.starts_with("```");
        match open.take() {
            None if fence => open = Some((index + 1, line.trim_start_matches('`').trim().to_string(), String::new())),
            None => {
                prose.push_str(line);
            }
            Some((start, info, body)) if fence && line.trim() == "```" => {
                blocks.push(Block { info, body, line: start });
            }
            Some((start, info, mut body)) => {
                body.push_str(line);
                body.push('\n');
                open = Some((start, info, body));
            }
        }
        prose.push('\n');
    }
    assert!(open.is_none(), "a code block is not closed");
    (blocks, prose)
}

/// `docs/src/*.md` in name order, then `README.md`: (path relative to the root, text).
fn pages() -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(at("docs/src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    let mut pages: Vec<(String, String)> = names
        .into_iter()
        .map(|n| {
            let path = format!("docs/src/{n}");
            let text = std::fs::read_to_string(at(&path)).unwrap();
            (path, text)
        })
        .collect();
    pages.push(("README.md".into(), std::fs::read_to_string(at("README.md")).unwrap()));
    pages
}

fn validator(name: &str) -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(at(&format!("schema/{name}.schema.json"))).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

fn is_study(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("replications:"))
}

/// Checks one YAML block: a fragment must be YAML; a file must validate against its JSON Schema and
/// parse through `Scenario::parse` or `Study::parse` with relative paths against `dir`; a scenario
/// outside the tutorial also loads its model folders and plans its runs (as `flexrnn check` does).
fn check_yaml(block: &Block, label: &str, dir: &Path, load: bool) -> Result<(), String> {
    let _: serde_yaml::Value = serde_yaml::from_str(&block.body).map_err(|e| format!("not YAML: {e}"))?;
    if block.has_flag("fragment") {
        return Ok(());
    }
    // As an editor's YAML language server reads it for the schema.
    let json: serde_json::Value = serde_yaml::from_str(&block.body).map_err(|e| format!("not JSON-like: {e}"))?;
    let kind = if is_study(&block.body) { "study" } else { "scenario" };
    let schema = validator(kind);
    let errors: Vec<String> = schema.iter_errors(&json).map(|e| format!("{e} at {}", e.instance_path())).collect();
    if !errors.is_empty() {
        return Err(format!("not valid against schema/{kind}.schema.json: {errors:?}"));
    }
    if kind == "study" {
        Study::parse(&block.body, label, dir).map_err(|e| e.to_string())?;
    } else {
        let scenario = Scenario::parse(&block.body, label, dir).map_err(|e| e.to_string())?;
        if load {
            let resources = runner::load_resources(&scenario).map_err(|e| e.to_string())?;
            runner::plan_runs(&scenario, &resources).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The YAML blocks of every page, checked; the errors, one per failing block.
fn yaml_errors(pages: &[(String, String)]) -> (usize, Vec<String>) {
    // Files the tutorial asks the reader to save are written first, so that a study can name its
    // base scenario; their model folders may not exist yet (the tutorial trains one), so they are
    // parsed here and loaded and run by `the_tutorial_runs_as_written`.
    let saved = tempfile::tempdir().unwrap();
    let all: Vec<(&String, Block)> =
        pages.iter().flat_map(|(path, text)| split_markdown(text).0.into_iter().map(move |b| (path, b))).collect();
    for (_, block) in all.iter().filter(|(_, b)| b.language() == "yaml") {
        if let Some(file) = block.attribute("file") {
            let target = saved.path().join(file);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, &block.body).unwrap();
        }
    }
    let (mut checked, mut errors) = (0, Vec::new());
    for (path, block) in all.iter().filter(|(_, b)| b.language() == "yaml") {
        let label = format!("{path}:{}", block.line);
        let result = match block.attribute("file") {
            Some(file) => check_yaml(block, &label, saved.path().join(file).parent().unwrap(), false),
            None => check_yaml(block, &label, &at("scenarios"), true),
        };
        checked += 1;
        if let Err(e) = result {
            errors.push(format!("{label} (```{}): {e}", block.info));
        }
    }
    (checked, errors)
}

#[test]
fn every_yaml_block_of_the_book_and_the_front_page_parses() {
    let pages = pages();
    let (checked, errors) = yaml_errors(&pages);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The scenario and study references and the tutorial's three files at least.
    assert!(checked >= 6, "only {checked} YAML blocks found");
}

#[test]
fn a_broken_yaml_block_fails_the_check() {
    // The check above can fail: each of these pages has one block the readers refuse.
    let default = std::fs::read_to_string(at("scenarios/default.yaml")).unwrap();
    let broken = [
        ("a unit missing", format!("```yaml\n{}```\n", default.replace("rate: 10/s", "rate: 10"))),
        ("an unknown model", format!("```yaml\n{}```\n", default.replace("model: gru-16", "model: gru-17"))),
        ("an unknown policy", format!("```yaml\n{}```\n", default.replace("greedy_slack: {}", "greedy_slak: {}"))),
        ("a fragment that is not YAML", "```yaml fragment\npolicies: [static: {\n```\n".to_string()),
        (
            "a study whose axis names no field",
            "```yaml\nname: s\nscenario: default.yaml\nreplications: 2\naxes:\n  - path: processes.nobody.rate\n    values: [1/s]\n```\n"
                .to_string(),
        ),
    ];
    for (what, page) in broken {
        let (checked, errors) = yaml_errors(&[("broken.md".to_string(), page)]);
        assert_eq!((checked, errors.len()), (1, 1), "a page with {what} passes");
        assert!(errors[0].starts_with("broken.md:1 "), "{}", errors[0]);
    }
}

/// Copies `from` into `to`, recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A tutorial command as the test runs it: `--epochs N` and `--switch-epochs N` become 1 (the
/// tutorial's training takes minutes in release; one epoch of each makes the same files in about
/// 5 s). Every other command runs as written (each under 2 s in release).
fn shortened(words: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        out.push(word.clone());
        if word == "--epochs" || word == "--switch-epochs" {
            words.next().expect("a value after the flag");
            out.push("1".into());
        }
    }
    out
}

/// The header of the CSV file at `path`.
fn header(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().next().unwrap_or("").split(',').map(str::to_string).collect()
}

#[test]
fn the_tutorial_runs_as_written() {
    let text = std::fs::read_to_string(at("docs/src/tutorial.md")).unwrap();
    let (blocks, _) = split_markdown(&text);
    // The reader's repository: the shipped scenarios and models (the tutorial trains into models/).
    let repo = tempfile::tempdir().unwrap();
    copy_tree(&at("scenarios"), &repo.path().join("scenarios"));
    copy_tree(&at("models"), &repo.path().join("models"));
    let (mut commands, mut saved) = (Vec::new(), Vec::new());
    for block in &blocks {
        match block.language() {
            "yaml" => {
                let file = block
                    .attribute("file")
                    .unwrap_or_else(|| panic!("tutorial.md:{}: a YAML block without file=", block.line));
                let target = repo.path().join(file);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(&target, &block.body).unwrap();
                saved.push(file.to_string());
            }
            "console" => {
                for line in block.body.lines().filter(|l| !l.trim().is_empty()) {
                    let command = line.strip_prefix("$ flexrnn ").unwrap_or_else(|| {
                        panic!("tutorial.md:{}: `{line}` is not a `$ flexrnn …` command this test can run", block.line)
                    });
                    let words = shlex::split(command).expect("shell words");
                    let output = Command::new(env!("CARGO_BIN_EXE_flexrnn"))
                        .current_dir(repo.path())
                        .args(shortened(&words))
                        .output()
                        .unwrap();
                    assert!(
                        output.status.success(),
                        "`flexrnn {command}` failed:\n{}\n{}",
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    );
                    commands.push(command.to_string());
                }
            }
            // `cargo build --release` is what built the binary this test runs.
            "sh" => assert_eq!(block.body.trim(), "cargo build --release", "tutorial.md:{}", block.line),
            "python" | "r" => {}
            other => panic!("tutorial.md:{}: a ```{other} block this test does not know", block.line),
        }
    }
    assert!(commands.len() >= 10, "{commands:?}");
    // Every file the reader saves is used by a command.
    for file in &saved {
        assert!(commands.iter().any(|c| c.contains(file.as_str())), "no command uses {file}");
    }
    // What the tutorial says is there, is there.
    for file in [
        "results/default/comparison.md",
        "results/default/greedy_slack/steps.csv",
        "results/my-first/threshold/summary.csv",
        "results/my-study/report.html",
        "results/my-study/summary.csv",
        "results/my-study/paired.csv",
        "results/my-study/runs.csv",
        "models/my-digits/card.json",
        "results/eval-my-digits/summary.md",
        "results/my-model/comparison.csv",
    ] {
        assert!(repo.path().join(file).is_file(), "{file} is missing");
    }
    // The files the pandas and R code reads exist, and every column it names is in their header.
    for block in blocks.iter().filter(|b| matches!(b.language(), "python" | "r")) {
        let mut columns = BTreeSet::new();
        for path in block.body.split('"').filter(|p| p.starts_with("results/") && p.ends_with(".csv")) {
            columns.extend(header(&repo.path().join(path)));
        }
        for name in ["metric", "policy", "point_label", "mean", "excludes_zero", "seed_hex", "model", "latency_s"] {
            assert!(
                columns.contains(name),
                "`{name}` is read in the ```{} block but no file read there has it",
                block.info
            );
        }
    }
    outputs_chapter_names_every_column(repo.path());
}

/// Every column of every table the tutorial's runs and study wrote, and every key of a run's
/// `manifest.json` and of the output marker, is named (in backticks) in `docs/src/outputs.md`.
fn outputs_chapter_names_every_column(repo: &Path) {
    let chapter = std::fs::read_to_string(at("docs/src/outputs.md")).unwrap();
    // The words inside `code spans` (which may hold lists such as `stream, policy, sequence`).
    let words: BTreeSet<&str> = chapter
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|span| span.split(|c: char| !(c.is_alphanumeric() || "_<>".contains(c))))
        .collect();
    let named = |name: &str| words.contains(name);
    let mut missing = BTreeMap::<String, Vec<String>>::new();
    let files = [
        "results/my-first/comparison.csv",
        "results/my-first/greedy_slack/steps.csv",
        "results/my-first/greedy_slack/sequences.csv",
        "results/my-first/greedy_slack/jobs.csv",
        "results/my-first/greedy_slack/summary.csv",
        "results/my-first/greedy_slack/timeline.csv",
        "results/my-study/runs.csv",
        "results/my-study/summary.csv",
        "results/my-study/paired.csv",
        "results/eval-my-digits/eval.csv",
        "results/eval-my-digits/settings.csv",
        "results/eval-my-digits/checks.csv",
        "results/eval-my-digits/pairs.csv",
    ];
    for file in files {
        for column in header(&repo.join(file)) {
            // `steps_<model>` and the study's axis columns (field paths) are named by their pattern.
            let documented = if column.starts_with("steps_") {
                named("steps_<model>")
            } else if column.contains('.') {
                chapter.contains("one column per\naxis")
            } else {
                named(&column)
            };
            if !documented {
                missing.entry(file.to_string()).or_default().push(column);
            }
        }
    }
    for file in ["results/my-first/greedy_slack/manifest.json", "results/my-first/.flexrnn-output.json"] {
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(repo.join(file)).unwrap()).unwrap();
        for key in value.as_object().unwrap().keys() {
            if !named(key) {
                missing.entry(file.to_string()).or_default().push(key.clone());
            }
        }
    }
    assert!(missing.is_empty(), "columns and keys docs/src/outputs.md does not name: {missing:?}");
}

/// GitHub's (and mdBook's) anchor of a heading: lower case, letters, digits, `-` and `_` kept, spaces
/// to `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings (outside code blocks); a repeated heading gets `-1`, `-2`, ….
fn anchors(text: &str) -> BTreeSet<String> {
    let (_, prose) = split_markdown(text);
    let mut seen = BTreeMap::<String, usize>::new();
    let mut anchors = BTreeSet::new();
    for line in prose.lines() {
        let Some(heading) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) else { continue };
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *count == 0 { base.clone() } else { format!("{base}-{count}") });
        *count += 1;
    }
    anchors
}

/// The relative link targets of `text` outside code blocks, with their line.
fn links(text: &str) -> Vec<(usize, String)> {
    let (_, prose) = split_markdown(text);
    let mut links = Vec::new();
    for (index, line) in prose.lines().enumerate() {
        for piece in line.split("](").skip(1) {
            let Some(end) = piece.find(')') else { continue };
            let target = &piece[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                links.push((index + 1, target.to_string()));
            }
        }
    }
    links
}

/// Every broken relative link and anchor of `pages` (paths relative to the root).
fn broken_links(pages: &[(String, String)]) -> Vec<String> {
    let mut broken = Vec::new();
    for (path, text) in pages {
        let dir = Path::new(path).parent().unwrap();
        for (line, target) in links(text) {
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved: PathBuf = if file.is_empty() { PathBuf::from(path) } else { dir.join(file) };
            let on_disk = at(&resolved.to_string_lossy());
            if !on_disk.exists() {
                broken.push(format!("{path}:{line}: {target}: no {}", resolved.display()));
                continue;
            }
            if !anchor.is_empty() {
                let target_text = match pages.iter().find(|(p, _)| on_disk == at(p)) {
                    Some((_, t)) => t.clone(),
                    None => std::fs::read_to_string(&on_disk).unwrap_or_default(),
                };
                if !anchors(&target_text).contains(anchor) {
                    broken.push(format!("{path}:{line}: {target}: no heading `#{anchor}` in {}", resolved.display()));
                }
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_and_anchor_of_the_book_and_the_front_page_resolves() {
    let pages = pages();
    let broken = broken_links(&pages);
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    // `mdbook build docs` copies only what is under docs/src/ (figures included): a chapter's link
    // out of it would work on GitHub but be broken in the built book.
    for (path, text) in pages.iter().filter(|(p, _)| p.starts_with("docs/src/")) {
        for (line, target) in links(text) {
            assert!(!target.starts_with("../"), "{path}:{line}: {target} leaves docs/src/, the built book misses it");
        }
    }
    // And the check can fail: a missing file and a missing heading are both found.
    let bad =
        vec![("docs/src/bad.md".to_string(), "[a](nothing.md) and [b](outputs.md#no-such-heading)\n".to_string())];
    assert_eq!(broken_links(&bad).len(), 2);
    // Every chapter is in the table of contents, and the table names only chapters that exist.
    let summary = std::fs::read_to_string(at("docs/src/SUMMARY.md")).unwrap();
    let listed: BTreeSet<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    for (path, _) in &pages {
        if let Some(name) = path.strip_prefix("docs/src/").filter(|n| *n != "SUMMARY.md") {
            assert!(listed.contains(name), "{name} is not in SUMMARY.md");
        }
    }
}

#[test]
fn the_front_page_stays_a_front_page() {
    let readme = std::fs::read_to_string(at("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 250, "README.md has {lines} lines; move reference text into docs/src/");
    for command in ["cargo run --release -- run scenarios/default.yaml", "cargo test --release"] {
        assert!(readme.lines().any(|l| l == command), "the front page lost `{command}`");
    }
}

/// `flexrnn ARGS` run from the root; its standard output.
fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_flexrnn")).current_dir(root()).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_command_line_chapter_shows_every_commands_help() {
    let top = help(&["--help"]);
    let commands: Vec<String> = top
        .split("Commands:\n")
        .nth(1)
        .expect("a command list")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect();
    assert!(commands.len() >= 12, "{commands:?}");
    let chapter = std::fs::read_to_string(at("docs/src/cli.md")).unwrap();
    let (blocks, _) = split_markdown(&chapter);
    let shown: BTreeMap<String, &Block> = blocks
        .iter()
        .filter(|b| b.language() == "text")
        .filter_map(|b| Some((b.body.lines().next()?.strip_prefix("$ ")?.to_string(), b)))
        .collect();
    let mut stale = Vec::new();
    for args in
        std::iter::once(vec!["--help".to_string()]).chain(commands.iter().map(|c| vec![c.clone(), "--help".into()]))
    {
        let typed = format!("flexrnn {}", args.join(" "));
        let expected = format!("$ {typed}\n{}", help(&args.iter().map(String::as_str).collect::<Vec<_>>()));
        match shown.get(&typed) {
            Some(block) if block.body.trim_end() == expected.trim_end() => {}
            Some(block) => stale.push(format!("docs/src/cli.md:{}: `{typed}` prints something else now", block.line)),
            None => stale.push(format!("docs/src/cli.md has no ```text block for `{typed}`")),
        }
        // Each command has its own row in the chapter's table too.
        if args.len() == 2 {
            assert!(chapter.contains(&format!("| `{}` |", args[0])), "no row for `{}` in cli.md's table", args[0]);
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n(replace each block by `$ flexrnn … --help` and that command's output)",
        stale.join("\n")
    );
}
