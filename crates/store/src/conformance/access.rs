//! What a caller may see ([`crate::Access`]): the same on every path a resource can be reached
//! by (search pages and counts, chains, `_has`, includes, reads, history).

use super::{filters, one, put};
use crate::index::stored_keys;
use crate::{Access, AccessKeys, HistoryQuery, HistoryScope, PatientScope, SearchSpec, Store};
use serde_json::{Value, json};
use std::sync::Arc;

const CUSTODIAN: &str = "urn:test:custodian";
const LABELS: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const INDICATION: &str = "http://jpfhir.jp/fhir/clins/CodeSystem/JP_ehrshrs_indication";

fn owned(mut body: Value, owner: &str) -> Value {
    body["meta"] = json!({"tag": [{"system": CUSTODIAN, "code": owner}]});
    body
}

fn observation(id: &str, patient: &str, owner: &str, code: &str) -> Value {
    owned(
        json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": "urn:test:code", "code": code}]},
            "subject": {"reference": format!("Patient/{patient}")}}),
        owner,
    )
}

fn keys() -> Arc<AccessKeys> {
    let types = ["Observation", "Patient", "Practitioner"];
    Arc::new(AccessKeys {
        compartment: ["subject", "patient", "performer"]
            .iter()
            .flat_map(|c| stored_keys("Observation", c, ""))
            .collect(),
        labels: types
            .iter()
            .flat_map(|t| [stored_keys(t, "_tag", ""), stored_keys(t, "_security", "")])
            .flatten()
            .collect(),
    })
}

/// Institution A: its own records, and patient ac1's records except what ac1 hides (the label
/// PSY and Observation/ac-hidden).
fn institution_a() -> Arc<Access> {
    Arc::new(Access {
        own: vec![(CUSTODIAN.into(), "A".into())],
        shared_types: Arc::from(vec!["Practitioner".to_string()]),
        patients: vec![PatientScope {
            ids: vec!["ac1".into()],
            hidden_labels: vec![(LABELS.into(), "PSY".into())],
            hidden: vec![("Observation".into(), "ac-hidden".into())],
        }],
        never: vec![],
        keys: keys(),
    })
}

/// A search of `rtype?query` as `access` sees it (with its total).
fn spec(rtype: &str, query: &str, access: Option<Arc<Access>>) -> SearchSpec {
    SearchSpec {
        types: vec![rtype.into()],
        filters: filters(rtype, query),
        sort: vec![],
        count: 100,
        cursor: None,
        backward: false,
        total: true,
        budget: std::time::Duration::from_secs(30),
        compartment: None,
        access,
    }
}

async fn ids(store: &Store, rtype: &str, query: &str, access: &Arc<Access>) -> (Vec<String>, u64) {
    let r = store
        .search(spec(rtype, query, Some(access.clone())))
        .await
        .unwrap();
    let mut ids: Vec<String> = r.hits.into_iter().map(|h| h.version.id).collect();
    ids.sort();
    (ids, r.total.unwrap_or(0))
}

pub(super) async fn access_is_enforced_on_every_path(store: &Store) {
    let mut psy = observation("ac-psy", "ac1", "B", "psy");
    psy["meta"]["security"] = json!([{"system": LABELS, "code": "PSY"}]);
    let mut uninformed = observation("ac-uninf", "ac1", "B", "dx");
    uninformed["meta"]["tag"]
        .as_array_mut()
        .unwrap()
        .push(json!({"system": INDICATION, "code": "UNINFORMED"}));
    let writes = vec![
        put(
            "Patient",
            "ac1",
            owned(
                json!({"resourceType": "Patient", "id": "ac1", "name": [{"family": "Granted"}]}),
                "B",
            ),
        ),
        put(
            "Patient",
            "ac2",
            owned(
                json!({"resourceType": "Patient", "id": "ac2", "name": [{"family": "Secret"}]}),
                "B",
            ),
        ),
        put(
            "Practitioner",
            "ac-dr",
            json!({"resourceType": "Practitioner", "id": "ac-dr"}),
        ),
        put(
            "Observation",
            "ac-ok",
            observation("ac-ok", "ac1", "B", "bp"),
        ),
        put("Observation", "ac-psy", psy),
        put("Observation", "ac-uninf", uninformed),
        put(
            "Observation",
            "ac-hidden",
            observation("ac-hidden", "ac1", "B", "bp"),
        ),
        put(
            "Observation",
            "ac-other",
            observation("ac-other", "ac2", "B", "bp"),
        ),
        // A's own record about a patient A may not see.
        put(
            "Observation",
            "ac-mine",
            observation("ac-mine", "ac2", "A", "bp"),
        ),
    ];
    for w in writes {
        store.commit(one(w)).await.unwrap();
    }
    let a = institution_a();
    let obs = "_id=ac-ok,ac-psy,ac-uninf,ac-hidden,ac-other,ac-mine";
    let visible = vec!["ac-mine", "ac-ok", "ac-uninf"];
    assert_eq!(
        ids(store, "Observation", obs, &a).await,
        (visible.iter().map(|s| s.to_string()).collect(), 3),
        "search and count"
    );
    assert_eq!(
        ids(store, "Patient", "_id=ac1,ac2", &a).await.0,
        vec!["ac1"]
    );
    assert_eq!(
        ids(store, "Practitioner", "_id=ac-dr", &a).await.0,
        vec!["ac-dr"]
    );
    // Chains do not test what an invisible target holds …
    assert!(
        ids(store, "Observation", "subject:Patient.family=Secret", &a)
            .await
            .0
            .is_empty(),
        "chain to a hidden patient"
    );
    assert_eq!(
        ids(store, "Observation", "subject:Patient.family=Granted", &a)
            .await
            .0,
        vec!["ac-ok", "ac-uninf"]
    );
    // … nor `_has` what an invisible referrer holds, as a set or as a test per target.
    for threshold in [1, 5_000] {
        crate::search::MANY_REFERRERS.store(threshold, std::sync::atomic::Ordering::Relaxed);
        assert!(
            ids(store, "Patient", "_has:Observation:subject:code=psy", &a)
                .await
                .0
                .is_empty(),
            "_has through a hidden record ({threshold})"
        );
        assert_eq!(
            ids(
                store,
                "Patient",
                "_has:Observation:subject:code=bp&_id=ac1,ac2",
                &a
            )
            .await
            .0,
            vec!["ac1"],
            "_has ({threshold})"
        );
    }
    crate::search::MANY_REFERRERS.store(5_000, std::sync::atomic::Ordering::Relaxed);
    // Includes: the hidden patient is not added, nor the hidden records of the granted one.
    let from = ids_keys(store, "Observation", "_id=ac-mine").await;
    let subject = stored_keys("Observation", "subject", "");
    let got = store
        .referenced(&from, &subject, None, 10, Some(&a))
        .await
        .unwrap();
    assert!(got.is_empty(), "_include of a hidden patient");
    let everything = store
        .referenced(&from, &subject, None, 10, None)
        .await
        .unwrap();
    assert_eq!(everything.len(), 1, "the node itself sees the patient");
    let mut referring: Vec<String> = store
        .referring(&[("Patient".into(), "ac1".into())], &subject, 10, Some(&a))
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.version.id)
        .collect();
    referring.sort();
    assert_eq!(referring, vec!["ac-ok", "ac-uninf"], "_revinclude");
    // Reads.
    for (id, expected) in [
        ("ac-ok", true),
        ("ac-mine", true),
        ("ac-psy", false),
        ("ac-hidden", false),
        ("ac-other", false),
        ("no-such", false),
    ] {
        assert_eq!(
            store.visible("Observation", id, &a).await.unwrap(),
            expected,
            "read {id}"
        );
    }
    // History shows versions of visible resources only.
    let history = store
        .history(HistoryQuery {
            scope: HistoryScope::Type {
                rtype: "Observation".into(),
            },
            since: None,
            at: None,
            count: 1000,
            before_seq: None,
            access: Some(a.clone()),
        })
        .await
        .unwrap();
    let mut seen: Vec<String> = history
        .versions
        .iter()
        .map(|v| v.id.clone())
        .filter(|id| id.starts_with("ac-"))
        .collect();
    seen.sort();
    assert_eq!(seen, visible, "type history");
    // Tags that are never shown (UNINFORMED, in the patient's own view).
    let patient_view = Arc::new(Access {
        own: vec![],
        shared_types: Arc::from(Vec::<String>::new()),
        patients: vec![PatientScope {
            ids: vec!["ac1".into()],
            ..Default::default()
        }],
        never: vec![(INDICATION.into(), "UNINFORMED".into())],
        keys: keys(),
    });
    assert_eq!(
        ids(store, "Observation", obs, &patient_view).await.0,
        vec!["ac-hidden", "ac-ok", "ac-psy"],
        "the patient sees what they hide from others, but not what they were not told"
    );
    // Nothing granted: nothing seen.
    let nobody = Arc::new(Access {
        keys: keys(),
        ..Default::default()
    });
    assert_eq!(ids(store, "Observation", obs, &nobody).await, (vec![], 0));
}

async fn ids_keys(store: &Store, rtype: &str, query: &str) -> Vec<i64> {
    store
        .search(spec(rtype, query, None))
        .await
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.res_key)
        .collect()
}
