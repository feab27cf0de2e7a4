//! Search over real HTTP on loopback, on both storage backends.

mod common;

use common::{Backend, TestServer};
use serde_json::{Value, json};

on_both_backends!(
    search_by_every_kind_of_criterion,
    paging_survives_concurrent_writes,
    includes_compartments_and_everything,
    result_parameters_and_errors,
    special_parameters,
);

/// Creates a resource and answers its id.
async fn create(s: &TestServer, body: Value) -> String {
    let rtype = body["resourceType"].as_str().unwrap().to_string();
    let r = s.send("POST", &format!("/{rtype}"), &body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_string()
}

/// The ids of the `match` entries of a search, in order.
async fn ids(s: &TestServer, path: &str) -> Vec<String> {
    let r = s.get(path).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    matches_of(&r.json())
}

fn matches_of(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().unwrap().to_string())
}

struct Data {
    yamada: String,
    tanaka: String,
    org: String,
    obs: Vec<String>,
}

async fn load(s: &TestServer) -> Data {
    let org = create(
        s,
        json!({"resourceType": "Organization", "name": "絆クリニック"}),
    )
    .await;
    let yamada = create(
        s,
        json!({"resourceType": "Patient", "name": [{"family": "ヤマダ", "given": ["タロウ"]}, {"family": "山田"}],
               "gender": "male", "birthDate": "1970-04-01",
               "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51", "value": "00012345"}],
               "managingOrganization": {"reference": format!("Organization/{org}")}}),
    )
    .await;
    let tanaka = create(
        s,
        json!({"resourceType": "Patient", "name": [{"family": "Tanaka"}], "gender": "female", "birthDate": "1985"}),
    )
    .await;
    let mut obs = Vec::new();
    for (i, (patient, code, value, date)) in [
        (&yamada, "8867-4", 72.0, "2024-05-01T09:00:00+09:00"),
        (&yamada, "8867-4", 88.0, "2024-05-03"),
        (&yamada, "29463-7", 61.5, "2024-04-20"),
        (&tanaka, "8867-4", 101.0, "2023-12-31T23:00:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("o{i}");
        let r = s
            .send(
                "PUT",
                &format!("/Observation/{id}"),
                &json!({"resourceType": "Observation", "id": id, "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                       "subject": {"reference": format!("Patient/{patient}")},
                       "effectiveDateTime": date,
                       "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "/min", "unit": "beats/minute"}}),
            )
            .await;
        assert_eq!(r.status, 201);
        obs.push(id);
    }
    Data {
        yamada,
        tanaka,
        org,
        obs,
    }
}

async fn search_by_every_kind_of_criterion(s: &TestServer) {
    let d = load(s).await;
    // Strings: kana, width and case folded; exact and contains.
    assert_eq!(ids(s, "/Patient?family=やまだ").await, [d.yamada.as_str()]);
    assert_eq!(
        ids(s, "/Patient?family=%EF%BE%94%EF%BE%8F").await,
        [d.yamada.as_str()]
    ); // ﾔﾏ
    assert_eq!(
        ids(s, "/Patient?family:exact=Tanaka").await,
        [d.tanaka.as_str()]
    );
    assert!(ids(s, "/Patient?family:exact=tanaka").await.is_empty());
    assert_eq!(
        ids(s, "/Patient?name:contains=nak").await,
        [d.tanaka.as_str()]
    );
    // Tokens, :not, :missing, OR and AND.
    assert_eq!(
        ids(
            s,
            "/Patient?identifier=urn:oid:1.2.392.100495.20.3.51|00012345"
        )
        .await,
        [d.yamada.as_str()]
    );
    assert_eq!(
        ids(s, "/Patient?gender:not=male").await,
        [d.tanaka.as_str()]
    );
    assert_eq!(
        ids(s, "/Patient?gender=male,female&birthdate=lt1980").await,
        [d.yamada.as_str()]
    );
    assert_eq!(
        ids(s, "/Patient?organization:missing=true").await,
        [d.tanaka.as_str()]
    );
    // Dates at their precision, with prefixes; the JST default of dates without a zone.
    assert_eq!(ids(s, "/Patient?birthdate=1985").await, [d.tanaka.as_str()]);
    assert_eq!(
        ids(s, "/Patient?birthdate=1970-04").await,
        [d.yamada.as_str()]
    );
    assert_eq!(ids(s, "/Observation?date=2024-05-01").await, ["o0"]);
    assert_eq!(
        ids(s, "/Observation?date=2024-01-01").await,
        ["o3"],
        "23:00Z is the 1st in JST"
    );
    assert_eq!(
        ids(s, "/Observation?date=ge2024-05&date=lt2024-06").await,
        ["o0", "o1"]
    );
    // Quantities and numbers with precision; composite.
    assert_eq!(ids(s, "/Observation?value-quantity=72").await, ["o0"]);
    assert_eq!(
        ids(s, "/Observation?value-quantity=gt80||/min").await,
        ["o1", "o3"]
    );
    assert_eq!(ids(s, "/Observation?value-quantity=ap100").await, ["o3"]);
    // UCUM units compare across units of one dimension: 72 /min is 1.2 Hz.
    assert_eq!(
        ids(
            s,
            "/Observation?value-quantity=1.2|http://unitsofmeasure.org|Hz"
        )
        .await,
        ["o0"]
    );
    assert_eq!(
        ids(
            s,
            "/Observation?value-quantity=gt1.4|http://unitsofmeasure.org|Hz"
        )
        .await,
        ["o1", "o3"]
    );
    assert!(
        ids(
            s,
            "/Observation?value-quantity=72|http://unitsofmeasure.org|kg"
        )
        .await
        .is_empty(),
        "another dimension"
    );
    assert_eq!(
        ids(
            s,
            "/Observation?code-value-quantity=http://loinc.org|8867-4$gt80"
        )
        .await,
        ["o1", "o3"]
    );
    // References, chains (several forms), reverse chains.
    assert_eq!(
        ids(s, &format!("/Observation?subject=Patient/{}", d.tanaka)).await,
        ["o3"]
    );
    assert_eq!(
        ids(s, &format!("/Observation?patient={}", d.tanaka)).await,
        ["o3"]
    );
    assert_eq!(
        ids(s, "/Observation?subject:Patient.family=山田&_sort=date").await,
        ["o2", "o0", "o1"]
    );
    assert_eq!(
        ids(s, "/Observation?subject:Patient.organization.name=絆")
            .await
            .len(),
        3
    );
    assert_eq!(
        ids(s, "/Patient?_has:Observation:subject:value-quantity=gt100").await,
        [d.tanaka.as_str()]
    );
    assert_eq!(
        ids(
            s,
            "/Organization?_has:Patient:organization:_has:Observation:subject:code=29463-7"
        )
        .await,
        [d.org.as_str()]
    );
    // _id, _lastUpdated.
    assert_eq!(ids(s, "/Observation?_id=o1,o2").await, ["o1", "o2"]);
    assert_eq!(ids(s, "/Observation?_lastUpdated=gt2000").await.len(), 4);
    // Sorting on several keys, descending.
    assert_eq!(
        ids(s, "/Observation?_sort=code,-value-quantity").await,
        ["o2", "o3", "o1", "o0"]
    );
    // Conditional operations use full criteria.
    let r = s
        .send(
            "PUT",
            "/Patient?family=Tanaka&birthdate=1985",
            &json!({"resourceType": "Patient", "name": [{"family": "Tanaka"}], "birthDate": "1985", "gender": "other"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["id"], d.tanaka.as_str());
    let _ = &d.obs;
}

async fn paging_survives_concurrent_writes(s: &TestServer) {
    for i in 0..7 {
        create(
            s,
            json!({"resourceType": "Patient", "name": [{"family": format!("Page{i}")}]}),
        )
        .await;
    }
    let first = s
        .get("/Patient?family=page&_count=3&_sort=family&_total=accurate")
        .await
        .json();
    assert_eq!(first["total"], 7);
    assert!(link(&first, "previous").is_none());
    let mut seen = matches_of(&first);
    // A resource written while the client pages (sorting before the cursor) shifts nothing.
    create(
        s,
        json!({"resourceType": "Patient", "name": [{"family": "Page0a"}]}),
    )
    .await;
    let mut next = link(&first, "next");
    let mut pages = vec![first];
    while let Some(url) = next {
        let page = s.get(&url).await.json();
        seen.extend(matches_of(&page));
        next = link(&page, "next");
        pages.push(page);
    }
    let families: Vec<String> = seen.clone();
    assert_eq!(
        families.len(),
        7,
        "no repeats, nothing skipped: {families:?}"
    );
    assert_eq!(pages.len(), 3);
    // The previous link of the last page gives the middle page again.
    let prev = link(&pages[2], "previous").unwrap();
    assert_eq!(
        matches_of(&s.get(&prev).await.json()),
        matches_of(&pages[1])
    );
    // A forged cursor is refused.
    assert_eq!(s.get("/Patient?_page=bm9wZQ").await.status, 400);
}

async fn includes_compartments_and_everything(s: &TestServer) {
    let d = load(s).await;
    let b = s
        .get(&format!("/Observation?patient={}&_include=Observation:subject&_include:iterate=Patient:organization", d.yamada))
        .await
        .json();
    let modes: Vec<(String, String)> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["search"]["mode"].as_str().unwrap().into(),
                e["resource"]["resourceType"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(modes.iter().filter(|(m, _)| m == "match").count(), 3);
    assert!(modes.contains(&("include".into(), "Patient".into())));
    assert!(
        modes.contains(&("include".into(), "Organization".into())),
        "{modes:?}"
    );
    let b = s
        .get(&format!(
            "/Patient?_id={}&_revinclude=Observation:subject",
            d.tanaka
        ))
        .await
        .json();
    assert_eq!(b["entry"].as_array().unwrap().len(), 2);
    // Wildcards: everything that refers to the page's resources, of one type or of any.
    for wildcard in ["*", "Observation:*"] {
        let b = s
            .get(&format!("/Patient?_id={}&_revinclude={wildcard}", d.yamada))
            .await
            .json();
        let included: Vec<&str> = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "include")
            .map(|e| e["resource"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(included.len(), 3, "{wildcard}: {included:?}");
    }
    let b = s
        .get(&format!("/Organization?_id={}&_revinclude=*", d.org))
        .await
        .json();
    assert_eq!(
        b["entry"].as_array().unwrap().len(),
        2,
        "the organization and the patient managed by it"
    );
    // Compartment search and $everything.
    assert_eq!(
        ids(s, &format!("/Patient/{}/Observation?_sort=-date", d.yamada)).await,
        ["o1", "o0", "o2"]
    );
    let all = s
        .get(&format!("/Patient/{}/$everything", d.yamada))
        .await
        .json();
    let types: Vec<&str> = all["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types.iter().filter(|t| **t == "Observation").count(), 3);
    assert!(types.contains(&"Patient") && types.contains(&"Organization"));
    let only = s
        .get(&format!(
            "/Patient/{}/$everything?_type=Observation&_count=2",
            d.yamada
        ))
        .await
        .json();
    assert_eq!(matches_of(&only).len(), 2);
    let next = link(&only, "next").unwrap();
    assert!(next.contains("_type=Observation"), "{next}");
    let rest = s.get(&next).await.json();
    assert_eq!(
        matches_of(&rest).len(),
        1,
        "the last Observation, nothing of other types"
    );
    assert_eq!(s.get("/Patient/nobody/$everything").await.status, 404);
    // System-level search, and search by POST.
    let sys = s.get("/?_type=Patient,Organization&_total=accurate").await;
    assert_eq!(sys.status, 200, "{}", String::from_utf8_lossy(&sys.body));
    let sys = sys.json();
    assert_eq!(sys["total"], 3);
    let r = s
        .request(
            "POST",
            "/Patient/_search",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("family=%E5%B1%B1%E7%94%B0".into()),
        )
        .await;
    assert_eq!(matches_of(&r.json()), [d.yamada.as_str()]);
}

async fn result_parameters_and_errors(s: &TestServer) {
    load(s).await;
    let count = s.get("/Observation?_summary=count").await.json();
    assert_eq!(count["total"], 4);
    assert!(count.get("entry").is_none() || count["entry"].as_array().unwrap().is_empty());
    let e = s.get("/Observation?_elements=status&_count=1").await.json();
    let res = &e["entry"][0]["resource"];
    assert!(res.get("valueQuantity").is_none() && res["status"] == "final");
    assert_eq!(res["meta"]["tag"][0]["code"], "SUBSETTED");
    // Unknown parameters: a warning by default, an error when strict.
    let lenient = s.get("/Patient?nonsense=1").await.json();
    let outcome = lenient["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("a warning entry");
    assert_eq!(outcome["resource"]["issue"][0]["severity"], "warning");
    let strict = s
        .request(
            "GET",
            "/Patient?nonsense=1",
            &[("prefer", "handling=strict")],
            None,
        )
        .await;
    assert_eq!(strict.status, 400);
    assert_eq!(strict.json()["resourceType"], "OperationOutcome");
    // Bad values name the parameter.
    let bad = s.get("/Patient?birthdate=yesterday").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.issue_paths().iter().any(|p| p == "birthdate"),
        "{:?}",
        bad.issue_paths()
    );
    // What is not implemented says so, never silently matches everything.
    let query = s
        .request(
            "GET",
            "/Observation?_query=mine",
            &[("prefer", "handling=strict")],
            None,
        )
        .await;
    assert_eq!(query.status, 400);
    // A search too wide for one statement is refused with a reason, not a 500.
    let tags: Vec<String> = (0..300).map(|i| format!("t{i}")).collect();
    let wide = s.get(&format!("/?_tag={}", tags.join(","))).await;
    assert_eq!(wide.status, 400, "{}", String::from_utf8_lossy(&wide.body));
    assert_eq!(wide.json()["resourceType"], "OperationOutcome");
    let _ = Value::Null;
}

/// `_text`, `_content`, `_list` (ids and functional lists), `near`, and number parameters on a
/// `Range`.
async fn special_parameters(s: &TestServer) {
    let d = load(s).await;
    // Full text: the narrative (_text) or every value (_content); words and phrases, all
    // required; Japanese as substrings; commas for OR.
    let narrative = |text: &str| {
        json!({"status": "generated",
               "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{text}</p></div>")})
    };
    let pneumonia = create(
        s,
        json!({"resourceType": "Condition", "text": narrative("市中<b>肺炎</b>で入院 (community-acquired)"),
               "code": {"text": "Pneumonia"},
               "subject": {"reference": format!("Patient/{}", d.yamada)}}),
    )
    .await;
    let asthma = create(
        s,
        json!({"resourceType": "Condition", "text": narrative("小児喘息"),
               "code": {"text": "Asthma, ＣＨＩＬＤＨＯＯＤ"},
               "subject": {"reference": format!("Patient/{}", d.tanaka)}}),
    )
    .await;
    assert_eq!(ids(s, "/Condition?_text=肺炎").await, [pneumonia.as_str()]);
    assert!(
        ids(s, "/Condition?_text=pneumonia").await.is_empty(),
        "not in the narrative"
    );
    assert_eq!(
        ids(s, "/Condition?_content=pneumonia").await,
        [pneumonia.as_str()]
    );
    assert_eq!(
        ids(s, "/Condition?_content=childhood%20asthma").await,
        [asthma.as_str()]
    );
    assert_eq!(
        ids(
            s,
            "/Condition?_text=%22community-acquired%22,喘息&_sort=_id"
        )
        .await
        .len(),
        2
    );
    assert!(
        ids(s, "/Condition?_content=%22asthma%20childhood%22")
            .await
            .is_empty()
    );
    let empty = s.get("/Condition?_content=%20").await;
    assert_eq!(empty.status, 400);
    // An update replaces the text; a deletion removes it.
    let r = s
        .send(
            "PUT",
            &format!("/Condition/{asthma}"),
            &json!({"resourceType": "Condition", "id": asthma, "code": {"text": "Hay fever"},
                   "subject": {"reference": format!("Patient/{}", d.tanaka)}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(ids(s, "/Condition?_content=asthma").await.is_empty());
    assert_eq!(ids(s, "/Condition?_content=hay").await, [asthma.as_str()]);
    // _list: the items of lists by id, and functional lists.
    create(
        s,
        json!({"resourceType": "List", "id": "x", "status": "current", "mode": "working",
               "entry": [{"item": {"reference": format!("Patient/{}", d.tanaka)}},
                         {"item": {"reference": "Observation/o1"}}]}),
    )
    .await;
    let list = s.get("/List?_sort=_lastUpdated").await.json()["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ids(s, &format!("/Patient?_list={list}")).await,
        [d.tanaka.as_str()]
    );
    assert_eq!(ids(s, &format!("/Observation?_list={list}")).await, ["o1"]);
    let clinical = |code: &str| json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": code}]});
    let mut allergies = Vec::new();
    for (status, category) in [
        ("active", "medication"),
        ("active", "food"),
        ("inactive", "medication"),
    ] {
        allergies.push(
            create(
                s,
                json!({"resourceType": "AllergyIntolerance", "clinicalStatus": clinical(status),
                       "category": [category], "patient": {"reference": format!("Patient/{}", d.yamada)}}),
            )
            .await,
        );
    }
    let mut current = ids(s, "/AllergyIntolerance?_list=$current-allergies").await;
    current.sort();
    let mut expected = allergies[..2].to_vec();
    expected.sort();
    assert_eq!(current, expected);
    assert_eq!(
        ids(
            s,
            &format!(
                "/AllergyIntolerance?_list=$current-drug-allergies&patient={}",
                d.yamada
            )
        )
        .await,
        [allergies[0].as_str()]
    );
    assert_eq!(
        s.get("/Observation?_list=$current-allergies").await.status,
        400
    );
    // near: great-circle distance from a point, in any UCUM length.
    for (name, lat, lon) in [
        ("東京駅", 35.681236, 139.767125),
        ("新宿駅", 35.690921, 139.700258),
        ("大阪駅", 34.702485, 135.495951),
    ] {
        create(
            s,
            json!({"resourceType": "Location", "name": name,
                   "position": {"latitude": lat, "longitude": lon}}),
        )
        .await;
    }
    let names = |path: String| async move {
        let r = s.get(&path).await;
        assert_eq!(r.status, 200, "{path}");
        let mut names: Vec<String> = r.json()["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["resource"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names("/Location?near=35.6812|139.7671|1|km".into()).await,
        ["東京駅"]
    );
    // Shinjuku is about 6.1 km from Tokyo station.
    assert_eq!(
        names("/Location?near=35.6812|139.7671|5|km".into()).await,
        ["東京駅"]
    );
    assert_eq!(
        names("/Location?near=35.6812|139.7671|7000|m".into()).await,
        ["新宿駅", "東京駅"]
    );
    assert_eq!(
        names("/Location?near=35.6812|139.7671|300|[mi_i]".into()).await,
        ["大阪駅", "新宿駅", "東京駅"]
    );
    assert_eq!(s.get("/Location?near=95|0|1|km").await.status, 400);
    // A number parameter on a Range: RiskAssessment.probability.
    for (id, prediction) in [
        ("ra1", json!({"probabilityDecimal": 0.3})),
        (
            "ra2",
            json!({"probabilityRange": {"low": {"value": 0.2}, "high": {"value": 0.4}}}),
        ),
        ("ra3", json!({"probabilityRange": {"low": {"value": 0.6}}})),
    ] {
        let r = s
            .send(
                "PUT",
                &format!("/RiskAssessment/{id}"),
                &json!({"resourceType": "RiskAssessment", "id": id, "status": "final",
                       "subject": {"reference": format!("Patient/{}", d.yamada)},
                       "prediction": [prediction]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(
        ids(s, "/RiskAssessment?probability=gt0.35&_sort=_id").await,
        ["ra2", "ra3"]
    );
    assert_eq!(ids(s, "/RiskAssessment?probability=0.3").await, ["ra1"]);
    assert_eq!(
        ids(s, "/RiskAssessment?probability=le0.2&_sort=_id").await,
        ["ra2"]
    );
    assert_eq!(
        ids(s, "/RiskAssessment?_sort=-probability").await,
        ["ra3", "ra2", "ra1"]
    );
}
