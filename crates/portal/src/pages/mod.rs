//! The page handlers: each reads the request's caller and scoped records (put there by the
//! server's `identify` layer), renders a template, and says what the page concerned.

// Early returns carry the page to answer at once (as in the server's handlers).
#![allow(clippy::result_large_err)]

use crate::i18n::{LANG_COOKIE, Lang, Texts};
use crate::session::{self, Refused};
use crate::view::{self, PatientRow, Section};
use crate::{Portal, Signed, Trouble};
use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kizuna_access::audit::Concerns;
use kizuna_access::{Agent, Caller};
use kizuna_records::{Failure, Payload, Records};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

mod clinician;
mod reception;

pub use clinician::{labs, patient, patients, timeline};
pub use reception::{by_card, emergency, emergency_page, reception, spoken};

/// The JP Core system of 10-digit medical institution codes.
const INSTITUTION_NO: &str = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
/// Patients listed by one search, at most.
const PAGE: usize = 50;

const CSS: &str = include_str!("../../assets/portal.css");
/// The stylesheet's version in its URL (so it may be cached for good).
static CSS_VERSION: LazyLock<String> = LazyLock::new(|| {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, CSS.as_bytes())
        .as_ref()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// What every page's frame shows.
#[derive(Clone)]
pub struct Chrome {
    /// The reader's language ([`Lang::of`] the request).
    pub language: Lang,
    pub lang: &'static str,
    pub other: &'static str,
    pub t: &'static Texts,
    /// Who is signed in, in words.
    pub who: Option<String>,
    /// Whether they signed in here (a certificate cannot be signed out of).
    pub can_sign_out: bool,
    pub csrf: String,
    /// This page, URL-encoded, for the language switch to come back to.
    pub back: String,
    pub css_version: &'static str,
}

/// The frame of the page `req` asks for: its language, its session's CSRF token, and who is
/// signed in (the session's, else `caller`, an institution by its certificate).
fn chrome(portal: &Portal, req: &Request, caller: Option<&Caller>) -> Chrome {
    let lang = Lang::of(req.headers());
    let signed = req.extensions().get::<Signed>();
    let here = here(req);
    let here = here
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/portal/");
    let who = match (signed, caller) {
        (Some(Signed(s)), _) => Some(format!("{} · {}", s.name, s.staff)),
        (None, Some(c)) => match &c.agent {
            Agent::Institution { name, .. } => Some(match &c.staff {
                Some(staff) => format!("{name} · {staff}"),
                None => name.clone(),
            }),
            _ => None,
        },
        _ => None,
    };
    Chrome {
        language: lang,
        lang: lang.code(),
        other: lang.other().code(),
        t: lang.texts(),
        who,
        can_sign_out: signed.is_some(),
        csrf: signed
            .map(|Signed(s)| portal.sessions.csrf(s))
            .unwrap_or_default(),
        back: form_urlencoded::byte_serialize(here.as_bytes()).collect(),
        css_version: CSS_VERSION.as_str(),
    }
}

/// A rendered page with the headers every page has: no caching (pages hold patient data),
/// nothing loaded or framed from elsewhere.
fn html(status: StatusCode, page: askama::Result<String>) -> Response {
    let Ok(body) = page else {
        tracing::error!("a portal template failed to render");
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// The page's own address as the browser asked for it (a nested router sees it without the
/// `/portal` prefix).
fn here(req: &Request) -> Uri {
    req.extensions()
        .get::<axum::extract::OriginalUri>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| req.uri().clone())
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    // A Location header is ASCII: other bytes (a name searched for) go percent-encoded.
    let mut ascii = String::with_capacity(to.len());
    for b in to.bytes() {
        if b > 0x20 && b < 0x7F {
            ascii.push(b as char);
        } else {
            ascii.push_str(&format!("%{b:02X}"));
        }
    }
    if let Ok(v) = HeaderValue::from_str(&ascii) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    message: &'a str,
    next: &'a str,
    link: &'a str,
}

/// An error page in the reader's language, with a way on.
fn error_page(c: Chrome, status: StatusCode, message: &str, next: &str) -> Response {
    let link = c.t.back;
    html(
        status,
        ErrorPage {
            c,
            message,
            next,
            link,
        }
        .render(),
    )
}

/// A records failure in plain words (its status kept).
fn failure_page(c: Chrome, f: &Failure) -> Response {
    let t = c.t;
    let (status, message) = match f.status {
        404 | 410 => (StatusCode::NOT_FOUND, t.not_found),
        401 | 403 => (StatusCode::FORBIDDEN, t.refused),
        400..=499 => (StatusCode::BAD_REQUEST, t.refused),
        _ => (StatusCode::SERVICE_UNAVAILABLE, t.unavailable),
    };
    error_page(c, status, message, "/portal/patients")
}

/// The sign-in page's address, saying why the reader is sent there.
fn to_sign_in(trouble: Option<&Trouble>) -> Response {
    match trouble {
        Some(Trouble(Refused::Expired | Refused::Ended)) => see_other("/portal/signin?why=expired"),
        Some(Trouble(Refused::Forged)) => see_other("/portal/signin?why=forged"),
        None => see_other("/portal/signin"),
    }
}

/// The caller and their records on a request that reaches records, or where to send them.
fn scoped(req: &Request) -> Result<(Caller, Records), Response> {
    let ext = req.extensions();
    match (ext.get::<Caller>(), ext.get::<Records>()) {
        (Some(c), Some(r)) if !matches!(c.agent, Agent::Unauthenticated | Agent::Node) => {
            Ok((c.clone(), r.clone()))
        }
        (Some(_), Some(_)) | (None, _) | (_, None) => Err(to_sign_in(ext.get::<Trouble>())),
    }
}

/// A page that reaches records: its caller, their records, and the page's frame; or where to
/// send the reader (to sign in).
fn begin(portal: &Portal, req: &Request) -> Result<(Caller, Records, Chrome), Response> {
    let (caller, records) = scoped(req)?;
    let c = chrome(portal, req, Some(&caller));
    Ok((caller, records, c))
}

pub async fn home(req: Request) -> Response {
    if req.extensions().get::<Signed>().is_some() {
        see_other("/portal/patients")
    } else {
        see_other("/portal/signin")
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn {
    c: Chrome,
    plain: bool,
    error: Option<&'static str>,
    /// (code, name) of the institutions one may view as.
    institutions: Vec<(String, String)>,
    chosen: Option<String>,
    staff: String,
}

/// The institutions of the node (Organizations with a medical institution code), by name.
async fn institutions(portal: &Portal) -> Vec<(String, String)> {
    let req = kizuna_records::SearchRequest {
        rtype: Some("Organization".into()),
        patient: None,
        pairs: vec![
            ("identifier".into(), format!("{INSTITUTION_NO}|")),
            ("_count".into(), "500".into()),
        ],
        handling: kizuna_records::Handling::Lenient,
        base: portal.base.clone(),
    };
    let mut out: Vec<(String, String)> = match portal.net.records().search(req).await {
        Ok(reply) => matches(&reply.payload)
            .0
            .iter()
            .filter_map(|o| {
                let code = o["identifier"]
                    .as_array()?
                    .iter()
                    .find(|i| i["system"] == INSTITUTION_NO)?["value"]
                    .as_str()?
                    .to_string();
                Some((code, o["name"].as_str().unwrap_or("").to_string()))
            })
            .collect(),
        Err(f) => {
            tracing::error!(status = f.status, "the institutions could not be listed");
            Vec::new()
        }
    };
    out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// The matched resources of a search answer (its Bundle read once), and whether more follow.
fn matches(payload: &Payload) -> (Vec<Value>, bool) {
    let parsed;
    let bundle: &Value = match payload {
        Payload::Json(v) => v,
        Payload::Text(t) => {
            parsed = serde_json::from_str(t).unwrap_or(Value::Null);
            &parsed
        }
        _ => &Value::Null,
    };
    let found = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"].as_str().is_none_or(|m| m == "match"))
        .map(|e| e["resource"].clone())
        .collect();
    let more = bundle["link"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|l| l["relation"] == "next");
    (found, more)
}

pub async fn signin_page(
    State(portal): State<Arc<Portal>>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let c = chrome(&portal, &req, None);
    let error = match q.get("why").map(String::as_str) {
        Some("expired") => Some(c.t.session_expired),
        Some("forged") => Some(c.t.session_forged),
        _ => None,
    };
    let list = if portal.plain {
        institutions(&portal).await
    } else {
        Vec::new()
    };
    html(
        StatusCode::OK,
        SignIn {
            c,
            plain: portal.plain,
            error,
            institutions: list,
            chosen: None,
            staff: String::new(),
        }
        .render(),
    )
}

/// The pairs of a form body (`application/x-www-form-urlencoded`); at most 64 kB is read.
async fn form(req: Request) -> Option<HashMap<String, String>> {
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .ok()?;
    Some(form_urlencoded::parse(&body).into_owned().collect())
}

/// Whether a form was sent from this site's own pages (not another site's form).
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|h| h.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match (
        headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()),
        headers.get(header::HOST).and_then(|h| h.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host)
        }
        _ => true,
    }
}

/// The fields of a form posted from this site's own page (and, when signed in by session,
/// carrying its CSRF token), or why it is not taken.
async fn posted(portal: &Portal, req: Request) -> Option<HashMap<String, String>> {
    // A browser says where a form comes from; one that says nothing is not taken (a
    // certificate, like a cookie, goes with every request, so its forms need this too).
    let says =
        req.headers().contains_key(header::ORIGIN) || req.headers().contains_key("sec-fetch-site");
    if !says || !same_origin(req.headers()) {
        return None;
    }
    let session = req.extensions().get::<Signed>().map(|s| s.0.clone());
    let f = form(req).await?;
    match session {
        Some(s)
            if !portal
                .sessions
                .csrf_holds(&s, f.get("_csrf").map_or("", String::as_str)) =>
        {
            None
        }
        _ => Some(f),
    }
}

/// The answer of a page that shows no records (its audit entry names none).
fn shows_nothing(mut r: Response) -> Response {
    r.extensions_mut()
        .insert(Concerns(json!({"resourceType": "Bundle", "entry": []})));
    r
}

/// The answer of a page that shows `resources` (its audit entry names them).
fn shows(mut r: Response, resources: Vec<Value>) -> Response {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| json!({"resource": r}))
        .collect();
    r.extensions_mut().insert(Concerns(
        json!({"resourceType": "Bundle", "entry": entries}),
    ));
    r
}

/// The resource a read answered, parsed (None: nothing to show).
fn read_body(payload: &Payload) -> Option<Value> {
    match payload {
        Payload::Version(v) => v.body.as_deref().and_then(|b| serde_json::from_str(b).ok()),
        _ => None,
    }
}

pub async fn signin(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let headers = req.headers().clone();
    let c = chrome(&portal, &req, None);
    let t = c.t;
    if !portal.plain {
        return error_page(c, StatusCode::FORBIDDEN, t.certificate_only, "/portal/");
    }
    if !same_origin(&headers) {
        return error_page(c, StatusCode::FORBIDDEN, t.form_expired, "/portal/signin");
    }
    let Some(f) = form(req).await else {
        return error_page(
            c,
            StatusCode::BAD_REQUEST,
            t.missing_field,
            "/portal/signin",
        );
    };
    let chosen = f
        .get("institution")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let staff: String = f
        .get("staff")
        .map(|s| s.trim())
        .unwrap_or("")
        .chars()
        .take(64)
        .collect();
    let list = institutions(&portal).await;
    let error = match (&chosen, staff.is_empty()) {
        (None, _) => Some(t.missing_institution),
        (_, true) => Some(t.missing_staff),
        (Some(code), false) if !list.iter().any(|(c, _)| c == code) => Some(t.bad_institution),
        _ => None,
    };
    if let Some(error) = error {
        return html(
            StatusCode::BAD_REQUEST,
            SignIn {
                c,
                plain: true,
                error: Some(error),
                institutions: list,
                chosen,
                staff,
            }
            .render(),
        );
    }
    let code = chosen.unwrap_or_default();
    let name = list
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    let session = portal
        .sessions
        .start(&code, &name, &staff, jiff::Timestamp::now().as_second());
    tracing::info!(institution = %code, "portal: signed in as an institution");
    let mut r = see_other("/portal/patients");
    if let Ok(v) = session::set_cookie(
        session::COOKIE,
        &portal.sessions.seal(&session),
        session::ABSOLUTE,
        !portal.plain,
    )
    .parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn signout(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let headers = req.headers().clone();
    let Some(Signed(session)) = req.extensions().get::<Signed>().cloned() else {
        return see_other("/portal/signin");
    };
    let c = chrome(&portal, &req, None);
    let token = form(req)
        .await
        .and_then(|f| f.get("_csrf").cloned())
        .unwrap_or_default();
    if !same_origin(&headers) || !portal.sessions.csrf_holds(&session, &token) {
        let message = c.t.form_expired;
        return error_page(c, StatusCode::FORBIDDEN, message, "/portal/patients");
    }
    portal.sessions.end(&session);
    let mut r = see_other("/portal/signin");
    if let Ok(v) = session::set_cookie(session::COOKIE, "", 0, !portal.plain).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Switches the language (a cookie for a year) and goes back to the page it was asked from.
pub async fn lang(
    State(portal): State<Arc<Portal>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = q.get("to").and_then(|l| Lang::parse(l)).unwrap_or(Lang::Ja);
    let back = q
        .get("back")
        .filter(|b| b.starts_with("/portal") && !b.contains("//") && !b.contains('\\'))
        .map(String::as_str)
        .unwrap_or("/portal/");
    let mut r = see_other(back);
    if let Ok(v) = session::set_cookie(LANG_COOKIE, lang.code(), 365 * 86400, !portal.plain).parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "portal.css" => {
            let mut r = CSS.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            r
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn not_found(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let c = chrome(&portal, &req, None);
    let message = c.t.not_found;
    error_page(c, StatusCode::NOT_FOUND, message, "/portal/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_from_other_sites_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
