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

/// The search parameters of `rtype` that search implements (all but `_query`: this server
/// defines no named queries), with what `_include` and `_revinclude` can name.
fn search_params(rtype: &str) -> (Vec<Value>, Vec<String>) {
    let mut params = Vec::new();
    let mut includes = vec![format!("{rtype}:*")];
    for p in kizuna_search::registry::params_of(rtype) {
        if p.code == "_query" {
            continue;
        }
        params.push(json!({"name": p.code, "definition": p.url, "type": p.kind.code()}));
        if p.kind == kizuna_search::ParamKind::Reference {
            includes.push(format!("{rtype}:{}", p.code));
        }
    }
    // `_list` has no SearchParameter resource in R4 (the search page defines it).
    params.push(json!({"name": "_list", "type": "special",
        "documentation": "List ids (the items of those lists) or one functional list: $current-problems, $current-medications, $current-allergies, $current-drug-allergies"}));
    (params, includes)
}

pub fn capability_statement(base_url: &str, backend: &str) -> Value {
    let defs = r4();
    // target type -> `Source:param` that can point to it
    let mut revincludes: std::collections::HashMap<&str, Vec<String>> = Default::default();
    for source in defs.resource_types() {
        for p in kizuna_search::registry::params_of(source) {
            if p.kind == kizuna_search::ParamKind::Reference {
                for target in &p.targets {
                    revincludes
                        .entry(target.as_str())
                        .or_default()
                        .push(format!("{source}:{}", p.code));
                }
            }
        }
    }
    let resources: Vec<Value> = defs
        .resource_types()
        .iter()
        .map(|t| {
            let (params, includes) = search_params(t);
            let mut r = json!({
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
                "searchInclude": includes,
                "searchParam": params,
            });
            // `*` (anything referring here) is always accepted.
            let mut rev = vec!["*".to_string()];
            rev.extend(revincludes.get(t.as_str()).into_iter().flatten().cloned());
            r["searchRevInclude"] = json!(rev);
            let op = |name: &str| json!({"name": name, "definition": format!("urn:kizuna:operation:{name}")});
            match t.as_str() {
                "Patient" => {
                    let mut ops = vec![json!({"name": "everything",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}),
                        json!({"name": "summary",
                        "definition": "http://hl7.org/fhir/uv/ips/OperationDefinition/summary"})];
                    // Personal health records: `$phr-ingest` …
                    ops.extend(crate::phr::OPERATIONS.iter().map(|o| op(&o[1..])));
                    r["operation"] = json!(ops);
                }
                "Observation" => {
                    r["documentation"] = json!("Measurements from patients' own devices and apps (personal health records) are kept as time series, not as stored Observations; they are searched with _tag=urn:kizuna:phr|device (with patient, code, date, _count, _sort=date|-date) and read as Observation/phr-{series}-{start}. Other searches do not include them.");
                }
                "Consent" => {
                    r["operation"] = json!([op("challenge"), op("card"), op("spoken"), op("emergency")]);
                }
                "AuditEvent" => r["operation"] = json!([op("mine"), op("emergencies")]),
                "DocumentReference" => r["operation"] = json!([op("document"), op("render")]),
                "Task" => {
                    // The urgent consult.
                    let mut names: Vec<&str> = crate::consult::TYPE_OPERATIONS.to_vec();
                    names.extend(crate::consult::OPERATIONS);
                    names.sort();
                    names.dedup();
                    r["operation"] = json!(names.iter().map(|o| op(&o[1..])).collect::<Vec<_>>());
                }
                "ImagingStudy" => {
                    r["documentation"] = json!("One per study of DICOM images kept (written by Kizuna as images arrive over DICOMweb, under /dicomweb, or DIMSE); the images follow the ImagingStudy's access rules.");
                }
                _ => {}
            }
            r
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
            "extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket",
                "valueUri": format!("{}/$subscription-websocket", base_url.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1))
            }],
            "documentation": "Every incoming resource is validated against the base R4 definitions. Deletes keep a versioned tombstone. Search covers every R4 search parameter (_text and _content as word and phrase search in the narrative or the whole resource; no named _query); conditional operations take full search criteria. Documents (POST Bundle of type document, or a JP-CLINS collection) are kept byte for byte and indexed by DocumentReference ($document, $render). Subscriptions: rest-hook and websocket channels, matched in the subscriber's scope.",
            "security": {
                "cors": false,
                "service": [{"coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "Certificates"},
                    {"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}]}],
                "description": "Institutions authenticate with mutual TLS (certificates of the network CA; patients with their card's certificate) or, for registered EHR systems, SMART Backend Services tokens from /auth/token (see /.well-known/smart-configuration). An institution sees what it wrote and other institutions' records only under a patient's consent (Consent/$card, $spoken) or an audited emergency access (Consent/$emergency). Every request is recorded as an AuditEvent; patients read theirs at AuditEvent/$mine."
            },
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}, {"code": "search-system"}],
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
