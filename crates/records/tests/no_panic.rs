//! Whatever JSON arrives, every interaction answers with a FHIR status below 500 and never
//! panics; the store stays usable.

use kizuna_records::{HistoryParams, Prefer, Records};
use kizuna_store::Store;
use proptest::prelude::*;
use serde_json::{Value, json};

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Patient"),
        Just("Observation"),
        Just("Bundle"),
        Just("transaction"),
        Just("batch"),
        Just("urn:uuid:1"),
        Just("POST"),
        Just("PUT"),
        Just("DELETE"),
        Just("PATCH"),
        Just("GET"),
        Just("Patient/1"),
        Just("Patient?identifier=a|b"),
    ]
    .prop_map(str::to_string)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("resourceType"),
        Just("id"),
        Just("entry"),
        Just("request"),
        Just("method"),
        Just("url"),
        Just("resource"),
        Just("type"),
        Just("fullUrl"),
        Just("meta"),
        Just("reference"),
        Just("op"),
        Just("path"),
        Just("value"),
    ]
    .prop_map(str::to_string)
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9 _:/|.#?=-]{0,12}".prop_map(Value::String),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop_oneof![key(), "[a-z]{1,6}"], inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn no_input_panics_or_fails_the_server(
        body in arb_json(),
        rtype in prop_oneof![Just("Patient"), Just("Observation"), Just("Bundle"), Just("Nope")],
        id in "[a-z0-9_-]{0,5}",
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let records = Records::new(Store::open(dir.path().to_str().unwrap()).await.unwrap());
            let base = "http://localhost/fhir";
            let outcomes = vec![
                records.create(rtype, body.clone(), None).await.map(|r| r.status),
                records.update(rtype, &id, body.clone(), None).await.map(|r| r.status),
                records.patch(rtype, &id, body.clone(), Some(1)).await.map(|r| r.status),
                records.bundle(body.clone(), base, Prefer::Representation).await.map(|r| r.status),
                records.conditional_update(rtype, "identifier=a|b", body.clone(), None).await.map(|r| r.status),
                records.history(Some(rtype), Some(&id), &HistoryParams::default(), base).await.map(|r| r.status),
            ];
            for o in outcomes {
                let status = match o { Ok(s) => s, Err(f) => f.status };
                prop_assert!(status < 500, "status {} for {}", status, body);
            }
            // Still serving.
            let ok = records.create("Basic", json!({"resourceType": "Basic", "code": {"text": "x"}}), None).await;
            prop_assert!(ok.is_ok());
            Ok(())
        })?;
    }
}
