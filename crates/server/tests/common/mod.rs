//! A real Kizuna server on a loopback port, and a small HTTP client for tests.

// Shared by several test binaries, each using part of it.
#![allow(dead_code)]

pub mod mtls;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kizuna_records::Records;
use kizuna_store::Store;
use serde_json::Value;
use std::sync::Arc;

pub struct TestServer {
    pub base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    _dir: Option<tempfile::TempDir>,
    /// Where its images are kept.
    pub images: tempfile::TempDir,
    pub store: Store,
}

pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|h| h.to_str().unwrap_or_default().to_string())
    }
    /// The expressions of the OperationOutcome's issues.
    pub fn issue_paths(&self) -> Vec<String> {
        self.json()["issue"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["expression"][0].as_str().map(str::to_string))
            .collect()
    }
}

/// Which store a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl TestServer {
    /// A server on a fresh store of `backend`, or None (with a loud message) when PostgreSQL
    /// is not available outside CI.
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, 64 * 1024 * 1024).await
    }

    pub async fn start_with(backend: Backend, max_body_bytes: usize) -> Option<TestServer> {
        Self::start_full(backend, max_body_bytes, Vec::new(), None, None).await
    }

    /// A server that checks patients' cards with `cards` and reads them at reception on
    /// `reader` (the portal's consent by card).
    #[allow(dead_code)]
    pub async fn start_with_cards(
        backend: Backend,
        cards: Arc<dyn kizuna_access::CardTrust>,
        reader: Arc<dyn kizuna_trust::card::CardReader>,
    ) -> Option<TestServer> {
        Self::start_full(
            backend,
            64 * 1024 * 1024,
            Vec::new(),
            None,
            Some((cards, reader)),
        )
        .await
    }

    /// A server keeping its images in `images` (an S3 bucket).
    pub async fn start_with_images(
        backend: Backend,
        images: kizuna_blobs::Blobs,
    ) -> Option<TestServer> {
        Self::start_full(backend, 64 * 1024 * 1024, Vec::new(), Some(images), None).await
    }

    /// A server whose store has these IG packages (tarballs) installed.
    pub async fn start_with_packages(
        backend: Backend,
        packages: Vec<Vec<u8>>,
    ) -> Option<TestServer> {
        Self::start_full(backend, 64 * 1024 * 1024, packages, None, None).await
    }

    async fn start_full(
        backend: Backend,
        max_body_bytes: usize,
        packages: Vec<Vec<u8>>,
        blobs: Option<kizuna_blobs::Blobs>,
        cards: Option<(
            Arc<dyn kizuna_access::CardTrust>,
            Arc<dyn kizuna_trust::card::CardReader>,
        )>,
    ) -> Option<TestServer> {
        let (store, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                (
                    Store::open(dir.path().to_str().unwrap()).await.unwrap(),
                    Some(dir),
                )
            }
            Backend::Postgres => (
                Store::open(&kizuna_store::conformance::fresh_postgres_database().await?)
                    .await
                    .unwrap(),
                None,
            ),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = kizuna_server::Config::for_addr(addr);
        config.max_body_bytes = max_body_bytes;
        let images = tempfile::tempdir().unwrap();
        config.images =
            Some(blobs.unwrap_or_else(|| kizuna_blobs::Blobs::local(images.path()).unwrap()));
        let base = config.base_url.clone();
        for p in packages {
            kizuna_records::profiles::install(&store, p, 1)
                .await
                .expect("package installs");
        }
        let records = Records::new(store.clone());
        records
            .profiles()
            .refresh(&store)
            .await
            .expect("packages load");
        let app = match cards {
            None => kizuna_server::app(records, config).expect("the server app builds"),
            Some((trust, reader)) => {
                config.card_reader = Some(reader);
                let net = kizuna_access::Network::with_random_key(records, Some(trust))
                    .expect("the network starts");
                kizuna_server::app_for(net, config, kizuna_server::Security::default())
            }
        };
        tokio::spawn(async move {
            let _ = kizuna_server::serve(listener, app, std::future::pending()).await;
        });
        let client = Client::builder(TokioExecutor::new()).build_http();
        Some(TestServer {
            base,
            client,
            _dir: dir,
            images,
            store: store.clone(),
        })
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let resp = self.client.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], None).await
    }

    pub async fn send(&self, method: &str, path: &str, body: &Value) -> Resp {
        self.request(
            method,
            path,
            &[("content-type", "application/fhir+json")],
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Resp {
        let mut h = vec![("content-type", "application/fhir+json")];
        h.extend_from_slice(headers);
        self.request(method, path, &h, Some(serde_json::to_vec(body).unwrap()))
            .await
    }
}

/// Where the shared fixtures are (`KIZUNA_FIXTURES`, or `../shared/fixtures` beside the repo).
pub fn fixtures() -> Option<std::path::PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        if std::env::var("CI").is_ok() {
            panic!("fixtures not found at {}", dir.display());
        }
        eprintln!(
            "\n*** SKIPPED: fixtures not found at {} (set KIZUNA_FIXTURES) ***\n",
            dir.display()
        );
        None
    }
}

/// Declares each listed `async fn name(&TestServer)` as a test on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(s) = super::TestServer::start(super::Backend::Sqlite).await {
                        super::$name(&s).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(s) = super::TestServer::start(super::Backend::Postgres).await {
                        super::$name(&s).await;
                    }
                }
            )*
        }
    };
}
