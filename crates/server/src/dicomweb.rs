//! DICOMweb (PS3.18) under `/dicomweb`: the images of the records the caller may see.
//!
//! - STOW-RS: `POST /dicomweb/studies[/{study}]`, a `multipart/related; type="application/dicom"`
//!   body read part by part as it arrives (each part up to `--max-body-mb`; the body as a whole
//!   is not limited), kept in batches; the answer lists what was kept and what was refused
//!   with its DICOM failure reason (200 all kept, 202 some, 409 none).
//! - QIDO-RS: `GET /dicomweb/studies`, `/studies/{study}/series`, `/series`,
//!   `/studies/{study}/instances`, `/studies/{study}/series/{series}/instances`, `/instances`.
//! - WADO-RS: a study, series or instance as `multipart/related; type="application/dicom"`
//!   (the files as received, streamed), their `metadata` (DICOM JSON), an instance's `frames/{list}`
//!   (as stored, or decoded when the client asks for `application/octet-stream`), its
//!   `bulkdata/{tag}`, and `rendered` and `thumbnail` images (JPEG or PNG; `window`,
//!   `viewport`, `quality`) at every level.
//!
//! Every answer is audited as concerning the studies' `ImagingStudy` resources and their
//! patients ([`crate::documents::Concerns`]); what a caller may not see is answered as not
//! found.

// Early returns carry an axum Response, answered at once and never stored (as in `api`).
#![allow(clippy::result_large_err)]

use crate::documents::Concerns;
use crate::reply::{error, failure};
use crate::{AppState, Ctx, ReqState};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use kizuna_blobs::Blobs;
use kizuna_fhir::IssueCode;
use kizuna_records::imaging::{Refusal, Stored, qido};
use kizuna_store::imaging::{Column, Found, ImageQuery, Level, Test};
use serde_json::{Value, json};
use std::sync::Arc;

const DICOM_JSON: &str = "application/dicom+json";
/// Objects kept together in one store batch while a STOW-RS body is read.
const BATCH_OBJECTS: usize = 16;
const BATCH_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    const STUDY: &str = "/studies/{study}";
    const SERIES: &str = "/studies/{study}/series/{series}";
    const INSTANCE: &str = "/studies/{study}/series/{series}/instances/{sop}";
    const FRAMES: &str = "/studies/{study}/series/{series}/instances/{sop}/frames/{frames}";
    let mut r = Router::new()
        .route("/studies", get(studies).post(stow))
        .route("/series", get(all_series))
        .route("/instances", get(all_instances))
        .route(STUDY, get(wado).post(stow_study))
        .route("/studies/{study}/series", get(study_series))
        .route("/studies/{study}/instances", get(study_instances))
        .route(SERIES, get(wado))
        .route(&format!("{SERIES}/instances"), get(series_instances))
        .route(INSTANCE, get(wado))
        .route(FRAMES, get(frames))
        .route(&format!("{INSTANCE}/bulkdata/{{tag}}"), get(bulkdata));
    // Metadata at every level; rendered images and thumbnails at every level and per frame.
    for level in [STUDY, SERIES, INSTANCE] {
        r = r.route(&format!("{level}/metadata"), get(wado_metadata));
    }
    for level in [STUDY, SERIES, INSTANCE, FRAMES] {
        r = r
            .route(&format!("{level}/rendered"), get(wado_rendered))
            .route(&format!("{level}/thumbnail"), get(wado_thumbnail));
    }
    r.fallback(not_found)
}

/// The UIDs (and frames) a WADO-RS path names, by their names in the route.
type Named = Path<std::collections::HashMap<String, String>>;

fn named_part<'a>(p: &'a std::collections::HashMap<String, String>, key: &str) -> Option<&'a str> {
    p.get(key).map(String::as_str)
}

async fn not_found() -> Response {
    error(
        404,
        IssueCode::NotFound,
        "no such DICOMweb resource; see PS3.18 (studies, series, instances, metadata, frames, rendered, thumbnail)",
    )
}

/// The DICOMweb root as clients see it (the FHIR base's sibling).
fn base(state: &ReqState) -> String {
    let fhir = state.config.base_url.trim_end_matches('/');
    format!("{}/dicomweb", fhir.strip_suffix("/fhir").unwrap_or(fhir))
}

fn blobs(state: &ReqState) -> Result<Blobs, Response> {
    state.config.images.clone().ok_or_else(|| {
        error(
            503,
            IssueCode::NotSupported,
            "this server keeps no images; start kizuna serve with --images DIR (or s3://bucket)",
        )
    })
}

fn params(q: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The audit's view of an answer: the studies it concerned and their patients.
fn concerns(found: &[Found]) -> Concerns {
    let mut seen = std::collections::BTreeSet::new();
    let entries: Vec<Value> = found
        .iter()
        .filter(|f| seen.insert(f.study_res.clone()))
        .map(|f| {
            json!({"resource": {
                "resourceType": "ImagingStudy",
                "id": f.study_res,
                "subject": {"reference": format!("Patient/{}", f.patient)},
            }})
        })
        .collect();
    Concerns(json!({"resourceType": "Bundle", "entry": entries}))
}

fn with_concerns(mut r: Response, found: &[Found]) -> Response {
    r.extensions_mut().insert(concerns(found));
    r
}

fn dicom_json(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, serde_json::to_vec(v).unwrap_or_default()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(DICOM_JSON));
    r
}

fn accepts(headers: &HeaderMap, any_of: &[&str]) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|a| {
        let a = a.trim().to_ascii_lowercase();
        a.starts_with("*/*") || any_of.iter().any(|t| a.starts_with(t))
    })
}

fn not_acceptable(what: &str) -> Response {
    error(
        406,
        IssueCode::NotSupported,
        format!("this resource is given as {what}"),
    )
}

// --- QIDO-RS --------------------------------------------------------------------------------

async fn studies(Ctx(s): Ctx, RawQuery(q): RawQuery) -> Response {
    search(&s, Level::Study, None, None, &q).await
}
async fn all_series(Ctx(s): Ctx, RawQuery(q): RawQuery) -> Response {
    search(&s, Level::Series, None, None, &q).await
}
async fn all_instances(Ctx(s): Ctx, RawQuery(q): RawQuery) -> Response {
    search(&s, Level::Instance, None, None, &q).await
}
async fn study_series(Ctx(s): Ctx, Path(study): Path<String>, RawQuery(q): RawQuery) -> Response {
    search(&s, Level::Series, Some(&study), None, &q).await
}
async fn study_instances(
    Ctx(s): Ctx,
    Path(study): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    search(&s, Level::Instance, Some(&study), None, &q).await
}
async fn series_instances(
    Ctx(s): Ctx,
    Path((study, series)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    search(&s, Level::Instance, Some(&study), Some(&series), &q).await
}

async fn search(
    state: &ReqState,
    level: Level,
    study: Option<&str>,
    series: Option<&str>,
    q: &Option<String>,
) -> Response {
    let parsed = match qido::parse(level, study, series, &params(q)) {
        Ok(p) => p,
        Err(f) => return failure(f),
    };
    // One more than the page, to know whether more follow.
    let mut query = parsed.query.clone();
    query.limit = query.limit.map(|l| l + 1);
    let mut found = match state.records.find_images(query).await {
        Ok(f) => f,
        Err(f) => return failure(f),
    };
    let more = parsed.query.limit.is_some_and(|l| found.len() > l);
    if let Some(l) = parsed.query.limit {
        found.truncate(l);
    }
    let base = base(state);
    let answers: Vec<Value> = found
        .iter()
        .map(|f| qido::answer(f, &parsed, &base))
        .collect();
    let mut r = dicom_json(StatusCode::OK, &Value::Array(answers));
    if !parsed.ignored.is_empty() {
        let text = format!(
            "299 kizuna \"not matched on (not indexed): {}\"",
            parsed.ignored.join(", ").replace('"', "")
        );
        if let Ok(h) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, h);
        }
    }
    if more {
        r.headers_mut().append(
            header::WARNING,
            HeaderValue::from_static(
                "299 kizuna \"There are additional results that can be requested\"",
            ),
        );
    }
    with_concerns(r, &found)
}

// --- WADO-RS --------------------------------------------------------------------------------

/// The instances a path names that the caller may see; 404 if none.
async fn named(
    state: &ReqState,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
    with_attrs: bool,
) -> Result<Vec<Found>, Response> {
    let mut filters = vec![(Column::StudyUid, Test::AnyOf(vec![study.into()]))];
    if let Some(s) = series {
        filters.push((Column::SeriesUid, Test::AnyOf(vec![s.into()])));
    }
    if let Some(s) = sop {
        filters.push((Column::SopUid, Test::AnyOf(vec![s.into()])));
    }
    let found = state
        .records
        .find_images(ImageQuery {
            level: Level::Instance,
            filters,
            offset: 0,
            limit: None,
            with_attrs,
            access: None,
        })
        .await
        .map_err(failure)?;
    if found.is_empty() {
        return Err(failure(kizuna_records::imaging::not_found_study()));
    }
    // A consult's team looking at its study for the first time stamps "specialist viewing".
    let mut studies: Vec<&str> = found.iter().map(|f| f.study_res.as_str()).collect();
    studies.dedup();
    for s in studies {
        viewed(state, s).await?;
    }
    Ok(found)
}

/// Stamps `specialist-viewing` on the consults showing study `study_res` to the caller as their
/// team, each write audited before it runs and after, like any other.
async fn viewed(state: &ReqState, study_res: &str) -> Result<(), Response> {
    let ids = state
        .records
        .consults_unviewed(study_res)
        .await
        .map_err(failure)?;
    for id in ids {
        let mut event = kizuna_access::audit::Event {
            action: "U",
            subtype: "operation:$consult-milestone".into(),
            request: format!(
                "(first view of ImagingStudy/{study_res}) Task/{id}/$consult-milestone"
            ),
            entities: vec![format!("Task/{id}"), format!("ImagingStudy/{study_res}")],
            started: true,
            ..Default::default()
        };
        if state.net.audit(&state.caller, &event).await.is_err() {
            return Err(error(
                503,
                IssueCode::Exception,
                "the access could not be recorded in the audit log, so it is not answered; try again later",
            ));
        }
        let r = state
            .records
            .consult_milestone(
                &id,
                kizuna_records::consult::Milestone::SpecialistViewing,
                None,
                None,
            )
            .await;
        event.started = false;
        event.status = if r.is_ok() { 200 } else { 500 };
        if let Err(f) = &r {
            tracing::warn!(
                status = f.status,
                "a consult's viewing could not be stamped"
            );
        }
        if state.net.audit(&state.caller, &event).await.is_err() {
            return Err(error(
                503,
                IssueCode::Exception,
                "the access could not be recorded in the audit log, so it is not answered; try again later",
            ));
        }
    }
    Ok(())
}

async fn wado(Ctx(s): Ctx, Path(p): Named, headers: HeaderMap) -> Response {
    let study = named_part(&p, "study").unwrap_or_default();
    retrieve(
        &s,
        &headers,
        study,
        named_part(&p, "series"),
        named_part(&p, "sop"),
    )
    .await
}

/// The files as received, one part each, streamed from object storage.
async fn retrieve(
    state: &ReqState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
) -> Response {
    if !accepts(headers, &["multipart/related", "application/dicom"]) {
        return not_acceptable("multipart/related; type=\"application/dicom\"");
    }
    let blobs = match blobs(state) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let found = match named(state, study, series, sop, false).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let keys: Vec<String> = found.iter().map(|f| f.blob.clone()).collect();
    let end = Bytes::from(format!("--{boundary}--\r\n"));
    let b = boundary.clone();
    let parts = futures::stream::iter(keys)
        .then(move |key| {
            let (blobs, b) = (blobs.clone(), b.clone());
            async move {
                let bytes = blobs.get(&key).await.map_err(|e| {
                    tracing::error!(error = %e, "a kept image could not be read from object storage");
                    std::io::Error::other("a kept image could not be read")
                })?;
                let head = Bytes::from(part_head(&b, "application/dicom", bytes.len()));
                Ok::<_, std::io::Error>(futures::stream::iter([
                    Ok(head),
                    Ok(bytes),
                    Ok(Bytes::from_static(b"\r\n")),
                ]))
            }
        })
        .map(|r| match r {
            Ok(s) => s.left_stream(),
            Err(e) => futures::stream::iter([Err(e)]).right_stream(),
        })
        .flatten()
        .chain(futures::stream::iter([Ok(end)]));
    let mut r = Response::new(Body::from_stream(parts));
    if let Ok(h) = HeaderValue::from_str(&format!(
        "multipart/related; type=\"application/dicom\"; boundary={boundary}"
    )) {
        r.headers_mut().insert(header::CONTENT_TYPE, h);
    }
    with_concerns(r, &found)
}

async fn wado_metadata(Ctx(s): Ctx, Path(p): Named, headers: HeaderMap) -> Response {
    let study = named_part(&p, "study").unwrap_or_default();
    metadata(
        &s,
        &headers,
        study,
        named_part(&p, "series"),
        named_part(&p, "sop"),
    )
    .await
}

async fn metadata(
    state: &ReqState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    sop: Option<&str>,
) -> Response {
    if !accepts(headers, &[DICOM_JSON, "application/json"]) {
        return not_acceptable(DICOM_JSON);
    }
    let found = match named(state, study, series, sop, true).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let base = base(state);
    let list: Vec<Value> = found
        .iter()
        .map(|f| {
            let url = format!(
                "{base}/studies/{}/series/{}/instances/{}",
                f.study_uid, f.series_uid, f.sop_uid
            );
            qido::metadata(&f.attrs, &url)
        })
        .collect();
    with_concerns(dicom_json(StatusCode::OK, &Value::Array(list)), &found)
}

/// One kept object, read and parsed (off the async threads).
async fn parsed(state: &ReqState, f: &Found) -> Result<Arc<kizuna_dicom::Instance>, Response> {
    let blobs = blobs(state)?;
    let bytes = blobs.get(&f.blob).await.map_err(|e| {
        tracing::error!(error = %e, "a kept image could not be read from object storage");
        error(
            503,
            IssueCode::Exception,
            "the image could not be read from object storage; try again later",
        )
    })?;
    tokio::task::spawn_blocking(move || kizuna_dicom::Instance::parse(&bytes))
        .await
        .map_err(|_| error(500, IssueCode::Exception, "the image could not be read"))?
        .map(Arc::new)
        .map_err(|e| {
            error(
                500,
                IssueCode::Exception,
                format!("a kept image cannot be read: {e}"),
            )
        })
}

fn frame_list(s: &str) -> Result<Vec<u32>, Response> {
    s.split(',')
        .map(|n| {
            n.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    error(
                        400,
                        IssueCode::Value,
                        format!("'{n}' is not a frame number (frames count from 1)"),
                    )
                })
        })
        .collect()
}

/// The delimiter and headers of one part of a multipart/related answer.
fn part_head(boundary: &str, media: &str, len: usize) -> String {
    format!("--{boundary}\r\nContent-Type: {media}\r\nContent-Length: {len}\r\n\r\n")
}

fn multipart(parts: Vec<(Vec<u8>, &str)>, kind: &str) -> Response {
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let mut body = Vec::new();
    for (bytes, media) in &parts {
        body.extend_from_slice(part_head(&boundary, media, bytes.len()).as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut r = (StatusCode::OK, body).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!(
        "multipart/related; type=\"{kind}\"; boundary={boundary}"
    )) {
        r.headers_mut().insert(header::CONTENT_TYPE, h);
    }
    r
}

async fn frames(
    Ctx(s): Ctx,
    Path((study, series, sop, list)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let numbers = match frame_list(&list) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let found = match named(&s, &study, Some(&series), Some(&sop), false).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let stored_type = kizuna_dicom::media_type_of(&found[0].transfer_syntax);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    // As stored when the client takes that (or anything); else decoded samples.
    let as_stored = stored_type == "application/octet-stream"
        || accept.contains(stored_type)
        || accept.contains("type=\"*/*\"")
        || accept.contains("type=*/*");
    let instance = match parsed(&s, &found[0]).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let work = tokio::task::spawn_blocking(move || {
        numbers
            .iter()
            .map(|n| {
                if as_stored {
                    instance.stored_frame(*n)
                } else {
                    instance.decoded_frame(*n)
                }
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let frames = match work.await {
        Ok(Ok(f)) => f,
        Ok(Err(e @ kizuna_dicom::Error::NoFrame { .. })) => {
            return error(404, IssueCode::NotFound, e.to_string());
        }
        Ok(Err(e)) => return error(422, IssueCode::Processing, e.to_string()),
        Err(_) => return error(500, IssueCode::Exception, "the frames could not be read"),
    };
    let kind = frames
        .first()
        .map_or("application/octet-stream", |f| f.media_type);
    let parts = frames
        .into_iter()
        .map(|f| (f.bytes, f.media_type))
        .collect();
    with_concerns(multipart(parts, kind), &found)
}

async fn bulkdata(
    Ctx(s): Ctx,
    Path((study, series, sop, tag)): Path<(String, String, String, String)>,
) -> Response {
    let found = match named(&s, &study, Some(&series), Some(&sop), false).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let instance = match parsed(&s, &found[0]).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let work = tokio::task::spawn_blocking(move || instance.bulk(&tag));
    match work.await {
        Ok(Some((bytes, media))) => with_concerns(multipart(vec![(bytes, media)], media), &found),
        Ok(None) => error(
            404,
            IssueCode::NotFound,
            "the instance has no such bulk data",
        ),
        Err(_) => error(500, IssueCode::Exception, "the bulk data could not be read"),
    }
}

// --- Rendered -------------------------------------------------------------------------------

async fn wado_rendered(
    Ctx(s): Ctx,
    Path(p): Named,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    rendered(&s, &headers, &q, &p, false).await
}

async fn wado_thumbnail(
    Ctx(s): Ctx,
    Path(p): Named,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    rendered(&s, &headers, &q, &p, true).await
}

/// How an image is to be rendered, from the request's parameters and Accept.
fn render_options(
    headers: &HeaderMap,
    q: &Option<String>,
    thumbnail: bool,
) -> Result<kizuna_dicom::Render, Response> {
    let mut r = kizuna_dicom::Render::default();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("image/jpeg")
        .to_ascii_lowercase();
    let png = accept.contains("image/png")
        && !(accept.contains("image/jpeg") && accept.find("image/jpeg") < accept.find("image/png"));
    if !png && !accepts(headers, &["image/jpeg", "image/*"]) {
        return Err(not_acceptable("image/jpeg or image/png"));
    }
    let mut quality = 90u8;
    if thumbnail {
        r.viewport = Some((128, 128));
        quality = 80;
    }
    let numbers = |name: &str, v: &str| -> Result<Vec<f64>, Response> {
        v.split(',')
            .take(2)
            .map(|x| {
                x.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| {
                        error(
                            400,
                            IssueCode::Value,
                            format!("{name} takes numbers separated by commas, not '{v}'"),
                        )
                    })
            })
            .collect()
    };
    for (name, value) in params(q) {
        match name.as_str() {
            "window" => {
                let n = numbers("window", &value)?;
                let [center, width] = n[..] else {
                    return Err(error(
                        400,
                        IssueCode::Value,
                        "window is center,width[,function]",
                    ));
                };
                r.window = Some(kizuna_dicom::Window { center, width });
            }
            "viewport" => {
                let n = numbers("viewport", &value)?;
                let [w, h] = n[..] else {
                    return Err(error(
                        400,
                        IssueCode::Value,
                        "viewport is width,height in pixels",
                    ));
                };
                if !(1.0..=8192.0).contains(&w) || !(1.0..=8192.0).contains(&h) {
                    return Err(error(
                        400,
                        IssueCode::Value,
                        "a viewport is 1 to 8192 pixels each way",
                    ));
                }
                r.viewport = Some((w as u32, h as u32));
            }
            "quality" => {
                quality = value
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|q| (1..=100).contains(q))
                    .ok_or_else(|| {
                        error(
                            400,
                            IssueCode::Value,
                            format!("quality is 1 to 100, not '{value}'"),
                        )
                    })?;
            }
            "accept" | "annotation" | "charset" => {}
            other => {
                return Err(error(
                    400,
                    IssueCode::NotSupported,
                    format!(
                        "'{other}' is not a parameter of rendered images (window, viewport, quality)"
                    ),
                ));
            }
        }
    }
    r.format = if png {
        kizuna_dicom::Format::Png
    } else {
        kizuna_dicom::Format::Jpeg { quality }
    };
    Ok(r)
}

/// A rendered image of what the path `p` names (a study or series by its middle image).
async fn rendered(
    state: &ReqState,
    headers: &HeaderMap,
    q: &Option<String>,
    p: &std::collections::HashMap<String, String>,
    thumbnail: bool,
) -> Response {
    let study = named_part(p, "study").unwrap_or_default();
    let (series, sop, frames) = (
        named_part(p, "series"),
        named_part(p, "sop"),
        named_part(p, "frames"),
    );
    let mut options = match render_options(headers, q, thumbnail) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Some(list) = frames {
        match frame_list(list).map(|l| l[..].to_vec()) {
            Ok(l) if l.len() == 1 => options.frame = l[0],
            Ok(_) => {
                return error(
                    400,
                    IssueCode::NotSupported,
                    "one frame is rendered at a time",
                );
            }
            Err(r) => return r,
        }
    }
    let found = match named(state, study, series, sop, false).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    // A study or series is shown by its middle image (a CT's middle slice tells most).
    let pick = &found[if sop.is_some() { 0 } else { found.len() / 2 }];
    let instance = match parsed(state, pick).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let png = matches!(options.format, kizuna_dicom::Format::Png);
    let work = tokio::task::spawn_blocking(move || kizuna_dicom::render(&instance, &options));
    let image = match work.await {
        Ok(Ok(i)) => i,
        Ok(Err(e @ kizuna_dicom::Error::NoFrame { .. })) => {
            return error(404, IssueCode::NotFound, e.to_string());
        }
        Ok(Err(e)) => return error(422, IssueCode::Processing, e.to_string()),
        Err(_) => return error(500, IssueCode::Exception, "the image could not be rendered"),
    };
    let mut r = (StatusCode::OK, image).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if png { "image/png" } else { "image/jpeg" }),
    );
    with_concerns(r, std::slice::from_ref(pick))
}

// --- STOW-RS --------------------------------------------------------------------------------

async fn stow(Ctx(s): Ctx, req: Request) -> Response {
    store(&s, None, req).await
}
async fn stow_study(Ctx(s): Ctx, Path(study): Path<String>, req: Request) -> Response {
    store(&s, Some(&study), req).await
}

async fn store(state: &ReqState, study: Option<&str>, req: Request) -> Response {
    let blobs = match blobs(state) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mime: mime::Mime = match ctype.parse() {
        Ok(m) => m,
        Err(_) => {
            return error(
                415,
                IssueCode::NotSupported,
                "STOW-RS takes multipart/related; type=\"application/dicom\" with a boundary",
            );
        }
    };
    if mime.type_() != mime::MULTIPART || mime.subtype() != "related" {
        return error(
            415,
            IssueCode::NotSupported,
            format!(
                "STOW-RS takes multipart/related; type=\"application/dicom\", not '{}'",
                mime.essence_str()
            ),
        );
    }
    if let Some(t) = mime.get_param("type")
        && !t.as_str().eq_ignore_ascii_case("application/dicom")
    {
        return error(
            415,
            IssueCode::NotSupported,
            format!(
                "this server takes STOW-RS parts of type application/dicom (whole files), not '{t}'"
            ),
        );
    }
    let Some(boundary) = mime
        .get_param(mime::BOUNDARY)
        .map(|b| b.as_str().to_string())
    else {
        return error(
            400,
            IssueCode::Structure,
            "the multipart/related body has no boundary; give one in the Content-Type",
        );
    };
    let limit = state.config.max_body_bytes as u64;
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().per_field(limit));
    let mut parts = multer::Multipart::with_constraints(
        req.into_body().into_data_stream(),
        boundary,
        constraints,
    );
    let mut results: Vec<Stored> = Vec::new();
    let mut pending: Vec<Bytes> = Vec::new();
    let mut pending_bytes = 0usize;
    let mut read_error = None;
    loop {
        match parts.next_field().await {
            Ok(Some(field)) => {
                if let Some(ct) = field.content_type()
                    && ct.essence_str() != "application/dicom"
                {
                    results.push(Stored::Refused {
                        sop_class: None,
                        sop_uid: None,
                        why: Refusal::Unreadable,
                        message: format!(
                            "a part of type {} is not a DICOM file (application/dicom)",
                            ct.essence_str()
                        ),
                    });
                    continue;
                }
                match field.bytes().await {
                    Ok(b) => {
                        pending_bytes += b.len();
                        pending.push(b);
                    }
                    Err(e) => {
                        read_error = Some(stow_read_error(e, limit));
                        break;
                    }
                }
                if pending.len() >= BATCH_OBJECTS || pending_bytes >= BATCH_BYTES {
                    match state
                        .records
                        .store_images(&blobs, std::mem::take(&mut pending), study, false, None)
                        .await
                    {
                        Ok(r) => results.extend(r),
                        Err(f) => return failure(f),
                    }
                    pending_bytes = 0;
                }
            }
            Ok(None) => break,
            Err(e) => {
                read_error = Some(stow_read_error(e, limit));
                break;
            }
        }
    }
    if !pending.is_empty() {
        match state
            .records
            .store_images(&blobs, pending, study, false, None)
            .await
        {
            Ok(r) => results.extend(r),
            Err(f) => return failure(f),
        }
    }
    if results.is_empty() {
        return read_error.unwrap_or_else(|| {
            error(
                400,
                IssueCode::Structure,
                "the multipart/related body has no parts",
            )
        });
    }
    let touched: std::collections::BTreeSet<String> = results
        .iter()
        .filter_map(|r| match r {
            Stored::Kept(p) => Some(p.study_uid.clone()),
            _ => None,
        })
        .collect();
    if let Err(f) = state
        .records
        .refresh_studies(&touched.iter().cloned().collect::<Vec<_>>())
        .await
    {
        return failure(f);
    }
    stow_answer(state, study, &results, read_error.is_some())
}

fn stow_read_error(e: multer::Error, limit: u64) -> Response {
    match e {
        multer::Error::FieldSizeExceeded { .. } => error(
            413,
            IssueCode::TooLong,
            format!(
                "a part exceeds the limit of {limit} bytes per object (raise it with kizuna serve --max-body-mb)"
            ),
        ),
        e => error(
            400,
            IssueCode::Structure,
            format!("the multipart/related body cannot be read: {e}"),
        ),
    }
}

/// The STOW-RS answer (PS3.18 §10.5.3): what was kept, what was refused and why.
fn stow_answer(
    state: &ReqState,
    study: Option<&str>,
    results: &[Stored],
    cut_short: bool,
) -> Response {
    let base = base(state);
    let mut kept = Vec::new();
    let mut failed = Vec::new();
    let mut messages = std::collections::BTreeSet::new();
    let mut found = Vec::new();
    for r in results {
        match r {
            Stored::Kept(p) | Stored::AlreadyKept(p) => {
                kept.push(json!({
                    "00081150": {"vr": "UI", "Value": [p.sop_class]},
                    "00081155": {"vr": "UI", "Value": [p.sop_uid]},
                    "00081190": {"vr": "UR", "Value": [format!("{base}/studies/{}/series/{}/instances/{}", p.study_uid, p.series_uid, p.sop_uid)]},
                }));
                found.push(Found {
                    study_res: p.study_res.clone(),
                    patient: p.patient.clone(),
                    ..Default::default()
                });
            }
            Stored::Refused {
                sop_class,
                sop_uid,
                why,
                message,
            } => {
                let mut item = serde_json::Map::new();
                if let Some(c) = sop_class {
                    item.insert("00081150".into(), json!({"vr": "UI", "Value": [c]}));
                }
                if let Some(u) = sop_uid {
                    item.insert("00081155".into(), json!({"vr": "UI", "Value": [u]}));
                }
                item.insert(
                    "00081197".into(),
                    json!({"vr": "US", "Value": [why.status()]}),
                );
                failed.push(Value::Object(item));
                messages.insert(message.clone());
            }
        }
    }
    let mut body = serde_json::Map::new();
    if let Some(s) = study {
        body.insert(
            "00081190".into(),
            json!({"vr": "UR", "Value": [format!("{base}/studies/{s}")]}),
        );
    }
    if !failed.is_empty() {
        body.insert("00081198".into(), json!({"vr": "SQ", "Value": failed}));
    }
    if !kept.is_empty() {
        body.insert("00081199".into(), json!({"vr": "SQ", "Value": kept}));
    }
    let status = if failed.is_empty() && !cut_short {
        StatusCode::OK
    } else if kept.is_empty() {
        StatusCode::CONFLICT
    } else {
        StatusCode::ACCEPTED
    };
    let mut r = dicom_json(status, &Value::Object(body));
    if cut_short {
        messages
            .insert("the body was cut short; the parts after the last listed were not read".into());
    }
    for m in messages {
        if let Ok(h) =
            HeaderValue::from_str(&format!("299 kizuna \"{}\"", m.replace(['"', '\\'], "'")))
        {
            r.headers_mut().append(header::WARNING, h);
        }
    }
    with_concerns(r, &found)
}
