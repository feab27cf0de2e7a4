//! The insured-member ids of the JP Core and JP-CLINS example resources (public data in
//! `../shared/fixtures/jp`) read as ids, the examples' dummy insurer flagged but accepted.

use kizuna_jpid::{INSURED_MEMBER_ID_SYSTEM, InsuredMemberId};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if dir.join("jp").is_dir() {
        Some(dir.join("jp"))
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "fixtures not found at {}",
            dir.display()
        );
        eprintln!(
            "\n*** SKIPPED: fixtures not found at {} ***\n",
            dir.display()
        );
        None
    }
}

fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("system").and_then(Value::as_str) == Some(INSURED_MEMBER_ID_SYSTEM)
                && let Some(s) = m.get("value").and_then(Value::as_str)
            {
                out.push(s.to_string());
            }
            m.values().for_each(|x| collect(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
        _ => {}
    }
}

fn walk(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "json")
            && let Ok(text) = std::fs::read_to_string(&path)
            && text.contains(INSURED_MEMBER_ID_SYSTEM)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            collect(&v, out);
        }
    }
}

#[test]
fn every_example_id_reads_and_the_dummy_insurer_is_flagged() {
    let Some(dir) = fixtures() else { return };
    let mut ids = Vec::new();
    walk(&dir, &mut ids);
    assert!(ids.len() >= 10, "found {} ids", ids.len());
    for value in &ids {
        let id = InsuredMemberId::parse(value).unwrap_or_else(|e| panic!("{value}: {e}"));
        // Full-width digits are normalized: `１８７` is `187`.
        assert!(id.number.chars().all(|c| c.is_ascii_digit()), "{value}");
        // 00012345 is the examples' dummy insurer: its check digit fails (warned, not refused).
        if id.insurer == "00012345" {
            assert_eq!(id.warnings.len(), 1, "{value}");
        }
    }
}
