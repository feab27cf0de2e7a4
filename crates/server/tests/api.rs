//! The FHIR REST API over real HTTP on loopback, on both storage backends.

mod common;

use base64::Engine as _;
use common::{Backend, TestServer};
use serde_json::{Value, json};

on_both_backends!(
    capability_statement,
    create_read_update_versions,
    create_on_update_and_id_rules,
    if_match_guards_updates,
    delete_leaves_a_versioned_tombstone,
    json_patch,
    conditional_create_update_delete,
    history_at_every_level_with_paging,
    transaction_is_atomic_and_rewrites_references,
    transaction_processing_order,
    batch_entries_are_independent,
    prefer_return,
    bad_input_gets_operation_outcomes,
    edge_cases_of_conditional_and_transactional_writes,
);

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": family}], "gender": "female", "birthDate": "1970-01-01"})
}

async fn capability_statement(s: &TestServer) {
    let r = s.get("/metadata").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/fhir+json")
    );
    let cs = r.json();
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    assert_eq!(cs["rest"][0]["resource"].as_array().unwrap().len(), 146);
    let interactions: Vec<&str> = cs["rest"][0]["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        interactions,
        vec!["transaction", "batch", "history-system", "search-system"]
    );
    let patient = &cs["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap()
        .clone();
    let names: Vec<&str> = patient["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in [
        "family",
        "birthdate",
        "identifier",
        "_id",
        "_lastUpdated",
        "_tag",
        "_text",
        "_content",
        "_list",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    assert!(
        !names.contains(&"_query"),
        "unsupported parameters are not claimed"
    );
    assert_eq!(patient["operation"][0]["name"], "everything");
    let ops: Vec<&str> = patient["operation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(
        ops.contains(&"phr-ingest") && ops.contains(&"phr-observations"),
        "{ops:?}"
    );
    // _pretty=true: the same JSON, indented for people.
    let pretty = s.get("/metadata?_pretty=true").await;
    assert!(String::from_utf8_lossy(&pretty.body).contains("\n  \"resourceType\""));
    assert_eq!(pretty.json(), cs);
}

async fn create_read_update_versions(s: &TestServer) {
    let mut body = patient("山田");
    body["id"] = json!("ignored-by-create");
    let r = s.send("POST", "/Patient", &body).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_ne!(id, "ignored-by-create", "the server assigns ids on create");
    assert_eq!(r.header("etag").as_deref(), Some("W/\"1\""));
    assert!(r.header("last-modified").unwrap().ends_with("GMT"));
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/Patient/{id}/_history/1", s.base)
    );
    assert_eq!(created["meta"]["versionId"], "1");
    assert_eq!(created["name"][0]["family"], "山田");

    let r = s.get(&format!("/Patient/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), created, "read returns what create returned");

    let mut changed = created.clone();
    changed["gender"] = json!("male");
    let r = s.send("PUT", &format!("/Patient/{id}"), &changed).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag").as_deref(), Some("W/\"2\""));
    assert_eq!(r.json()["meta"]["versionId"], "2");

    // The same content again makes no new version.
    let r = s.send("PUT", &format!("/Patient/{id}"), &changed).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag").as_deref(), Some("W/\"2\""));

    assert_eq!(
        s.get(&format!("/Patient/{id}/_history/1")).await.json()["gender"],
        "female"
    );
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history/2")).await.json()["gender"],
        "male"
    );
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history/3")).await.status,
        404
    );
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history/x")).await.status,
        404
    );
    assert_eq!(s.get("/Patient/does-not-exist").await.status, 404);
    assert_eq!(
        s.request("HEAD", &format!("/Patient/{id}"), &[], None)
            .await
            .status,
        200
    );
}

async fn create_on_update_and_id_rules(s: &TestServer) {
    let mut body = patient("佐藤");
    body["id"] = json!("jp-123");
    let r = s.send("PUT", "/Patient/jp-123", &body).await;
    assert_eq!(r.status, 201, "update creates with the client's id");
    assert_eq!(r.json()["id"], "jp-123");

    let r = s.send("PUT", "/Patient/other", &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.issue_paths(), vec!["Patient.id"]);

    let r = s.send("PUT", "/Patient/jp-124", &patient("no id")).await;
    assert_eq!(r.status, 400, "update needs the id in the body");
    assert_eq!(r.issue_paths(), vec!["Patient.id"]);

    let mut bad = patient("x");
    bad["id"] = json!("bad_id!");
    let r = s.send("PUT", "/Patient/bad_id!", &bad).await;
    assert_eq!(r.status, 400);
}

async fn if_match_guards_updates(s: &TestServer) {
    let created = s.send("POST", "/Patient", &patient("鈴木")).await.json();
    let id = created["id"].as_str().unwrap();
    let mut v2 = created.clone();
    v2["gender"] = json!("other");
    let r = s
        .send_with(
            "PUT",
            &format!("/Patient/{id}"),
            &[("if-match", "W/\"1\"")],
            &v2,
        )
        .await;
    assert_eq!(r.status, 200);
    let mut v3 = created.clone();
    v3["gender"] = json!("unknown");
    let r = s
        .send_with(
            "PUT",
            &format!("/Patient/{id}"),
            &[("if-match", "W/\"1\"")],
            &v3,
        )
        .await;
    assert_eq!(r.status, 412, "a stale If-Match is refused");
    assert_eq!(r.json()["resourceType"], "OperationOutcome");
    assert_eq!(
        s.get(&format!("/Patient/{id}")).await.json()["gender"],
        "other",
        "nothing changed"
    );
    let r = s
        .send_with(
            "PUT",
            &format!("/Patient/{id}"),
            &[("if-match", "nonsense")],
            &v3,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .request(
            "DELETE",
            &format!("/Patient/{id}"),
            &[("if-match", "W/\"1\"")],
            None,
        )
        .await;
    assert_eq!(r.status, 412);
}

async fn delete_leaves_a_versioned_tombstone(s: &TestServer) {
    let id = s.send("POST", "/Patient", &patient("高橋")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .request("DELETE", &format!("/Patient/{id}"), &[], None)
        .await;
    assert!(r.status == 200 || r.status == 204);
    let r = s.get(&format!("/Patient/{id}")).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.header("etag").as_deref(), Some("W/\"2\""));
    assert_eq!(r.json()["issue"][0]["code"], "deleted");
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history/2")).await.status,
        410
    );
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history/1")).await.status,
        200,
        "older versions stay readable"
    );
    let h = s.get(&format!("/Patient/{id}/_history")).await.json();
    assert_eq!(h["entry"][0]["request"]["method"], "DELETE");
    assert!(h["entry"][0].get("resource").is_none());
    // Deleting again or deleting nothing is fine and changes nothing.
    assert!(
        s.request("DELETE", &format!("/Patient/{id}"), &[], None)
            .await
            .status
            < 300
    );
    assert!(
        s.request("DELETE", "/Patient/never-was", &[], None)
            .await
            .status
            < 300
    );
    assert_eq!(
        s.get(&format!("/Patient/{id}/_history")).await.json()["entry"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn json_patch(s: &TestServer) {
    let id = s.send("POST", "/Patient", &patient("伊藤")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = json!([
        {"op": "test", "path": "/gender", "value": "female"},
        {"op": "replace", "path": "/birthDate", "value": "1980-02-03"},
        {"op": "add", "path": "/active", "value": true}
    ]);
    let ct = [("content-type", "application/json-patch+json")];
    let r = s
        .request(
            "PATCH",
            &format!("/Patient/{id}"),
            &ct,
            Some(serde_json::to_vec(&patch).unwrap()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["birthDate"], "1980-02-03");
    assert_eq!(r.json()["meta"]["versionId"], "2");

    let failing = json!([{"op": "test", "path": "/gender", "value": "male"}]);
    let r = s
        .request(
            "PATCH",
            &format!("/Patient/{id}"),
            &ct,
            Some(serde_json::to_vec(&failing).unwrap()),
        )
        .await;
    assert_eq!(r.status, 422, "a failing test op is refused");

    let id_change = json!([{"op": "replace", "path": "/id", "value": "other"}]);
    let r = s
        .request(
            "PATCH",
            &format!("/Patient/{id}"),
            &ct,
            Some(serde_json::to_vec(&id_change).unwrap()),
        )
        .await;
    assert_eq!(r.status, 400, "a patch may not change the id");

    let r = s.send("PATCH", &format!("/Patient/{id}"), &patch).await;
    assert_eq!(r.status, 415, "PATCH takes application/json-patch+json");

    let stale = [
        ("content-type", "application/json-patch+json"),
        ("if-match", "W/\"1\""),
    ];
    let r = s
        .request(
            "PATCH",
            &format!("/Patient/{id}"),
            &stale,
            Some(serde_json::to_vec(&patch).unwrap()),
        )
        .await;
    assert_eq!(r.status, 412);
    let r = s
        .request(
            "PATCH",
            "/Patient/nobody",
            &ct,
            Some(serde_json::to_vec(&patch).unwrap()),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        s.get(&format!("/Patient/{id}")).await.json()["meta"]["versionId"],
        "2"
    );
}

async fn conditional_create_update_delete(s: &TestServer) {
    let mut p = patient("渡辺");
    p["identifier"] =
        json!([{"system": "urn:oid:1.2.392.100495.20.3.51.11312345670", "value": "00042"}]);
    let ine = [(
        "if-none-exist",
        "identifier=urn:oid:1.2.392.100495.20.3.51.11312345670|00042",
    )];
    let first = s.send_with("POST", "/Patient", &ine, &p).await;
    assert_eq!(first.status, 201);
    let second = s.send_with("POST", "/Patient", &ine, &p).await;
    assert_eq!(second.status, 200, "If-None-Exist finds the existing one");
    assert_eq!(first.json()["id"], second.json()["id"]);

    // Conditional update: one match is updated, keeping its id.
    let mut changed = p.clone();
    changed["gender"] = json!("male");
    let q = "/Patient?identifier=urn%3Aoid%3A1.2.392.100495.20.3.51.11312345670%7C00042";
    let r = s.send("PUT", q, &changed).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["id"], first.json()["id"]);
    assert_eq!(r.json()["gender"], "male");
    // No match: created.
    let mut other = patient("新規");
    other["identifier"] = json!([{"system": "urn:test", "value": "new-1"}]);
    let r = s
        .send("PUT", "/Patient?identifier=urn:test|new-1", &other)
        .await;
    assert_eq!(r.status, 201);
    // Two matches: 412.
    let mut dup = patient("dup");
    dup["identifier"] = json!([{"system": "urn:test", "value": "dup"}]);
    s.send("POST", "/Patient", &dup).await;
    s.send("POST", "/Patient", &dup).await;
    assert_eq!(
        s.send("PUT", "/Patient?identifier=urn:test|dup", &dup)
            .await
            .status,
        412
    );
    assert_eq!(
        s.request("DELETE", "/Patient?identifier=urn:test|dup", &[], None)
            .await
            .status,
        412
    );
    // Search by identifier finds both.
    let found = s.get("/Patient?identifier=urn:test|dup").await.json();
    assert_eq!(found["type"], "searchset");
    assert_eq!(found["total"], 2);

    let r = s
        .request("DELETE", "/Patient?identifier=urn:test|new-1", &[], None)
        .await;
    assert!(r.status < 300);
    assert_eq!(
        s.get("/Patient?identifier=urn:test|new-1").await.json()["total"],
        0
    );
    // Criteria that cannot be honoured are refused, not ignored.
    assert_eq!(
        s.send_with("POST", "/Patient", &[("if-none-exist", "nonsense=x")], &p)
            .await
            .status,
        400
    );
}

async fn history_at_every_level_with_paging(s: &TestServer) {
    let before = s.get("/_history?_count=1").await.json();
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut p = patient(&format!("歴史{i}"));
        let r = s.send("POST", "/Patient", &p).await.json();
        p = r.clone();
        p["active"] = json!(true);
        s.send(
            "PUT",
            &format!("/Patient/{}", r["id"].as_str().unwrap()),
            &p,
        )
        .await;
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "weight"}});
    s.send("POST", "/Observation", &obs).await;

    let inst = s.get(&format!("/Patient/{}/_history", ids[0])).await.json();
    assert_eq!(inst["type"], "history");
    let versions: Vec<&str> = inst["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["2", "1"], "newest first");
    assert_eq!(inst["entry"][1]["request"]["method"], "POST");
    assert_eq!(inst["entry"][0]["request"]["method"], "PUT");
    assert_eq!(inst["entry"][0]["response"]["etag"], "W/\"2\"");

    // Type history, 3 per page, following next links to the end.
    let mut url = "/Patient/_history?_count=3".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = s.get(&url).await.json();
        pages += 1;
        for e in page["entry"].as_array().unwrap() {
            assert_eq!(e["resource"]["resourceType"], "Patient");
            seen.push((
                e["resource"]["id"].as_str().unwrap().to_string(),
                e["resource"]["meta"]["versionId"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ));
        }
        match page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
        {
            Some(next) => url = next["url"].as_str().unwrap().to_string(),
            None => break,
        }
        assert!(pages < 50);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no version repeated across pages");
    for id in &ids {
        assert!(
            seen.contains(&(id.clone(), "1".into())) && seen.contains(&(id.clone(), "2".into()))
        );
    }

    // System history includes the Observation; _since cuts older versions off.
    let sys = s.get("/_history?_count=1000").await.json();
    assert!(
        sys["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource"]["resourceType"] == "Observation")
    );
    let newest = sys["entry"][0]["response"]["lastModified"]
        .as_str()
        .unwrap()
        .to_string();
    let since = s
        .get(&format!("/_history?_since={}", urlencode(&newest)))
        .await
        .json();
    assert_eq!(
        since["entry"].as_array().unwrap().len(),
        1,
        "only the newest version is at or after its own time"
    );
    if let Some(prev) = before["entry"].as_array().and_then(|a| a.first()) {
        let _ = prev;
    }
    // _at: the version current at the time version 1 was written.
    let v1_time = inst["entry"][1]["response"]["lastModified"]
        .as_str()
        .unwrap();
    let at = s
        .get(&format!(
            "/Patient/{}/_history?_at={}",
            ids[0],
            urlencode(v1_time)
        ))
        .await
        .json();
    let at_versions: Vec<&str> = at["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap())
        .collect();
    assert_eq!(at_versions, vec!["1"]);
    assert_eq!(
        s.get("/Patient/_history?_since=yesterday").await.status,
        400
    );
    assert_eq!(s.get("/Patient/_history?_count=many").await.status, 400);
    assert_eq!(s.get("/Patient/nobody/_history").await.status, 404);
    assert_eq!(s.get("/Nothing/_history").await.status, 404);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn transaction_is_atomic_and_rewrites_references(s: &TestServer) {
    let tx = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
             "resource": {"resourceType": "Patient", "name": [{"family": "中村"}],
                          "identifier": [{"system": "urn:tx", "value": "tx-1"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
             "resource": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                          "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
                          "valueQuantity": {"value": "DECIMAL", "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}},
             "request": {"method": "POST", "url": "Observation"}}
        ]
    });
    // json! would turn 60.50 into a float: put the exact decimal text in by hand.
    let text = serde_json::to_string(&tx)
        .unwrap()
        .replace("\"DECIMAL\"", "60.50");
    let r = s
        .request(
            "POST",
            "",
            &[("content-type", "application/fhir+json")],
            Some(text.into_bytes()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let resp = r.json();
    assert_eq!(resp["type"], "transaction-response");
    assert_eq!(resp["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(resp["entry"][1]["response"]["status"], "201 Created");
    let pid = resp["entry"][0]["resource"]["id"].as_str().unwrap();
    let obs = &resp["entry"][1]["resource"];
    assert_eq!(
        obs["subject"]["reference"],
        format!("Patient/{pid}"),
        "urn:uuid reference rewritten"
    );
    assert!(
        String::from_utf8_lossy(&r.body).contains("60.50"),
        "decimal kept exactly"
    );
    let stored = s
        .get(&format!("/Observation/{}", obs["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(stored["subject"]["reference"], format!("Patient/{pid}"));

    // A transaction with one bad entry stores nothing, and names the entry's path.
    let bad = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient", "identifier": [{"system": "urn:tx", "value": "tx-2"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient", "id": "tx-bad", "birthDate": "not-a-date"},
             "request": {"method": "PUT", "url": "Patient/tx-bad"}}
        ]
    });
    let r = s.send("POST", "", &bad).await;
    assert!(r.status == 400 || r.status == 422, "status {}", r.status);
    assert!(
        r.issue_paths()
            .iter()
            .any(|p| p.starts_with("Bundle.entry[1]")),
        "{:?}",
        r.issue_paths()
    );
    assert_eq!(
        s.get("/Patient?identifier=urn:tx|tx-2").await.json()["total"],
        0,
        "nothing of a failed transaction is stored"
    );
    assert_eq!(s.get("/Patient/tx-bad").await.status, 404);

    // The same resource changed twice in one transaction is refused.
    let twice = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "t2"}, "request": {"method": "PUT", "url": "Patient/t2"}},
        {"resource": {"resourceType": "Patient", "id": "t2"}, "request": {"method": "PUT", "url": "Patient/t2"}}
    ]});
    assert_eq!(s.send("POST", "", &twice).await.status, 400);
    assert_eq!(s.get("/Patient/t2").await.status, 404);

    // Conditional references resolve to the one match.
    let cond = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "subject": {"reference": "Patient?identifier=urn:tx|tx-1"}},
         "request": {"method": "POST", "url": "Observation"}}
    ]});
    let r = s.send("POST", "", &cond).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["entry"][0]["resource"]["subject"]["reference"],
        format!("Patient/{pid}")
    );
}

async fn transaction_processing_order(s: &TestServer) {
    let mut existing = patient("順序");
    existing["id"] = json!("order-1");
    s.send("PUT", "/Patient/order-1", &existing).await;
    // Listed GET, PUT, POST, DELETE: processed DELETE, POST, PUT, GET; answered in listed order.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient/order-2"}},
        {"resource": {"resourceType": "Patient", "id": "order-2", "active": true}, "request": {"method": "PUT", "url": "Patient/order-2"}},
        {"resource": {"resourceType": "Patient", "active": false}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "DELETE", "url": "Patient/order-1"}}
    ]});
    let r = s.send("POST", "", &tx).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let e = r.json()["entry"].clone();
    assert_eq!(
        e[0]["response"]["status"], "200 OK",
        "the GET ran after the PUT it reads"
    );
    assert_eq!(e[0]["resource"]["active"], true);
    assert_eq!(e[1]["response"]["status"], "201 Created");
    assert_eq!(e[2]["response"]["status"], "201 Created");
    assert!(
        e[3]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );
    assert_eq!(s.get("/Patient/order-1").await.status, 410);
}

async fn batch_entries_are_independent(s: &TestServer) {
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient("一括"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "gender": "F"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"request": {"method": "FETCH", "url": "Patient"}}
    ]});
    let r = s.send("POST", "", &batch).await;
    assert_eq!(r.status, 200);
    let e = r.json()["entry"].clone();
    assert_eq!(e.as_array().unwrap().len(), 4);
    assert_eq!(e[0]["response"]["status"], "201 Created");
    assert_eq!(
        e[1]["response"]["status"], "422 Unprocessable Entity",
        "{}",
        e[1]
    );
    assert_eq!(
        e[1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(e[2]["response"]["status"], "404 Not Found");
    assert_eq!(e[3]["response"]["status"], "400 Bad Request");
}

async fn prefer_return(s: &TestServer) {
    let r = s
        .send_with(
            "POST",
            "/Patient",
            &[("prefer", "return=minimal")],
            &patient("最小"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.body.is_empty());
    assert!(r.header("location").is_some() && r.header("etag").is_some());
    let r = s
        .send_with(
            "POST",
            "/Patient",
            &[("prefer", "return=OperationOutcome")],
            &patient("結果"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["resourceType"], "OperationOutcome");
    let r = s
        .send_with(
            "POST",
            "/Patient",
            &[("prefer", "return=representation")],
            &patient("表現"),
        )
        .await;
    assert_eq!(r.json()["resourceType"], "Patient");
}

async fn bad_input_gets_operation_outcomes(s: &TestServer) {
    let oo = |r: &common::Resp| {
        assert_eq!(
            r.json()["resourceType"],
            "OperationOutcome",
            "{}",
            String::from_utf8_lossy(&r.body)
        )
    };
    let r = s
        .request(
            "POST",
            "/Patient",
            &[("content-type", "application/fhir+json")],
            Some(b"{\"resourceType\": ".to_vec()),
        )
        .await;
    assert_eq!(r.status, 400);
    oo(&r);
    let r = s
        .request(
            "POST",
            "/Patient",
            &[("content-type", "text/plain")],
            Some(b"hello".to_vec()),
        )
        .await;
    assert_eq!(r.status, 415);
    oo(&r);
    let r = s
        .request("POST", "/Patient", &[], Some(b"{}".to_vec()))
        .await;
    assert_eq!(r.status, 415, "no content type");
    let r = s
        .send("POST", "/Spaceship", &json!({"resourceType": "Spaceship"}))
        .await;
    assert_eq!(r.status, 404);
    oo(&r);
    let r = s
        .send(
            "POST",
            "/Patient",
            &json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    oo(&r);
    let r = s.send("POST", "/Patient", &json!([1, 2])).await;
    assert_eq!(r.status, 400);
    let dup = br#"{"resourceType":"Patient","gender":"male","gender":"female"}"#.to_vec();
    let r = s
        .request(
            "POST",
            "/Patient",
            &[("content-type", "application/fhir+json")],
            Some(dup),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "a property given twice is refused, not silently overwritten"
    );
    assert!(String::from_utf8_lossy(&r.body).contains("$.gender appears twice"));
    let r = s
        .send(
            "POST",
            "/Patient",
            &json!({"resourceType": "Patient", "birthDate": "1974-13-01", "gender": "F"}),
        )
        .await;
    assert_eq!(r.status, 422);
    let mut paths = r.issue_paths();
    paths.sort();
    assert_eq!(
        paths,
        vec!["Patient.birthDate", "Patient.gender"],
        "every problem, each with its path"
    );
    let r = s
        .request(
            "POST",
            "/Patient/123",
            &[("content-type", "application/fhir+json")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(r.status, 405);
    oo(&r);
    assert!(r.header("allow").is_some());
    let r = s
        .request(
            "GET",
            "/metadata",
            &[("accept", "application/fhir+xml")],
            None,
        )
        .await;
    assert_eq!(r.status, 406);
    let r = s.get("/metadata?_format=xml").await;
    assert_eq!(r.status, 406);
    assert_eq!(
        s.get("/Spaceship").await.status,
        404,
        "unknown type, even without criteria"
    );
    let r = s.get("/nowhere/at/all/really").await;
    assert_eq!(r.status, 404);
    oo(&r);
    let r = s
        .send(
            "POST",
            "",
            &json!({"resourceType": "Bundle", "type": "collection"}),
        )
        .await;
    assert_eq!(r.status, 400);
    // After all that, the server still serves.
    assert_eq!(s.get("/metadata").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_is_enforced_with_an_outcome() {
    let Some(s) = TestServer::start_with(Backend::Sqlite, 1024).await else {
        return;
    };
    let mut big = patient("大");
    big["text"] = json!({"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", "あ".repeat(2000))});
    let r = s.send("POST", "/Patient", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["issue"][0]["code"], "too-long");
    assert_eq!(s.send("POST", "/Patient", &patient("小")).await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_entries_in_transactions() {
    let Some(s) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let mut p = patient("パッチ");
    p["id"] = json!("pp");
    s.send("PUT", "/Patient/pp", &p).await;
    let doc = serde_json::to_vec(&json!([{"op": "replace", "path": "/gender", "value": "male"}]))
        .unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(doc);
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
         "request": {"method": "PATCH", "url": "Patient/pp"}}
    ]});
    let r = s.send("POST", "", &tx).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.get("/Patient/pp").await.json()["gender"], "male");
}

async fn edge_cases_of_conditional_and_transactional_writes(s: &TestServer) {
    // A conditional PUT inside a transaction, its body without an id: the server picks it.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": "urn:e", "value": "c1"}]},
         "request": {"method": "PUT", "url": "Patient?identifier=urn:e|c1"}}
    ]});
    let r = s.send("POST", "", &tx).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["entry"][0]["response"]["status"], "201 Created");

    // A transaction whose GET would fail fails whole, before anything is written.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": "urn:e", "value": "c2"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/no-such-patient"}}
    ]});
    let r = s.send("POST", "", &tx).await;
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.issue_paths(), vec!["Bundle.entry[1]"]);
    assert_eq!(
        s.get("/Patient?identifier=urn:e|c2").await.json()["total"],
        0
    );

    // A conditional update that matches nothing does not overwrite another resource by id.
    let mut other = patient("別人");
    other["id"] = json!("someone-else");
    s.send("PUT", "/Patient/someone-else", &other).await;
    let mut body = patient("本人");
    body["id"] = json!("someone-else");
    body["identifier"] = json!([{"system": "urn:e", "value": "c3"}]);
    let r = s.send("PUT", "/Patient?identifier=urn:e|c3", &body).await;
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        s.get("/Patient/someone-else").await.json()["name"][0]["family"],
        "別人"
    );

    // _since with an offset whose '+' the client did not encode.
    let r = s
        .get("/Patient/_history?_since=2020-01-01T00:00:00+09:00")
        .await;
    assert_eq!(r.status, 200);

    // A patch may not build a resource nested deeper than can be read back.
    let id = s
        .send(
            "POST",
            "/Basic",
            &json!({"resourceType": "Basic", "code": {"text": "deep"}}),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut deep = json!({"url": "http://example.org/leaf", "valueString": "x"});
    for _ in 0..60 {
        deep = json!({"url": "http://example.org/n", "extension": [deep]});
    }
    let patch = json!([{"op": "add", "path": "/extension", "value": [deep]}]);
    let r = s
        .request(
            "PATCH",
            &format!("/Basic/{id}"),
            &[("content-type", "application/json-patch+json")],
            Some(serde_json::to_vec(&patch).unwrap()),
        )
        .await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        s.get(&format!("/Basic/{id}")).await.status,
        200,
        "the resource stays readable"
    );
}
