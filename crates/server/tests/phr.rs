//! Personal health records end to end, over real mutual TLS with curl as the client, on both
//! backends: the patient's card brings the real fixture files (Apple Health, Fitbit, Open
//! mHealth) and FHIR Observations, sent twice stored once; no institution sees them until the
//! patient shares them, the institution shared with sees trends (JSON and SVG), the kept
//! series and the measurements as FHIR Observations, and nothing else of the patient; revoking
//! closes it again; every access is in the audit log as concerning the patient.

use kizuna_access::index::{self, Registration};
use kizuna_store::Store;
use kizuna_trust::pki::Holder;
use serde_json::{Value, json};
use std::path::PathBuf;

mod common;
use common::mtls::{Cred, institution, issue, network, serve};

const INSURED: &str = "00012345:あいう:1234:01";
const CLINIC: &str = "1310000011";

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("phr");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "fixtures not found at {}",
        dir.display()
    );
    eprintln!("skipped: fixtures not found at {}", dir.display());
    None
}

/// An import summary's integer parameter.
fn figure(summary: &Value, name: &str) -> u64 {
    summary["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| p["valueInteger"].as_u64())
        .unwrap_or(u64::MAX)
}

fn refused(summary: &Value, reason: &str) -> u64 {
    summary["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "rejected-by-reason")
        .find(|p| p["part"][0]["valueString"] == reason)
        .and_then(|p| p["part"][1]["valueInteger"].as_u64())
        .unwrap_or(0)
}

fn observation(code: &str, at: &str, value: Value, unit: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": at, "device": {"display": "Omron scale"},
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}})
}

async fn run(store: Store) {
    let Some(phr) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let (mut ca, server) = network(&dir);
    let (hospital, _, _) = issue(&mut ca, institution("0110113719", "絆病院"));
    let (clinic, _, _) = issue(&mut ca, institution(CLINIC, "絆クリニック"));
    let (card, _, _) = issue(
        &mut ca,
        Holder::Card {
            serial: "JPKI0001".into(),
        },
    );
    let (client, records) = serve(store.clone(), &dir, &server, tmp.path()).await;
    index::register(
        &records,
        &Registration {
            insured_member_id: Some(INSURED.into()),
            card_serials: vec!["JPKI0001".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let raw = |who: Option<Cred>,
               method: &'static str,
               path: String,
               headers: Vec<String>,
               body: Option<Vec<u8>>| {
        let client = client.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let h: Vec<&str> = headers.iter().map(String::as_str).collect();
                client.raw(who.as_ref(), method, &path, &h, body.as_deref())
            })
            .await
            .unwrap()
        }
    };
    let call = |who: Option<Cred>, method: &'static str, path: String, body: Option<Vec<u8>>| {
        let r = raw(who, method, path, vec![], body);
        async move {
            let r = r.await;
            (r.status, r.json())
        }
    };

    // The hospital registers the patient (the index links the Patient to the card's person).
    let (status, patient) = call(
        Some(hospital.clone()),
        "POST",
        "/Patient".into(),
        Some(
            json!({"resourceType": "Patient", "birthDate": "1970-05-01",
            "identifier": [{"system": kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, "value": INSURED}]})
            .to_string()
            .into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, 201, "{patient}");
    let pid = patient["id"].as_str().unwrap().to_string();
    let op = |name: &str, query: &str| format!("/Patient/{pid}/{name}?{query}");

    // The patient's card brings the real exports.
    let file = |p: &str| std::fs::read(phr.join(p)).unwrap();
    let (status, s) = call(
        Some(card.clone()),
        "POST",
        op("$phr-ingest", "format=fitbit&zone=America/Chicago"),
        Some(file("fitbit/dailyActivity_merged.csv")),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    // 1,397 rows; 24 days given twice (two overlapping exports): the later row replaces.
    assert_eq!(
        (
            figure(&s, "samples"),
            figure(&s, "added"),
            figure(&s, "replaced") + figure(&s, "unchanged")
        ),
        (1397, 1373, 24),
        "{s}"
    );
    let (status, s) = call(
        Some(card.clone()),
        "POST",
        op("$phr-ingest", ""),
        Some(file("apple-health/export6s3sample.xml")),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (figure(&s, "added"), refused(&s, "not kept")),
        (10, 5),
        "{s}"
    );
    // Open mHealth data points, each checked against its schema: the one that should fail is
    // refused as invalid, the other kept.
    let point = |p: &str| serde_json::from_slice::<Value>(&file(p)).unwrap();
    let omh = json!([
        point("openmhealth/body-weight/3.0/shouldPass/body-weight-only.json"),
        point("openmhealth/blood-pressure/4.0/shouldFail/invalid-pa-value.json"),
    ]);
    let (status, s) = call(
        Some(card.clone()),
        "POST",
        op("$phr-ingest", "format=omh&source=omh-app"),
        Some(omh.to_string().into_bytes()),
    )
    .await;
    assert_eq!(
        (
            status,
            figure(&s, "added"),
            refused(&s, "invalid against its schema")
        ),
        (200, 1, 1),
        "{s}"
    );

    // FHIR Observations in a Bundle: pounds and Fahrenheit converted, a panel as two readings,
    // an impossible weight and a future reading refused with their reasons, the rest kept.
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": observation("29463-7", "2025-05-01T07:00:00+09:00", json!(154.3), "[lb_av]")},
        {"resource": observation("29463-7", "2025-05-02T07:00:00+09:00", json!(70.5), "kg")},
        {"resource": observation("29463-7", "2025-05-02T21:00:00+09:00", json!(69.5), "kg")},
        {"resource": observation("29463-7", "2025-05-03T07:00:00+09:00", json!(2000), "kg")},
        {"resource": observation("8310-5", "2025-05-01T07:00:00+09:00", json!(98.6), "[degF]")},
        {"resource": observation("8867-4", "2099-01-01T00:00:00+09:00", json!(60), "/min")},
        {"resource": {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "effectiveDateTime": "2025-05-01T07:30:00+09:00", "device": {"display": "Omron HEM"},
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": 128, "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                 "valueQuantity": {"value": 82, "code": "mm[Hg]"}}]}}]})
    .to_string()
    .into_bytes();
    let (status, s) = call(
        Some(card.clone()),
        "POST",
        op("$phr-ingest", "format=fhir"),
        Some(bundle.clone()),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!((figure(&s, "added"), figure(&s, "rejected")), (6, 2), "{s}");
    assert_eq!(
        (
            refused(&s, "impossible value"),
            refused(&s, "in the future")
        ),
        (1, 1),
        "{s}"
    );
    // Sent again: kept once.
    let (_, s) = call(
        Some(card.clone()),
        "POST",
        op("$phr-ingest", "format=fhir"),
        Some(bundle),
    )
    .await;
    assert_eq!(
        (figure(&s, "added"), figure(&s, "unchanged")),
        (0, 6),
        "{s}"
    );

    // A body that is not the format named at all: an error saying why, nothing kept.
    let (status, b) = call(
        Some(card.clone()),
        "POST",
        op("$phr-ingest", "format=fhir"),
        Some(b"not json".to_vec()),
    )
    .await;
    assert_eq!(status, 400, "{b}");
    assert!(
        b["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or("")
            .contains("not JSON"),
        "{b}"
    );
    // No institution sees them yet: not the one that registered the patient, not the clinic.
    for who in [&hospital, &clinic] {
        let (status, b) = call(
            Some(who.clone()),
            "GET",
            op("$phr-trend", "code=29463-7"),
            None,
        )
        .await;
        assert_eq!(status, 403, "{b}");
        let (status, _) = call(Some(who.clone()), "GET", op("$phr-observations", ""), None).await;
        assert_eq!(status, 403);
    }
    // Only the patient adds to them.
    let (status, _) = call(
        Some(hospital.clone()),
        "POST",
        op("$phr-ingest", "format=fhir"),
        Some(b"[]".to_vec()),
    )
    .await;
    assert_eq!(status, 403);
    // Nor does an institution share them.
    let (status, _) = call(
        Some(clinic.clone()),
        "POST",
        op("$phr-share", &format!("institution={CLINIC}")),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // The patient shares them with the clinic (once: again answers the same share).
    let (status, consent) = call(
        Some(card.clone()),
        "POST",
        op("$phr-share", &format!("institution={CLINIC}")),
        None,
    )
    .await;
    assert_eq!(status, 201, "{consent}");
    let (status, again) = call(
        Some(card.clone()),
        "POST",
        op("$phr-share", &format!("institution={CLINIC}")),
        None,
    )
    .await;
    assert_eq!((status, &again["id"]), (200, &consent["id"]));

    // The clinic sees the weight trend: per day, the mean with the range, at JST.
    let (status, t) = call(
        Some(clinic.clone()),
        "GET",
        op(
            "$phr-trend",
            "code=29463-7&start=2025-05-01&end=2025-05-31&resolution=day",
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let points = t["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{t}");
    assert_eq!(points[0]["start"], "2025-05-01T00:00:00+09:00");
    assert!(
        (points[0]["value"].as_f64().unwrap() - 69.989_302_691).abs() < 1e-6,
        "154.3 lb in kg"
    );
    assert_eq!(
        (points[1]["count"].as_u64(), points[1]["value"].as_f64()),
        (Some(2), Some(70.0))
    );
    assert_eq!(
        (points[1]["min"].as_f64(), points[1]["max"].as_f64()),
        (Some(69.5), Some(70.5))
    );
    // Temperature: 98.6 °F is 37 °C.
    let (_, t) = call(
        Some(clinic.clone()),
        "GET",
        op("$phr-trend", "code=8310-5&start=2025-05-01&end=2025-05-01"),
        None,
    )
    .await;
    assert!(
        (t["points"][0]["value"].as_f64().unwrap() - 37.0).abs() < 1e-9,
        "{t}"
    );
    // Steps per month from the Fitbit export: each day the source counting most.
    let (status, t) = call(
        Some(clinic.clone()),
        "GET",
        op(
            "$phr-trend",
            "code=41950-7&start=2016-04-01&end=2016-05-31&resolution=month",
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["figure"], "sum");
    assert_eq!(t["points"].as_array().unwrap().len(), 2, "{t}");
    assert!(
        t["sources"].as_array().unwrap().len() > 30,
        "one series per Fitbit user id"
    );
    // The same as an SVG chart a page shows as is.
    let svg = raw(
        Some(clinic.clone()),
        "GET",
        op("$phr-trend", "code=29463-7&start=2025-05-01&end=2025-05-31"),
        vec!["Accept: image/svg+xml".into()],
        None,
    )
    .await;
    assert_eq!(svg.status, 200);
    assert!(
        svg.header("content-type")
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let text = String::from_utf8(svg.body).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("体重"),
        "{}",
        &text[..100.min(text.len())]
    );
    // What is kept, and the measurements as FHIR Observations (the panel read as one).
    let (status, s) = call(Some(clinic.clone()), "GET", op("$phr-series", ""), None).await;
    assert_eq!(status, 200, "{s}");
    assert!(
        s["series"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["source"] == "Omron HEM")
    );
    let (status, b) = call(
        Some(clinic.clone()),
        "GET",
        op(
            "$phr-observations",
            "code=85354-9,29463-7&date=ge2025-05-01&date=lt2025-05-02",
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let entries = b["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "the panel and one weight: {b}");
    let panel = entries
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["code"]["coding"][0]["code"] == "85354-9")
        .unwrap();
    assert_eq!(panel["component"][1]["valueQuantity"]["value"], 82.0);
    assert_eq!(
        panel["effectiveDateTime"], "2025-05-01T07:30:00+09:00",
        "the offset kept"
    );
    assert_eq!(panel["subject"]["reference"], format!("Patient/{pid}"));
    // The same measurements through the ordinary FHIR search, one instant a page (the panel's
    // two readings stay together), newest first, following `next`; each read back by its id.
    let tag = "_tag=urn:kizuna:phr%7Cdevice";
    let mut url = format!(
        "/Observation?patient=Patient/{pid}&{tag}&code=http://loinc.org%7C29463-7,85354-9&date=ge2025-05-01&date=lt2025-06-01&_count=1"
    );
    let mut seen: Vec<Value> = Vec::new();
    for _ in 0..10 {
        let (status, b) = call(Some(clinic.clone()), "GET", url.clone(), None).await;
        assert_eq!(status, 200, "{b}");
        assert_eq!(b["entry"].as_array().unwrap().len(), 1, "{b}");
        seen.push(b["entry"][0]["resource"].clone());
        let next = b["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next");
        match next {
            Some(l) => {
                url = l["url"]
                    .as_str()
                    .unwrap()
                    .split_once("/fhir")
                    .unwrap()
                    .1
                    .to_string()
            }
            None => break,
        }
    }
    let codes: Vec<&str> = seen
        .iter()
        .map(|o| o["code"]["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["29463-7", "29463-7", "85354-9", "29463-7"]);
    assert_eq!(seen[2]["component"][0]["valueQuantity"]["value"], 128.0);
    for o in &seen {
        let id = o["id"].as_str().unwrap();
        let (status, read) = call(
            Some(clinic.clone()),
            "GET",
            format!("/Observation/{id}"),
            None,
        )
        .await;
        assert_eq!((status, &read), (200, o), "Observation/{id}");
    }
    // In the patient's compartment, all at once, with the total.
    let (status, b) = call(
        Some(clinic.clone()),
        "GET",
        format!("/Patient/{pid}/Observation?{tag}&date=2025-05"),
        None,
    )
    .await;
    assert_eq!((status, b["total"].as_u64()), (200, Some(5)), "{b}");
    // What this search cannot answer is refused; a parameter it does not take is refused when
    // strict handling is asked, else said in the Bundle.
    for (bad, prefer) in [
        ("code=http://snomed.info/sct%7C1", None),
        ("_count=x", None),
        ("_page=x", None),
        ("value-quantity=gt5", Some("Prefer: handling=strict")),
    ] {
        let r = raw(
            Some(clinic.clone()),
            "GET",
            format!("/Observation?patient={pid}&{tag}&{bad}"),
            prefer.into_iter().map(str::to_string).collect(),
            None,
        )
        .await;
        let b = r.json();
        assert_eq!(r.status, 400, "{bad}: {b}");
        assert_eq!(b["resourceType"], "OperationOutcome");
    }
    let (_, b) = call(
        Some(clinic.clone()),
        "GET",
        format!("/Observation?patient={pid}&{tag}&value-quantity=gt5&date=2025-05-02"),
        None,
    )
    .await;
    let last = b["entry"].as_array().unwrap().last().unwrap();
    assert_eq!(last["search"]["mode"], "outcome", "{b}");
    // The hospital, not shared with: refused the search, and the measurement is not found.
    let id = seen[0]["id"].as_str().unwrap();
    let (status, _) = call(
        Some(hospital.clone()),
        "GET",
        format!("/Observation?patient={pid}&{tag}"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        Some(hospital.clone()),
        "GET",
        format!("/Observation/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // A measurement's id is not a resource anyone writes.
    let (status, b) = call(
        Some(clinic.clone()),
        "PUT",
        format!("/Observation/{id}"),
        Some(
            json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"text": "x"}})
            .to_string()
            .into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, 400, "{b}");

    // The share opens nothing else: the clinic still sees none of the hospital's records.
    let (status, b) = call(Some(clinic.clone()), "GET", format!("/Patient/{pid}"), None).await;
    assert_eq!(status, 404, "{b}");

    // Revoked: closed again.
    let (status, r) = call(
        Some(card.clone()),
        "POST",
        op("$phr-revoke", &format!("institution={CLINIC}")),
        None,
    )
    .await;
    assert_eq!(
        (status, &r["parameter"][0]["valueInteger"]),
        (200, &json!(1)),
        "{r}"
    );
    let (status, _) = call(
        Some(clinic.clone()),
        "GET",
        op("$phr-trend", "code=29463-7"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    // The patient still sees their own.
    let (status, _) = call(
        Some(card.clone()),
        "GET",
        op("$phr-trend", "code=29463-7&start=2025-05-01&end=2025-05-31"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // Every access is audited as concerning the patient, refusals included.
    let log = store.audit_after(0, 100_000).await.unwrap();
    let about = |needle: &str| {
        log.iter()
            .filter(|e| e.entry.contains(needle) && e.entry.contains(&format!("Patient/{pid}")))
            .count()
    };
    assert!(about("$phr-trend") >= 7, "trend reads and refusals audited");
    assert!(about("$phr-ingest") >= 6);
    assert!(about("$phr-observations") >= 3);
    assert!(
        about("Observation/phr-") >= 8,
        "the searches and reads audited as concerning the patient"
    );
    assert!(
        log.iter().any(|e| e.entry.contains("search-type")
            && e.entry.contains("has not shared")
            && e.entry.contains(&format!("Patient/{pid}"))),
        "the hospital's refused search too, with why"
    );
}

#[tokio::test]
async fn phr_end_to_end_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run(Store::open(dir.path().to_str().unwrap()).await.unwrap()).await;
}

#[tokio::test]
async fn phr_end_to_end_on_postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    run(Store::open(&url).await.unwrap()).await;
}
