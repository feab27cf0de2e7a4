use super::*;
use crate::{Handling, parse};
use serde_json::json;

fn micros(text: &str) -> i64 {
    crate::values::parse_date_period(text)
        .map(|p| p.start_micros)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn stored(rtype: &str, id: &str, updated: &str, body: serde_json::Value) -> Stored {
    let mut body = body;
    body["resourceType"] = json!(rtype);
    Stored {
        rtype: rtype.into(),
        id: id.into(),
        last_updated_micros: micros(updated),
        body,
    }
}

const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";

fn data() -> Vec<Stored> {
    vec![
        stored(
            "Patient",
            "p1",
            "2024-01-01T00:00:00Z",
            json!({
                // The body's id and lastUpdated are not what _id and _lastUpdated search.
                "id": "other",
                "meta": {"lastUpdated": "2020-01-01T00:00:00Z"},
                "name": [
                    {"family": "Tanaka", "given": ["Taro"]},
                    {"text": "タロウ"}
                ],
                "gender": "male",
                "birthDate": "1980-05-01",
                "active": true,
                "identifier": [{
                    "system": "urn:mrn",
                    "value": "123",
                    "type": {"coding": [{"system": V2_0203, "code": "MR"}], "text": "Medical record"}
                }],
                "managingOrganization": {"reference": "Organization/o1"}
            }),
        ),
        stored(
            "Patient",
            "p2",
            "2024-01-02T00:00:00Z",
            json!({
                "name": [{"family": "Müller", "given": ["Anna"]}],
                "gender": "female",
                "birthDate": "1990",
                "identifier": [{"value": "456"}]
            }),
        ),
        stored("Patient", "p3", "2024-01-03T00:00:00Z", json!({})),
        stored(
            "Patient",
            "p4",
            "2024-01-04T00:00:00Z",
            json!({"name": [{"family": "Abe"}], "gender": "male", "birthDate": "1980-05-01"}),
        ),
        stored(
            "Organization",
            "o1",
            "2024-01-05T00:00:00Z",
            json!({"name": "Acme Clinic"}),
        ),
        stored(
            "Observation",
            "ob1",
            "2024-02-01T00:00:00Z",
            json!({
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}], "text": "Pulse"},
                "valueQuantity": {"value": 72, "unit": "beats/minute", "system": UCUM, "code": "/min"},
                "effectiveDateTime": "2024-05-01T10:00:00Z",
                "subject": {"reference": "Patient/p1"}
            }),
        ),
        stored(
            "Observation",
            "ob2",
            "2024-02-02T00:00:00Z",
            json!({
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "8310-5", "display": "Body temperature"}]},
                "valueQuantity": {"value": 37.5, "unit": "C", "system": UCUM, "code": "Cel"},
                "effectivePeriod": {"start": "2024-05-02"},
                "subject": {"reference": "Patient/p2"}
            }),
        ),
        stored(
            "Observation",
            "ob3",
            "2024-02-03T00:00:00Z",
            json!({
                "status": "final",
                "code": {"text": "Something"},
                "valueQuantity": {"value": 100, "unit": "mg"},
                "effectiveDateTime": "2024",
                "subject": {"reference": "#c"}
            }),
        ),
        stored(
            "Observation",
            "ob4",
            "2024-02-04T00:00:00Z",
            json!({
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
                "subject": {
                    "reference": "http://other.org/fhir/Patient/9",
                    "identifier": {"system": "urn:mrn", "value": "999"}
                }
            }),
        ),
        stored(
            "RiskAssessment",
            "r1",
            "2024-03-01T00:00:00Z",
            json!({"status": "final", "prediction": [{"probabilityDecimal": 0.5}]}),
        ),
        stored(
            "RiskAssessment",
            "r2",
            "2024-03-02T00:00:00Z",
            json!({"status": "final", "prediction": [{"probabilityDecimal": 0.55}]}),
        ),
        stored(
            "ValueSet",
            "vs1",
            "2024-04-01T00:00:00Z",
            json!({"status": "active", "url": "http://example.org/fhir/ValueSet/abc"}),
        ),
        stored(
            "ValueSet",
            "vs2",
            "2024-04-02T00:00:00Z",
            json!({"status": "active", "url": "http://example.org/fhir/ValueSet/abc-2"}),
        ),
        stored(
            "ValueSet",
            "vs3",
            "2024-04-03T00:00:00Z",
            json!({"status": "active", "url": "http://example.org/x|2.0"}),
        ),
    ]
}

fn query(rtype: Option<&str>, list: &[(&str, &str)]) -> Query {
    let pairs: Vec<(String, String)> = list
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    match parse(rtype, &pairs, Handling::Strict) {
        Ok((q, _)) => q,
        Err(e) => panic!("{rtype:?}?{list:?}: {e:?}"),
    }
}

/// The ids found by a search on `rtype`, in result order.
fn ids(rtype: &str, list: &[(&str, &str)]) -> Vec<String> {
    search(&query(Some(rtype), list), &data())
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}

/// Each `(name, value, expected ids)` on `rtype`.
fn check(rtype: &str, cases: &[(&str, &str, &[&str])]) {
    for (name, value, expected) in cases {
        assert_eq!(
            ids(rtype, &[(name, value)]),
            *expected,
            "{rtype}?{name}={value}"
        );
    }
}

#[test]
fn scope_and_no_filters() {
    assert_eq!(ids("Patient", &[]), ["p1", "p2", "p3", "p4"]);
    assert_eq!(ids("Organization", &[]), ["o1"]);
    let all = search(&query(None, &[]), &data());
    assert_eq!(all.len(), data().len());
    let some = search(&query(None, &[("_type", "ValueSet,Organization")]), &data());
    let names: Vec<&str> = some.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(names, ["o1", "vs1", "vs2", "vs3"]);
    let by_id = search(&query(None, &[("_id", "vs2,p1,nope")]), &data());
    assert_eq!(
        by_id,
        [
            ("Patient".to_string(), "p1".to_string()),
            ("ValueSet".to_string(), "vs2".to_string())
        ]
    );
}

#[test]
fn id_and_last_updated_come_from_the_stored_row() {
    check(
        "Patient",
        &[
            ("_id", "p1", &["p1"]),
            ("_id", "other", &[]),
            ("_id:not", "p1", &["p2", "p3", "p4"]),
            ("_id:missing", "true", &[]),
            // 2024-01-01 in +09:00 ends at 2024-01-01T15:00Z.
            ("_lastUpdated", "2024-01-01", &["p1"]),
            ("_lastUpdated", "2020-01-01", &[]),
            ("_lastUpdated", "gt2024-01-02T00:00:00Z", &["p3", "p4"]),
            (
                "_lastUpdated",
                "ge2024-01-02T00:00:00Z",
                &["p2", "p3", "p4"],
            ),
            ("_lastUpdated", "lt2024-01-02T00:00:00Z", &["p1"]),
        ],
    );
}

#[test]
fn strings() {
    check(
        "Patient",
        &[
            ("name", "tan", &["p1"]),
            ("name", "TANAKA", &["p1"]),
            ("family", "muller", &["p2"]),
            ("family", "ller", &[]),
            ("family:contains", "LLER", &["p2"]),
            ("name:exact", "Tanaka", &["p1"]),
            ("name:exact", "tanaka", &[]),
            ("name:exact", "Tan", &[]),
            ("name", "たろ", &["p1"]),
            ("given", "anna,taro", &["p1", "p2"]),
            ("name:missing", "true", &["p3"]),
            ("name:missing", "false", &["p1", "p2", "p4"]),
        ],
    );
    check("Organization", &[("name", "acme cl", &["o1"])]);
}

#[test]
fn tokens() {
    let of_type_mr = format!("{V2_0203}|MR|123");
    let of_type_other = format!("{V2_0203}|MR|456");
    check(
        "Patient",
        &[
            ("gender", "male", &["p1", "p4"]),
            ("gender", "MALE", &[]),
            ("gender", "|male", &["p1", "p4"]),
            ("gender:not", "male", &["p2", "p3"]),
            ("gender:not", "male,female", &["p3"]),
            ("gender:missing", "true", &["p3"]),
            ("active", "true", &["p1"]),
            ("active", "false", &[]),
            ("identifier", "123", &["p1"]),
            ("identifier", "urn:mrn|123", &["p1"]),
            ("identifier", "urn:mrn|", &["p1"]),
            ("identifier", "|123", &[]),
            ("identifier", "|456", &["p2"]),
            ("identifier", "other|456", &[]),
            ("identifier:of-type", &of_type_mr, &["p1"]),
            ("identifier:of-type", &of_type_other, &[]),
            ("identifier:text", "medical", &["p1"]),
        ],
    );
    let loinc_pulse = format!("{LOINC}|8867-4");
    let loinc_any = format!("{LOINC}|");
    check(
        "Observation",
        &[
            ("code", "8867-4", &["ob1", "ob4"]),
            ("code", &loinc_pulse, &["ob1", "ob4"]),
            ("code", "|8867-4", &[]),
            ("code", &loinc_any, &["ob1", "ob2", "ob4"]),
            ("code:text", "heart", &["ob1"]),
            ("code:text", "pul", &["ob1"]),
            ("code:text", "some", &["ob3"]),
            ("code:text", "rate", &[]),
            // ob3's text-only code has no code: it does not match, so :not keeps it.
            ("code:not", "8867-4", &["ob2", "ob3"]),
            ("code:missing", "false", &["ob1", "ob2", "ob3", "ob4"]),
        ],
    );
}

#[test]
fn references() {
    check(
        "Observation",
        &[
            ("subject", "Patient/p1", &["ob1"]),
            ("subject", "p1", &["ob1"]),
            ("subject:Patient", "p2", &["ob2"]),
            ("subject", "Group/p1", &[]),
            ("patient", "p1,p2", &["ob1", "ob2"]),
            ("subject", "Patient/p1/_history/2", &[]),
            // Contained references never match.
            ("subject", "c", &[]),
            ("subject", "http://other.org/fhir/Patient/9", &["ob4"]),
            ("patient", "9", &[]),
            ("subject:identifier", "urn:mrn|999", &["ob4"]),
            ("subject:identifier", "999", &["ob4"]),
            ("subject:identifier", "|999", &[]),
            ("subject:missing", "true", &[]),
        ],
    );
    check("Patient", &[("organization", "o1", &["p1"])]);
}

#[test]
fn dates() {
    check(
        "Patient",
        &[
            ("birthdate", "1980", &["p1", "p4"]),
            ("birthdate", "1980-05-01", &["p1", "p4"]),
            ("birthdate", "1980-05-01T10:00", &[]),
            ("birthdate", "ne1980", &["p2"]),
            ("birthdate", "gt1985", &["p2"]),
            ("birthdate", "lt1985", &["p1", "p4"]),
            ("birthdate", "ge1990", &["p2"]),
            ("birthdate", "le1990-06", &["p1", "p2", "p4"]),
            ("birthdate", "sa1980-04", &["p1", "p2", "p4"]),
            ("birthdate", "sa1980-05", &["p2"]),
            ("birthdate", "eb1990-01", &["p1", "p4"]),
            ("birthdate", "eb1990-12", &["p1", "p4"]),
            // A month widened by a tenth (3 days) either side.
            ("birthdate", "ap1980-04", &["p1", "p4"]),
            ("birthdate", "ap1980-03", &[]),
            ("birthdate", "ap1990-06", &["p2"]),
        ],
    );
    check(
        "Observation",
        &[
            ("date", "2024-05", &["ob1"]),
            ("date", "2024", &["ob1", "ob3"]),
            ("date", "ge2024-05-03", &["ob2", "ob3"]),
            ("date", "gt2030", &["ob2"]),
            ("date", "lt2024-05-02", &["ob1", "ob3"]),
            ("date", "sa2024-05-01", &["ob2"]),
            ("date", "ne2024-05", &["ob2", "ob3"]),
            ("date:missing", "true", &["ob4"]),
        ],
    );
}

#[test]
fn numbers() {
    check(
        "RiskAssessment",
        &[
            ("probability", "0.5", &["r1"]),
            ("probability", "0.50", &["r1"]),
            ("probability", "0.6", &["r2"]),
            ("probability", "1e0", &["r1", "r2"]),
            ("probability", "ne0.5", &["r2"]),
            ("probability", "gt0.5", &["r2"]),
            ("probability", "ge0.5", &["r1", "r2"]),
            ("probability", "lt0.55", &["r1"]),
            ("probability", "le0.55", &["r1", "r2"]),
            ("probability", "sa0.5", &["r2"]),
            ("probability", "eb0.55", &["r1"]),
            // [0.45, 0.55], bounds included.
            ("probability", "ap0.5", &["r1", "r2"]),
            ("probability", "ap0.6", &["r2"]),
            ("probability", "ap0.62", &[]),
        ],
    );
}

#[test]
fn quantities() {
    let full = format!("72|{UCUM}|/min");
    let wrong_system = format!("100|{UCUM}|mg");
    let system_only = format!("37.5|{UCUM}|");
    check(
        "Observation",
        &[
            ("value-quantity", "72", &["ob1"]),
            ("value-quantity", &full, &["ob1"]),
            ("value-quantity", "72||/min", &["ob1"]),
            ("value-quantity", "72||beats/minute", &["ob1"]),
            ("value-quantity", "100||mg", &["ob3"]),
            ("value-quantity", &wrong_system, &[]),
            ("value-quantity", &system_only, &["ob2"]),
            ("value-quantity", "gt50", &["ob1", "ob3"]),
            ("value-quantity", "gt50||Cel", &[]),
            ("value-quantity", "ne72", &["ob2", "ob3"]),
            ("value-quantity", "ap75", &["ob1"]),
            ("value-quantity:missing", "true", &["ob4"]),
        ],
    );
}

#[test]
fn uris() {
    check(
        "ValueSet",
        &[
            ("url", "http://example.org/fhir/ValueSet/abc", &["vs1"]),
            ("url", "http://example.org/fhir/ValueSet/ab", &[]),
            ("url:below", "http://example.org/fhir", &["vs1", "vs2"]),
            (
                "url:above",
                "http://example.org/fhir/ValueSet/abc-2/x",
                &["vs1", "vs2"],
            ),
            (
                "url:above",
                "http://example.org/fhir/ValueSet/abc",
                &["vs1"],
            ),
            ("url", "http://example.org/x|2.0", &["vs3"]),
            ("url", "http://example.org/x", &[]),
        ],
    );
}

#[test]
fn composites() {
    let pulse = format!("{LOINC}|8867-4$72");
    check(
        "Observation",
        &[
            ("code-value-quantity", &pulse, &["ob1"]),
            ("code-value-quantity", "8867-4$gt70", &["ob1"]),
            ("code-value-quantity", "8867-4$gt100", &[]),
            // Each part must match the same entry: ob2's code with ob1's value is nothing.
            ("code-value-quantity", "8310-5$72", &[]),
            (
                "code-value-quantity",
                "8310-5$37.5,8867-4$72",
                &["ob1", "ob2"],
            ),
        ],
    );
}

#[test]
fn chains_and_has() {
    check(
        "Observation",
        &[
            ("subject:Patient.name", "tanaka", &["ob1"]),
            ("patient.gender", "female", &["ob2"]),
            ("patient.gender:missing", "true", &[]),
            ("patient._id", "p1", &["ob1"]),
            ("patient.organization.name", "acme", &["ob1"]),
        ],
    );
    check(
        "Patient",
        &[
            ("organization.name", "acme", &["p1"]),
            ("organization.name", "nope", &[]),
            ("_has:Observation:subject:code", "8867-4", &["p1"]),
            ("_has:Observation:patient:code", "8310-5", &["p2"]),
            ("_has:Observation:patient:code", "nope", &[]),
            ("_has:Observation:patient:status", "final", &["p1", "p2"]),
        ],
    );
}

#[test]
fn lists_by_id_and_functional_lists() {
    let clinical = |code: &str| {
        json!({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            "code": code
        }]})
    };
    let mut resources = data();
    resources.extend([
        stored(
            "List",
            "l1",
            "2024-03-01T00:00:00Z",
            json!({"status": "current", "mode": "working", "entry": [
                {"item": {"reference": "Patient/p4"}},
                {"item": {"reference": "Patient/p2"}},
                {"item": {"reference": "Observation/ob1"}}
            ]}),
        ),
        stored(
            "List",
            "l2",
            "2024-03-01T00:00:00Z",
            json!({"status": "current", "mode": "working", "entry": [
                {"item": {"reference": "Patient/p1"}}
            ]}),
        ),
        stored(
            "AllergyIntolerance",
            "a1",
            "2024-03-01T00:00:00Z",
            json!({"clinicalStatus": clinical("active"), "category": ["medication"]}),
        ),
        stored(
            "AllergyIntolerance",
            "a2",
            "2024-03-01T00:00:00Z",
            json!({"clinicalStatus": clinical("active"), "category": ["food"]}),
        ),
        stored(
            "AllergyIntolerance",
            "a3",
            "2024-03-01T00:00:00Z",
            json!({"clinicalStatus": clinical("resolved"), "category": ["medication"]}),
        ),
    ]);
    let found = |rtype: &str, value: &str| -> Vec<String> {
        search(&query(Some(rtype), &[("_list", value)]), &resources)
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    };
    assert_eq!(found("Patient", "l1"), ["p2", "p4"]);
    assert_eq!(found("Patient", "l1,l2"), ["p1", "p2", "p4"]);
    assert_eq!(found("Observation", "l2"), Vec::<String>::new());
    assert_eq!(found("Patient", "nowhere"), Vec::<String>::new());
    assert_eq!(
        found("AllergyIntolerance", "$current-allergies"),
        ["a1", "a2"]
    );
    assert_eq!(
        found("AllergyIntolerance", "$current-drug-allergies"),
        ["a1"]
    );
}

#[test]
fn full_text() {
    check(
        "Patient",
        &[
            ("_content", "tanaka", &["p1"]),
            ("_content", "TARO 123", &["p1"]),
            ("_content", "taro 456", &[]),
            ("_content", "müller,abe", &["p2", "p4"]),
            ("_content", "\"anna\"", &["p2"]),
            ("_text", "tanaka", &[]),
        ],
    );
    let mut resources = data();
    resources.push(stored(
        "Patient",
        "p9",
        "2024-03-01T00:00:00Z",
        json!({"text": {"status": "generated",
                        "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">市中<b>肺炎</b>の既往</div>"}}),
    ));
    let found = |name: &str, value: &str| -> Vec<String> {
        search(&query(Some("Patient"), &[(name, value)]), &resources)
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    };
    assert_eq!(found("_text", "肺炎"), ["p9"]);
    assert_eq!(found("_text", "\"市中 肺炎\""), ["p9"]);
    assert_eq!(found("_content", "既往"), ["p9"]);
}

#[test]
fn filters_and_together() {
    assert_eq!(
        ids("Patient", &[("gender", "male"), ("birthdate", "1980")]),
        ["p1", "p4"]
    );
    assert_eq!(
        ids("Patient", &[("gender", "male"), ("name", "abe")]),
        ["p4"]
    );
}

#[test]
fn sorting() {
    let cases: &[(&str, &[&str])] = &[
        ("family", &["p4", "p2", "p1", "p3"]),
        ("-family", &["p1", "p2", "p4", "p3"]),
        // p1's names: min "tanaka", max "たろう" (after every Latin letter).
        ("name", &["p4", "p2", "p1", "p3"]),
        ("-name", &["p1", "p2", "p4", "p3"]),
        ("birthdate", &["p1", "p4", "p2", "p3"]),
        ("-birthdate", &["p2", "p1", "p4", "p3"]),
        ("gender", &["p2", "p1", "p4", "p3"]),
        ("-gender", &["p1", "p4", "p2", "p3"]),
        ("gender,-_id", &["p2", "p4", "p1", "p3"]),
        ("-gender,family", &["p4", "p1", "p2", "p3"]),
        ("-_id", &["p4", "p3", "p2", "p1"]),
        ("-_lastUpdated", &["p4", "p3", "p2", "p1"]),
        ("organization", &["p1", "p2", "p3", "p4"]),
    ];
    for (sort, expected) in cases {
        assert_eq!(
            ids("Patient", &[("_sort", sort)]),
            *expected,
            "_sort={sort}"
        );
    }
    let cases: &[(&str, &[&str])] = &[
        // ob3's year starts first; ob2's open period ends last.
        ("date", &["ob3", "ob1", "ob2", "ob4"]),
        ("-date", &["ob2", "ob3", "ob1", "ob4"]),
        ("value-quantity", &["ob2", "ob1", "ob3", "ob4"]),
        ("-value-quantity", &["ob3", "ob1", "ob2", "ob4"]),
        ("code", &["ob2", "ob1", "ob4", "ob3"]),
        ("subject", &["ob1", "ob2", "ob3", "ob4"]),
        ("-subject", &["ob2", "ob1", "ob3", "ob4"]),
    ];
    for (sort, expected) in cases {
        assert_eq!(
            ids("Observation", &[("_sort", sort)]),
            *expected,
            "_sort={sort}"
        );
    }
    assert_eq!(
        ids("RiskAssessment", &[("_sort", "-probability")]),
        ["r2", "r1"]
    );
    assert_eq!(ids("ValueSet", &[("_sort", "-url")]), ["vs3", "vs2", "vs1"]);
}

#[test]
fn matches_one_filter() {
    let all = data();
    let filter = |rtype: &str, name: &str, value: &str| {
        let q = query(Some(rtype), &[(name, value)]);
        q.filters
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{name}"))
    };
    let f = filter("Observation", "patient.name", "tanaka");
    assert!(matches(&f, &all[5], &all));
    assert!(!matches(&f, &all[6], &all));
    // A resource outside the data set: its chain finds nothing to follow.
    assert!(!matches(&f, &all[5], &[]));
    let f = filter("Patient", "_id", "p9");
    let new = stored("Patient", "p9", "2024-01-01", json!({}));
    assert!(matches(&f, &new, &all));
}

#[test]
fn odd_bodies_do_not_panic() {
    let odd = vec![
        Stored {
            rtype: "Patient".into(),
            id: "x".into(),
            last_updated_micros: i64::MAX,
            body: json!(null),
        },
        Stored {
            rtype: "Patient".into(),
            id: "y".into(),
            last_updated_micros: i64::MIN,
            body: json!({"resourceType": "Patient", "birthDate": 5, "name": "no"}),
        },
    ];
    for (name, value) in [
        ("_lastUpdated", "ap2024"),
        ("birthdate", "ap2024"),
        ("name", "x"),
        ("_sort", "-_lastUpdated"),
    ] {
        search(&query(Some("Patient"), &[(name, value)]), &odd);
    }
    assert_eq!(ids_in(&odd, &[("_sort", "_lastUpdated")]), ["y", "x"]);
}

fn ids_in(resources: &[Stored], list: &[(&str, &str)]) -> Vec<String> {
    search(&query(Some("Patient"), list), resources)
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}
