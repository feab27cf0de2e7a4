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

mod access;
mod api;
mod capability;
mod consult;
mod dicomweb;
mod documents;
mod phr;
mod reply;
pub mod smart;
mod subscriptions;
pub mod tls;

use axum::Router;
use kizuna_records::Records;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use capability::capability_statement;

/// How the server is set up.
#[derive(Clone)]
pub struct Config {
    /// The FHIR base URL as clients see it, e.g. `http://127.0.0.1:8080/fhir`.
    pub base_url: String,
    /// Largest request body accepted, in bytes (for STOW-RS: largest object).
    pub max_body_bytes: usize,
    /// Where images are kept (DICOMweb answers 503 without).
    pub images: Option<kizuna_blobs::Blobs>,
    /// The card reader of this machine, for the portal's reception (None: consent by card is
    /// not offered there, only the fallbacks).
    pub card_reader: Option<Arc<dyn kizuna_trust::card::CardReader>>,
}

impl Config {
    /// Defaults for a server listening on `addr`.
    pub fn for_addr(addr: std::net::SocketAddr) -> Config {
        Config {
            base_url: format!("http://{addr}/fhir"),
            max_body_bytes: 64 * 1024 * 1024,
            images: None,
            card_reader: None,
        }
    }
}

pub(crate) struct AppState {
    pub config: Config,
    pub capability: bytes::Bytes,
}

/// What a handler works with: the records as the request's caller may see them (see
/// [`access`]), and the server's setup.
pub(crate) struct ReqState {
    pub records: Records,
    /// Who calls.
    pub caller: kizuna_access::Caller,
    /// The network (the patient index; never records without a scope).
    pub net: Arc<kizuna_access::Network>,
    pub config: Config,
    pub capability: bytes::Bytes,
}

/// Extracts the [`ReqState`] of a request that [`access::identify`] identified; a request it
/// did not is refused (never served with the node's view).
pub(crate) struct Ctx(pub ReqState);

impl axum::extract::FromRequestParts<Arc<AppState>> for Ctx {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Ctx, Self::Rejection> {
        let (caller, records) = access::scoped(&parts.extensions)?;
        let Some(net) = parts
            .extensions
            .get::<Arc<kizuna_access::Network>>()
            .cloned()
        else {
            return Err(reply::error(
                500,
                kizuna_fhir::IssueCode::Exception,
                "the request was not identified",
            ));
        };
        Ok(Ctx(ReqState {
            records,
            caller,
            net,
            config: state.config.clone(),
            capability: state.capability.clone(),
        }))
    }
}

/// The whole HTTP application over the node's records, with a network that checks no cards
/// (for a server without patients' cards, and tests); an error only if the system's random
/// generator fails.
pub fn app(records: Records, config: Config) -> Result<Router, String> {
    let network = kizuna_access::Network::with_random_key(records, None)?;
    Ok(app_for(network, config, Security::default()))
}

/// How clients authenticate; nothing set: the node's own operator over plain HTTP on loopback.
#[derive(Default, Clone)]
pub struct Security {
    /// Mutual TLS: client certificates of the network CA (and patients' cards).
    pub client_auth: Option<Arc<tls::ClientAuth>>,
    /// SMART Backend Services: access tokens for registered EHR clients (needs `client_auth`).
    pub smart: Option<Arc<smart::SmartSetup>>,
}

/// The whole HTTP application: the FHIR API and the network's operations, every request
/// authenticated (with `client_auth`: by its client certificate, see [`tls`]; without: the
/// node's own operator over plain HTTP), identified, scoped to what its caller may see, and
/// audited (refusals included).
pub fn app_for(network: kizuna_access::Network, config: Config, security: Security) -> Router {
    let capability = bytes::Bytes::from(
        serde_json::to_vec(&capability_statement(
            &config.base_url,
            network.records().store().backend_name(),
        ))
        .unwrap_or_default(),
    );
    let state = Arc::new(AppState { config, capability });
    let net = Arc::new(network);
    let mut operations = Router::new();
    for path in [
        "/fhir/Consent/$challenge",
        "/fhir/Consent/$card",
        "/fhir/Consent/$spoken",
        "/fhir/Consent/$emergency",
        "/fhir/AuditEvent/$mine",
        "/fhir/AuditEvent/$emergencies",
    ] {
        operations = operations.route(path, axum::routing::any(access::operation));
    }
    let mut operations = operations.with_state(net.clone());
    let hub = Arc::new(subscriptions::Hub::default());
    subscriptions::start(net.clone(), hub.clone());
    operations = operations.merge(
        Router::new()
            .route(
                "/fhir/$subscription-websocket",
                axum::routing::get(subscriptions::websocket),
            )
            .with_state(hub),
    );
    if let Some(setup) = &security.smart {
        let smart_routes = Router::new()
            .route("/auth/token", axum::routing::any(smart::token))
            .route(
                "/.well-known/smart-configuration",
                axum::routing::get(smart::configuration),
            )
            .route(
                "/fhir/.well-known/smart-configuration",
                axum::routing::get(smart::configuration),
            )
            .with_state(setup.clone());
        operations = operations.merge(smart_routes);
    }
    let identify = net.clone();
    let portal = Arc::new(kizuna_portal::Portal::new(
        net.clone(),
        security.client_auth.is_none(),
        &state.config.base_url,
        state.config.card_reader.clone(),
    ));
    let audit = net;
    let sessions = portal.clone();
    let mut app = Router::new()
        .nest("/fhir", api::routes())
        .nest("/dicomweb", dicomweb::routes())
        // `[base]/?…` is the base URL too (system-level search, Bundles).
        .route("/fhir/", axum::routing::any(api::system))
        .fallback(api::not_found)
        .with_state(state)
        .merge(operations)
        .nest("/portal", kizuna_portal::routes(portal))
        .route("/portal/", axum::routing::get(kizuna_portal::home))
        .layer(axum::middleware::from_fn(move |req, next| {
            access::identify(identify.clone(), req, next)
        }))
        // Before identify: a portal page's caller may be its session's.
        .layer(axum::middleware::from_fn(move |req, next| {
            kizuna_portal::session_layer(sessions.clone(), req, next)
        }));
    if let Some(auth) = security.client_auth {
        let smart = security.smart.clone();
        app = app.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                tls::authenticate(auth.clone(), smart.clone(), req, next)
            },
        ));
    }
    app.layer(axum::middleware::from_fn(move |req, next| {
        access::audit(audit.clone(), req, next)
    }))
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
