//! Every parameter type with its modifiers and value syntax, `:missing`, refused modifiers and
//! values, and escaping.

mod common;

use common::{one, refused};
use kizuna_fhir::IssueCode;
use kizuna_search::registry::ParamKind;
use kizuna_search::values::{Prefix, Reference, Token};
use kizuna_search::{Filter, Modifier, Modifier as M, Value};

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Token(_) => "token",
        Value::OfType(_) => "of-type",
        Value::Reference(_) => "reference",
        Value::Date(_) => "date",
        Value::Number(_) => "number",
        Value::Quantity(_) => "quantity",
        Value::Uri(_) => "uri",
        Value::Composite(_) => "composite",
        Value::Near(_) => "near",
    }
}

/// type, name, value, modifier, value kinds, canonical (name, value)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Modifier,
    &'static [&'static str],
    (&'static str, &'static str),
);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    ("Patient", "name", "peter", M::None, &["string"], ("name", "peter")),
    ("Patient", "name", "Peter,ピーター", M::None, &["string", "string"], ("name", "Peter,ピーター")),
    ("Patient", "name:exact", "Peter", M::Exact, &["string"], ("name:exact", "Peter")),
    ("Patient", "given:contains", "eve", M::Contains, &["string"], ("given:contains", "eve")),
    ("Patient", "gender", "male", M::None, &["token"], ("gender", "male")),
    ("Patient", "gender:not", "male", M::Not, &["token"], ("gender:not", "male")),
    ("Condition", "code:text", "headache", M::Text, &["string"], ("code:text", "headache")),
    ("Patient", "identifier", "http://acme.org/patient|2345", M::None, &["token"], ("identifier", "http://acme.org/patient|2345")),
    ("Patient", "identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053", M::OfType, &["of-type"], ("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053")),
    ("Observation", "subject:identifier", "http://acme.org/fhir/identifier/mrn|123456", M::Identifier, &["token"], ("subject:identifier", "http://acme.org/fhir/identifier/mrn|123456")),
    ("Observation", "subject", "Patient/23", M::None, &["reference"], ("subject", "Patient/23")),
    ("Observation", "subject:Patient", "23", M::None, &["reference"], ("subject", "Patient/23")),
    ("Observation", "subject", "23", M::None, &["reference"], ("subject", "23")),
    ("Observation", "patient", "23", M::None, &["reference"], ("patient", "Patient/23")),
    ("Observation", "subject", "http://example.org/fhir/Patient/23", M::None, &["reference"], ("subject", "http://example.org/fhir/Patient/23")),
    ("Observation", "subject", "Patient/23/_history/4", M::None, &["reference"], ("subject", "Patient/23/_history/4")),
    ("ValueSet", "url", "http://acme.org/fhir/ValueSet/123", M::None, &["uri"], ("url", "http://acme.org/fhir/ValueSet/123")),
    ("ValueSet", "url:below", "http://acme.org/fhir/", M::Below, &["uri"], ("url:below", "http://acme.org/fhir/")),
    ("ValueSet", "url:above", "http://acme.org/fhir/ValueSet/123/_history/5", M::Above, &["uri"], ("url:above", "http://acme.org/fhir/ValueSet/123/_history/5")),
    ("ValueSet", "url", "urn:oid:1.2.3.4.5", M::None, &["uri"], ("url", "urn:oid:1.2.3.4.5")),
    ("Patient", "birthdate", "ge2000-01-01", M::None, &["date"], ("birthdate", "ge2000-01-01")),
    ("Patient", "birthdate", "eq2000", M::None, &["date"], ("birthdate", "2000")),
    ("RiskAssessment", "probability", "gt0.8", M::None, &["number"], ("probability", "gt0.8")),
    ("RiskAssessment", "probability", "1e2", M::None, &["number"], ("probability", "1e2")),
    ("MolecularSequence", "variant-start", "2", M::None, &["number"], ("variant-start", "2")),
    ("Observation", "value-quantity", "5.4|http://unitsofmeasure.org|mg", M::None, &["quantity"], ("value-quantity", "5.4|http://unitsofmeasure.org|mg")),
    ("Observation", "value-quantity", "ap5.4||mg", M::None, &["quantity"], ("value-quantity", "ap5.4||mg")),
    ("Observation", "code-value-quantity", "http://loinc.org|2823-3$gt5.4|http://unitsofmeasure.org|mmol/L", M::None, &["composite"], ("code-value-quantity", "http://loinc.org|2823-3$gt5.4|http://unitsofmeasure.org|mmol/L")),
    ("Group", "characteristic-value", "gender$mixed,owner$Eve", M::None, &["composite", "composite"], ("characteristic-value", "gender$mixed,owner$Eve")),
    ("Observation", "_id", "a,b", M::None, &["token", "token"], ("_id", "a,b")),
    ("Observation", "_lastUpdated", "gt2010-10-01", M::None, &["date"], ("_lastUpdated", "gt2010-10-01")),
    ("Condition", "_tag", "http://acme.org/codes|needs-review", M::None, &["token"], ("_tag", "http://acme.org/codes|needs-review")),
    ("DiagnosticReport", "_profile", "http://hl7.org/fhir/StructureDefinition/lipid", M::None, &["uri"], ("_profile", "http://hl7.org/fhir/StructureDefinition/lipid")),
    ("Patient", "_security", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R", M::None, &["token"], ("_security", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R")),
    ("Patient", "_source", "http://hospital.example.jp/ehr", M::None, &["uri"], ("_source", "http://hospital.example.jp/ehr")),
];

#[test]
fn every_type_and_modifier_reads_its_values() {
    for (rtype, name, value, modifier, kinds, canonical) in TABLE {
        let f = one(rtype, name, value);
        let Filter::Param {
            modifier: m,
            values,
            ..
        } = &f
        else {
            panic!("{rtype}?{name}={value}: {f:?}");
        };
        assert_eq!(m, modifier, "{rtype}?{name}={value}");
        let got: Vec<&str> = values.iter().map(kind).collect();
        assert_eq!(&got, kinds, "{rtype}?{name}={value}");
        let (n, v) = f.canonical_pair();
        assert_eq!(
            (n.as_str(), v.as_str()),
            *canonical,
            "{rtype}?{name}={value}"
        );
    }
}

#[test]
fn typed_values_are_precise() {
    let Filter::Param { values, .. } = one("Observation", "code", "http://loinc.org|,|1234-5,x")
    else {
        panic!()
    };
    let tokens: Vec<&Token> = values
        .iter()
        .map(|v| match v {
            Value::Token(t) => t,
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        (tokens[0].system.as_deref(), tokens[0].code.as_deref()),
        (Some("http://loinc.org"), None)
    );
    assert_eq!(
        (tokens[1].system.as_deref(), tokens[1].code.as_deref()),
        (Some(""), Some("1234-5"))
    );
    assert_eq!(
        (tokens[2].system.as_deref(), tokens[2].code.as_deref()),
        (None, Some("x"))
    );

    let Filter::Param { values, .. } = one("Observation", "date", "lt2013-01-14T10:00") else {
        panic!()
    };
    let Value::Date(d) = &values[0] else { panic!() };
    assert_eq!(d.prefix, Prefix::Lt);
    assert_eq!(d.end_micros - d.start_micros, 60_000_000);

    let Filter::Param { param, values, .. } = one(
        "Observation",
        "component-code-value-quantity",
        "http://loinc.org|8480-6$lt60",
    ) else {
        panic!()
    };
    assert_eq!(param.kind, ParamKind::Composite);
    let Value::Composite(parts) = &values[0] else {
        panic!()
    };
    let Value::Quantity(q) = &parts[1] else {
        panic!()
    };
    assert_eq!(
        (q.number.prefix, q.number.value.to_string()),
        (Prefix::Lt, "60".to_string())
    );
    assert_eq!((q.system.as_deref(), q.code.as_deref()), (None, None));

    let Filter::Param { values, .. } = one("Observation", "subject:Patient", "23") else {
        panic!()
    };
    assert_eq!(
        values[0],
        Value::Reference(Reference::Local {
            resource_type: Some("Patient".into()),
            id: "23".into(),
            version: None
        })
    );
}

#[test]
fn missing_applies_to_every_type_but_composite() {
    for (rtype, code) in [
        ("Patient", "name"),
        ("Patient", "gender"),
        ("Patient", "birthdate"),
        ("Patient", "general-practitioner"),
        ("ValueSet", "url"),
        ("RiskAssessment", "probability"),
        ("Observation", "value-quantity"),
    ] {
        for (text, expected) in [("true", true), ("false", false)] {
            let name = format!("{code}:missing");
            match one(rtype, &name, text) {
                Filter::Missing { param, missing } => {
                    assert_eq!((param.code.as_str(), missing), (code, expected));
                }
                f => panic!("{rtype}?{name}: {f:?}"),
            }
        }
    }
    refused(
        "Patient",
        "gender:missing",
        "maybe",
        IssueCode::Value,
        "true or false",
    );
    refused(
        "Patient",
        "gender:missing",
        "true,false",
        IssueCode::Value,
        "true or false",
    );
    refused(
        "Observation",
        "code-value-quantity:missing",
        "true",
        IssueCode::Invalid,
        "composite",
    );
}

#[test]
fn wrong_or_unsupported_modifiers_are_always_refused() {
    use IssueCode::{Invalid, NotSupported};
    for (rtype, name, code, fragment) in [
        ("Patient", "name:foo", Invalid, "not a modifier of string"),
        ("Patient", "name:text", NotSupported, ":text"),
        ("Patient", "name:not", Invalid, "not a modifier of string"),
        (
            "Patient",
            "birthdate:exact",
            Invalid,
            "not a modifier of date",
        ),
        (
            "RiskAssessment",
            "probability:not",
            Invalid,
            "not a modifier of number",
        ),
        (
            "Observation",
            "value-quantity:exact",
            Invalid,
            "not a modifier of quantity",
        ),
        ("Patient", "gender:in", NotSupported, "terminology"),
        ("Patient", "gender:not-in", NotSupported, "terminology"),
        ("Condition", "code:below", NotSupported, "terminology"),
        ("Condition", "code:above", NotSupported, "terminology"),
        (
            "Patient",
            "gender:of-type",
            Invalid,
            "identifier parameters",
        ),
        (
            "Patient",
            "gender:exact",
            Invalid,
            "not a modifier of token",
        ),
        ("Observation", "subject:above", NotSupported, "hierarchies"),
        (
            "Observation",
            "subject:Medication",
            Invalid,
            "never to Medication",
        ),
        (
            "Observation",
            "subject:Foo",
            Invalid,
            "not a modifier of reference",
        ),
        (
            "Observation",
            "code-value-quantity:exact",
            Invalid,
            "composite",
        ),
        ("ValueSet", "url:contains", Invalid, "not a modifier of uri"),
        ("Patient", "_text:exact", Invalid, "no modifier"),
        ("Patient", "_list:not", Invalid, "no modifier"),
    ] {
        refused(rtype, name, "x", code, fragment);
    }
}

#[test]
fn bad_values_are_refused_with_the_parameter_named() {
    use IssueCode::Value as V;
    for (rtype, name, value, fragment) in [
        ("Patient", "birthdate", "23 May 2009", "not a date"),
        ("Patient", "birthdate", "2024-13", "not a date"),
        ("Patient", "birthdate", "xx2024", "not a search prefix"),
        (
            "RiskAssessment",
            "probability",
            "abc",
            "not a search prefix",
        ),
        ("RiskAssessment", "probability", "1.2.3", "not a number"),
        ("RiskAssessment", "probability", "gt", "not a number"),
        ("Observation", "value-quantity", "5.4|mg", "not a quantity"),
        ("Observation", "code", "a|b|c", "not a token"),
        ("Patient", "identifier:of-type", "MR|446053", ":of-type"),
        (
            "Observation",
            "subject",
            "Medication/1",
            "never to Medication",
        ),
        (
            "Observation",
            "subject:Patient",
            "Group/1",
            "asks for a Patient",
        ),
        ("Observation", "subject", "a/b/c/d/e", "not a reference"),
        (
            "Observation",
            "subject",
            "not_an_id",
            "not a valid resource id",
        ),
        (
            "Observation",
            "code-value-quantity",
            "http://loinc.org|2823-3",
            "2 joined by '$'",
        ),
        (
            "Observation",
            "code-value-quantity",
            "a$b$c",
            "2 joined by '$'",
        ),
        (
            "Observation",
            "code-value-quantity",
            "a$",
            "2 joined by '$'",
        ),
        (
            "Observation",
            "code-value-quantity",
            "a$xx5",
            "not a search prefix",
        ),
        ("Patient", "name", "xx\\xx", "not an escape"),
        ("Patient", "name", "a,,b", "empty value"),
        ("Patient", "name", "a,", "empty value"),
        ("Patient", "_list", "not_an_id", "not a list id"),
    ] {
        refused(rtype, name, value, V, fragment);
    }
}

#[test]
fn escapes_keep_separators_literal() {
    let strings = |rtype: &str, name: &str, value: &str| -> Vec<Value> {
        match one(rtype, name, value) {
            Filter::Param { values, .. } => values,
            f => panic!("{f:?}"),
        }
    };
    assert_eq!(
        strings("Patient", "name", "a\\,b"),
        vec![Value::String("a,b".into())]
    );
    assert_eq!(strings("Patient", "name", "a,b").len(), 2);
    assert_eq!(
        strings("Patient", "name", "a\\$b|c"),
        vec![Value::String("a$b|c".into())]
    );
    assert_eq!(
        strings("Patient", "name", "a\\\\b"),
        vec![Value::String("a\\b".into())]
    );
    assert_eq!(
        strings("Observation", "code", "s\\|t|a\\,b,c"),
        vec![
            Value::Token(Token {
                system: Some("s|t".into()),
                code: Some("a,b".into())
            }),
            Value::Token(Token {
                system: None,
                code: Some("c".into())
            }),
        ]
    );
    let f = one("Group", "characteristic-value", "a\\$b$c\\,d");
    let Filter::Param { values, .. } = &f else {
        panic!()
    };
    let Value::Composite(parts) = &values[0] else {
        panic!()
    };
    assert_eq!(
        parts[0],
        Value::Token(Token {
            system: None,
            code: Some("a$b".into())
        })
    );
    assert_eq!(f.canonical_pair().1, "a\\$b$c\\,d");
    // The canonical form re-escapes, so it reads back the same.
    let f = one("Patient", "name", "x\\,y\\\\z");
    assert_eq!(f.canonical_pair(), ("name".into(), "x\\,y\\\\z".into()));
}

#[test]
fn every_prefix_reaches_every_ordered_type() {
    let prefixes = [
        ("", Prefix::Eq),
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
        ("sa", Prefix::Sa),
        ("eb", Prefix::Eb),
        ("ap", Prefix::Ap),
    ];
    for (code, prefix) in prefixes {
        for (rtype, name, value) in [
            ("Patient", "birthdate", "2000-01"),
            ("Observation", "_lastUpdated", "2024-05-01T10:00:00Z"),
            ("Encounter", "date", "2024-05-01T10:00"),
            ("RiskAssessment", "probability", "0.8"),
            (
                "Observation",
                "value-quantity",
                "5.4|http://unitsofmeasure.org|mg",
            ),
            ("Encounter", "length", "30||min"),
            (
                "Observation",
                "code-value-quantity",
                "http://loinc.org|2823-3$PREFIX",
            ),
            (
                "Observation",
                "code-value-date",
                "http://loinc.org|2823-3$PREFIX",
            ),
        ] {
            let value = if value.ends_with("$PREFIX") {
                let tail = if name.ends_with("date") {
                    "2024"
                } else {
                    "5.4"
                };
                value.replace("PREFIX", &format!("{code}{tail}"))
            } else {
                format!("{code}{value}")
            };
            let f = one(rtype, name, &value);
            let Filter::Param { values, .. } = &f else {
                panic!("{f:?}")
            };
            let got = match &values[0] {
                Value::Date(d) => d.prefix,
                Value::Number(n) => n.prefix,
                Value::Quantity(q) => q.number.prefix,
                Value::Composite(parts) => match &parts[1] {
                    Value::Date(d) => d.prefix,
                    Value::Quantity(q) => q.number.prefix,
                    v => panic!("{v:?}"),
                },
                v => panic!("{v:?}"),
            };
            assert_eq!(got, prefix, "{rtype}?{name}={value}");
            // `eq` is the default and is not written in the canonical form.
            let canonical = f.canonical_pair().1;
            assert!(!canonical.contains("eq"), "{canonical}");
            assert_eq!(one(rtype, name, &canonical), f, "{canonical}");
        }
    }
    // Prefixes belong to ordered types only: elsewhere they are part of the value.
    let f = one("Patient", "name", "gtpeter");
    assert_eq!(f.canonical_pair().1, "gtpeter");
}
