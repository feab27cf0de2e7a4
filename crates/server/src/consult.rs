//! The urgent consult as HTTP (see `kizuna_records::consult`), operations on `Task`:
//!
//! - `POST Task/$consult`: a `Parameters` body with `patient`, `team` (the specialist
//!   institution's code), `reason`, and optionally `study` (an ImagingStudy id),
//!   `lastKnownWell` and `arrival` (dateTimes): opens the consult, shares it, the patient and
//!   the study with the team, and answers the `Task` (201).
//! - `POST Task/{id}/$consult-message`: `text` and any number of `image`s (ImagingStudy/… or a
//!   DICOMweb URL): the `Communication` (201).
//! - `POST Task/{id}/$consult-milestone`: `milestone` (arrival, ct-done, images-shared,
//!   specialist-viewing, decision, needle, transfer), optionally `time`, and for a decision
//!   `decision` (thrombolysis, transfer, none): the `Task` now.
//! - `POST Task/{id}/$consult-abroad`: `partner` (an institution's code) and an English `reason`:
//!   the study shared de-identified (PS3.15 Basic Profile) under a pseudonym, with a consult of
//!   the partner's own; the re-identification map stays with the requester (201, the partner's
//!   `Task`).
//! - `GET Task/{id}/$consult-report`: the consult's times and door-to-decision and
//!   door-to-needle minutes (`Parameters`).
//! - `GET Task/$consult-report?from=&to=`: every consult the caller took part in, as
//!   `Parameters` (one `consult` part each), or CSV for quality review (`_format=csv` or
//!   `Accept: text/csv`).

// Early returns carry an axum Response, answered at once and never stored (as in `api`).
#![allow(clippy::result_large_err)]

use crate::ReqState;
use crate::reply::{error, failure, json_response};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kizuna_fhir::IssueCode;
use kizuna_records::consult::{Milestone, Opening, Report};
use serde_json::{Value, json};

/// Type-level operations (`Task/$…`).
pub(crate) const TYPE_OPERATIONS: &[&str] = &["$consult", "$consult-report"];
/// Instance operations (`Task/{id}/$…`).
pub(crate) const OPERATIONS: &[&str] = &[
    "$consult-message",
    "$consult-milestone",
    "$consult-report",
    "$consult-abroad",
];

/// The values of a `Parameters` body, by name, in order.
async fn parameters(state: &ReqState, body: Body) -> Result<Vec<(String, String)>, Response> {
    let limit = state.config.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| error(413, IssueCode::TooLong, "the body is too large"))?;
    let v = kizuna_fhir::json::parse(&bytes).map_err(|e| {
        error(
            400,
            IssueCode::Structure,
            format!("the body is not FHIR JSON: {e}"),
        )
    })?;
    if v["resourceType"] != "Parameters" {
        return Err(error(
            400,
            IssueCode::Structure,
            "the body is a Parameters resource",
        ));
    }
    let mut out = Vec::new();
    for (n, p) in v["parameter"].as_array().into_iter().flatten().enumerate() {
        let Some(name) = p["name"].as_str() else {
            return Err(error(
                400,
                IssueCode::Required,
                format!("Parameters.parameter[{n}] has no name"),
            ));
        };
        let value = [
            "valueString",
            "valueCode",
            "valueDateTime",
            "valueId",
            "valueUri",
            "valueUrl",
        ]
        .iter()
        .find_map(|k| p[*k].as_str())
        .or_else(|| p["valueReference"]["reference"].as_str());
        let Some(value) = value else {
            return Err(error(
                400,
                IssueCode::Value,
                format!("Parameters.parameter[{n}] ({name}) has no value this operation reads"),
            ));
        };
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

fn one<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn created(v: &Value) -> Response {
    json_response(StatusCode::CREATED, Bytes::from(v.to_string()))
}

/// `Task/$consult` and `Task/$consult-report`.
pub(crate) async fn type_operation(
    state: &ReqState,
    what: &str,
    method: &Method,
    headers: &HeaderMap,
    query: Vec<(String, String)>,
    body: Body,
) -> Response {
    match (what, method.as_str()) {
        ("$consult", "POST") => {
            let p = match parameters(state, body).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            let Some(patient) = one(&p, "patient") else {
                return error(
                    400,
                    IssueCode::Required,
                    "a consult names its patient (patient)",
                );
            };
            let Some(team) = one(&p, "team") else {
                return error(
                    400,
                    IssueCode::Required,
                    "a consult names the specialist team's institution (team)",
                );
            };
            let opening = Opening {
                patient: patient.trim_start_matches("Patient/").to_string(),
                study: one(&p, "study").map(|s| s.trim_start_matches("ImagingStudy/").to_string()),
                team: team.to_string(),
                reason: one(&p, "reason").unwrap_or_default().to_string(),
                last_known_well: one(&p, "lastKnownWell").map(String::from),
                arrival: one(&p, "arrival").map(String::from),
            };
            match state.records.open_consult(opening).await {
                Ok(task) => created(&task),
                Err(f) => failure(f),
            }
        }
        ("$consult-report", "GET") => {
            let from = query
                .iter()
                .find(|(k, _)| k == "from")
                .map(|(_, v)| v.as_str());
            let to = query
                .iter()
                .find(|(k, _)| k == "to")
                .map(|(_, v)| v.as_str());
            let reports = match state.records.consult_reports(from, to).await {
                Ok(r) => r,
                Err(f) => return failure(f),
            };
            let csv = query.iter().any(|(k, v)| k == "_format" && v == "csv")
                || headers
                    .get(header::ACCEPT)
                    .and_then(|h| h.to_str().ok())
                    .is_some_and(|a| a.contains("text/csv"));
            if csv {
                let mut out = Report::csv_header();
                out.push('\n');
                for r in &reports {
                    out.push_str(&r.csv_row());
                    out.push('\n');
                }
                let mut resp = (StatusCode::OK, out).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                );
                return resp;
            }
            let parts: Vec<Value> = reports
                .iter()
                .map(|r| json!({"name": "consult", "part": r.parameters()["parameter"].clone()}))
                .collect();
            json_response(
                StatusCode::OK,
                Bytes::from(json!({"resourceType": "Parameters", "parameter": parts}).to_string()),
            )
        }
        (op, m) => crate::api::not_allowed(
            &Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET),
            &format!("Task/{op}"),
            if op == "$consult" { "POST" } else { "GET" },
        ),
    }
}

/// `Task/{id}/$consult-message`, `$consult-milestone` and `$consult-report`.
pub(crate) async fn operation(
    state: &ReqState,
    id: &str,
    what: &str,
    method: &Method,
    body: Body,
) -> Response {
    match (what, method.as_str()) {
        ("$consult-message", "POST") => {
            let p = match parameters(state, body).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            let images: Vec<String> = p
                .iter()
                .filter(|(k, _)| k == "image")
                .map(|(_, v)| v.clone())
                .collect();
            match state
                .records
                .consult_message(id, one(&p, "text").unwrap_or_default(), &images)
                .await
            {
                Ok(c) => created(&c),
                Err(f) => failure(f),
            }
        }
        ("$consult-milestone", "POST") => {
            let p = match parameters(state, body).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            let Some(m) = one(&p, "milestone") else {
                return error(
                    400,
                    IssueCode::Required,
                    "name the milestone (arrival, ct-done, images-shared, specialist-viewing, decision, needle, transfer)",
                );
            };
            let Some(milestone) = Milestone::parse(m) else {
                return error(
                    400,
                    IssueCode::Value,
                    format!(
                        "'{m}' is not a milestone (arrival, ct-done, images-shared, specialist-viewing, decision, needle, transfer)"
                    ),
                );
            };
            match state
                .records
                .consult_milestone(id, milestone, one(&p, "time"), one(&p, "decision"))
                .await
            {
                Ok(t) => json_response(StatusCode::OK, Bytes::from(t.to_string())),
                Err(f) => failure(f),
            }
        }
        ("$consult-abroad", "POST") => {
            let p = match parameters(state, body).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            let Some(partner) = one(&p, "partner") else {
                return error(
                    400,
                    IssueCode::Required,
                    "name the partner institution (partner)",
                );
            };
            let Some(blobs) = state.config.images.clone() else {
                return error(
                    503,
                    IssueCode::NotSupported,
                    "this server keeps no images; start kizuna serve with --images",
                );
            };
            match state
                .records
                .consult_abroad(id, partner, one(&p, "reason"), &blobs)
                .await
            {
                Ok(t) => created(&t),
                Err(f) => failure(f),
            }
        }
        ("$consult-report", "GET") => match state.records.consult_report(id).await {
            Ok(r) => json_response(StatusCode::OK, Bytes::from(r.parameters().to_string())),
            Err(f) => failure(f),
        },
        (op, _) => crate::api::not_allowed(
            method,
            &format!("Task/{id}/{op}"),
            if op == "$consult-report" {
                "GET"
            } else {
                "POST"
            },
        ),
    }
}
