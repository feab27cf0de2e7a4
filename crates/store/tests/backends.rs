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
