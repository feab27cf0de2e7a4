//! SMART on FHIR Backend Services over HTTP: the token endpoint (`POST /auth/token`,
//! client credentials with a signed JWT assertion), the discovery document
//! (`/.well-known/smart-configuration`), Bearer tokens on FHIR requests (for EHR systems that
//! reach the network without a client certificate), and the check of a token's scopes against
//! each request. What a valid assertion, scope or token is lives in `kizuna_trust::smart`.

// Early returns carry an axum Response, answered at once and never stored (as in `api`).
#![allow(clippy::result_large_err)]

use crate::reply::error;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kizuna_fhir::IssueCode;
use kizuna_trust::smart::{
    self, Grant, Interaction, Registry, ReplayGuard, SmartError, TokenIssuer,
};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// The node's SMART setup: the registered clients (a file `kizuna smart register` writes,
/// read again on every token request, so registrations apply at once), the issuer of access
/// tokens (a random key: tokens end with the process, at most 5 minutes anyway), and the
/// assertions already used.
pub struct SmartSetup {
    pub clients: PathBuf,
    /// The token endpoint's URL as clients reach it (the audience of their assertions).
    pub token_url: String,
    issuer: TokenIssuer,
    seen: ReplayGuard,
}

impl SmartSetup {
    pub fn new(clients: PathBuf, token_url: String) -> Result<SmartSetup, String> {
        Ok(SmartSetup {
            clients,
            token_url,
            issuer: TokenIssuer::generate()?,
            seen: ReplayGuard::new(),
        })
    }

    /// The grant of a request's `Authorization: Bearer` token: None without one.
    pub fn bearer(&self, headers: &HeaderMap) -> Option<Result<Grant, SmartError>> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        Some(self.issuer.verify(token.trim(), now()))
    }
}

/// A verified access token's grant, on the request.
#[derive(Debug, Clone)]
pub struct Granted(pub Grant);

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A plain JSON answer (OAuth and SMART documents are not FHIR), never cached.
fn json(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An OAuth2 error answer (RFC 6749 §5.2).
fn oauth_error(e: &SmartError) -> Response {
    let status = match e.oauth_error() {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = json!({"error": e.oauth_error(), "error_description": e.to_string()});
    json(status, body.to_string())
}

/// `POST /auth/token`.
pub async fn token(
    State(setup): State<Arc<SmartSetup>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return oauth_error(&SmartError::InvalidRequest(
            "the token endpoint takes POST".into(),
        ));
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(&SmartError::InvalidRequest(
            "the token request must be application/x-www-form-urlencoded".into(),
        ));
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let registry = match Registry::load(&setup.clients) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the SMART client registry cannot be read");
            return oauth_error(&SmartError::ServerError(
                "the client registry cannot be read".into(),
            ));
        }
    };
    match smart::token_request(
        &registry,
        &form,
        &setup.token_url,
        now(),
        &setup.seen,
        &setup.issuer,
    ) {
        Ok(t) => json(
            StatusCode::OK,
            serde_json::to_string(&t).unwrap_or_default(),
        ),
        Err(e) => {
            tracing::info!(error = e.oauth_error(), "token request refused");
            oauth_error(&e)
        }
    }
}

/// `GET /.well-known/smart-configuration` (also under `/fhir`).
pub async fn configuration(State(setup): State<Arc<SmartSetup>>) -> Response {
    let body = json!({
        "token_endpoint": setup.token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": smart::ASSERTION_ALGORITHMS,
        "scopes_supported": ["system/*.cruds", "system/*.rs"],
        "capabilities": ["client-confidential-asymmetric", "permission-v2"]
    });
    json(StatusCode::OK, body.to_string())
}

/// Whether `scopes` allow a request (`method`, `path` under `/fhir`): the type and interaction
/// it names; a request that names no one type (system search, history, Bundles, `$everything`)
/// needs the interaction on every type (`system/*`).
pub fn check_scopes(grant: &Grant, method: &Method, path: &str) -> Result<(), Response> {
    let rest: Vec<&str> = path
        .trim_start_matches("/fhir")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let write = |m: &Method| match m.as_str() {
        "POST" => Interaction::Create,
        "PUT" | "PATCH" => Interaction::Update,
        "DELETE" => Interaction::Delete,
        _ => Interaction::Read,
    };
    let (rtype, interactions): (Option<&str>, Vec<Interaction>) =
        match (method.as_str(), rest.as_slice()) {
            (_, ["Consent", op]) if op.starts_with('$') => {
                (Some("Consent"), vec![Interaction::Create])
            }
            (_, [_, _, op]) if op.starts_with('$') => {
                (None, vec![Interaction::Read, Interaction::Search])
            }
            // A transaction, or a document submission (which writes its entries, its bytes
            // and its index, and deletes a replaced document's entries): any type may be written.
            ("POST", [] | ["Bundle"]) => (
                None,
                vec![
                    Interaction::Create,
                    Interaction::Read,
                    Interaction::Update,
                    Interaction::Delete,
                    Interaction::Search,
                ],
            ),
            (_, [] | ["_history"] | ["_search"]) => (None, vec![Interaction::Search]),
            ("POST", [t, "_search"]) => (Some(t), vec![Interaction::Search]),
            ("GET" | "HEAD", [t] | [t, "_history"]) => (Some(t), vec![Interaction::Search]),
            ("GET" | "HEAD", ["Patient", _, t]) if !t.starts_with('_') => {
                (Some(t), vec![Interaction::Search])
            }
            ("GET" | "HEAD", [t, ..]) => (Some(t), vec![Interaction::Read]),
            (m, [t, ..]) => (
                Some(t),
                vec![write(
                    &Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET),
                )],
            ),
        };
    let allowed = |i: Interaction| match rtype {
        Some(t) => grant.scopes.allows(t, i),
        None => kizuna_fhir::r4()
            .resource_types()
            .iter()
            .all(|t| grant.scopes.allows(t, i)),
    };
    if interactions.iter().all(|i| allowed(*i)) {
        return Ok(());
    }
    Err(error(
        403,
        IssueCode::Forbidden,
        format!(
            "the access token's scopes ({}) do not allow {method} {path}; ask the token endpoint for a scope that does",
            grant.scopes
        ),
    ))
}
