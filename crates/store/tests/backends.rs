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

/// A fresh database on the PostgreSQL server named by KIZUNA_TEST_POSTGRES (the test command
/// starts a throwaway cluster and sets it). Without it the test says so; under CI it fails.
async fn fresh_postgres() -> Option<String> {
    let Ok(admin) = std::env::var("KIZUNA_TEST_POSTGRES") else {
        if std::env::var("CI").is_ok() {
            panic!("KIZUNA_TEST_POSTGRES is not set: run the tests through scripts/test.sh");
        }
        eprintln!(
            "\n*** SKIPPED: PostgreSQL tests need KIZUNA_TEST_POSTGRES (scripts/test.sh sets it) ***\n"
        );
        return None;
    };
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let name = format!(
        "kizuna_test_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond() % 1_000_000_000
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    Some(format!("{base}/{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_shared_suite() {
    let Some(url) = fresh_postgres().await else {
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
