//! Personal health records as HTTP, operations on a Patient:
//!
//! - `POST Patient/{id}/$phr-ingest`: a file or batch (Apple Health `export.xml`, a Fitbit CSV,
//!   Open mHealth data points, FHIR Observations: by `?format=`, else the Content-Type, else
//!   the first bytes), streamed into the time series; answers a `Parameters` summary (how many
//!   taken, new, replaced, already kept, refused per reason, the first refusals).
//! - `GET Patient/{id}/$phr-trend?code=&start=&end=&resolution=`: a measure per day, week or
//!   month (or as taken), as JSON, or as an SVG chart (`_format=svg` or `Accept: image/svg+xml`).
//! - `GET Patient/{id}/$phr-series`: what is kept (measure, source, how many, first and last).
//! - `GET Patient/{id}/$phr-observations?code=&date=&_count=`: the measurements as a Bundle of
//!   FHIR Observations, newest first.
//! - `POST Patient/{id}/$phr-share?institution=`, `$phr-revoke?institution=`, and
//!   `GET $phr-shares`: the patient's shares with institutions.
//!
//! Each answer is audited as concerning the Patient ([`crate::documents::Concerns`]).

// Early returns carry an axum Response, answered at once and never stored (as in `api`).
#![allow(clippy::result_large_err)]

use crate::ReqState;
use crate::reply::{error, failure, json_response};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::TryStreamExt;
use kizuna_fhir::IssueCode;
use kizuna_phr::Measure;
use kizuna_phr::import::{Format, Tally};
use kizuna_phr::trend::Resolution;
use serde_json::{Value, json};

/// The operations of this module.
pub(crate) const OPERATIONS: &[&str] = &[
    "$phr-ingest",
    "$phr-trend",
    "$phr-series",
    "$phr-observations",
    "$phr-share",
    "$phr-revoke",
    "$phr-shares",
];

/// The operations a patient's card may write through.
pub(crate) fn patient_writes(path: &str) -> bool {
    ["/$phr-ingest", "/$phr-share", "/$phr-revoke"]
        .iter()
        .any(|op| path.ends_with(op))
        && path.starts_with("/fhir/Patient/")
}

/// Japan's time, the default for dates without a zone.
fn japan() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Tokyo")
        .unwrap_or_else(|_| jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn concerning(mut r: Response, patient: &str) -> Response {
    r.extensions_mut().insert(crate::documents::Concerns(json!({
            "resourceType": "Patient", "id": patient})));
    r
}

fn ok_json(status: StatusCode, v: &Value, patient: &str) -> Response {
    concerning(
        json_response(
            status,
            Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        ),
        patient,
    )
}

/// A JSON answer that is not a FHIR resource (a trend, the kept series).
fn plain_json(v: &Value, patient: &str) -> Response {
    let mut r = ok_json(StatusCode::OK, v, patient);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Patient `patient` and the other Patients the patient index links to the same person: a
/// patient's measurements may have been brought under any of them.
async fn with_linked(state: &ReqState, patient: &str) -> Result<Vec<String>, Response> {
    let mut patients = vec![patient.to_string()];
    patients.extend(state.net.linked_patients(patient).await.map_err(failure)?);
    Ok(patients)
}

pub(crate) async fn operation(
    state: &ReqState,
    patient: &str,
    what: &str,
    method: &Method,
    headers: &HeaderMap,
    query: Vec<(String, String)>,
    body: Body,
) -> Response {
    let posts = matches!(what, "$phr-ingest" | "$phr-share" | "$phr-revoke");
    let allowed = if posts { "POST" } else { "GET" };
    let right = if posts {
        method == Method::POST
    } else {
        method == Method::GET || method == Method::HEAD
    };
    if !right {
        return crate::api::not_allowed(method, &format!("Patient/{patient}/{what}"), allowed);
    }
    let zone = match param(&query, "zone") {
        None => japan(),
        Some(z) => match jiff::tz::TimeZone::get(z) {
            Ok(tz) => tz,
            Err(_) => {
                return error(
                    400,
                    IssueCode::Invalid,
                    format!("zone: '{z}' is not a time zone name like Asia/Tokyo"),
                );
            }
        },
    };
    match what {
        "$phr-ingest" => ingest(state, patient, headers, &query, zone, body).await,
        "$phr-trend" => trend(state, patient, headers, &query, zone).await,
        "$phr-series" => series(state, patient).await,
        "$phr-observations" => observations(state, patient, &query).await,
        "$phr-share" | "$phr-revoke" => share(state, patient, what, &query).await,
        "$phr-shares" => match state.net.phr_shares(&state.caller, patient).await {
            Ok(list) => {
                let bundle = json!({"resourceType": "Bundle", "type": "searchset",
                    "total": list.len(),
                    "entry": list.into_iter().map(|c| json!({"resource": c})).collect::<Vec<_>>()});
                ok_json(StatusCode::OK, &bundle, patient)
            }
            Err(f) => failure(f),
        },
        _ => error(
            404,
            IssueCode::NotSupported,
            format!("Patient has no operation {what}"),
        ),
    }
}

async fn ingest(
    state: &ReqState,
    patient: &str,
    headers: &HeaderMap,
    query: &[(String, String)],
    zone: jiff::tz::TimeZone,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let reader = tokio_util::io::StreamReader::new(stream);
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, reader);
    let named = match param(query, "format") {
        Some(f) => match Format::parse(f) {
            Some(f) => Some(f),
            None => {
                return error(
                    400,
                    IssueCode::Invalid,
                    format!("format: '{f}' is not one of apple, fitbit, omh, fhir"),
                );
            }
        },
        None => None,
    };
    // Unnamed: the first bytes tell (more reliably than a Content-Type), else the Content-Type.
    let format = match named {
        Some(f) => f,
        None => {
            use tokio::io::AsyncBufReadExt;
            let head = match reader.fill_buf().await {
                Ok(h) => h.to_vec(),
                Err(e) => {
                    return error(
                        400,
                        IssueCode::Invalid,
                        format!("the body could not be read: {e}"),
                    );
                }
            };
            let by_type = match content_type.as_str() {
                "application/xml" | "text/xml" => Some(Format::AppleHealth),
                "text/csv" => Some(Format::Fitbit),
                "application/fhir+json" => Some(Format::Fhir),
                _ => None,
            };
            match Format::sniff(&head).or(by_type) {
                Some(f) => f,
                None => {
                    return error(
                        415,
                        IssueCode::NotSupported,
                        "the body is not an Apple Health export, a Fitbit CSV, Open mHealth data points or FHIR Observations; say which with ?format=apple|fitbit|omh|fhir",
                    );
                }
            }
        }
    };
    let source = param(query, "source").unwrap_or(match format {
        Format::AppleHealth | Format::Fitbit => "",
        _ => "app",
    });
    let sync = tokio_util::io::SyncIoBridge::new(reader);
    let input = std::io::BufReader::with_capacity(64 * 1024, sync);
    let now = jiff::Timestamp::now();
    match state
        .records
        .phr_import(patient, format, input, source, zone, now, |_| {})
        .await
    {
        // Not that format at all: nothing read, so an error rather than an empty summary.
        Ok(Tally {
            samples: 0,
            stopped: Some(why),
            ref rejected,
            ..
        }) if rejected.is_empty() => error(
            400,
            IssueCode::Invalid,
            format!("the body could not be read as {}: {why}", format.name()),
        ),
        Ok(t) => ok_json(StatusCode::OK, &summary(&t, format), patient),
        Err(f) => failure(f),
    }
}

/// An import's tally as `Parameters`.
fn summary(t: &Tally, format: Format) -> Value {
    let int = |name: &str, n: u64| json!({"name": name, "valueInteger": n});
    let mut ps = vec![
        json!({"name": "format", "valueString": format.name()}),
        int("samples", t.samples),
        int("added", t.added),
        int("replaced", t.replaced),
        int("unchanged", t.unchanged),
        int("rejected", t.rejected_total()),
    ];
    for (kind, n) in &t.rejected {
        ps.push(json!({"name": "rejected-by-reason", "part": [
            {"name": "reason", "valueString": kind}, int("count", *n)]}));
    }
    for p in &t.problems {
        ps.push(json!({"name": "problem", "part": [
            {"name": "at", "valueString": p.at},
            {"name": "reason", "valueString": p.reason.kind()},
            {"name": "detail", "valueString": p.reason.detail()}]}));
    }
    if let Some(s) = &t.stopped {
        ps.push(json!({"name": "stopped", "valueString": s}));
    }
    json!({"resourceType": "Parameters", "parameter": ps})
}

fn measure_param(query: &[(String, String)]) -> Result<Option<Measure>, Response> {
    let Some(code) = param(query, "code") else {
        return Ok(None);
    };
    match kizuna_records::phr::search::measures_of(code) {
        Ok(list) if list.len() == 1 => Ok(Some(list[0])),
        Ok(_) => Err(error(
            400,
            IssueCode::NotSupported,
            format!(
                "code: '{code}': a trend is of one measure (a blood pressure is of 8480-6 or 8462-4)"
            ),
        )),
        Err(f) => Err(failure(f)),
    }
}

async fn trend(
    state: &ReqState,
    patient: &str,
    headers: &HeaderMap,
    query: &[(String, String)],
    zone: jiff::tz::TimeZone,
) -> Response {
    let measure = match measure_param(query) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return error(
                400,
                IssueCode::Required,
                "code: which measure (a LOINC code, e.g. 29463-7 for body weight)",
            );
        }
        Err(r) => return r,
    };
    let resolution = match param(query, "resolution").map(Resolution::parse) {
        None => Resolution::Day,
        Some(Some(r)) => r,
        Some(None) => {
            return error(
                400,
                IssueCode::Invalid,
                "resolution: one of sample, day, week, month",
            );
        }
    };
    let today = jiff::Timestamp::now().to_zoned(zone.clone()).date();
    let date = |name: &str| -> Result<Option<jiff::civil::Date>, Response> {
        match param(query, name) {
            None => Ok(None),
            Some(t) => t
                .get(..10)
                .and_then(|d| d.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    error(
                        400,
                        IssueCode::Invalid,
                        format!("{name}: '{t}' is not a date like 2025-04-01"),
                    )
                }),
        }
    };
    let end = match date("end") {
        Ok(d) => d.unwrap_or(today),
        Err(r) => return r,
    };
    let back = match resolution {
        Resolution::Sample => jiff::Span::new().days(0),
        Resolution::Day => jiff::Span::new().days(29),
        Resolution::Week => jiff::Span::new().weeks(11),
        Resolution::Month => jiff::Span::new().months(11),
    };
    let start = match date("start") {
        Ok(d) => d.unwrap_or_else(|| end.checked_sub(back).unwrap_or(end)),
        Err(r) => return r,
    };
    let offset = zone.to_offset(jiff::Timestamp::now()).seconds();
    let patients = match with_linked(state, patient).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let t = match state
        .records
        .phr_trend(&patients, measure, resolution, (start, end), offset)
        .await
    {
        Ok(t) => t,
        Err(f) => return failure(f),
    };
    let svg_asked = param(query, "_format").is_some_and(|f| f == "svg" || f == "image/svg+xml")
        || headers
            .get(header::ACCEPT)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|a| a.contains("image/svg+xml"));
    if svg_asked {
        let points: Vec<kizuna_phr::chart::ChartPoint> = t
            .points
            .iter()
            .map(|p| (p.start, p.value, p.range))
            .collect();
        let title = format!(
            "{} {} ({} – {})",
            measure.name_ja(),
            measure.name(),
            start,
            end
        );
        let bucket_seconds = match resolution {
            Resolution::Sample => 60,
            Resolution::Day => 86_400,
            Resolution::Week => 7 * 86_400,
            Resolution::Month => 30 * 86_400,
        };
        return match kizuna_phr::chart::svg(&kizuna_phr::chart::Chart {
            title: &title,
            unit: measure.unit(),
            points: &points,
            offset_seconds: offset,
            bars: measure.cumulative() && resolution != Resolution::Sample,
            bucket_seconds,
        }) {
            Ok(svg) => {
                let mut r = (StatusCode::OK, svg).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("image/svg+xml; charset=utf-8"),
                );
                r.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
                );
                concerning(r, patient)
            }
            Err(e) => error(500, IssueCode::Exception, e),
        };
    }
    let points: Vec<Value> = t
        .points
        .iter()
        .map(|p| {
            let mut v = json!({
                "start": kizuna_phr::fhir::at_offset(p.start, p.offset_seconds),
                "count": p.count,
                "value": p.value,
            });
            if let Some((lo, hi)) = p.range {
                v["min"] = json!(lo);
                v["max"] = json!(hi);
            }
            v
        })
        .collect();
    let body = json!({
        "patient": patient,
        "code": format!("http://loinc.org|{}", measure.loinc()),
        "measure": measure.name(),
        "measure_ja": measure.name_ja(),
        "unit": measure.unit(),
        "figure": if measure.cumulative() { "sum" } else { "mean" },
        "resolution": resolution.as_str(),
        "start": start.to_string(),
        "end": end.to_string(),
        "sources": t.sources,
        "truncated": t.truncated,
        "points": points,
    });
    plain_json(&body, patient)
}

async fn series(state: &ReqState, patient: &str) -> Response {
    let patients = match with_linked(state, patient).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match state.records.phr_series(&patients, None).await {
        Ok(list) => {
            let at = |m: Option<i64>| {
                m.and_then(|m| jiff::Timestamp::from_microsecond(m).ok())
                    .map(|t| kizuna_phr::fhir::at_offset(t, 9 * 3600))
            };
            let items: Vec<Value> = list
                .iter()
                .map(|s| {
                    let m = kizuna_records::phr::measure_of(&s.code);
                    json!({"patient": s.patient, "code": s.code, "unit": s.unit,
                        "measure": m.map(|m| m.name()), "measure_ja": m.map(|m| m.name_ja()),
                        "source": s.source, "count": s.count,
                        "first": at(s.first), "last": at(s.last)})
                })
                .collect();
            plain_json(&json!({"patient": patient, "series": items}), patient)
        }
        Err(f) => failure(f),
    }
}

async fn observations(state: &ReqState, patient: &str, query: &[(String, String)]) -> Response {
    let patients = match with_linked(state, patient).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    // `zone` is taken by every operation here; dates carry their own offset (JST if none).
    let pairs: Vec<(String, String)> = query.iter().filter(|(k, _)| k != "zone").cloned().collect();
    let base = &state.config.base_url;
    let link_base = format!("{base}/Patient/{patient}/$phr-observations");
    match state
        .records
        .phr_observations(&patients, &pairs, &link_base, base)
        .await
    {
        Ok(reply) => concerning(
            crate::reply::success(reply, base, kizuna_records::Prefer::Representation),
            patient,
        ),
        Err(f) => failure(f),
    }
}

async fn share(
    state: &ReqState,
    patient: &str,
    what: &str,
    query: &[(String, String)],
) -> Response {
    let Some(code) = param(query, "institution") else {
        return error(
            400,
            IssueCode::Required,
            "institution: the 10-digit medical institution code to share with (or revoke from)",
        );
    };
    if what == "$phr-share" {
        match state.net.share_phr(&state.caller, patient, code).await {
            Ok((consent, new)) => ok_json(
                if new {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &consent,
                patient,
            ),
            Err(f) => failure(f),
        }
    } else {
        match state.net.revoke_phr(&state.caller, patient, code).await {
            Ok(n) => ok_json(
                StatusCode::OK,
                &json!({"resourceType": "Parameters", "parameter": [
                    {"name": "revoked", "valueInteger": n}]}),
                patient,
            ),
            Err(f) => failure(f),
        }
    }
}
