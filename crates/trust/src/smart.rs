//! SMART on FHIR Backend Services authorization
//! (<https://hl7.org/fhir/smart-app-launch/backend-services.html>), without HTTP: which
//! systems may ask for tokens and what they may get.
//!
//! [`Registry`] holds the registered clients (a JSON file): each with its institution code, its
//! public keys (a JWK Set of RSA ≥ 2048-bit or EC P-384 keys, each with a `kid`) and the most
//! it may be granted. [`token_request`] answers a `client_credentials` token request: the
//! client authenticates with a JWT it signed ([`verify_assertion`]: RS384 or ES384 only, `iss`
//! = `sub` = its id, `aud` = the token URL, `exp` at most five minutes ahead, a `jti` never
//! seen before, which the [`ReplayGuard`] remembers), and gets the [`Scopes`] it asked for cut
//! down to its registration, as a five-minute HS256 access token from the [`TokenIssuer`],
//! whose [`TokenIssuer::verify`] gives back the [`Grant`]. Every refusal is a [`SmartError`]
//! that names its OAuth 2.0 error code and says how to put it right.
//!
//! Must never: know HTTP (the server passes the form and the token URL as data, and sends the
//! errors), take the time from the clock (callers pass `now`), hand-write cryptography or JSON
//! parsing (jsonwebtoken and serde_json do that), accept an algorithm it did not pin (`none`,
//! HS* assertions, RS256, anything but HS256 for its own tokens), fetch keys from a URL (`jku`
//! is ignored: keys come only from the registration), or put an assertion, an access token or
//! a secret into an error message or a log.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Mutex;

/// `iss` of the access tokens this server issues.
pub const ISSUER: &str = "kizuna";
/// The only `client_assertion_type` backend services use.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The signing algorithms client assertions may use (for
/// `token_endpoint_auth_signing_alg_values_supported`).
pub const ASSERTION_ALGORITHMS: [&str; 2] = ["RS384", "ES384"];
/// Seconds an access token lives.
pub const TOKEN_LIFETIME: i64 = 300;
/// Seconds of clock skew allowed on either side of an assertion's `exp`.
pub const LEEWAY: i64 = 60;
/// Seconds ahead of now an assertion's `exp` may be (plus [`LEEWAY`]).
pub const MAX_ASSERTION_LIFETIME: i64 = 300;
const MIN_RSA_BITS: usize = 2048;
const MAX_SHOWN: usize = 80;

/// Why a request or a token was refused; each maps to an OAuth 2.0 error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmartError {
    /// `invalid_client`: the client assertion did not authenticate a registered client.
    #[error("client authentication failed: {0}")]
    InvalidClient(String),
    /// `invalid_scope`: the scope is malformed, not for backend services, or not granted.
    #[error("scope refused: {0}")]
    InvalidScope(String),
    /// `invalid_request`: a parameter is missing, repeated or wrong.
    #[error("malformed token request: {0}")]
    InvalidRequest(String),
    /// `unsupported_grant_type`: not `client_credentials`.
    #[error("grant_type '{0}' is not supported: backend services use client_credentials")]
    UnsupportedGrantType(String),
    /// `invalid_token` (RFC 6750): an access token this server does not accept.
    #[error("access token refused: {0}")]
    InvalidToken(String),
    /// `server_error`: this server could not issue a token.
    #[error("the token could not be issued: {0}")]
    ServerError(String),
}

impl SmartError {
    /// The OAuth 2.0 `error` code of the refusal.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            SmartError::InvalidClient(_) => "invalid_client",
            SmartError::InvalidScope(_) => "invalid_scope",
            SmartError::InvalidRequest(_) => "invalid_request",
            SmartError::UnsupportedGrantType(_) => "unsupported_grant_type",
            SmartError::InvalidToken(_) => "invalid_token",
            SmartError::ServerError(_) => "server_error",
        }
    }
}

/// A value a client sent, cut short enough to quote in an error message.
fn shown(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn invalid_client(message: impl Into<String>) -> SmartError {
    SmartError::InvalidClient(message.into())
}

// ---------------------------------------------------------------------------------------------
// Scopes

/// What a scope lets a client do to a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

/// The SMART v2 permission letters, in the order a scope must list them.
const LETTERS: [(char, u8); 5] = [('c', 1), ('r', 2), ('u', 4), ('d', 8), ('s', 16)];
const ALL: u8 = 31;

impl Interaction {
    /// Its bit: the variants are in the order of [`LETTERS`].
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of `system/` scopes: for each resource type (or `*`, every type) the interactions it
/// allows. Displayed in the canonical SMART v2 form, one scope per type, types in order,
/// nothing a `*` scope already covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeMap<String, u8>);

impl Scopes {
    /// Reads a space-separated scope string: v2 `system/<Type|*>.<cruds>` (letters in that
    /// order) and v1 `system/<Type|*>.read|write|*`. Anything else is refused, naming it.
    pub fn parse(text: &str) -> Result<Scopes, SmartError> {
        let mut map = BTreeMap::new();
        for scope in text.split_whitespace() {
            let (rtype, bits) = parse_scope(scope)?;
            *map.entry(rtype.to_owned()).or_insert(0) |= bits;
        }
        Ok(Scopes::normalized(map))
    }

    /// Whether the scopes allow `interaction` on resources of type `rtype`.
    pub fn allows(&self, rtype: &str, interaction: Interaction) -> bool {
        self.bits(rtype) & interaction.bit() != 0
    }

    /// What is both in these scopes (asked for) and in `granted` (registered), per type and
    /// per letter; a `*` scope on either side covers every type.
    pub fn intersect(&self, granted: &Scopes) -> Scopes {
        let mut map = BTreeMap::new();
        map.insert("*".to_owned(), self.bits("*") & granted.bits("*"));
        for rtype in self.0.keys().chain(granted.0.keys()) {
            if rtype != "*" {
                map.insert(rtype.clone(), self.bits(rtype) & granted.bits(rtype));
            }
        }
        Scopes::normalized(map)
    }

    /// True when the scopes allow nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn bits(&self, rtype: &str) -> u8 {
        self.0.get(rtype).copied().unwrap_or(0) | self.0.get("*").copied().unwrap_or(0)
    }

    /// Drops what `*` already covers, and types left with nothing.
    fn normalized(mut map: BTreeMap<String, u8>) -> Scopes {
        let star = map.get("*").copied().unwrap_or(0);
        for (rtype, bits) in map.iter_mut() {
            if rtype != "*" {
                *bits &= !star;
            }
        }
        map.retain(|_, bits| *bits != 0);
        Scopes(map)
    }
}

fn parse_scope(scope: &str) -> Result<(&str, u8), SmartError> {
    let refuse = |why: &str| {
        Err(SmartError::InvalidScope(format!(
            "'{}' {why}",
            shown(scope)
        )))
    };
    let Some(rest) = scope.strip_prefix("system/") else {
        return match scope.split_once('/') {
            Some((context @ ("patient" | "user"), _)) => refuse(&format!(
                "is a {context}-level scope: backend services act for no patient or user, so ask for system/ scopes (e.g. system/Observation.rs)"
            )),
            _ => refuse(
                "is not a scope for backend services: ask for system/<Type|*>.<cruds> scopes (e.g. system/Observation.rs, system/*.read)",
            ),
        };
    };
    if rest.contains('?') {
        return refuse(
            "has search parameters: granular scopes are not supported, ask for the whole type",
        );
    }
    let Some((rtype, permissions)) = rest.split_once('.') else {
        return refuse("has no permissions: write system/<Type>.<cruds> (e.g. system/Patient.r)");
    };
    let type_ok = rtype == "*"
        || (rtype.starts_with(|c: char| c.is_ascii_uppercase())
            && rtype.chars().all(|c| c.is_ascii_alphanumeric()));
    if !type_ok {
        return refuse("does not name a resource type: write a FHIR type (e.g. Observation) or *");
    }
    let bits = match permissions {
        "read" => 2 | 16,
        "write" => 1 | 4 | 8,
        "*" => ALL,
        letters => {
            let mut bits = 0u8;
            let mut next = 0;
            for c in letters.chars() {
                let Some(i) = LETTERS[next..].iter().position(|(l, _)| *l == c) else {
                    return refuse(
                        "has unknown permissions: use letters of cruds in that order (e.g. rs), or read, write, *",
                    );
                };
                bits |= LETTERS[next + i].1;
                next += i + 1;
            }
            if bits == 0 {
                return refuse("has no permissions: write system/<Type>.<cruds>");
            }
            bits
        }
    };
    Ok((rtype, bits))
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (rtype, bits)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "system/{rtype}.")?;
            for (letter, bit) in LETTERS {
                if bits & bit != 0 {
                    write!(f, "{letter}")?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Client registry

/// A registered backend-services client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// What the client puts in `iss` and `sub`.
    pub client_id: String,
    /// Its 10-digit medical institution code (医療機関コード).
    pub institution: String,
    /// A name for people.
    pub name: String,
    /// Its public keys: a JWK Set, `{"keys": [...]}`.
    pub jwks: serde_json::Value,
    /// The most it may be granted (a scope string).
    pub scope: String,
}

/// Why a client cannot be registered, or the registry cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("client '{client_id}' cannot be registered: {reason}")]
    Invalid { client_id: String, reason: String },
    #[error("the client registry {path} cannot be read: {message}")]
    Corrupt { path: String, message: String },
    #[error("the client registry cannot be written: {0}")]
    Io(String),
}

#[derive(Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    clients: Vec<Client>,
}

/// The registered clients, by `client_id`.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    clients: BTreeMap<String, Client>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The registry in `path`, empty if there is no such file. Every client is checked again.
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let corrupt = |message: String| RegistryError::Corrupt {
            path: path.display().to_string(),
            message,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::new()),
            Err(e) => return Err(corrupt(e.to_string())),
        };
        let file: RegistryFile =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.version != 1 {
            return Err(corrupt(format!("unknown version {}", file.version)));
        }
        let mut registry = Registry::new();
        for client in file.clients {
            registry
                .register(client)
                .map_err(|e| corrupt(e.to_string()))?;
        }
        Ok(registry)
    }

    /// Writes the registry to `path` whole (temporary file, synced, renamed).
    pub fn save(&self, path: &Path) -> Result<(), RegistryError> {
        let file = RegistryFile {
            version: 1,
            clients: self.clients.values().cloned().collect(),
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| RegistryError::Io(e.to_string()))?;
        crate::ca_dir::write_atomically(path, &bytes, false)
            .map_err(|e| RegistryError::Io(e.to_string()))
    }

    /// Registers `client` after checking it (its institution code and scope are stored in
    /// canonical form), replacing any client with the same id (key rotation); returns the
    /// replaced one.
    pub fn register(&mut self, mut client: Client) -> Result<Option<Client>, RegistryError> {
        let invalid = |reason: String| RegistryError::Invalid {
            client_id: shown(&client.client_id),
            reason,
        };
        let id = &client.client_id;
        if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "a client_id is 1 to 255 visible ASCII characters, without spaces".into(),
            ));
        }
        if client.name.trim().is_empty() {
            return Err(invalid("give the client a name".into()));
        }
        let institution =
            kizuna_jpid::InstitutionCode::parse(&client.institution).map_err(&invalid)?;
        let scopes = Scopes::parse(&client.scope).map_err(|e| invalid(e.to_string()))?;
        if scopes.is_empty() {
            return Err(invalid(
                "its scope grants nothing: give at least one system/ scope".into(),
            ));
        }
        check_jwks(&client.jwks).map_err(&invalid)?;
        client.institution = institution.to_string();
        client.scope = scopes.to_string();
        Ok(self.clients.insert(client.client_id.clone(), client))
    }

    /// Removes a client; returns it if it was registered.
    pub fn remove(&mut self, client_id: &str) -> Option<Client> {
        self.clients.remove(client_id)
    }

    /// The client registered under `client_id`.
    pub fn get(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(client_id)
    }

    /// Every registered client, by id.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }
}

/// Parses a client's JWK Set.
fn jwk_set(jwks: &serde_json::Value) -> Result<JwkSet, String> {
    serde_json::from_value(jwks.clone())
        .map_err(|e| format!("its jwks is not a JWK Set ({{\"keys\": [...]}}): {e}"))
}

/// Checks that a JWK Set holds only public RSA (≥ 2048 bits) or EC P-384 signing keys, each
/// with its own `kid`.
fn check_jwks(jwks: &serde_json::Value) -> Result<(), String> {
    let set = jwk_set(jwks)?;
    if set.keys.is_empty() {
        return Err("its JWK Set has no keys: register at least one public key".into());
    }
    let raw = jwks.get("keys").and_then(|k| k.as_array()).cloned();
    let mut kids = std::collections::HashSet::new();
    for (i, (jwk, raw)) in set.keys.iter().zip(raw.unwrap_or_default()).enumerate() {
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        let private = ["d", "p", "q", "dp", "dq", "qi", "k"]
            .into_iter()
            .find(|m| raw.get(m).is_some());
        let expected = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyAlgorithm::RS384,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => {
                KeyAlgorithm::ES384
            }
            _ => KeyAlgorithm::UNKNOWN_ALGORITHM,
        };
        let problem = if kid.is_empty() {
            "has no kid: give every key one, the assertions name it".to_owned()
        } else if !kids.insert(kid.clone()) {
            "is the kid of two keys: give each key its own".to_owned()
        } else if let Some(member) = private {
            format!(
                "holds private key material ('{member}'): register the public key only, and replace the key pair since it has been shared"
            )
        } else if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            "is not a signing key: its use must be sig".to_owned()
        } else if expected == KeyAlgorithm::UNKNOWN_ALGORITHM {
            "is neither an RSA key nor an EC P-384 key: assertions are signed RS384 or ES384".into()
        } else if jwk.common.key_algorithm.is_some_and(|alg| alg != expected) {
            format!("declares another alg than {expected:?}: leave alg out or set it to that")
        } else {
            match key_size(jwk) {
                Ok(()) => continue,
                Err(problem) => problem,
            }
        };
        let name = if kid.is_empty() {
            format!("#{i}")
        } else {
            format!("'{}'", shown(&kid))
        };
        return Err(format!("key {name} {problem}"));
    }
    Ok(())
}

/// Checks an RSA key's size, an EC key's point length.
fn key_size(jwk: &Jwk) -> Result<(), String> {
    match DecodingKey::from_jwk(jwk)
        .map_err(|e| format!("is unusable: {e}"))?
        .kind()
    {
        DecodingKeyKind::RsaModulusExponent { n, .. } => {
            let bits = n.iter().position(|b| *b != 0).map_or(0, |first| {
                (n.len() - first) * 8 - n[first].leading_zeros() as usize
            });
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "is a {bits}-bit RSA key: use at least {MIN_RSA_BITS} bits"
                ));
            }
        }
        DecodingKeyKind::SecretOrDer(point) if point.len() != 97 => {
            return Err("is not a P-384 point: x and y are 48 bytes each".into());
        }
        DecodingKeyKind::SecretOrDer(_) => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Client assertions

/// The `jti`s of accepted assertions, kept until the assertion could no longer be accepted
/// anyway, so that none is accepted twice.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl ReplayGuard {
    pub fn new() -> ReplayGuard {
        ReplayGuard::default()
    }

    /// Records `jti` of `client_id`'s assertion expiring at `exp`; false if it is already
    /// recorded. Forgets the entries whose assertions have expired.
    pub fn check_and_record(&self, client_id: &str, jti: &str, exp: i64, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, until| *until >= now);
        let key = (client_id.to_owned(), jti.to_owned());
        if seen.contains_key(&key) {
            return false;
        }
        seen.insert(key, exp.saturating_add(LEEWAY));
        true
    }

    /// How many `jti`s are remembered.
    pub fn remembered(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    jti: Option<String>,
}

/// The refusal of an assertion whose header jsonwebtoken cannot read: names its `alg` when
/// it has one (`none` is not an algorithm jsonwebtoken knows).
fn unreadable_header(assertion: &str) -> SmartError {
    let alg = assertion
        .split('.')
        .next()
        .and_then(|header| URL_SAFE_NO_PAD.decode(header).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|header| header.get("alg")?.as_str().map(str::to_owned));
    match alg {
        Some(alg) if !ASSERTION_ALGORITHMS.contains(&alg.as_str()) => wrong_algorithm(&alg),
        _ => invalid_client(
            "client_assertion is not a signed JWT (base64url header.claims.signature with a JSON header)",
        ),
    }
}

fn wrong_algorithm(alg: &str) -> SmartError {
    invalid_client(format!(
        "the assertion's alg is '{}': only RS384 and ES384 are accepted; sign it with an RSA (2048 bits or more) or EC P-384 key of the registered JWK Set",
        shown(alg)
    ))
}

/// Checks a client assertion (a JWT the client signed) and returns the client it
/// authenticates; its `jti` is then recorded in `seen`.
pub fn verify_assertion<'r>(
    registry: &'r Registry,
    assertion: &str,
    token_url: &str,
    now: i64,
    seen: &ReplayGuard,
) -> Result<&'r Client, SmartError> {
    let header: Header =
        jsonwebtoken::decode_header(assertion).map_err(|_| unreadable_header(assertion))?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(wrong_algorithm(&format!("{:?}", header.alg)));
    }
    if header.crit.is_some() {
        return Err(invalid_client(
            "the assertion's header has crit: leave it out",
        ));
    }
    let Some(kid) = header.kid.as_deref().filter(|k| !k.is_empty()) else {
        return Err(invalid_client(
            "the assertion's header has no kid: name the signing key",
        ));
    };
    // Read unverified only to find the key; every claim is checked on the verified decode.
    let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|e| invalid_client(format!("the assertion's claims cannot be read: {e}")))?;
    let iss = unverified.iss.unwrap_or_default();
    let Some(client) = registry.get(&iss) else {
        return Err(invalid_client(format!(
            "no client '{}' is registered here: set iss and sub to the client_id, or have the client registered",
            shown(&iss)
        )));
    };
    let keys = jwk_set(&client.jwks).map_err(invalid_client)?;
    let Some(jwk) = keys.find(kid) else {
        return Err(invalid_client(format!(
            "client '{}' has no registered key with kid '{}': register the new public key, or sign with a registered one",
            shown(&iss),
            shown(kid)
        )));
    };
    let key = decoding_key(jwk, header.alg, kid)?;
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false; // checked below against `now`
    validation.validate_aud = false; // likewise
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => invalid_client(format!(
                "the assertion's signature does not verify with key '{}': sign with the private key of that registered key",
                shown(kid)
            )),
            _ => invalid_client(format!("the assertion cannot be verified: {e}")),
        })?
        .claims;

    let id = Some(client.client_id.as_str());
    let aud_ok = match &claims.aud {
        Some(Audience::One(aud)) => aud == token_url,
        Some(Audience::Many(auds)) => auds.iter().any(|aud| aud == token_url),
        None => false,
    };
    let exp = claims.exp.unwrap_or(i64::MIN);
    let jti = claims.jti.unwrap_or_default();
    let problem = if claims.iss.as_deref() != id || claims.sub.as_deref() != id {
        "its iss and sub differ: set both to the client_id".to_owned()
    } else if !aud_ok {
        format!("its aud is not this token endpoint: set aud to {token_url}")
    } else if claims.exp.is_none() {
        "it has no exp: set exp at most five minutes ahead".to_owned()
    } else if exp.saturating_add(LEEWAY) < now {
        format!("it expired at {exp} (now is {now}): sign a new one for every token request")
    } else if exp > now.saturating_add(MAX_ASSERTION_LIFETIME + LEEWAY) {
        format!("its exp ({exp}) is more than five minutes after now ({now}): set it closer")
    } else if jti.is_empty() || jti.len() > 255 {
        "it has no jti (or one over 255 bytes): give every assertion a new random jti".to_owned()
    } else if !seen.check_and_record(&client.client_id, &jti, exp, now) {
        "its jti was already used: sign a new assertion, with a new jti, for every request".into()
    } else {
        return Ok(client);
    };
    Err(invalid_client(format!(
        "the assertion is refused: {problem}"
    )))
}

/// The key to check an assertion signed with `alg` by `jwk`.
fn decoding_key(jwk: &Jwk, alg: Algorithm, kid: &str) -> Result<DecodingKey, SmartError> {
    let fits = matches!(
        (&jwk.algorithm, alg),
        (AlgorithmParameters::RSA(_), Algorithm::RS384)
            | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES384)
    );
    if !fits {
        return Err(invalid_client(format!(
            "key '{}' is not a key for {alg:?}: RSA keys sign RS384, EC P-384 keys ES384",
            shown(kid)
        )));
    }
    DecodingKey::from_jwk(jwk)
        .map_err(|e| invalid_client(format!("key '{}' is unusable: {e}", shown(kid))))
}

// ---------------------------------------------------------------------------------------------
// Token requests and access tokens

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
    /// What was granted, in canonical form.
    pub scope: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// What a valid access token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub institution: String,
    pub scopes: Scopes,
    /// Unix seconds.
    pub expires: i64,
}

#[derive(Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    institution: String,
    scope: String,
    exp: i64,
    iat: i64,
    jti: String,
}

/// Issues and checks this server's access tokens: HS256 JWTs under a secret of its own.
pub struct TokenIssuer {
    secret: Vec<u8>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenIssuer([redacted])")
    }
}

impl TokenIssuer {
    /// An issuer with `secret` (at least 32 bytes; nodes that share it accept each other's
    /// tokens).
    pub fn new(secret: &[u8]) -> Result<TokenIssuer, String> {
        if secret.len() < 32 {
            return Err("the access-token secret must have at least 32 bytes".into());
        }
        Ok(TokenIssuer {
            secret: secret.to_vec(),
        })
    }

    /// An issuer with a new random 32-byte secret (its tokens die with it).
    pub fn generate() -> Result<TokenIssuer, String> {
        let mut secret = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| "the random generator failed")?;
        TokenIssuer::new(&secret)
    }

    /// A [`TOKEN_LIFETIME`] access token granting `scopes` to `client`.
    pub fn issue(
        &self,
        client: &Client,
        scopes: &Scopes,
        now: i64,
    ) -> Result<TokenResponse, SmartError> {
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti)
            .map_err(|_| SmartError::ServerError("the random generator failed".into()))?;
        let claims = AccessClaims {
            iss: ISSUER.to_owned(),
            sub: client.client_id.clone(),
            institution: client.institution.clone(),
            scope: scopes.to_string(),
            exp: now + TOKEN_LIFETIME,
            iat: now,
            jti: crate::hex::encode(&jti),
        };
        let access_token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.secret),
        )
        .map_err(|e| SmartError::ServerError(e.to_string()))?;
        Ok(TokenResponse {
            access_token,
            token_type: "bearer".to_owned(),
            expires_in: TOKEN_LIFETIME,
            scope: claims.scope,
        })
    }

    /// What `token` grants, if this issuer made it (HS256 under its secret, nothing else)
    /// and it has not expired at `now`. The caller may also check that the client is still
    /// registered: a removed client's tokens live out their five minutes.
    pub fn verify(&self, token: &str, now: i64) -> Result<Grant, SmartError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false; // checked below against `now`
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<AccessClaims>(
            token,
            &DecodingKey::from_secret(&self.secret),
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithm => "it is not an HS256 token of this server",
            ErrorKind::InvalidSignature => {
                "its signature does not verify: not issued here, or altered"
            }
            _ => "it is not a token this server issued",
        })
        .map_err(|why| SmartError::InvalidToken(why.into()))?
        .claims;
        let why = if claims.iss != ISSUER {
            "it was not issued by this server"
        } else if now >= claims.exp {
            "it has expired: request a new one with a new client assertion"
        } else {
            match Scopes::parse(&claims.scope) {
                Ok(scopes) => {
                    return Ok(Grant {
                        client_id: claims.sub,
                        institution: claims.institution,
                        scopes,
                        expires: claims.exp,
                    });
                }
                Err(_) => "its scope cannot be read",
            }
        };
        Err(SmartError::InvalidToken(why.into()))
    }
}

/// The one value of form parameter `name`, refusing it repeated (RFC 6749 §3.2).
fn param<'f>(form: &'f [(String, String)], name: &str) -> Result<Option<&'f str>, SmartError> {
    let mut values = form
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(SmartError::InvalidRequest(format!(
            "{name} is given more than once"
        )));
    }
    Ok(first)
}

fn required<'f>(form: &'f [(String, String)], name: &str) -> Result<&'f str, SmartError> {
    param(form, name)?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SmartError::InvalidRequest(format!("{name} is missing")))
}

/// Answers a backend-services token request (the decoded form of the POST to `token_url`):
/// authenticates the client by its assertion and grants the scopes it asked for that its
/// registration allows.
pub fn token_request(
    registry: &Registry,
    form: &[(String, String)],
    token_url: &str,
    now: i64,
    seen: &ReplayGuard,
    issuer: &TokenIssuer,
) -> Result<TokenResponse, SmartError> {
    let grant_type = required(form, "grant_type")?;
    if grant_type != "client_credentials" {
        return Err(SmartError::UnsupportedGrantType(shown(grant_type)));
    }
    if required(form, "client_assertion_type")? != CLIENT_ASSERTION_TYPE {
        return Err(SmartError::InvalidRequest(format!(
            "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
        )));
    }
    let assertion = required(form, "client_assertion")?;
    let Some(scope) = param(form, "scope")?.filter(|s| !s.trim().is_empty()) else {
        return Err(SmartError::InvalidRequest(
            "scope is missing: ask for system/ scopes (e.g. system/Observation.rs)".into(),
        ));
    };
    let client_id = param(form, "client_id")?;
    let client = verify_assertion(registry, assertion, token_url, now, seen)?;
    if client_id.is_some_and(|id| id != client.client_id) {
        return Err(invalid_client(
            "client_id differs from the assertion's iss: leave it out or make them equal",
        ));
    }
    let asked = Scopes::parse(scope)?;
    let registered = Scopes::parse(&client.scope)?;
    let granted = asked.intersect(&registered);
    if granted.is_empty() {
        return Err(SmartError::InvalidScope(format!(
            "none of the scopes asked for is within the client's registration ({registered}): ask within it, or have the registration extended"
        )));
    }
    issuer.issue(client, &granted, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_guard_forgets_expired_entries() {
        let guard = ReplayGuard::new();
        assert!(guard.check_and_record("a", "j1", 1_000, 900));
        assert!(!guard.check_and_record("a", "j1", 1_000, 950));
        // Another client's jti of the same value is its own.
        assert!(guard.check_and_record("b", "j1", 1_000, 950));
        assert_eq!(guard.remembered(), 2);
        // Past exp + leeway the entries are dropped (the assertion is refused as expired).
        assert!(guard.check_and_record("a", "j2", 2_000, 1_000 + LEEWAY + 1));
        assert_eq!(guard.remembered(), 1);
    }

    #[test]
    fn quoted_values_are_cut_short() {
        assert_eq!(shown("lab"), "lab");
        assert_eq!(shown(&"é".repeat(500)).chars().count(), MAX_SHOWN + 1);
    }
}
