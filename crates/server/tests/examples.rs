//! The official FHIR R4 examples through the API: every one accepted except
//! `bundle-questionnaire.json`, whose nested Questionnaire items lack the required `linkId`.

mod common;

use common::{Backend, TestServer, fixtures};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_examples_are_accepted_and_the_broken_one_is_rejected() {
    let Some(fx) = fixtures() else { return };
    let Some(s) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(fx.join("fhir-r4/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 72, "{} example files", files.len());
    let mut accepted = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let resource: Value = serde_json::from_str(&text).unwrap();
        let rtype = resource["resourceType"].as_str().unwrap().to_string();
        let headers = [("content-type", "application/fhir+json")];
        // The file's own text, so decimals arrive exactly as written.
        let r = match resource["id"].as_str() {
            Some(id) => {
                s.request(
                    "PUT",
                    &format!("/{rtype}/{id}"),
                    &headers,
                    Some(text.into_bytes()),
                )
                .await
            }
            None => {
                s.request(
                    "POST",
                    &format!("/{rtype}"),
                    &headers,
                    Some(text.into_bytes()),
                )
                .await
            }
        };
        if name == "bundle-questionnaire.json" {
            assert_eq!(r.status, 422, "{name} must be rejected");
            let paths = r.issue_paths();
            // The file is a Questionnaire (of the Bundle structure): 50 nested items lack linkId.
            assert_eq!(paths.len(), 50, "every missing linkId is named: {paths:?}");
            assert!(paths.iter().all(|p| p.starts_with("Questionnaire.item[0].item[") && p.ends_with(".linkId")), "{paths:?}");
            assert!(
                r.json()["issue"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|i| i["code"] == "required")
            );
        } else {
            assert!(
                r.status == 200 || r.status == 201,
                "{name}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            accepted += 1;
        }
    }
    assert_eq!(accepted, files.len() - 1);
    // Stored exactly: the decimal example reads back with its original digits (1.00, not 1).
    let dec = s.get("/Observation/decimal").await;
    assert_eq!(dec.status, 200);
    assert!(
        String::from_utf8_lossy(&dec.body).contains("\"value\":1.00"),
        "decimal digits kept"
    );
}
