//! Prints the JSON Schema of `card.json` (every family), generated from the card types; the shipped
//! `docs/card.schema.json` is its output (a test checks that they are equal):
//! `cargo run --release --example card_schema > docs/card.schema.json`.

fn main() {
    let schema = flexrnn::rnn::io::card::card_json_schema();
    println!("{}", serde_json::to_string_pretty(&schema).expect("a JSON value serialises"));
}
