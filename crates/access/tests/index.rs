//! The patient index: registration normalizes and finds the same person again; demographic
//! candidates are offered (same kana reading, birth date and sex), never linked on their own;
//! a confirmed link, a merge and an unmerge change who a grant covers, with history kept.

use kizuna_access::index::{self, Candidate, Registration};
use kizuna_records::Records;
use kizuna_store::Store;
use serde_json::{Value, json};

fn patient(kana: &str, birth: &str, insured: Option<&str>) -> Value {
    let mut p = json!({"resourceType": "Patient", "gender": "female", "birthDate": birth,
    "name": [
        {"family": "山田", "given": ["花子"]},
        {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}],
         "family": kana.split(' ').next().unwrap(), "given": [kana.split(' ').nth(1).unwrap()]}
    ]});
    if let Some(i) = insured {
        p["identifier"] = json!([{"system": kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, "value": i}]);
    }
    p
}

async fn create(records: &Records, body: Value) -> String {
    let rtype = body["resourceType"].as_str().unwrap().to_string();
    records
        .create(&rtype, body, None)
        .await
        .unwrap()
        .stored()
        .unwrap()
        .id
        .clone()
}

async fn scenario(store: Store) {
    let records = Records::new(store);
    let register = |insured: &str, card: &str| Registration {
        insured_member_id: Some(insured.into()),
        card_serials: vec![card.into()],
        ..Default::default()
    };
    // Full-width digits and the same id again: one person.
    let hanako = index::register(&records, &register("０６１３０１２３:ｱ:1:00", "CARDA"))
        .await
        .unwrap();
    let again = index::register(&records, &register("06130123:ｱ:1:00", "CARDB"))
        .await
        .unwrap();
    assert_eq!(hanako, again);
    let (_, person) = index::read_json(&records, "Person", &hanako)
        .await
        .unwrap()
        .unwrap();
    let cards: Vec<&str> = index::identifiers(&person, index::CARD_SYSTEM).collect();
    assert_eq!(cards, vec!["CARDA", "CARDB"]);

    // Hospital A knows her by insured id; clinic B registered her without it (old paper
    // record), with the kana reading in half-width.
    let at_a = create(
        &records,
        patient("ヤマダ ハナコ", "1980-02-03", Some("06130123:ア:1:00")),
    )
    .await;
    let at_b = create(&records, patient("ﾔﾏﾀﾞ ﾊﾅｺ", "1980-02-03", None)).await;
    let other = create(&records, patient("ヤマダ ハナコ", "1981-02-03", None)).await;
    assert_eq!(
        index::patients_of(&records, &person).await.unwrap(),
        vec![at_a.clone()],
        "linked by exact identifier only"
    );
    let offered = index::candidates(&records, &at_b).await.unwrap();
    assert_eq!(
        offered,
        vec![Candidate {
            person: hanako.clone(),
            via: at_a.clone()
        }]
    );
    assert!(
        index::candidates(&records, &other)
            .await
            .unwrap()
            .is_empty(),
        "another birth date"
    );
    // Confirmed by a person: linked.
    index::link(&records, &hanako, &at_b).await.unwrap();
    let (_, person) = index::read_json(&records, "Person", &hanako)
        .await
        .unwrap()
        .unwrap();
    let mut linked = index::patients_of(&records, &person).await.unwrap();
    linked.sort();
    let mut expected = vec![at_a.clone(), at_b.clone()];
    expected.sort();
    assert_eq!(linked, expected);
    assert!(
        index::candidates(&records, &at_b).await.unwrap().is_empty(),
        "already hers"
    );

    // Registered twice by mistake, then merged and unmerged.
    let twin = index::register(&records, &register("06130999:イ:2:00", "CARDC"))
        .await
        .unwrap();
    let at_c = create(
        &records,
        patient("ヤマダ ハナコ", "1980-02-03", Some("06130999:イ:2:00")),
    )
    .await;
    index::merge(&records, &hanako, &twin).await.unwrap();
    let (_, kept) = index::read_json(&records, "Person", &hanako)
        .await
        .unwrap()
        .unwrap();
    assert!(
        index::patients_of(&records, &kept)
            .await
            .unwrap()
            .contains(&at_c)
    );
    let found = index::person_by(&records, index::CARD_SYSTEM, "CARDC")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.0.id, hanako,
        "the twin's card now names the kept person"
    );
    assert_eq!(
        index::merge(&records, &hanako, &twin)
            .await
            .unwrap_err()
            .status,
        409
    );
    index::unmerge(&records, &hanako, &twin).await.unwrap();
    let (_, kept) = index::read_json(&records, "Person", &hanako)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !index::patients_of(&records, &kept)
            .await
            .unwrap()
            .contains(&at_c)
    );
    let found = index::person_by(&records, index::CARD_SYSTEM, "CARDC")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.0.id, twin);
    // Every step is a version of the Person.
    let v = records
        .store()
        .read("Person", &twin)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.version, 3);
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(Store::open(dir.path().to_str().unwrap()).await.unwrap()).await;
}

#[tokio::test]
async fn postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    scenario(Store::open(&url).await.unwrap()).await;
}
