//! Chains and `_has`, special and common parameters, system-level search, and the parameters
//! of the specification for a sample of types.

mod common;

use common::{errors, ignorable, ok, one, pairs, refused};
use kizuna_fhir::IssueCode;
use kizuna_search::registry::{self, ParamKind};
use kizuna_search::{Filter, Handling, parse};

#[test]
fn chains_follow_references_through_several_levels() {
    let f = one("Observation", "subject:Patient.name", "peter");
    let Filter::Chain {
        param,
        target_type,
        filter,
    } = &f
    else {
        panic!("{f:?}")
    };
    assert_eq!(
        (param.code.as_str(), target_type.as_str()),
        ("subject", "Patient")
    );
    assert!(matches!(&**filter, Filter::Param { param, .. } if param.code == "name"));
    // One possible target: no type needed.
    let f = one("Observation", "patient.name", "peter");
    assert_eq!(
        f.canonical_pair(),
        ("patient:Patient.name".into(), "peter".into())
    );
    // Encounter.subject may be a Group or a Patient; only Patient has `name`.
    let f = one("Encounter", "subject.name", "peter");
    assert_eq!(f.canonical_pair().0, "subject:Patient.name");
    // Three levels, with a modifier at the end.
    let f = one(
        "Observation",
        "encounter.service-provider.name:exact",
        "Kizuna Clinic",
    );
    assert_eq!(
        f.canonical_pair(),
        (
            "encounter:Encounter.service-provider:Organization.name:exact".into(),
            "Kizuna Clinic".into()
        )
    );
    let f = one(
        "DiagnosticReport",
        "result.code-value-quantity",
        "http://loinc.org|2823-3$gt5.4|http://unitsofmeasure.org|mmol/L",
    );
    assert_eq!(
        f.canonical_pair().0,
        "result:Observation.code-value-quantity"
    );
    let f = one("Observation", "subject:Patient.gender:missing", "true");
    let Filter::Chain { filter, .. } = &f else {
        panic!()
    };
    assert!(matches!(&**filter, Filter::Missing { missing: true, .. }));
    let f = one(
        "Observation",
        "subject:Patient.identifier",
        "http://acme.org/mrn|123456",
    );
    assert_eq!(f.canonical_pair().1, "http://acme.org/mrn|123456");
    // Nesting is limited.
    let deep = |n: usize| format!("{}code", "has-member:Observation.".repeat(n));
    one("Observation", &deep(kizuna_search::MAX_CHAIN_DEPTH), "x");
    refused(
        "Observation",
        &deep(kizuna_search::MAX_CHAIN_DEPTH + 1),
        "x",
        IssueCode::TooCostly,
        "nest",
    );
}

#[test]
fn chains_that_cannot_be_resolved_are_refused_or_ignored() {
    refused(
        "Observation",
        "subject.name",
        "peter",
        IssueCode::Invalid,
        "ambiguous",
    );
    refused(
        "Observation",
        "subject.name",
        "peter",
        IssueCode::Invalid,
        "subject:Location.name",
    );
    refused(
        "Patient",
        "name.family",
        "x",
        IssueCode::Invalid,
        "only reference parameters can be chained",
    );
    refused(
        "Patient",
        "birthdate.x",
        "x",
        IssueCode::Invalid,
        "only reference parameters",
    );
    refused(
        "Observation",
        "subject:identifier.name",
        "x",
        IssueCode::Invalid,
        "not a resource type",
    );
    refused(
        "Observation",
        "subject:Medication.code",
        "x",
        IssueCode::Invalid,
        "never to Medication",
    );
    refused(
        "Observation",
        "subject.",
        "x",
        IssueCode::Invalid,
        "after '.'",
    );
    refused(
        "Observation",
        "subject:Patient.birthdate",
        "2024-13",
        IssueCode::Value,
        "not a date",
    );
    ignorable(
        Some("Observation"),
        "subject:Patient.foo",
        "x",
        "Patient has no search parameter 'foo'",
    );
    ignorable(
        Some("Observation"),
        "patient.foo",
        "x",
        "has a parameter 'foo'",
    );
    ignorable(
        Some("Observation"),
        "foo.name",
        "x",
        "Observation has no search parameter 'foo'",
    );
}

#[test]
fn has_selects_by_the_resources_that_refer_here() {
    let f = one("Patient", "_has:Observation:patient:code", "1234-5");
    let Filter::Has {
        source_type,
        param,
        filter,
    } = &f
    else {
        panic!("{f:?}")
    };
    assert_eq!(
        (source_type.as_str(), param.code.as_str()),
        ("Observation", "patient")
    );
    assert!(
        matches!(&**filter, Filter::Param { param, values, .. } if param.code == "code" && values.len() == 1)
    );
    // OR inside, AND by repetition.
    let q = ok(
        "Patient",
        &[
            ("_has:Observation:patient:code", "123,456"),
            ("_has:Observation:patient:code", "789"),
        ],
    );
    assert_eq!(q.filters.len(), 2);
    // Nested.
    let f = one(
        "Patient",
        "_has:Observation:patient:_has:AuditEvent:entity:agent",
        "MyUserId",
    );
    assert_eq!(
        f.canonical_pair().0,
        "_has:Observation:patient:_has:AuditEvent:entity:agent"
    );
    let Filter::Has { filter, .. } = &f else {
        panic!()
    };
    assert!(matches!(&**filter, Filter::Has { source_type, .. } if source_type == "AuditEvent"));
    // A chain inside, and a modifier at the end.
    let f = one(
        "Patient",
        "_has:Observation:patient:performer:Practitioner.name",
        "yamada",
    );
    assert_eq!(
        f.canonical_pair().0,
        "_has:Observation:patient:performer:Practitioner.name"
    );
    let f = one("Patient", "_has:Observation:subject:code:not", "1234-5");
    assert_eq!(f.canonical_pair().0, "_has:Observation:subject:code:not");
    // A chain may end in _has.
    let f = one(
        "Observation",
        "subject:Patient._has:Condition:subject:code",
        "x",
    );
    assert_eq!(
        f.canonical_pair().0,
        "subject:Patient._has:Condition:subject:code"
    );

    refused(
        "Patient",
        "_has:Foo:patient:code",
        "x",
        IssueCode::Invalid,
        "not a resource type",
    );
    refused(
        "Patient",
        "_has:Observation:code:code",
        "x",
        IssueCode::Invalid,
        "reference parameter",
    );
    refused(
        "Patient",
        "_has:Observation:patient",
        "x",
        IssueCode::Invalid,
        "_has:Type:parameter:criterion",
    );
    refused(
        "Patient",
        "_has:Observation:patient:",
        "x",
        IssueCode::Invalid,
        "_has:Type:parameter:criterion",
    );
    refused(
        "Patient",
        "_has",
        "x",
        IssueCode::Invalid,
        "_has:Type:parameter:criterion",
    );
    refused(
        "Practitioner",
        "_has:Observation:patient:code",
        "x",
        IssueCode::Invalid,
        "never to Practitioner",
    );
    refused(
        "Patient",
        "_has:Observation:patient:date",
        "x",
        IssueCode::Value,
        "not a date",
    );
    ignorable(
        Some("Patient"),
        "_has:Observation:foo:code",
        "x",
        "Observation has no search parameter 'foo'",
    );
    ignorable(None, "_has:Observation:patient:code", "x", "system-level");
}

#[test]
fn special_and_common_parameters() {
    let f = one("Condition", "_text", "(bone OR liver) and metastases");
    assert!(
        matches!(&f, Filter::Text { param, values } if param.code == "_text" && values[0] == "(bone OR liver) and metastases")
    );
    assert!(matches!(
        one("Patient", "_content", "cancer"),
        Filter::Text { .. }
    ));
    let Filter::List { values, meaning } =
        one("AllergyIntolerance", "_list", "$current-drug-allergies")
    else {
        panic!("a functional list is a _list")
    };
    assert_eq!(values, ["$current-drug-allergies"]);
    let codes: Vec<&str> = meaning
        .iter()
        .map(|f| match f {
            Filter::Param { param, .. } => param.code.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, ["clinical-status", "category"]);
    let Filter::List { values, meaning } = one("Patient", "_list", "42,43") else {
        panic!("a list id is a _list")
    };
    assert_eq!(values, ["42", "43"]);
    assert!(
        matches!(&meaning[..], [Filter::Has { source_type, param, .. }] if source_type == "List" && param.code == "item")
    );
    for (rtype, value, why) in [
        (
            "Observation",
            "$current-allergies",
            "holds AllergyIntolerance",
        ),
        (
            "AllergyIntolerance",
            "$current-allergies,42",
            "one of several",
        ),
        ("AllergyIntolerance", "a b", "not a list id"),
    ] {
        let q = kizuna_search::parse_query_string(
            Some(rtype),
            &format!("_list={}", value.replace(' ', "%20")),
            kizuna_search::Handling::Lenient,
        );
        let Err(e) = q else {
            panic!("{rtype}?_list={value} is refused")
        };
        assert!(format!("{e:?}").contains(why), "{e:?}");
    }
    let Filter::Param { values, .. } = one("Location", "near", "42.256|-83.694|11.20|km") else {
        panic!("near is a criterion")
    };
    assert!(
        matches!(&values[0], kizuna_search::Value::Near(n) if n.latitude == 42_256_000 && n.longitude == -83_694_000 && n.distance_mm == 11_200_000)
    );
    ignorable(Some("Patient"), "_filter", "name eq peter", "_filter");
    ignorable(
        Some("Patient"),
        "foo",
        "bar",
        "Patient has no search parameter 'foo'",
    );
    ignorable(Some("Patient"), "_type", "Patient", "system-level");
    ignorable(
        Some("Bundle"),
        "_text",
        "x",
        "Bundle has no search parameter '_text'",
    );
    ignorable(Some("Patient"), "_since", "2024", "'_since'");
    // _query must be understood or refused, whatever the handling.
    refused(
        "Patient",
        "_query",
        "everything",
        IssueCode::NotSupported,
        "named queries",
    );
}

#[test]
fn system_level_search_uses_common_parameters_or_those_of_the_types() {
    let all = |list: &[(&str, &str)]| parse(None, &pairs(list), Handling::Strict);
    let (q, w) = all(&[("_lastUpdated", "ge2024-04"), ("_tag", "urn:x|y")]).unwrap();
    assert!(w.is_empty() && q.types.is_empty() && q.filters.len() == 2);
    assert_eq!(q.resource_type, None);
    let (q, _) = all(&[("_type", "Patient,Observation"), ("identifier", "urn:x|1")]).unwrap();
    assert_eq!(
        q.types,
        vec!["Observation".to_string(), "Patient".to_string()]
    );
    assert!(matches!(&q.filters[0], Filter::Param { param, .. } if param.code == "identifier"));
    let (q, _) = all(&[("_type", "Patient"), ("name", "peter")]).unwrap();
    assert_eq!(q.filters.len(), 1);
    let (q, _) = all(&[
        ("_type", "Observation,Condition"),
        ("patient.name", "peter"),
    ])
    .unwrap();
    assert!(matches!(&q.filters[0], Filter::Chain { target_type, .. } if target_type == "Patient"));
    ignorable(None, "name", "peter", "_type");
    let issues = errors(None, &[("_type", "Patient,Foo")], Handling::Lenient);
    assert_eq!((issues.len(), issues[0].code), (1, IssueCode::Value));
    let issues = errors(
        None,
        &[("_type", "Patient,Observation"), ("name", "x")],
        Handling::Strict,
    );
    assert!(
        issues[0]
            .message
            .contains("Observation has no search parameter 'name'"),
        "{issues:?}"
    );
    // An unknown resource type is refused outright.
    let issues = errors(Some("Patients"), &[("name", "x")], Handling::Lenient);
    assert_eq!(
        (issues[0].code, issues[0].expression.clone()),
        (IssueCode::NotSupported, None)
    );
}

/// A value every parameter of `kind` accepts.
fn sample(p: &registry::SearchParam) -> Option<String> {
    Some(match p.kind {
        ParamKind::String => "abc".into(),
        ParamKind::Token => "http://example.org/cs|code-1".into(),
        ParamKind::Reference => match p.targets.first() {
            Some(t) => format!("{t}/1"),
            None => "1".into(),
        },
        ParamKind::Date => "ge2024-04-01".into(),
        ParamKind::Number => "gt1.5".into(),
        ParamKind::Quantity => "le5.4|http://unitsofmeasure.org|mg".into(),
        ParamKind::Uri => "http://example.org/fhir/StructureDefinition/x".into(),
        ParamKind::Composite => {
            let parts: Option<Vec<String>> = p
                .components
                .iter()
                .map(|c| registry::by_url(&c.url).and_then(sample))
                .collect();
            parts?.join("$")
        }
        ParamKind::Special => return None,
    })
}

#[test]
fn every_parameter_of_sample_types_parses() {
    for rtype in [
        "Patient",
        "Observation",
        "Encounter",
        "Condition",
        "MedicationRequest",
    ] {
        let params = registry::params_of(rtype);
        assert!(params.len() > 20, "{rtype}");
        for p in params {
            if p.code == "_query" {
                continue;
            }
            let value = sample(p).unwrap_or_else(|| panic!("{rtype}.{}", p.code));
            let f = one(rtype, &p.code, &value);
            let (name, _) = f.canonical_pair();
            assert_eq!(name, p.code, "{rtype}?{}={value}", p.code);
            // Reading the canonical form back gives the same filter.
            let (n, v) = f.canonical_pair();
            assert_eq!(one(rtype, &n, &v), f, "{rtype}?{n}={v}");
            if p.kind != ParamKind::Composite && p.expression.is_some() {
                let name = format!("{}:missing", p.code);
                assert!(matches!(one(rtype, &name, "false"), Filter::Missing { .. }));
            }
        }
    }
    // A few definitions, checked against the specification.
    let kind = |t: &str, c: &str| registry::param(t, c).map(|p| p.kind);
    assert_eq!(kind("Patient", "birthdate"), Some(ParamKind::Date));
    assert_eq!(
        kind("Observation", "value-quantity"),
        Some(ParamKind::Quantity)
    );
    assert_eq!(kind("Encounter", "length"), Some(ParamKind::Quantity));
    assert_eq!(kind("Condition", "onset-date"), Some(ParamKind::Date));
    assert_eq!(
        kind("MedicationRequest", "intended-dispenser"),
        Some(ParamKind::Reference)
    );
    assert_eq!(
        kind("MedicationRequest", "medication"),
        Some(ParamKind::Reference)
    );
    assert_eq!(kind("Patient", "code"), None);
}

#[test]
fn and_by_repetition_or_by_comma() {
    let q = ok(
        "Patient",
        &[
            ("language", "FR,NL"),
            ("language", "EN"),
            ("birthdate", "ge2000"),
            ("birthdate", "lt2010"),
        ],
    );
    assert_eq!(q.filters.len(), 4);
    let counts: Vec<usize> = q
        .filters
        .iter()
        .map(|f| match f {
            Filter::Param { values, .. } => values.len(),
            _ => 0,
        })
        .collect();
    assert_eq!(counts, vec![2, 1, 1, 1]);
    let many = vec!["a"; kizuna_search::MAX_OR_VALUES + 1].join(",");
    refused("Patient", "name", &many, IssueCode::TooCostly, "at most");
    // Empty values are ignored.
    let (q, w) = parse(
        Some("Patient"),
        &pairs(&[("name", ""), ("foo", "")]),
        Handling::Strict,
    )
    .unwrap();
    assert!(q.filters.is_empty() && w.is_empty());
}
