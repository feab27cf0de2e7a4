//! Small JSON helpers shared by every crate that handles FHIR resources.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// Parses FHIR JSON: like `serde_json::from_slice`, but an object with the same property twice
/// is an error (FHIR's JSON format forbids it, and a plain parse would silently keep the last).
/// The error names the property and where it is (`$.name[0].family`).
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    // A fast pass that allocates nothing; only when it finds a duplicate, a second one that
    // builds paths for the message.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let fast = Unique { path: None }.deserialize(&mut de);
    if fast.is_err() {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let e = Unique {
            path: Some("$".into()),
        }
        .deserialize(&mut de)
        .err();
        return Err(e.map_or_else(
            || "a property appears twice in one object".into(),
            |e| e.to_string(),
        ));
    }
    Ok(value)
}

/// Walks a JSON text checking that no object repeats a property; with `path`, it names where.
struct Unique {
    path: Option<String>,
}

impl Unique {
    fn child(&self, segment: impl fmt::Display) -> Unique {
        Unique {
            path: self.path.as_ref().map(|p| format!("{p}{segment}")),
        }
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a property name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(self.child(format_args!("[{i}]")))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // FHIR objects have few properties: a linear scan beats hashing.
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let child = self.child(format_args!(".{key}"));
            if seen.contains(&key) {
                let at = child.path.unwrap_or_else(|| key.to_string());
                return Err(de::Error::custom(format!(
                    "the property {at} appears twice in one object"
                )));
            }
            seen.push(key);
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

/// Whether `id` is a valid FHIR logical id: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `resourceType` of a resource, if it is a JSON object with a string `resourceType`.
pub fn resource_type(resource: &Value) -> Option<&str> {
    resource.get("resourceType").and_then(Value::as_str)
}

/// A JSON number that keeps its exact decimal text (`1.50` stays `1.50`), as FHIR decimals
/// require. Returns None if `text` is not a JSON number.
pub fn decimal(text: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Number(_)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("example-1.2"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a_b"));
        assert!(!is_valid_id(&"a".repeat(65)));
    }

    #[test]
    fn duplicate_properties_are_refused_with_their_path() {
        let e = parse(br#"{"resourceType":"Patient","name":[{"family":"a","family":"b"}]}"#)
            .unwrap_err();
        assert!(e.contains("$.name[0].family appears twice"), "{e}");
        assert!(
            parse(br#"{"a":{"x":1},"b":{"x":1.50}}"#).is_ok(),
            "same key in different objects is fine"
        );
        assert_eq!(
            serde_json::to_string(&parse(br#"{"v":1.50}"#).unwrap()).unwrap(),
            r#"{"v":1.50}"#
        );
        assert!(parse(b"{bad").is_err());
    }

    #[test]
    fn decimals_keep_their_text() {
        let v = decimal("1.50").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "1.50");
        assert!(decimal("abc").is_none());
    }
}
