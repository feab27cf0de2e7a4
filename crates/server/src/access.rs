//! Who calls, what they may see, and the audit record of every request.
//!
//! Two layers wrap the FHIR routes:
//! - [`identify`] turns the authenticated certificate (see [`crate::tls`]) and the
//!   `Kizuna-Staff` / `Kizuna-Purpose` headers into a [`Caller`], computes the records the
//!   caller may see (`kizuna_access::Network::records_for`) and hands both to the handlers. A
//!   plain-HTTP request (no TLS configured: the node's own operator on this machine) is the node.
//! - [`audit`] (outermost) records every request as an AuditEvent once its answer is known:
//!   who, for what purpose, which resources and patients the answer concerns, the outcome. An
//!   answer whose audit entry cannot be written is not given (503): nothing is disclosed
//!   unaudited.
//!
//! The consent operations (`Consent/$challenge`, `$card`, `$spoken`, `$emergency`), the
//! patient's access log (`AuditEvent/$mine`) and an institution's emergency accesses for its
//! administrator (`AuditEvent/$emergencies`) are routed here too.

// Early returns carry an axum Response, answered at once and never stored (as in `api`).
#![allow(clippy::result_large_err)]

use crate::reply::{self, error, json_response};
use crate::tls;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use kizuna_access::audit::{Event, concerned};
use kizuna_access::consent::{CardAnswer, Granted, Setting};
use kizuna_access::{Agent, Caller, Network, PURPOSES};
use kizuna_fhir::IssueCode;
use kizuna_records::Records;
use kizuna_trust::pki::Holder;
use serde_json::{Value, json};
use std::sync::Arc;

/// The caller of a request, passed from [`identify`] back out to [`audit`] on the response.
#[derive(Clone)]
struct Identified(Caller);

/// The id [`audit`] gives a request, shared by its audit entries.
#[derive(Clone)]
struct RequestId(String);

/// Whether a request may write: its audit entry is written before it runs (see [`identify`]).
fn may_write(method: &Method, path: &str) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && !path.ends_with("/_search")
        && !path.ends_with("/$challenge")
}

/// Whether a path reaches records (the FHIR API and DICOMweb), so its caller is identified
/// and scoped, and its every answer audited.
fn has_records(path: &str) -> bool {
    path.starts_with("/fhir")
        || path == "/dicomweb"
        || path.starts_with("/dicomweb/")
        || kizuna_portal::reaches_records(path)
}

/// Puts the [`Caller`] and their [`Records`] on the request.
pub async fn identify(net: Arc<Network>, mut req: Request, next: Next) -> Response {
    if !has_records(req.uri().path()) {
        // The SMART token endpoint and discovery: no records behind them.
        return next.run(req).await;
    }
    let caller = match caller_of(&req) {
        Ok(c) => c,
        Err((caller, mut r)) => {
            if let Some(c) = caller {
                r.extensions_mut().insert(Identified(c));
            }
            return r;
        }
    };
    if matches!(caller.agent, Agent::Unauthenticated) && req.uri().path().starts_with("/portal") {
        // No records for nobody: the page sends them to sign in.
        let mut resp = next.run(req).await;
        resp.extensions_mut().insert(Identified(caller));
        return resp;
    }
    if matches!(caller.agent, Agent::Patient { .. })
        && may_write(req.method(), req.uri().path())
        && !crate::phr::patient_writes(req.uri().path())
    {
        let mut resp = error(
            403,
            IssueCode::Forbidden,
            "a patient's card reads the patient's own records and access log, and adds to and shares their personal health records; records are written by institutions",
        );
        resp.extensions_mut().insert(Identified(caller));
        return resp;
    }
    let records = match net.records_for(&caller).await {
        Ok(r) => r,
        Err(f) => {
            let mut resp = reply::failure(f);
            resp.extensions_mut().insert(Identified(caller));
            return resp;
        }
    };
    if may_write(req.method(), req.uri().path()) {
        // Written ahead: a write never commits without an entry naming it, even if the node
        // stops before the request's final entry (which then never comes).
        let mut started = describe(req.method(), req.uri().path(), 0);
        started.started = true;
        started.request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        started.entities.extend(target_of(req.uri().path()));
        if let Err(f) = net.audit(&caller, &started).await {
            tracing::error!(status = f.status, "the audit log could not be written");
            let mut resp = unaudited();
            resp.extensions_mut().insert(Identified(caller));
            return resp;
        }
    }
    req.extensions_mut().insert(records);
    req.extensions_mut().insert(caller.clone());
    req.extensions_mut().insert(net.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(Identified(caller));
    resp
}

/// The caller of a request; on a refusal, the caller as far as known, and the answer.
fn caller_of(req: &Request) -> Result<Caller, (Option<Caller>, Response)> {
    let headers = req.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let granted = req.extensions().get::<crate::smart::Granted>();
    let mut caller = match req.extensions().get::<tls::Caller>() {
        None => match granted {
            Some(crate::smart::Granted(grant)) => {
                let mut c = Caller::institution(&grant.institution, &grant.institution);
                c.client = Some(grant.client_id.clone());
                if let Err(r) = crate::smart::check_scopes(grant, req.method(), req.uri().path()) {
                    return Err((Some(c), r));
                }
                c
            }
            // A portal page is its session's (plain HTTP only: with TLS every request has a
            // certificate), and without one nobody's: never the node's, whatever the address.
            None if req.uri().path().starts_with("/portal") => {
                match req.extensions().get::<kizuna_portal::Signed>() {
                    Some(kizuna_portal::Signed(session)) => session.caller(),
                    None => Caller {
                        agent: Agent::Unauthenticated,
                        staff: None,
                        purpose: "HOPERAT".into(),
                        client: Some("portal".into()),
                    },
                }
            }
            None => Caller::node(),
        },
        Some(tls::Caller(Holder::Institution { code, name })) => {
            Caller::institution(code.as_str(), name)
        }
        Some(tls::Caller(Holder::Staff {
            institution,
            staff_id,
            ..
        })) => {
            let mut c = Caller::institution(institution.as_str(), institution.as_str());
            c.staff = Some(staff_id.clone());
            c
        }
        Some(tls::Caller(Holder::Card { serial })) => Caller {
            agent: Agent::Patient {
                card_serial: serial.clone(),
            },
            staff: None,
            purpose: "PATRQT".into(),
            client: None,
        },
        Some(tls::Caller(Holder::Server { .. })) => {
            return Err((
                None,
                error(
                    403,
                    IssueCode::Forbidden,
                    "a server certificate does not identify a client; use an institution's certificate",
                ),
            ));
        }
    };
    if caller.staff.is_none()
        && let Some(s) = header("kizuna-staff")
    {
        if s.len() > 64 || s.chars().any(char::is_control) {
            return Err((
                Some(caller),
                error(
                    400,
                    IssueCode::Value,
                    "Kizuna-Staff must be a staff id of at most 64 characters",
                ),
            ));
        }
        caller.staff = Some(s.to_string());
    }
    if let Some(p) = header("kizuna-purpose") {
        if !PURPOSES.iter().any(|(code, _)| *code == p) {
            let known: Vec<&str> = PURPOSES.iter().map(|(c, _)| *c).collect();
            let refusal = error(
                400,
                IssueCode::Value,
                format!(
                    "Kizuna-Purpose '{p}' is not a purpose of use this network knows ({})",
                    known.join(", ")
                ),
            );
            return Err((Some(caller), refusal));
        }
        caller.purpose = p.to_string();
    }
    Ok(caller)
}

/// Records the request in the audit log once answered (see the module doc).
pub async fn audit(net: Arc<Network>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path == "/fhir/metadata" {
        return next.run(req).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let resp = next.run(req).await;
    let smart = !has_records(&path);
    if smart && resp.status().is_success() {
        // Discovery, and tokens issued (what a token is used for is audited).
        return resp;
    }
    let caller = resp
        .extensions()
        .get::<Identified>()
        .map(|i| i.0.clone())
        .unwrap_or(Caller {
            agent: Agent::Unauthenticated,
            staff: None,
            purpose: "HOPERAT".into(),
            client: None,
        });
    let status = resp.status().as_u16();
    let (parts, body) = resp.into_parts();
    let stands_for = parts
        .extensions
        .get::<crate::documents::Concerns>()
        .map(|c| c.0.clone());
    if stands_for.is_none() && path.starts_with("/portal") && (200..300).contains(&status) {
        // A page that shows records must say which (kizuna-portal's rule): unsaid, it is not
        // shown.
        tracing::error!(path = %path, "a portal page did not say what it concerned");
        let mut event = describe(&method, &path, 500);
        event.request_id = Some(request_id);
        let _ = net.audit(&caller, &event).await;
        return error(
            500,
            IssueCode::Exception,
            "internal error: the page could not be audited",
        );
    }
    if let Some(v) = &stands_for
        && status < 400
    {
        // The answer says what it concerned: recorded without reading the body, which may be
        // a stream of images (it is sent only after the entry is written).
        let mut event = describe(&method, &path, status);
        event.request_id = Some(request_id);
        concerned(v, &mut event.entities, &mut event.patients);
        if let Err(f) = net.audit(&caller, &event).await {
            tracing::error!(status = f.status, "the audit log could not be written");
            return unaudited();
        }
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error(500, IssueCode::Exception, "the response could not be read");
    };
    let mut event = describe(&method, &path, status);
    event.request_id = Some(request_id);
    if let Some(v) = &stands_for {
        concerned(v, &mut event.entities, &mut event.patients);
    }
    // The body is read only when it says what the answer concerned, or why it was refused.
    let parsed = if stands_for.is_none() || status >= 400 {
        serde_json::from_slice::<Value>(&bytes).ok()
    } else {
        None
    };
    if let Some(v) = parsed {
        if status < 400 {
            concerned(&v, &mut event.entities, &mut event.patients);
        } else {
            // The reason of a refusal (the server's own words; other errors' diagnostics can
            // quote what was sent, which may be patient data).
            if matches!(status, 401 | 403 | 409) || smart {
                event.detail = v
                    .pointer("/issue/0/diagnostics")
                    .or_else(|| v.get("error_description"))
                    .and_then(Value::as_str)
                    .map(String::from);
            }
        }
        if let Some(p) = v
            .pointer("/parameter")
            .and_then(Value::as_array)
            .and_then(|ps| ps.iter().find(|p| p["name"] == "person"))
            .and_then(|p| p["valueString"].as_str())
        {
            event.persons.push(p.to_string());
        }
    }
    if event.entities.is_empty()
        && let Some(target) = target_of(&path)
    {
        event.entities.push(target);
    }
    if let Err(f) = net.audit(&caller, &event).await {
        tracing::error!(status = f.status, "the audit log could not be written");
        return unaudited();
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The answer to a request whose audit entry could not be written.
fn unaudited() -> Response {
    error(
        503,
        IssueCode::Exception,
        "the access could not be recorded in the audit log, so it is not answered; try again later",
    )
}

/// The action and interaction of a request, from its method and path.
fn describe(method: &Method, path: &str, status: u16) -> Event {
    if let Some(rest) = path.strip_prefix("/dicomweb") {
        // STOW-RS creates; QIDO-RS (a list of studies, series or instances) searches;
        // WADO-RS reads.
        let last = rest.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
        let (action, subtype) = match (method.as_str(), last) {
            ("POST", _) => ("C", "dicomweb:stow"),
            (_, "studies" | "series" | "instances") => ("R", "dicomweb:qido"),
            _ => ("R", "dicomweb:wado"),
        };
        return Event {
            action,
            subtype: subtype.into(),
            request: format!("{method} {path}"),
            status,
            ..Default::default()
        };
    }
    if let Some(rest) = path.strip_prefix("/portal/") {
        // A page: read, named by its kind (`portal:patients`, `portal:patient` ...).
        let page = match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["patients"] => "patients",
            ["patients", _] => "patient",
            ["patients", _, "timeline"] => "timeline",
            ["patients", _, "labs"] => "labs",
            ["reception", ..] => "reception",
            ["emergency"] => "emergency",
            _ => "page",
        };
        return Event {
            action: if method == Method::POST { "E" } else { "R" },
            subtype: format!("portal:{page}"),
            request: format!("{method} {path}"),
            status,
            ..Default::default()
        };
    }
    let rest: Vec<&str> = path
        .trim_start_matches("/fhir")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let op = rest.iter().find(|s| s.starts_with('$')).copied();
    let (action, subtype) = match (method.as_str(), rest.as_slice(), op) {
        (_, _, Some("$emergency")) => ("E", "emergency-access".to_string()),
        (_, _, Some("$card" | "$spoken")) => ("E", "consent".to_string()),
        (_, _, Some(o)) => ("E", format!("operation:{o}")),
        ("POST", [], _) => ("E", "transaction".into()),
        ("POST", [_, "_search"] | ["_search"], _) => ("R", "search-type".into()),
        ("POST", _, _) => ("C", "create".into()),
        ("PUT", _, _) => ("U", "update".into()),
        ("PATCH", _, _) => ("U", "patch".into()),
        ("DELETE", _, _) => ("D", "delete".into()),
        (_, [.., "_history", _], _) => ("R", "vread".into()),
        (_, [_, _, "_history"], _) => ("R", "history-instance".into()),
        (_, [_, "_history"], _) => ("R", "history-type".into()),
        (_, ["_history"], _) => ("R", "history-system".into()),
        (_, [] | [_] | [_, _, _], _) => ("R", "search-type".into()),
        _ => ("R", "read".into()),
    };
    Event {
        action,
        subtype,
        request: format!("{method} {path}"),
        status,
        entities: vec![],
        patients: vec![],
        ..Default::default()
    }
}

/// `Type/id` of a request for one resource.
fn target_of(path: &str) -> Option<String> {
    if !path.starts_with("/fhir/") {
        return None;
    }
    let rest: Vec<&str> = path
        .trim_start_matches("/fhir/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match rest.as_slice() {
        [t, id, ..] if !id.starts_with('$') && !id.starts_with('_') => Some(format!("{t}/{id}")),
        _ => None,
    }
}

/// The request's caller and records (put there by [`identify`]); a 500 if missing (a routing
/// bug, never an open door).
pub fn scoped(req_ext: &axum::http::Extensions) -> Result<(Caller, Records), Response> {
    match (req_ext.get::<Caller>(), req_ext.get::<Records>()) {
        (Some(c), Some(r)) => Ok((c.clone(), r.clone())),
        _ => Err(error(
            500,
            IssueCode::Exception,
            "internal error: the request was not identified",
        )),
    }
}

fn parameters(values: Vec<(&str, Value)>) -> Response {
    let params: Vec<Value> = values
        .into_iter()
        .map(|(name, v)| {
            let mut p = json!({"name": name});
            if let Value::Object(o) = &v
                && o.contains_key("resourceType")
            {
                p["resource"] = v;
            } else if let Some(o) = v.as_object() {
                for (k, x) in o {
                    p[k] = x.clone();
                }
            }
            p
        })
        .collect();
    let body = json!({"resourceType": "Parameters", "parameter": params});
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

fn granted(g: Granted) -> Response {
    parameters(vec![
        ("consent", g.consent),
        ("person", json!({"valueString": g.person})),
        (
            "until",
            json!({"valueInstant": kizuna_store::format_instant(g.until)}),
        ),
        ("basis", json!({"valueCode": g.basis.code()})),
    ])
}

/// The named values of a Parameters body (`valueString`, `valueCode`, `valueBase64Binary`,
/// `valueDate` …, as text).
fn params_of(body: &[u8]) -> Result<Vec<(String, String)>, Response> {
    let v: Value = kizuna_fhir::json::parse(body).map_err(|e| {
        error(
            400,
            IssueCode::Structure,
            format!("the body is not valid FHIR JSON: {e}"),
        )
    })?;
    if v["resourceType"] != "Parameters" {
        return Err(error(
            400,
            IssueCode::Invalid,
            "the body must be a Parameters resource",
        ));
    }
    let mut out = Vec::new();
    for p in v["parameter"].as_array().into_iter().flatten() {
        let Some(name) = p["name"].as_str() else {
            continue;
        };
        let value = p.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.starts_with("value"))
                .and_then(|(_, v)| v.as_str())
        });
        if let Some(value) = value {
            out.push((name.to_string(), value.to_string()));
        }
    }
    Ok(out)
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, Response> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| {
            error(
                400,
                IssueCode::Required,
                format!("the Parameters need '{name}'"),
            )
        })
}

fn setting(params: &[(String, String)]) -> Result<Setting, Response> {
    match params
        .iter()
        .find(|(k, _)| k == "setting")
        .map(|(_, v)| v.as_str())
    {
        None | Some("outpatient") => Ok(Setting::Outpatient),
        Some("inpatient") => Ok(Setting::Inpatient),
        Some(other) => Err(error(
            400,
            IssueCode::Value,
            format!("setting '{other}' is neither 'outpatient' nor 'inpatient'"),
        )),
    }
}

/// `POST [base]/Consent/$challenge|$card|$spoken|$emergency` and `GET [base]/AuditEvent/$mine`.
pub async fn operation(State(net): State<Arc<Network>>, method: Method, req: Request) -> Response {
    let (caller, _) = match scoped(req.extensions()) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut segments = req.uri().path().rsplit('/');
    let op = segments.next().unwrap_or("").to_string();
    let rtype = segments.next().unwrap_or("").to_string();
    let body = match axum::body::to_bytes(req.into_body(), 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return error(413, IssueCode::TooLong, "the Parameters exceed 1 MB"),
    };
    let outcome = async {
        match (rtype.as_str(), op.as_str(), method.as_str()) {
            ("Consent", "$challenge", "POST") => {
                let c = net.challenge(&caller).map_err(reply::failure)?;
                Ok(parameters(vec![
                    ("challenge", json!({"valueString": c.text})),
                    (
                        "expires",
                        json!({"valueInstant": kizuna_store::format_instant(c.expires)}),
                    ),
                ]))
            }
            ("Consent", "$card", "POST") => {
                let p = params_of(&body)?;
                let b64 = |name: &str| -> Result<Vec<u8>, Response> {
                    base64::engine::general_purpose::STANDARD
                        .decode(required(&p, name)?)
                        .map_err(|_| {
                            error(400, IssueCode::Value, format!("'{name}' is not base64"))
                        })
                };
                let answer = CardAnswer {
                    challenge: required(&p, "challenge")?.to_string(),
                    signature: b64("signature")?,
                    certificate: b64("certificate")?,
                    setting: setting(&p)?,
                };
                net.consent_by_card(&caller, &answer)
                    .await
                    .map(granted)
                    .map_err(reply::failure)
            }
            ("Consent", "$spoken", "POST") => {
                let p = params_of(&body)?;
                net.consent_spoken(
                    &caller,
                    required(&p, "insuredMemberId")?,
                    required(&p, "birthDate")?,
                    setting(&p)?,
                )
                .await
                .map(granted)
                .map_err(reply::failure)
            }
            ("Consent", "$emergency", "POST") => {
                let p = params_of(&body)?;
                net.break_glass(&caller, required(&p, "patient")?, required(&p, "reason")?)
                    .await
                    .map(granted)
                    .map_err(reply::failure)
            }
            ("AuditEvent", "$mine", "GET") => my_access_log(&net, &caller).await,
            ("AuditEvent", "$emergencies", "GET") => {
                let Some(code) = caller.institution_code() else {
                    return Err(error(
                        403,
                        IssueCode::Forbidden,
                        "the emergency accesses are listed for an institution's administrator",
                    ));
                };
                let events = net
                    .emergencies(Some(code), 1000)
                    .await
                    .map_err(reply::failure)?;
                let entries: Vec<Value> = events
                    .into_iter()
                    .map(|ev| json!({"resource": ev, "search": {"mode": "match"}}))
                    .collect();
                let bundle = json!({"resourceType": "Bundle", "type": "searchset",
                    "total": entries.len(), "entry": entries});
                Ok(json_response(
                    StatusCode::OK,
                    Bytes::from(bundle.to_string()),
                ))
            }
            _ => Err(error(
                404,
                IssueCode::NotSupported,
                format!("{method} {rtype}/{op} is not an operation of this server"),
            )),
        }
    };
    match outcome.await {
        Ok(r) | Err(r) => r,
    }
}

/// The patient's own access log: a Bundle of the AuditEvents about them, each with its plain
/// words in Japanese and English.
async fn my_access_log(net: &Network, caller: &Caller) -> Result<Response, Response> {
    let Agent::Patient { card_serial } = &caller.agent else {
        return Err(error(
            403,
            IssueCode::Forbidden,
            "only a patient, with their card, reads their own access log",
        ));
    };
    let person = kizuna_access::index::person_by(
        net.records(),
        kizuna_access::index::CARD_SYSTEM,
        card_serial,
    )
    .await
    .map_err(reply::failure)?
    .map(|(v, _)| v.id)
    .ok_or_else(|| error(403, IssueCode::Forbidden, "this card is not registered"))?;
    let events = net
        .access_log(&person, 1000)
        .await
        .map_err(reply::failure)?;
    let entries: Vec<Value> = events
        .into_iter()
        .map(|ev| {
            let (ja, en) = kizuna_access::audit::plain_words(&ev);
            json!({"resource": ev, "search": {"mode": "match"},
                "extension": [{"url": "urn:kizuna:plain-words", "extension": [
                    {"url": "ja", "valueString": ja}, {"url": "en", "valueString": en}]}]})
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "searchset",
        "total": entries.len(), "entry": entries});
    Ok(json_response(
        StatusCode::OK,
        Bytes::from(bundle.to_string()),
    ))
}
