//! SMART Backend Services over real TLS with curl as the client: discovery, a token for a
//! signed ES384 assertion, Bearer access within the granted scopes (and 403 outside them), and
//! refusals of an `alg: none` assertion, a replayed one and a forged token, each audited.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kizuna_records::Records;
use kizuna_store::Store;
use kizuna_trust::ca_dir::CaDir;
use kizuna_trust::pki::Holder;
use kizuna_trust::smart::{Client, Registry};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

fn curl(ca: &PathBuf, args: &[String]) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn assertion(key: &EncodingKey, alg: Algorithm, token_url: &str, jti: &str) -> String {
    let now = jiff::Timestamp::now().as_second();
    let mut header = Header::new(alg);
    header.kid = Some("ehr-1".into());
    let claims =
        json!({"iss": "ehr", "sub": "ehr", "aud": token_url, "exp": now + 240, "jti": jti});
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

async fn run(store: Store) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let mut ca = CaDir::init(&dir, "Kizuna", time::OffsetDateTime::now_utc()).unwrap();
    let (_, server_cert, server_key) = ca
        .issue(
            &Holder::Server {
                hosts: vec!["127.0.0.1".into()],
            },
            time::OffsetDateTime::now_utc(),
            30,
        )
        .unwrap();
    // The EHR's key and its registration.
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let key = EncodingKey::from_ec_der(&pair.serialize_der());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES384).unwrap();
    jwk.common.key_id = Some("ehr-1".into());
    let clients = tmp.path().join("smart-clients.json");
    let mut registry = Registry::new();
    registry
        .register(Client {
            client_id: "ehr".into(),
            institution: "0110113719".into(),
            name: "絆病院 電子カルテ".into(),
            jwks: serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap(),
            scope: "system/Observation.rs system/Patient.rs".into(),
        })
        .unwrap();
    registry.save(&clients).unwrap();

    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
    let setup = kizuna_server::tls::TlsSetup {
        cert_pem: read(&server_cert),
        key_pem: read(&server_key),
        client_ca_pem: read(&dir.join("network-ca.pem")),
        client_crl: dir.join("crl/network.crl.pem"),
        card: None,
    };
    let (config, auth) = kizuna_server::tls::configure(&setup).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = kizuna_server::Config::for_addr(addr);
    cfg.base_url = format!("https://{addr}/fhir");
    let token_url = format!("https://{addr}/auth/token");
    let network =
        kizuna_access::Network::new(Records::new(store.clone()), &[5u8; 32], None).unwrap();
    let smart = Arc::new(
        kizuna_server::smart::SmartSetup::new(clients.clone(), token_url.clone()).unwrap(),
    );
    let app = kizuna_server::app_for(
        network,
        cfg,
        kizuna_server::Security {
            client_auth: Some(auth),
            smart: Some(smart),
        },
    );
    tokio::spawn(kizuna_server::tls::serve_tls(
        listener,
        app,
        config,
        std::future::pending(),
    ));
    let ca_pem = dir.join("network-ca.pem");
    let base = format!("https://{addr}");
    let call = move |args: Vec<String>| {
        let ca = ca_pem.clone();
        async move {
            tokio::task::spawn_blocking(move || curl(&ca, &args))
                .await
                .unwrap()
        }
    };
    let token_request = |assertion: String, scope: &str| {
        vec![
            "-X".to_string(),
            "POST".into(),
            "--data-urlencode".into(),
            "grant_type=client_credentials".into(),
            "--data-urlencode".into(),
            "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            "--data-urlencode".into(),
            format!("client_assertion={assertion}"),
            "--data-urlencode".into(),
            format!("scope={scope}"),
            token_url.clone(),
        ]
    };

    // Discovery is public.
    let (status, conf) = call(vec![format!("{base}/.well-known/smart-configuration")]).await;
    assert_eq!(status, 200, "{conf}");
    assert_eq!(conf["token_endpoint"], token_url.as_str());

    // A signed assertion gets a token for what was asked within the registration.
    let good = assertion(&key, Algorithm::ES384, &token_url, "jti-1");
    let (status, t) = call(token_request(
        good.clone(),
        "system/Observation.rs system/Condition.rs",
    ))
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["scope"], "system/Observation.rs");
    let token = t["access_token"].as_str().unwrap().to_string();
    // The same assertion again: refused.
    let (status, e) = call(token_request(good, "system/Observation.rs")).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );
    // alg none: refused.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"ehr-1"}"#);
    let now = jiff::Timestamp::now().as_second();
    let claims = URL_SAFE_NO_PAD.encode(
        json!({"iss": "ehr", "sub": "ehr", "aud": token_url, "exp": now + 240, "jti": "jti-2"})
            .to_string(),
    );
    let (status, e) = call(token_request(
        format!("{header}.{claims}."),
        "system/Observation.rs",
    ))
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (401, Some("invalid_client")),
        "{e}"
    );

    // The token reaches what its scopes allow, and nothing else.
    let bearer = format!("Authorization: Bearer {token}");
    let (status, b) = call(vec![
        "-H".into(),
        bearer.clone(),
        format!("{base}/fhir/Observation"),
    ])
    .await;
    assert_eq!(status, 200, "{b}");
    let (status, b) = call(vec![
        "-H".into(),
        bearer.clone(),
        "-X".into(),
        "POST".into(),
        "-H".into(),
        "Content-Type: application/fhir+json".into(),
        "--data".into(),
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"}}"#.into(),
        format!("{base}/fhir/Observation"),
    ])
    .await;
    assert_eq!(status, 403, "{b}");
    let (status, b) = call(vec![
        "-H".into(),
        bearer.clone(),
        format!("{base}/fhir/Condition"),
    ])
    .await;
    assert_eq!(status, 403, "{b}");
    // A forged token: refused.
    let forged = format!("Authorization: Bearer {token}x");
    let (status, b) = call(vec![
        "-H".into(),
        forged,
        format!("{base}/fhir/Observation"),
    ])
    .await;
    assert_eq!(status, 401, "{b}");

    // The audit log names the client for what it did.
    let entries: Vec<Value> = store
        .audit_after(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(&r.entry).unwrap())
        .collect();
    let by_client = |outcome: &str| {
        entries.iter().any(|e| {
            e["outcome"] == outcome
                && e["agent"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["who"]["identifier"]["value"] == "ehr")
        })
    };
    assert!(by_client("0") && by_client("8"), "{entries:#?}");
    // Refused token requests are audited too, with the reason.
    let refused = entries
        .iter()
        .filter(|e| {
            e["outcomeDesc"]
                .as_str()
                .is_some_and(|d| d.starts_with("POST /auth/token -> 401"))
        })
        .count();
    assert_eq!(refused, 2, "{entries:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_backend_services_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run(Store::open(dir.path().to_str().unwrap()).await.unwrap()).await;
}
