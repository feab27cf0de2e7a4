//! The validator never panics, whatever JSON it is given, and every issue it reports is a located
//! error.

mod common;

use kizuna_fhir::validate_resource;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use std::sync::OnceLock;

/// Property names that reach deep into the definitions (and some that are wrong).
const KEYS: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "lastUpdated",
    "text",
    "div",
    "_div",
    "status",
    "_status",
    "contained",
    "extension",
    "modifierExtension",
    "url",
    "valueString",
    "_valueString",
    "valueQuantity",
    "valueCodeableConcept",
    "valueBoolean",
    "valueInteger",
    "valueDate",
    "value",
    "name",
    "given",
    "_given",
    "family",
    "birthDate",
    "_birthDate",
    "gender",
    "telecom",
    "rank",
    "photo",
    "data",
    "code",
    "coding",
    "system",
    "clinicalStatus",
    "subject",
    "reference",
    "item",
    "linkId",
    "type",
    "entry",
    "resource",
    "request",
    "method",
    "parameter",
    "effectiveDateTime",
    "multipleBirthInteger",
    "occurrenceDateTime",
    "fhir_comments",
    "",
    "_",
    "x",
];

const TYPES: &[&str] = &[
    "Patient",
    "Observation",
    "Questionnaire",
    "Bundle",
    "Parameters",
    "Condition",
    "Immunization",
    "Extension",
    "DomainResource",
    "patient",
    "",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "-?[0-9]{1,30}(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?"
            .prop_map(|t| serde_json::from_str::<Value>(&t).unwrap_or(Value::Null)),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::sample::select(TYPES).prop_map(str::to_string),
        prop::sample::select(KEYS).prop_map(str::to_string),
        "[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,3})?([+-][0-9]{2}:[0-9]{2}|Z)?)?)?)?",
        "<div( xmlns=\"http://www.w3.org/1999/xhtml\")?>.{0,10}(</div>)?",
        "[A-Za-z0-9+/= \n]{0,20}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 256, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(str::to_string),
                        any::<String>()
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object with a resourceType, so that the walk goes into the definitions.
fn resource() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(TYPES),
        prop::collection::vec((prop::sample::select(KEYS), json()), 0..10),
    )
        .prop_map(|(rt, kv)| {
            let mut m = Map::new();
            m.insert("resourceType".into(), Value::String(rt.to_string()));
            for (k, v) in kv {
                if k != "resourceType" {
                    m.insert(k.to_string(), v);
                }
            }
            Value::Object(m)
        })
}

fn check(v: &Value) {
    for issue in validate_resource(v) {
        assert!(issue.is_error(), "{issue:?}");
        assert!(
            issue.expression.as_deref().is_some_and(|e| !e.is_empty()),
            "{issue:?}"
        );
        assert!(!issue.message.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in json()) {
        check(&v);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_resources_never_panic(v in resource()) {
        check(&v);
    }
}

/// The official examples, read once (None if the fixtures are missing).
fn examples() -> Option<&'static [Value]> {
    static EXAMPLES: OnceLock<Option<Vec<Value>>> = OnceLock::new();
    EXAMPLES
        .get_or_init(|| {
            let dir = common::fixtures("fhir-r4/examples")?;
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.retain(|p| p.extension().is_some_and(|e| e == "json"));
            files.sort();
            Some(
                files
                    .iter()
                    .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
                    .collect(),
            )
        })
        .as_deref()
}

/// Replaces the value at a pseudo-random position of `v` with `with`.
fn mutate(v: &mut Value, mut pick: u64, with: Value) {
    let mut cur = v;
    loop {
        let len = match &*cur {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if len == 0 || pick.is_multiple_of(4) {
            *cur = with;
            return;
        }
        let i = (pick / 4) as usize % len;
        pick /= 7;
        cur = match cur {
            Value::Array(a) => &mut a[i],
            Value::Object(o) => o.values_mut().nth(i).unwrap(),
            _ => unreachable!(),
        };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Official examples with one value replaced by arbitrary JSON.
    #[test]
    fn mutated_official_examples_never_panic(file in any::<usize>(), pick in any::<u64>(), with in json()) {
        let Some(examples) = examples() else { return Ok(()) };
        let mut v = examples[file % examples.len()].clone();
        mutate(&mut v, pick, with);
        check(&v);
    }
}
