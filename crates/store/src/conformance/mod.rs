//! The behaviour every backend must show. Each backend's integration test opens a fresh store
//! and calls [`run_all`]; a failure panics with the name of the check.

use crate::{
    Batch, Condition, HistoryQuery, HistoryScope, IndexRows, Method, OnFail, Store, StoreError,
    Write, WriteOutcome,
};
use serde_json::{Value, json};

mod access;
mod series;

/// A Put of `body`, with the index rows extraction gives it.
fn put(rtype: &str, id: &str, body: Value) -> Write {
    let hash = simple_hash(&body);
    let index = IndexRows::from_entries(rtype, &kizuna_search::extract::extract(&body));
    Write::Put {
        rtype: rtype.into(),
        id: id.into(),
        body,
        method: Method::Put,
        content_hash: hash,
        skip_if_unchanged: false,
        index,
    }
}

/// The filters of a query string on `rtype` (which must parse).
pub fn filters(rtype: &str, query: &str) -> Vec<kizuna_search::Filter> {
    match kizuna_search::parse_query_string(Some(rtype), query, kizuna_search::Handling::Strict) {
        Ok((q, _)) => q.filters,
        Err(issues) => panic!("{query}: {issues:?}"),
    }
}

/// A stand-in content hash for tests (the real one is computed by the records layer).
fn simple_hash(v: &Value) -> [u8; 32] {
    let text = serde_json::to_string(v).unwrap_or_default();
    let mut h = [0u8; 32];
    for (i, b) in text.bytes().enumerate() {
        h[i % 32] = h[i % 32].wrapping_mul(31).wrapping_add(b);
    }
    h
}

fn one(w: Write) -> Batch {
    Batch {
        conditions: vec![],
        writes: vec![w],
        ..Default::default()
    }
}

fn body_of(v: &crate::Version) -> Value {
    serde_json::from_str(v.body.as_deref().expect("live version has a body"))
        .expect("stored JSON parses")
}

/// Runs every check against a fresh, empty store.
pub async fn run_all(store: &Store) {
    // A store opened empty has nothing indexed in an older format.
    assert_eq!(
        store.index_format().await.unwrap(),
        crate::index::INDEX_FORMAT
    );
    versions_and_meta(store).await;
    unchanged_updates_make_no_version(store).await;
    delete_and_resurrect(store).await;
    conditions_make_batches_all_or_nothing(store).await;
    token_index_and_matches(store).await;
    same_resource_twice_in_one_batch(store).await;
    history_scopes_and_paging(store).await;
    concurrent_updates_lose_nothing(store).await;
    decimals_survive(store).await;
    audit_log_is_one_unbroken_chain(store).await;
    audit_entries_of_a_batch_hold_exactly_when_it_does(store).await;
    reindex_replaces_rows_of_unchanged_versions(store).await;
    access::access_is_enforced_on_every_path(store).await;
    packages_are_kept_whole(store).await;
    purged_resources_leave_nothing(store).await;
    series::series_keep_points_once_with_their_rollups(store).await;
}

/// A purge removes every version and index row of its targets, and nothing else.
async fn purged_resources_leave_nothing(store: &Store) {
    let body = |id: &str, family: &str| {
        json!({"resourceType": "Patient", "id": id, "name": [{"family": family}],
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">purgeword</div>"}})
    };
    for id in ["pg1", "pg2"] {
        store
            .commit(one(put("Patient", id, body(id, "Purgeme"))))
            .await
            .unwrap();
    }
    store
        .commit(one(put("Patient", "pg1", body("pg1", "Purgeme2"))))
        .await
        .unwrap();
    let history = |id: &str| HistoryQuery {
        access: None,
        scope: HistoryScope::Instance {
            rtype: "Patient".into(),
            id: id.into(),
        },
        since: None,
        at: None,
        count: 100,
        before_seq: None,
    };
    assert_eq!(
        store.history(history("pg1")).await.unwrap().versions.len(),
        2
    );
    let n = store
        .purge(vec![
            ("Patient".into(), "pg1".into()),
            ("Patient".into(), "never-was".into()),
        ])
        .await
        .unwrap();
    assert_eq!(n, 1, "one of the two existed");
    assert!(store.read("Patient", "pg1").await.unwrap().is_none());
    assert!(
        store
            .history(history("pg1"))
            .await
            .unwrap()
            .versions
            .is_empty()
    );
    assert_eq!(
        store
            .find("Patient", &filters("Patient", "family=Purgeme2"), 10)
            .await
            .unwrap(),
        Vec::<String>::new(),
        "no index row is left"
    );
    assert_eq!(
        store
            .find("Patient", &filters("Patient", "family=Purgeme"), 10)
            .await
            .unwrap(),
        vec!["pg2"],
        "the other is untouched"
    );
    assert_eq!(
        store
            .find("Patient", &filters("Patient", "_text=purgeword"), 10)
            .await
            .unwrap(),
        vec!["pg2"],
        "no text row is left"
    );
    assert_eq!(
        store.history(history("pg2")).await.unwrap().versions.len(),
        1
    );
}

/// Installed IG packages: kept byte for byte, one version per name, and every change is seen
/// by the stamp.
async fn packages_are_kept_whole(store: &Store) {
    use crate::StoredPackage;
    assert!(store.packages().await.unwrap().is_empty());
    let empty = store.packages_stamp().await.unwrap();
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let p = |name: &str, version: &str, installed: i64| StoredPackage {
        name: name.into(),
        version: version.into(),
        digest: format!("digest-of-{name}-{version}"),
        body: body.clone(),
        installed,
    };
    store
        .put_package(p("jp-core.r4", "1.1.2", 10))
        .await
        .unwrap();
    store
        .put_package(p("jp-clins.r4", "1.5.2", 20))
        .await
        .unwrap();
    let one = store.packages_stamp().await.unwrap();
    assert_ne!(one, empty);
    let listed = store.packages().await.unwrap();
    assert_eq!(
        listed,
        vec![p("jp-core.r4", "1.1.2", 10), p("jp-clins.r4", "1.5.2", 20)]
    );
    // Another version of the same package replaces it.
    store
        .put_package(p("jp-core.r4", "1.2.0", 30))
        .await
        .unwrap();
    let two = store.packages_stamp().await.unwrap();
    assert_ne!(two, one);
    let names: Vec<_> = store
        .packages()
        .await
        .unwrap()
        .into_iter()
        .map(|p| format!("{}#{}", p.name, p.version))
        .collect();
    assert_eq!(names, ["jp-clins.r4#1.5.2", "jp-core.r4#1.2.0"]);
    assert!(store.remove_package("jp-clins.r4").await.unwrap());
    assert!(!store.remove_package("jp-clins.r4").await.unwrap());
    assert_ne!(store.packages_stamp().await.unwrap(), two);
    assert!(store.remove_package("jp-core.r4").await.unwrap());
    assert_eq!(store.packages_stamp().await.unwrap(), empty);
}

async fn reindex_replaces_rows_of_unchanged_versions(store: &Store) {
    let body = |family: &str| json!({"resourceType": "Patient", "id": "ri1", "name": [{"family": family}]});
    store
        .commit(one(put("Patient", "ri1", body("Reindex"))))
        .await
        .unwrap();
    store
        .commit(one(put(
            "Patient",
            "ri2",
            json!({"resourceType": "Patient", "id": "ri2"}),
        )))
        .await
        .unwrap();
    let found = |family: &'static str| async move {
        store
            .find(
                "Patient",
                &filters("Patient", &format!("family={family}")),
                10,
            )
            .await
            .unwrap()
    };
    assert_eq!(found("Reindex").await, vec!["ri1"]);
    // Walk the live resources in key order, as `kizuna reindex` does.
    let mut live = Vec::new();
    let mut after = 0;
    loop {
        let page = store.live_after(after, 1).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.res_key;
        live.extend(page);
    }
    let mine: Vec<&crate::Live> = live
        .iter()
        .filter(|l| l.body.contains("\"ri1\"") || l.body.contains("\"ri2\""))
        .collect();
    assert_eq!(mine.len(), 2);
    let ri1 = mine.iter().find(|l| l.body.contains("\"ri1\"")).unwrap();
    // Rows computed from another body replace the stored ones.
    let other =
        IndexRows::from_entries("Patient", &kizuna_search::extract::extract(&body("Other")));
    let n = store
        .reindex(vec![crate::Reindexed {
            res_key: ri1.res_key,
            seq: ri1.seq,
            index: other,
        }])
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(found("Reindex").await.is_empty());
    assert_eq!(found("Other").await, vec!["ri1"]);
    // A version written since the rows were computed keeps its own rows.
    store
        .commit(one(put("Patient", "ri1", body("Newer"))))
        .await
        .unwrap();
    let stale =
        IndexRows::from_entries("Patient", &kizuna_search::extract::extract(&body("Stale")));
    let n = store
        .reindex(vec![crate::Reindexed {
            res_key: ri1.res_key,
            seq: ri1.seq,
            index: stale,
        }])
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(found("Newer").await, vec!["ri1"]);
    assert!(found("Stale").await.is_empty());
    // The recorded format is what reindex leaves behind.
    store.set_index_format(0).await.unwrap();
    assert_eq!(store.index_format().await.unwrap(), 0);
    store
        .set_index_format(crate::index::INDEX_FORMAT)
        .await
        .unwrap();
    assert_eq!(
        store.index_format().await.unwrap(),
        crate::index::INDEX_FORMAT
    );
}

async fn versions_and_meta(store: &Store) {
    let w = store
        .commit(one(put(
            "Patient",
            "p1",
            json!({"resourceType": "Patient", "id": "p1", "active": true}),
        )))
        .await
        .unwrap();
    assert_eq!(w[0].outcome, WriteOutcome::Created, "first put creates");
    let v1 = w[0].version.clone().unwrap();
    assert_eq!(v1.version, 1);
    let b = body_of(&v1);
    assert_eq!(b["meta"]["versionId"], "1");
    assert!(
        b["meta"]["lastUpdated"]
            .as_str()
            .unwrap()
            .ends_with("+09:00"),
        "lastUpdated in JST"
    );
    let read = store.read("Patient", "p1").await.unwrap().unwrap();
    assert_eq!(read.body, v1.body, "read returns exactly what was stored");

    let w = store
        .commit(one(put(
            "Patient",
            "p1",
            json!({"resourceType": "Patient", "id": "p1", "active": false}),
        )))
        .await
        .unwrap();
    assert_eq!(w[0].outcome, WriteOutcome::Updated);
    let v2 = w[0].version.clone().unwrap();
    assert_eq!(v2.version, 2);
    assert!(v2.last_updated > v1.last_updated, "timestamps increase");
    assert_eq!(
        body_of(&store.vread("Patient", "p1", 1).await.unwrap().unwrap())["active"],
        true
    );
    assert_eq!(
        body_of(&store.vread("Patient", "p1", 2).await.unwrap().unwrap())["active"],
        false
    );
    assert!(store.vread("Patient", "p1", 3).await.unwrap().is_none());
    assert!(store.read("Patient", "nope").await.unwrap().is_none());
    assert!(
        store.read("Observation", "p1").await.unwrap().is_none(),
        "ids are per type"
    );
}

async fn unchanged_updates_make_no_version(store: &Store) {
    let body = json!({"resourceType": "Patient", "id": "u1", "gender": "female"});
    let mut w = put("Patient", "u1", body.clone());
    if let Write::Put {
        skip_if_unchanged, ..
    } = &mut w
    {
        *skip_if_unchanged = true;
    }
    assert_eq!(
        store.commit(one(w.clone())).await.unwrap()[0].outcome,
        WriteOutcome::Created
    );
    let again = store.commit(one(w)).await.unwrap();
    assert_eq!(
        again[0].outcome,
        WriteOutcome::Unchanged,
        "same content again is a no-op"
    );
    assert_eq!(again[0].version.as_ref().unwrap().version, 1);
    assert_eq!(
        store.read("Patient", "u1").await.unwrap().unwrap().version,
        1
    );
}

async fn delete_and_resurrect(store: &Store) {
    store
        .commit(one(put(
            "Observation",
            "d1",
            json!({"resourceType": "Observation", "id": "d1"}),
        )))
        .await
        .unwrap();
    let w = store
        .commit(one(Write::Delete {
            rtype: "Observation".into(),
            id: "d1".into(),
        }))
        .await
        .unwrap();
    assert_eq!(w[0].outcome, WriteOutcome::Deleted);
    let tomb = store.read("Observation", "d1").await.unwrap().unwrap();
    assert!(tomb.is_deleted() && tomb.version == 2 && tomb.method == Method::Delete);
    let w = store
        .commit(one(Write::Delete {
            rtype: "Observation".into(),
            id: "d1".into(),
        }))
        .await
        .unwrap();
    assert_eq!(
        w[0].outcome,
        WriteOutcome::NothingToDelete,
        "deleting twice changes nothing"
    );
    assert_eq!(
        store
            .read("Observation", "d1")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    let w = store
        .commit(one(Write::Delete {
            rtype: "Observation".into(),
            id: "never".into(),
        }))
        .await
        .unwrap();
    assert_eq!(w[0].outcome, WriteOutcome::NothingToDelete);
    assert!(w[0].version.is_none());
    let w = store
        .commit(one(put(
            "Observation",
            "d1",
            json!({"resourceType": "Observation", "id": "d1"}),
        )))
        .await
        .unwrap();
    assert_eq!(
        w[0].outcome,
        WriteOutcome::Created,
        "a deleted resource can be brought back"
    );
    assert_eq!(w[0].version.as_ref().unwrap().version, 3);
    assert!(
        store
            .vread("Observation", "d1", 2)
            .await
            .unwrap()
            .unwrap()
            .is_deleted()
    );
}

async fn conditions_make_batches_all_or_nothing(store: &Store) {
    store
        .commit(one(put(
            "Patient",
            "c1",
            json!({"resourceType": "Patient", "id": "c1"}),
        )))
        .await
        .unwrap();
    let batch = Batch {
        conditions: vec![Condition::Version {
            rtype: "Patient".into(),
            id: "c1".into(),
            version: Some(7),
            on_fail: OnFail::PreconditionFailed,
        }],
        writes: vec![
            put(
                "Patient",
                "c2",
                json!({"resourceType": "Patient", "id": "c2"}),
            ),
            put(
                "Patient",
                "c1",
                json!({"resourceType": "Patient", "id": "c1", "active": true}),
            ),
        ],
        ..Default::default()
    };
    match store.commit(batch).await {
        Err(StoreError::ConditionFailed {
            index: 0,
            on_fail: OnFail::PreconditionFailed,
        }) => {}
        other => panic!("a failed condition must refuse the batch, got {other:?}"),
    }
    assert!(
        store.read("Patient", "c2").await.unwrap().is_none(),
        "nothing of a refused batch is stored"
    );
    assert_eq!(
        store.read("Patient", "c1").await.unwrap().unwrap().version,
        1
    );

    let ok = Batch {
        conditions: vec![
            Condition::Version {
                rtype: "Patient".into(),
                id: "c1".into(),
                version: Some(1),
                on_fail: OnFail::Retry,
            },
            Condition::Version {
                rtype: "Patient".into(),
                id: "c3".into(),
                version: None,
                on_fail: OnFail::Retry,
            },
        ],
        writes: vec![put(
            "Patient",
            "c3",
            json!({"resourceType": "Patient", "id": "c3"}),
        )],
        ..Default::default()
    };
    assert_eq!(
        store.commit(ok).await.unwrap()[0].outcome,
        WriteOutcome::Created
    );

    // A failing batch among many concurrent ones leaves the others intact (group commit).
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let version = if i % 10 == 0 { Some(99) } else { None };
            let id = format!("g{i}");
            s.commit(Batch {
                conditions: vec![Condition::Version {
                    rtype: "Patient".into(),
                    id: id.clone(),
                    version,
                    on_fail: OnFail::Retry,
                }],
                writes: vec![put(
                    "Patient",
                    &id,
                    json!({"resourceType": "Patient", "id": id}),
                )],
                ..Default::default()
            })
            .await
            .is_ok()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let ok = t.await.unwrap();
        assert_eq!(ok, i % 10 != 0, "batch {i}");
        assert_eq!(
            store
                .read("Patient", &format!("g{i}"))
                .await
                .unwrap()
                .is_some(),
            i % 10 != 0
        );
    }
}

async fn token_index_and_matches(store: &Store) {
    let w = put(
        "Patient",
        "t1",
        json!({"resourceType": "Patient", "id": "t1", "identifier": [
            {"system": "urn:sys", "value": "123"}, {"value": "nosys"}]}),
    );
    store.commit(one(w)).await.unwrap();
    let crit = |system: Option<&str>, code: &str| {
        let value = match system {
            Some(s) => format!("{s}|{code}"),
            None => code.to_string(),
        };
        filters("Patient", &format!("identifier={value}"))
    };
    assert_eq!(
        store
            .find("Patient", &crit(Some("urn:sys"), "123"), 10)
            .await
            .unwrap(),
        vec!["t1"]
    );
    assert_eq!(
        store.find("Patient", &crit(None, "123"), 10).await.unwrap(),
        vec!["t1"]
    );
    assert!(
        store
            .find("Patient", &crit(Some("urn:other"), "123"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .find("Patient", &crit(Some(""), "nosys"), 10)
            .await
            .unwrap(),
        vec!["t1"]
    );
    assert!(
        store
            .find("Observation", &crit(None, "123"), 10)
            .await
            .unwrap()
            .is_empty(),
        "index is per type"
    );
    let by_id = filters("Patient", "_id=t1");
    assert_eq!(store.find("Patient", &by_id, 10).await.unwrap(), vec!["t1"]);

    // A conditional create: "no Patient with identifier 456" holds once, not twice.
    let cond = || Batch {
        conditions: vec![Condition::Matches {
            rtype: "Patient".into(),
            filters: crit(Some("urn:sys"), "456"),
            ids: vec![],
            on_fail: OnFail::Retry,
        }],
        writes: vec![{
            put(
                "Patient",
                "t2",
                json!({"resourceType": "Patient", "id": "t2", "identifier": [
                    {"system": "urn:sys", "value": "456"}]}),
            )
        }],
        ..Default::default()
    };
    store.commit(cond()).await.unwrap();
    assert!(matches!(
        store.commit(cond()).await,
        Err(StoreError::ConditionFailed { .. })
    ));

    // Updating replaces the index rows; deleting removes them.
    store
        .commit(one(put(
            "Patient",
            "t1",
            json!({"resourceType": "Patient", "id": "t1"}),
        )))
        .await
        .unwrap();
    assert!(
        store
            .find("Patient", &crit(None, "123"), 10)
            .await
            .unwrap()
            .is_empty(),
        "old index rows replaced"
    );
    store
        .commit(one(Write::Delete {
            rtype: "Patient".into(),
            id: "t2".into(),
        }))
        .await
        .unwrap();
    assert!(
        store
            .find("Patient", &crit(None, "456"), 10)
            .await
            .unwrap()
            .is_empty(),
        "deleted resources do not match"
    );
}

async fn same_resource_twice_in_one_batch(store: &Store) {
    let w = store
        .commit(Batch {
            conditions: vec![],
            writes: vec![
                put(
                    "Patient",
                    "twice",
                    json!({"resourceType": "Patient", "id": "twice", "active": true}),
                ),
                put(
                    "Patient",
                    "twice",
                    json!({"resourceType": "Patient", "id": "twice", "active": false}),
                ),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(w[0].version.as_ref().unwrap().version, 1);
    assert_eq!(w[1].version.as_ref().unwrap().version, 2);
    assert_eq!(
        body_of(&store.read("Patient", "twice").await.unwrap().unwrap())["active"],
        false
    );
}

async fn history_scopes_and_paging(store: &Store) {
    let start = jiff::Timestamp::now().as_microsecond();
    for i in 0..5 {
        store
            .commit(one(put(
                "Encounter",
                "h1",
                json!({"resourceType": "Encounter", "id": "h1", "n": i}),
            )))
            .await
            .unwrap();
    }
    store
        .commit(one(put(
            "Encounter",
            "h2",
            json!({"resourceType": "Encounter", "id": "h2"}),
        )))
        .await
        .unwrap();
    store
        .commit(one(Write::Delete {
            rtype: "Encounter".into(),
            id: "h2".into(),
        }))
        .await
        .unwrap();

    let q = |scope: HistoryScope, count: usize, before: Option<i64>| HistoryQuery {
        access: None,
        scope,
        since: Some(start),
        at: None,
        count,
        before_seq: before,
    };
    let inst = HistoryScope::Instance {
        rtype: "Encounter".into(),
        id: "h1".into(),
    };
    let page = store.history(q(inst.clone(), 10, None)).await.unwrap();
    let versions: Vec<u64> = page.versions.iter().map(|v| v.version).collect();
    assert_eq!(versions, vec![5, 4, 3, 2, 1], "newest first");
    assert!(page.next_before_seq.is_none());

    // Paging: 2 per page, 3 pages, nothing lost or repeated, even with a write in between.
    let p1 = store.history(q(inst.clone(), 2, None)).await.unwrap();
    store
        .commit(one(put(
            "Encounter",
            "h1",
            json!({"resourceType": "Encounter", "id": "h1", "n": 99}),
        )))
        .await
        .unwrap();
    let p2 = store
        .history(q(inst.clone(), 2, p1.next_before_seq))
        .await
        .unwrap();
    let p3 = store
        .history(q(inst.clone(), 2, p2.next_before_seq))
        .await
        .unwrap();
    let got: Vec<u64> = [p1, p2, p3.clone()]
        .iter()
        .flat_map(|p| p.versions.iter().map(|v| v.version))
        .collect();
    assert_eq!(got, vec![5, 4, 3, 2, 1]);
    assert!(p3.next_before_seq.is_none());

    let ty = store
        .history(q(
            HistoryScope::Type {
                rtype: "Encounter".into(),
            },
            100,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(ty.versions.len(), 8, "6 versions of h1 and 2 of h2");
    assert!(
        ty.versions
            .iter()
            .any(|v| v.id == "h2" && v.is_deleted() && v.method == Method::Delete)
    );
    let sys = store
        .history(q(HistoryScope::System, 1000, None))
        .await
        .unwrap();
    assert!(sys.versions.len() >= 8);
    assert!(
        sys.versions
            .windows(2)
            .all(|w| w[0].last_updated >= w[1].last_updated),
        "system history newest first"
    );

    // _at: the version current at an instant.
    let all = store
        .history(q(inst.clone(), 10, None))
        .await
        .unwrap()
        .versions;
    let v3 = all.iter().find(|v| v.version == 3).unwrap();
    let at = HistoryQuery {
        access: None,
        scope: inst,
        since: None,
        at: Some((v3.last_updated, v3.last_updated + 1)),
        count: 10,
        before_seq: None,
    };
    let current_then: Vec<u64> = store
        .history(at)
        .await
        .unwrap()
        .versions
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(current_then, vec![3]);
}

async fn concurrent_updates_lose_nothing(store: &Store) {
    store
        .commit(one(put(
            "Basic",
            "counter",
            json!({"resourceType": "Basic", "id": "counter", "n": 0}),
        )))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < 10 {
                let cur = s.read("Basic", "counter").await.unwrap().unwrap();
                let n = body_of(&cur)["n"].as_u64().unwrap();
                let batch = Batch {
                    conditions: vec![Condition::Version {
                        rtype: "Basic".into(),
                        id: "counter".into(),
                        version: Some(cur.version),
                        on_fail: OnFail::Retry,
                    }],
                    writes: vec![put(
                        "Basic",
                        "counter",
                        json!({"resourceType": "Basic", "id": "counter", "n": n + 1}),
                    )],
                    ..Default::default()
                };
                match s.commit(batch).await {
                    Ok(_) => done += 1,
                    Err(StoreError::ConditionFailed { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let cur = store.read("Basic", "counter").await.unwrap().unwrap();
    assert_eq!(
        body_of(&cur)["n"],
        80,
        "optimistic concurrency loses no update"
    );
    assert_eq!(cur.version, 81);
}

/// Audit entries appended one by one, in batches and concurrently form one chain with no gaps
/// or forks, which `audit::verify` accepts.
async fn audit_log_is_one_unbroken_chain(store: &Store) {
    let first = store
        .append_audit(vec![
            String::from("{\"n\":1}").into(),
            String::from("{\"n\":2}").into(),
        ])
        .await
        .unwrap();
    assert_eq!(first, [1, 2], "audit: sequence numbers start at 1");
    // Each entry is keyed by its task (once even if given twice) and the odd ones by "odd".
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..5 {
                    let mut keys = vec![format!("task{t}"), format!("task{t}")];
                    if i % 2 == 1 {
                        keys.push("odd".into());
                    }
                    store
                        .append_audit(vec![crate::audit::AuditEntry {
                            entry: format!("{{\"task\":{t},\"i\":{i}}}"),
                            keys,
                        }])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_after(after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page);
    }
    assert_eq!(all.len(), 42, "audit: every entry stored once");
    assert_eq!(
        crate::audit::verify(&all, crate::audit::GENESIS.into(), 0),
        Ok((all[41].hash.clone(), 42)),
        "audit: the chain verifies"
    );
    assert_eq!(all[0].entry, "{\"n\":1}");

    // Entries are found by their keys, newest first, each once however many keys match.
    let (found, keyed_from) = store
        .audit_by_keys(&["task3".into(), "odd".into()], 100)
        .await
        .unwrap();
    assert_eq!(
        keyed_from, 1,
        "audit: a new log is keyed from its first entry"
    );
    let expected: Vec<&crate::audit::AuditRecord> = all
        .iter()
        .rev()
        .filter(|r| {
            r.entry.contains("\"task\":3")
                || r.entry.ends_with("\"i\":1}")
                || r.entry.ends_with("\"i\":3}")
        })
        .collect();
    assert_eq!(
        found.len(),
        5 + 7 * 2,
        "audit: task3's 5 and the others' odd ones"
    );
    assert_eq!(
        found.iter().collect::<Vec<_>>(),
        expected,
        "audit: by key, newest first"
    );
    let (newest, _) = store.audit_by_keys(&["task5".into()], 2).await.unwrap();
    assert_eq!(newest.len(), 2, "audit: the limit holds");
    assert!(newest[0].entry.ends_with("\"i\":4}") && newest[1].entry.ends_with("\"i\":3}"));
    let (none, _) = store.audit_by_keys(&["nobody".into()], 10).await.unwrap();
    assert!(none.is_empty());
}

/// A batch's audit entries join the chain in its commit, and vanish with a batch refused on a
/// condition.
async fn audit_entries_of_a_batch_hold_exactly_when_it_does(store: &Store) {
    let (head, _) = store.audit_head().await.unwrap();
    let entry = |n: u32| crate::audit::AuditEntry {
        entry: format!("{{\"batch\":{n}}}"),
        keys: vec!["batch-audit".into()],
    };
    let mut refused = one(put("Basic", "audited", json!({"resourceType": "Basic"})));
    refused.conditions.push(Condition::Version {
        rtype: "Basic".into(),
        id: "audited".into(),
        version: Some(7),
        on_fail: OnFail::PreconditionFailed,
    });
    refused.audit = vec![entry(0)];
    assert!(matches!(
        store.commit(refused).await,
        Err(StoreError::ConditionFailed { .. })
    ));
    assert_eq!(
        store.audit_head().await.unwrap().0,
        head,
        "audit: a refused batch appends nothing"
    );
    let mut kept = one(put("Basic", "audited", json!({"resourceType": "Basic"})));
    kept.audit = vec![entry(1), entry(2)];
    store.commit(kept).await.unwrap();
    let after = store.audit_after(head, 10).await.unwrap();
    let texts: Vec<&str> = after.iter().map(|r| r.entry.as_str()).collect();
    assert_eq!(
        texts,
        ["{\"batch\":1}", "{\"batch\":2}"],
        "audit: a batch's entries, in order, once"
    );
    let (keyed, _) = store
        .audit_by_keys(&["batch-audit".into()], 10)
        .await
        .unwrap();
    assert_eq!(
        keyed.len(),
        2,
        "audit: a batch's entries are found by their keys"
    );
    let all = store.audit_after(0, 10_000).await.unwrap();
    assert!(
        crate::audit::verify(&all, crate::audit::GENESIS.into(), 0).is_ok(),
        "audit: the chain still verifies"
    );
}

async fn decimals_survive(store: &Store) {
    let body: Value =
        serde_json::from_str(r#"{"resourceType":"Observation","id":"dec","valueQuantity":{"value":1.50,"unit":"mg"},"x":[0.000001,1e3]}"#)
            .unwrap();
    store
        .commit(one(put("Observation", "dec", body)))
        .await
        .unwrap();
    let text = store
        .read("Observation", "dec")
        .await
        .unwrap()
        .unwrap()
        .body
        .unwrap();
    assert!(
        text.contains("\"value\":1.50"),
        "decimal precision kept: {text}"
    );
    // Exponents come back in serde_json's canonical spelling, the same number.
    assert!(text.contains("[0.000001,1e+3]"), "number text kept: {text}");
    assert!(
        text.starts_with(r#"{"resourceType":"Observation","id":"dec","meta":{"#),
        "meta after id: {text}"
    );
    let stats = store.stats().await.unwrap();
    assert!(stats.resources > 10 && stats.versions > stats.resources);
}

/// A fresh, empty database on the PostgreSQL server named by `KIZUNA_TEST_POSTGRES` (the test
/// command, `scripts/test.sh`, starts a throwaway cluster and sets it), as a connection URL.
/// None, said loudly, when it is not set outside CI; under CI its absence fails the test.
/// Drops the test databases of test processes that have ended (a developer's cluster would
/// otherwise keep every run's databases); errors are ignored, another process may be at it.
async fn drop_leftover_databases(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'kizuna\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name
            .strip_prefix("kizuna_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let ended = pid.is_some_and(|pid| {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        if ended {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .await;
        }
    }
}

pub async fn fresh_postgres_database() -> Option<String> {
    let Ok(admin) = std::env::var("KIZUNA_TEST_POSTGRES") else {
        assert!(
            std::env::var("CI").is_err(),
            "KIZUNA_TEST_POSTGRES is not set: run the tests through scripts/test.sh"
        );
        eprintln!(
            "\n*** SKIPPED: PostgreSQL tests need KIZUNA_TEST_POSTGRES (scripts/test.sh sets it) ***\n"
        );
        return None;
    };
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL answers");
    tokio::spawn(conn);
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    if N.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        drop_leftover_databases(&client).await;
    }
    let name = format!(
        "kizuna_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        jiff::Timestamp::now().as_nanosecond() % 1_000_000
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("a test database can be created");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .expect("the URL names a database");
    Some(format!("{base}/{name}"))
}
