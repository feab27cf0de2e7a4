//! The validator against real data: the official R4 examples and the Synthea export.

mod common;

use kizuna_fhir::{Issue, validate_resource};
use std::collections::BTreeSet;

fn show(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| {
            format!(
                "  {} [{}] {}",
                i.expression.as_deref().unwrap_or("-"),
                i.code.code(),
                i.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn official_examples_are_valid() {
    let Some(dir) = common::fixtures("fhir-r4/examples") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name == "bundle-questionnaire.json" {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let issues = validate_resource(&v);
        if !issues.is_empty() {
            failures.push(format!("{name}:\n{}", show(&issues)));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} examples have issues:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        checked, 71,
        "expected the 72 official example files (71 besides bundle-questionnaire.json)"
    );
}

/// The items of `bundle-questionnaire.json` (the Questionnaire generated for Bundle) that lack
/// the required `linkId`, counted in the file: all 50 are `type: display` items (the fly-over
/// texts describing each element), nested 2 to 5 levels deep.
const MISSING_LINK_IDS: [&str; 50] = [
    "Questionnaire.item[0].item[0].linkId",
    "Questionnaire.item[0].item[1].item[0].linkId",
    "Questionnaire.item[0].item[2].item[0].linkId",
    "Questionnaire.item[0].item[3].item[0].linkId",
    "Questionnaire.item[0].item[4].item[0].linkId",
    "Questionnaire.item[0].item[5].item[0].linkId",
    "Questionnaire.item[0].item[6].item[0].linkId",
    "Questionnaire.item[0].item[7].item[0].linkId",
    "Questionnaire.item[0].item[8].item[0].linkId",
    "Questionnaire.item[0].item[9].item[0].linkId",
    "Questionnaire.item[0].item[9].item[1].linkId",
    "Questionnaire.item[0].item[9].item[2].item[0].linkId",
    "Questionnaire.item[0].item[9].item[3].item[0].linkId",
    "Questionnaire.item[0].item[9].item[4].item[0].linkId",
    "Questionnaire.item[0].item[9].item[5].item[0].linkId",
    "Questionnaire.item[0].item[9].item[6].item[0].linkId",
    "Questionnaire.item[0].item[10].item[0].linkId",
    "Questionnaire.item[0].item[10].item[1].item[0].linkId",
    "Questionnaire.item[0].item[10].item[2].item[0].linkId",
    "Questionnaire.item[0].item[10].item[3].item[0].linkId",
    "Questionnaire.item[0].item[10].item[4].item[0].linkId",
    "Questionnaire.item[0].item[10].item[5].item[0].linkId",
    "Questionnaire.item[0].item[10].item[6].item[0].linkId",
    "Questionnaire.item[0].item[10].item[7].item[0].linkId",
    "Questionnaire.item[0].item[10].item[7].item[1].item[0].linkId",
    "Questionnaire.item[0].item[10].item[7].item[2].item[0].linkId",
    "Questionnaire.item[0].item[10].item[7].item[3].item[0].linkId",
    "Questionnaire.item[0].item[10].item[7].item[4].item[0].linkId",
    "Questionnaire.item[0].item[10].item[7].item[5].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[1].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[2].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[3].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[4].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[5].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[6].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[7].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[8].item[0].linkId",
    "Questionnaire.item[0].item[10].item[8].item[9].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[1].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[2].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[3].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[4].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[5].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[6].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[7].item[0].linkId",
    "Questionnaire.item[0].item[10].item[9].item[8].item[0].linkId",
    "Questionnaire.item[0].item[11].item[0].linkId",
    "Questionnaire.item[0].item[11].item[1].linkId",
];

#[test]
fn bundle_questionnaire_is_rejected_for_each_missing_link_id() {
    let Some(dir) = common::fixtures("fhir-r4/examples") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("bundle-questionnaire.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let issues = validate_resource(&v);
    let got: BTreeSet<String> = issues
        .iter()
        .map(|i| i.expression.clone().unwrap())
        .collect();
    let want: BTreeSet<String> = MISSING_LINK_IDS.iter().map(|s| s.to_string()).collect();
    assert_eq!(want.len(), 50);
    assert_eq!(got, want, "issues:\n{}", show(&issues));
    assert_eq!(
        issues.len(),
        50,
        "each missing linkId once, nothing else:\n{}",
        show(&issues)
    );
    for i in &issues {
        assert_eq!(i.code, kizuna_fhir::IssueCode::Required, "{i:?}");
        assert!(i.is_error());
        assert!(i.message.contains("'linkId'"), "{}", i.message);
    }
}

#[test]
fn synthea_resources_are_valid() {
    let Some(resources) = common::synthea() else {
        return;
    };
    assert!(resources.len() > 7000, "{} resources", resources.len());
    let mut failures = Vec::new();
    for (file, line, v) in &resources {
        let issues = validate_resource(v);
        if !issues.is_empty() {
            failures.push(format!("{file}:{line}:\n{}", show(&issues)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} Synthea resources have issues:\n{}",
        failures.len(),
        resources.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
