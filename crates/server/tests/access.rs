//! Who may see what, over real mutual TLS with curl as the client, on both backends: an
//! institution sees another's records only after the patient's card answered its challenge;
//! the patient reads their own records and access log with their card; every request,
//! refusals included, is in the audit log, whose chain stays intact.

use base64::Engine;
use kizuna_access::index::{self, Registration};
use kizuna_store::Store;
use kizuna_trust::ca_dir::CaDir;
use kizuna_trust::card::{Card, SoftwareCard};
use kizuna_trust::pki::Holder;
use serde_json::{Value, json};

mod common;
use common::mtls::{Cred, institution, issue, network, serve};

const INSURED: &str = "00012345:あいう:1234:01";

fn total(v: &Value) -> u64 {
    v["total"].as_u64().unwrap_or(u64::MAX)
}

async fn run(store: Store) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let (mut ca, server) = network(&dir);
    let (hospital, _, _) = issue(&mut ca, institution("0110113719", "絆病院"));
    let (clinic, _, _) = issue(&mut ca, institution("1310000011", "絆クリニック"));
    let (er, _, _) = issue(&mut ca, institution("1310000029", "絆救命センター"));
    let (card_cred, card_cert, card_key) = issue(
        &mut ca,
        Holder::Card {
            serial: "JPKI0001".into(),
        },
    );
    let mut card = SoftwareCard::create(
        &tmp.path().join("card"),
        "JPKI0001",
        &card_cert,
        &card_key,
        "1234",
    )
    .unwrap();
    let forged_dir = tmp.path().join("forged");
    let mut forged = CaDir::init(&forged_dir, "Kizuna", time::OffsetDateTime::now_utc()).unwrap();
    let (impostor, _, _) = issue(&mut forged, institution("1310000011", "絆クリニック"));

    let (client, records) = serve(store.clone(), &dir, &server, tmp.path()).await;
    let person = index::register(
        &records,
        &Registration {
            insured_member_id: Some(INSURED.into()),
            card_serials: vec!["JPKI0001".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let call = |who: Option<Cred>,
                method: &'static str,
                path: String,
                headers: Vec<&'static str>,
                body: Option<Value>| {
        let client = client.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                client.call(who.as_ref(), method, &path, &headers, body.as_ref())
            })
            .await
            .unwrap()
        }
    };

    // The hospital registers the patient and writes an observation, as a named doctor.
    let (status, patient) = call(
        Some(hospital.clone()),
        "POST",
        "/Patient".into(),
        vec!["Kizuna-Staff: dr-tanaka"],
        Some(json!({"resourceType": "Patient", "birthDate": "1970-05-01",
            "identifier": [{"system": kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, "value": INSURED}]})),
    )
    .await;
    assert_eq!(status, 201, "{patient}");
    let pid = patient["id"].as_str().unwrap().to_string();
    assert_eq!(
        patient["meta"]["tag"][0]["code"], "0110113719",
        "custodian tag"
    );
    let (status, obs) = call(
        Some(hospital.clone()),
        "POST",
        "/Observation".into(),
        vec![],
        Some(json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "subject": {"reference": format!("Patient/{pid}")}})),
    )
    .await;
    assert_eq!(status, 201, "{obs}");
    let oid = obs["id"].as_str().unwrap().to_string();

    // The clinic sees nothing of the patient yet: not the records, not their count.
    let (status, b) = call(
        Some(clinic.clone()),
        "GET",
        "/Observation?_total=accurate".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!((status, total(&b)), (200, 0), "{b}");
    let (status, _) = call(
        Some(clinic.clone()),
        "GET",
        format!("/Observation/{oid}"),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        Some(clinic.clone()),
        "GET",
        format!("/Patient/{pid}/$everything"),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 404);
    // An unknown purpose of use is refused.
    let (status, b) = call(
        Some(clinic.clone()),
        "GET",
        "/Observation".into(),
        vec!["Kizuna-Purpose: MARKETING"],
        None,
    )
    .await;
    assert_eq!(status, 400, "{b}");

    // Consent: challenge, the card signs it (PIN), the clinic posts the answer.
    let (status, c) = call(
        Some(clinic.clone()),
        "POST",
        "/Consent/$challenge".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 200, "{c}");
    let challenge = c["parameter"][0]["valueString"]
        .as_str()
        .unwrap()
        .to_string();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let sig = card.sign("1234", challenge.as_bytes()).unwrap();
    let answer = json!({"resourceType": "Parameters", "parameter": [
        {"name": "challenge", "valueString": challenge},
        {"name": "signature", "valueBase64Binary": b64(&sig)},
        {"name": "certificate", "valueBase64Binary": b64(&card.certificate().unwrap())},
        {"name": "setting", "valueCode": "outpatient"}]});
    let (status, granted) = call(
        Some(clinic.clone()),
        "POST",
        "/Consent/$card".into(),
        vec!["Kizuna-Staff: reception-3"],
        Some(answer.clone()),
    )
    .await;
    assert_eq!(status, 200, "{granted}");
    assert_eq!(granted["parameter"][1]["valueString"], person);
    // A replayed answer is refused.
    let (status, b) = call(
        Some(clinic.clone()),
        "POST",
        "/Consent/$card".into(),
        vec![],
        Some(answer),
    )
    .await;
    assert_eq!(status, 403, "{b}");

    // Now the clinic sees the hospital's records, but cannot change them.
    let (status, b) = call(
        Some(clinic.clone()),
        "GET",
        "/Observation?_total=accurate".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!((status, total(&b)), (200, 1), "{b}");
    let (status, b) = call(
        Some(clinic.clone()),
        "GET",
        format!("/Patient/{pid}/$everything"),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let (status, b) = call(
        Some(clinic.clone()),
        "DELETE",
        format!("/Observation/{oid}"),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 403, "{b}");
    // Consents and the patient index are not readable by institutions.
    let (status, b) = call(
        Some(clinic.clone()),
        "GET",
        "/Person?_total=accurate".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!((status, total(&b)), (200, 0), "{b}");

    // Emergency access: a reason is required; then the records open, and the access is listed
    // for the institution's administrator (not for others).
    let no_reason = json!({"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueString": INSURED}, {"name": "reason", "valueString": ""}]});
    let (status, b) = call(
        Some(er.clone()),
        "POST",
        "/Consent/$emergency".into(),
        vec![],
        Some(no_reason),
    )
    .await;
    assert_eq!(status, 400, "{b}");
    let glass = json!({"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueString": INSURED},
        {"name": "reason", "valueString": "意識障害で搬送、既往歴と服薬の確認"}]});
    let (status, b) = call(
        Some(er.clone()),
        "POST",
        "/Consent/$emergency".into(),
        vec!["Kizuna-Staff: er-doc-7"],
        Some(glass),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let (status, b) = call(
        Some(er.clone()),
        "GET",
        "/Observation?_total=accurate".into(),
        vec!["Kizuna-Purpose: ETREAT"],
        None,
    )
    .await;
    assert_eq!((status, total(&b)), (200, 1), "{b}");
    let (status, b) = call(
        Some(er.clone()),
        "GET",
        "/AuditEvent/$emergencies".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!((status, total(&b)), (200, 1), "{b}");
    assert_eq!(b["entry"][0]["resource"]["agent"][1]["altId"], "er-doc-7");
    let (status, b) = call(
        Some(clinic.clone()),
        "GET",
        "/AuditEvent/$emergencies".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!((status, total(&b)), (200, 0), "{b}");

    // A forged certificate is refused (and audited).
    let (status, _) = call(
        Some(impostor.clone()),
        "GET",
        "/Observation".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 401);

    // The patient, with their card, reads their records and who looked at them.
    let (status, b) = call(
        Some(card_cred.clone()),
        "GET",
        "/Observation?_total=accurate".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!((status, total(&b)), (200, 1), "{b}");
    // ... and writes nothing: records are written by institutions.
    for (method, path, body) in [
        (
            "POST",
            "/Observation".to_string(),
            Some(json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "self-reported"}, "subject": {"reference": format!("Patient/{pid}")}})),
        ),
        ("DELETE", format!("/Observation/{oid}"), None),
        (
            "POST",
            "/Subscription".to_string(),
            Some(
                json!({"resourceType": "Subscription", "status": "requested",
            "reason": "watch", "criteria": "Observation?code=x", "channel": {"type": "websocket"}}),
            ),
        ),
    ] {
        let (status, b) = call(Some(card_cred.clone()), method, path, vec![], body).await;
        assert_eq!(status, 403, "{b}");
    }
    let (status, _) = call(
        Some(card_cred.clone()),
        "POST",
        "/Observation/_search".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 200, "searching by POST is reading");
    let (status, log) = call(
        Some(card_cred.clone()),
        "GET",
        "/AuditEvent/$mine".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let words: Vec<String> = log["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["extension"][0]["extension"][0]["valueString"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        words
            .iter()
            .any(|w| w.contains("絆クリニック") && w.contains("同意")),
        "{words:?}"
    );
    assert!(
        words
            .iter()
            .any(|w| w.contains("絆クリニック") && w.contains("閲覧しました")),
        "{words:?}"
    );
    // Refusals before consent show too (their target is the patient, their answer empty).
    assert!(
        words
            .iter()
            .any(|w| w.contains("絆クリニック") && w.contains("拒否されました")),
        "{words:?}"
    );
    // An institution cannot read the patient's log.
    let (status, _) = call(
        Some(clinic.clone()),
        "GET",
        "/AuditEvent/$mine".into(),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 403);

    // The audit log holds every request, refusals included, and its chain is intact.
    let entries: Vec<Value> = store
        .audit_after(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(&r.entry).unwrap())
        .collect();
    let describe = |e: &Value| {
        format!(
            "{} {} {}",
            e["agent"][0]["who"]["identifier"]["value"]
                .as_str()
                .or(e["agent"][0]["who"]["display"].as_str())
                .unwrap_or("?"),
            e["subtype"][0]["code"].as_str().unwrap_or("?"),
            e["outcome"].as_str().unwrap_or("?")
        )
    };
    let all: Vec<String> = entries.iter().map(describe).collect();
    for expected in [
        "0110113719 create 0",
        "1310000011 consent 0",
        "1310000011 consent 8",
        "1310000011 read 4",
        "1310000011 delete 8",
        "a client whose credentials were refused search-type 8",
        "1310000011 search-type 4",
        "JPKI0001 search-type 0",
    ] {
        assert!(
            all.iter().any(|d| d == expected),
            "no '{expected}' in {all:#?}"
        );
    }
    let staffed = entries
        .iter()
        .any(|e| e["agent"][1]["altId"] == "dr-tanaka" && e["subtype"][0]["code"] == "create");
    assert!(staffed, "the acting staff member is recorded");
    // A write is recorded before it runs (no outcome yet) and once answered, the two entries
    // tied by the request's id; a read has only its final entry.
    let request_of = |e: &Value| {
        e["entity"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["what"]["identifier"]["system"] == "urn:kizuna:request")
            .and_then(|x| x["what"]["identifier"]["value"].as_str())
            .map(String::from)
            .expect("every entry names its request")
    };
    let started: Vec<&Value> = entries
        .iter()
        .filter(|e| e.get("outcome").is_none())
        .collect();
    assert!(
        started.iter().any(|e| e["subtype"][0]["code"] == "create"),
        "a create is recorded before it runs"
    );
    for s in &started {
        assert!(s["outcomeDesc"].as_str().unwrap().ends_with("-> started"));
        assert_ne!(s["action"], "R", "only writes are recorded ahead: {s}");
        let id = request_of(s);
        let after: Vec<&Value> = entries.iter().filter(|e| request_of(e) == id).collect();
        assert_eq!(after.len(), 2, "started, then answered: {after:#?}");
        assert!(after[1].get("outcome").is_some());
    }
    let reads = entries
        .iter()
        .filter(|e| e["subtype"][0]["code"] == "read")
        .map(request_of)
        .collect::<Vec<_>>();
    assert!(!reads.is_empty());
    for id in reads {
        assert_eq!(entries.iter().filter(|e| request_of(e) == id).count(), 1);
    }
    for e in &entries {
        let text = e.to_string();
        assert!(
            !text.contains("1970-05-01") && !text.contains("あいう"),
            "patient data in the audit log: {text}"
        );
    }
    let records = store.audit_after(0, 10_000).await.unwrap();
    assert!(
        kizuna_store::audit::verify(&records, kizuna_store::audit::GENESIS.to_string(), 0).is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_over_mutual_tls_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run(Store::open(dir.path().to_str().unwrap()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_over_mutual_tls_on_postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    run(Store::open(&url).await.unwrap()).await;
}
