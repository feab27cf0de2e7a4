//! Result parameters (_include, _revinclude, _sort, _count, _total, _summary, _elements,
//! _contained, _page), lenient and strict handling, collected errors, and the canonical form.

mod common;

use common::{errors, ignorable, ok, pairs};
use kizuna_fhir::{IssueCode, Severity};
use kizuna_search::{
    DEFAULT_COUNT, Handling, MAX_COUNT, Query, Summary, Total, parse, parse_query_string,
};

fn include_strings(q: &Query) -> (Vec<String>, Vec<String>) {
    let render = |list: &[kizuna_search::Include]| {
        list.iter()
            .map(|i| {
                format!(
                    "{}{}",
                    i.render(),
                    if i.iterate { " (iterate)" } else { "" }
                )
            })
            .collect()
    };
    (render(&q.includes), render(&q.revincludes))
}

#[test]
fn includes_and_revincludes() {
    let q = ok(
        "MedicationRequest",
        &[
            ("_include", "MedicationRequest:patient"),
            ("_include", "MedicationRequest:subject:Patient"),
            ("_include", "MedicationRequest:*"),
            ("_include", "*"),
            ("_include:iterate", "Patient:general-practitioner"),
            ("_include:recurse", "Patient:organization"),
            ("_revinclude", "Provenance:target"),
            ("_revinclude:iterate", "Observation:patient"),
        ],
    );
    let (inc, rev) = include_strings(&q);
    assert_eq!(
        inc,
        vec![
            "MedicationRequest:patient",
            "MedicationRequest:subject:Patient",
            "MedicationRequest:*",
            "*",
            "Patient:general-practitioner (iterate)",
            "Patient:organization (iterate)",
        ]
    );
    assert_eq!(
        rev,
        vec!["Provenance:target", "Observation:patient (iterate)"]
    );
    assert_eq!(q.includes[0].param.unwrap().code, "patient");
    assert_eq!(q.includes[1].target_type.as_deref(), Some("Patient"));
    assert!(q.includes[2].param.is_none() && q.includes[3].source_type.is_none());

    for (name, value, code, fragment) in [
        (
            "_include",
            "Foo:bar",
            IssueCode::Value,
            "not a resource type",
        ),
        (
            "_include",
            "MedicationRequest:code",
            IssueCode::Invalid,
            "token parameter",
        ),
        (
            "_include",
            "MedicationRequest:subject:Medication",
            IssueCode::Value,
            "not a type that",
        ),
        (
            "_include",
            "MedicationRequest",
            IssueCode::Invalid,
            "SourceType:parameter[:TargetType]",
        ),
        (
            "_include",
            "MedicationRequest:patient,MedicationRequest:requester",
            IssueCode::Invalid,
            "repeat",
        ),
        (
            "_include:foo",
            "MedicationRequest:patient",
            IssueCode::Invalid,
            ":iterate",
        ),
        (
            "_revinclude",
            "Provenance:target:Foo",
            IssueCode::Value,
            "not a type that",
        ),
    ] {
        for handling in [Handling::Lenient, Handling::Strict] {
            let issues = errors(Some("MedicationRequest"), &[(name, value)], handling);
            assert_eq!(issues.len(), 1, "{name}={value}: {issues:?}");
            assert_eq!(
                issues[0].code, code,
                "{name}={value}: {}",
                issues[0].message
            );
            assert_eq!(issues[0].expression.as_deref(), Some(name));
            assert!(
                issues[0].message.contains(fragment),
                "{}",
                issues[0].message
            );
        }
    }
    ignorable(
        Some("MedicationRequest"),
        "_include",
        "MedicationRequest:nope",
        "no search parameter 'nope'",
    );
    // An include that cannot match is accepted, with a hint.
    let (q, w) = parse(
        Some("Observation"),
        &pairs(&[
            ("_include", "Patient:organization"),
            ("_revinclude", "Observation:patient"),
        ]),
        Handling::Strict,
    )
    .unwrap();
    assert_eq!((q.includes.len(), q.revincludes.len(), w.len()), (1, 1, 2));
    assert!(
        w.iter()
            .all(|i| i.severity == Severity::Warning && i.message.contains(":iterate"))
    );
    // _summary=text cannot be mixed with includes.
    let issues = errors(
        Some("Patient"),
        &[("_summary", "text"), ("_revinclude", "Provenance:target")],
        Handling::Lenient,
    );
    assert!(issues[0].message.contains("_summary=text"), "{issues:?}");
}

#[test]
fn sort_keys_keep_their_order_and_direction() {
    let q = ok(
        "Observation",
        &[("_sort", "status,-date,category,_id,-_lastUpdated")],
    );
    let keys: Vec<(&str, bool)> = q
        .sort
        .iter()
        .map(|k| (k.param.code.as_str(), k.descending))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("status", false),
            ("date", true),
            ("category", false),
            ("_id", false),
            ("_lastUpdated", true)
        ]
    );
    let issues = errors(
        Some("Observation"),
        &[("_sort", "status,,date")],
        Handling::Lenient,
    );
    assert_eq!((issues.len(), issues[0].code), (1, IssueCode::Value));
    ignorable(
        Some("Observation"),
        "_sort",
        "foo",
        "no search parameter 'foo'",
    );
    ignorable(
        Some("Observation"),
        "_sort",
        "code-value-quantity",
        "cannot be sorted",
    );
    ignorable(Some("Observation"), "_sort", "subject.name", "chain");
    ignorable(Some("Observation"), "_sort", "_text", "cannot be sorted");
    // Lenient: the unknown key goes, the others stay.
    let (q, w) = parse(
        Some("Patient"),
        &pairs(&[("_sort", "-birthdate,foo,name")]),
        Handling::Lenient,
    )
    .unwrap();
    assert_eq!((q.sort.len(), w.len()), (2, 1));
}

#[test]
fn paging_totals_summaries_and_elements() {
    assert_eq!(ok("Patient", &[]).count, DEFAULT_COUNT);
    assert_eq!(ok("Patient", &[("_count", "10")]).count, 10);
    assert_eq!(ok("Patient", &[("_count", "0")]).count, 0);
    for (big, code) in [
        ("5000", IssueCode::TooCostly),
        ("99999999999999999999999", IssueCode::TooCostly),
    ] {
        let (q, w) = parse(
            Some("Patient"),
            &pairs(&[("_count", big)]),
            Handling::Strict,
        )
        .unwrap();
        assert_eq!(q.count, MAX_COUNT);
        assert_eq!(
            (w.len(), w[0].code, w[0].severity),
            (1, code, Severity::Warning)
        );
    }
    for (value, total) in [
        ("none", Total::None),
        ("estimate", Total::Estimate),
        ("accurate", Total::Accurate),
    ] {
        assert_eq!(ok("Patient", &[("_total", value)]).total, Some(total));
    }
    for (value, summary) in [
        ("true", Summary::True),
        ("text", Summary::Text),
        ("data", Summary::Data),
        ("count", Summary::Count),
        ("false", Summary::False),
    ] {
        assert_eq!(ok("Patient", &[("_summary", value)]).summary, Some(summary));
    }
    assert_eq!(ok("Patient", &[]).summary, None);
    assert_eq!(
        ok("Patient", &[("_elements", "identifier,active,link")]).elements,
        vec!["identifier", "active", "link"]
    );
    assert_eq!(
        ok("Patient", &[("_elements", "Patient.name,name")]).elements,
        vec!["name"]
    );
    assert_eq!(
        ok("Observation", &[("_elements", "value,code")]).elements,
        vec!["value", "code"]
    );
    ignorable(
        Some("Patient"),
        "_elements",
        "foo",
        "no top-level element 'foo'",
    );
    assert_eq!(
        ok("Patient", &[("_page", "opaque-cursor")]).page.as_deref(),
        Some("opaque-cursor")
    );
    let q = ok(
        "Patient",
        &[
            ("_contained", "false"),
            ("_containedType", "container"),
            ("_format", "json"),
            ("_pretty", "true"),
        ],
    );
    assert_eq!(q, Query::new(Some("Patient")));
    ignorable(Some("Patient"), "_contained", "true", "contained");
    ignorable(Some("Patient"), "_contained", "both", "contained");
    ignorable(Some("Patient"), "_containedType", "contained", "contained");

    for (name, value, fragment) in [
        ("_count", "-1", "whole number"),
        ("_count", "abc", "whole number"),
        ("_count", "1.5", "whole number"),
        ("_count", "+5", "whole number"),
        ("_total", "some", "none, estimate or accurate"),
        ("_summary", "yes", "true, text, data, count or false"),
        ("_contained", "maybe", "true, false or both"),
        ("_containedType", "x", "container or contained"),
        ("_elements", "na-me", "not an element name"),
        ("_elements", "name,,active", "not an element name"),
    ] {
        let issues = errors(Some("Patient"), &[(name, value)], Handling::Lenient);
        assert_eq!(issues.len(), 1, "{name}={value}: {issues:?}");
        assert_eq!(
            (issues[0].code, issues[0].expression.as_deref()),
            (IssueCode::Value, Some(name))
        );
        assert!(
            issues[0].message.contains(fragment),
            "{}",
            issues[0].message
        );
    }
    for (name, fragment) in [
        ("_count", "only once"),
        ("_sort", "only once"),
        ("_summary", "only once"),
    ] {
        let issues = errors(
            Some("Patient"),
            &[(name, "true"), (name, "true")],
            Handling::Lenient,
        );
        assert!(
            issues.iter().any(|i| i.message.contains(fragment)),
            "{issues:?}"
        );
    }
    let issues = errors(Some("Patient"), &[("_count:exact", "5")], Handling::Lenient);
    assert!(issues[0].message.contains("no modifier"));
}

#[test]
fn lenient_ignores_what_strict_refuses() {
    let list = [
        ("name", "peter"),
        ("foo", "bar"),
        ("_filter", "name eq x"),
        ("near", "1|2|3|km"),
    ];
    let (q, warnings) = parse(Some("Patient"), &pairs(&list), Handling::Lenient).unwrap();
    assert_eq!(q.filters.len(), 1);
    let named: Vec<&str> = warnings
        .iter()
        .map(|w| w.expression.as_deref().unwrap())
        .collect();
    assert_eq!(named, vec!["foo", "_filter", "near"]);
    assert!(
        warnings
            .iter()
            .all(|w| w.severity == Severity::Warning && w.code == IssueCode::NotSupported)
    );
    let issues = errors(Some("Patient"), &list, Handling::Strict);
    assert_eq!(issues.len(), 3);
    assert!(
        issues
            .iter()
            .all(|i| i.is_error() && i.code == IssueCode::NotSupported)
    );
    assert_eq!(Handling::default(), Handling::Lenient);
    assert_eq!(Handling::from_code("strict"), Some(Handling::Strict));
    assert_eq!(Handling::from_code("lenient"), Some(Handling::Lenient));
    assert_eq!(Handling::from_code("loose"), None);
}

#[test]
fn every_problem_is_reported_at_once() {
    let list = [
        ("birthdate", "2024-13"),
        ("gender:foo", "x"),
        ("_count", "-1"),
        ("name.family", "x"),
        ("birthdate", "xx2024,2025-02-30"),
        ("unknown", "x"),
        ("name", "fine"),
    ];
    let issues = errors(Some("Patient"), &list, Handling::Lenient);
    let named: Vec<(&str, Severity)> = issues
        .iter()
        .map(|i| (i.expression.as_deref().unwrap(), i.severity))
        .collect();
    assert_eq!(
        named,
        vec![
            ("birthdate", Severity::Error),
            ("gender:foo", Severity::Error),
            ("_count", Severity::Error),
            ("name.family", Severity::Error),
            ("birthdate", Severity::Error),
            ("birthdate", Severity::Error),
            ("unknown", Severity::Warning),
        ]
    );
}

#[test]
fn the_canonical_form_is_normalized_and_reads_back() {
    let q = ok(
        "Observation",
        &[
            ("_sort", "-date"),
            ("subject:Patient", "123"),
            ("code", "http://loinc.org|1234-5,http://loinc.org|1111-1"),
            ("_include", "Observation:subject"),
            ("date", "eq2024-05"),
        ],
    );
    let canonical = q.canonical_string();
    assert_eq!(
        canonical,
        "code=http://loinc.org%7C1111-1,http://loinc.org%7C1234-5&date=2024-05&subject=Patient/123\
         &_include=Observation:subject&_sort=-date&_count=50"
    );
    let (again, _) = parse_query_string(Some("Observation"), &canonical, Handling::Strict).unwrap();
    assert_eq!(again.canonical_string(), canonical);
    // The same search written differently.
    let (other, _) = parse_query_string(
        Some("Observation"),
        "?date=2024-05&_include=Observation:subject&code=http%3A%2F%2Floinc.org%7C1234-5%2Chttp://loinc.org|1111-1&subject=Patient/123&_sort=-date&_count=50",
        Handling::Strict,
    )
    .unwrap();
    assert_eq!(other.canonical_string(), canonical);

    let q = ok(
        "Patient",
        &[
            ("_page", "c/1"),
            ("_elements", "name,birthDate"),
            ("_summary", "data"),
            ("_total", "accurate"),
            ("_count", "10"),
            ("_revinclude:iterate", "Provenance:target"),
            ("_has:Observation:patient:code", "b,a,b"),
            ("name", "a\\,b & c"),
            ("birthdate:missing", "false"),
        ],
    );
    let canonical = q.canonical_string();
    assert_eq!(
        canonical,
        "_has:Observation:patient:code=a,b&birthdate:missing=false&name=a%5C,b+%26+c\
         &_revinclude:iterate=Provenance:target&_count=10&_total=accurate&_summary=data\
         &_elements=birthDate,name&_page=c/1"
    );
    let (again, _) = parse_query_string(Some("Patient"), &canonical, Handling::Strict).unwrap();
    assert_eq!(again.canonical_string(), canonical);

    let (q, _) = parse(
        None,
        &pairs(&[("_type", "Patient,Observation"), ("_id", "1")]),
        Handling::Strict,
    )
    .unwrap();
    assert_eq!(
        q.canonical_string(),
        "_id=1&_type=Observation,Patient&_count=50"
    );
}

#[test]
fn raw_query_strings_are_percent_decoded() {
    let (q, _) = parse_query_string(
        Some("Patient"),
        "name=%E5%B1%B1%E7%94%B0&birthdate=ge2000-01-01T00:00:00+09:00&_count=5",
        Handling::Strict,
    )
    .unwrap();
    assert_eq!(q.count, 5);
    // `+` decodes to a space, which a date offset reads back as `+`.
    assert_eq!(
        q.canonical_string(),
        "birthdate=ge2000-01-01T00:00:00%2B09:00&name=%E5%B1%B1%E7%94%B0&_count=5"
    );
    let (q2, _) =
        parse_query_string(Some("Patient"), &q.canonical_string(), Handling::Strict).unwrap();
    assert_eq!(q2.canonical_string(), q.canonical_string());
    // Criteria come back in canonical order, the same ones.
    assert_eq!(q2.filters[0], q.filters[1]);
    assert_eq!(q2.filters[1], q.filters[0]);
}
