//! The urgent consult end to end, over real mutual TLS with curl, on both backends: a small
//! hospital's stroke patient and CT, a stroke centre alerted by its rest-hook subscription the
//! moment the consult opens, the centre's first look at the images stamped, a message with an
//! image, the decision and the needle time, door-to-needle reported and exported; a third
//! institution sees none of it.

mod common;

use common::mtls::{Client, Cred, institution, issue, network, serve};
use kizuna_store::Store;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const HOSPITAL: &str = "0110113719";
const CENTRE: &str = "1310000011";
const OTHER: &str = "1310000029";
const STUDY: &str = "1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668";

fn head_ct() -> Option<Vec<Vec<u8>>> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("dicom/head-ct");
    if !dir.is_dir() {
        assert!(
            std::env::var("CI").is_err(),
            "fixtures not found at {}",
            dir.display()
        );
        return None;
    }
    Some(
        ["01.dcm", "02.dcm", "03.dcm"]
            .iter()
            .map(|f| std::fs::read(dir.join(f)).unwrap())
            .collect(),
    )
}

/// A plain HTTP endpoint that counts the notifications it gets.
fn hook() -> (String, Arc<Mutex<usize>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = Arc::new(Mutex::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            *c.lock().unwrap() += 1;
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, count)
}

async fn call(
    client: &Arc<Client>,
    who: &Cred,
    method: &'static str,
    path: String,
    headers: Vec<String>,
    body: Option<Vec<u8>>,
) -> (u16, Vec<u8>) {
    let (client, who) = (client.clone(), who.clone());
    tokio::task::spawn_blocking(move || {
        let h: Vec<&str> = headers.iter().map(String::as_str).collect();
        let r = client.raw(Some(&who), method, &path, &h, body.as_deref());
        (r.status, r.body)
    })
    .await
    .unwrap()
}

async fn json_call(
    client: &Arc<Client>,
    who: &Cred,
    method: &'static str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, bytes) = call(
        client,
        who,
        method,
        path.to_string(),
        vec![],
        body.map(|b| b.to_string().into_bytes()),
    )
    .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn params(list: &[(&str, &str, &str)]) -> Value {
    json!({"resourceType": "Parameters", "parameter": list.iter().map(|(n, k, v)| {
        let mut p = json!({"name": n});
        p[*k] = if *k == "valueReference" { json!({"reference": v}) } else { json!(v) };
        p
    }).collect::<Vec<_>>()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_consult_on_the_embedded_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("data").to_str().unwrap())
        .await
        .unwrap();
    run(store, tmp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_consult_on_postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    run(
        Store::open(&url).await.unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await;
}

async fn run(store: Store, tmp: tempfile::TempDir) {
    let Some(ct) = head_ct() else { return };
    let pki = tmp.path().join("pki");
    let (mut ca, server) = network(&pki);
    let (hospital, _, _) = issue(&mut ca, institution(HOSPITAL, "絆町立病院"));
    let (centre, _, _) = issue(&mut ca, institution(CENTRE, "絆脳卒中センター"));
    let (other, _, _) = issue(&mut ca, institution(OTHER, "絆クリニック"));
    let (client, _) = serve(store.clone(), &pki, &server, tmp.path()).await;
    let web = client.base.replace("/fhir", "/dicomweb");

    // The stroke centre is alerted by a rest-hook on what is addressed to it.
    let (hook_url, notified) = hook();
    let (status, sub) = json_call(
        &client,
        &centre,
        "POST",
        "/Subscription",
        Some(json!({
        "resourceType": "Subscription", "status": "requested", "reason": "urgent consults",
        "criteria": format!("Task?_tag=urn:kizuna:addressee|{CENTRE}"),
        "channel": {"type": "rest-hook", "endpoint": hook_url}})),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    let sub_id = sub["id"].as_str().unwrap().to_string();
    for _ in 0..100 {
        let (_, s) = json_call(
            &client,
            &centre,
            "GET",
            &format!("/Subscription/{sub_id}"),
            None,
        )
        .await;
        if s["status"] == "active" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // The hospital's patient and CT.
    let (status, p) = json_call(&client, &hospital, "POST", "/Patient", Some(json!({"resourceType": "Patient",
        "gender": "male", "birthDate": "1950-04-01",
        "identifier": [{"system": format!("urn:oid:1.2.392.100495.20.3.51.1{HOSPITAL}"), "value": "QMNx85rKkkg"}]}))).await;
    assert_eq!(status, 201, "{p}");
    let patient = p["id"].as_str().unwrap().to_string();
    let boundary = "consult-boundary";
    let mut body = Vec::new();
    for f in &ct {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(f);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let ctype =
        format!("Content-Type: multipart/related; type=\"application/dicom\"; boundary={boundary}");
    let (status, _) = call(
        &client,
        &hospital,
        "POST",
        format!("{web}/studies"),
        vec![ctype],
        Some(body),
    )
    .await;
    assert_eq!(status, 200);
    let study = kizuna_records::imaging::study_resource_id(STUDY);
    let (status, _) = call(
        &client,
        &centre,
        "GET",
        format!("{web}/studies/{STUDY}/rendered"),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 404, "nothing shared before the consult");

    // Refusals first.
    for (who, p, code) in [
        (
            &hospital,
            params(&[
                ("patient", "valueString", &patient),
                ("team", "valueString", HOSPITAL),
                ("reason", "valueString", "x"),
            ]),
            400,
        ),
        (
            &hospital,
            params(&[
                ("patient", "valueString", "nobody"),
                ("team", "valueString", CENTRE),
                ("reason", "valueString", "x"),
            ]),
            404,
        ),
        (
            &hospital,
            params(&[
                ("patient", "valueString", &patient),
                ("team", "valueString", CENTRE),
            ]),
            400,
        ),
        (
            &other,
            params(&[
                ("patient", "valueString", &patient),
                ("team", "valueString", CENTRE),
                ("reason", "valueString", "x"),
            ]),
            404,
        ),
    ] {
        let (status, b) = json_call(&client, who, "POST", "/Task/$consult", Some(p)).await;
        assert_eq!(status, code, "{b}");
        assert_eq!(b["resourceType"], "OperationOutcome");
    }

    // The on-site doctor opens the consult.
    let (status, task) = json_call(
        &client,
        &hospital,
        "POST",
        "/Task/$consult",
        Some(params(&[
            ("patient", "valueReference", &format!("Patient/{patient}")),
            ("study", "valueString", &study),
            ("team", "valueString", CENTRE),
            (
                "reason",
                "valueString",
                "suspected stroke, last known well 21:40 / 脳卒中疑い",
            ),
            (
                "lastKnownWell",
                "valueDateTime",
                "2026-11-21T21:40:00+09:00",
            ),
            ("arrival", "valueDateTime", "2026-11-21T22:05:00"),
        ])),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(task["priority"], "stat");
    assert_eq!(task["focus"]["reference"], format!("ImagingStudy/{study}"));
    let codes: Vec<&str> = task["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["type"]["coding"][0]["code"].as_str())
        .collect();
    assert_eq!(codes, ["arrival", "images-shared"]);
    assert_eq!(
        task["output"][0]["valueDateTime"], "2026-11-21T22:05:00+09:00",
        "JST when no offset is given"
    );
    // Alerted at once.
    for _ in 0..100 {
        if *notified.lock().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        *notified.lock().unwrap() > 0,
        "the centre's rest-hook was notified"
    );

    // The centre sees the consult, the patient and the images; its first look is stamped.
    let (status, t) = json_call(&client, &centre, "GET", &format!("/Task/{id}"), None).await;
    assert_eq!(status, 200, "{t}");
    let (status, pt) = json_call(
        &client,
        &centre,
        "GET",
        &format!("/Patient/{patient}"),
        None,
    )
    .await;
    assert_eq!((status, pt["gender"].as_str()), (200, Some("male")));
    let (status, image) = call(
        &client,
        &centre,
        "GET",
        format!("{web}/studies/{STUDY}/rendered"),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&image[..2], &[0xFF, 0xD8]);
    let (_, t) = json_call(&client, &hospital, "GET", &format!("/Task/{id}"), None).await;
    assert!(
        t["output"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type"]["coding"][0]["code"] == "specialist-viewing"),
        "{t}"
    );
    assert_eq!(t["status"], "in-progress");

    // Another institution: nothing.
    let (status, _) = json_call(&client, &other, "GET", &format!("/Task/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, b) = call(
        &client,
        &other,
        "GET",
        format!("{web}/studies"),
        vec![],
        None,
    )
    .await;
    assert_eq!(
        (status, serde_json::from_slice::<Value>(&b).unwrap()),
        (200, json!([]))
    );
    let (status, _) = json_call(
        &client,
        &other,
        "POST",
        &format!("/Task/{id}/$consult-message"),
        Some(params(&[("text", "valueString", "hello")])),
    )
    .await;
    assert_eq!(status, 404);

    // Chat with an image.
    let (status, m) = json_call(&client, &centre, "POST", &format!("/Task/{id}/$consult-message"), Some(params(&[
        ("text", "valueString", "Hyperdense left MCA; no haemorrhage. Start alteplase. / 左MCA高吸収、出血なし。tPA開始を。"),
        ("image", "valueString", &format!("{web}/studies/{STUDY}/rendered")),
        ("image", "valueReference", &format!("ImagingStudy/{study}")),
    ]))).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["partOf"][0]["reference"], format!("Task/{id}"));
    assert_eq!(m["payload"].as_array().unwrap().len(), 3);
    let (_, thread) = json_call(
        &client,
        &hospital,
        "GET",
        &format!("/Communication?part-of=Task/{id}"),
        None,
    )
    .await;
    assert_eq!(
        thread["total"], 1,
        "the hospital reads the centre's message: {thread}"
    );
    let (status, _) = json_call(
        &client,
        &hospital,
        "POST",
        &format!("/Task/{id}/$consult-message"),
        Some(params(&[("text", "valueString", "了解、開始します")])),
    )
    .await;
    assert_eq!(status, 201);

    // Milestones: the decision from the centre, the needle from the hospital (in UTC).
    for (p, code) in [
        (params(&[("milestone", "valueCode", "lunch")]), 400),
        (params(&[("milestone", "valueCode", "decision")]), 400),
        (
            params(&[
                ("milestone", "valueCode", "decision"),
                ("decision", "valueCode", "maybe"),
            ]),
            400,
        ),
        (
            params(&[
                ("milestone", "valueCode", "needle"),
                ("time", "valueDateTime", "22:40"),
            ]),
            400,
        ),
    ] {
        let (status, b) = json_call(
            &client,
            &centre,
            "POST",
            &format!("/Task/{id}/$consult-milestone"),
            Some(p),
        )
        .await;
        assert_eq!(status, code, "{b}");
    }
    let (status, t) = json_call(
        &client,
        &centre,
        "POST",
        &format!("/Task/{id}/$consult-milestone"),
        Some(params(&[
            ("milestone", "valueCode", "decision"),
            ("decision", "valueCode", "thrombolysis"),
            ("time", "valueDateTime", "2026-11-21T22:31:00+09:00"),
        ])),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let (status, t) = json_call(
        &client,
        &hospital,
        "POST",
        &format!("/Task/{id}/$consult-milestone"),
        Some(params(&[
            ("milestone", "valueCode", "needle"),
            ("time", "valueDateTime", "2026-11-21T13:40:00Z"),
        ])),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["status"], "completed");
    let (status, _) = json_call(
        &client,
        &other,
        "POST",
        &format!("/Task/{id}/$consult-milestone"),
        Some(params(&[("milestone", "valueCode", "transfer")])),
    )
    .await;
    assert_eq!(status, 404);

    // Door-to-decision 26 minutes, door-to-needle 35, the offsets kept.
    let (status, r) = json_call(
        &client,
        &centre,
        "GET",
        &format!("/Task/{id}/$consult-report"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let get = |name: &str| {
        r["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(get("door-to-decision-minutes")["valueDecimal"], 26.0);
    assert_eq!(get("door-to-needle-minutes")["valueDecimal"], 35.0);
    assert_eq!(get("needle")["valueDateTime"], "2026-11-21T13:40:00+00:00");
    assert_eq!(get("decision-made")["valueCode"], "thrombolysis");
    let (status, csv) = call(
        &client,
        &hospital,
        "GET",
        format!("{}/Task/$consult-report?_format=csv", client.base),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("consult,opened,team,last_known_well,arrival"),
        "{csv}"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with(&id) && lines[1].ends_with(",thrombolysis,26.0,35.0"),
        "{csv}"
    );
    let (_, none) = call(
        &client,
        &other,
        "GET",
        format!("{}/Task/$consult-report?_format=csv", client.base),
        vec![],
        None,
    )
    .await;
    assert_eq!(
        String::from_utf8(none).unwrap().lines().count(),
        1,
        "another institution exports nothing"
    );

    // A partner abroad (here the third institution) gets the case de-identified.
    let (status, shared) = json_call(
        &client,
        &centre,
        "POST",
        &format!("/Task/{id}/$consult-abroad"),
        Some(params(&[("partner", "valueString", OTHER)])),
    )
    .await;
    assert_eq!(status, 403, "only the requester shares a consult: {shared}");
    let (status, shared) = json_call(
        &client,
        &hospital,
        "POST",
        &format!("/Task/{id}/$consult-abroad"),
        Some(params(&[
            ("partner", "valueString", OTHER),
            (
                "reason",
                "valueString",
                "Suspected left MCA stroke; second opinion on the CT, please",
            ),
        ])),
    )
    .await;
    assert_eq!(status, 201, "{shared}");
    let shared_id = shared["id"].as_str().unwrap().to_string();
    let pseudo = shared["for"]["reference"].as_str().unwrap().to_string();
    assert_ne!(pseudo, format!("Patient/{patient}"));
    let (status, t) = json_call(&client, &other, "GET", &format!("/Task/{shared_id}"), None).await;
    assert_eq!(status, 200, "{t}");
    let (status, pp) = json_call(&client, &other, "GET", &format!("/{pseudo}"), None).await;
    assert_eq!(status, 200);
    let case = pp["identifier"][0]["value"].as_str().unwrap().to_string();
    assert!(
        case.starts_with("CASE-") && pp.get("name").is_none() && pp.get("birthDate").is_none(),
        "{pp}"
    );
    let (_, b) = call(
        &client,
        &other,
        "GET",
        format!("{web}/studies"),
        vec![],
        None,
    )
    .await;
    let studies: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        studies.as_array().unwrap().len(),
        1,
        "the partner sees the copy only: {studies}"
    );
    let copy_uid = studies[0]["0020000D"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(copy_uid.starts_with("2.25.") && copy_uid != STUDY);
    assert_eq!(studies[0]["00100020"]["Value"][0], json!(case));
    let (status, _) = call(
        &client,
        &other,
        "GET",
        format!("{web}/studies/{copy_uid}/rendered"),
        vec![],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, meta) = call(
        &client,
        &other,
        "GET",
        format!("{web}/studies/{copy_uid}/metadata"),
        vec![],
        None,
    )
    .await;
    let meta = String::from_utf8(meta).unwrap();
    assert!(
        !meta.contains(STUDY) && !meta.contains("QMNx85rKkkg"),
        "nothing of the original's identity in the copy"
    );
    for path in [format!("{web}/studies/{STUDY}/rendered")] {
        let (status, _) = call(&client, &other, "GET", path, vec![], None).await;
        assert_eq!(status, 404);
    }
    let (status, _) = json_call(&client, &other, "GET", &format!("/Task/{id}"), None).await;
    assert_eq!(status, 404, "the partner never sees the original consult");
    let (status, t) = json_call(
        &client,
        &other,
        "POST",
        &format!("/Task/{shared_id}/$consult-milestone"),
        Some(params(&[
            ("milestone", "valueCode", "decision"),
            ("decision", "valueCode", "thrombolysis"),
            ("time", "valueDateTime", "2026-11-21T14:30:00+01:00"),
        ])),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let (_, map) = json_call(
        &client,
        &hospital,
        "GET",
        "/Basic?code=urn:kizuna:deid|reidentification-map",
        None,
    )
    .await;
    assert_eq!(map["total"], 1, "the map is the hospital's: {map}");
    let map_text = map.to_string();
    assert!(
        map_text.contains(&format!("urn:oid:{STUDY}"))
            && map_text.contains(&format!("urn:oid:{copy_uid}"))
    );
    for who in [&other, &centre] {
        let (_, m) = json_call(
            &client,
            who,
            "GET",
            "/Basic?code=urn:kizuna:deid|reidentification-map",
            None,
        )
        .await;
        assert_eq!(m["total"], 0, "and nobody else's");
    }
    let (_, b) = call(
        &client,
        &centre,
        "GET",
        format!("{web}/studies"),
        vec![],
        None,
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&b)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1,
        "the team sees the original only"
    );

    // Every step audited as concerning the patient.
    let log = store.audit_after(0, 100_000).await.unwrap();
    for what in [
        "$consult\"",
        "$consult-message",
        "$consult-milestone",
        "$consult-report",
    ] {
        assert!(log.iter().any(|e| e.entry.contains(what)), "{what} audited");
    }
    assert!(
        log.iter()
            .any(|e| e.entry.contains("first view of ImagingStudy")),
        "the automatic stamp audited"
    );
}
