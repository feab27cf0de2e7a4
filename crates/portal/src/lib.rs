//! kizuna-portal: the pages people use in a browser, served under `/portal` by the same
//! binary: sign-in, finding a patient, the patient's summary (and, as they arrive, reception,
//! the patient's own pages and the operator's).
//!
//! It owns the templates (askama, compiled in), the texts in Japanese and English
//! ([`i18n`]), sessions and CSRF tokens ([`session`]), FHIR resources as people read them
//! ([`view`]) and the embedded stylesheet: nothing is loaded from elsewhere, so it works on a
//! clinic's LAN without the internet.
//!
//! It must never reach records except through the caller's scoped `Records` that the
//! server's `identify` layer put on the request (so a page shows exactly what the API would:
//! the same access rules), never filter for access itself, never write to the store directly,
//! and never log patient data. Every page that shows records says what it concerned
//! ([`kizuna_access::audit::Concerns`]), which the server's audit layer records; a page
//! without it is not served.

pub mod i18n;
mod pages;
pub mod session;
mod texts;
mod view;

use axum::Router;
use axum::routing::{get, post};
use kizuna_access::Network;
use std::sync::Arc;

pub use pages::home;
pub use session::{Session, Sessions};

/// The portal of one server.
pub struct Portal {
    pub sessions: Sessions,
    net: Arc<Network>,
    /// Plain HTTP (no TLS): callers are the node's operator on this machine, who may view the
    /// portal as one institution; with TLS, staff are who their certificate says.
    plain: bool,
    /// The FHIR base URL (for the searches' Bundles, never shown).
    base: String,
    /// The card reader at reception (None: consent by card is not offered here).
    reader: Option<Arc<dyn kizuna_trust::card::CardReader>>,
    /// Held while a card is used: one card at a time on the reader, so that PIN tries are
    /// counted one after another (parallel guesses cannot each see the same count).
    card_lock: std::sync::Mutex<()>,
}

impl Portal {
    pub fn new(
        net: Arc<Network>,
        plain: bool,
        base: &str,
        reader: Option<Arc<dyn kizuna_trust::card::CardReader>>,
    ) -> Portal {
        Portal {
            sessions: Sessions::from_key(&net.derive_key("portal sessions")),
            net,
            plain,
            base: base.to_string(),
            reader,
            card_lock: std::sync::Mutex::new(()),
        }
    }
}

/// A request's session, put on it by [`session_layer`] when its cookie holds one.
#[derive(Clone, Debug)]
pub struct Signed(pub Session);

/// Why a request's session cookie was not taken (for the sign-in page to say).
#[derive(Clone, Copy, Debug)]
pub struct Trouble(pub session::Refused);

/// Whether a portal path shows records: its caller is identified and scoped, and its every
/// answer audited, like the API's.
pub fn reaches_records(path: &str) -> bool {
    ["/portal/patients", "/portal/reception", "/portal/emergency"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

/// The portal's routes, to be nested at `/portal`.
pub fn routes(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/signin", get(pages::signin_page).post(pages::signin))
        .route("/signout", post(pages::signout))
        .route("/lang", get(pages::lang))
        .route("/patients", get(pages::patients))
        .route("/patients/{id}", get(pages::patient))
        .route("/patients/{id}/timeline", get(pages::timeline))
        .route("/patients/{id}/labs", get(pages::labs))
        .route("/reception", get(pages::reception))
        .route("/reception/card", post(pages::by_card))
        .route("/reception/spoken", post(pages::spoken))
        .route(
            "/emergency",
            get(pages::emergency_page).post(pages::emergency),
        )
        .route("/assets/{name}", get(pages::asset))
        .fallback(pages::not_found)
        .with_state(portal)
}

/// Reads the session cookie of `/portal` requests ([`Signed`], or [`Trouble`]) and renews it
/// on the answer while it is in use.
pub async fn session_layer(
    portal: Arc<Portal>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !req.uri().path().starts_with("/portal") {
        return next.run(req).await;
    }
    let now = jiff::Timestamp::now().as_second();
    let mut renew = None;
    if let Some(value) = session::cookie(req.headers(), session::COOKIE) {
        match portal.sessions.open(value, now) {
            Ok(s) => {
                if now - s.seen > 60 {
                    let mut renewed = s.clone();
                    renewed.seen = now;
                    renew = Some(portal.sessions.seal(&renewed));
                }
                req.extensions_mut().insert(Signed(s));
            }
            Err(why) => {
                req.extensions_mut().insert(Trouble(why));
            }
        }
    }
    let mut resp = next.run(req).await;
    if let Some(v) = renew
        && !resp.headers().contains_key(axum::http::header::SET_COOKIE)
        && let Ok(h) =
            session::set_cookie(session::COOKIE, &v, session::ABSOLUTE, !portal.plain).parse()
    {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, h);
    }
    resp
}
