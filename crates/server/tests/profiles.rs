//! Implementation guides over HTTP: writes meet the installed profiles they claim, and
//! `$validate` answers with every issue, on both backends, with the real JP Core and JP-CLINS
//! packages and examples.

mod common;

use common::{Backend, TestServer, fixtures};
use serde_json::{Value, json};

fn jp_packages() -> Option<Vec<Vec<u8>>> {
    let dir = fixtures()?.join("jp/packages");
    Some(vec![
        std::fs::read(dir.join("jp-core.r4-1.1.2.tgz")).unwrap(),
        std::fs::read(dir.join("jp-clins.r4-1.5.2.tgz")).unwrap(),
    ])
}

fn example(name: &str) -> Value {
    let dir = fixtures().unwrap().join("jp/clins");
    let mut v: Value = serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("id");
    v
}

async fn server(backend: Backend) -> Option<TestServer> {
    let packages = jp_packages()?;
    TestServer::start_with_packages(backend, packages).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_profiles_over_http() {
    if let Some(s) = server(Backend::Sqlite).await {
        writes_meet_their_profiles(&s).await;
        validate_operation(&s).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_profiles_over_http() {
    if let Some(s) = server(Backend::Postgres).await {
        writes_meet_their_profiles(&s).await;
        validate_operation(&s).await;
    }
}

async fn writes_meet_their_profiles(s: &TestServer) {
    // A valid JP-CLINS lab result is stored.
    let lab = example("Observation-Example-JP-Obs-LabResult-eCS-eGFR.json");
    let r = s.send("POST", "/Observation", &lab).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // The deliberately invalid prescription is refused with the profile's reason and its path.
    let bad = example("MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json");
    let r = s.send("POST", "/MedicationRequest", &bad).await;
    assert_eq!(r.status, 422);
    let oo = r.json();
    let issue = oo["issue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["severity"] == "error")
        .unwrap();
    assert_eq!(issue["code"], "invariant");
    assert_eq!(issue["expression"][0], "MedicationRequest");
    assert!(
        issue["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with("needs-anyOfStandardCode-medication")
    );
    // Inside a transaction, the same: the whole transaction is refused.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": lab, "request": {"method": "POST", "url": "Observation"}},
        {"resource": bad, "request": {"method": "POST", "url": "MedicationRequest"}}
    ]});
    let r = s.send("POST", "", &tx).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.issue_paths()
            .iter()
            .any(|p| p == "Bundle.entry[1].resource"),
        "{:?}",
        r.issue_paths()
    );
    // A document Bundle whose entries break their profiles is refused whole, every problem
    // listed.
    let mut doc: Value = serde_json::from_slice(
        &std::fs::read(
            fixtures()
                .unwrap()
                .join("jp/clins/Bundle-Bundle-CLINS-PCS-Example-01.json"),
        )
        .unwrap(),
    )
    .unwrap();
    doc.as_object_mut().unwrap().remove("id");
    doc["entry"][1]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("identifier");
    doc["entry"][0]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("date");
    let r = s.send("POST", "/Bundle", &doc).await;
    assert_eq!(r.status, 422);
    let paths = r.issue_paths();
    assert!(
        paths
            .iter()
            .any(|p| p == "Bundle.entry[1].resource.identifier"),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("Bundle.entry[0].resource")),
        "{paths:?}"
    );
}

async fn validate_operation(s: &TestServer) {
    let bad = example("MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json");
    let r = s.send("POST", "/MedicationRequest/$validate", &bad).await;
    assert_eq!(r.status, 200);
    let oo = r.json();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert!(oo["issue"].as_array().unwrap().iter().any(|i| {
        i["severity"] == "error"
            && i["diagnostics"]
                .as_str()
                .unwrap()
                .starts_with("needs-anyOfStandardCode-medication")
    }));
    // Nothing was stored.
    let r = s.get("/MedicationRequest?_summary=count").await;
    assert_eq!(r.json()["total"], 0);

    // Parameters with a profile: an Observation that claims nothing, checked against the lab
    // result profile, fails for what that profile requires.
    let mut plain = example("Observation-Example-JP-Obs-LabResult-eCS-eGFR.json");
    plain["meta"].as_object_mut().unwrap().remove("profile");
    plain.as_object_mut().unwrap().remove("specimen");
    let r = s.send("POST", "/Observation/$validate", &plain).await;
    assert!(!has_error(&r.json()), "{}", r.json());
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": plain},
        {"name": "profile", "valueUri": "http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Observation_LabResult_eCS"}
    ]});
    let r = s.send("POST", "/Observation/$validate", &params).await;
    assert_eq!(r.status, 200);
    let oo = r.json();
    assert!(
        oo["issue"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["severity"] == "error" && i["expression"][0] == "Observation.specimen"),
        "{oo}"
    );
    // The same profile by the query string.
    let r = s
        .send("POST", "/Observation/$validate?profile=http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Observation_LabResult_eCS", &plain)
        .await;
    assert!(has_error(&r.json()));
    // A profile no package defines.
    let r = s
        .send(
            "POST",
            "/Observation/$validate?profile=http://example.org/nope",
            &plain,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("not defined by any installed package")
    );
    // The wrong type.
    let r = s.send("POST", "/Patient/$validate", &plain).await;
    assert_eq!(r.status, 400);
    // A stored resource, by id.
    let lab = example("Observation-Example-JP-Obs-LabResult-eCS-K.json");
    let created = s.send("POST", "/Observation", &lab).await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_string();
    let r = s.get(&format!("/Observation/{id}/$validate")).await;
    assert_eq!(r.status, 200);
    assert!(!has_error(&r.json()), "{}", r.json());
    let r = s.get("/Observation/does-not-exist/$validate").await;
    assert_eq!(r.status, 404);
    // GET on the type level has nothing to validate.
    let r = s.get("/Observation/$validate").await;
    assert_eq!(r.status, 405);
}

fn has_error(oo: &Value) -> bool {
    oo["issue"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["severity"] == "error")
}
