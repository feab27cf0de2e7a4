//! `kizuna audit verify` against an audit log tampered with directly in the database, past
//! its append-only triggers, on both backends.

use kizuna_store::Store;
use std::process::Command;

fn verify(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["audit", "verify"])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

async fn fill(store: &Store) {
    for i in 1..=5 {
        store
            .append_audit(vec![format!(
                "{{\"resourceType\":\"AuditEvent\",\"n\":{i}}}"
            )])
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_the_embedded_store_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_str().unwrap().to_string();
    {
        let store = Store::open(&data).await.unwrap();
        fill(&store).await;
    }
    let (ok, out) = verify(&["--data", &data]);
    assert!(ok && out.contains("intact: 5 entries"), "{out}");
    let db = rusqlite::Connection::open(tmp.path().join("kizuna.db")).unwrap();
    // The triggers refuse edits made through SQL...
    assert!(
        db.execute("UPDATE audit_log SET entry = 'x' WHERE seq = 3", [])
            .is_err()
    );
    assert!(
        db.execute("DELETE FROM audit_log WHERE seq = 2", [])
            .is_err()
    );
    // ...and an edit made around them is found.
    db.execute_batch(
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET entry = '{\"n\":99}' WHERE seq = 3;",
    )
    .unwrap();
    let (ok, out) = verify(&["--data", &data]);
    assert!(
        !ok && out.contains("BROKEN at entry 3") && out.contains("edited"),
        "{out}"
    );
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_postgresql_is_found() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    fill(&store).await;
    let (ok, out) = verify(&["--database", &url]);
    assert!(ok && out.contains("intact: 5 entries"), "{out}");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    assert!(
        client
            .execute("DELETE FROM audit_log WHERE seq = 2", &[])
            .await
            .is_err()
    );
    client
        .batch_execute(
            "ALTER TABLE audit_log DISABLE TRIGGER USER; DELETE FROM audit_log WHERE seq = 2;",
        )
        .await
        .unwrap();
    let (ok, out) = verify(&["--database", &url]);
    assert!(
        !ok && out.contains("BROKEN at entry 3") && out.contains("removed"),
        "{out}"
    );
}
