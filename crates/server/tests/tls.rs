//! Mutual TLS over real loopback TLS, with curl as the client: the network CA's certificates
//! get in, everything else is refused with an OperationOutcome that says why, on both backends.

use kizuna_records::Records;
use kizuna_store::Store;
use kizuna_trust::ca_dir::CaDir;
use kizuna_trust::pki::Holder;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Pki {
    dir: PathBuf,
    ca: CaDir,
}

impl Pki {
    fn issue(&mut self, holder: Holder) -> (PathBuf, PathBuf, String) {
        let (issued, cert, key) = self
            .ca
            .issue(&holder, time::OffsetDateTime::now_utc(), 30)
            .unwrap();
        (cert, key, issued.serial)
    }
}

fn institution(code: &str) -> Holder {
    Holder::Institution {
        code: kizuna_jpid::InstitutionCode::parse(code).unwrap(),
        name: "絆クリニック".into(),
    }
}

/// curl's status and body for `path`, presenting `cert` (and its key) if given.
fn curl(
    base: &str,
    ca: &Path,
    path: &str,
    cert: Option<&(PathBuf, PathBuf, String)>,
) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-w", "\n%{http_code}", "--cacert"]).arg(ca);
    if let Some((cert, key, _)) = cert {
        c.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = c.arg(format!("{base}{path}")).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

async fn run(store: Store) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let ca = CaDir::init(&dir, "Kizuna", time::OffsetDateTime::now_utc()).unwrap();
    let mut pki = Pki {
        dir: dir.clone(),
        ca,
    };
    let server = pki.issue(Holder::Server {
        hosts: vec!["127.0.0.1".into()],
    });
    let clinic = pki.issue(institution("0110113719"));
    let lost = pki.issue(institution("0110113719"));
    let staff = pki.issue(Holder::Staff {
        institution: kizuna_jpid::InstitutionCode::parse("0110113719").unwrap(),
        staff_id: "dr-1".into(),
        name: "山田 花子".into(),
    });
    let card = pki.issue(Holder::Card {
        serial: "JPKI0001".into(),
    });
    // A forged network CA of the same name, and an institution certificate from it.
    let forged_dir = tmp.path().join("forged");
    let mut forged = Pki {
        dir: forged_dir.clone(),
        ca: CaDir::init(&forged_dir, "Kizuna", time::OffsetDateTime::now_utc()).unwrap(),
    };
    let impostor = forged.issue(institution("0110113719"));

    let setup = kizuna_server::tls::TlsSetup {
        cert_pem: std::fs::read_to_string(&server.0).unwrap(),
        key_pem: std::fs::read_to_string(&server.1).unwrap(),
        client_ca_pem: std::fs::read_to_string(pki.dir.join("network-ca.pem")).unwrap(),
        client_crl: pki.dir.join("crl").join("network.crl.pem"),
        card: None,
    };
    let (config, auth) = kizuna_server::tls::configure(&setup).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = kizuna_server::Config::for_addr(addr);
    cfg.base_url = format!("https://{addr}/fhir");
    let network = kizuna_access::Network::new(Records::new(store), &[7u8; 32], None).unwrap();
    let app = kizuna_server::app_for(
        network,
        cfg,
        kizuna_server::Security {
            client_auth: Some(auth),
            smart: None,
        },
    );
    tokio::spawn(kizuna_server::tls::serve_tls(
        listener,
        app,
        config,
        std::future::pending(),
    ));
    let base = format!("https://{addr}");
    let ca = pki.dir.join("network-ca.pem");

    let ca2 = ca.clone();
    let get = move |path: &'static str, cert: Option<(PathBuf, PathBuf, String)>| {
        let (base, ca) = (base.clone(), ca2.clone());
        async move {
            tokio::task::spawn_blocking(move || curl(&base, &ca, path, cert.as_ref()))
                .await
                .unwrap()
        }
    };
    // The CapabilityStatement is public.
    let (status, body) = get("/fhir/metadata", None).await;
    assert_eq!(status, 200, "{body}");
    // No certificate: refused, and told how to get one.
    let (status, body) = get("/fhir/Patient", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("no client certificate") && body.contains("OperationOutcome"),
        "{body}"
    );
    // The institution's and its staff member's certificates get in.
    for who in [&clinic, &lost, &staff] {
        let (status, body) = get("/fhir/Patient", Some(who.clone())).await;
        assert_eq!(status, 200, "{body}");
    }
    // A certificate from a forged CA of the same name, and a patient card: unknown issuer.
    for who in [&impostor, &card] {
        let (status, body) = get("/fhir/Patient", Some(who.clone())).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("unknown issuer"), "{body}");
    }
    // Revoked while the server runs: the next request is refused.
    pki.ca
        .revoke(&lost.2, "key-compromise", time::OffsetDateTime::now_utc())
        .unwrap();
    let (status, body) = get("/fhir/Patient", Some(lost.clone())).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    let (status, _) = get("/fhir/Patient", Some(clinic.clone())).await;
    assert_eq!(status, 200);
    // A client that does not trust the server's CA does not talk to it.
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://{addr}/fhir/metadata"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run(Store::open(dir.path().to_str().unwrap()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_on_postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    run(Store::open(&url).await.unwrap()).await;
}
