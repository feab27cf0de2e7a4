//! Clinical documents end to end over real mutual TLS, on both backends, with the real JP-CLINS
//! referral letter and clinical-information examples and the JP Core and JP-CLINS packages
//! installed: the author submits, refusals say why (another institution's letter, an unknown
//! patient, broken rules, all at once), the addressee finds the letter in its inbox and reads
//! it (byte for byte, or as a page) while a third institution cannot, a correction replaces
//! the letter and the old one stays retrievable, a discharge summary goes only with a letter,
//! and the document itself cannot be changed.
//!
//! The examples' institution codes (1319876543, 1311234567, 1318814790) have no valid check
//! digit, so no certificate can be issued for them: the test substitutes valid codes. It also
//! writes the institution-number system JP Core 1.1.2 fixes, which the examples predate.

use base64::Engine;
use kizuna_records::{Records, Retention};
use kizuna_store::Store;
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::Arc;

mod common;
use common::mtls::{Client, Cred, Raw, institution, issue, network, serve};

const AUTHOR: &str = "0110113719";
const ADDRESSEE: &str = "1310000011";
const OTHER: &str = "1310000029";
const MRN_SYSTEM: &str = "urn:oid:1.2.392.100495.20.3.51.10110113719";

fn example(name: &str) -> Option<String> {
    let dir = common::fixtures()?.join("jp/clins");
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    Some(
        text.replace("1319876543", AUTHOR)
            .replace("1318814790", AUTHOR)
            .replace("1311234567", ADDRESSEE)
            // JP Core 1.1.2 fixes this system; JP-CLINS 1.5.2's examples predate it (see
            // kizuna-profiles' jp_packages test).
            .replace(
                "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicalOrganizationID",
                "urn:oid:1.2.392.100495.20.3.23",
            ),
    )
}

async fn install_packages(records: &Records) {
    let dir = common::fixtures().unwrap().join("jp/packages");
    for name in ["jp-core.r4-1.1.2.tgz", "jp-clins.r4-1.5.2.tgz"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        kizuna_records::profiles::install(records.store(), bytes, 1)
            .await
            .expect("package installs");
    }
    records
        .profiles()
        .refresh(records.store())
        .await
        .expect("packages load");
}

async fn run(store: Store) {
    if common::fixtures().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let (mut ca, server) = network(&dir);
    let (author, _, _) = issue(&mut ca, institution(AUTHOR, "絆病院"));
    let (addressee, _, _) = issue(&mut ca, institution(ADDRESSEE, "絆クリニック"));
    let (other, _, _) = issue(&mut ca, institution(OTHER, "絆救命センター"));
    let (client, records) = serve(store, &dir, &server, tmp.path()).await;
    install_packages(&records).await;
    let c = move |who: &Cred, method: &'static str, path: String, body: Option<Vec<u8>>| {
        let client: Arc<Client> = client.clone();
        let who = who.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                client.raw(Some(&who), method, &path, &[], body.as_deref())
            })
            .await
            .unwrap()
        }
    };
    // The addressee subscribes to its inbox (rest-hook, with the index as payload); the third
    // institution subscribes to the addressee's inbox too, and must hear nothing.
    let (hook, mut heard) = receiver().await;
    let subscribe = |criteria: String, endpoint: String| {
        json!({"resourceType": "Subscription", "status": "requested", "reason": "referral inbox",
            "criteria": criteria,
            "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                "header": ["Authorization: Bearer inbox-secret"]}})
        .to_string()
        .into_bytes()
    };
    let inbox_criteria = format!("DocumentReference?_tag=urn:kizuna:addressee|{ADDRESSEE}");
    let r = c(
        &addressee,
        "POST",
        "/Subscription".into(),
        Some(subscribe(inbox_criteria.clone(), format!("{hook}/inbox"))),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let sub_id = r.json()["id"].as_str().unwrap().to_string();
    let r = c(
        &other,
        "POST",
        "/Subscription".into(),
        Some(subscribe(inbox_criteria, format!("{hook}/eavesdropper"))),
    )
    .await;
    assert_eq!(r.status, 201);

    let referral = example("Bundle-Bundle-CLINS-Referral-Example-01.json").unwrap();
    let submit = |who: &Cred, text: &str| {
        c(
            who,
            "POST",
            "/Bundle".into(),
            Some(text.as_bytes().to_vec()),
        )
    };

    // A patient the author has not registered is unknown.
    let r = submit(&author, &referral).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(paths(&r), vec!["Bundle.entry[1].resource.identifier"]);

    let r = c(
        &author,
        "POST",
        "/Patient".into(),
        Some(
            json!({"resourceType": "Patient", "identifier": [{"system": MRN_SYSTEM, "value": "000999739"}],
                "name": [{"family": "牧野", "given": ["爛漫"]}], "birthDate": "1930-06-28"})
            .to_string()
            .into_bytes(),
        ),
    )
    .await;
    assert_eq!(r.status, 201);
    let pid = r.json()["id"].as_str().unwrap().to_string();

    // Another institution cannot submit the author's letter.
    let r = submit(&other, &referral).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));

    // Broken rules and profiles: rejected whole, every problem listed.
    let mut broken: Value = serde_json::from_str(&referral).unwrap();
    broken["entry"][0]["resource"]["section"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["code"]["coding"][0]["code"] != "910");
    broken["entry"][1]["resource"]["gender"] = json!("femme");
    let r = submit(&author, &broken.to_string()).await;
    assert_eq!(r.status, 422);
    let p = paths(&r);
    assert!(
        p.contains(&"Bundle.entry[0].resource.section".to_string()),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| p.starts_with("Bundle.entry[1].resource.gender")),
        "{p:?}"
    );
    let (n, _) = search(&c, &author, "/DocumentReference").await;
    assert_eq!(n, 0, "nothing of a refused document is kept");

    // The letter is accepted and indexed.
    let r = submit(&author, &referral).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let docref = r.json();
    let doc_id = docref["id"].as_str().unwrap().to_string();
    assert_eq!(docref["status"], "current");
    assert_eq!(docref["subject"]["reference"], format!("Patient/{pid}"));
    assert_eq!(
        docref["masterIdentifier"]["value"],
        format!("{AUTHOR}^2024^0123-Referral-203949583949")
    );
    assert_eq!(docref["type"]["coding"][0]["code"], "57133-1");
    let attachment = &docref["content"][0]["attachment"];
    assert_eq!(
        attachment["size"].as_u64().unwrap() as usize,
        referral.len()
    );
    let sha1 = {
        use sha1_check::sha1_base64;
        sha1_base64(referral.as_bytes())
    };
    assert_eq!(attachment["hash"], sha1);

    // The addressee is told at once: the index, PUT to its endpoint.
    let (method, path, headers, body) = heard.recv().await.expect("a notification");
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("PUT", format!("/inbox/DocumentReference/{doc_id}").as_str())
    );
    assert!(headers.contains(&(
        "authorization".to_string(),
        "Bearer inbox-secret".to_string()
    )));
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["id"],
        doc_id
    );
    let r = c(&addressee, "GET", format!("/Subscription/{sub_id}"), None).await;
    assert_eq!(r.json()["status"], "active");

    // The author reads it back byte for byte, with its digest.
    let r = c(
        &author,
        "GET",
        format!("/DocumentReference/{doc_id}/$document"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, referral.as_bytes(), "byte for byte");
    let digest =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(referral.as_bytes()));
    assert_eq!(
        r.header("repr-digest"),
        Some(format!("sha-256=:{digest}:").as_str())
    );

    // Its entries are searchable and linked back.
    let (n, _) = search(
        &c,
        &author,
        &format!("/Condition?_tag=urn:kizuna:document|{doc_id}&subject=Patient/{pid}"),
    )
    .await;
    assert_eq!(n, 5, "the letter's five conditions");
    let (n, _) = search(&c, &author, &format!("/Composition?subject=Patient/{pid}")).await;
    assert_eq!(n, 1);
    let (n, b) = search(
        &c,
        &author,
        &format!("/AllergyIntolerance?patient=Patient/{pid}"),
    )
    .await;
    assert_eq!(n, 3, "{b}");

    // The addressee's inbox has it; it reads the letter and its page.
    let inbox = format!("/DocumentReference?_tag=urn:kizuna:addressee|{ADDRESSEE}&status=current");
    let (n, b) = search(&c, &addressee, &inbox).await;
    assert_eq!(n, 1, "{b}");
    assert_eq!(b["entry"][0]["resource"]["id"], doc_id);
    let r = c(
        &addressee,
        "GET",
        format!("/DocumentReference/{doc_id}/$document"),
        None,
    )
    .await;
    assert_eq!((r.status, r.body.as_slice()), (200, referral.as_bytes()));
    let r = c(
        &addressee,
        "GET",
        format!("/DocumentReference/{doc_id}/$render"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    let page = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        page.contains("診療情報提供書") && page.contains("牧野"),
        "the page"
    );
    // ... but not the rest of the patient's records (no consent).
    let (n, _) = search(
        &c,
        &addressee,
        &format!("/Condition?_tag=urn:kizuna:document|{doc_id}"),
    )
    .await;
    assert_eq!(n, 0);

    // A third institution sees none of it.
    let (n, _) = search(&c, &other, "/DocumentReference").await;
    assert_eq!(n, 0);
    let r = c(
        &other,
        "GET",
        format!("/DocumentReference/{doc_id}/$document"),
        None,
    )
    .await;
    assert!(r.status == 404 || r.status == 403, "{}", r.status);

    // The document never changes.
    let bin = attachment["url"].as_str().unwrap().to_string();
    let r = c(&author, "DELETE", format!("/{bin}"), None).await;
    assert_eq!(r.status, 405, "{}", String::from_utf8_lossy(&r.body));
    // Nor do its index and entries, but through a correction.
    let (_, b) = search(
        &c,
        &author,
        &format!("/Condition?_tag=urn:kizuna:document|{doc_id}&_count=1"),
    )
    .await;
    let mut cond = b["entry"][0]["resource"].clone();
    let cond_id = cond["id"].as_str().unwrap().to_string();
    cond["clinicalStatus"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]});
    let r = c(
        &author,
        "PUT",
        format!("/Condition/{cond_id}"),
        Some(cond.to_string().into_bytes()),
    )
    .await;
    assert_eq!(r.status, 405, "{}", String::from_utf8_lossy(&r.body));
    let r = c(
        &author,
        "DELETE",
        format!("/DocumentReference/{doc_id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 405);

    // The network's tags cannot be forged: a plain write addressed to someone else is not.
    let forged = json!({"resourceType": "DocumentReference", "status": "current",
        "meta": {"tag": [{"system": "urn:kizuna:addressee", "code": ADDRESSEE},
                         {"system": "urn:kizuna:document", "code": "forged"}]},
        "content": [{"attachment": {"contentType": "text/plain", "data": "aGk="}}]});
    let r = c(
        &other,
        "POST",
        "/DocumentReference".into(),
        Some(forged.to_string().into_bytes()),
    )
    .await;
    assert_eq!(r.status, 201);
    let tags = r.json()["meta"]["tag"].clone();
    assert_eq!(
        tags.as_array().unwrap().len(),
        1,
        "only the custodian tag: {tags}"
    );
    let (n, _) = search(
        &c,
        &addressee,
        &format!("/DocumentReference?_tag=urn:kizuna:addressee|{ADDRESSEE}"),
    )
    .await;
    assert_eq!(n, 1, "the forged one is not in the inbox");

    // A discharge summary goes only with a letter.
    let mut summary: Value = serde_json::from_str(&referral).unwrap();
    summary["entry"][0]["resource"]["type"]["coding"][0]["code"] = json!("18842-5");
    summary["entry"][0]["resource"]["title"] = json!("退院時サマリー");
    summary["identifier"]["value"] = json!(format!("{AUTHOR}^2024^summary-1"));
    // The fixtures hold no discharge summary: this one, made from the letter, claims no
    // eReferral profile (whose type and title it no longer meets).
    summary["meta"].as_object_mut().unwrap().remove("profile");
    summary["entry"][0]["resource"]["meta"]
        .as_object_mut()
        .unwrap()
        .remove("profile");
    let r = submit(&author, &summary.to_string()).await;
    assert_eq!(r.status, 422);
    assert_eq!(paths(&r), vec!["Bundle.entry[0].resource.relatesTo"]);

    // A correction replaces the letter; the old one stays retrievable.
    let mut corrected: Value = serde_json::from_str(&referral).unwrap();
    let old_identifier = corrected["identifier"].clone();
    corrected["identifier"]["value"] = json!(format!("{AUTHOR}^2024^correction-1"));
    corrected["entry"][0]["resource"]["relatesTo"] =
        json!([{"code": "replaces", "targetIdentifier": old_identifier}]);
    corrected["entry"].as_array_mut().unwrap().remove(12); // one condition fewer
    for s in corrected["entry"][0]["resource"]["section"]
        .as_array_mut()
        .unwrap()
    {
        for sub in s
            .get_mut("section")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(e) = sub.get_mut("entry").and_then(Value::as_array_mut) {
                e.retain(|e| e["reference"] != "urn:uuid:a28198b9-6a23-4677-ba2e-5eb3e17d9792");
            }
        }
    }
    let corrected_text = corrected.to_string();
    let r = submit(&author, &corrected_text).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let new_id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["relatesTo"][0]["code"], "replaces");
    assert_eq!(
        r.json()["relatesTo"][0]["target"]["reference"],
        format!("DocumentReference/{doc_id}")
    );
    let r = c(&author, "GET", format!("/DocumentReference/{doc_id}"), None).await;
    assert_eq!(r.json()["status"], "superseded");
    let r = c(
        &author,
        "GET",
        format!("/DocumentReference/{doc_id}/$document"),
        None,
    )
    .await;
    assert_eq!(r.body, referral.as_bytes(), "the old letter, as it was");
    let (n, _) = search(
        &c,
        &author,
        &format!("/Condition?_tag=urn:kizuna:document|{doc_id}"),
    )
    .await;
    assert_eq!(n, 0, "the replaced letter's entries are no longer current");
    let (n, _) = search(&c, &author, &format!("/Condition?subject=Patient/{pid}")).await;
    assert_eq!(n, 4, "the corrected letter's");
    let (n, _) = search(&c, &addressee, &inbox).await;
    assert_eq!(n, 1, "the inbox holds the current version only");
    // Replacing the superseded version again is refused.
    let r = submit(
        &author,
        &corrected_text.replace("correction-1", "correction-2"),
    )
    .await;
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));

    // The discharge summary appended to the corrected letter reaches the same addressee.
    summary["entry"][0]["resource"]["relatesTo"] = json!([{"code": "appends",
        "targetReference": {"reference": format!("DocumentReference/{new_id}")}}]);
    let r = submit(&author, &summary.to_string()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (n, _) = search(&c, &addressee, &inbox).await;
    assert_eq!(n, 2, "letter and summary");

    // The six information (JP-CLINS collection): kept and searchable.
    let labs = example("Bundle-Bundle-CLINS-Observations-Example-01.json").unwrap();
    let r = submit(&author, &labs).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let lab_doc = r.json()["id"].as_str().unwrap().to_string();
    let (n, _) = search(
        &c,
        &author,
        &format!("/Observation?_tag=urn:kizuna:document|{lab_doc}"),
    )
    .await;
    assert_eq!(n, 4);
    let r = c(
        &author,
        "GET",
        format!("/DocumentReference/{lab_doc}/$render"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);

    // The inbox heard every letter addressed to it (the correction and the old one
    // superseded, the summary); the eavesdropper nothing.
    let mut later = Vec::new();
    while later.len() < 3 {
        let (_, path, _, body) = heard.recv().await.expect("a notification");
        assert!(path.starts_with("/inbox/"), "{path}");
        let b: Value = serde_json::from_slice(&body).unwrap();
        later.push((
            b["id"].as_str().unwrap().to_string(),
            b["status"].as_str().unwrap().to_string(),
        ));
    }
    assert!(
        later.contains(&(new_id.clone(), "current".to_string())),
        "{later:?}"
    );
    assert!(
        later.contains(&(doc_id.clone(), "superseded".to_string())),
        "{later:?}"
    );
    let everything = hook_log(&hook).await;
    assert!(
        everything.iter().all(|p| !p.starts_with("/eavesdropper")),
        "{everything:?}"
    );

    // Retention: every document has its term; the letters carry drug allergies tagged LTS and
    // are kept for ever, the lab results for five years; nothing goes before its term ends.
    let policy = Retention::default();
    let terms = records.document_terms(&policy).await.unwrap();
    assert_eq!(
        terms.len(),
        4,
        "letter, its correction, the summary, the lab results"
    );
    let now = jiff::Timestamp::now().as_microsecond();
    assert!(terms.iter().all(|t| !t.ended(now)));
    let labs_term = terms.iter().find(|t| t.document == lab_doc).unwrap();
    assert!(!labs_term.lts);
    assert_eq!(labs_term.parts.len(), 2 + 4, "index, bytes, four results");
    let refused = records
        .purge_document(&lab_doc, &policy, now)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 409);
    let six_years = now + 6 * 366 * 86_400 * 1_000_000;
    let refused = records
        .purge_document(&doc_id, &policy, six_years * 10)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 409, "LTS is kept for ever by default");
    let (_, removed) = records
        .purge_document(&lab_doc, &policy, six_years)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed, 6);
    let r = c(
        &author,
        "GET",
        format!("/DocumentReference/{lab_doc}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "gone without a trace, not deleted");
    let (n, _) = search(
        &c,
        &author,
        &format!("/Observation?_tag=urn:kizuna:document|{lab_doc}"),
    )
    .await;
    assert_eq!(n, 0);
    let (n, _) = search(&c, &author, &format!("/Observation?subject=Patient/{pid}")).await;
    assert_eq!(
        n, 2,
        "the physical findings of the corrected letter and of the summary"
    );
    let r = c(
        &author,
        "GET",
        format!("/DocumentReference/{new_id}/$document"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "the others stay");
    // With a term for LTS, the letters go too once it ends.
    let ten = Retention {
        years: 5,
        lts_years: Some(10),
    };
    let (term, _) = records
        .purge_document(&doc_id, &ten, six_years * 2)
        .await
        .unwrap()
        .unwrap();
    assert!(term.lts);
    assert!(
        records
            .purge_document(&doc_id, &ten, six_years * 2)
            .await
            .unwrap()
            .is_none()
    );

    // A correction sent to another institution takes the letter from the first addressee;
    // a condition not yet disclosed to the patient hides the whole letter from the patient.
    let mut readdressed: Value =
        serde_json::from_str(&corrected_text.replace(ADDRESSEE, OTHER)).unwrap();
    readdressed["identifier"]["value"] = json!(format!("{AUTHOR}^2024^correction-3"));
    // Named by its stored Composition, as R4 has relatesTo name documents.
    let r = c(&author, "GET", format!("/DocumentReference/{new_id}"), None).await;
    let composition = r.json()["context"]["related"][0]["reference"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(composition.starts_with("Composition/"), "{composition}");
    readdressed["entry"][0]["resource"]["relatesTo"] = json!([{"code": "replaces",
        "targetReference": {"reference": composition}}]);
    readdressed["entry"][9]["resource"]["meta"]["tag"] = json!([{
        "system": "http://jpfhir.jp/fhir/clins/CodeSystem/JP_ehrshrs_indication", "code": "UNINFORMED"}]);
    let r = submit(&author, &readdressed.to_string()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let tags = r.json()["meta"]["tag"].to_string();
    assert!(
        tags.contains("UNINFORMED") && tags.contains(OTHER),
        "{tags}"
    );
    let r = c(
        &addressee,
        "GET",
        format!("/DocumentReference/{new_id}/$document"),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "the first addressee no longer has it");
    let (n, _) = search(
        &c,
        &other,
        &format!("/DocumentReference?_tag=urn:kizuna:addressee|{OTHER}"),
    )
    .await;
    assert_eq!(n, 1);
}

type Heard = (String, String, Vec<(String, String)>, Vec<u8>);

/// A rest-hook endpoint on loopback: its base URL, and what it hears.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Heard>) {
    use axum::extract::Request;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Heard>();
    let log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let app = axum::Router::new()
        .route(
            "/log",
            axum::routing::get({
                let log = log.clone();
                move || {
                    let log = log.clone();
                    async move { serde_json::to_string(&*log.lock().unwrap()).unwrap() }
                }
            }),
        )
        .fallback(move |req: Request| {
            let tx = tx.clone();
            let log = log.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let body = axum::body::to_bytes(req.into_body(), usize::MAX)
                    .await
                    .unwrap();
                log.lock().unwrap().push(path.clone());
                let _ = tx.send((method, path, headers, body.to_vec()));
                "ok"
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

/// Every path the receiver at `hook` heard.
async fn hook_log(hook: &str) -> Vec<String> {
    let url = format!("{hook}/log");
    let text = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(["-s", &url])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The total of a search and its Bundle (0 when refused).
async fn search<F, Fut>(c: &F, who: &Cred, path: &str) -> (u64, Value)
where
    F: Fn(&Cred, &'static str, String, Option<Vec<u8>>) -> Fut,
    Fut: std::future::Future<Output = Raw>,
{
    let r = c(who, "GET", path.to_string(), None).await;
    let b = r.json();
    (b["total"].as_u64().unwrap_or(0), b)
}

fn paths(r: &Raw) -> Vec<String> {
    r.json()["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["severity"] == "error" || i["severity"] == "fatal")
        .filter_map(|i| i["expression"][0].as_str().map(String::from))
        .collect()
}

mod sha1_check {
    /// FHIR's `Attachment.hash`: the SHA-1 of the data, base64.
    pub fn sha1_base64(data: &[u8]) -> String {
        use base64::Engine;
        use sha1::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(data))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_flow_from_author_to_addressee_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run(Store::open(dir.path().to_str().unwrap()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_flow_from_author_to_addressee_on_postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    run(Store::open(&url).await.unwrap()).await;
}
