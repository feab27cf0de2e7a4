//! A patient's records as the institutions that wrote them keep them: each institution its
//! own Patient (its local patient number and the insured-member id) and the encounters it
//! provided with everything recorded in them, each resource tagged with its custodian.
//!
//! This is how records arrive on a sharing network (every institution sends what it wrote),
//! so a demo or a test of access rules sees a clinic and a hospital that each know the
//! patient, and neither sees the other's records without the patient's consent.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::registry::Registry;

/// `resources` (one patient's, as [`crate::Synth::patient`] gives them) split by institution:
/// the Patient once per institution that saw the patient (the first keeps its id, the others
/// get `{id}-{organization id}`), then the rest in order, every resource tagged
/// `tag_system|institution code` and referring to its own institution's Patient.
pub(crate) fn split(registry: &Registry, resources: Vec<Value>, tag_system: &str) -> Vec<Value> {
    let by_org: BTreeMap<&str, (&str, &str, String)> = registry
        .institutions
        .iter()
        .map(|i| {
            (
                i.id.as_str(),
                (i.code.as_str(), i.name.as_str(), i.patient_id_system()),
            )
        })
        .collect();
    let Some(patient) = resources
        .iter()
        .find(|r| r["resourceType"] == "Patient")
        .cloned()
    else {
        return resources;
    };
    let pid = patient["id"].as_str().unwrap_or_default().to_string();
    // The organization of each encounter, and of the other resources through theirs.
    let mut encounter_org: BTreeMap<String, String> = BTreeMap::new();
    for r in &resources {
        if r["resourceType"] == "Encounter"
            && let (Some(id), Some(org)) = (
                r["id"].as_str(),
                r["serviceProvider"]["reference"]
                    .as_str()
                    .and_then(|s| s.strip_prefix("Organization/")),
            )
            && by_org.contains_key(org)
        {
            encounter_org.insert(id.to_string(), org.to_string());
        }
    }
    let org_of = |r: &Value| -> Option<String> {
        if r["resourceType"] == "Encounter" {
            return r["id"]
                .as_str()
                .and_then(|id| encounter_org.get(id).cloned());
        }
        r["encounter"]["reference"]
            .as_str()
            .and_then(|s| s.strip_prefix("Encounter/"))
            .and_then(|id| encounter_org.get(id).cloned())
    };
    // The institutions in the order they first saw the patient; the first is the patient's
    // own (what belongs to no encounter, e.g. the insurance, is kept there).
    let mut seen: Vec<String> = Vec::new();
    for r in &resources {
        if let Some(org) = org_of(r)
            && !seen.contains(&org)
        {
            seen.push(org);
        }
    }
    let Some(home) = seen.first().cloned() else {
        return resources;
    };
    let patient_id = |org: &str| {
        if *org == *home {
            pid.clone()
        } else {
            format!("{pid}-{org}")
        }
    };
    let mut out = Vec::with_capacity(resources.len() + seen.len());
    for org in &seen {
        let (code, name, local) = &by_org[org.as_str()];
        let mut copy = patient.clone();
        copy["id"] = json!(patient_id(org));
        // Its own local number and the ids every institution knows (the insured-member id).
        if let Some(ids) = copy["identifier"].as_array_mut() {
            ids.retain(|i| {
                let system = i["system"].as_str().unwrap_or_default();
                !system.starts_with(crate::fhir::LOCAL_PATIENT_ROOT) || system == local
            });
        }
        tag(&mut copy, tag_system, code, name);
        out.push(copy);
    }
    for mut r in resources {
        if r["resourceType"] == "Patient" {
            continue;
        }
        let org = org_of(&r).unwrap_or_else(|| home.clone());
        let (code, name, _) = &by_org[org.as_str()];
        if org != home {
            retarget(
                &mut r,
                &format!("Patient/{pid}"),
                &format!("Patient/{}", patient_id(&org)),
            );
        }
        tag(&mut r, tag_system, code, name);
        out.push(r);
    }
    out
}

fn tag(r: &mut Value, system: &str, code: &str, name: &str) {
    let Some(o) = r.as_object_mut() else {
        return;
    };
    let meta = o.entry("meta").or_insert_with(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        let tags = m.entry("tag").or_insert_with(|| json!([]));
        if let Some(list) = tags.as_array_mut() {
            list.push(json!({"system": system, "code": code, "display": name}));
        }
    }
}

/// Every `reference` equal to `from` in `v` becomes `to`.
fn retarget(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "reference" && x.as_str() == Some(from) {
                    *x = json!(to);
                } else {
                    retarget(x, from, to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| retarget(x, from, to)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Synth};
    use serde_json::Value;
    use std::collections::BTreeSet;

    const TAG: &str = "urn:example:custodian";

    fn custodian(r: &Value) -> Option<&str> {
        r["meta"]["tag"]
            .as_array()?
            .iter()
            .find(|t| t["system"] == TAG)?["code"]
            .as_str()
    }

    #[test]
    fn each_institution_keeps_its_own_patient_and_records() {
        let synth = Synth::new(Config {
            patients: 30,
            ..Default::default()
        });
        let mut seen_at_several = 0;
        for i in 0..30 {
            let plain = synth.patient(i);
            let kept = synth.patient_as_kept(i, TAG);
            let patients: Vec<&Value> = kept
                .iter()
                .filter(|r| r["resourceType"] == "Patient")
                .collect();
            // Every resource but the extra Patients is kept once, each with one custodian.
            assert_eq!(kept.len(), plain.len() + patients.len() - 1);
            assert!(kept.iter().all(|r| custodian(r).is_some()), "patient {i}");
            assert_eq!(patients[0]["id"], plain[0]["id"]);
            let codes: BTreeSet<&str> = patients.iter().filter_map(|p| custodian(p)).collect();
            assert_eq!(codes.len(), patients.len(), "one Patient per institution");
            if patients.len() > 1 {
                seen_at_several += 1;
            }
            for p in &patients {
                // Its own local number and the insured-member id, nobody else's number.
                let ids = p["identifier"].as_array().unwrap();
                let local: Vec<&Value> = ids
                    .iter()
                    .filter(|x| {
                        x["system"]
                            .as_str()
                            .unwrap()
                            .starts_with(crate::fhir::LOCAL_PATIENT_ROOT)
                    })
                    .collect();
                assert_eq!(local.len(), 1, "{p}");
                assert!(
                    local[0]["system"]
                        .as_str()
                        .unwrap()
                        .ends_with(custodian(p).unwrap())
                );
                assert!(ids.iter().any(|x| x["system"] == crate::fhir::MEMBER_ID));
            }
            // Each record refers to the Patient of its own institution, which comes first.
            for r in kept.iter().filter(|r| r["resourceType"] != "Patient") {
                let text = r.to_string();
                let own = patients
                    .iter()
                    .find(|p| custodian(p) == custodian(r))
                    .unwrap_or_else(|| panic!("no Patient kept by the custodian of {r}"));
                let own_ref = format!("\"Patient/{}\"", own["id"].as_str().unwrap());
                assert!(text.contains(&own_ref), "{r} should refer to {own_ref}");
                for other in patients.iter().filter(|p| p["id"] != own["id"]) {
                    let other_ref = format!("\"Patient/{}\"", other["id"].as_str().unwrap());
                    assert!(!text.contains(&other_ref), "{r} refers to {other_ref}");
                }
            }
        }
        assert!(
            seen_at_several > 0,
            "some patients are seen at more than one institution"
        );
    }
}
