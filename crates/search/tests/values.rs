//! The value syntax of each parameter type, table-driven.

use jiff::Timestamp;
use kizuna_search::Decimal;
use kizuna_search::values::{
    DatePrecision, Prefix, Reference, Token, escape, parse_date, parse_date_period, parse_number,
    parse_of_type, parse_quantity, parse_reference, parse_token, parse_uri, split_escaped,
    unescape,
};

fn ts(s: &str) -> i64 {
    s.parse::<Timestamp>().unwrap().as_microsecond()
}

fn dec(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

#[test]
fn dates_cover_their_precision_in_japan_time_unless_an_offset_is_given() {
    use DatePrecision::*;
    for (text, start, end, precision) in [
        ("2024", "2023-12-31T15:00:00Z", "2024-12-31T15:00:00Z", Year),
        (
            "2024-02",
            "2024-01-31T15:00:00Z",
            "2024-02-29T15:00:00Z",
            Month,
        ),
        (
            "2023-02",
            "2023-01-31T15:00:00Z",
            "2023-02-28T15:00:00Z",
            Month,
        ),
        (
            "2024-12",
            "2024-11-30T15:00:00Z",
            "2024-12-31T15:00:00Z",
            Month,
        ),
        (
            "2024-05-01",
            "2024-04-30T15:00:00Z",
            "2024-05-01T15:00:00Z",
            Day,
        ),
        (
            "2024-05-01T10:00",
            "2024-05-01T01:00:00Z",
            "2024-05-01T01:01:00Z",
            Minute,
        ),
        (
            "2024-05-01T10:00Z",
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:01:00Z",
            Minute,
        ),
        (
            "2024-05-01T10:00:30",
            "2024-05-01T01:00:30Z",
            "2024-05-01T01:00:31Z",
            Second,
        ),
        (
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:01Z",
            Second,
        ),
        (
            "2024-05-01T10:00:00+02:00",
            "2024-05-01T08:00:00Z",
            "2024-05-01T08:00:01Z",
            Second,
        ),
        (
            "2024-05-01T10:00:00-05:30",
            "2024-05-01T15:30:00Z",
            "2024-05-01T15:30:01Z",
            Second,
        ),
        (
            "2024-05-01T10:00:00+14:00",
            "2024-04-30T20:00:00Z",
            "2024-04-30T20:00:01Z",
            Second,
        ),
        (
            "2024-05-01T10:00:00.5Z",
            "2024-05-01T10:00:00.5Z",
            "2024-05-01T10:00:00.6Z",
            Fraction(1),
        ),
        (
            "2024-05-01T10:00:00.123Z",
            "2024-05-01T10:00:00.123Z",
            "2024-05-01T10:00:00.124Z",
            Fraction(3),
        ),
        (
            "2024-05-01T10:00:00.123456+09:00",
            "2024-05-01T01:00:00.123456Z",
            "2024-05-01T01:00:00.123457Z",
            Fraction(6),
        ),
        (
            "2024-05-01T10:00:00.123456789Z",
            "2024-05-01T10:00:00.123456Z",
            "2024-05-01T10:00:00.123457Z",
            Fraction(9),
        ),
        // An unencoded '+' arrives as a space.
        (
            "2024-05-01T10:00:00 02:00",
            "2024-05-01T08:00:00Z",
            "2024-05-01T08:00:01Z",
            Second,
        ),
        (
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:01Z",
            Second,
        ),
    ] {
        let p = parse_date_period(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            (p.start_micros, p.end_micros),
            (ts(start), ts(end)),
            "{text}"
        );
        assert_eq!(p.precision, precision, "{text}");
    }
    // The last year ends beyond what jiff can represent; micros still hold it.
    let last = parse_date_period("9999").unwrap();
    assert_eq!(last.start_micros, ts("9998-12-31T15:00:00Z"));
    assert_eq!(last.end_micros - last.start_micros, 365 * 86_400_000_000);
    assert!(parse_date_period("9999-12-31T23:59:59-14:00").is_err());
}

#[test]
fn what_is_not_a_date_is_refused_with_a_reason() {
    for bad in [
        "",
        "20",
        "202",
        "20245",
        "2024-1",
        "2024-13",
        "2024-00",
        "2024-02-30",
        "2024-02-3",
        "2023-02-29",
        "2024/05/01",
        "yesterday",
        "2024-05-01T10",
        "2024-05-01T25:00:00Z",
        "2024-05-01T10:60",
        "2024-05-01T10:00:61Z",
        "2024-05-01T10:00:00+99:00",
        "2024-05-01T10:00:00+14:30",
        "2024-05-01T10:00:00+0900",
        "2024-05-01T10:00:00.Z",
        "2024-05-01Z",
        "2024-05-01T10:00:00ZZ",
        "2024-05-01T10:00:00+09",
        "２０２４",
        "2024-05-01T10:00:00.5+02:00x",
        "23 May 2009",
    ] {
        let e = parse_date_period(bad).expect_err(bad);
        assert!(e.contains(bad) || bad.is_empty(), "{bad}: {e}");
    }
}

#[test]
fn every_prefix_applies_to_dates_numbers_and_quantities() {
    for (code, prefix) in [
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
    ] {
        let d = parse_date(&format!("{code}2024-05")).unwrap();
        assert_eq!((d.prefix, d.text.as_str()), (prefix, "2024-05"), "{code}");
        assert_eq!(d.start_micros, ts("2024-04-30T15:00:00Z"));
        let n = parse_number(&format!("{code}100")).unwrap();
        assert_eq!((n.prefix, n.value), (prefix, dec("100")), "{code}");
        let q = parse_quantity(&format!("{code}5.4|http://unitsofmeasure.org|mg")).unwrap();
        assert_eq!(q.number.prefix, prefix, "{code}");
        assert_eq!(q.number.value, dec("5.4"));
    }
    for bad in ["xx2024", "GT2024", "gt", "lt-", "ge20240"] {
        assert!(parse_date(bad).is_err(), "{bad}");
    }
    for bad in ["xx100", "Gt100", "gt", "gte100", "100abc", "eq 100"] {
        assert!(parse_number(bad).is_err(), "{bad}");
    }
    assert!(
        parse_number("xx100")
            .unwrap_err()
            .contains("not a search prefix")
    );
}

#[test]
fn numbers_carry_their_implicit_range_exactly() {
    for (text, value, low, high) in [
        ("100", "100", "99.5", "100.5"),
        ("100.00", "100", "99.995", "100.005"),
        // Half a unit of the last written digit: 1e2 has one significant figure.
        ("1e2", "100", "50", "150"),
        ("1.0e2", "100", "95", "105"),
        ("1.00e2", "100", "99.5", "100.5"),
        ("gt0.8", "0.8", "0.75", "0.85"),
        ("8e-1", "0.8", "0.75", "0.85"),
        ("-2.0", "-2", "-2.05", "-1.95"),
        ("0.1", "0.1", "0.05", "0.15"),
        (
            "12345678901234567890.5",
            "12345678901234567890.5",
            "12345678901234567890.45",
            "12345678901234567890.55",
        ),
    ] {
        let n = parse_number(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(n.value, dec(value), "{text}");
        assert_eq!((n.low, n.high), (dec(low), dec(high)), "{text}");
    }
}

#[test]
fn quantities_have_optional_system_and_code() {
    for (text, value, system, code) in [
        (
            "5.4|http://unitsofmeasure.org|mg",
            "5.4",
            Some("http://unitsofmeasure.org"),
            Some("mg"),
        ),
        (
            "5.40e-3|http://unitsofmeasure.org|g",
            "0.0054",
            Some("http://unitsofmeasure.org"),
            Some("g"),
        ),
        ("5.4||mg", "5.4", None, Some("mg")),
        ("5.4", "5.4", None, None),
        (
            "le5.4|http://unitsofmeasure.org|mg",
            "5.4",
            Some("http://unitsofmeasure.org"),
            Some("mg"),
        ),
        ("5.4|urn:x|mg\\|dl", "5.4", Some("urn:x"), Some("mg|dl")),
    ] {
        let q = parse_quantity(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(q.number.value, dec(value), "{text}");
        assert_eq!(
            (q.system.as_deref(), q.code.as_deref()),
            (system, code),
            "{text}"
        );
    }
    assert_eq!(
        parse_quantity("5.40e-3|s|g").unwrap().number.low,
        dec("0.005395")
    );
    for bad in ["", "mg", "5.4|mg", "5.4|a|b|c", "abc|s|c", "5,4"] {
        assert!(parse_quantity(bad).is_err(), "{bad}");
    }
}

#[test]
fn tokens_have_four_forms() {
    let t = |s: Option<&str>, c: Option<&str>| Token {
        system: s.map(str::to_string),
        code: c.map(str::to_string),
    };
    for (text, expected) in [
        ("male", t(None, Some("male"))),
        (
            "http://loinc.org|1234-5",
            t(Some("http://loinc.org"), Some("1234-5")),
        ),
        ("|1234-5", t(Some(""), Some("1234-5"))),
        ("http://loinc.org|", t(Some("http://loinc.org"), None)),
        ("a\\|b", t(None, Some("a|b"))),
        ("s\\|x|a\\,b", t(Some("s|x"), Some("a,b"))),
        ("urn:oid:1.2.3|\\\\", t(Some("urn:oid:1.2.3"), Some("\\"))),
    ] {
        assert_eq!(parse_token(text).unwrap(), expected, "{text}");
    }
    for bad in ["a|b|c", "a\\b", "a\\"] {
        assert!(parse_token(bad).is_err(), "{bad}");
    }
    let o = parse_of_type("http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053").unwrap();
    assert_eq!(
        (
            o.type_system.as_str(),
            o.type_code.as_str(),
            o.value.as_str()
        ),
        (
            "http://terminology.hl7.org/CodeSystem/v2-0203",
            "MR",
            "446053"
        )
    );
    for bad in ["MR|446053", "|MR|446053", "s||v", "s|c|", "a|b|c|d"] {
        assert!(parse_of_type(bad).is_err(), "{bad}");
    }
}

#[test]
fn references_are_local_versioned_or_absolute() {
    let targets: Vec<String> = ["Group", "Patient"].iter().map(|s| s.to_string()).collect();
    let local = |t: Option<&str>, id: &str, v: Option<&str>| Reference::Local {
        resource_type: t.map(str::to_string),
        id: id.into(),
        version: v.map(str::to_string),
    };
    let url = |u: &str, v: Option<&str>| Reference::Url {
        url: u.into(),
        version: v.map(str::to_string),
    };
    for (text, fixed, expected) in [
        ("123", None, local(None, "123", None)),
        ("123", Some("Patient"), local(Some("Patient"), "123", None)),
        ("Patient/123", None, local(Some("Patient"), "123", None)),
        (
            "Patient/123",
            Some("Patient"),
            local(Some("Patient"), "123", None),
        ),
        (
            "Patient/123/_history/2",
            None,
            local(Some("Patient"), "123", Some("2")),
        ),
        (
            "http://example.org/fhir/Patient/123",
            None,
            url("http://example.org/fhir/Patient/123", None),
        ),
        (
            "urn:uuid:1f7a1c0e-8f1a-4d6c-9a63-0a3c4b1e2f3d",
            None,
            url("urn:uuid:1f7a1c0e-8f1a-4d6c-9a63-0a3c4b1e2f3d", None),
        ),
        (
            "http://x.org/ValueSet/vs|2.0",
            None,
            url("http://x.org/ValueSet/vs", Some("2.0")),
        ),
    ] {
        assert_eq!(
            parse_reference(text, &targets, fixed).unwrap(),
            expected,
            "{text}"
        );
    }
    // A parameter with a single target gives bare ids its type.
    assert_eq!(
        parse_reference("7", &["Patient".to_string()], None).unwrap(),
        local(Some("Patient"), "7", None)
    );
    for (bad, fixed) in [
        ("Observation/1", None),
        ("Patient/1", Some("Group")),
        ("Foo/1", None),
        ("a/b/c", None),
        ("Patient/1/_history", None),
        ("Patient/1/_history/x_y", None),
        ("bad_id", None),
        ("", None),
        ("http://x.org/a", Some("Patient")),
        ("http://x.org/a|", None),
        ("Patient/a\\b", None),
    ] {
        assert!(parse_reference(bad, &targets, fixed).is_err(), "{bad}");
    }
}

#[test]
fn uris_may_carry_a_canonical_version() {
    let u = parse_uri("http://acme.org/fhir/ValueSet/123").unwrap();
    assert_eq!(
        (u.uri.as_str(), u.version),
        ("http://acme.org/fhir/ValueSet/123", None)
    );
    let u = parse_uri("http://acme.org/sd|1.0").unwrap();
    assert_eq!(
        (u.uri.as_str(), u.version.as_deref()),
        ("http://acme.org/sd", Some("1.0"))
    );
    let u = parse_uri("urn:oid:1.2.3.4.5").unwrap();
    assert_eq!(u.uri, "urn:oid:1.2.3.4.5");
    assert_eq!(parse_uri("urn:a\\|b").unwrap().uri, "urn:a|b");
    for bad in ["a|b|c", "|1.0", "http://x|", "a\\b"] {
        assert!(parse_uri(bad).is_err(), "{bad}");
    }
}

#[test]
fn escapes_separate_literals_from_separators() {
    assert_eq!(split_escaped("a,b\\,c,d", ','), vec!["a", "b\\,c", "d"]);
    assert_eq!(split_escaped("a\\\\,b", ','), vec!["a\\\\", "b"]);
    assert_eq!(split_escaped("x$y\\$z", '$'), vec!["x", "y\\$z"]);
    assert_eq!(split_escaped("", ','), vec![""]);
    assert_eq!(split_escaped("日本,語", ','), vec!["日本", "語"]);
    for (raw, literal) in [
        ("a\\,b", "a,b"),
        ("a\\$b", "a$b"),
        ("a\\|b", "a|b"),
        ("a\\\\b", "a\\b"),
        ("plain", "plain"),
    ] {
        assert_eq!(unescape(raw).unwrap(), literal, "{raw}");
        assert_eq!(escape(literal), raw, "{literal}");
    }
    // The specification: `xx\xx` is illegal.
    for bad in ["xx\\xx", "end\\", "\\n"] {
        assert!(unescape(bad).is_err(), "{bad}");
    }
}
