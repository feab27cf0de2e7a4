//! `_summary` and `_elements`: the parts of a resource a search returns.

use kizuna_fhir::r4;
use kizuna_search::Summary;
use serde_json::{Map, Value, json};

/// The tag the specification asks for on a resource returned incomplete.
const SUBSETTED: (&str, &str) = (
    "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "SUBSETTED",
);

/// Whether a returned resource is cut down at all by these options.
pub fn subsets(summary: Option<Summary>, elements: &[String]) -> bool {
    matches!(summary, Some(Summary::True | Summary::Text | Summary::Data)) || !elements.is_empty()
}

/// Cuts `resource` down to what `_summary` or `_elements` asks for, and tags it SUBSETTED.
/// Top-level elements are kept or dropped whole; `resourceType`, `id`, `meta` and the
/// elements the resource must have (minimum cardinality 1) are always kept.
pub fn apply(resource: &mut Value, summary: Option<Summary>, elements: &[String]) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let rtype = obj
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let def = r4().type_def(&rtype);
    // The definition of a top-level JSON key (`valueQuantity` → `value[x]`; `_birthDate` → birthDate).
    let element = |key: &str| {
        let key = key.strip_prefix('_').unwrap_or(key);
        def.and_then(|d| {
            d.children(&rtype).find(|e| {
                e.name == key
                    || e.name
                        .strip_suffix("[x]")
                        .is_some_and(|stem| key.starts_with(stem) && key.len() > stem.len())
            })
        })
    };
    let always = |key: &str| matches!(key, "resourceType" | "id" | "meta");
    let mandatory = |key: &str| element(key).is_some_and(|e| e.min >= 1);
    let keep: Box<dyn Fn(&str) -> bool> = if !elements.is_empty() {
        Box::new(|key: &str| {
            let bare = key.strip_prefix('_').unwrap_or(key);
            always(key)
                || mandatory(key)
                || elements.iter().any(|e| {
                    e == bare
                        || element(key).is_some_and(|d| {
                            d.name.strip_suffix("[x]").is_some_and(|stem| stem == e)
                        })
                })
        })
    } else {
        match summary {
            Some(Summary::True) => Box::new(|key: &str| {
                always(key) || element(key).is_some_and(|e| e.is_summary || e.min >= 1)
            }),
            Some(Summary::Text) => {
                Box::new(|key: &str| always(key) || key == "text" || mandatory(key))
            }
            Some(Summary::Data) => Box::new(|key: &str| key != "text"),
            _ => return,
        }
    };
    let kept: Map<String, Value> = std::mem::take(obj)
        .into_iter()
        .filter(|(k, _)| keep(k))
        .collect();
    *obj = kept;
    let meta = obj
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Some(list) = tags.as_array_mut()
            && !list
                .iter()
                .any(|t| t["system"] == SUBSETTED.0 && t["code"] == SUBSETTED.1)
        {
            list.push(json!({"system": SUBSETTED.0, "code": SUBSETTED.1}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs() -> Value {
        json!({"resourceType": "Observation", "id": "o", "meta": {"versionId": "1"},
               "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
               "status": "final", "code": {"text": "bp"}, "valueQuantity": {"value": 1},
               "note": [{"text": "n"}], "subject": {"reference": "Patient/p"}})
    }

    #[test]
    fn summary_keeps_summary_elements() {
        let mut o = obs();
        apply(&mut o, Some(Summary::True), &[]);
        assert!(o.get("note").is_none() && o.get("text").is_none());
        assert!(o.get("valueQuantity").is_some() && o.get("status").is_some());
        assert_eq!(o["meta"]["tag"][0]["code"], "SUBSETTED");
    }

    #[test]
    fn elements_keep_what_is_asked_and_mandatory() {
        let mut o = obs();
        apply(&mut o, None, &["value".into(), "note".into()]);
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "resourceType",
                "id",
                "meta",
                "status",
                "code",
                "valueQuantity",
                "note"
            ]
        );
    }

    #[test]
    fn text_and_data() {
        let mut o = obs();
        apply(&mut o, Some(Summary::Text), &[]);
        assert!(o.get("text").is_some() && o.get("note").is_none() && o.get("status").is_some());
        let mut o = obs();
        apply(&mut o, Some(Summary::Data), &[]);
        assert!(o.get("text").is_none() && o.get("note").is_some());
        assert!(!subsets(Some(Summary::False), &[]));
    }
}
