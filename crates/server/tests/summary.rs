//! `Patient/{id}/$summary` over real mutual TLS on both backends: one patient seen at a
//! hospital and a clinic (each with its own Patient record, linked by the insured-member id in
//! the patient index). With the patient's consent, the clinic's summary holds both
//! institutions' records: what both reported once, attributed to both (Provenance), infection
//! results in their own flagged section, long-term-storage items marked, vital signs left out.
//! Without consent, the hospital's summary holds only its own records, and a third
//! institution gets none.

use kizuna_access::index::{self, Registration};
use kizuna_store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

mod common;
use common::mtls::{Client, Cred, institution, issue, network, serve};

const INSURED: &str = "00012345:あいう:1234:01";
const IPS_BUNDLE: &str = "http://hl7.org/fhir/uv/ips/StructureDefinition/Bundle-uv-ips";

/// The IPS package the test command fetches (tools/ips), if there.
fn ips_package() -> Option<Vec<u8>> {
    let path = std::env::var("KIZUNA_IPS_PACKAGE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tools/ips/hl7.fhir.uv.ips-2.0.0.tgz")
        });
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "the IPS package is not at {}",
                path.display()
            );
            eprintln!(
                "skipped: the IPS package is not at {} (scripts/test.sh fetches it)",
                path.display()
            );
            None
        }
    }
}
const HOSPITAL: &str = "0110113719";
const CLINIC: &str = "1310000011";

fn coded(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [{"system": system, "code": code, "display": display}]})
}

fn condition(pid: &str, code: &str, display: &str, lts: bool) -> Value {
    let mut c = json!({"resourceType": "Condition", "subject": {"reference": format!("Patient/{pid}")},
        "code": coded("http://hl7.org/fhir/sid/icd-10", code, display), "recordedDate": "2024-04-01"});
    if lts {
        c["meta"] = json!({"tag": [{"system": "http://jpfhir.jp/fhir/clins/CodeSystem/JP_ehrshrs_indication", "code": "LTS"}]});
    }
    c
}

fn lab(pid: &str, loinc: &str, display: &str, day: &str, value: Value) -> Value {
    let mut o = json!({"resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": coded("http://loinc.org", loinc, display), "subject": {"reference": format!("Patient/{pid}")},
        "effectiveDateTime": day});
    if value.is_object() {
        o["valueQuantity"] = value;
    } else {
        o["valueCodeableConcept"] = json!({"text": value});
    }
    o
}

fn records_of(pid: &str, hospital: bool) -> Vec<Value> {
    let mut out = vec![
        condition(pid, "I10", "本態性高血圧症", false),
        json!({"resourceType": "AllergyIntolerance", "patient": {"reference": format!("Patient/{pid}")},
            "category": ["medication"], "code": coded("urn:oid:1.2.392.100495.20.2.74", "6131001", "ペニシリン")}),
        lab(
            pid,
            "4548-4",
            "HbA1c",
            "2024-05-01",
            json!({"value": 6.5, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}),
        ),
    ];
    if hospital {
        out.push(lab(pid, "5196-1", "HBs抗原", "2024-05-01", json!("陰性")));
        out.push(json!({"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": coded("http://loinc.org", "8480-6", "収縮期血圧"), "subject": {"reference": format!("Patient/{pid}")},
            "effectiveDateTime": "2024-05-01", "valueQuantity": {"value": 142, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}));
        out.push(json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": {"reference": format!("Patient/{pid}")}, "authoredOn": "2024-05-01",
            "medicationCodeableConcept": coded("urn:oid:1.2.392.100495.20.2.74", "2171022F1", "アムロジピン錠5mg")}));
    } else {
        out.push(condition(pid, "E11", "2型糖尿病", true));
        out.push(lab(
            pid,
            "4548-4",
            "HbA1c",
            "2024-08-01",
            json!({"value": 6.9, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}),
        ));
    }
    out
}

/// A network on `store` over mutual TLS: a hospital, a clinic and a third institution, and a
/// person registered by the insured-member id.
async fn setup(store: Store) -> (tempfile::TempDir, Arc<Client>, [Cred; 3]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let (mut ca, server) = network(&dir);
    let (hospital, _, _) = issue(&mut ca, institution(HOSPITAL, "絆病院"));
    let (clinic, _, _) = issue(&mut ca, institution(CLINIC, "絆クリニック"));
    let (other, _, _) = issue(&mut ca, institution("1310000029", "絆救命センター"));
    let (client, records) = serve(store, &dir, &server, tmp.path()).await;
    index::register(
        &records,
        &Registration {
            insured_member_id: Some(INSURED.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (tmp, client, [hospital, clinic, other])
}

/// One request through curl: status and JSON body.
async fn call(
    client: &Arc<Client>,
    who: &Cred,
    method: &'static str,
    path: String,
    body: Option<Value>,
) -> (u16, Value) {
    let client = client.clone();
    let who = who.clone();
    tokio::task::spawn_blocking(move || client.call(Some(&who), method, &path, &[], body.as_ref()))
        .await
        .unwrap()
}

/// The patient's spoken consent at `who`'s reception.
async fn consent(client: &Arc<Client>, who: &Cred) {
    let (status, b) = call(client, who, "POST", "/Consent/$spoken".into(), Some(json!({"resourceType": "Parameters", "parameter": [
        {"name": "insuredMemberId", "valueString": INSURED}, {"name": "birthDate", "valueDate": "1970-05-01"},
        {"name": "setting", "valueCode": "outpatient"}]}))).await;
    assert_eq!(status, 200, "{b}");
}

async fn run(store: Store) {
    let (_tmp, client, [hospital, clinic, other]) = setup(store).await;
    let mut pids = Vec::new();
    for (who, is_hospital) in [(&hospital, true), (&clinic, false)] {
        let (status, p) = call(
            &client,
            who,
            "POST",
            "/Patient".into(),
            Some(json!({"resourceType": "Patient",
            "birthDate": "1970-05-01", "name": [{"family": "山田", "given": ["花子"]}],
            "identifier": [{"system": kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, "value": INSURED}]})),
        )
        .await;
        assert_eq!(status, 201, "{p}");
        let pid = p["id"].as_str().unwrap().to_string();
        for r in records_of(&pid, is_hospital) {
            let rtype = r["resourceType"].as_str().unwrap().to_string();
            let (status, b) = call(&client, who, "POST", format!("/{rtype}"), Some(r)).await;
            assert_eq!(status, 201, "{b}");
        }
        pids.push(pid);
    }
    let (hospital_pid, clinic_pid) = (pids[0].clone(), pids[1].clone());

    // Before consent the clinic's summary holds its own records only.
    let (status, doc) = call(
        &client,
        &clinic,
        "GET",
        format!("/Patient/{clinic_pid}/$summary"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(section(&doc, "Diagnoses").len(), 2);
    assert!(section(&doc, "Infections").is_empty());

    // The patient consents at the clinic's reception.
    consent(&client, &clinic).await;

    let (status, doc) = call(
        &client,
        &clinic,
        "GET",
        format!("/Patient/{clinic_pid}/$summary"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["type"], "document");
    let issues: Vec<_> = kizuna_fhir::validate_resource(&doc)
        .into_iter()
        .filter(|i| i.is_error())
        .collect();
    assert!(issues.is_empty(), "the summary is valid FHIR: {issues:?}");
    let comp = &doc["entry"][0]["resource"];
    assert!(
        comp["subject"]["reference"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Patient/{clinic_pid}"))
    );
    let titles: Vec<&str> = comp["section"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "傷病名 / Diagnoses",
            "感染症 / Infections",
            "薬剤アレルギー等 / Drug allergies",
            "その他アレルギー等 / Other allergies",
            "検査 / Lab results",
            "処方 / Prescriptions"
        ]
    );

    // Hypertension, reported by both: one item, two sources. Diabetes: LTS.
    let dx = section(&doc, "Diagnoses");
    assert_eq!(dx.len(), 2, "{dx:?}");
    let i10 = dx
        .iter()
        .find(|r| r["code"]["coding"][0]["code"] == "I10")
        .unwrap();
    let prov = provenance_of(&doc, i10);
    let who: Vec<&str> = prov["agent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["who"]["identifier"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(who.len(), 2);
    assert!(who.contains(&HOSPITAL) && who.contains(&CLINIC), "{who:?}");
    assert_eq!(prov["entity"].as_array().unwrap().len(), 2);
    let narrative = comp["section"][0]["text"]["div"].as_str().unwrap();
    assert!(
        narrative.contains("長期保存 LTS") && narrative.contains("絆病院 (0110113719), 2024-04-01"),
        "{narrative}"
    );

    // The HBs antigen result is an infection result, flagged; the vital sign is left out.
    let inf = section(&doc, "Infections");
    assert_eq!(inf.len(), 1);
    assert_eq!(inf[0]["code"]["coding"][0]["code"], "5196-1");
    assert!(
        comp["section"][1]["text"]["div"]
            .as_str()
            .unwrap()
            .contains("感染症 infection")
    );
    let labs = section(&doc, "Lab results");
    assert_eq!(
        labs.len(),
        2,
        "the same HbA1c from both once, and the later one"
    );
    assert!(!doc.to_string().contains("8480-6"), "no vital signs");
    assert_eq!(section(&doc, "Drug allergies").len(), 1);
    assert!(section(&doc, "Other allergies").is_empty());
    assert_eq!(
        comp["section"][3]["emptyReason"]["coding"][0]["code"],
        "nilknown"
    );
    assert_eq!(section(&doc, "Prescriptions").len(), 1);

    // The same as an International Patient Summary, validated against the IPS package.
    let (status, ips) = call(
        &client,
        &clinic,
        "GET",
        format!("/Patient/{clinic_pid}/$summary?profile={IPS_BUNDLE}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ips}");
    assert_eq!(ips["meta"]["profile"][0], IPS_BUNDLE);
    let comp = &ips["entry"][0]["resource"];
    let sections: Vec<(&str, &str)> = comp["section"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["title"].as_str().unwrap(),
                s["code"]["coding"][0]["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sections,
        [
            ("Problem list", "11450-4"),
            ("Allergies and intolerances", "48765-2"),
            ("Medication summary", "10160-0"),
            ("Results", "30954-2"),
            ("Immunizations", "11369-6"),
        ]
    );
    assert_eq!(
        comp["section"][3]["entry"].as_array().unwrap().len(),
        3,
        "two HbA1c and the HBs antigen"
    );
    assert_eq!(
        comp["section"][4]["emptyReason"]["coding"][0]["code"],
        "nilknown"
    );
    let text = ips.to_string();
    assert!(
        text.contains("http://hl7.org/fhir/sid/icd-10") && text.contains("本態性高血圧症"),
        "original codes kept"
    );
    assert!(
        comp["section"][3]["text"]["div"]
            .as_str()
            .unwrap()
            .contains("infection")
    );
    if let Some(package) = ips_package() {
        let package = kizuna_profiles::package::read(&package).unwrap();
        let (conf, absent) = kizuna_profiles::Conformance::new_without(&[package]).unwrap();
        assert!(
            absent.iter().any(|p| p.starts_with("hl7.terminology.r4")),
            "{absent:?}"
        );
        let report = conf.validate_against(&ips, IPS_BUNDLE).unwrap();
        let errors: Vec<_> = report.issues.iter().filter(|i| i.is_error()).collect();
        assert!(errors.is_empty(), "the IPS conforms: {errors:#?}");
        // And the check is real: without its problem list, the same document does not.
        let mut broken = ips.clone();
        broken["entry"][0]["resource"]["section"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        let report = conf.validate_against(&broken, IPS_BUNDLE).unwrap();
        let errors: Vec<String> = report
            .issues
            .iter()
            .filter(|i| i.is_error())
            .map(|i| format!("{:?} {}", i.expression, i.message))
            .collect();
        assert!(
            errors.iter().any(|e| e.contains("sectionProblems")),
            "a missing required section is an error: {errors:#?}"
        );
    }

    // The hospital has no consent: its own records only, one source each.
    let (status, doc) = call(
        &client,
        &hospital,
        "GET",
        format!("/Patient/{hospital_pid}/$summary"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let dx = section(&doc, "Diagnoses");
    assert_eq!(dx.len(), 1);
    assert_eq!(
        provenance_of(&doc, &dx[0])["agent"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A third institution cannot read the patient at all.
    let (status, _) = call(
        &client,
        &other,
        "GET",
        format!("/Patient/{hospital_pid}/$summary"),
        None,
    )
    .await;
    assert!(status == 404 || status == 403, "{status}");
}

/// A synthetic patient (kizuna-synth) seen at two institutions: each wrote its own Patient
/// record and half of the patient's history, and both the diagnoses and allergies. With the
/// patient's consent, the clinic's summary holds every lab result and prescription once, each
/// diagnosis and allergy once with both sources, no vital signs; the IPS of it validates.
async fn run_synthetic(store: Store) {
    let (_tmp, client, [hospital, clinic, _]) = setup(store).await;
    let synth = kizuna_synth::Synth::new(kizuna_synth::Config {
        patients: 10,
        ..Default::default()
    });
    // The first one with diagnoses, lab results and vital signs.
    let history = (0..50)
        .map(|i| synth.patient(i))
        .find(|h| {
            let has = |t: &str, cat: Option<&str>| {
                h.iter().any(|r| {
                    r["resourceType"] == t
                        && cat.is_none_or(|c| r["category"][0]["coding"][0]["code"] == c)
                })
            };
            has("Condition", None)
                && has("Observation", Some("laboratory"))
                && has("Observation", Some("vital-signs"))
        })
        .expect("a synthetic patient with diagnoses, labs and vital signs");
    let mut synth_patient = history[0].clone();
    assert_eq!(synth_patient["resourceType"], "Patient");
    // The person registered by this insured-member id, born then.
    synth_patient["identifier"] =
        json!([{"system": kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, "value": INSURED}]);
    synth_patient["birthDate"] = json!("1970-05-01");
    let clinical: Vec<&Value> = history
        .iter()
        .filter(|r| {
            matches!(
                r["resourceType"].as_str(),
                Some("Condition" | "AllergyIntolerance" | "Observation" | "MedicationRequest")
            )
        })
        .collect();
    let mut pids = Vec::new();
    for (n, who) in [&hospital, &clinic].into_iter().enumerate() {
        let mut p = synth_patient.clone();
        p.as_object_mut().unwrap().remove("id");
        let (status, b) = call(&client, who, "POST", "/Patient".into(), Some(p)).await;
        assert_eq!(status, 201, "{b}");
        let pid = b["id"].as_str().unwrap().to_string();
        let mut entries = Vec::new();
        for (i, r) in clinical.iter().enumerate() {
            let shared = matches!(
                r["resourceType"].as_str(),
                Some("Condition" | "AllergyIntolerance")
            );
            if !shared && i % 2 != n {
                continue;
            }
            let mut r = (*r).clone();
            let o = r.as_object_mut().unwrap();
            o.remove("id");
            // Only the patient is shared between the two institutions' records.
            for k in [
                "encounter",
                "requester",
                "performer",
                "recorder",
                "asserter",
                "basedOn",
                "hasMember",
                "derivedFrom",
            ] {
                o.remove(k);
            }
            for k in ["subject", "patient"] {
                if o.contains_key(k) {
                    o.insert(k.into(), json!({"reference": format!("Patient/{pid}")}));
                }
            }
            let rtype = r["resourceType"].as_str().unwrap().to_string();
            entries.push(json!({"resource": r, "request": {"method": "POST", "url": rtype}}));
        }
        let (status, b) = call(
            &client,
            who,
            "POST",
            "/".into(),
            Some(json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})),
        )
        .await;
        assert_eq!(status, 200, "{b}");
        pids.push(pid);
    }
    consent(&client, &clinic).await;
    let (status, doc) = call(
        &client,
        &clinic,
        "GET",
        format!("/Patient/{}/$summary", pids[1]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{doc}");

    // What to expect, counted from the synthetic history itself.
    let of = |t: &str| {
        clinical
            .iter()
            .filter(|r| r["resourceType"] == t)
            .collect::<Vec<_>>()
    };
    let distinct = |list: Vec<&&Value>, key: &dyn Fn(&Value) -> String| {
        let mut keys: Vec<String> = list.iter().map(|r| key(r)).collect();
        keys.sort();
        keys.dedup();
        keys.len()
    };
    let day = |r: &Value, k: &str| {
        r[k].as_str()
            .unwrap_or("")
            .chars()
            .take(10)
            .collect::<String>()
    };
    let labs: Vec<&&Value> = of("Observation")
        .into_iter()
        .filter(|r| r["category"][0]["coding"][0]["code"] == "laboratory")
        .collect();
    assert!(
        !labs.is_empty() && labs.len() < of("Observation").len(),
        "labs and vital signs both"
    );
    let lab_items = distinct(labs, &|r| {
        format!(
            "{}{}{}",
            r["code"]["coding"][0]["code"],
            day(r, "effectiveDateTime"),
            r["valueQuantity"]["value"]
        )
    });
    let rx_items = distinct(of("MedicationRequest"), &|r| {
        format!(
            "{}{}",
            r["medicationCodeableConcept"]["coding"][0]["code"],
            day(r, "authoredOn")
        )
    });
    let dx_items = distinct(of("Condition"), &|r| {
        r["code"]["coding"][0]["code"].to_string()
    });
    let ax = of("AllergyIntolerance");
    let in_summary = |name: &str| section(&doc, name).len();
    assert_eq!(in_summary("Diagnoses"), dx_items);
    assert_eq!(
        in_summary("Lab results") + in_summary("Infections"),
        lab_items
    );
    assert_eq!(in_summary("Prescriptions"), rx_items);
    assert_eq!(
        in_summary("Drug allergies") + in_summary("Other allergies"),
        distinct(ax, &|r| r["code"]["coding"][0]["code"].to_string())
    );
    for dx in section(&doc, "Diagnoses") {
        let agents = provenance_of(&doc, &dx)["agent"].as_array().unwrap().len();
        assert_eq!(agents, 2, "both institutions reported {}", dx["code"]);
    }
    assert!(!doc.to_string().contains("vital-signs"), "no vital signs");

    let (status, ips) = call(
        &client,
        &clinic,
        "GET",
        format!("/Patient/{}/$summary?profile={IPS_BUNDLE}", pids[1]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ips}");
    if let Some(package) = ips_package() {
        let package = kizuna_profiles::package::read(&package).unwrap();
        let (conf, _) = kizuna_profiles::Conformance::new_without(&[package]).unwrap();
        let report = conf.validate_against(&ips, IPS_BUNDLE).unwrap();
        let errors: Vec<_> = report.issues.iter().filter(|i| i.is_error()).collect();
        assert!(
            errors.is_empty(),
            "the IPS of a synthetic patient conforms: {errors:#?}"
        );
    }
}

/// The resources a section of the summary document lists.
fn section(doc: &Value, english: &str) -> Vec<Value> {
    let comp = &doc["entry"][0]["resource"];
    let s = comp["section"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"]["text"] == english)
        .unwrap();
    s["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let url = r["reference"].as_str().unwrap();
            doc["entry"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["fullUrl"] == url)
                .unwrap()["resource"]
                .clone()
        })
        .collect()
}

/// The Provenance whose target is `r`.
fn provenance_of(doc: &Value, r: &Value) -> Value {
    let target = format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap(),
        r["id"].as_str().unwrap()
    );
    doc["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|p| {
            p["resourceType"] == "Provenance"
                && p["target"][0]["reference"]
                    .as_str()
                    .unwrap()
                    .ends_with(&target)
        })
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_patient_across_institutions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run_synthetic(Store::open(dir.path().to_str().unwrap()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthetic_patient_across_institutions_on_postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    run_synthetic(Store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_across_institutions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run(Store::open(dir.path().to_str().unwrap()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_across_institutions_on_postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    run(Store::open(&url).await.unwrap()).await;
}
