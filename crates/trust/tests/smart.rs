//! SMART Backend Services: client assertions signed with real RS384 and ES384 keys are
//! accepted, and every way of getting one wrong is refused with the right OAuth error; token
//! requests grant what was asked within the registration; access tokens verify only as issued;
//! the registry checks what it registers and survives its file; scopes parse, print, allow and
//! intersect as SMART says.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kizuna_trust::smart::{
    Client, Interaction, Registry, ReplayGuard, Scopes, SmartError, TokenIssuer, token_request,
    verify_assertion,
};
use serde_json::{Value, json};
use std::sync::OnceLock;

const TOKEN_URL: &str = "https://kizuna.example/auth/token";
const NOW: i64 = 1_800_000_000;
/// A valid medical institution code (Luhn over the first nine digits).
const INSTITUTION: &str = "0110113719";

/// A signing key and its public JWK (with a kid).
struct Key {
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

fn key(alg: Algorithm, kid: &str) -> Key {
    let encoding = match alg {
        Algorithm::RS384 | Algorithm::RS256 => {
            let pair =
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                    .unwrap();
            EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap()
        }
        Algorithm::ES384 => {
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
            EncodingKey::from_ec_der(&pair.serialize_der())
        }
        other => panic!("no test key for {other:?}"),
    };
    let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    Key { alg, encoding, jwk }
}

/// RSA key generation is slow: one RSA and one EC key for every test, plus an RSA impostor.
fn keys() -> &'static (Key, Key, Key) {
    static KEYS: OnceLock<(Key, Key, Key)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            key(Algorithm::RS384, "rsa-1"),
            key(Algorithm::ES384, "ec-1"),
            key(Algorithm::RS384, "rsa-1"),
        )
    })
}

fn jwks(keys: &[&Key]) -> Value {
    serde_json::to_value(JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    })
    .unwrap()
}

fn client(id: &str, jwks: Value, scope: &str) -> Client {
    Client {
        client_id: id.into(),
        institution: INSTITUTION.into(),
        name: format!("{id} lab system"),
        jwks,
        scope: scope.into(),
    }
}

fn registry() -> Registry {
    let (rsa, ec, _) = keys();
    let mut registry = Registry::new();
    registry
        .register(client(
            "lab",
            jwks(&[rsa, ec]),
            "system/Observation.rs system/Patient.r",
        ))
        .unwrap();
    registry
}

fn claims(jti: &str) -> Value {
    json!({"iss": "lab", "sub": "lab", "aud": TOKEN_URL, "exp": NOW + 240, "jti": jti})
}

fn sign_as(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn sign(key: &Key, claims: &Value) -> String {
    sign_as(
        key.alg,
        key.jwk.common.key_id.as_deref(),
        claims,
        &key.encoding,
    )
}

fn check(assertion: &str) -> Result<String, SmartError> {
    verify_assertion(&registry(), assertion, TOKEN_URL, NOW, &ReplayGuard::new())
        .map(|c| c.client_id.clone())
}

/// Asserts a refusal with `code` whose message mentions `hint`.
fn refused(result: Result<impl std::fmt::Debug, SmartError>, code: &str, hint: &str) {
    let e = result.expect_err("should be refused");
    assert_eq!(e.oauth_error(), code, "{e}");
    assert!(
        e.to_string().contains(hint),
        "'{e}' should mention '{hint}'"
    );
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[test]
fn good_rs384_and_es384_assertions_authenticate_the_client() {
    let (rsa, ec, _) = keys();
    assert_eq!(check(&sign(rsa, &claims("a1"))).unwrap(), "lab");
    assert_eq!(check(&sign(ec, &claims("a2"))).unwrap(), "lab");
    // aud as an array holding the token URL; exp just past but within the leeway.
    let mut c = claims("a3");
    c["aud"] = json!(["https://other.example", TOKEN_URL]);
    c["exp"] = json!(NOW - 30);
    assert_eq!(check(&sign(rsa, &c)).unwrap(), "lab");
}

#[test]
fn algorithms_other_than_rs384_and_es384_are_refused() {
    let (rsa, _, _) = keys();
    let body = b64(&claims("n1"));
    // alg none, unsigned.
    let none = format!("{}.{body}.", b64(&json!({"alg": "none", "typ": "JWT"})));
    refused(check(&none), "invalid_client", "'none'");
    let none_kid = format!("{}.{body}.", b64(&json!({"alg": "none", "kid": "rsa-1"})));
    refused(check(&none_kid), "invalid_client", "only RS384 and ES384");
    // HS256 with the public modulus as the secret (the key-confusion attack).
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(params) = &rsa.jwk.algorithm else {
        panic!("not an RSA JWK")
    };
    let hs = sign_as(
        Algorithm::HS256,
        Some("rsa-1"),
        &claims("n2"),
        &EncodingKey::from_secret(params.n.as_bytes()),
    );
    refused(check(&hs), "invalid_client", "HS256");
    // RS256 with the registered key.
    let rs256 = sign_as(
        Algorithm::RS256,
        Some("rsa-1"),
        &claims("n3"),
        &rsa.encoding,
    );
    refused(check(&rs256), "invalid_client", "RS256");
    // ES384 header on an RSA key's kid.
    let (_, ec, _) = keys();
    let crossed = sign_as(Algorithm::ES384, Some("rsa-1"), &claims("n4"), &ec.encoding);
    refused(check(&crossed), "invalid_client", "not a key for ES384");
    refused(check("not a jwt"), "invalid_client", "not a signed JWT");
}

#[test]
fn keys_must_be_the_registered_ones() {
    let (rsa, _, impostor) = keys();
    // Another key pair presenting the same kid.
    refused(
        check(&sign(impostor, &claims("k1"))),
        "invalid_client",
        "does not verify",
    );
    // No kid, an unknown kid.
    let no_kid = sign_as(Algorithm::RS384, None, &claims("k2"), &rsa.encoding);
    refused(check(&no_kid), "invalid_client", "no kid");
    let unknown = sign_as(
        Algorithm::RS384,
        Some("rsa-9"),
        &claims("k3"),
        &rsa.encoding,
    );
    refused(check(&unknown), "invalid_client", "rsa-9");
    // A tampered body.
    let good = sign(rsa, &claims("k4"));
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims("k4");
    forged["exp"] = json!(NOW + 290);
    let body = b64(&forged);
    parts[1] = &body;
    refused(check(&parts.join(".")), "invalid_client", "does not verify");
}

#[test]
fn claims_must_name_the_client_and_this_endpoint() {
    let (rsa, _, _) = keys();
    let with = |field: &str, value: Value| {
        let mut c = claims(&format!("c-{field}"));
        if value.is_null() {
            c.as_object_mut().unwrap().remove(field);
        } else {
            c[field] = value;
        }
        check(&sign(rsa, &c))
    };
    refused(
        with("iss", json!("nobody")),
        "invalid_client",
        "no client 'nobody'",
    );
    refused(
        with("iss", Value::Null),
        "invalid_client",
        "set iss and sub",
    );
    refused(with("sub", json!("other")), "invalid_client", "iss and sub");
    refused(with("sub", Value::Null), "invalid_client", "iss and sub");
    refused(
        with("aud", json!("https://evil.example/token")),
        "invalid_client",
        TOKEN_URL,
    );
    refused(
        with("aud", json!(["https://evil.example"])),
        "invalid_client",
        "aud",
    );
    refused(with("aud", Value::Null), "invalid_client", "aud");
    refused(with("exp", json!(NOW - 61)), "invalid_client", "expired");
    refused(
        with("exp", json!(NOW + 361)),
        "invalid_client",
        "five minutes",
    );
    refused(with("exp", Value::Null), "invalid_client", "no exp");
    refused(with("jti", Value::Null), "invalid_client", "no jti");
    refused(with("jti", json!("")), "invalid_client", "no jti");
}

#[test]
fn a_jti_is_accepted_once() {
    let (rsa, ec, _) = keys();
    let registry = registry();
    let seen = ReplayGuard::new();
    let assertion = sign(rsa, &claims("once"));
    verify_assertion(&registry, &assertion, TOKEN_URL, NOW, &seen).unwrap();
    refused(
        verify_assertion(&registry, &assertion, TOKEN_URL, NOW + 10, &seen),
        "invalid_client",
        "already used",
    );
    // The same jti in a new assertion, even with the other key, is a replay too.
    let again = sign(ec, &claims("once"));
    refused(
        verify_assertion(&registry, &again, TOKEN_URL, NOW + 20, &seen),
        "invalid_client",
        "already used",
    );
    // A refused assertion does not burn its jti.
    let mut wrong_aud = claims("later");
    wrong_aud["aud"] = json!("https://evil.example");
    assert!(verify_assertion(&registry, &sign(rsa, &wrong_aud), TOKEN_URL, NOW, &seen).is_err());
    verify_assertion(
        &registry,
        &sign(rsa, &claims("later")),
        TOKEN_URL,
        NOW,
        &seen,
    )
    .unwrap();
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn request(assertion: &str, scope: &str) -> Vec<(String, String)> {
    form(&[
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
        ("scope", scope),
    ])
}

#[test]
fn token_requests_grant_what_was_asked_within_the_registration() {
    let (rsa, ec, _) = keys();
    let registry = registry();
    let seen = ReplayGuard::new();
    let issuer = TokenIssuer::generate().unwrap();
    let ask = |jti: &str, scope: &str| {
        let f = request(&sign(rsa, &claims(jti)), scope);
        token_request(&registry, &f, TOKEN_URL, NOW, &seen, &issuer)
    };
    let response = ask(
        "t1",
        "system/Observation.cruds system/Encounter.r system/Patient.rs",
    )
    .unwrap();
    assert_eq!(response.scope, "system/Observation.rs system/Patient.r");
    assert_eq!(response.token_type, "bearer");
    assert_eq!(response.expires_in, 300);
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["expires_in"], 300);
    assert!(json["access_token"].is_string());
    assert!(!format!("{response:?}").contains(&response.access_token));
    let grant = issuer.verify(&response.access_token, NOW + 10).unwrap();
    assert_eq!(grant.client_id, "lab");
    assert_eq!(grant.institution, INSTITUTION);
    assert_eq!(grant.expires, NOW + 300);
    assert!(grant.scopes.allows("Observation", Interaction::Search));
    assert!(!grant.scopes.allows("Observation", Interaction::Create));
    assert!(!grant.scopes.allows("Encounter", Interaction::Read));
    // v1 and wildcard requests are cut down the same way.
    assert_eq!(
        ask("t2", "system/*.read").unwrap().scope,
        "system/Observation.rs system/Patient.r"
    );
    // Nothing within the registration, or a scope that is not for backend services.
    refused(
        ask("t3", "system/Encounter.rs"),
        "invalid_scope",
        "registration",
    );
    refused(
        ask("t4", "patient/Observation.rs"),
        "invalid_scope",
        "patient/Observation.rs",
    );
    refused(
        ask("t5", "system/Observation.rs openid"),
        "invalid_scope",
        "openid",
    );
    // The ES384 key works as well.
    let f = request(&sign(ec, &claims("t6")), "system/Patient.r");
    assert!(token_request(&registry, &f, TOKEN_URL, NOW, &seen, &issuer).is_ok());
}

#[test]
fn malformed_token_requests_are_refused() {
    let (rsa, _, _) = keys();
    let registry = registry();
    let seen = ReplayGuard::new();
    let issuer = TokenIssuer::generate().unwrap();
    let run =
        |f: Vec<(String, String)>| token_request(&registry, &f, TOKEN_URL, NOW, &seen, &issuer);
    let assertion = sign(rsa, &claims("m1"));
    let good = request(&assertion, "system/Patient.r");
    let without = |name: &str| good.iter().filter(|(k, _)| k != name).cloned().collect();
    let replaced = |name: &str, value: &str| {
        good.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == name {
                        value.to_owned()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect()
    };
    refused(
        run(replaced("grant_type", "authorization_code")),
        "unsupported_grant_type",
        "authorization_code",
    );
    refused(run(without("grant_type")), "invalid_request", "grant_type");
    refused(
        run(without("client_assertion_type")),
        "invalid_request",
        "client_assertion_type",
    );
    refused(
        run(replaced("client_assertion_type", "jwt")),
        "invalid_request",
        "jwt-bearer",
    );
    refused(
        run(without("client_assertion")),
        "invalid_request",
        "client_assertion",
    );
    refused(run(without("scope")), "invalid_request", "scope");
    let mut twice = good.clone();
    twice.push(("scope".into(), "system/Observation.r".into()));
    refused(run(twice), "invalid_request", "more than once");
    let mut other_id = good.clone();
    other_id.push(("client_id".into(), "someone-else".into()));
    refused(run(other_id), "invalid_client", "client_id");
    // None of those burnt the jti but the last; a good request with a fresh one passes.
    let fresh = request(&sign(rsa, &claims("m2")), "system/Patient.r");
    assert!(run(fresh).is_ok());
}

#[test]
fn access_tokens_verify_only_as_issued() {
    let issuer = TokenIssuer::new(&[7u8; 32]).unwrap();
    let registry = registry();
    let lab = registry.get("lab").unwrap();
    let scopes = Scopes::parse("system/Patient.r").unwrap();
    let token = issuer.issue(lab, &scopes, NOW).unwrap().access_token;
    let grant = issuer.verify(&token, NOW + 299).unwrap();
    assert_eq!(grant.scopes, scopes);
    // Expired.
    refused(issuer.verify(&token, NOW + 300), "invalid_token", "expired");
    // Tampered claims (a wider scope) under the old signature.
    let parts: Vec<&str> = token.split('.').collect();
    let wider = json!({"iss": "kizuna", "sub": "lab", "institution": INSTITUTION,
        "scope": "system/*.cruds", "exp": NOW + 300, "iat": NOW, "jti": "x"});
    let tampered = format!("{}.{}.{}", parts[0], b64(&wider), parts[2]);
    refused(
        issuer.verify(&tampered, NOW),
        "invalid_token",
        "does not verify",
    );
    // Another issuer's secret.
    let other = TokenIssuer::new(&[8u8; 32]).unwrap();
    let foreign = other.issue(lab, &scopes, NOW).unwrap().access_token;
    refused(
        issuer.verify(&foreign, NOW),
        "invalid_token",
        "does not verify",
    );
    // alg none, with the same claims.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        parts[1]
    );
    refused(issuer.verify(&none, NOW), "invalid_token", "not a token");
    // An RS384 token of a client's key, with valid-looking claims.
    let (rsa, _, _) = keys();
    let rs = sign(rsa, &wider);
    refused(issuer.verify(&rs, NOW), "invalid_token", "HS256");
    // Another iss under the right secret.
    let mut stranger = wider.clone();
    stranger["iss"] = json!("elsewhere");
    let alien = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &stranger,
        &EncodingKey::from_secret(&[7u8; 32]),
    )
    .unwrap();
    refused(
        issuer.verify(&alien, NOW),
        "invalid_token",
        "not issued by this server",
    );
    refused(
        issuer.verify("garbage", NOW),
        "invalid_token",
        "not a token",
    );
}

#[test]
fn registration_checks_keys_scope_and_institution() {
    let (rsa, ec, _) = keys();
    let mut registry = Registry::new();
    let try_register =
        |registry: &mut Registry, c: Client| registry.register(c).map_err(|e| e.to_string());
    let bad = |c: Client, hint: &str| {
        let e = Registry::new().register(c).expect_err(hint).to_string();
        assert!(e.contains(hint), "'{e}' should mention '{hint}'");
    };
    bad(
        client("x", json!({"keys": []}), "system/Patient.r"),
        "no keys",
    );
    bad(
        client("x", json!({"nokeys": 1}), "system/Patient.r"),
        "JWK Set",
    );
    let mut no_kid = rsa.jwk.clone();
    no_kid.common.key_id = None;
    bad(
        client("x", json!({"keys": [no_kid]}), "system/Patient.r"),
        "kid",
    );
    bad(client("x", jwks(&[rsa, rsa]), "system/Patient.r"), "own");
    // A P-256 key, an Ed25519 key, a symmetric key, a short RSA key, a private key.
    let p256 = json!({"kty": "EC", "crv": "P-256", "kid": "p", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "y": URL_SAFE_NO_PAD.encode([2u8; 32])});
    bad(
        client("x", json!({"keys": [p256]}), "system/Patient.r"),
        "P-384",
    );
    let ed =
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": URL_SAFE_NO_PAD.encode([1u8; 32])});
    bad(
        client("x", json!({"keys": [ed]}), "system/Patient.r"),
        "P-384",
    );
    let oct = json!({"kty": "oct", "kid": "o", "k": URL_SAFE_NO_PAD.encode([1u8; 32])});
    bad(
        client("x", json!({"keys": [oct]}), "system/Patient.r"),
        "'k'",
    );
    let short =
        json!({"kty": "RSA", "kid": "s", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB"});
    bad(
        client("x", json!({"keys": [short]}), "system/Patient.r"),
        "1024-bit",
    );
    let mut private = serde_json::to_value(&rsa.jwk).unwrap();
    private["d"] = json!("AAAA");
    bad(
        client("x", json!({"keys": [private]}), "system/Patient.r"),
        "private",
    );
    let mut enc = serde_json::to_value(&ec.jwk).unwrap();
    enc["use"] = json!("enc");
    bad(
        client("x", json!({"keys": [enc]}), "system/Patient.r"),
        "signing",
    );
    let mut rs256 = serde_json::to_value(&rsa.jwk).unwrap();
    rs256["alg"] = json!("RS256");
    bad(
        client("x", json!({"keys": [rs256]}), "system/Patient.r"),
        "RS384",
    );
    // Scope, institution, id, name.
    bad(
        client("x", jwks(&[ec]), "patient/Patient.r"),
        "patient/Patient.r",
    );
    bad(client("x", jwks(&[ec]), ""), "grants nothing");
    let mut wrong_code = client("x", jwks(&[ec]), "system/Patient.r");
    wrong_code.institution = "0110113718".into();
    bad(wrong_code, "check digit");
    bad(
        client("has space", jwks(&[ec]), "system/Patient.r"),
        "client_id",
    );
    let mut unnamed = client("x", jwks(&[ec]), "system/Patient.r");
    unnamed.name = " ".into();
    bad(unnamed, "name");

    // Good clients are stored in canonical form; re-registration replaces (key rotation).
    let mut full_width = client(
        "lab",
        jwks(&[rsa]),
        "system/Patient.read system/Observation.r",
    );
    full_width.institution = "０１１０１１３７１９".into();
    assert_eq!(try_register(&mut registry, full_width), Ok(None));
    let stored = registry.get("lab").unwrap();
    assert_eq!(stored.institution, INSTITUTION);
    assert_eq!(stored.scope, "system/Observation.r system/Patient.rs");
    let replaced = try_register(
        &mut registry,
        client("lab", jwks(&[ec]), "system/Patient.r"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(replaced.jwks, jwks(&[rsa]));
    assert_eq!(registry.clients().count(), 1);
    // The rotated-out key no longer authenticates.
    let old = sign(rsa, &claims("r1"));
    refused(
        verify_assertion(&registry, &old, TOKEN_URL, NOW, &ReplayGuard::new()),
        "invalid_client",
        "rsa-1",
    );
    assert!(registry.remove("lab").is_some());
    assert!(registry.remove("lab").is_none());
    assert!(registry.get("lab").is_none());
}

#[test]
fn the_registry_round_trips_through_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clients.json");
    assert_eq!(Registry::load(&path).unwrap().clients().count(), 0);
    let registry = registry();
    let (_, ec, _) = keys();
    let mut registry2 = registry.clone();
    registry2
        .register(client(
            "pharmacy",
            jwks(&[ec]),
            "system/MedicationRequest.rs",
        ))
        .unwrap();
    registry2.save(&path).unwrap();
    let loaded = Registry::load(&path).unwrap();
    let ids: Vec<&str> = loaded.clients().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["lab", "pharmacy"]);
    assert_eq!(loaded.get("lab"), registry.get("lab"));
    // Saved again over the old file, nothing else is left in the directory.
    loaded.save(&path).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A loaded registry authenticates as the original did.
    let (rsa, _, _) = keys();
    let seen = ReplayGuard::new();
    assert!(verify_assertion(&loaded, &sign(rsa, &claims("f1")), TOKEN_URL, NOW, &seen).is_ok());
    // A corrupt file, or a hand-edited invalid client, is refused, not emptied.
    std::fs::write(&path, "{not json").unwrap();
    assert!(Registry::load(&path).is_err());
    let mut file: Value = serde_json::from_slice(&{
        loaded.save(&path).unwrap();
        std::fs::read(&path).unwrap()
    })
    .unwrap();
    file["clients"][0]["scope"] = json!("user/*.*");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    let e = Registry::load(&path).unwrap_err().to_string();
    assert!(e.contains("user/*.*"), "{e}");
}

#[test]
fn errors_map_to_oauth_codes() {
    let cases = [
        (SmartError::InvalidClient(String::new()), "invalid_client"),
        (SmartError::InvalidScope(String::new()), "invalid_scope"),
        (SmartError::InvalidRequest(String::new()), "invalid_request"),
        (
            SmartError::UnsupportedGrantType(String::new()),
            "unsupported_grant_type",
        ),
        (SmartError::InvalidToken(String::new()), "invalid_token"),
        (SmartError::ServerError(String::new()), "server_error"),
    ];
    for (e, code) in cases {
        assert_eq!(e.oauth_error(), code);
    }
}

#[test]
fn the_issuer_refuses_short_secrets_and_hides_its_own() {
    assert!(TokenIssuer::new(&[1u8; 31]).is_err());
    let issuer = TokenIssuer::new(&[1u8; 32]).unwrap();
    assert_eq!(format!("{issuer:?}"), "TokenIssuer([redacted])");
    assert!(TokenIssuer::generate().is_ok());
}

// Scopes: parsing, canonical form, allows, intersection.

fn s(text: &str) -> Scopes {
    Scopes::parse(text).unwrap()
}

#[test]
fn parses_v1_and_v2_scopes_into_canonical_form() {
    assert_eq!(
        s("system/Patient.r system/Observation.rs").to_string(),
        "system/Observation.rs system/Patient.r"
    );
    assert_eq!(
        s("system/Observation.read").to_string(),
        "system/Observation.rs"
    );
    assert_eq!(
        s("system/Observation.write").to_string(),
        "system/Observation.cud"
    );
    assert_eq!(s("system/*.*").to_string(), "system/*.cruds");
    assert_eq!(s("system/*.cruds"), s("system/*.*"));
    // Repeats merge; what * covers is not repeated.
    assert_eq!(
        s("system/Patient.r system/Patient.s").to_string(),
        "system/Patient.rs"
    );
    assert_eq!(
        s("system/*.r system/Patient.rs").to_string(),
        "system/*.r system/Patient.s"
    );
    assert!(s("  ").is_empty());
}

#[test]
fn refuses_what_is_not_a_backend_services_scope_naming_it() {
    for bad in [
        "patient/Observation.rs",
        "user/*.read",
        "openid",
        "launch",
        "system/Observation",
        "system/Observation.sr",
        "system/Observation.rr",
        "system/Observation.x",
        "system/Observation.",
        "system/observation.r",
        "system/Obs-ervation.r",
        "system/.r",
        "system/Observation.rs?category=laboratory",
    ] {
        let e = Scopes::parse(&format!("system/Patient.r {bad}")).unwrap_err();
        assert_eq!(e.oauth_error(), "invalid_scope", "{bad}");
        assert!(e.to_string().contains(bad), "{bad}: {e}");
    }
    let e = Scopes::parse("patient/Observation.rs").unwrap_err();
    assert!(e.to_string().contains("system/"), "{e}");
}

#[test]
fn allows_per_type_and_letter() {
    let scopes = s("system/Observation.rs system/*.r system/Patient.cu");
    assert!(scopes.allows("Observation", Interaction::Search));
    assert!(scopes.allows("Encounter", Interaction::Read));
    assert!(!scopes.allows("Encounter", Interaction::Search));
    assert!(scopes.allows("Patient", Interaction::Create));
    assert!(scopes.allows("Patient", Interaction::Update));
    assert!(scopes.allows("Patient", Interaction::Read));
    assert!(!scopes.allows("Patient", Interaction::Delete));
    assert!(!Scopes::default().allows("Patient", Interaction::Read));
    let all = s("system/*.*");
    for i in [
        Interaction::Create,
        Interaction::Read,
        Interaction::Update,
        Interaction::Delete,
        Interaction::Search,
    ] {
        assert!(all.allows("Anything", i));
    }
}

#[test]
fn intersects_per_type_and_letter_with_star_on_either_side() {
    let registered = s("system/Observation.rs system/Patient.r");
    assert_eq!(
        s("system/Observation.cruds system/Patient.rs system/Encounter.r")
            .intersect(&registered)
            .to_string(),
        "system/Observation.rs system/Patient.r"
    );
    assert_eq!(
        s("system/*.r").intersect(&registered).to_string(),
        "system/Observation.r system/Patient.r"
    );
    assert_eq!(
        s("system/Observation.rs system/Patient.cud")
            .intersect(&s("system/*.read"))
            .to_string(),
        "system/Observation.rs"
    );
    assert_eq!(
        s("system/*.rs system/Patient.c")
            .intersect(&s("system/*.r system/Patient.cruds"))
            .to_string(),
        "system/*.r system/Patient.cs"
    );
    assert!(s("system/Encounter.r").intersect(&registered).is_empty());
}
