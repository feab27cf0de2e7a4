//! The My Number (個人番号) as the patient index may hold it: only a keyed hash.
//!
//! The number is checked (12 digits and the check digit of `kizuna_jpid`) and hashed with
//! HMAC-SHA-256 under the network's secret key, so equal numbers give equal hashes for linking,
//! while the hashes alone cannot be reversed by trying every number (about 10^11) without the
//! key. The number itself is never returned, stored, logged or put into an error message.

use aws_lc_rs::hmac;

/// The key My Numbers are hashed under (keep it secret; losing it unlinks every hash).
pub struct MyNumberKey(hmac::Key);

impl MyNumberKey {
    /// A key from secret bytes (at least 32).
    pub fn new(secret: &[u8]) -> Result<MyNumberKey, String> {
        if secret.len() < 32 {
            return Err("the My Number hashing key must have at least 32 bytes".into());
        }
        Ok(MyNumberKey(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// A new random key (32 bytes), and its bytes to keep.
    pub fn generate() -> Result<(MyNumberKey, Vec<u8>), String> {
        let mut secret = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| "the random generator failed")?;
        Ok((MyNumberKey::new(&secret)?, secret))
    }

    /// The key kept in `path` (hex, owner-only), made and written there if the file does not
    /// exist yet. Every node of a network must use the same key for hashes to link.
    pub fn load_or_create(path: &std::path::Path) -> Result<MyNumberKey, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let secret = crate::hex::decode(text.trim())
                    .ok_or_else(|| format!("{} does not hold a hex key", path.display()))?;
                MyNumberKey::new(&secret)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, secret) = MyNumberKey::generate()?;
                crate::ca_dir::write_atomically(path, crate::hex::encode(&secret).as_bytes(), true)
                    .map_err(|e| e.to_string())?;
                Ok(key)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// The keyed hash (hex) of a My Number as typed (full-width digits, spaces and hyphens
    /// allowed), or why it is not one, without repeating it.
    pub fn hash(&self, typed: &str) -> Result<String, &'static str> {
        let digits = kizuna_jpid::my_number_digits(typed)
            .ok_or("not a My Number: 12 digits, the last a check digit")?;
        let tag = hmac::sign(&self.0, digits.as_bytes());
        Ok(crate::hex::encode(tag.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_link_without_revealing() {
        let key = MyNumberKey::new(&[7u8; 32]).unwrap();
        let h = key.hash("123456789018").unwrap();
        assert_eq!(h.len(), 64);
        assert!(!h.contains("123456789018"));
        // The same number as typed in other ways: the same hash.
        assert_eq!(key.hash("１２３４ ５６７８ ９０１８").unwrap(), h);
        assert_eq!(key.hash("1234-5678-9018").unwrap(), h);
        // Another key: another hash.
        let other = MyNumberKey::new(&[8u8; 32]).unwrap();
        assert_ne!(other.hash("123456789018").unwrap(), h);
        // Wrong numbers are refused without being echoed.
        let e = key.hash("123456789011").unwrap_err();
        assert!(!e.contains("123456789011"));
        assert!(key.hash("12345").is_err());
        assert!(MyNumberKey::new(&[1u8; 16]).is_err());
        let (generated, secret) = MyNumberKey::generate().unwrap();
        assert_eq!(secret.len(), 32);
        assert_ne!(generated.hash("123456789018").unwrap(), h);
    }
}
