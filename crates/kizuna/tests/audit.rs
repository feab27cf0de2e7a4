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
            .append_audit(vec![
                format!("{{\"resourceType\":\"AuditEvent\",\"n\":{i}}}").into(),
            ])
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
        store
            .append_audit(vec![String::from("{\"n\":7}").into()])
            .await
            .unwrap();
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

/// A log written before entries had keys (schema 6): after the upgrade, a patient's access log
/// still holds the old entries (read from the log) and the new ones (found by key), newest
/// first, and the emergency list likewise.
#[tokio::test]
async fn the_patients_log_spans_entries_written_before_keys() {
    use kizuna_access::audit::{Event, audit_event};
    use kizuna_access::{Caller, Network, index};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data = data.to_str().unwrap();
    let clinic = Caller::institution("1310000011", "A病院");
    let event = |subtype: &str, person: &str| Event {
        action: "R",
        subtype: subtype.into(),
        request: "GET /fhir/Observation".into(),
        status: 200,
        entities: vec![],
        patients: vec![],
        persons: vec![person.into()],
        ..Default::default()
    };
    let person = {
        let store = Store::open(data).await.unwrap();
        let records = kizuna_records::Records::new(store);
        let reg = index::Registration {
            card_serials: vec!["CARD01".into()],
            ..Default::default()
        };
        index::register(&records, &reg).await.unwrap()
    };
    // Back to schema 6, with two entries about the person written then (the second an
    // emergency access) and one about someone else.
    {
        let db = rusqlite::Connection::open(tmp.path().join("data").join("kizuna.db")).unwrap();
        db.execute_batch(
            "DROP TABLE audit_key; DROP TABLE audit_key_state;
             ALTER TABLE audit_log DROP COLUMN keys;
             DROP TABLE ig_package;
             DROP TABLE phr_series; DROP TABLE phr_sample; DROP TABLE phr_rollup;
             DROP TABLE dicom_study; DROP TABLE dicom_series; DROP TABLE dicom_instance;
             DELETE FROM schema_migrations WHERE version >= 7;",
        )
        .unwrap();
        let mut prev = kizuna_store::audit::GENESIS.to_string();
        for (seq, ev) in [
            (1, event("search-type", &person)),
            (2, event("emergency-access", &person)),
            (3, event("read", "someone-else")),
        ] {
            let entry = audit_event(&clinic, &ev, 1_000_000 * seq).to_string();
            let hash = kizuna_store::audit::chain_hash(&prev, seq, 1_000_000 * seq, &entry);
            db.execute(
                "INSERT INTO audit_log (seq, recorded, entry, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![seq, 1_000_000 * seq, entry, prev, hash],
            )
            .unwrap();
            prev = hash;
        }
    }
    let store = Store::open(data).await.unwrap();
    let net = Network::with_random_key(kizuna_records::Records::new(store.clone()), None).unwrap();
    net.audit(&clinic, &event("read", &person)).await.unwrap();
    net.audit(&clinic, &event("emergency-access", &person))
        .await
        .unwrap();
    let log = net.access_log(&person, 100).await.unwrap();
    let subtypes: Vec<&str> = log
        .iter()
        .map(|e| e.pointer("/subtype/0/code").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(
        subtypes,
        [
            "emergency-access",
            "read",
            "emergency-access",
            "search-type"
        ],
        "new entries by key, then the old ones from the log, newest first"
    );
    assert_eq!(net.access_log(&person, 3).await.unwrap().len(), 3);
    assert_eq!(net.emergencies(None, 100).await.unwrap().len(), 2);
    assert_eq!(
        net.emergencies(Some("1310000011"), 100)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        net.emergencies(Some("1310000029"), 100)
            .await
            .unwrap()
            .is_empty()
    );
    // The chain is one across the upgrade.
    drop(net);
    drop(store);
    let (ok, out) = verify(&["--data", data]);
    assert!(ok && out.contains("5 entries"), "{out}");
}
