//! Signed checkpoints of the audit log.
//!
//! The hash chain shows an edit to one entry; someone able to rewrite the whole table could
//! recompute every hash after an edit. A checkpoint stops that: the node signs the hash of the
//! log's last entry with its server key (a network-CA certificate, `kizuna pki issue
//! server`) and appends the signature as the next entry. Rewriting anything before a checkpoint
//! then needs a new signature from a key the attacker does not have. A checkpoint entry is
//! JSON `{"checkpoint": {"seq", "hash", "signature", "certificate"}}` and certifies the entry
//! just before it.

use crate::pki::{PkiError, pem_der};
use aws_lc_rs::{rand, signature};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// The entry certified, and its hash.
    pub seq: i64,
    pub hash: String,
    /// ECDSA P-256 SHA-256 (ASN.1), hex, over [`message`].
    pub signature: String,
    /// The signer's certificate, PEM.
    pub certificate: String,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    checkpoint: Checkpoint,
}

/// What is signed.
fn message(seq: i64, hash: &str) -> Vec<u8> {
    format!("kizuna audit checkpoint\n{seq}\n{hash}").into_bytes()
}

/// The entry (JSON) that certifies entry `seq` with hash `hash`, signed by the server key.
pub fn sign(seq: i64, hash: &str, key_pem: &str, cert_pem: &str) -> Result<String, PkiError> {
    let der = pem_der(key_pem, "PRIVATE KEY")?;
    let key = signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &der)
        .map_err(|_| PkiError::Invalid("the signing key is not an ECDSA P-256 key".into()))?;
    let sig = key
        .sign(&rand::SystemRandom::new(), &message(seq, hash))
        .map_err(|_| PkiError::Crypto("signing failed".into()))?;
    let entry = Entry {
        checkpoint: Checkpoint {
            seq,
            hash: hash.to_string(),
            signature: crate::hex::encode(sig.as_ref()),
            certificate: cert_pem.to_string(),
        },
    };
    serde_json::to_string(&entry).map_err(|e| PkiError::Invalid(e.to_string()))
}

/// The checkpoint in an audit entry, if it is one.
pub fn read(entry: &str) -> Option<Checkpoint> {
    if !entry.starts_with("{\"checkpoint\"") {
        return None;
    }
    serde_json::from_str::<Entry>(entry)
        .ok()
        .map(|e| e.checkpoint)
}

/// Whether `c` is signed by a server certificate of the network CA (`ca_der`) over its own
/// `seq` and `hash`.
pub fn check(c: &Checkpoint, ca_der: &[u8]) -> Result<(), String> {
    let cert = pem_der(&c.certificate, "CERTIFICATE").map_err(|e| e.to_string())?;
    let ca = CertificateDer::from(ca_der);
    let anchor = webpki::anchor_from_trusted_cert(&ca).map_err(|e| format!("the CA: {e}"))?;
    let cert_der = CertificateDer::from(cert.as_slice());
    let ee = webpki::EndEntityCert::try_from(&cert_der).map_err(|e| e.to_string())?;
    // The signer's certificate was valid when it signed; checked at its own issue time is
    // enough to tie it to the CA (an expired node certificate does not void old checkpoints).
    let (_, x) = X509Certificate::from_der(&cert).map_err(|e| e.to_string())?;
    let issued_at = u64::try_from(x.validity().not_before.timestamp()).unwrap_or(0) + 600;
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(issued_at)),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| format!("the signer is not a server of this network: {e:?}"))?;
    let sig = crate::hex::decode(&c.signature).ok_or("the signature is not hex")?;
    let key = &x.public_key().subject_public_key.data;
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, key)
        .verify(&message(c.seq, &c.hash), &sig)
        .map_err(|_| "the signature does not match".to_string())
}
