//! The JP-CLINS example submissions read as what they are, and every rule, broken on purpose,
//! refused with its path; the HTML rendering of the real referral letter.

use kizuna_documents::{Kind, entries, read, render};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;

fn clins() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("jp/clins");
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "fixtures not found at {}",
            dir.display()
        );
        eprintln!("skipped: fixtures not found at {}", dir.display());
        None
    }
}

fn load(name: &str) -> Option<Value> {
    let text = std::fs::read(clins()?.join(name)).unwrap();
    Some(serde_json::from_slice(&text).unwrap())
}

fn referral() -> Option<Value> {
    load("Bundle-Bundle-CLINS-Referral-Example-01.json")
}

fn paths(issues: &[kizuna_fhir::Issue]) -> Vec<String> {
    issues.iter().filter_map(|i| i.expression.clone()).collect()
}

#[test]
fn the_real_examples_read_as_what_they_are() {
    let Some(b) = referral() else { return };
    let s = read(&b).unwrap();
    assert_eq!(s.kind, Kind::Referral);
    assert_eq!(s.institution, "1319876543");
    assert_eq!(s.addressees, vec!["1311234567".to_string()]);
    assert_eq!(s.patient_index, 1);
    assert_eq!(
        s.patient_identifiers[0],
        (
            "urn:oid:1.2.392.100495.20.3.51.11318814790".to_string(),
            "000999739".to_string()
        )
    );
    assert_eq!(s.identifier.1, "1318814790^2024^0123-Referral-203949583949");
    assert_eq!(s.date.as_deref(), Some("2020-08-21T12:12:20+09:00"));
    assert!(s.lts, "its drug allergies are tagged for long-term storage");

    let Some(pcs) = load("Bundle-Bundle-CLINS-PCS-Example-01.json") else {
        return;
    };
    let s = read(&pcs).unwrap();
    assert_eq!(
        s.kind,
        Kind::Document,
        "a care plan is a document of another kind"
    );

    let Some(noentry) = load("Bundle-Bundle-CLINS-Referral-NoEntry-Example-01.json") else {
        return;
    };
    assert_eq!(read(&noentry).unwrap().kind, Kind::Referral);

    let Some(obs) = load("Bundle-Bundle-CLINS-Observations-Example-01.json") else {
        return;
    };
    let s = read(&obs).unwrap();
    assert_eq!(s.kind, Kind::ClinicalInformation);
    assert_eq!(s.institution, "1318814790");
    assert_eq!(s.patient_index, 0);
    assert_eq!(s.date.as_deref(), Some("2023-11-12T10:00:00+09:00"));
}

#[test]
fn entries_point_at_what_stands_for_the_patient_and_keep_their_links() {
    let Some(b) = referral() else { return };
    let s = read(&b).unwrap();
    let resolved = HashMap::from([(s.patient_url.clone(), "Patient/p1".to_string())]);
    let list = entries(&b, &resolved);
    assert_eq!(list.len(), b["entry"].as_array().unwrap().len() - 1);
    let text = serde_json::to_string(&list.iter().map(|(_, r)| r).collect::<Vec<_>>()).unwrap();
    assert!(
        !text.contains(&s.patient_url),
        "no reference to the document's Patient is left"
    );
    let comp = &list[0].1;
    assert_eq!(comp["subject"]["reference"], "Patient/p1");
    assert!(comp.get("id").is_none(), "ids are the store's to give");
    // References between the other entries stay as fullUrls (the transaction resolves them).
    assert!(
        comp["encounter"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("urn:uuid:")
    );
}

/// `b` with `f` applied.
fn changed(b: &Value, f: impl FnOnce(&mut Value)) -> Value {
    let mut c = b.clone();
    f(&mut c);
    c
}

#[test]
fn every_broken_rule_is_reported_with_its_path() {
    let Some(b) = referral() else { return };
    // No addressee section, a dangling reference, no Bundle.identifier: three problems at once.
    let broken = changed(&b, |c| {
        let sections = c["entry"][0]["resource"]["section"].as_array_mut().unwrap();
        sections.retain(|s| s["code"]["coding"][0]["code"] != "910");
        c["entry"][2]["resource"]["serviceProvider"] = json!({"reference": "urn:uuid:nowhere"});
        c.as_object_mut().unwrap().remove("identifier");
    });
    let issues = read(&broken).unwrap_err();
    let p = paths(&issues);
    assert!(
        p.contains(&"Bundle.entry[0].resource.section".to_string()),
        "{p:?}"
    );
    assert!(
        p.contains(&"Bundle.entry[2].resource.serviceProvider.reference".to_string()),
        "{p:?}"
    );
    assert!(p.contains(&"Bundle.identifier".to_string()), "{p:?}");

    // The author's institution must be identified by its code.
    let anonymous = changed(&b, |c| {
        for e in c["entry"].as_array_mut().unwrap() {
            if e["resource"]["resourceType"] == "Organization" {
                e["resource"].as_object_mut().unwrap().remove("identifier");
            }
        }
    });
    let p = paths(&read(&anonymous).unwrap_err());
    assert!(
        p.contains(&"Bundle.entry[0].resource.author".to_string()),
        "{p:?}"
    );

    // The patient must be identified.
    let nameless = changed(&b, |c| {
        c["entry"][1]["resource"]
            .as_object_mut()
            .unwrap()
            .remove("identifier");
    });
    let p = paths(&read(&nameless).unwrap_err());
    assert_eq!(p, vec!["Bundle.entry[1].resource.identifier".to_string()]);

    // A discharge summary appends to a referral letter.
    let summary = changed(&b, |c| {
        c["entry"][0]["resource"]["type"]["coding"][0]["code"] = json!("18842-5");
    });
    let p = paths(&read(&summary).unwrap_err());
    assert_eq!(p, vec!["Bundle.entry[0].resource.relatesTo".to_string()]);
    let appended = changed(&summary, |c| {
        c["entry"][0]["resource"]["relatesTo"] = json!([{"code": "appends",
            "targetIdentifier": b["identifier"].clone()}]);
    });
    let s = read(&appended).unwrap();
    assert_eq!(s.kind, Kind::DischargeSummary);
    assert_eq!(s.relates[0].identifier.as_ref().unwrap().1, s.identifier.1);

    // A checkup report names no addressee: without section 910 it is read as what it is.
    let checkup = changed(&b, |c| {
        c["entry"][0]["resource"]["type"]["coding"][0]["code"] = json!("JPGCHKUP01");
        c["entry"][0]["resource"]["section"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["code"]["coding"][0]["code"] != "910");
    });
    let s = read(&checkup).unwrap();
    assert_eq!(s.kind, Kind::CheckupReport);
    assert!(s.addressees.is_empty());
    assert_eq!(Kind::CheckupReport.names().0, "健康診断結果報告書");

    // A document starts with its Composition; the six information with their Patient.
    let upside_down = changed(&b, |c| c["entry"].as_array_mut().unwrap().swap(0, 1));
    let p = paths(&read(&upside_down).unwrap_err());
    assert_eq!(p, vec!["Bundle.entry[0].resource".to_string()]);
    let Some(obs) = load("Bundle-Bundle-CLINS-Observations-Example-01.json") else {
        return;
    };
    let odd = changed(&obs, |c| {
        c["entry"][1]["resource"]["resourceType"] = json!("Procedure");
        c["identifier"]["value"] = json!("clinic^2024^1");
    });
    let p = paths(&read(&odd).unwrap_err());
    assert!(p.contains(&"Bundle.entry[1].resource".to_string()), "{p:?}");
    assert!(p.contains(&"Bundle.identifier.value".to_string()), "{p:?}");

    // Other Bundle types are not submissions.
    let p = paths(&read(&changed(&b, |c| c["type"] = json!("searchset"))).unwrap_err());
    assert_eq!(p, vec!["Bundle.type".to_string()]);
}

#[test]
fn long_term_storage_is_seen_on_any_entry() {
    let Some(b) = referral() else { return };
    let untagged = changed(&b, |c| {
        for e in c["entry"].as_array_mut().unwrap() {
            if let Some(m) = e["resource"]["meta"].as_object_mut() {
                m.remove("tag");
            }
        }
    });
    assert!(!read(&untagged).unwrap().lts);
    let tagged = changed(&untagged, |c| {
        c["entry"][9]["resource"]["meta"]["tag"] = json!([{
            "system": kizuna_documents::INDICATION_SYSTEM, "code": "LTS"}]);
    });
    assert!(read(&tagged).unwrap().lts);
}

#[test]
fn the_referral_letter_renders_as_a_page_without_anything_active() {
    let Some(b) = referral() else { return };
    let s = read(&b).unwrap();
    let html = render(&b, &s);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for expected in [
        "診療情報提供書",
        "牧野 爛漫",
        "紹介先情報",
        "傷病名・主訴",
        "アレルギー・不耐性反応",
        "1311234567",
    ] {
        assert!(html.contains(expected), "{expected} missing");
    }
    // Sections nest as headings, one level deeper each.
    assert!(html.contains("<h3>紹介目的</h3>"), "nested section heading");
    let hostile = changed(&b, |c| {
        c["entry"][0]["resource"]["text"] = json!({"status": "generated",
            "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>所見</p><script>alert(1)</script><img src=\"https://tracker.example/x.png\"/></div>"});
        c["entry"][0]["resource"]["title"] = json!("<script>alert(2)</script>");
    });
    let html = render(&hostile, &read(&hostile).unwrap());
    assert!(html.contains("<p>所見</p>"));
    assert!(!html.contains("<script"), "no script survives");
    assert!(!html.contains("tracker.example"));
    assert!(html.contains("&lt;script&gt;alert(2)"), "titles are text");

    let Some(obs) = load("Bundle-Bundle-CLINS-Observations-Example-01.json") else {
        return;
    };
    let html = render(&obs, &read(&obs).unwrap());
    assert_eq!(
        html.matches("<tr><td>").count(),
        4,
        "one row per lab result"
    );
}
