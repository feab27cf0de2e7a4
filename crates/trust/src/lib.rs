//! `kizuna-trust`: who may see what. Owns the network's certificates ([`pki`]: the network and
//! card authorities, issuance, revocation, CRLs, the check of a presented certificate;
//! [`ca_dir`]: the authorities kept in a directory, behind `kizuna pki`) and the My Number as
//! the patient index may hold it ([`my_number`]: a keyed hash only) and patient cards
//! ([`card`]: the `Card` interface, the PIN-locked software card, the check of a card's
//! signature; `jpki`, with the `pcsc` feature: a real My Number card in a PC/SC reader) and SMART Backend Services authorization ([`smart`]: the registered clients,
//! the check of their signed assertions, scopes, access tokens); the patient index, consent,
//! access rules and audit join it as they are built.
//!
//! Must never: know HTTP (the server passes it certificates and requests as data), hand-write
//! ASN.1 or cryptography (rcgen, x509-parser, rustls-webpki, jsonwebtoken and aws-lc-rs do
//! that), or log a key, a PIN, a token or patient data.

pub mod ca_dir;
pub mod card;
pub mod checkpoint;
pub mod hex;
#[cfg(feature = "pcsc")]
pub mod jpki;
pub mod my_number;
pub mod pki;
pub mod smart;
