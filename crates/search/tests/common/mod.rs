//! Helpers shared by the integration tests.
#![allow(dead_code)]

use kizuna_fhir::{Issue, IssueCode, Severity};
use kizuna_search::{Filter, Handling, Query, parse};

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A search that must succeed without any issue.
pub fn ok(rtype: &str, list: &[(&str, &str)]) -> Query {
    match parse(Some(rtype), &pairs(list), Handling::Strict) {
        Ok((q, warnings)) => {
            assert!(warnings.is_empty(), "{rtype}?{list:?}: {warnings:?}");
            q
        }
        Err(e) => panic!("{rtype}?{list:?}: {e:?}"),
    }
}

/// The only filter of a search that must succeed.
pub fn one(rtype: &str, name: &str, value: &str) -> Filter {
    let q = ok(rtype, &[(name, value)]);
    assert_eq!(q.filters.len(), 1, "{rtype}?{name}={value}");
    q.filters.into_iter().next().unwrap()
}

/// The issues of a search that must fail, under `handling`.
pub fn errors(rtype: Option<&str>, list: &[(&str, &str)], handling: Handling) -> Vec<Issue> {
    match parse(rtype, &pairs(list), handling) {
        Ok((q, w)) => panic!("{rtype:?}?{list:?} was accepted: {q:?} {w:?}"),
        Err(issues) => issues,
    }
}

/// The single error of a search that must fail even when lenient, checked for its code, its
/// expression (the parameter name) and a fragment of its message.
pub fn refused(rtype: &str, name: &str, value: &str, code: IssueCode, fragment: &str) {
    for handling in [Handling::Lenient, Handling::Strict] {
        let issues = errors(Some(rtype), &[(name, value)], handling);
        assert_eq!(issues.len(), 1, "{rtype}?{name}={value}: {issues:?}");
        let i = &issues[0];
        assert_eq!(i.severity, Severity::Error, "{rtype}?{name}={value}");
        assert_eq!(i.code, code, "{rtype}?{name}={value}: {}", i.message);
        assert_eq!(
            i.expression.as_deref(),
            Some(name),
            "{rtype}?{name}={value}"
        );
        assert!(
            i.message.contains(fragment),
            "{rtype}?{name}={value}: '{}' lacks '{fragment}'",
            i.message
        );
    }
}

/// A parameter that is ignored with a warning when lenient and refused when strict.
pub fn ignorable(rtype: Option<&str>, name: &str, value: &str, fragment: &str) {
    let list = [(name, value)];
    let (q, warnings) = parse(rtype, &pairs(&list), Handling::Lenient)
        .unwrap_or_else(|e| panic!("{rtype:?}?{name}={value}: {e:?}"));
    assert!(q.filters.is_empty(), "{rtype:?}?{name}={value}");
    assert_eq!(warnings.len(), 1, "{rtype:?}?{name}={value}: {warnings:?}");
    let w = &warnings[0];
    assert_eq!(
        (w.severity, w.code),
        (Severity::Warning, IssueCode::NotSupported)
    );
    assert!(
        w.message.contains(fragment) && w.message.contains("ignored"),
        "{}",
        w.message
    );
    let issues = errors(rtype, &list, Handling::Strict);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        (issues[0].severity, issues[0].code),
        (Severity::Error, IssueCode::NotSupported)
    );
    assert!(
        issues[0].message.contains(fragment),
        "{}",
        issues[0].message
    );
}
