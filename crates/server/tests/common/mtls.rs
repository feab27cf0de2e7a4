//! A Kizuna server behind real mutual TLS, with a network CA issuing institution
//! certificates, and curl as the client.

use kizuna_records::Records;
use kizuna_store::Store;
use kizuna_trust::ca_dir::CaDir;
use kizuna_trust::pki::Holder;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A client certificate and key, as files.
#[derive(Clone)]
pub struct Cred {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Client {
    pub base: String,
    pub ca: PathBuf,
    pub dir: PathBuf,
}

/// What curl got: status, headers (lowercased names) and body bytes.
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Client {
    /// curl's status and JSON body.
    pub fn call(
        &self,
        who: Option<&Cred>,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let raw = self.raw(who, method, path, headers, bytes.as_deref());
        (raw.status, raw.json())
    }

    /// The request with `body` sent exactly as given, and the whole answer.
    pub fn raw(
        &self,
        who: Option<&Cred>,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&[u8]>,
    ) -> Raw {
        let n = counter();
        let head_file = self.dir.join(format!("head-{n}.txt"));
        let out_file = self.dir.join(format!("out-{n}.bin"));
        let mut c = Command::new("curl");
        c.args(["-s", "-X", method, "--cacert"])
            .arg(&self.ca)
            .arg("-D")
            .arg(&head_file)
            .arg("-o")
            .arg(&out_file)
            .args(["-w", "%{http_code}"]);
        if let Some(w) = who {
            c.arg("--cert").arg(&w.cert).arg("--key").arg(&w.key);
        }
        for h in headers {
            c.args(["-H", h]);
        }
        if let Some(b) = body {
            let file = self.dir.join(format!("body-{n}.json"));
            std::fs::write(&file, b).unwrap();
            if !headers
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with("content-type:"))
            {
                c.args(["-H", "Content-Type: application/fhir+json"]);
            }
            c.arg("--data-binary").arg(format!("@{}", file.display()));
        }
        let url = if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let out = c.arg(url).output().expect("curl");
        let status = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        let headers = std::fs::read_to_string(&head_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let body = std::fs::read(&out_file).unwrap_or_default();
        Raw {
            status,
            headers,
            body,
        }
    }
}

fn counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Issues a certificate for `holder`: the files, and the PEMs.
pub fn issue(ca: &mut CaDir, holder: Holder) -> (Cred, String, String) {
    let (issued, cert, key) = ca
        .issue(&holder, time::OffsetDateTime::now_utc(), 30)
        .unwrap();
    (Cred { cert, key }, issued.cert_pem, issued.key_pem)
}

pub fn institution(code: &str, name: &str) -> Holder {
    Holder::Institution {
        code: kizuna_jpid::InstitutionCode::parse(code).unwrap(),
        name: name.into(),
    }
}

/// A network CA in `dir`, and a server certificate for 127.0.0.1.
pub fn network(dir: &Path) -> (CaDir, Cred) {
    let mut ca = CaDir::init(dir, "Kizuna", time::OffsetDateTime::now_utc()).unwrap();
    let (server, _, _) = issue(
        &mut ca,
        Holder::Server {
            hosts: vec!["127.0.0.1".into()],
        },
    );
    (ca, server)
}

/// Serves `store` over mutual TLS, trusting the network CA in `dir` (and its card CA); the
/// client, and the server's records (for setting up the patient index).
pub async fn serve(store: Store, dir: &Path, server: &Cred, work: &Path) -> (Arc<Client>, Records) {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let setup = kizuna_server::tls::TlsSetup {
        cert_pem: read(&server.cert),
        key_pem: read(&server.key),
        client_ca_pem: read(&dir.join("network-ca.pem")),
        client_crl: dir.join("crl/network.crl.pem"),
        card: Some((read(&dir.join("card-ca.pem")), dir.join("crl/card.crl.pem"))),
    };
    let (config, auth) = kizuna_server::tls::configure(&setup).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = kizuna_server::Config::for_addr(addr);
    cfg.base_url = format!("https://{addr}/fhir");
    cfg.images = Some(kizuna_blobs::Blobs::local(&work.join("images")).unwrap());
    let records = Records::new(store);
    let network = kizuna_access::Network::new(
        records.clone(),
        &[7u8; 32],
        Some(auth.clone() as Arc<dyn kizuna_access::CardTrust>),
    )
    .unwrap();
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
    let client = Arc::new(Client {
        base: format!("https://{addr}/fhir"),
        ca: dir.join("network-ca.pem"),
        dir: work.to_path_buf(),
    });
    (client, records)
}
