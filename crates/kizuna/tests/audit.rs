//! `kizuna audit verify` against an audit log tampered with directly in the database, past
//! its append-only triggers, on both backends.

use kizuna_store::Store;
use std::process::Command;

fn kizuna(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_kizuna"))
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

/// `kizuna audit verify ARGS`.
fn verify(args: &[&str]) -> (bool, String) {
    let mut all = vec!["audit", "verify"];
    all.extend_from_slice(args);
    kizuna(&all)
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

/// Someone who rewrites the whole chain after an edit (every hash recomputed) is caught by a
/// signed checkpoint; a checkpoint signed by a key outside the network is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_checkpoints_catch_a_rewritten_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data").to_str().unwrap().to_string();
    let pki = tmp.path().join("pki");
    let pki_s = pki.to_str().unwrap();
    assert!(kizuna(&["pki", "--dir", pki_s, "init"]).0);
    let (ok, out) = kizuna(&["pki", "--dir", pki_s, "issue", "server", "--host", "node1"]);
    assert!(ok, "{out}");
    let serial = out.split_whitespace().nth(2).unwrap().to_string();
    let cert = pki.join("issued").join(format!("{serial}.pem"));
    let key = pki.join("issued").join(format!("{serial}.key"));
    let ca = pki.join("network-ca.pem");
    {
        let store = Store::open(&data).await.unwrap();
        fill(&store).await;
    }
    let (ok, out) = kizuna(&[
        "audit",
        "checkpoint",
        "--data",
        &data,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("certifies entry 5"), "{out}");
    {
        let store = Store::open(&data).await.unwrap();
        store.append_audit(vec!["{\"n\":7}".into()]).await.unwrap();
    }
    let (ok, out) = verify(&["--data", &data, "--ca", ca.to_str().unwrap()]);
    assert!(
        ok && out.contains("intact: 7 entries") && out.contains("1 signed checkpoints verified"),
        "{out}"
    );
    // Rewrite: edit entry 2 and recompute every hash after it.
    let db = rusqlite::Connection::open(tmp.path().join("data").join("kizuna.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_log_no_update;")
        .unwrap();
    db.execute(
        "UPDATE audit_log SET entry = '{\"n\":99}' WHERE seq = 2",
        [],
    )
    .unwrap();
    let mut prev = kizuna_store::audit::GENESIS.to_string();
    let rows: Vec<(i64, i64, String)> = db
        .prepare("SELECT seq, recorded, entry FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, recorded, entry) in rows {
        let hash = kizuna_store::audit::chain_hash(&prev, seq, recorded, &entry);
        db.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .unwrap();
        prev = hash;
    }
    drop(db);
    let (ok, out) = verify(&["--data", &data, "--ca", ca.to_str().unwrap()]);
    assert!(
        !ok && out.contains("BROKEN at entry 5") && out.contains("rewritten"),
        "{out}"
    );
    // A checkpoint from a forged network is refused.
    let forged = tmp.path().join("forged");
    let forged_s = forged.to_str().unwrap();
    assert!(kizuna(&["pki", "--dir", forged_s, "init"]).0);
    let (_, out) = kizuna(&[
        "pki", "--dir", forged_s, "issue", "server", "--host", "evil",
    ]);
    let fserial = out.split_whitespace().nth(2).unwrap().to_string();
    let data2 = tmp.path().join("data2").to_str().unwrap().to_string();
    {
        let store = Store::open(&data2).await.unwrap();
        fill(&store).await;
    }
    let fcert = forged.join("issued").join(format!("{fserial}.pem"));
    let fkey = forged.join("issued").join(format!("{fserial}.key"));
    let (ok, out) = kizuna(&[
        "audit",
        "checkpoint",
        "--data",
        &data2,
        "--cert",
        fcert.to_str().unwrap(),
        "--key",
        fkey.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = verify(&["--data", &data2, "--ca", ca.to_str().unwrap()]);
    assert!(!ok && out.contains("checkpoint refused"), "{out}");
}
