//! The CapabilityStatement, generated from what this server really implements.

use kizuna_fhir::r4;
use serde_json::{Value, json};

/// Interactions every resource type supports.
const TYPE_INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// The search parameters really implemented (exact matches, used by conditional operations).
fn search_params() -> Value {
    json!([
        {"name": "_id", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id", "type": "token",
         "documentation": "Exact logical id"},
        {"name": "identifier", "type": "token",
         "documentation": "Exact identifier match: identifier=[system|]value (resource types with an identifier element)"}
    ])
}

pub fn capability_statement(base_url: &str, backend: &str) -> Value {
    let defs = r4();
    let resources: Vec<Value> = defs
        .resource_types()
        .iter()
        .map(|t| {
            let has_identifier = defs.type_def(t).is_some_and(|d| d.element(&format!("{t}.identifier")).is_some());
            let mut params = search_params();
            if !has_identifier
                && let Some(a) = params.as_array_mut() {
                    a.truncate(1);
                }
            json!({
                "type": t,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{t}"),
                "interaction": TYPE_INTERACTIONS.iter().map(|i| json!({"code": i})).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "not-supported",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "referencePolicy": ["literal", "local"],
                "searchParam": params,
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-21",
        "publisher": "Kizuna",
        "kind": "instance",
        "software": {"name": "Kizuna", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {
            "description": format!("Kizuna FHIR R4 server ({backend} store)"),
            "url": base_url
        },
        "fhirVersion": defs.fhir_version,
        "format": ["json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "documentation": "Every incoming resource is validated against the base R4 definitions. Deletes keep a versioned tombstone. Conditional operations match exact identifiers until full search lands.",
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
        }]
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_every_resource_type_and_validates() {
        let cs = super::capability_statement("http://x/fhir", "sqlite");
        assert_eq!(cs["rest"][0]["resource"].as_array().unwrap().len(), 146);
        let issues = kizuna_fhir::validate_resource(&cs);
        assert!(issues.iter().all(|i| !i.is_error()), "{issues:?}");
    }
}
