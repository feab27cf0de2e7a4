//! The documents a network keeps, as HTTP: `GET DocumentReference/{id}/$document` answers the
//! document byte for byte as it was submitted (`application/fhir+json`, with its SHA-256 in
//! `Repr-Digest`), and `GET DocumentReference/{id}/$render` a readable HTML page of it, under a
//! Content-Security-Policy that forbids scripts and anything fetched from elsewhere.
//!
//! Both are audited like a read of the DocumentReference and its patient ([`Concerns`]).

use crate::ReqState;
use crate::reply::failure;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

pub(crate) use kizuna_access::audit::Concerns;

pub(crate) async fn kept(state: &ReqState, id: &str, what: &str, method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return crate::api::not_allowed(method, &format!("DocumentReference/{id}/{what}"), "GET");
    }
    if what == "$document" {
        match state.records.kept_document(id).await {
            Ok(kept) => {
                let digest = base64::engine::general_purpose::STANDARD.encode(kept.sha256);
                let mut r = (StatusCode::OK, kept.bytes).into_response();
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/fhir+json; charset=utf-8"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("sha-256=:{digest}:")) {
                    h.insert("repr-digest", v);
                }
                r.extensions_mut().insert(Concerns(kept.index));
                r
            }
            Err(f) => failure(f),
        }
    } else {
        match state.records.render_document(id).await {
            Ok((index, html)) => {
                let mut r = (StatusCode::OK, html).into_response();
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                h.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
                    ),
                );
                h.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                r.extensions_mut().insert(Concerns(index));
                r
            }
            Err(f) => failure(f),
        }
    }
}
