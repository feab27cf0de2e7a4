//! Properties: no input panics the parser, errors always come with an error issue, and whatever
//! is accepted has a canonical form that reads back to itself.

use kizuna_search::{Handling, parse, parse_query_string};
use proptest::prelude::*;
use proptest::sample::select;

const TYPES: &[&str] = &[
    "Patient",
    "Observation",
    "Encounter",
    "Condition",
    "MedicationRequest",
    "Location",
    "Group",
    "ValueSet",
];

const NAMES: &[&str] = &[
    "name",
    "given",
    "family",
    "gender",
    "birthdate",
    "identifier",
    "code",
    "subject",
    "patient",
    "date",
    "value-quantity",
    "code-value-quantity",
    "characteristic-value",
    "url",
    "probability",
    "near",
    "status",
    "encounter",
    "performer",
    "general-practitioner",
    "_id",
    "_lastUpdated",
    "_tag",
    "_profile",
    "_security",
    "_source",
    "_text",
    "_content",
    "_list",
    "_query",
    "_filter",
    "_type",
    "_has",
    "_include",
    "_revinclude",
    "_sort",
    "_count",
    "_total",
    "_summary",
    "_elements",
    "_contained",
    "_containedType",
    "_page",
    "_format",
    "_pretty",
    "foo",
    "",
];

const SUFFIXES: &[&str] = &[
    "",
    ":exact",
    ":contains",
    ":missing",
    ":not",
    ":text",
    ":of-type",
    ":identifier",
    ":above",
    ":below",
    ":in",
    ":Patient",
    ":Group",
    ":iterate",
    ":recurse",
    ":foo",
    ".",
    ":",
    "::",
    ":_has:",
    ":Observation:",
    ":patient:",
];

const VALUES: &[&str] = &[
    "peter",
    "male",
    "true",
    "false",
    "2024",
    "ge2024-05",
    "lt2013-01-14T10:00",
    "2024-05-01T10:00:00+09:00",
    "2024-05-01T10:00:00 02:00",
    "2024-13",
    "gt0.8",
    "1e2",
    "-1.5e-3",
    "5.4|http://unitsofmeasure.org|mg",
    "5.4||mg",
    "http://loinc.org|1234-5",
    "|x",
    "sys|",
    "a|b|c",
    "Patient/1",
    "Patient/1/_history/2",
    "http://x.org/a|1.0",
    "urn:uuid:1",
    "a$b",
    "http://loinc.org|1$gt5|s|c",
    "a\\,b",
    "a\\$b",
    "a\\|b",
    "a\\\\b",
    "a\\b",
    "\\",
    "Observation:subject",
    "Observation:subject:Patient",
    "*",
    "Patient:*",
    "-date,status",
    "_id,-_lastUpdated",
    "0",
    "10",
    "5000",
    "-1",
    "none",
    "accurate",
    "count",
    "text",
    "identifier,name",
    "$current-allergies",
    "42",
    "both",
    "contained",
    ",",
    "a,,b",
    "",
    "日本語",
    "ap2024",
    "xx1",
    "eq",
    "sa2024-02-29",
    "eb9999",
    "0000",
];

/// Well-formed criteria and result parameters of a Patient search, each usable once.
const GOOD: &[(&str, &str)] = &[
    ("name", "peter,ピーター"),
    ("name:exact", "Peter"),
    ("given:contains", "eve"),
    ("family", "a\\,b"),
    ("gender", "male"),
    ("gender:not", "female"),
    ("gender:missing", "false"),
    ("birthdate", "ge2000"),
    ("birthdate", "lt2010-05-01T10:00"),
    ("birthdate", "2000-01-01T00:00:00.5-05:00"),
    ("identifier", "http://acme.org/mrn|123,|456,urn:x|"),
    (
        "identifier:of-type",
        "http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053",
    ),
    ("general-practitioner", "Practitioner/1,2"),
    ("general-practitioner:Practitioner.name", "yamada"),
    ("organization.name:contains", "clinic"),
    ("link:Patient.birthdate", "sa1990"),
    ("_has:Observation:patient:code", "http://loinc.org|1234-5"),
    (
        "_has:Observation:patient:value-quantity",
        "gt5.4|http://unitsofmeasure.org|mg",
    ),
    (
        "_has:Observation:subject:_has:Provenance:target:agent",
        "Practitioner/9",
    ),
    ("_id", "a,b"),
    ("_lastUpdated", "gt2024-04"),
    ("_tag", "http://acme.org/codes|needs-review"),
    (
        "_profile",
        "http://example.org/StructureDefinition/jp-patient|1.0",
    ),
    ("_text", "diabetes"),
    ("_list", "42"),
    ("language", "ja,en"),
    ("address-city", "東京"),
    ("telecom", "090-1234-5678"),
    ("_include", "Patient:organization"),
    ("_include:iterate", "Organization:partof"),
    ("_revinclude", "Provenance:target"),
    ("_revinclude", "Observation:subject:Patient"),
    ("_sort", "-birthdate,name,_id"),
    ("_count", "20"),
    ("_total", "accurate"),
    ("_summary", "data"),
    ("_elements", "name,birthDate"),
    ("_page", "cursor-1"),
    ("_format", "json"),
];

fn name() -> impl Strategy<Value = String> {
    let composed = (
        select(NAMES),
        select(SUFFIXES),
        select(NAMES),
        select(SUFFIXES),
    )
        .prop_map(|(a, b, c, d)| format!("{a}{b}{c}{d}"));
    prop_oneof![
        4 => select(NAMES).prop_map(String::from),
        4 => (select(NAMES), select(SUFFIXES)).prop_map(|(a, b)| format!("{a}{b}")),
        2 => composed,
        1 => "_has:[A-Za-z]{0,12}:[a-z\\-]{0,10}:[a-z:._\\-]{0,16}",
        1 => ".{0,24}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(VALUES).prop_map(String::from),
        2 => prop::collection::vec(select(VALUES), 1..4).prop_map(|v| v.join(",")),
        1 => prop::collection::vec(select(VALUES), 1..4).prop_map(|v| v.join("$")),
        1 => "[a-z0-9|$,:/.+\\\\ \\-]{0,24}",
        1 => ".{0,32}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_pairs_parse_without_panic_and_accepted_ones_read_back(
        rtype in prop::option::weighted(0.85, select(TYPES)),
        pairs in prop::collection::vec((name(), value()), 0..6),
        strict in any::<bool>(),
    ) {
        let handling = if strict { Handling::Strict } else { Handling::Lenient };
        match parse(rtype, &pairs, handling) {
            Ok((query, warnings)) => {
                prop_assert!(warnings.iter().all(|w| !w.is_error()), "{warnings:?}");
                let canonical = query.canonical_string();
                match parse_query_string(rtype, &canonical, Handling::Strict) {
                    Ok((again, _)) => prop_assert_eq!(again.canonical_string(), canonical),
                    Err(e) => prop_assert!(false, "{canonical} from {pairs:?}: {e:?}"),
                }
            }
            Err(issues) => {
                prop_assert!(issues.iter().any(|i| i.is_error()));
                prop_assert!(issues.iter().all(|i| !i.message.is_empty()));
            }
        }
    }

    #[test]
    fn well_formed_searches_are_accepted_in_any_order(
        (picked, shuffled) in prop::sample::subsequence(GOOD, 0..=GOOD.len())
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter().map(|(n, x)| (n.to_string(), x.to_string())).collect()
        };
        let (a, warnings) = parse(Some("Patient"), &owned(&picked), Handling::Strict)
            .map_err(|e| TestCaseError::fail(format!("{picked:?}: {e:?}")))?;
        prop_assert!(warnings.is_empty(), "{warnings:?}");
        let (b, _) = parse(Some("Patient"), &owned(&shuffled), Handling::Strict)
            .map_err(|e| TestCaseError::fail(format!("{shuffled:?}: {e:?}")))?;
        let canonical = a.canonical_string();
        prop_assert_eq!(&b.canonical_string(), &canonical);
        let (again, _) = parse_query_string(Some("Patient"), &canonical, Handling::Strict)
            .map_err(|e| TestCaseError::fail(format!("{canonical}: {e:?}")))?;
        prop_assert_eq!(again.canonical_string(), canonical);
        let criteria = picked.iter().filter(|(n, _)| !n.starts_with("_include") && !n.starts_with("_revinclude")
            && !["_sort", "_count", "_total", "_summary", "_elements", "_page", "_format"].contains(n)).count();
        prop_assert_eq!(a.filters.len(), criteria);
    }

    #[test]
    fn raw_query_strings_never_panic(query in ".{0,200}", rtype in prop::option::of(select(TYPES))) {
        let _ = parse_query_string(rtype, &query, Handling::Lenient);
        let _ = parse_query_string(rtype, &query, Handling::Strict);
    }
}
