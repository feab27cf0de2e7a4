//! Small JSON helpers shared by every crate that handles FHIR resources.

use serde_json::Value;

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
    fn decimals_keep_their_text() {
        let v = decimal("1.50").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "1.50");
        assert!(decimal("abc").is_none());
    }
}
