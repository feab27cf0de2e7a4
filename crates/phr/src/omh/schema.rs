//! The Open mHealth schemas a data point is checked against before it is read: each kind
//! Kizuna reads, at the version it reads, compiled once from the files vendored in
//! `crates/phr/schemas` (Apache-2.0; where each came from is in its README). References
//! between schemas resolve to those files only; nothing is fetched.

use crate::Reason;
use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;
use std::sync::LazyLock;

/// The data-point schemas (name, version) Kizuna checks against, and the body field that
/// marks a data point of that kind when its header does not name the schema.
pub const KINDS: &[(&str, &str, &str)] = &[
    ("body-weight", "3.0", "body_weight"),
    ("step-count", "3.0", "step_count"),
    ("blood-pressure", "4.0", "systolic_blood_pressure"),
    ("heart-rate", "2.0", "heart_rate"),
    ("body-temperature", "4.0", "body_temperature"),
    ("oxygen-saturation", "2.0", "oxygen_saturation"),
    ("physical-activity", "1.2", "activity_name"),
];

/// Every vendored schema file, by `dir/name` (see `schemas/README.md`).
const FILES: &[(&str, &str)] = &[
    (
        "ieee/body-posture-1.0.json",
        include_str!("../../schemas/ieee/body-posture-1.0.json"),
    ),
    (
        "ieee/date-time-1.0.json",
        include_str!("../../schemas/ieee/date-time-1.0.json"),
    ),
    (
        "ieee/descriptive-statistic-1.0.json",
        include_str!("../../schemas/ieee/descriptive-statistic-1.0.json"),
    ),
    (
        "ieee/duration-unit-value-1.0.json",
        include_str!("../../schemas/ieee/duration-unit-value-1.0.json"),
    ),
    (
        "ieee/temperature-unit-value-1.0.json",
        include_str!("../../schemas/ieee/temperature-unit-value-1.0.json"),
    ),
    (
        "ieee/time-frame-1.0.json",
        include_str!("../../schemas/ieee/time-frame-1.0.json"),
    ),
    (
        "ieee/time-interval-1.0.json",
        include_str!("../../schemas/ieee/time-interval-1.0.json"),
    ),
    (
        "ieee/unit-value-1.0.json",
        include_str!("../../schemas/ieee/unit-value-1.0.json"),
    ),
    (
        "omh/activity-name-1.0.json",
        include_str!("../../schemas/omh/activity-name-1.0.json"),
    ),
    (
        "omh/blood-pressure-4.0.json",
        include_str!("../../schemas/omh/blood-pressure-4.0.json"),
    ),
    (
        "omh/body-location-1.1.json",
        include_str!("../../schemas/omh/body-location-1.1.json"),
    ),
    (
        "omh/body-temperature-4.0.json",
        include_str!("../../schemas/omh/body-temperature-4.0.json"),
    ),
    (
        "omh/body-weight-3.0.json",
        include_str!("../../schemas/omh/body-weight-3.0.json"),
    ),
    (
        "omh/date-time-1.0.json",
        include_str!("../../schemas/omh/date-time-1.0.json"),
    ),
    (
        "omh/descriptive-statistic-1.1.json",
        include_str!("../../schemas/omh/descriptive-statistic-1.1.json"),
    ),
    (
        "omh/descriptive-statistic-denominator-1.1.json",
        include_str!("../../schemas/omh/descriptive-statistic-denominator-1.1.json"),
    ),
    (
        "omh/diastolic-blood-pressure-1.0.json",
        include_str!("../../schemas/omh/diastolic-blood-pressure-1.0.json"),
    ),
    (
        "omh/duration-unit-value-1.0.json",
        include_str!("../../schemas/omh/duration-unit-value-1.0.json"),
    ),
    (
        "omh/heart-rate-2.0.json",
        include_str!("../../schemas/omh/heart-rate-2.0.json"),
    ),
    (
        "omh/kcal-unit-value-1.0.json",
        include_str!("../../schemas/omh/kcal-unit-value-1.0.json"),
    ),
    (
        "omh/length-unit-value-1.0.json",
        include_str!("../../schemas/omh/length-unit-value-1.0.json"),
    ),
    (
        "omh/mass-unit-value-1.0.json",
        include_str!("../../schemas/omh/mass-unit-value-1.0.json"),
    ),
    (
        "omh/oxygen-saturation-2.0.json",
        include_str!("../../schemas/omh/oxygen-saturation-2.0.json"),
    ),
    (
        "omh/part-of-day-1.0.json",
        include_str!("../../schemas/omh/part-of-day-1.0.json"),
    ),
    (
        "omh/physical-activity-1.2.json",
        include_str!("../../schemas/omh/physical-activity-1.2.json"),
    ),
    (
        "omh/step-count-3.0.json",
        include_str!("../../schemas/omh/step-count-3.0.json"),
    ),
    (
        "omh/systolic-blood-pressure-1.0.json",
        include_str!("../../schemas/omh/systolic-blood-pressure-1.0.json"),
    ),
    (
        "omh/temporal-relationship-to-physical-activity-1.0.json",
        include_str!("../../schemas/omh/temporal-relationship-to-physical-activity-1.0.json"),
    ),
    (
        "omh/temporal-relationship-to-sleep-1.0.json",
        include_str!("../../schemas/omh/temporal-relationship-to-sleep-1.0.json"),
    ),
    (
        "omh/time-frame-1.0.json",
        include_str!("../../schemas/omh/time-frame-1.0.json"),
    ),
    (
        "omh/time-interval-1.0.json",
        include_str!("../../schemas/omh/time-interval-1.0.json"),
    ),
    (
        "omh/unit-value-1.0.json",
        include_str!("../../schemas/omh/unit-value-1.0.json"),
    ),
];

/// Names the schemas refer to that are git symbolic links upstream (`…-1.x.json`), or
/// that stand in for a schema not at hand (see `schemas/README.md`): the file each reads.
const ALIASES: &[(&str, &str)] = &[
    ("omh/activity-name-1.x.json", "omh/activity-name-1.0.json"),
    ("omh/body-location-1.x.json", "omh/body-location-1.1.json"),
    ("omh/date-time-1.x.json", "omh/date-time-1.0.json"),
    (
        "omh/descriptive-statistic-1.0.json",
        "omh/descriptive-statistic-1.1.json",
    ),
    (
        "omh/descriptive-statistic-1.x.json",
        "omh/descriptive-statistic-1.1.json",
    ),
    (
        "omh/descriptive-statistic-denominator-1.x.json",
        "omh/descriptive-statistic-denominator-1.1.json",
    ),
    (
        "omh/diastolic-blood-pressure-1.x.json",
        "omh/diastolic-blood-pressure-1.0.json",
    ),
    (
        "omh/duration-unit-value-1.x.json",
        "omh/duration-unit-value-1.0.json",
    ),
    (
        "omh/kcal-unit-value-1.x.json",
        "omh/kcal-unit-value-1.0.json",
    ),
    (
        "omh/length-unit-value-1.x.json",
        "omh/length-unit-value-1.0.json",
    ),
    (
        "omh/mass-unit-value-1.x.json",
        "omh/mass-unit-value-1.0.json",
    ),
    ("omh/part-of-day-1.x.json", "omh/part-of-day-1.0.json"),
    (
        "omh/systolic-blood-pressure-1.x.json",
        "omh/systolic-blood-pressure-1.0.json",
    ),
    (
        "omh/temporal-relationship-to-physical-activity-1.x.json",
        "omh/temporal-relationship-to-physical-activity-1.0.json",
    ),
    (
        "omh/temporal-relationship-to-sleep-1.x.json",
        "omh/temporal-relationship-to-sleep-1.0.json",
    ),
    ("omh/time-frame-1.x.json", "omh/time-frame-1.0.json"),
    ("omh/time-interval-1.x.json", "omh/time-interval-1.0.json"),
    ("omh/unit-value-1.x.json", "omh/unit-value-1.0.json"),
];

const OMH: &str = "https://w3id.org/openmhealth/schemas/omh/";
const IEEE: &str = "https://w3id.org/ieee/ieee-1752-schema/";

/// The vendored text of `dir/name`, following an alias.
fn file(key: &str) -> Option<&'static str> {
    let key = ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, target)| target);
    FILES.iter().find(|(k, _)| *k == key).map(|(_, text)| *text)
}

/// Resolves `https://w3id.org/ieee/ieee-1752-schema/<name>` to `ieee/<name>` and any other
/// URI (the Open mHealth ones, and those relative to a schema without `$id`) to `omh/<name>`.
struct Vendored;

impl Retrieve for Vendored {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let text = uri.as_str();
        let name = text.rsplit('/').next().unwrap_or(text);
        let dir = if text.starts_with(IEEE) {
            "ieee"
        } else {
            "omh"
        };
        let body = file(&format!("{dir}/{name}"))
            .ok_or_else(|| format!("{text} is not among the vendored Open mHealth schemas"))?;
        Ok(serde_json::from_str(body)?)
    }
}

/// Each kind's compiled validator, or why the vendored schemas would not compile (a defect
/// of this crate, reported as a refusal rather than a panic).
static VALIDATORS: LazyLock<Result<Vec<Validator>, String>> = LazyLock::new(|| {
    KINDS
        .iter()
        .map(|(name, version, _)| {
            let key = format!("omh/{name}-{version}.json");
            let text = file(&key).ok_or_else(|| format!("{key} is not vendored"))?;
            let schema: Value = serde_json::from_str(text).map_err(|e| format!("{key}: {e}"))?;
            jsonschema::options()
                .with_base_uri(format!("{OMH}{name}-{version}.json"))
                .with_retriever(Vendored)
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|e| format!("{key}: {e}"))
        })
        .collect()
});

/// The schema (name, version) a data point is of: the one its header's `schema_id` names,
/// else the one whose marking field its body has. `Err` when the header names a kind or a
/// version Kizuna does not read; `Ok(None)` when nothing says (a body of no kind it knows).
pub fn kind_of(
    header: Option<&Value>,
    body: &Value,
) -> Result<Option<(&'static str, &'static str)>, Reason> {
    if let Some(id) = header.and_then(|h| h.get("schema_id")) {
        let field = |f: &str| id.get(f).and_then(Value::as_str).unwrap_or("");
        let (namespace, name, version) = (field("namespace"), field("name"), field("version"));
        let known = KINDS
            .iter()
            .find(|(n, _, _)| namespace == "omh" && *n == name);
        return match known {
            None => Err(Reason::NotKept(format!(
                "a data point of schema {namespace}:{name}, which Kizuna does not keep"
            ))),
            // Open mHealth versions are semantic: minor versions only add.
            Some((n, v, _)) if major(v) == major(version) => Ok(Some((n, v))),
            Some((n, v, _)) => Err(Reason::NotKept(format!(
                "{n} version {version}: Kizuna reads version {v}"
            ))),
        };
    }
    Ok(KINDS
        .iter()
        .find(|(_, _, field)| body.get(*field).is_some())
        .map(|(n, v, _)| (*n, *v)))
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// Checks `body` against schema `name` at `version`: [`Reason::Invalid`] with the first
/// rule it breaks and where (values are not repeated: the message may reach a log).
pub fn check(name: &str, version: &str, body: &Value) -> Result<(), Reason> {
    let validators = VALIDATORS.as_ref().map_err(|e| {
        Reason::Invalid(format!(
            "the Open mHealth schemas could not be compiled: {e}"
        ))
    })?;
    let Some(i) = KINDS
        .iter()
        .position(|(n, v, _)| *n == name && *v == version)
    else {
        return Err(Reason::NotKept(format!(
            "{name} {version}, a schema Kizuna does not check"
        )));
    };
    match validators[i].validate(body) {
        Ok(()) => Ok(()),
        Err(e) => {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            Err(Reason::Invalid(format!(
                "not a valid omh:{name}:{version} data point at {at}: {}",
                e.masked()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles_and_every_alias_has_its_file() {
        assert!(VALIDATORS.is_ok(), "{:?}", VALIDATORS.as_ref().err());
        for (alias, target) in ALIASES {
            assert!(file(target).is_some(), "{alias} -> {target}");
        }
    }

    #[test]
    fn the_header_names_the_schema_and_its_major_version_must_match() {
        let body = serde_json::json!({"body_weight": {"value": 60, "unit": "kg"}});
        let header = |name: &str, version: &str| serde_json::json!({"schema_id": {"namespace": "omh", "name": name, "version": version}});
        assert_eq!(kind_of(None, &body), Ok(Some(("body-weight", "3.0"))));
        assert_eq!(
            kind_of(Some(&header("body-weight", "3.1")), &body),
            Ok(Some(("body-weight", "3.0")))
        );
        assert!(matches!(
            kind_of(Some(&header("body-weight", "2.0")), &body),
            Err(Reason::NotKept(_))
        ));
        assert!(matches!(
            kind_of(Some(&header("blood-glucose", "4.0")), &body),
            Err(Reason::NotKept(_))
        ));
        assert_eq!(kind_of(None, &serde_json::json!({})), Ok(None));
    }
}
