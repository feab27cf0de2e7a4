//! Index extraction on official R4 examples, JP Core / CLINS examples and Synthea data.

use kizuna_search::Decimal;
use kizuna_search::extract::{
    ComponentValue, DateValue, Entries, ReferenceValue, TokenValue, extract, normalize_string,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Where the shared fixtures are (`KIZUNA_FIXTURES`, or `../shared/fixtures` beside the repo).
fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if dir.is_dir() {
        Some(dir)
    } else {
        if std::env::var("CI").is_ok() {
            panic!("fixtures not found at {}", dir.display());
        }
        eprintln!(
            "\n*** SKIPPED: fixtures not found at {} (set KIZUNA_FIXTURES) ***\n",
            dir.display()
        );
        None
    }
}

fn example(name: &str) -> Option<Value> {
    let path = fixtures()?.join("fhir-r4/examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    Some(serde_json::from_str(&text).unwrap())
}

fn tokens<'a>(e: &'a Entries, code: &str) -> Vec<&'a TokenValue> {
    e.tokens
        .iter()
        .filter(|t| t.param.code == code)
        .map(|t| &t.value)
        .collect()
}

fn micros(ts: &str) -> i64 {
    ts.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

#[test]
fn patient_example() {
    let Some(p) = example("patient-example.json") else {
        return;
    };
    let e = extract(&p);
    let birth: Vec<DateValue> = e
        .dates
        .iter()
        .filter(|d| d.param.code == "birthdate")
        .map(|d| d.value)
        .collect();
    assert_eq!(
        birth,
        vec![DateValue {
            start_micros: micros("1974-12-24T15:00:00Z"),
            end_micros: micros("1974-12-25T15:00:00Z"),
        }]
    );
    let family: Vec<(&str, &str)> = e
        .strings
        .iter()
        .filter(|s| s.param.code == "family")
        .map(|s| (s.value.exact.as_str(), s.value.normalized.as_str()))
        .collect();
    assert!(family.contains(&("Chalmers", "chalmers")), "{family:?}");
    assert!(family.contains(&("Windsor", "windsor")), "{family:?}");
    // `name` covers every part.
    assert!(
        e.strings
            .iter()
            .any(|s| s.param.code == "name" && s.value.exact == "Peter")
    );
    let gender = tokens(&e, "gender");
    assert_eq!(gender.len(), 1);
    assert_eq!(gender[0].code.as_deref(), Some("male"));
    assert_eq!(gender[0].system, None);
    let ids = tokens(&e, "identifier");
    let mr = ids
        .iter()
        .find(|t| t.code.as_deref() == Some("12345"))
        .expect("identifier 12345");
    assert_eq!(mr.system.as_deref(), Some("urn:oid:1.2.36.146.595.217.0.1"));
    assert!(mr.identifier_type.contains(&(
        Some("http://terminology.hl7.org/CodeSystem/v2-0203".into()),
        Some("MR".into())
    )));
    assert_eq!(tokens(&e, "_id")[0].code.as_deref(), Some("example"));
    assert_eq!(tokens(&e, "active")[0].code.as_deref(), Some("true"));
    // Telecom: the value, without system.
    assert!(
        tokens(&e, "phone")
            .iter()
            .any(|t| t.code.as_deref() == Some("(03) 5555 6473") && t.system.is_none())
    );
    assert!(e.references.iter().any(|r| r.param.code == "organization"
        && r.value
            == ReferenceValue::Local {
                resource_type: "Organization".into(),
                id: "1".into(),
                version: None
            }));
    // Address parts.
    assert!(
        e.strings
            .iter()
            .any(|s| s.param.code == "address-city" && s.value.normalized == "pleasantville")
    );
}

#[test]
fn observation_example() {
    let Some(o) = example("observation-example.json") else {
        return;
    };
    let e = extract(&o);
    let code = tokens(&e, "code");
    for c in ["29463-7", "3141-9"] {
        assert!(
            code.iter()
                .any(|t| t.system.as_deref() == Some("http://loinc.org")
                    && t.code.as_deref() == Some(c)),
            "{c}: {code:?}"
        );
    }
    assert!(
        code.iter()
            .any(|t| t.text.as_deref() == Some("Body Weight") && t.code.is_some())
    );
    let subject: Vec<&ReferenceValue> = e
        .references
        .iter()
        .filter(|r| r.param.code == "subject" || r.param.code == "patient")
        .map(|r| &r.value)
        .collect();
    let example = ReferenceValue::Local {
        resource_type: "Patient".into(),
        id: "example".into(),
        version: None,
    };
    assert_eq!(subject, vec![&example, &example]);
    let q: Vec<_> = e
        .quantities
        .iter()
        .filter(|q| q.param.code == "value-quantity")
        .map(|q| &q.value)
        .collect();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].value, Decimal::parse("185").unwrap());
    assert_eq!(q[0].system.as_deref(), Some("http://unitsofmeasure.org"));
    assert_eq!(q[0].code.as_deref(), Some("[lb_av]"));
    assert_eq!(q[0].unit.as_deref(), Some("lbs"));
    let date: Vec<DateValue> = e
        .dates
        .iter()
        .filter(|d| d.param.code == "date")
        .map(|d| d.value)
        .collect();
    assert_eq!(
        date,
        vec![DateValue {
            start_micros: micros("2016-03-27T15:00:00Z"),
            end_micros: micros("2016-03-28T15:00:00Z"),
        }]
    );
    // Composite: code-value-quantity, one entry per coding of the code.
    let cvq: Vec<&Vec<ComponentValue>> = e
        .composites
        .iter()
        .filter(|c| c.param.code == "code-value-quantity")
        .map(|c| &c.value)
        .collect();
    assert_eq!(cvq.len(), 4, "{cvq:?}");
    assert!(cvq.iter().any(|c| matches!(
        c.as_slice(),
        [ComponentValue::Token(t), ComponentValue::Quantity(q)]
            if t.code.as_deref() == Some("29463-7") && q.code.as_deref() == Some("[lb_av]")
    )));
}

#[test]
fn periods_money_and_open_ends() {
    let e = extract(&json!({
        "resourceType": "Encounter",
        "period": {"start": "2020-01-01T10:00:00Z"},
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
    }));
    let d: Vec<DateValue> = e
        .dates
        .iter()
        .filter(|d| d.param.code == "date")
        .map(|d| d.value)
        .collect();
    assert_eq!(
        d,
        vec![DateValue {
            start_micros: micros("2020-01-01T10:00:00Z"),
            end_micros: i64::MAX
        }]
    );
    // A Timing gives each event and the bounds of its schedule.
    let e = extract(&json!({
        "resourceType": "CarePlan", "status": "active", "intent": "plan",
        "subject": {"reference": "Patient/p"},
        "activity": [{"detail": {"status": "scheduled", "scheduledTiming": {
            "event": ["2024-05-01T09:00:00+09:00"],
            "repeat": {"boundsPeriod": {"start": "2024-01-01T00:00:00Z", "end": "2024-12-31T00:00:00Z"}}
        }}}]
    }));
    let mut d: Vec<DateValue> = e
        .dates
        .iter()
        .filter(|d| d.param.code == "activity-date")
        .map(|d| d.value)
        .collect();
    d.sort_by_key(|d| d.start_micros);
    assert_eq!(
        d,
        vec![
            DateValue {
                start_micros: micros("2024-01-01T00:00:00Z"),
                end_micros: micros("2024-12-31T00:00:00Z") + 1_000_000
            },
            DateValue {
                start_micros: micros("2024-05-01T00:00:00Z"),
                end_micros: micros("2024-05-01T00:00:00Z") + 1_000_000
            },
        ]
    );
    // Parsed from text: `json!` would read 12.50 as a float.
    let charge: Value = serde_json::from_str(
        r#"{"resourceType": "ChargeItem",
            "priceOverride": {"value": 12.50, "currency": "JPY"},
            "quantity": {"value": 3}}"#,
    )
    .unwrap();
    let e = extract(&charge);
    let money: Vec<_> = e
        .quantities
        .iter()
        .filter(|q| q.param.code == "price-override")
        .collect();
    assert_eq!(money.len(), 1);
    assert_eq!(money[0].value.value.to_plain_string(), "12.50");
    assert_eq!(money[0].value.code.as_deref(), Some("JPY"));
    assert_eq!(
        money[0].value.system.as_deref(),
        Some("urn:iso:std:iso:4217")
    );
    let risk: Value = serde_json::from_str(
        r#"{"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": 0.020}]}"#,
    )
    .unwrap();
    let e = extract(&risk);
    let p: Vec<String> = e
        .numbers
        .iter()
        .filter(|n| n.param.code == "probability")
        .map(|n| n.value.to_plain_string())
        .collect();
    assert_eq!(p, vec!["0.020"]);
    let e = extract(&json!({
        "resourceType": "ValueSet",
        "url": "http://example.org/vs",
        "meta": {"profile": ["http://example.org/p|1.0"], "tag": [{"system": "s", "code": "t"}]}
    }));
    let uris: Vec<(&str, &str)> = e
        .uris
        .iter()
        .map(|u| (u.param.code.as_str(), u.value.as_str()))
        .collect();
    assert!(uris.contains(&("url", "http://example.org/vs")), "{uris:?}");
    assert!(
        uris.contains(&("_profile", "http://example.org/p|1.0")),
        "{uris:?}"
    );
    assert_eq!(tokens(&e, "_tag")[0].code.as_deref(), Some("t"));
    // Malformed values are skipped.
    let e = extract(&json!({
        "resourceType": "Patient",
        "birthDate": "not a date",
        "gender": 3,
        "name": [{"family": ["x"], "given": "y"}]
    }));
    assert!(e.dates.iter().all(|d| d.param.code != "birthdate"));
}

#[test]
fn japanese_normalization() {
    for (input, expected) in [
        ("ヤマダ", "やまだ"),
        ("やまだ", "やまだ"),
        ("ﾔﾏﾀﾞ", "やまだ"),
        ("ガッコウ", "がっこう"),
        ("ﾊﾟﾝ", "ぱん"),
        ("カ", "か"),
        ("ヴ", "ゔ"),
        ("ヽヾ", "ゝゞ"),
        ("ＹＡＭＡＤＡ", "yamada"),
        ("ｙａｍａｄａ　太郎", "yamada 太郎"),
        ("山田", "山田"),
        ("ＡＢ", "ab"),
        ("１２３", "123"),
        ("Müller", "muller"),
        ("du Marché", "du marche"),
        ("Ångström", "angstrom"),
        ("ÉLODIE", "elodie"),
        ("ﬁ", "fi"),
        ("Ⅻ", "xii"),
        ("タロー", "たろー"),
    ] {
        assert_eq!(normalize_string(input), expected, "{input}");
    }
    // Voicing marks are kept: ガ is not カ.
    assert_ne!(normalize_string("ガ"), normalize_string("カ"));
    assert_eq!(normalize_string("ｶﾞ"), normalize_string("が"));
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    list.sort();
    list
}

/// Every resource of a JSON document: itself, and a Bundle's entries (recursively).
fn resources(v: &Value, out: &mut Vec<Value>) {
    out.push(v.clone());
    if let Some(entries) = v.get("entry").and_then(Value::as_array) {
        for r in entries.iter().filter_map(|e| e.get("resource")) {
            resources(r, out);
        }
    }
}

#[test]
fn every_example_extracts_without_panic() {
    let Some(dir) = fixtures() else { return };
    let mut count = 0;
    let mut entries = 0;
    for sub in ["fhir-r4/examples", "jp/clins"] {
        for path in json_files(&dir.join(sub)) {
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let mut list = Vec::new();
            resources(&v, &mut list);
            for r in &list {
                let e = extract(r);
                entries += e.len();
                count += 1;
                // Every resource has at least its _id or _lastUpdated, when present.
                if r.get("id").and_then(Value::as_str).is_some() {
                    assert!(e.tokens.iter().any(|t| t.param.code == "_id"), "{path:?}");
                }
            }
        }
    }
    assert!(count > 100, "{count}");
    println!("examples: {count} resources, {entries} entries");
}

#[test]
fn japanese_examples_index_names_in_both_scripts() {
    let Some(dir) = fixtures() else { return };
    let mut kana = 0;
    for path in json_files(&dir.join("jp/clins")) {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut list = Vec::new();
        resources(&v, &mut list);
        for r in list
            .iter()
            .filter(|r| r.get("resourceType") == Some(&json!("Patient")))
        {
            for s in extract(r).strings.iter().filter(|s| s.param.code == "name") {
                assert!(
                    !s.value
                        .normalized
                        .chars()
                        .any(|c| ('\u{30A1}'..='\u{30F6}').contains(&c)),
                    "{}",
                    s.value.normalized
                );
                if s.value
                    .exact
                    .chars()
                    .any(|c| ('\u{30A1}'..='\u{30F6}').contains(&c))
                {
                    kana += 1;
                }
            }
        }
    }
    assert!(kana > 0, "the JP examples have names in katakana");
    println!("JP patients: {kana} katakana name parts folded to hiragana");
}

/// Narrowing a shared expression to one resource type (what extraction evaluates) selects the
/// same items as the whole expression, on every example and Synthea resource, for every
/// parameter of its type.
#[test]
fn narrowed_expressions_select_what_the_whole_expression_does() {
    use kizuna_fhir::fhirpath;
    use kizuna_search::registry;
    let Some(dir) = fixtures() else { return };
    let mut list = Vec::new();
    for sub in ["fhir-r4/examples", "jp/clins"] {
        for path in json_files(&dir.join(sub)) {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                resources(&v, &mut list);
            }
        }
    }
    for entry in std::fs::read_dir(dir.join("synthea-10")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "ndjson") {
            for line in std::fs::read_to_string(&path).unwrap().lines().take(200) {
                if let Ok(v) = serde_json::from_str::<Value>(line) {
                    list.push(v);
                }
            }
        }
    }
    let mut compared = 0;
    let mut nonempty = 0;
    for r in &list {
        let Some(rtype) = r.get("resourceType").and_then(Value::as_str) else {
            continue;
        };
        for p in registry::params_of(rtype) {
            let Some(whole) = p.expression.as_deref() else {
                continue;
            };
            let Ok(whole) = fhirpath::parse(whole) else {
                continue;
            };
            let full = fhirpath::evaluate(&whole, r).map(|items| format!("{items:?}"));
            let narrowed = match registry::expression_for(p, rtype) {
                Some(text) => fhirpath::evaluate(&fhirpath::parse(&text).unwrap(), r)
                    .map(|items| format!("{items:?}")),
                None => Ok("[]".to_string()),
            };
            match (&full, &narrowed) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{rtype}.{} on {:?}", p.code, r.get("id")),
                (a, b) => assert_eq!(a.is_err(), b.is_err(), "{rtype}.{}", p.code),
            }
            compared += 1;
            nonempty += usize::from(full.as_ref().is_ok_and(|s| s != "[]"));
        }
    }
    assert!(
        compared > 10_000 && nonempty > 1_000,
        "{compared} {nonempty}"
    );
    println!("{compared} expressions compared, {nonempty} with values");
}

/// The extraction rate on the Synthea sample; printed, never asserted (run with --nocapture,
/// ideally with --release).
#[test]
fn synthea_extraction_rate() {
    let Some(dir) = fixtures() else { return };
    let dir = dir.join("synthea-10");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "ndjson")
                && p.file_name().is_some_and(|n| n != "log.ndjson")
        })
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in &files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            if !line.trim().is_empty() {
                all.push(serde_json::from_str::<Value>(line).unwrap());
            }
        }
    }
    extract(&all[0]); // parse the expressions outside the measurement
    let bytes: usize = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len() as usize)
        .sum();
    let start = std::time::Instant::now();
    let mut entries = 0;
    for r in &all {
        entries += extract(r).len();
    }
    let secs = start.elapsed().as_secs_f64();
    let mut by_type: std::collections::BTreeMap<&str, (usize, [usize; 8])> = Default::default();
    for r in &all {
        let e = extract(r);
        let slot = by_type
            .entry(r["resourceType"].as_str().unwrap_or("?"))
            .or_default();
        slot.0 += 1;
        for (i, n) in [
            e.tokens.len(),
            e.strings.len(),
            e.dates.len(),
            e.numbers.len(),
            e.quantities.len(),
            e.references.len(),
            e.uris.len(),
            e.composites.len(),
        ]
        .into_iter()
        .enumerate()
        {
            slot.1[i] += n;
        }
    }
    println!("per resource: tokens strings dates numbers quantities references uris composites");
    for (t, (n, sums)) in &by_type {
        let avg: Vec<String> = sums
            .iter()
            .map(|s| format!("{:.1}", *s as f64 / *n as f64))
            .collect();
        println!("  {t} ({n}): {}", avg.join(" "));
    }
    println!(
        "synthea-10: {} resources ({:.1} MB), {} entries in {:.3} s: {:.0} resources/s, {:.1} MB/s ({} build)",
        all.len(),
        bytes as f64 / 1e6,
        entries,
        secs,
        all.len() as f64 / secs,
        bytes as f64 / 1e6 / secs,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
}

const TYPES: &[&str] = &[
    "Patient",
    "Observation",
    "Encounter",
    "Condition",
    "MedicationRequest",
    "Practitioner",
    "Organization",
    "Procedure",
    "DiagnosticReport",
    "ChargeItem",
    "Claim",
    "Bundle",
    "ValueSet",
    "Composition",
    "Immunization",
];

const KEYS: &[&str] = &[
    "id",
    "meta",
    "tag",
    "profile",
    "lastUpdated",
    "name",
    "family",
    "given",
    "text",
    "code",
    "coding",
    "system",
    "display",
    "value",
    "valueQuantity",
    "valueString",
    "valueCodeableConcept",
    "valueDateTime",
    "valuePeriod",
    "unit",
    "identifier",
    "type",
    "subject",
    "patient",
    "reference",
    "effectiveDateTime",
    "effectivePeriod",
    "start",
    "end",
    "period",
    "birthDate",
    "gender",
    "address",
    "city",
    "line",
    "telecom",
    "component",
    "status",
    "category",
    "url",
    "version",
    "priceOverride",
    "currency",
    "event",
    "timing",
    "contained",
    "entry",
    "resource",
    "resourceType",
    "active",
    "deceasedBoolean",
    "multipleBirthInteger",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "-?[0-9]{1,40}(\\.[0-9]{1,40})?"
            .prop_map(|s| serde_json::from_str(&s).unwrap_or(Value::Null)),
        "[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
            .prop_map(Value::String),
        "(Patient|Observation|http://x.org/fhir/Patient|urn:uuid:|#|Nope|)/?[A-Za-z0-9.\\-]{0,70}(/_history/[0-9a-z]{0,3})?(\\|[0-9.]*)?"
            .prop_map(Value::String),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn extraction_never_panics(
        rtype in prop::sample::select(TYPES),
        fields in prop::collection::vec((prop::sample::select(KEYS), arbitrary_json()), 0..8),
    ) {
        let mut map = serde_json::Map::new();
        for (k, v) in fields {
            map.insert(k.to_string(), v);
        }
        map.insert("resourceType".into(), json!(rtype));
        let _ = extract(&Value::Object(map));
    }

    #[test]
    fn normalization_never_panics_and_is_idempotent(s in "\\PC{0,24}") {
        let once = normalize_string(&s);
        prop_assert_eq!(normalize_string(&once), once.clone());
    }
}
