//! Properties of the generated data, checked through the public API only.

use std::collections::{BTreeMap, BTreeSet};

use kizuna_synth::{Config, Synth};
use serde_json::Value;

const INSTITUTION_NO: &str = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
const INSURER_NO: &str = "urn:oid:1.2.392.100495.20.3.61";
const MEMBER_ID: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
const LOCAL_PATIENT_ROOT: &str = "urn:oid:1.2.392.100495.20.3.51.1";
const EN_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

fn synth(seed: u64, patients: usize) -> Synth {
    Synth::new(Config {
        seed,
        patients,
        ..Config::default()
    })
}

fn ndjson(s: &Synth) -> Vec<u8> {
    let mut out = Vec::new();
    s.write_ndjson(&mut out).expect("write to a Vec");
    out
}

fn everything(s: &Synth) -> Vec<Value> {
    let mut all = s.institutions();
    for i in 0..s.config().patients {
        all.extend(s.patient(i));
    }
    all
}

fn key(r: &Value) -> String {
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap_or("?"),
        r["id"].as_str().unwrap_or("?")
    )
}

/// Every `reference` string anywhere in a resource.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("reference", Value::String(s)) => out.push(s.clone()),
                    _ => references(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// Modulus 10, weights 2,1,... from the rightmost digit, digit sums of products
/// (an independent re-implementation of the rule the crate documents).
fn check_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let p = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    (10 - sum % 10) % 10
}

fn last_digit(s: &str) -> u32 {
    u32::from(s.as_bytes()[s.len() - 1] - b'0')
}

#[test]
fn generator_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Synth>();
    let s = std::sync::Arc::new(synth(4, 20));
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || (t..20).step_by(2).map(|i| s.patient(i)).collect::<Vec<_>>())
        })
        .collect();
    let mut parallel: Vec<(usize, Vec<Value>)> = Vec::new();
    for (t, h) in handles.into_iter().enumerate() {
        let done = h.join().expect("thread");
        parallel.extend((t..20).step_by(2).zip(done));
    }
    for (i, res) in parallel {
        assert_eq!(
            res,
            s.patient(i),
            "patient {i} differs when generated on another thread"
        );
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = ndjson(&synth(42, 60));
    let b = ndjson(&synth(42, 60));
    assert!(a == b, "two runs with the same seed differ");
    let c = ndjson(&synth(43, 60));
    assert!(a != c, "a different seed produced the same output");
    assert!(
        a.len() > 100_000,
        "suspiciously small output: {} bytes",
        a.len()
    );
    // Every line is one JSON resource.
    for line in a.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).expect("valid JSON line");
        assert!(v["resourceType"].is_string());
    }
}

#[test]
fn patients_are_independent_of_generation_order() {
    let s = synth(7, 40);
    let direct = s.patient(31);
    for i in 0..40 {
        let _ = s.patient(i);
    }
    assert_eq!(direct, s.patient(31));
    assert_eq!(
        direct,
        synth(7, 40).patient(31),
        "a fresh generator disagrees"
    );
    // And write_ndjson emits exactly institutions + patient(0..n) in order.
    let from_api: Vec<Value> = everything(&s);
    let from_ndjson: Vec<Value> = ndjson(&s)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("json"))
        .collect();
    assert_eq!(from_api, from_ndjson);
}

#[test]
fn today_is_a_parameter_not_the_clock() {
    let cfg = Config {
        seed: 3,
        patients: 30,
        today: jiff::civil::date(2020, 6, 30),
        years_of_history: 2,
    };
    let s = Synth::new(cfg.clone());
    let all = everything(&s);
    let max = max_date(&all);
    assert!(max.as_str() <= "2020-06-30", "date after today: {max}");
    assert!(
        max.as_str() >= "2020-01-01",
        "history does not reach today: {max}"
    );

    // No history at all: still valid, everyone seen (today), nothing later.
    let s = Synth::new(Config {
        years_of_history: 0,
        ..cfg
    });
    let all = everything(&s);
    assert_eq!(max_date(&all).as_str(), "2020-06-30");
    for i in 0..30 {
        assert!(
            s.patient(i)
                .iter()
                .any(|r| r["resourceType"] == "Encounter")
        );
    }
}

/// The latest date-like value in the fields that carry clinical time.
fn max_date(all: &[Value]) -> String {
    const FIELDS: [&str; 9] = [
        "birthDate",
        "start",
        "end",
        "effectiveDateTime",
        "issued",
        "onsetDateTime",
        "abatementDateTime",
        "recordedDate",
        "authoredOn",
    ];
    fn walk(v: &Value, max: &mut String) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if let (true, Some(s)) = (FIELDS.contains(&k.as_str()), x.as_str()) {
                        let day = &s[..10.min(s.len())];
                        if day > max.as_str() {
                            *max = day.to_string();
                        }
                    }
                    walk(x, max);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, max)),
            _ => {}
        }
    }
    let mut max = String::new();
    all.iter().for_each(|r| walk(r, &mut max));
    max
}

#[test]
fn ids_are_unique_valid_and_references_resolve() {
    let s = synth(1, 200);
    let all = everything(&s);
    let mut keys = BTreeSet::new();
    for r in &all {
        let id = r["id"].as_str().expect("every resource has an id");
        assert!(
            (1..=64).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.'),
            "invalid id {id}"
        );
        assert!(keys.insert(key(r)), "duplicate {}", key(r));
    }
    let mut refs = Vec::new();
    for r in &all {
        references(r, &mut refs);
    }
    assert!(refs.len() > all.len(), "too few references: {}", refs.len());
    for reference in &refs {
        assert!(keys.contains(reference), "dangling reference {reference}");
    }
    // References only point backwards: institutions first, then within a patient.
    let mut seen = BTreeSet::new();
    for r in &all {
        let mut own = Vec::new();
        references(r, &mut own);
        for x in own {
            assert!(seen.contains(&x), "{} refers forward to {x}", key(r));
        }
        seen.insert(key(r));
    }
}

#[test]
fn patient_resources_come_in_order() {
    let s = synth(5, 30);
    let rank = |t: &str| match t {
        "Patient" => 0,
        "Coverage" => 1,
        "Encounter" => 2,
        "Condition" => 3,
        "AllergyIntolerance" => 4,
        "MedicationRequest" => 5,
        "Observation" => 6,
        other => panic!("unexpected patient resource {other}"),
    };
    for i in 0..30 {
        let res = s.patient(i);
        assert_eq!(res[0]["resourceType"], "Patient");
        assert_eq!(res[0]["id"], format!("jp-pat-{i:06}"));
        let ranks: Vec<i32> = res
            .iter()
            .map(|r| rank(r["resourceType"].as_str().unwrap_or("")))
            .collect();
        assert!(
            ranks.windows(2).all(|w| w[0] <= w[1]),
            "patient {i} out of order"
        );
        assert!(
            res.iter().any(|r| r["resourceType"] == "Encounter"),
            "patient {i} never seen"
        );
    }
}

#[test]
fn check_digits_verify() {
    let s = synth(11, 600);
    let shared = s.institutions();
    let (mut institutions, mut pharmacies) = (0, 0);
    let mut insurers = BTreeMap::new();
    for r in &shared {
        for ident in r["identifier"].as_array().into_iter().flatten() {
            let value = ident["value"].as_str().unwrap_or_default();
            assert!(value.bytes().all(|b| b.is_ascii_digit()), "{value}");
            if ident["system"] == INSTITUTION_NO {
                match &value[2..3] {
                    "1" => institutions += 1,
                    "4" => pharmacies += 1,
                    _ => {}
                }
                assert_eq!(value.len(), 10, "{value}");
                assert!(
                    matches!(&value[2..3], "1" | "3" | "4"),
                    "point table {value}"
                );
                let pref: u32 = value[..2].parse().unwrap_or(0);
                assert!((1..=47).contains(&pref), "{value}");
                assert_eq!(
                    check_digit(&value[..9]),
                    last_digit(value),
                    "institution code {value}"
                );
            }
            if ident["system"] == INSURER_NO {
                assert!(value.len() == 8 || value.len() == 6, "{value}");
                assert_eq!(
                    check_digit(&value[..value.len() - 1]),
                    last_digit(value),
                    "insurer {value}"
                );
                insurers.insert(
                    value.to_string(),
                    r["id"].as_str().unwrap_or_default().to_string(),
                );
            }
        }
    }
    assert_eq!(institutions, 12, "600 patients → 12 institutions");
    assert_eq!(pharmacies, 3, "one pharmacy per cluster of ~5 institutions");
    assert!(
        insurers.values().any(|n| n.starts_with("jp-ins-39")),
        "no 後期高齢者 insurer"
    );
    assert!(insurers.keys().any(|n| n.len() == 6), "no 国保 insurer");

    // Every patient's member id names a registered insurer; 75+ are in 後期高齢者医療 (法別 39).
    for i in 0..200 {
        let res = s.patient(i);
        let p = &res[0];
        let member = p["identifier"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["system"] == MEMBER_ID))
            .and_then(|x| x["value"].as_str())
            .expect("member id");
        let parts: Vec<&str> = member.split(':').collect();
        assert_eq!(parts.len(), 4, "{member}");
        let insurer = parts[0].trim_start_matches("00");
        let insurer = if insurers.contains_key(parts[0]) {
            parts[0]
        } else {
            insurer
        };
        assert!(
            insurers.contains_key(insurer),
            "unknown insurer in {member}"
        );
        let born: i32 = p["birthDate"].as_str().unwrap_or("0")[..4]
            .parse()
            .unwrap_or(0);
        if born <= 1950 {
            assert!(
                parts[0].starts_with("39"),
                "{born} should be 後期高齢者: {member}"
            );
        }
        let cov = &res[1];
        assert_eq!(cov["resourceType"], "Coverage");
        assert_eq!(cov["identifier"][0]["value"], member);
        assert_eq!(
            cov["payor"][0]["reference"],
            format!("Organization/{}", insurers[insurer])
        );
        assert_eq!(
            cov["beneficiary"]["reference"],
            format!("Patient/{}", p["id"].as_str().unwrap_or(""))
        );
    }
}

fn is_katakana_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| ('\u{30a0}'..='\u{30ff}').contains(&c) || c == ' ')
}

#[test]
fn names_have_kanji_and_katakana_readings() {
    let s = synth(2, 150);
    let mut people: Vec<Value> = s
        .institutions()
        .into_iter()
        .filter(|r| r["resourceType"] == "Practitioner")
        .collect();
    people.extend((0..150).map(|i| s.patient(i).swap_remove(0)));
    let mut family_names = BTreeSet::new();
    for person in &people {
        let names = person["name"].as_array().expect("names");
        let by_rep = |code: &str| {
            names.iter().find(|n| {
                n["extension"][0]["url"] == EN_REPRESENTATION
                    && n["extension"][0]["valueCode"] == code
            })
        };
        let kanji = by_rep("IDE").expect("IDE name");
        let kana = by_rep("SYL").expect("SYL name");
        for n in [kanji, kana] {
            assert_eq!(n["use"], "official");
            let text = n["text"].as_str().unwrap_or_default();
            assert_eq!(
                text,
                format!(
                    "{} {}",
                    n["family"].as_str().unwrap_or(""),
                    n["given"][0].as_str().unwrap_or("")
                )
            );
            assert!(!text.contains('\u{3000}'), "full-width space in {text}");
        }
        let kana_text = kana["text"].as_str().unwrap_or_default();
        assert!(
            is_katakana_name(kana_text),
            "reading {kana_text} is not katakana"
        );
        let kanji_family = kanji["family"].as_str().unwrap_or_default();
        assert!(
            !is_katakana_name(kanji_family),
            "family name {kanji_family} has no kanji"
        );
        family_names.insert(kanji_family.to_string());
    }
    assert!(
        family_names.len() > 40,
        "only {} family names",
        family_names.len()
    );
}

/// Physiologic bounds per LOINC code (independent of the generator's own).
fn bounds(code: &str) -> Option<(f64, f64)> {
    Some(match code {
        "4548-4" => (4.0, 15.0),
        "2345-7" => (40.0, 500.0),
        "13457-7" => (20.0, 400.0),
        "2085-9" => (10.0, 150.0),
        "2571-8" => (15.0, 1500.0),
        "2160-0" => (0.1, 12.0),
        "33914-3" => (2.0, 250.0),
        "1920-8" | "1742-6" | "2324-2" => (2.0, 500.0),
        "718-7" => (5.0, 20.0),
        "6690-2" => (1.0, 40.0),
        "777-3" => (20.0, 800.0),
        "2823-3" => (2.5, 7.0),
        "3094-0" => (3.0, 150.0),
        "1988-5" => (0.0, 40.0),
        "3084-1" => (1.0, 15.0),
        "2039-6" => (0.0, 1000.0),
        "3016-3" => (0.01, 100.0),
        "3024-7" => (0.1, 5.0),
        "29463-7" => (2.0, 200.0),
        "8302-2" => (40.0, 210.0),
        "39156-5" => (10.0, 60.0),
        "8480-6" => (60.0, 250.0),
        "8462-4" => (30.0, 150.0),
        "8867-4" => (30.0, 220.0),
        "8310-5" => (34.0, 42.0),
        _ => return None,
    })
}

#[test]
fn values_are_physiologic_with_sensible_precision() {
    let s = synth(9, 120);
    let mut checked = 0;
    for i in 0..120 {
        for r in s
            .patient(i)
            .iter()
            .filter(|r| r["resourceType"] == "Observation")
        {
            let code = r["code"]["coding"][0]["code"].as_str().unwrap_or_default();
            assert_eq!(r["code"]["coding"][0]["system"], "http://loinc.org");
            let mut quantities: Vec<(&str, &Value)> = vec![(code, &r["valueQuantity"])];
            for c in r["component"].as_array().into_iter().flatten() {
                quantities.push((
                    c["code"]["coding"][0]["code"].as_str().unwrap_or_default(),
                    &c["valueQuantity"],
                ));
            }
            for (code, q) in quantities {
                if q.is_null() {
                    continue;
                }
                assert_eq!(q["system"], "http://unitsofmeasure.org");
                let text = q["value"].to_string();
                let decimals = text.split('.').nth(1).map_or(0, str::len);
                assert!(decimals <= 2, "{code}: {text} has too many decimals");
                let v: f64 = text.parse().expect("number");
                let (lo, hi) = bounds(code).unwrap_or_else(|| panic!("unexpected code {code}"));
                assert!((lo..=hi).contains(&v), "{code} = {v} outside {lo}..{hi}");
                checked += 1;
            }
            assert!(r["valueQuantity"].is_object() ^ r["component"].is_array());
        }
    }
    assert!(checked > 5_000, "only {checked} values");
}

#[test]
fn conditions_follow_age_and_sex_and_drive_values() {
    let s = synth(21, 400);
    let (mut dm_a1c, mut other_a1c) = (Vec::new(), Vec::new());
    let mut with_conditions = 0;
    let mut multi_institution = 0;
    for i in 0..400 {
        let res = s.patient(i);
        let p = &res[0];
        let female = p["gender"] == "female";
        let born: i32 = p["birthDate"].as_str().unwrap_or("2000")[..4]
            .parse()
            .unwrap_or(2000);
        let age = 2026 - born;
        let local_ids = p["identifier"].as_array().map_or(0, |a| {
            a.iter()
                .filter(|x| {
                    x["system"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(LOCAL_PATIENT_ROOT))
                })
                .count()
        });
        multi_institution += usize::from(local_ids >= 2);
        let codes: Vec<&str> = res
            .iter()
            .filter(|r| {
                r["resourceType"] == "Condition"
                    && r["category"][0]["coding"][0]["code"] == "problem-list-item"
            })
            .filter_map(|r| r["code"]["coding"][0]["code"].as_str())
            .collect();
        with_conditions += usize::from(!codes.is_empty());
        if female {
            assert!(!codes.contains(&"N40"), "prostatic hyperplasia in a woman");
        } else {
            assert!(
                !codes.contains(&"M81.0"),
                "postmenopausal osteoporosis in a man"
            );
        }
        if age < 15 {
            for adult_only in ["I10", "E11.9", "I63.9", "C16.9", "G30.9"] {
                assert!(!codes.contains(&adult_only), "{adult_only} at age {age}");
            }
        }
        let a1c = res
            .iter()
            .filter(|r| {
                r["resourceType"] == "Observation" && r["code"]["coding"][0]["code"] == "4548-4"
            })
            .filter_map(|r| r["valueQuantity"]["value"].to_string().parse::<f64>().ok());
        if codes.contains(&"E11.9") {
            dm_a1c.extend(a1c)
        } else {
            other_a1c.extend(a1c)
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    assert!(
        dm_a1c.len() > 30 && other_a1c.len() > 30,
        "{} / {}",
        dm_a1c.len(),
        other_a1c.len()
    );
    assert!(
        mean(&dm_a1c) > mean(&other_a1c) + 1.0,
        "diabetic HbA1c {} vs {}",
        mean(&dm_a1c),
        mean(&other_a1c)
    );
    assert!(
        (6.3..8.8).contains(&mean(&dm_a1c)),
        "diabetic mean HbA1c {}",
        mean(&dm_a1c)
    );
    assert!(
        with_conditions > 100,
        "{with_conditions} of 400 have a chronic condition"
    );
    assert!(
        multi_institution > 80,
        "{multi_institution} of 400 seen at several institutions"
    );
}

#[test]
fn volume_and_demographics_are_realistic() {
    let s = synth(1, 300);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut female, mut elderly) = (0, 0);
    for i in 0..300 {
        let res = s.patient(i);
        female += usize::from(res[0]["gender"] == "female");
        let born: i32 = res[0]["birthDate"].as_str().unwrap_or("2000")[..4]
            .parse()
            .unwrap_or(2000);
        elderly += usize::from(2026 - born >= 65);
        for r in &res {
            *counts
                .entry(r["resourceType"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
    }
    let total: usize = counts.values().sum();
    let per_patient = total as f64 / 300.0;
    assert!(
        (100.0..=220.0).contains(&per_patient),
        "{per_patient} resources per patient: {counts:?}"
    );
    // 51% expected; ±3.5 standard deviations (the generator's own unit test
    // checks the distribution on a large sample).
    assert!((125..=185).contains(&female), "{female} women of 300");
    assert!((60..=120).contains(&elderly), "{elderly} elderly of 300");
    for t in [
        "Encounter",
        "Condition",
        "MedicationRequest",
        "Observation",
        "Coverage",
    ] {
        assert!(
            counts.get(t).copied().unwrap_or(0) >= 100,
            "too few {t}: {counts:?}"
        );
    }
    assert!(
        counts.get("AllergyIntolerance").copied().unwrap_or(0) >= 5,
        "{counts:?}"
    );
}

/// A property check over many seeds and scattered indices: every patient's
/// references resolve within its own resources or the shared ones, nothing
/// is after `today`, and ids do not collide.
#[test]
fn property_invariants_hold_across_seeds() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..12 {
        let seed = next();
        let patients = 1 + (next() % 400) as usize;
        let s = synth(seed, patients);
        let shared = s.institutions();
        let shared_keys: BTreeSet<String> = shared.iter().map(key).collect();
        for _ in 0..5 {
            let index = (next() % (patients as u64 + 50)) as usize;
            let res = s.patient(index);
            let mut keys = shared_keys.clone();
            for r in &res {
                assert!(
                    keys.insert(key(r)),
                    "seed {seed} patient {index}: duplicate {}",
                    key(r)
                );
            }
            let mut refs = Vec::new();
            res.iter().for_each(|r| references(r, &mut refs));
            for x in refs {
                assert!(
                    keys.contains(&x),
                    "seed {seed} patient {index}: dangling {x}"
                );
            }
            let max = max_date(&res);
            assert!(
                max.as_str() <= "2026-11-01",
                "seed {seed} patient {index}: {max}"
            );
        }
    }
}
