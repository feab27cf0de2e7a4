//! Portal sessions: who signed in, kept in a cookie the node signs (HMAC-SHA256 under a key
//! derived from the node's challenge key, random per process), and the CSRF token every form
//! sends back.
//!
//! The cookie holds `v1.<payload>.<mac>` (base64url): the session's id, the institution the
//! staff member acts for, their name, and when it was issued and last renewed.
//! It is `HttpOnly`, `SameSite=Strict` and, over TLS, `Secure`. A session ends after 8 hours
//! whatever happens, or after 30 minutes without a page; signing out forgets its id, so a copy
//! of the cookie is refused afterwards. The cookie counts only for `/portal` pages (the server
//! never takes it on the FHIR API, where a cross-site form could otherwise write).

use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use kizuna_access::Caller;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Mutex;

/// The cookie's name.
pub const COOKIE: &str = "kizuna-portal";
/// A session's longest life, in seconds.
pub const ABSOLUTE: i64 = 8 * 3600;
/// How long a session lasts without a page, in seconds.
pub const IDLE: i64 = 30 * 60;

/// What a session says (the cookie's payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Its id (random), which signing out forgets.
    pub sid: String,
    /// The institution's 10-digit code and name.
    pub code: String,
    pub name: String,
    /// The staff member, as they gave their name.
    pub staff: String,
    /// Issued and last renewed, Unix seconds.
    pub iat: i64,
    pub seen: i64,
}

impl Session {
    /// The caller the session stands for.
    pub fn caller(&self) -> Caller {
        let mut c = Caller::institution(&self.code, &self.name);
        c.staff = Some(self.staff.clone());
        c.client = Some("portal".into());
        c
    }
}

/// Why a cookie was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not one this node signed (or altered).
    Forged,
    /// Past its life, or idle too long.
    Expired,
    /// Signed out.
    Ended,
}

/// The sessions of this process: the signing key and the ids signed out.
pub struct Sessions {
    key: hmac::Key,
    ended: Mutex<HashSet<String>>,
}

impl Sessions {
    /// Sessions signed under `key` (the node's, [`kizuna_access::Network::derive_key`]: a
    /// process's sessions end with it).
    pub fn from_key(key: &[u8]) -> Sessions {
        Sessions {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            ended: Mutex::new(HashSet::new()),
        }
    }

    /// A new session for `staff` of the institution `(code, name)`, at `now` (Unix seconds).
    pub fn start(&self, code: &str, name: &str, staff: &str, now: i64) -> Session {
        Session {
            sid: uuid::Uuid::new_v4().simple().to_string(),
            code: code.into(),
            name: name.into(),
            staff: staff.into(),
            iat: now,
            seen: now,
        }
    }

    /// The cookie's value for `session`.
    pub fn seal(&self, session: &Session) -> String {
        let payload = B64.encode(serde_json::to_vec(session).unwrap_or_default());
        let signed = format!("v1.{payload}");
        let mac = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", B64.encode(mac.as_ref()))
    }

    /// The session a cookie value holds, checked at `now`.
    pub fn open(&self, value: &str, now: i64) -> Result<Session, Refused> {
        let (signed, mac) = value.rsplit_once('.').ok_or(Refused::Forged)?;
        let mac = B64.decode(mac).map_err(|_| Refused::Forged)?;
        hmac::verify(&self.key, signed.as_bytes(), &mac).map_err(|_| Refused::Forged)?;
        let payload = signed.strip_prefix("v1.").ok_or(Refused::Forged)?;
        let bytes = B64.decode(payload).map_err(|_| Refused::Forged)?;
        let session: Session = serde_json::from_slice(&bytes).map_err(|_| Refused::Forged)?;
        if now - session.iat > ABSOLUTE || now - session.seen > IDLE || now < session.iat - 60 {
            return Err(Refused::Expired);
        }
        if self
            .ended
            .lock()
            .map(|e| e.contains(&session.sid))
            .unwrap_or(true)
        {
            return Err(Refused::Ended);
        }
        Ok(session)
    }

    /// Signs `session` out: its cookie is refused from now on.
    pub fn end(&self, session: &Session) {
        if let Ok(mut e) = self.ended.lock() {
            e.insert(session.sid.clone());
        }
    }

    /// The CSRF token of a session: forms carry it, and a form without it writes nothing.
    pub fn csrf(&self, session: &Session) -> String {
        let mac = hmac::sign(&self.key, format!("csrf|{}", session.sid).as_bytes());
        B64.encode(mac.as_ref())
    }

    /// Whether `token` is the session's CSRF token.
    pub fn csrf_holds(&self, session: &Session, token: &str) -> bool {
        constant_time::verify_slices_are_equal(self.csrf(session).as_bytes(), token.as_bytes())
            .is_ok()
    }
}

/// The value of cookie `name` among a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, the whole site's path, `Secure` over
/// TLS; `max_age` 0 removes it.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_session_opens_until_it_expires_or_ends() {
        let s = Sessions::from_key(&[1; 32]);
        let session = s.start("1310000011", "絆クリニック", "dr-sato", 1000);
        let sealed = s.seal(&session);
        assert_eq!(s.open(&sealed, 1000 + IDLE - 1), Ok(session.clone()));
        assert_eq!(s.open(&sealed, 1000 + IDLE + 1), Err(Refused::Expired));
        let mut renewed = session.clone();
        renewed.seen = 1000 + ABSOLUTE;
        assert_eq!(
            s.open(&s.seal(&renewed), 1000 + ABSOLUTE + 1),
            Err(Refused::Expired),
            "renewal never outlives the absolute limit"
        );
        s.end(&session);
        assert_eq!(s.open(&sealed, 1001), Err(Refused::Ended));
    }

    #[test]
    fn altered_or_foreign_cookies_are_refused() {
        let s = Sessions::from_key(&[1; 32]);
        let session = s.start("1310000011", "絆クリニック", "dr-sato", 1000);
        let sealed = s.seal(&session);
        let mut other = session.clone();
        other.code = "0110113719".into();
        let forged_payload = B64.encode(serde_json::to_vec(&other).unwrap());
        let mac = sealed.rsplit_once('.').unwrap().1;
        assert_eq!(
            s.open(&format!("v1.{forged_payload}.{mac}"), 1000),
            Err(Refused::Forged)
        );
        assert_eq!(
            Sessions::from_key(&[2; 32]).open(&sealed, 1000),
            Err(Refused::Forged),
            "another process's key"
        );
        for junk in ["", ".", "v1..", "v1.%%%.abc", "x.y.z"] {
            assert_eq!(s.open(junk, 1000), Err(Refused::Forged), "{junk:?}");
        }
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let s = Sessions::from_key(&[1; 32]);
        let a = s.start("1310000011", "A", "x", 0);
        let b = s.start("1310000011", "A", "x", 0);
        assert!(s.csrf_holds(&a, &s.csrf(&a)));
        assert!(!s.csrf_holds(&a, &s.csrf(&b)));
        assert!(!s.csrf_holds(&a, ""));
    }
}
