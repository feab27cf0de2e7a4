//! The FHIR RESTful API routes and their translation to `kizuna-records` interactions.

// Early returns carry an axum Response, which is returned to the client at once and never
// stored: boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use crate::reply::{error, failure, json_response, success};
use crate::{AppState, Ctx, ReqState};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use bytes::Bytes;
use kizuna_fhir::IssueCode;
use kizuna_records::{HistoryParams, Prefer, Records};
use serde_json::Value;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", any(system))
        .route("/metadata", any(metadata))
        .route("/_history", any(system_history))
        .route("/_search", any(system_search))
        .route("/{rtype}", any(type_level))
        .route("/{rtype}/_history", any(type_history))
        .route("/{rtype}/_search", any(type_search))
        .route("/{rtype}/{id}", any(instance))
        .route("/{rtype}/{id}/_history", any(instance_history))
        .route("/{rtype}/{id}/{what}", any(compartment))
        .route("/{rtype}/{id}/_history/{vid}", any(vread))
}

pub async fn not_found() -> Response {
    error(
        404,
        IssueCode::NotFound,
        "no such endpoint; the FHIR API is under /fhir (see /fhir/metadata)",
    )
}

pub(crate) fn not_allowed(method: &Method, what: &str, allowed: &str) -> Response {
    let mut r = error(
        405,
        IssueCode::NotSupported,
        format!("{method} is not allowed on {what}; allowed: {allowed}"),
    );
    if let Ok(h) = HeaderValue::from_str(allowed) {
        r.headers_mut().insert(header::ALLOW, h);
    }
    r
}

fn pairs(query: &Option<String>) -> Vec<(String, String)> {
    query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Content negotiation of the response: JSON only (`_format` or `Accept`).
fn negotiate(headers: &HeaderMap, query: &Option<String>) -> Result<(), Response> {
    for (k, v) in pairs(query) {
        if k == "_format"
            && !matches!(
                v.as_str(),
                "json" | "application/json" | "application/fhir+json" | "application/json+fhir"
            )
        {
            return Err(error(
                406,
                IssueCode::NotSupported,
                format!("_format={v} is not served; Kizuna speaks FHIR JSON (_format=json)"),
            ));
        }
    }
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|h| h.to_str().ok()) {
        let ok = accept.split(',').any(|part| {
            let t = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            matches!(
                t.as_str(),
                "" | "*/*"
                    | "application/*"
                    | "application/json"
                    | "application/fhir+json"
                    | "application/json+fhir"
                    | "text/html"
                    | "text/*"
            )
        });
        if !ok {
            return Err(error(
                406,
                IssueCode::NotSupported,
                format!("cannot answer in '{accept}'; Kizuna speaks application/fhir+json"),
            ));
        }
    }
    Ok(())
}

/// For endpoints that only read: GET or HEAD, answered in JSON.
fn read_only(
    method: &Method,
    headers: &HeaderMap,
    query: &Option<String>,
    what: &str,
) -> Result<(), Response> {
    if method != Method::GET && method != Method::HEAD {
        return Err(not_allowed(method, what, "GET"));
    }
    negotiate(headers, query)
}

/// The request body as JSON, after checking its content type and size.
async fn json_body(
    state: &ReqState,
    headers: &HeaderMap,
    body: Body,
    patch: bool,
) -> Result<Value, Response> {
    json_body_bytes(state, headers, body, patch)
        .await
        .map(|(v, _)| v)
}

/// The request body as JSON and as received.
async fn json_body_bytes(
    state: &ReqState,
    headers: &HeaderMap,
    body: Body,
    patch: bool,
) -> Result<(Value, Bytes), Response> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let accepted = if patch {
        mime == "application/json-patch+json"
    } else {
        matches!(
            mime.as_str(),
            "application/fhir+json" | "application/json" | "application/json+fhir"
        )
    };
    if !accepted {
        let expected = if patch {
            "application/json-patch+json (JSON Patch)"
        } else {
            "application/fhir+json"
        };
        let got = if ctype.is_empty() {
            "no Content-Type".to_string()
        } else {
            format!("'{ctype}'")
        };
        return Err(error(
            415,
            IssueCode::NotSupported,
            format!("the body must be {expected}; the request has {got}"),
        ));
    }
    let limit = state.config.max_body_bytes;
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        error(
            413,
            IssueCode::TooLong,
            format!("the request body exceeds the limit of {limit} bytes (raise it with kizuna serve --max-body-mb)"),
        )
    })?;
    let value = kizuna_fhir::json::parse(&bytes).map_err(|e| {
        error(
            400,
            IssueCode::Structure,
            format!("the body is not valid FHIR JSON: {e}"),
        )
    })?;
    Ok((value, bytes))
}

fn prefer(headers: &HeaderMap) -> Prefer {
    let p = headers
        .get("prefer")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if p.contains("return=minimal") {
        Prefer::Minimal
    } else if p.contains("return=OperationOutcome") {
        Prefer::OperationOutcome
    } else {
        Prefer::Representation
    }
}

fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Response> {
    match headers
        .get(header::IF_MATCH)
        .map(|h| h.to_str().unwrap_or(""))
    {
        None => Ok(None),
        Some(s) => kizuna_records::parse_etag(s).map(Some).ok_or_else(|| {
            error(
                400,
                IssueCode::Invalid,
                format!("If-Match: '{s}' is not a version ETag like W/\"3\""),
            )
        }),
    }
}

fn finish(
    result: kizuna_records::Result<kizuna_records::Reply>,
    state: &ReqState,
    prefer: Prefer,
) -> Response {
    match result {
        Ok(r) => success(r, &state.config.base_url, prefer),
        Err(f) => failure(f),
    }
}

pub async fn system(
    Ctx(state): Ctx,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    if let Err(r) = negotiate(&headers, &query) {
        return r;
    }
    match method {
        Method::POST => {
            let bundle = match json_body(&state, &headers, body, false).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            // The response is the response Bundle; Prefer applies to its entries.
            let result = state
                .records
                .bundle(bundle, &state.config.base_url, prefer(&headers))
                .await;
            finish(result, &state, Prefer::Representation)
        }
        Method::GET | Method::HEAD => search(&state, &headers, None, None, pairs(&query)).await,
        _ => not_allowed(
            &method,
            "the base URL",
            "GET (search), POST (batch or transaction Bundle)",
        ),
    }
}

async fn metadata(
    Ctx(state): Ctx,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(r) = read_only(&method, &headers, &query, "/metadata") {
        return r;
    }
    json_response(StatusCode::OK, state.capability.clone())
}

async fn history(
    state: &ReqState,
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
    rtype: Option<&str>,
    id: Option<&str>,
) -> Response {
    if let Err(r) = read_only(&method, &headers, &query, "_history") {
        return r;
    }
    let (params, warnings) = HistoryParams::from_pairs(&pairs(&query));
    let result = state
        .records
        .history(rtype, id, &params, &state.config.base_url)
        .await
        .map(|mut r| {
            r.issues.extend(warnings);
            r
        });
    finish(result, state, Prefer::Representation)
}

async fn system_history(
    Ctx(state): Ctx,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    history(&state, method, headers, query, None, None).await
}

async fn type_history(
    Ctx(state): Ctx,
    Path(rtype): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    history(&state, method, headers, query, Some(&rtype), None).await
}

async fn instance_history(
    Ctx(state): Ctx,
    Path((rtype, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    history(&state, method, headers, query, Some(&rtype), Some(&id)).await
}

async fn type_level(
    Ctx(state): Ctx,
    Path(rtype): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    if let Err(r) = negotiate(&headers, &query) {
        return r;
    }
    if !kizuna_fhir::r4().is_resource_type(&rtype) {
        return error(
            404,
            IssueCode::NotSupported,
            format!("'{rtype}' is not a FHIR R4 resource type"),
        );
    }
    let records: &Records = &state.records;
    let criteria = query.as_deref().map(strip_format).filter(|q| !q.is_empty());
    match method {
        Method::POST => {
            let (resource, raw) = match json_body_bytes(&state, &headers, body, false).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            if rtype == "Bundle" && Records::is_submission(&resource) {
                // A document (or JP-CLINS clinical information): kept as submitted and indexed.
                return finish(
                    records
                        .submit_document(&raw, &resource, &state.config.base_url)
                        .await,
                    &state,
                    prefer(&headers),
                );
            }
            let ine = headers.get("if-none-exist").and_then(|h| h.to_str().ok());
            finish(
                records.create(&rtype, resource, ine).await,
                &state,
                prefer(&headers),
            )
        }
        Method::PUT => {
            let Some(q) = criteria else {
                return error(
                    400,
                    IssueCode::Invalid,
                    format!("PUT needs {rtype}/[id], or {rtype}?criteria for a conditional update"),
                );
            };
            let resource = match json_body(&state, &headers, body, false).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let im = match if_match(&headers) {
                Ok(v) => v,
                Err(r) => return r,
            };
            finish(
                records.conditional_update(&rtype, &q, resource, im).await,
                &state,
                prefer(&headers),
            )
        }
        Method::DELETE => {
            let Some(q) = criteria else {
                return error(
                    400,
                    IssueCode::Invalid,
                    format!(
                        "DELETE needs {rtype}/[id], or {rtype}?criteria for a conditional delete"
                    ),
                );
            };
            finish(
                records.conditional_delete(&rtype, &q).await,
                &state,
                prefer(&headers),
            )
        }
        Method::GET | Method::HEAD => {
            search(&state, &headers, Some(rtype.clone()), None, pairs(&query)).await
        }
        _ => not_allowed(
            &method,
            &format!("[base]/{rtype}"),
            "GET, POST, PUT (conditional), DELETE (conditional)",
        ),
    }
}

/// `Prefer: handling=strict|lenient` (lenient unless asked).
fn handling(headers: &HeaderMap) -> kizuna_records::Handling {
    let strict = headers
        .get_all("prefer")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .any(|p| p.split([',', ';']).any(|x| x.trim() == "handling=strict"));
    if strict {
        kizuna_records::Handling::Strict
    } else {
        kizuna_records::Handling::Lenient
    }
}

async fn search(
    state: &ReqState,
    headers: &HeaderMap,
    rtype: Option<String>,
    patient: Option<String>,
    pairs: Vec<(String, String)>,
) -> Response {
    // A refused search of a patient's own measurements is audited as concerning the patient.
    let phr_patients = if rtype.as_deref() == Some("Observation")
        && kizuna_records::phr::search::is_phr_search(&pairs)
    {
        kizuna_records::phr::search::patients_named(&pairs, patient.as_deref())
    } else {
        Vec::new()
    };
    let req = kizuna_records::SearchRequest {
        rtype,
        patient,
        pairs,
        handling: handling(headers),
        base: state.config.base_url.clone(),
    };
    let mut r = finish(
        state.records.search(req).await,
        state,
        Prefer::Representation,
    );
    if !phr_patients.is_empty() && !r.status().is_success() {
        let entries: Vec<serde_json::Value> = phr_patients
            .iter()
            .map(|id| serde_json::json!({"resource": {"resourceType": "Patient", "id": id}}))
            .collect();
        r.extensions_mut().insert(crate::documents::Concerns(
            serde_json::json!({"resourceType": "Bundle", "entry": entries}),
        ));
    }
    r
}

/// `POST [base]/_search` and `POST [type]/_search`: the criteria in a form body (and the URL).
async fn post_search(
    state: &ReqState,
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
    rtype: Option<String>,
) -> Response {
    if let Err(r) = negotiate(&headers, &query) {
        return r;
    }
    if method != Method::POST {
        return not_allowed(&method, "_search", "POST (form-encoded search parameters)");
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let form = ctype.split(';').next().unwrap_or("").trim();
    if !form.eq_ignore_ascii_case("application/x-www-form-urlencoded") && !ctype.is_empty() {
        return error(
            415,
            IssueCode::NotSupported,
            format!(
                "POST _search takes application/x-www-form-urlencoded parameters; the request has '{ctype}'"
            ),
        );
    }
    let limit = state.config.max_body_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return error(
            413,
            IssueCode::TooLong,
            format!("the request body exceeds the limit of {limit} bytes"),
        );
    };
    let mut all = pairs(&query);
    all.extend(form_urlencoded::parse(&bytes).into_owned());
    if let Some(t) = &rtype
        && !kizuna_fhir::r4().is_resource_type(t)
    {
        return error(
            404,
            IssueCode::NotSupported,
            format!("'{t}' is not a FHIR R4 resource type"),
        );
    }
    search(state, &headers, rtype, None, all).await
}

async fn system_search(
    Ctx(state): Ctx,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    post_search(&state, method, headers, query, body, None).await
}

async fn type_search(
    Ctx(state): Ctx,
    Path(rtype): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    post_search(&state, method, headers, query, body, Some(rtype)).await
}

/// `GET Patient/{id}/[type]` (compartment search), `GET Patient/{id}/$everything` and
/// `[type]/{id}/$validate`.
async fn compartment(
    Ctx(state): Ctx,
    Path((rtype, id, what)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    if what == "$validate" {
        return validate(&state, &rtype, Some(&id), method, &headers, &query, body).await;
    }
    if rtype == "DocumentReference" && (what == "$document" || what == "$render") {
        return crate::documents::kept(&state, &id, &what, &method).await;
    }
    if rtype == "Task" && crate::consult::OPERATIONS.contains(&what.as_str()) {
        return crate::consult::operation(&state, &id, &what, &method, body).await;
    }
    if rtype == "Patient" && crate::phr::OPERATIONS.contains(&what.as_str()) {
        return crate::phr::operation(&state, &id, &what, &method, &headers, pairs(&query), body)
            .await;
    }
    if let Err(r) = read_only(&method, &headers, &query, "a compartment") {
        return r;
    }
    if rtype != "Patient" {
        return error(
            404,
            IssueCode::NotSupported,
            format!("compartments other than Patient's are not supported ({rtype}/{id}/{what})"),
        );
    }
    if what == "$summary" {
        // The IPS operation's `profile` parameter asks for the International Patient Summary.
        let form = match pairs(&query).iter().find(|(k, _)| k == "profile") {
            None => kizuna_documents::summary::Form::SixInformation,
            Some((_, p)) if p.split('|').next() == Some(kizuna_documents::summary::IPS_BUNDLE) => {
                kizuna_documents::summary::Form::Ips
            }
            Some((_, p)) => {
                return error(
                    400,
                    IssueCode::NotSupported,
                    format!(
                        "$summary makes the six information (no profile) or the International Patient Summary (profile={}), not {p}",
                        kizuna_documents::summary::IPS_BUNDLE
                    ),
                );
            }
        };
        let linked = match state.net.linked_patients(&id).await {
            Ok(l) => l,
            Err(f) => return crate::reply::failure(f),
        };
        let result = state
            .records
            .summary(&id, &linked, &state.config.base_url, form)
            .await;
        return finish(result, &state, Prefer::Representation);
    }
    if what == "$everything" {
        let result = state
            .records
            .everything(&id, &pairs(&query), &state.config.base_url)
            .await;
        return finish(result, &state, Prefer::Representation);
    }
    if !kizuna_fhir::r4().is_resource_type(&what) {
        return error(
            404,
            IssueCode::NotSupported,
            format!("'{what}' is not a FHIR R4 resource type or an operation of Patient"),
        );
    }
    search(&state, &headers, Some(what), Some(id), pairs(&query)).await
}

/// `POST [type]/$validate`, `POST|GET [type]/{id}/$validate`: the resource (or Parameters)
/// checked against the base specification and the installed profiles; `?profile=` names one.
async fn validate(
    state: &ReqState,
    rtype: &str,
    id: Option<&str>,
    method: Method,
    headers: &HeaderMap,
    query: &Option<String>,
    body: Body,
) -> Response {
    if let Err(r) = negotiate(headers, query) {
        return r;
    }
    let profile = pairs(query)
        .into_iter()
        .find(|(k, _)| k == "profile")
        .map(|(_, v)| v);
    let body = match method {
        Method::POST => match json_body(state, headers, body, false).await {
            Ok(v) => Some(v),
            Err(r) => return r,
        },
        Method::GET if id.is_some() => None,
        _ => {
            let allowed = if id.is_some() { "GET, POST" } else { "POST" };
            return not_allowed(&method, &format!("[base]/{rtype}/$validate"), allowed);
        }
    };
    finish(
        state.records.validate_op(rtype, id, body, profile).await,
        state,
        Prefer::Representation,
    )
}

/// The query without `_format`/`_pretty`, which concern the response only.
fn strip_format(q: &str) -> String {
    q.split('&')
        .filter(|p| !p.starts_with("_format=") && !p.starts_with("_pretty="))
        .collect::<Vec<_>>()
        .join("&")
}

async fn instance(
    Ctx(state): Ctx,
    Path((rtype, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    if id == "$validate" {
        return validate(&state, &rtype, None, method, &headers, &query, body).await;
    }
    if rtype == "Task" && crate::consult::TYPE_OPERATIONS.contains(&id.as_str()) {
        return crate::consult::type_operation(&state, &id, &method, &headers, pairs(&query), body)
            .await;
    }
    if let Err(r) = negotiate(&headers, &query) {
        return r;
    }
    let records = &state.records;
    let im = match if_match(&headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match method {
        Method::GET | Method::HEAD => finish(
            records.read(&rtype, &id).await,
            &state,
            Prefer::Representation,
        ),
        Method::PUT => match json_body(&state, &headers, body, false).await {
            Ok(resource) => finish(
                records.update(&rtype, &id, resource, im).await,
                &state,
                prefer(&headers),
            ),
            Err(r) => r,
        },
        Method::PATCH => match json_body(&state, &headers, body, true).await {
            Ok(patch) => finish(
                records.patch(&rtype, &id, patch, im).await,
                &state,
                prefer(&headers),
            ),
            Err(r) => r,
        },
        Method::DELETE => finish(
            records.delete(&rtype, &id, im).await,
            &state,
            prefer(&headers),
        ),
        _ => not_allowed(
            &method,
            &format!("[base]/{rtype}/{id}"),
            "GET, PUT, PATCH, DELETE",
        ),
    }
}

async fn vread(
    Ctx(state): Ctx,
    Path((rtype, id, vid)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(r) = read_only(&method, &headers, &query, "a version") {
        return r;
    }
    finish(
        state.records.vread(&rtype, &id, &vid).await,
        &state,
        Prefer::Representation,
    )
}
