//! `docs/card.schema.json`: the JSON Schema of `card.json`, generated from the card types, cannot
//! drift from them, and every shipped card (and an imported stacked one) validates against it with
//! an independent validator (the `jsonschema` crate).

use crate::at;

fn shipped_schema() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(at("docs/card.schema.json")).unwrap()).unwrap()
}

#[test]
fn the_shipped_schema_is_the_one_the_card_types_generate() {
    let generated = flexrnn::rnn::io::card::card_json_schema();
    let text = std::fs::read_to_string(at("docs/card.schema.json")).unwrap();
    assert_eq!(
        text,
        format!("{}\n", serde_json::to_string_pretty(&generated).unwrap()),
        "docs/card.schema.json is stale: cargo run --release --example card_schema > docs/card.schema.json"
    );
}

#[test]
fn every_shipped_card_validates_and_broken_cards_do_not() {
    let validator = jsonschema::draft202012::new(&shipped_schema()).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(at("models")).unwrap() {
        let path = entry.unwrap().path().join("card.json");
        if !path.exists() {
            continue;
        }
        let card: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&card).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "{checked} cards");
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(at("models/digits-gru/card.json")).unwrap()).unwrap();
    let mut unknown = card.clone();
    unknown["hiden"] = 64.into();
    assert!(!validator.is_valid(&unknown), "an unknown field is refused, as the reader refuses it");
    let mut neither = card.clone();
    neither.as_object_mut().unwrap().remove("training");
    assert!(!validator.is_valid(&neither), "a card needs `training` or `import`");
    let mut zero_layers = card.clone();
    zero_layers["layers"] = 0.into();
    assert!(!validator.is_valid(&zero_layers));
    let mut bad_cell = card;
    bad_cell["cell"] = "rnn".into();
    assert!(!validator.is_valid(&bad_cell));
}
