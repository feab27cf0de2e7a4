//! Turning interaction results into HTTP responses.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kizuna_fhir::{Issue, IssueCode, operation_outcome};
use kizuna_records::{Failure, Payload, Prefer, Reply};
use kizuna_store::Version;

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

pub fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    r
}

/// An OperationOutcome response.
pub fn outcome(status: u16, issues: &[Issue]) -> Response {
    let body = serde_json::to_vec(&operation_outcome(issues)).unwrap_or_default();
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Bytes::from(body),
    )
}

pub fn error(status: u16, code: IssueCode, message: impl Into<String>) -> Response {
    outcome(status, &[Issue::error(code, None, message)])
}

fn version_headers(headers: &mut HeaderMap, v: &Version) {
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", v.version)) {
        headers.insert(header::ETAG, etag);
    }
    let secs = v.last_updated.div_euclid(1_000_000);
    if let Ok(ts) = jiff::Timestamp::from_second(secs) {
        let http_date = ts.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
        if let Ok(h) = HeaderValue::from_str(&http_date) {
            headers.insert(header::LAST_MODIFIED, h);
        }
    }
}

/// A successful interaction, honouring `Prefer: return=`.
pub fn success(reply: Reply, base: &str, prefer: Prefer) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut resp = match (&reply.payload, prefer) {
        (_, Prefer::OperationOutcome) => {
            let mut issues = reply.issues.clone();
            if issues.is_empty() {
                issues.push(Issue::information("OK"));
            }
            let body = serde_json::to_vec(&operation_outcome(&issues)).unwrap_or_default();
            json_response(status, Bytes::from(body))
        }
        (_, Prefer::Minimal) => status.into_response(),
        (
            Payload::Version(Version {
                body: Some(body), ..
            }),
            Prefer::Representation,
        ) => json_response(status, Bytes::copy_from_slice(body.as_bytes())),
        // Nothing to return (a delete): say what happened, unless the status forbids a body.
        (Payload::None | Payload::Version(_), Prefer::Representation) => {
            if reply.issues.is_empty() || status == StatusCode::NO_CONTENT {
                status.into_response()
            } else {
                let body =
                    serde_json::to_vec(&operation_outcome(&reply.issues)).unwrap_or_default();
                json_response(status, Bytes::from(body))
            }
        }
        (Payload::Text(t), Prefer::Representation) => {
            json_response(status, Bytes::from(t.clone().into_bytes()))
        }
        (Payload::Json(j), Prefer::Representation) => json_response(
            status,
            Bytes::from(serde_json::to_vec(j).unwrap_or_default()),
        ),
    };
    if let Some(v) = reply.stored() {
        version_headers(resp.headers_mut(), v);
    }
    if matches!(reply.status, 200 | 201)
        && let Some(loc) = &reply.location
        && let Ok(h) = HeaderValue::from_str(&format!("{base}/{loc}"))
    {
        resp.headers_mut().insert(header::LOCATION, h.clone());
        if reply.status == 201 {
            resp.headers_mut().insert(header::CONTENT_LOCATION, h);
        }
    }
    resp
}

pub fn failure(f: Failure) -> Response {
    let mut resp = outcome(f.status, &f.issues);
    if let Some(v) = &f.deleted {
        version_headers(resp.headers_mut(), v);
    }
    resp
}

/// The answer to a panic inside a handler: a 500 OperationOutcome (the panic is a bug; the
/// server keeps serving).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error(
        500,
        IssueCode::Exception,
        "internal error while processing the request; it was logged for the operators",
    )
}

/// `_pretty=true`: FHIR JSON responses indented for people reading them (all other responses,
/// and requests without it, pass untouched).
pub async fn pretty(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let wanted = req.uri().query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "_pretty" && v == "true")
    });
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/fhir+json"));
    if !wanted || !is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error(
            500,
            IssueCode::Exception,
            "the response could not be read back for _pretty",
        );
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => serde_json::to_vec_pretty(&v)
            .map(Bytes::from)
            .unwrap_or(bytes),
        Err(_) => bytes,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
