//! Patient cards: what signs a reception challenge after the patient enters the PIN.
//!
//! [`Card`] is what reception software needs of a card: its authentication certificate and a
//! PIN-gated signature (RSA PKCS#1 v1.5 with SHA-256, as the JPKI authentication key signs).
//! [`SoftwareCard`] is a card in a file, for tests and demos: the private key sealed with
//! AES-256-GCM under a key derived from the PIN (PBKDF2-HMAC-SHA-256), locked after three
//! wrong PINs in a row like the real card. A file can be copied, so unlike the real card's
//! chip its lock guards against a person at the counter, not against someone holding the
//! file: it is never a substitute for a real card outside tests and demos. The real card,
//! a My Number card in a PC/SC reader, is `jpki::JpkiCard` (cargo feature `pcsc`).

use aws_lc_rs::{aead, pbkdf2, rand, signature};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// Wrong PINs in a row after which a card locks.
pub const PIN_TRIES: u8 = 3;
const KDF_ITERATIONS: u32 = 100_000;

/// Why a card did not sign.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardError {
    #[error("wrong PIN ({remaining} tries left before the card locks)")]
    WrongPin { remaining: u8 },
    #[error("the card is locked after {PIN_TRIES} wrong PINs; the issuer must reset it")]
    Locked,
    #[error("the PIN is 4 digits")]
    BadPin,
    #[error("the card cannot be used: {0}")]
    Unusable(String),
}

/// A patient card as reception software sees it.
pub trait Card {
    /// The authentication certificate (DER).
    fn certificate(&self) -> Result<Vec<u8>, CardError>;
    /// Signs `message` once the PIN is right.
    fn sign(&mut self, pin: &str, message: &[u8]) -> Result<Vec<u8>, CardError>;
    /// Wrong PINs the card still accepts before it locks.
    fn pin_tries(&mut self) -> Result<u8, CardError>;
}

#[derive(Serialize, Deserialize)]
struct CardFile {
    version: u32,
    serial: String,
    cert_pem: String,
    salt: String,
    nonce: String,
    sealed_key: String,
    wrong_pins: u8,
}

/// A card kept in a file (see the module doc).
pub struct SoftwareCard {
    path: PathBuf,
    file: CardFile,
}

fn unhex(text: &str) -> Result<Vec<u8>, CardError> {
    crate::hex::decode(text).ok_or_else(|| CardError::Unusable("corrupt card file".into()))
}

pub(crate) fn check_pin(pin: &str) -> Result<(), CardError> {
    if pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CardError::BadPin)
    }
}

fn pin_key(pin: &str, salt: &[u8]) -> Result<aead::LessSafeKey, CardError> {
    let mut key = [0u8; 32];
    let iterations = NonZeroU32::new(KDF_ITERATIONS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        pin.as_bytes(),
        &mut key,
    );
    let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &key)
        .map_err(|_| CardError::Unusable("key derivation failed".into()))?;
    Ok(aead::LessSafeKey::new(unbound))
}

impl SoftwareCard {
    /// Writes a new card to `path`: its certificate (PEM, from the card CA) and private key
    /// (PKCS#8 PEM, sealed under `pin`).
    pub fn create(
        path: &Path,
        serial: &str,
        cert_pem: &str,
        key_pem: &str,
        pin: &str,
    ) -> Result<SoftwareCard, CardError> {
        check_pin(pin)?;
        let der = crate::pki::pem_der(key_pem, "PRIVATE KEY")
            .map_err(|e| CardError::Unusable(e.to_string()))?;
        signature::RsaKeyPair::from_pkcs8(&der)
            .map_err(|_| CardError::Unusable("the key is not an RSA key".into()))?;
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::fill(&mut salt).map_err(|_| CardError::Unusable("no randomness".into()))?;
        rand::fill(&mut nonce).map_err(|_| CardError::Unusable("no randomness".into()))?;
        let mut sealed = der;
        pin_key(pin, &salt)?
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(serial.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| CardError::Unusable("sealing failed".into()))?;
        let card = SoftwareCard {
            path: path.to_path_buf(),
            file: CardFile {
                version: 1,
                serial: serial.to_string(),
                cert_pem: cert_pem.to_string(),
                salt: crate::hex::encode(&salt),
                nonce: crate::hex::encode(&nonce),
                sealed_key: crate::hex::encode(&sealed),
                wrong_pins: 0,
            },
        };
        card.save()?;
        Ok(card)
    }

    /// The card in `path`.
    pub fn open(path: &Path) -> Result<SoftwareCard, CardError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CardError::Unusable(format!("{}: {e}", path.display())))?;
        let file: CardFile = serde_json::from_str(&text)
            .map_err(|e| CardError::Unusable(format!("{}: {e}", path.display())))?;
        Ok(SoftwareCard {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn serial(&self) -> &str {
        &self.file.serial
    }

    /// Tries left before the card locks.
    pub fn tries_left(&self) -> u8 {
        PIN_TRIES.saturating_sub(self.file.wrong_pins)
    }

    fn save(&self) -> Result<(), CardError> {
        let text = serde_json::to_string_pretty(&self.file)
            .map_err(|e| CardError::Unusable(e.to_string()))?;
        crate::ca_dir::write_atomically(&self.path, text.as_bytes(), true)
            .map_err(|e| CardError::Unusable(e.to_string()))
    }
}

impl Card for SoftwareCard {
    fn certificate(&self) -> Result<Vec<u8>, CardError> {
        crate::pki::pem_der(&self.file.cert_pem, "CERTIFICATE")
            .map_err(|e| CardError::Unusable(e.to_string()))
    }

    fn sign(&mut self, pin: &str, message: &[u8]) -> Result<Vec<u8>, CardError> {
        if self.file.wrong_pins >= PIN_TRIES {
            return Err(CardError::Locked);
        }
        check_pin(pin)?;
        let salt = unhex(&self.file.salt)?;
        let nonce: [u8; aead::NONCE_LEN] = unhex(&self.file.nonce)?
            .try_into()
            .map_err(|_| CardError::Unusable("corrupt card file".into()))?;
        let mut sealed = unhex(&self.file.sealed_key)?;
        let opened = pin_key(pin, &salt)?.open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(self.file.serial.as_bytes()),
            &mut sealed,
        );
        let Ok(der) = opened else {
            self.file.wrong_pins += 1;
            self.save()?;
            return Err(if self.file.wrong_pins >= PIN_TRIES {
                CardError::Locked
            } else {
                CardError::WrongPin {
                    remaining: self.tries_left(),
                }
            });
        };
        let key = signature::RsaKeyPair::from_pkcs8(der)
            .map_err(|_| CardError::Unusable("the sealed key is not an RSA key".into()))?;
        if self.file.wrong_pins > 0 {
            self.file.wrong_pins = 0;
            self.save()?;
        }
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(
            &signature::RSA_PKCS1_SHA256,
            &rand::SystemRandom::new(),
            message,
            &mut sig,
        )
        .map_err(|_| CardError::Unusable("signing failed".into()))?;
        Ok(sig)
    }

    fn pin_tries(&mut self) -> Result<u8, CardError> {
        Ok(self.tries_left())
    }
}

/// Whether `signature` is the card certificate `cert`'s (DER) RSA PKCS#1 v1.5 SHA-256
/// signature of `message`.
pub fn signature_is_valid(cert: &[u8], message: &[u8], sig: &[u8]) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let Ok((_, x)) = X509Certificate::from_der(cert) else {
        return false;
    };
    let key = &x.public_key().subject_public_key.data;
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key)
        .verify(message, sig)
        .is_ok()
}

/// Where reception finds the patient's card: the reader(s) of the machine Kizuna runs on.
pub trait CardReader: Send + Sync {
    /// The cards that can be used now, by the name that opens them (in a stable order).
    fn present(&self) -> Result<Vec<String>, CardError>;
    /// The card `name` (one of [`CardReader::present`]'s).
    fn open(&self, name: &str) -> Result<Box<dyn Card + Send>, CardError>;
    /// What a person calls this reader (shown at reception).
    fn describe(&self) -> String;
}

/// Software cards kept as `*.card` files in one directory: the demo's and the tests' card
/// reader (each file a card put on it). See [`SoftwareCard`] for what such a card is not.
pub struct CardDir {
    dir: PathBuf,
}

impl CardDir {
    pub fn new(dir: &Path) -> CardDir {
        CardDir {
            dir: dir.to_path_buf(),
        }
    }
}

impl CardReader for CardDir {
    fn present(&self) -> Result<Vec<String>, CardError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| CardError::Unusable(format!("{}: {e}", self.dir.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".card").map(String::from))
            .collect();
        names.sort();
        Ok(names)
    }

    fn open(&self, name: &str) -> Result<Box<dyn Card + Send>, CardError> {
        // A name, never a path: nothing outside the directory is opened.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(CardError::Unusable(format!("no card named {name:?}")));
        }
        let path = self.dir.join(format!("{name}.card"));
        if !path.is_file() {
            return Err(CardError::Unusable(format!("no card {name} on the reader")));
        }
        Ok(Box::new(SoftwareCard::open(&path)?))
    }

    fn describe(&self) -> String {
        format!("software cards in {}", self.dir.display())
    }
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    #[test]
    fn a_card_directory_lists_and_opens_only_its_cards() {
        let dir = std::env::temp_dir().join(format!("kizuna-carddir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a card").unwrap();
        std::fs::write(dir.join("broken.card"), "{").unwrap();
        let reader = CardDir::new(&dir);
        assert_eq!(reader.present().unwrap(), vec!["broken".to_string()]);
        assert!(matches!(reader.open("broken"), Err(CardError::Unusable(_))));
        for bad in ["", "../etc/passwd", "a/b", "missing"] {
            assert!(reader.open(bad).is_err(), "{bad}");
        }
        assert!(CardDir::new(&dir.join("absent")).present().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
