//! `kizuna-server`: Kizuna's HTTP front, the only crate that knows HTTP.
//!
//! Owns the FHIR RESTful API under `/fhir` (JSON, `application/fhir+json`): routing, content
//! negotiation, headers (`ETag`, `Last-Modified`, `Location`, `If-Match`, `If-None-Exist`,
//! `Prefer`), body limits, the CapabilityStatement, and turning every failure into an
//! OperationOutcome with the right status. What an interaction means lives in
//! `kizuna-records`; this crate only translates.
//!
//! Must never: decide FHIR semantics itself, log request bodies or resource content, or panic
//! on any input (a panic is caught and answered 500 with an OperationOutcome all the same).

mod api;
mod capability;
mod reply;
pub mod tls;

use axum::Router;
use kizuna_records::Records;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use capability::capability_statement;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The FHIR base URL as clients see it, e.g. `http://127.0.0.1:8080/fhir`.
    pub base_url: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Config {
    /// Defaults for a server listening on `addr`.
    pub fn for_addr(addr: std::net::SocketAddr) -> Config {
        Config {
            base_url: format!("http://{addr}/fhir"),
            max_body_bytes: 64 * 1024 * 1024,
        }
    }
}

pub(crate) struct AppState {
    pub records: Records,
    pub config: Config,
    pub capability: bytes::Bytes,
}

/// The whole HTTP application.
pub fn app(records: Records, config: Config) -> Router {
    let capability = bytes::Bytes::from(
        serde_json::to_vec(&capability_statement(
            &config.base_url,
            records.store().backend_name(),
        ))
        .unwrap_or_default(),
    );
    let state = Arc::new(AppState {
        records,
        config,
        capability,
    });
    Router::new()
        .nest("/fhir", api::routes())
        // `[base]/?…` is the base URL too (system-level search, Bundles).
        .route("/fhir/", axum::routing::any(api::system))
        .fallback(api::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(reply::pretty))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            reply::panic_response,
        ))
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
