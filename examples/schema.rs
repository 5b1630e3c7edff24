//! Prints a JSON Schema generated from the Rust types: `scenario`, `study` or `card`. The files
//! under `schema/` are its output (a test checks that they are equal):
//! `cargo run --release --example schema -- scenario > schema/scenario.schema.json` (likewise `study`
//! and `card`).

use flexrnn::policy::PolicyRegistry;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let schema = match which.as_str() {
        "scenario" => flexrnn::scenario::scenario_json_schema(&PolicyRegistry::builtin()),
        "study" => flexrnn::study::spec::study_json_schema(&PolicyRegistry::builtin()),
        "card" => flexrnn::rnn::io::card::card_json_schema(),
        _ => {
            eprintln!("usage: schema scenario|study|card");
            std::process::exit(2);
        }
    };
    println!("{}", serde_json::to_string_pretty(&schema).expect("a JSON value serialises"));
}
