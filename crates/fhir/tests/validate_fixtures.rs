//! The validator against real data: the official R4 examples and the Synthea export.

mod common;

use kizuna_fhir::validate_resource;
use std::collections::BTreeSet;

use common::show;

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

/// One step from a JSON value to a child.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every object (or with `leaves`, every primitive value but resourceType) inside `v` (not `v`
/// itself), with the steps to reach it and its FHIRPath-style location as the validator names it
/// (`_given[1]` is located at `given[1]`).
fn collect(
    v: &serde_json::Value,
    leaves: bool,
    steps: &mut Vec<Step>,
    path: &str,
    out: &mut Vec<(Vec<Step>, String)>,
) {
    let entries: Vec<(Step, String, &serde_json::Value)> = match v {
        serde_json::Value::Object(o) => o
            .iter()
            .map(|(k, child)| {
                (
                    Step::Key(k.clone()),
                    format!("{path}.{}", k.strip_prefix('_').unwrap_or(k)),
                    child,
                )
            })
            .collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, child)| (Step::Index(i), format!("{path}[{i}]"), child))
            .collect(),
        _ => return,
    };
    for (step, child_path, child) in entries {
        steps.push(step);
        let is_leaf = !(child.is_object() || child.is_array() || child.is_null());
        let is_resource_type = matches!(steps.last(), Some(Step::Key(k)) if k == "resourceType");
        if (leaves && is_leaf && !is_resource_type) || (!leaves && child.is_object()) {
            out.push((steps.clone(), child_path.clone()));
        }
        collect(child, leaves, steps, &child_path, out);
        steps.pop();
    }
}

fn value_at<'v>(v: &'v mut serde_json::Value, steps: &[Step]) -> &'v mut serde_json::Value {
    let mut cur = v;
    for s in steps {
        cur = match s {
            Step::Key(k) => &mut cur[k.as_str()],
            Step::Index(i) => &mut cur[*i],
        };
    }
    cur
}

fn object_at<'v>(
    v: &'v mut serde_json::Value,
    steps: &[Step],
) -> &'v mut serde_json::Map<String, serde_json::Value> {
    value_at(v, steps).as_object_mut().unwrap()
}

/// The official examples (but bundle-questionnaire.json) and the first resource of each Synthea
/// file.
fn sample_documents() -> Option<Vec<serde_json::Value>> {
    let dir = common::fixtures("fhir-r4/examples")?;
    let mut docs: Vec<serde_json::Value> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| {
        p.extension().is_some_and(|e| e == "json") && !p.ends_with("bundle-questionnaire.json")
    });
    files.sort();
    for f in &files {
        docs.push(serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap());
    }
    if let Some(resources) = common::synthea() {
        let mut seen = BTreeSet::new();
        for (file, _, v) in resources {
            if seen.insert(file) {
                docs.push(v);
            }
        }
    }
    Some(docs)
}

/// Coverage of primitive checks: any primitive value of a valid resource replaced by an object,
/// or a string replaced by an empty string, is reported exactly there (and nothing else is).
#[test]
fn a_broken_primitive_anywhere_is_found() {
    let Some(docs) = sample_documents() else {
        return;
    };
    let mut checked = 0;
    for mut doc in docs {
        let root = doc["resourceType"].as_str().unwrap().to_string();
        let mut found = Vec::new();
        collect(&doc, true, &mut Vec::new(), &root, &mut found);
        for (steps, path) in found {
            let mut replacements = vec![serde_json::json!({"zz": 1})];
            if value_at(&mut doc, &steps).is_string() {
                replacements.push(serde_json::json!(""));
            }
            for with in replacements {
                let old = std::mem::replace(value_at(&mut doc, &steps), with.clone());
                let issues = validate_resource(&doc);
                *value_at(&mut doc, &steps) = old;
                assert!(
                    issues.len() == 1 && issues[0].expression.as_deref() == Some(path.as_str()),
                    "{path} replaced by {with}: expected one issue there, got:\n{}",
                    show(&issues)
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 5000, "{checked} values checked");
}

/// Coverage of the walk: an unknown property added to any object of a valid resource (an element,
/// a `_x` companion, a nested resource, an extension ...) is reported exactly there. Done for
/// every object of every official example and of a sample of Synthea resources.
#[test]
fn an_unknown_property_anywhere_is_found() {
    let Some(docs) = sample_documents() else {
        return;
    };
    let mut checked = 0;
    for mut doc in docs {
        let root = doc["resourceType"].as_str().unwrap().to_string();
        let mut found = Vec::new();
        collect(&doc, false, &mut Vec::new(), &root, &mut found);
        for (steps, path) in found {
            object_at(&mut doc, &steps).insert("zzUnknown".into(), serde_json::Value::Bool(true));
            let issues = validate_resource(&doc);
            object_at(&mut doc, &steps).remove("zzUnknown");
            let want = format!("{path}.zzUnknown");
            assert!(
                issues.len() == 1 && issues[0].expression.as_deref() == Some(want.as_str()),
                "expected one issue at {want}, got:\n{}",
                show(&issues)
            );
            checked += 1;
        }
        // The root too.
        doc.as_object_mut()
            .unwrap()
            .insert("zzUnknown".into(), serde_json::Value::Bool(true));
        let issues = validate_resource(&doc);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            issues[0].expression.as_deref(),
            Some(format!("{root}.zzUnknown").as_str())
        );
    }
    assert!(checked > 1000, "{checked} objects checked");
}

/// Coverage of the JSON shape rules: any single value of a valid resource wrapped in an array,
/// and any one-item array unwrapped, is reported exactly there.
#[test]
fn a_wrong_shape_anywhere_is_found() {
    let Some(docs) = sample_documents() else {
        return;
    };
    let mut checked = 0;
    for mut doc in docs {
        let root = doc["resourceType"].as_str().unwrap().to_string();
        let mut found = Vec::new();
        collect(&doc, false, &mut Vec::new(), &root, &mut found);
        found.push((Vec::new(), root.clone()));
        for (steps, path) in found {
            let keys: Vec<String> = object_at(&mut doc, &steps)
                .keys()
                .filter(|k| *k != "resourceType")
                .cloned()
                .collect();
            for key in keys {
                let old = object_at(&mut doc, &steps)[&key].clone();
                let changed = match &old {
                    serde_json::Value::Array(a) if a.len() == 1 => a[0].clone(),
                    serde_json::Value::Array(_) => continue,
                    other => serde_json::Value::Array(vec![other.clone()]),
                };
                object_at(&mut doc, &steps)[&key] = changed;
                let issues = validate_resource(&doc);
                object_at(&mut doc, &steps)[&key] = old;
                let want = format!("{path}.{}", key.strip_prefix('_').unwrap_or(&key));
                assert!(
                    issues.len() == 1 && issues[0].expression.as_deref() == Some(want.as_str()),
                    "{want} reshaped: expected one issue there, got:\n{}",
                    show(&issues)
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 3000, "{checked} values checked");
}
