//! The FHIRPath parser: every R4 search parameter parses; errors say what and where; no input
//! makes the parser or the evaluator panic.

use kizuna_fhir::fhirpath;
use proptest::prelude::*;

#[test]
fn every_r4_search_parameter_expression_parses() {
    let mut n = 0;
    let mut without = Vec::new();
    for p in kizuna_fhir::r4().search_parameters() {
        match &p.expression {
            Some(e) => {
                fhirpath::parse(e).unwrap_or_else(|err| panic!("{}: {e}: {err}", p.url));
                n += 1;
            }
            None => without.push(p.url.rsplit('/').next().unwrap_or_default().to_string()),
        }
        for (url, c) in &p.components {
            fhirpath::parse(c).unwrap_or_else(|err| panic!("{url}: {c}: {err}"));
        }
    }
    assert_eq!(n, 1375);
    without.sort();
    assert_eq!(
        without,
        ["DomainResource-text", "Resource-content", "Resource-query"]
    );
}

fn err(text: &str) -> (usize, String) {
    let e = fhirpath::parse(text).expect_err(text);
    assert!(
        e.to_string()
            .contains(&format!("at character {}", e.column))
    );
    (e.column, e.message)
}

#[test]
fn errors_say_what_and_where() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "Patient.name.",
            14,
            "expected a name or a function, found the end of the expression",
        ),
        (
            "Patient..name",
            9,
            "expected a name or a function, found '.'",
        ),
        ("Patient.name.foo()", 14, "unknown function foo()"),
        (
            "Patient.name.where()",
            14,
            "where() takes 1 argument, found 0",
        ),
        (
            "substring(1, 2, 3)",
            1,
            "substring() takes 1 to 2 arguments, found 3",
        ),
        (
            "now() > @2020",
            1,
            "function now() is not supported: kizuna-fhir never reads the clock",
        ),
        (
            "Coding.memberOf('x')",
            8,
            "function memberOf() is not supported: it needs a terminology server",
        ),
        (
            "value.ofType(Nonexistent)",
            14,
            "unknown type 'Nonexistent'",
        ),
        ("value is Foo.Bar", 10, "unknown type namespace 'Foo'"),
        (
            "value.ofType(1)",
            14,
            "expected a type name, found the number 1",
        ),
        ("'unterminated", 1, "unterminated string"),
        ("`x", 1, "unterminated identifier"),
        (
            "1 +",
            4,
            "expected an expression, found the end of the expression",
        ),
        (
            "Patient.name[0",
            15,
            "expected ']', found the end of the expression",
        ),
        ("(1 + 2", 7, "expected ')', found the end of the expression"),
        ("%unknown", 1, "unknown environment variable %unknown"),
        ("$foo", 1, "unknown variable $foo"),
        ("a # b", 3, "unexpected character '#'"),
        ("'é' ^ 1", 5, "unexpected character '^'"),
        ("@20", 1, "expected a date (YYYY[-MM[-DD]]) after '@'"),
        ("@T1", 1, "expected a time (hh[:mm[:ss[.fff]]]) after '@T'"),
        (
            "name given",
            6,
            "expected an operator or the end of the expression, found 'given'",
        ),
        ("x.matches('(')", 3, "invalid regular expression"),
        ("/* open", 1, "unterminated comment"),
        ("{ 1 }", 3, "expected '}', found the number 1"),
    ];
    for (text, column, message) in cases {
        let (c, m) = err(text);
        assert!(m.starts_with(message), "{text}: {m}");
        assert_eq!(c, *column, "{text}: {m}");
    }
    // Column counts characters, offset bytes.
    let e = fhirpath::parse("'日本' ^").unwrap_err();
    assert_eq!((e.column, e.offset), (6, 9));
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(err(&deep).1.contains("nested too deeply"));
    let deep = format!("{}1", "-".repeat(5000));
    assert!(err(&deep).1.contains("nested too deeply"));
    for long in [
        vec!["1"; 100_000].join(" + "),
        format!("Patient{}", ".name".repeat(100_000)),
        format!("Patient{}", "[0]".repeat(100_000)),
        format!("Patient{}", ".first()".repeat(100_000)),
        format!("Patient{}", " is Patient".repeat(100_000)),
    ] {
        assert!(err(&long).1.contains("nested too deeply"));
    }
}

#[test]
fn the_deepest_accepted_expressions_evaluate_on_a_small_stack() {
    // Test threads have 2 MiB of stack; evaluating the highest trees the parser accepts must
    // fit in it even in a debug build (they need less than 1 MiB there, measured with
    // RUST_MIN_STACK).
    let r = resource();
    let texts = [
        vec!["1"; 120].join(" + "),
        format!("{}1{}", "(".repeat(100), ")".repeat(100)),
        format!("{}1", "-".repeat(100)),
        format!("Patient{}", ".name".repeat(120)),
        format!("Patient{}.count()", ".where(true)".repeat(120)),
        format!("{}true{}", "iif(true, ".repeat(40), ", false)".repeat(40)),
        vec!["Patient.name.given"; 120].join(" | "),
    ];
    for text in &texts {
        let expr = fhirpath::parse(text).unwrap_or_else(|e| panic!("{}: {e}", &text[..40]));
        let _ = fhirpath::evaluate(&expr, &r);
    }
}

fn resource() -> serde_json::Value {
    serde_json::json!({
        "resourceType": "Patient", "id": "x", "active": true,
        "name": [{"given": ["a", "b"], "family": "f"}],
        "_gender": {"extension": [{"url": "u", "valueString": "v"}]},
        "contained": [{"resourceType": "Basic", "id": "b", "code": {"text": "t"}}],
        "extension": [{"url": "u", "valueDecimal": 1.5}, {"url": "v", "valueInteger": 3}],
        "managingOrganization": {"reference": "#b"}
    })
}

/// Fragments from which random but plausible expressions are built.
const PIECES: &[&str] = &[
    "Patient",
    "name",
    "given",
    "family",
    "gender",
    "extension",
    "value",
    "contained",
    "id",
    "active",
    "code",
    "text",
    "url",
    ".",
    ".",
    ".",
    "(",
    ")",
    "[",
    "]",
    ",",
    "|",
    "+",
    "-",
    "*",
    "/",
    "&",
    "=",
    "!=",
    "~",
    "<",
    ">=",
    " and ",
    " or ",
    " xor ",
    " implies ",
    " div ",
    " mod ",
    " is ",
    " as ",
    " in ",
    " contains ",
    "where(",
    "select(",
    "repeat(",
    "exists(",
    "first()",
    "count()",
    "ofType(",
    "Quantity",
    "String",
    "iif(",
    "substring(",
    "replace(",
    "matches(",
    "children()",
    "descendants()",
    "aggregate(",
    "$this",
    "$index",
    "$total",
    "%resource",
    "%context",
    "resolve()",
    "extension(",
    "not()",
    "1",
    "0",
    "-1",
    "2.5",
    "'a'",
    "'u'",
    "true",
    "{}",
    "@2020",
    "@2020-01-02T10:00Z",
    "@T10:00",
    "4 'mg'",
    "3 days",
    "toString()",
    "upper()",
    "combine(",
    "union(",
    "distinct()",
    "skip(",
    "take(",
    "abs()",
    "round(",
    "9223372036854775807",
];

/// Random expressions of FHIRPath's grammar (always syntactically valid).
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("Patient".to_string()),
        Just("name".to_string()),
        Just("given".to_string()),
        Just("gender".to_string()),
        Just("extension".to_string()),
        Just("value".to_string()),
        Just("contained".to_string()),
        Just("managingOrganization".to_string()),
        Just("%resource".to_string()),
        Just("%context".to_string()),
        Just("$this".to_string()),
        Just("$index".to_string()),
        Just("$total".to_string()),
        Just("{}".to_string()),
        Just("@2020-01-02".to_string()),
        Just("@2020-01-02T10:00:00+09:00".to_string()),
        Just("@T10:00".to_string()),
        Just("4 'mg'".to_string()),
        Just("2 days".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        (any::<i32>(), 0u32..1000).prop_map(|(i, f)| format!("{i}.{f}")),
        "[a-zA-Z ]{0,5}".prop_map(|s| format!("'{s}'")),
    ];
    leaf.prop_recursive(5, 40, 3, |inner| {
        let op = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("div"),
            Just("mod"),
            Just("&"),
            Just("|"),
            Just("="),
            Just("!="),
            Just("~"),
            Just("!~"),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
            Just("and"),
            Just("or"),
            Just("xor"),
            Just("implies"),
            Just("in"),
            Just("contains"),
        ];
        let func0 = prop_oneof![
            Just("first()"),
            Just("last()"),
            Just("count()"),
            Just("exists()"),
            Just("empty()"),
            Just("not()"),
            Just("distinct()"),
            Just("children()"),
            Just("descendants()"),
            Just("resolve()"),
            Just("hasValue()"),
            Just("getValue()"),
            Just("toString()"),
            Just("toInteger()"),
            Just("toDecimal()"),
            Just("upper()"),
            Just("length()"),
            Just("abs()"),
            Just("round()"),
            Just("tail()"),
            Just("single()"),
            Just("allTrue()"),
            Just("toDate()"),
            Just("trim()"),
            Just("toChars()"),
            Just("floor()"),
        ];
        let func1 = prop_oneof![
            Just("where"),
            Just("select"),
            Just("exists"),
            Just("all"),
            Just("repeat"),
            Just("skip"),
            Just("take"),
            Just("union"),
            Just("combine"),
            Just("intersect"),
            Just("exclude"),
            Just("extension"),
            Just("startsWith"),
            Just("contains"),
            Just("substring"),
            Just("indexOf"),
            Just("matches"),
            Just("split"),
            Just("join"),
            Just("aggregate"),
            Just("trace"),
            Just("subsetOf"),
            Just("round"),
        ];
        let ty = prop_oneof![
            Just("Quantity"),
            Just("String"),
            Just("string"),
            Just("Patient"),
            Just("Integer"),
            Just("FHIR.Coding"),
            Just("System.Boolean"),
            Just("Resource"),
            Just("DateTime"),
        ];
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
            (inner.clone(), func0).prop_map(|(a, f)| format!("({a}).{f}")),
            (inner.clone(), func1, inner.clone()).prop_map(|(a, f, b)| format!("({a}).{f}({b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("iif({a}, {b}, {c})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("({a}).replace({b}, {c})")),
            (inner.clone(), ty.clone()).prop_map(|(a, t)| format!("({a}).ofType({t})")),
            (inner.clone(), ty.clone()).prop_map(|(a, t)| format!("({a}) is {t}")),
            (inner.clone(), ty).prop_map(|(a, t)| format!("({a}) as {t}")),
            (inner, "[a-z]{1,8}").prop_map(|(a, n)| format!("({a}).{n}")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parser_never_panics_on_any_text(text in "\\PC{0,60}") {
        let _ = fhirpath::parse(&text);
    }

    #[test]
    fn parser_never_panics_on_fhirpath_like_bytes(
        text in "[a-zA-Z0-9_.()\\[\\]{}'`%$@|&+*/<>=!~ ,:TZ\\\\-]{0,60}",
    ) {
        let _ = fhirpath::parse(&text);
    }

    #[test]
    fn evaluation_of_valid_expressions_never_panics(text in expression()) {
        let expr = fhirpath::parse(&text);
        prop_assert!(expr.is_ok(), "{text}: {:?}", expr.err());
        let r = resource();
        let expr = expr.unwrap();
        let _ = fhirpath::evaluate(&expr, &r);
        let items = fhirpath::evaluate(&fhirpath::parse("Patient.name | Patient.extension").unwrap(), &r).unwrap();
        let _ = fhirpath::evaluate_on(&expr, &r, &items);
    }

    #[test]
    fn evaluation_never_panics(picks in proptest::collection::vec(0..PIECES.len(), 1..14)) {
        let text: String = picks.iter().map(|&i| PIECES[i]).collect();
        if let Ok(expr) = fhirpath::parse(&text) {
            let r = resource();
            let _ = fhirpath::evaluate(&expr, &r);
            let _ = fhirpath::evaluate_on(&expr, &r, &[]);
        }
    }
}
