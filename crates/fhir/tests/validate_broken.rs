//! A corpus of broken (and a few tricky but valid) resources: for each, exactly which issues
//! (path and code) the validator must report.

mod common;

use kizuna_fhir::{Issue, IssueCode, validate_resource};
use serde_json::{Value, json};

use IssueCode::{CodeInvalid, Invalid, Required, Structure, Value as Val};

struct Case {
    name: &'static str,
    resource: Value,
    /// Exactly the issues expected: (expression, code).
    expect: Vec<(&'static str, IssueCode)>,
    /// Text every issue's messages together must contain.
    messages: Vec<&'static str>,
}

fn case(name: &'static str, resource: Value, expect: &[(&'static str, IssueCode)]) -> Case {
    Case {
        name,
        resource,
        expect: expect.to_vec(),
        messages: Vec::new(),
    }
}

impl Case {
    fn msg(mut self, text: &'static str) -> Case {
        self.messages.push(text);
        self
    }
}

const DAR: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";

/// A JSON number with exactly this text (serde_json keeps it, `arbitrary_precision`).
fn num(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn obs(extra: Value) -> Value {
    let mut o =
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "weight"}});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

fn patient(extra: Value) -> Value {
    let mut p = json!({"resourceType": "Patient"});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn cases() -> Vec<Case> {
    vec![
        // --- unknown elements ---------------------------------------------------------------
        case("unknown element", patient(json!({"foo": 1})), &[("Patient.foo", Structure)]).msg("unknown element 'foo' in Patient"),
        case("misspelled element", patient(json!({"birthDat": "1970"})), &[("Patient.birthDat", Structure)])
            .msg("did you mean 'birthDate'?"),
        case("wrong case", patient(json!({"birthdate": "1974-12-25"})), &[("Patient.birthdate", Structure)])
            .msg("unknown element 'birthdate' in Patient (did you mean 'birthDate'?)"),
        case("unknown element in a data type", patient(json!({"name": [{"familyName": "Chalmers"}]})), &[(
            "Patient.name[0].familyName",
            Structure,
        )])
        .msg("in HumanName"),
        case("unknown element in a backbone element", patient(json!({"contact": [{"nam": {"text": "x"}}]})), &[(
            "Patient.contact[0].nam",
            Structure,
        )])
        .msg("unknown element 'nam' in Patient.contact (did you mean 'name'?)"),
        case("fhir_comments is not R4", patient(json!({"fhir_comments": ["x"]})), &[("Patient.fhir_comments", Structure)]),
        case("choice name without a type", obs(json!({"value": 1})), &[("Observation.value", Structure)]),
        case("_x for a complex element", patient(json!({"_name": [{"id": "a"}]})), &[("Patient._name", Structure)])
            .msg("may only accompany a primitive element"),
        case("Medplum's Meta additions are not R4", patient(json!({"meta": {"project": "x"}})), &[(
            "Patient.meta.project",
            Structure,
        )]),
        // --- JSON shape -----------------------------------------------------------------------
        case("array where a single value is expected", patient(json!({"gender": ["male"]})), &[("Patient.gender", Structure)])
            .msg("must be a single value"),
        case("array where a single object is expected", patient(json!({"maritalStatus": [{"text": "M"}]})), &[(
            "Patient.maritalStatus",
            Structure,
        )]),
        case("single value where an array is expected", patient(json!({"name": {"family": "Chalmers"}})), &[(
            "Patient.name",
            Structure,
        )])
        .msg("must be a JSON array"),
        case("single primitive where an array is expected", patient(json!({"name": [{"given": "Peter"}]})), &[(
            "Patient.name[0].given",
            Structure,
        )]),
        case("empty string", patient(json!({"name": [{"family": ""}]})), &[("Patient.name[0].family", Val)]).msg("empty string"),
        case("empty object", patient(json!({"maritalStatus": {}})), &[("Patient.maritalStatus", Structure)]).msg("empty object"),
        case("empty array", patient(json!({"name": []})), &[("Patient.name", Structure)]).msg("empty array"),
        case("null", patient(json!({"birthDate": null})), &[("Patient.birthDate", Structure)]).msg("null is not allowed"),
        case("null in an array of objects", patient(json!({"name": [null]})), &[("Patient.name[0]", Structure)]),
        case("null in a primitive array without _x", patient(json!({"name": [{"given": ["A", null]}]})), &[(
            "Patient.name[0].given[1]",
            Structure,
        )]),
        case("string where an object is expected", patient(json!({"maritalStatus": "M"})), &[("Patient.maritalStatus", Structure)])
            .msg("expected an object of type CodeableConcept"),
        case("object where a primitive is expected", patient(json!({"birthDate": {"value": "1970"}})), &[(
            "Patient.birthDate",
            Structure,
        )]),
        // --- primitive values -----------------------------------------------------------------
        case("bad date", patient(json!({"birthDate": "1974-13-01"})), &[("Patient.birthDate", Val)])
            .msg("'1974-13-01' is not a valid date (expected YYYY, YYYY-MM or YYYY-MM-DD)"),
        case("February 30", patient(json!({"birthDate": "2024-02-30"})), &[("Patient.birthDate", Val)]).msg("has no day 30"),
        case("29 February of a common year", patient(json!({"birthDate": "2023-02-29"})), &[("Patient.birthDate", Val)]),
        case("bad dateTime offset", obs(json!({"effectiveDateTime": "2020-01-01T10:00:00+25:00"})), &[(
            "Observation.effectiveDateTime",
            Val,
        )]),
        case("dateTime with a time but no offset", obs(json!({"effectiveDateTime": "2020-01-01T10:00:00"})), &[(
            "Observation.effectiveDateTime",
            Val,
        )]),
        case("dateTime on 31 April", obs(json!({"effectiveDateTime": "2020-04-31T10:00:00Z"})), &[(
            "Observation.effectiveDateTime",
            Val,
        )]),
        case("instant without time zone", patient(json!({"meta": {"lastUpdated": "2020-01-01T10:00:00"}})), &[(
            "Patient.meta.lastUpdated",
            Val,
        )]),
        case("instant without time", patient(json!({"meta": {"lastUpdated": "2020-01-01"}})), &[("Patient.meta.lastUpdated", Val)]),
        case("bad time", obs(json!({"valueTime": "25:00:00"})), &[("Observation.valueTime", Val)]),
        case("decimal as a string", obs(json!({"valueQuantity": {"value": "1.5", "unit": "kg"}})), &[(
            "Observation.valueQuantity.value",
            Val,
        )])
        .msg("expected a JSON number"),
        case("integer with a fraction", patient(json!({"multipleBirthInteger": 1.5})), &[("Patient.multipleBirthInteger", Val)]),
        case("integer with an exponent", patient(json!({"multipleBirthInteger": num("1e2")})), &[("Patient.multipleBirthInteger", Val)]),
        case("integer overflow", patient(json!({"multipleBirthInteger": 2147483648_i64})), &[("Patient.multipleBirthInteger", Val)])
            .msg("out of range"),
        case("integer as a string", patient(json!({"multipleBirthInteger": "2"})), &[("Patient.multipleBirthInteger", Val)]),
        case("negative positiveInt", patient(json!({"telecom": [{"system": "phone", "value": "1", "rank": -1}]})), &[(
            "Patient.telecom[0].rank",
            Val,
        )]),
        case("zero positiveInt", patient(json!({"telecom": [{"system": "phone", "value": "1", "rank": 0}]})), &[(
            "Patient.telecom[0].rank",
            Val,
        )]),
        case("negative unsignedInt", json!({"resourceType": "Bundle", "type": "searchset", "total": -1}), &[("Bundle.total", Val)]),
        case("boolean as a string", patient(json!({"active": "true"})), &[("Patient.active", Val)]).msg("JSON boolean"),
        case("bad id characters", patient(json!({"id": "abc_def"})), &[("Patient.id", Val)]).msg("is not a valid id"),
        case("id too long", patient(json!({"id": "a".repeat(65)})), &[("Patient.id", Val)]),
        case("code with a leading space", patient(json!({"gender": " male"})), &[("Patient.gender", Val)]),
        case("uri with a space", patient(json!({"implicitRules": "http://a b"})), &[("Patient.implicitRules", Val)]),
        case("string with a vertical tab", patient(json!({"name": [{"text": "a\u{0B}b"}]})), &[("Patient.name[0].text", Val)]),
        case("string with a NUL", patient(json!({"name": [{"text": "a\u{0}b"}]})), &[("Patient.name[0].text", Val)]),
        case("markdown with an escape character", json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "note": [{"text": "a\u{1B}[31mb"}]}), &[("Observation.note[0].text", Val)]),
        case("number for a string", patient(json!({"name": [{"family": 42}]})), &[("Patient.name[0].family", Val)]),
        case("reference that is not a string", patient(json!({"managingOrganization": {"reference": 7}})), &[(
            "Patient.managingOrganization.reference",
            Val,
        )]),
        case("bad base64", patient(json!({"photo": [{"data": "abc$"}]})), &[("Patient.photo[0].data", Val)])
            .msg("character '$' at offset 3 is not in the base64 alphabet"),
        case("base64 of a bad length", patient(json!({"photo": [{"data": "aGVsbG8"}]})), &[("Patient.photo[0].data", Val)]),
        case("xhtml without xmlns", patient(json!({"text": {"status": "generated", "div": "<div>hello</div>"}})), &[(
            "Patient.text.div",
            Val,
        )])
        .msg("xmlns=\"http://www.w3.org/1999/xhtml\""),
        case(
            "xhtml that is not a div",
            patient(json!({"text": {"status": "generated", "div": "<p xmlns=\"http://www.w3.org/1999/xhtml\">hi</p>"}})),
            &[("Patient.text.div", Val)],
        ),
        case(
            "xhtml may not have extensions",
            patient(json!({"text": {
                "status": "generated",
                "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">hi</div>",
                "_div": {"extension": [{"url": DAR, "valueCode": "unknown"}]}
            }})),
            &[("Patient.text.div.extension", Structure)],
        ),
        // --- required bindings ----------------------------------------------------------------
        case("bad code", patient(json!({"gender": "F"})), &[("Patient.gender", CodeInvalid)])
            .msg("'F' is not a valid code for Patient.gender"),
        case(
            "bad code in a nested backbone element",
            json!({"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "FETCH", "url": "Patient"}}]}),
            &[("Bundle.entry[0].request.method", CodeInvalid)],
        ),
        case(
            "bad Coding code in a required binding",
            json!({"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": {"coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "cured"}
            ]}}),
            &[("Condition.clinicalStatus.coding[0].code", CodeInvalid)],
        )
        .msg("'cured' is not a valid code"),
        case(
            "Coding from a foreign system in a required binding",
            json!({"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": {"coding": [
                {"system": "http://snomed.info/sct", "code": "55561003"}
            ]}}),
            &[("Condition.clinicalStatus", CodeInvalid)],
        ),
        case(
            "text-only concept in a required binding",
            json!({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"}, "verificationStatus": {"text": "sure"}}),
            &[("AllergyIntolerance.verificationStatus", CodeInvalid)],
        ),
        case(
            "a valid coding plus a translation is fine",
            json!({"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": {"coding": [
                {"system": "http://snomed.info/sct", "code": "55561003"},
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]}}),
            &[],
        ),
        // --- cardinality ----------------------------------------------------------------------
        case("missing required elements", json!({"resourceType": "Observation"}), &[
            ("Observation.status", Required),
            ("Observation.code", Required),
        ])
        .msg("missing required element 'status'"),
        case(
            "missing required element deep in nested items",
            json!({"resourceType": "Questionnaire", "status": "draft", "item": [
                {"linkId": "1", "type": "group", "item": [
                    {"linkId": "1.1", "type": "string"},
                    {"linkId": "1.2", "type": "string"},
                    {"type": "display", "text": "no link id"}
                ]}
            ]}),
            &[("Questionnaire.item[0].item[2].linkId", Required)],
        ),
        case(
            "missing required choice",
            json!({"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "x"}, "patient": {"reference": "Patient/1"}}),
            &[("Immunization.occurrence[x]", Required)],
        ),
        case(
            "a required primitive present only as _x counts",
            json!({"resourceType": "Observation", "_status": {"extension": [{"url": DAR, "valueCode": "unknown"}]}, "code": {"text": "x"}}),
            &[],
        ),
        case(
            "a required primitive that is null is not present",
            obs(json!({"status": null})),
            &[("Observation.status", Structure)],
        ),
        // --- choices --------------------------------------------------------------------------
        case("two choices", obs(json!({"valueString": "a", "valueQuantity": {"value": 1}})), &[("Observation.valueQuantity", Structure)])
            .msg("allows only one"),
        case("choice of a type not allowed", obs(json!({"valueUri": "http://x"})), &[("Observation.valueUri", Structure)])
            .msg("Observation.value[x] has no type 'uri'"),
        case("choice in wrong case", obs(json!({"valuequantity": {"value": 1}})), &[("Observation.valuequantity", Structure)])
            .msg("did you mean 'valueQuantity'?"),
        // --- resources ------------------------------------------------------------------------
        case("unknown resourceType", json!({"resourceType": "Patientt"}), &[("resourceType", Structure)]).msg("did you mean 'Patient'?"),
        case("abstract resourceType", json!({"resourceType": "DomainResource"}), &[("resourceType", Structure)]),
        case("data type as resourceType", json!({"resourceType": "HumanName", "family": "x"}), &[("resourceType", Structure)]),
        case("missing resourceType", json!({"id": "1"}), &[("resourceType", Required)]),
        case("resourceType that is not a string", json!({"resourceType": 1}), &[("resourceType", Structure)]),
        case("not an object", json!(["Patient"]), &[("resourceType", Structure)]),
        case("resourceType in a nested non-resource object", patient(json!({"name": [{"resourceType": "HumanName", "family": "x"}]})), &[(
            "Patient.name[0].resourceType",
            Structure,
        )]),
        case(
            "contained resource errors",
            patient(json!({"contained": [
                {"resourceType": "Organization", "id": "o1", "name": "ok"},
                {"resourceType": "Practitioner", "id": "p1", "gender": "x", "nme": []}
            ]})),
            &[("Patient.contained[1].gender", CodeInvalid), ("Patient.contained[1].nme", Structure)],
        ),
        case("contained resource without resourceType", patient(json!({"contained": [{"id": "x"}]})), &[(
            "Patient.contained[0].resourceType",
            Required,
        )]),
        case(
            "Bundle entry resource errors",
            json!({"resourceType": "Bundle", "type": "collection", "entry": [
                {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "birthDate": "1970-01-01"}},
                {"resource": {"resourceType": "Observation", "code": {"text": "x"}}},
                {"resource": "Patient/1"}
            ]}),
            &[("Bundle.entry[1].resource.status", Required), ("Bundle.entry[2].resource", Structure)],
        ),
        case(
            "Parameters resource errors",
            json!({"resourceType": "Parameters", "parameter": [
                {"name": "p", "resource": {"resourceType": "Patient", "active": 1}}
            ]}),
            &[("Parameters.parameter[0].resource.active", Val)],
        ),
        case(
            "Bundle of Bundles",
            json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource":
                {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient", "gender": "M"}}]}
            }]}),
            &[("Bundle.entry[0].resource.entry[0].resource.gender", CodeInvalid)],
        ),
        // --- several errors at once ----------------------------------------------------------
        case(
            "several errors in one resource are all reported",
            patient(json!({
                "id": "bad id",
                "gender": "F",
                "birthDate": "1974-13-01",
                "name": [{"family": "Chalmers", "given": ["Peter", ""]}, {"given": "James"}],
                "telecom": {"system": "phone"},
                "active": "yes",
                "unknown": true
            })),
            &[
                ("Patient.id", Val),
                ("Patient.gender", CodeInvalid),
                ("Patient.birthDate", Val),
                ("Patient.name[0].given[1]", Val),
                ("Patient.name[1].given", Structure),
                ("Patient.telecom", Structure),
                ("Patient.active", Val),
                ("Patient.unknown", Structure),
            ],
        ),
        // --- primitive extensions -------------------------------------------------------------
        case(
            "_birthDate with an extension only is valid",
            patient(json!({"_birthDate": {"extension": [{"url": DAR, "valueCode": "unknown"}]}})),
            &[],
        ),
        case(
            "birthDate with _birthDate is valid",
            patient(json!({"birthDate": "1970", "_birthDate": {"id": "b1", "extension": [{"url": "http://example.org/x", "valueBoolean": true}]}})),
            &[],
        ),
        case(
            "aligned _given with null placeholders is valid",
            patient(json!({"name": [{"given": ["Peter", null], "_given": [null, {"extension": [{"url": DAR, "valueCode": "masked"}]}]}]})),
            &[],
        ),
        case(
            "misaligned _given array",
            patient(json!({"name": [{"given": ["Peter", "James"], "_given": [{"id": "g1"}]}]})),
            &[("Patient.name[0].given", Structure)],
        )
        .msg("must align"),
        case(
            "null in both given and _given",
            patient(json!({"name": [{"given": ["Peter", null], "_given": [null, null]}]})),
            &[("Patient.name[0].given[1]", Structure)],
        ),
        case("_birthDate that is not an object", patient(json!({"_birthDate": "x"})), &[("Patient.birthDate", Structure)]),
        case("empty _birthDate", patient(json!({"_birthDate": {}})), &[("Patient.birthDate", Structure)]),
        case("unknown element in _birthDate", patient(json!({"_birthDate": {"foo": 1}})), &[("Patient.birthDate.foo", Structure)]),
        case(
            "bad extension inside _given",
            patient(json!({"name": [{"given": ["a"], "_given": [{"extension": [{"url": DAR}]}]}]})),
            &[("Patient.name[0].given[0].extension[0]", Invalid)],
        ),
        case(
            "valueString with _valueString is one choice",
            obs(json!({"valueString": "a", "_valueString": {"id": "v"}})),
            &[],
        ),
        // --- extensions -----------------------------------------------------------------------
        case("extension without url", patient(json!({"extension": [{"valueBoolean": true}]})), &[("Patient.extension[0].url", Required)]),
        case("extension with neither value nor extensions", patient(json!({"extension": [{"url": "http://x"}]})), &[(
            "Patient.extension[0]",
            Invalid,
        )])
        .msg("ext-1"),
        case(
            "extension with both value and extensions",
            patient(json!({"extension": [{"url": "http://x", "valueBoolean": true, "extension": [{"url": "a", "valueString": "b"}]}]})),
            &[("Patient.extension[0]", Invalid)],
        ),
        case(
            "nested extension errors",
            patient(json!({"modifierExtension": [{"url": "http://x", "extension": [{"url": "a", "valueDate": "2020-02-30"}]}]})),
            &[("Patient.modifierExtension[0].extension[0].valueDate", Val)],
        ),
        // --- valid but tricky -------------------------------------------------------------------
        case(
            "Japanese text with ideographic spaces, decimals that keep their text, leap day",
            json!({"resourceType": "Patient", "id": "jp-1.a", "name": [{"text": "山田\u{3000}太郎", "family": "山田", "given": ["太郎"]}],
                   "birthDate": "2024-02-29", "multipleBirthInteger": -0,
                   "meta": {"lastUpdated": "2016-12-31T23:59:60.123+09:00"},
                   "photo": [{"data": "aGVs\nbG8=", "size": 0}]}),
            &[],
        ),
        case(
            "decimal spellings",
            obs(json!({"component": [
                {"code": {"text": "a"}, "valueQuantity": {"value": num("1.50")}},
                {"code": {"text": "b"}, "valueQuantity": {"value": num("1e3")}},
                {"code": {"text": "c"}, "valueQuantity": {"value": num("-0.0")}}
            ]})),
            &[],
        ),
    ]
}

use common::show;

#[test]
fn broken_resources_report_exactly_the_expected_issues() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for c in &cases {
        let issues = validate_resource(&c.resource);
        let mut got: Vec<(String, &str)> = issues
            .iter()
            .map(|i| (i.expression.clone().unwrap_or_default(), i.code.code()))
            .collect();
        let mut want: Vec<(String, &str)> = c
            .expect
            .iter()
            .map(|(p, code)| (p.to_string(), code.code()))
            .collect();
        got.sort();
        want.sort();
        let all_messages: String = issues
            .iter()
            .map(|i| i.message.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let missing_text: Vec<&str> = c
            .messages
            .iter()
            .copied()
            .filter(|m| !all_messages.contains(m))
            .collect();
        let all_errors = issues.iter().all(Issue::is_error);
        if got != want || !missing_text.is_empty() || !all_errors {
            failures.push(format!(
                "{}:\n  expected {want:?}\n  got:\n{}{}",
                c.name,
                show(&issues),
                if missing_text.is_empty() {
                    String::new()
                } else {
                    format!("\n  messages lack {missing_text:?}")
                }
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Prints every message once, so that they can be read (`cargo test -- --nocapture`).
#[test]
fn messages_are_plain_english() {
    for c in cases() {
        for i in validate_resource(&c.resource) {
            println!(
                "{:<45} {:<40} {}",
                c.name,
                i.expression.as_deref().unwrap_or("-"),
                i.message
            );
            assert!(!i.message.is_empty());
            assert!(i.message.len() < 600, "{}", i.message);
        }
    }
}
