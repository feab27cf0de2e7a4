//! The shared conformance suite on both backends, and durability across reopening.

use kizuna_store::{Store, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_shared_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_acknowledged_writes_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    {
        let store = Store::open(&path).await.unwrap();
        conformance::run_all(&store).await;
    }
    let store = Store::open(&path).await.unwrap();
    let v = store.read("Basic", "counter").await.unwrap().unwrap();
    assert_eq!(v.version, 81);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_shared_suite() {
    let Some(url) = conformance::fresh_postgres_database().await else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend_name(), "postgresql");
    conformance::run_all(&store).await;
    // Reconnecting (a restart) finds everything and migrates nothing twice.
    let again = Store::open(&url).await.unwrap();
    assert_eq!(
        again
            .read("Basic", "counter")
            .await
            .unwrap()
            .unwrap()
            .version,
        81
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_per_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    let first = Store::open(&path).await.unwrap();
    let second = Store::open(&path).await;
    let Err(e) = second else {
        panic!("a second store on the same directory must be refused")
    };
    assert!(
        e.to_string()
            .contains("another kizuna process is using the data directory"),
        "{e}"
    );
    drop(first);
    // Once the first is closed, the directory can be opened again.
    let mut reopened = None;
    for _ in 0..50 {
        match Store::open(&path).await {
            Ok(s) => {
                reopened = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert!(reopened.is_some());
}

/// A search past its time budget is cancelled with `TooCostly`. A zero budget: SQLite cancels
/// as soon as it checks, after its first ten thousand steps; PostgreSQL gets a
/// `statement_timeout` of 1 ms for a sort of 5,000 resources and their count (tens of ms).
async fn cancels_a_search_past_its_budget(store: Store) {
    use kizuna_store::{Batch, Method, SearchSpec, StoreError, Write, index::IndexRows};
    let writes = (0..5000)
        .map(|i| {
            let body = serde_json::json!({"resourceType": "Patient", "id": format!("p{i}"),
                "name": [{"family": format!("F{}", i % 97)}], "birthDate": "1970-01-01"});
            Write::Put {
                rtype: "Patient".into(),
                id: format!("p{i}"),
                index: IndexRows::from_entries("Patient", &kizuna_search::extract::extract(&body)),
                body,
                method: Method::Put,
                content_hash: [0; 32],
                skip_if_unchanged: false,
            }
        })
        .collect();
    store
        .commit(Batch {
            conditions: vec![],
            writes,
            ..Default::default()
        })
        .await
        .unwrap();
    let (query, _) = kizuna_search::parse_query_string(
        Some("Patient"),
        "_sort=family,-birthdate&_content=f",
        kizuna_search::Handling::Strict,
    )
    .unwrap();
    let spec = SearchSpec {
        types: vec!["Patient".into()],
        filters: query.filters,
        sort: query.sort,
        count: 10,
        cursor: None,
        backward: false,
        total: true,
        budget: std::time::Duration::ZERO,
        compartment: None,
        access: None,
    };
    assert!(matches!(
        store.search(spec.clone()).await,
        Err(StoreError::TooCostly(_))
    ));
    let generous = SearchSpec {
        budget: std::time::Duration::from_secs(600),
        ..spec
    };
    assert_eq!(store.search(generous).await.unwrap().total, Some(5000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cancels_a_search_past_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    cancels_a_search_past_its_budget(Store::open(dir.path().to_str().unwrap()).await.unwrap())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancels_a_search_past_its_budget() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    cancels_a_search_past_its_budget(Store::open(&url).await.unwrap()).await;
}
