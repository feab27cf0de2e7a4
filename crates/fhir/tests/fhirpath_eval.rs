//! The FHIRPath evaluator: navigation and typing, operators, functions, resolve().

use kizuna_fhir::fhirpath::{self, Item};
use serde_json::{Value, json};

fn patient() -> Value {
    serde_json::from_str(
        r##"{
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"lastUpdated": "2024-01-02T03:04:05Z", "profile": ["http://example.org/p"]},
        "contained": [{"resourceType": "Organization", "id": "org1", "name": "Contained"}],
        "extension": [
            {"url": "http://example.org/race", "valueCoding": {"system": "urn:x", "code": "A"}},
            {"url": "http://example.org/weight", "valueDecimal": 1.50}
        ],
        "identifier": [
            {"system": "urn:mrn", "value": "123"},
            {"system": "urn:ssn", "value": "999-99"}
        ],
        "active": true,
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
            {"use": "usual", "given": ["Jim"], "_given": [{"extension": [{"url": "http://example.org/nick", "valueBoolean": true}]}]}
        ],
        "telecom": [
            {"system": "phone", "value": "(03) 5555 6473"},
            {"system": "email", "value": "p@example.org"}
        ],
        "gender": "male",
        "_birthDate": {"extension": [{"url": "http://example.org/unknown", "valueCode": "asked"}]},
        "deceasedBoolean": false,
        "multipleBirthInteger": 2,
        "contact": [{"name": {"family": "du Marché"}, "gender": "female"}],
        "generalPractitioner": [
            {"reference": "#org1"},
            {"reference": "Practitioner/pr1"},
            {"reference": "https://example.org/fhir/Organization/o2/_history/3"},
            {"reference": "urn:uuid:0b5e4e6a-1234-4d2b-9a6a-111111111111"},
            {"identifier": {"value": "logical"}}
        ],
        "managingOrganization": {"reference": "Organization/o1", "display": "Org"}
    }"##,
    )
    .unwrap()
}

/// Evaluates and renders each item: nodes as `type:json`, values as `Type:text`.
fn ev(expr: &str, resource: &Value) -> Vec<String> {
    let e = fhirpath::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let items = fhirpath::evaluate(&e, resource).unwrap_or_else(|e| panic!("{expr}: {e}"));
    items.iter().map(render).collect()
}

fn render(item: &Item) -> String {
    match item {
        Item::Node(n) => match n.value {
            Some(v) => format!("{}:{}", n.fhir_type, v),
            None => format!("{}:(no value)", n.fhir_type),
        },
        Item::Resolved(t) => format!("Resolved:{t}"),
        Item::Bool(b) => format!("Boolean:{b}"),
        Item::Str(s) => format!("String:{s}"),
        Item::Integer(i) => format!("Integer:{i}"),
        Item::Decimal(d) => format!("Decimal:{d}"),
        Item::Date(d) => format!("Date:{d}"),
        Item::DateTime(d) => format!("DateTime:{d}"),
        Item::Time(t) => format!("Time:{t}"),
        Item::Quantity { value, unit } => format!("Quantity:{value} '{unit}'"),
    }
}

fn one(expr: &str) -> String {
    let p = patient();
    let r = ev(expr, &p);
    assert_eq!(r.len(), 1, "{expr}: {r:?}");
    r[0].clone()
}

fn eval_err(expr: &str) -> String {
    let e = fhirpath::parse(expr).unwrap();
    fhirpath::evaluate(&e, &patient()).unwrap_err().message
}

#[test]
fn navigation_types_nodes_from_the_definitions() {
    let p = patient();
    assert_eq!(ev("Patient.gender", &p), ["code:\"male\""]);
    assert_eq!(ev("Patient.deceased", &p), ["boolean:false"]);
    assert_eq!(ev("Patient.multipleBirth", &p), ["integer:2"]);
    assert_eq!(ev("Patient.deceasedBoolean", &p), ["boolean:false"]);
    assert!(ev("Patient.deceasedDateTime", &p).is_empty());
    assert_eq!(ev("Patient.name.given", &p).len(), 3);
    assert_eq!(ev("Patient.name[1].given", &p), ["string:\"Jim\""]);
    assert_eq!(
        ev("Patient.contact.name.family", &p),
        ["string:\"du Marché\""]
    );
    assert!(ev("Patient.contact", &p)[0].starts_with("BackboneElement:"));
    assert!(ev("Patient.meta.lastUpdated", &p)[0].starts_with("instant:"));
    assert!(ev("Patient.extension.value", &p)[0].starts_with("Coding:"));
    assert_eq!(ev("Patient.extension.value[1]", &p), ["decimal:1.50"]);
    assert!(ev("Patient.contained", &p)[0].starts_with("Organization:"));
    assert_eq!(ev("Patient.contained.name", &p), ["string:\"Contained\""]);
    assert!(ev("Patient.nonsense | Observation.code", &p).is_empty());
    // The type name at the start of a path selects the resource (also its base types).
    assert_eq!(ev("Resource.id", &p), ["id:\"p1\""]);
    assert_eq!(ev("DomainResource.id", &p), ["id:\"p1\""]);
    assert_eq!(ev("id", &p), ["id:\"p1\""]);
    // A primitive with only extensions is a node without a value.
    assert_eq!(ev("Patient.birthDate", &p), ["date:(no value)"]);
    assert_eq!(one("Patient.birthDate.exists()"), "Boolean:true");
    assert_eq!(one("Patient.birthDate.hasValue()"), "Boolean:false");
    assert_eq!(
        ev(
            "Patient.birthDate.extension('http://example.org/unknown').value",
            &p
        ),
        ["code:\"asked\""]
    );
    assert_eq!(
        ev("Patient.name.given.extension.value", &p),
        ["boolean:true"],
        "_given aligned by index"
    );
    assert_eq!(
        one("Patient.extension('http://example.org/weight').value"),
        "decimal:1.50"
    );
}

#[test]
fn nodes_borrow_the_json_and_carry_paths() {
    let p = patient();
    let e = fhirpath::parse("Patient.telecom.where(system = 'email')").unwrap();
    let items = fhirpath::evaluate(&e, &p).unwrap();
    let n = items[0].as_node().unwrap();
    assert!(std::ptr::eq(n.value.unwrap(), &p["telecom"][1]));
    assert_eq!(n.path, "Patient.telecom");
    assert_eq!(n.fhir_type.name(), "ContactPoint");
    assert!(!n.fhir_type.is_primitive());
    let e = fhirpath::parse("Patient.birthDate").unwrap();
    let items = fhirpath::evaluate(&e, &p).unwrap();
    let n = items[0].as_node().unwrap();
    assert!(n.fhir_type.is_primitive());
    assert!(std::ptr::eq(n.extension.unwrap(), &p["_birthDate"]));
}

#[test]
fn choice_types_and_type_operators() {
    let obs: Value = serde_json::from_str(
        r#"{"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "effectiveDateTime": "2020-01-02", "valueQuantity": {"value": 72.50, "unit": "kg"},
        "component": [{"code": {"text": "a"}, "valueString": "s"},
                      {"code": {"text": "b"}, "valueQuantity": {"value": 1}}]}"#,
    )
    .unwrap();
    assert_eq!(
        ev("Observation.value.ofType(Quantity).value", &obs),
        ["decimal:72.50"]
    );
    assert_eq!(
        ev("(Observation.value as Quantity).unit", &obs),
        ["string:\"kg\""]
    );
    assert_eq!(
        ev("Observation.value.as(Quantity).unit", &obs),
        ["string:\"kg\""]
    );
    assert_eq!(
        ev("Observation.valueQuantity.unit", &obs),
        ["string:\"kg\""]
    );
    assert!(ev("Observation.value.ofType(string)", &obs).is_empty());
    assert_eq!(
        ev("Observation.component.value.ofType(string)", &obs),
        ["string:\"s\""]
    );
    // `as` on several items filters them (the R4 search parameters' usage); `is` is an error.
    assert_eq!(ev("Observation.component.value as Quantity", &obs).len(), 1);
    let e = fhirpath::parse("Observation.component.value is Quantity").unwrap();
    assert!(fhirpath::evaluate(&e, &obs).is_err());
    assert_eq!(ev("Observation.value is Quantity", &obs), ["Boolean:true"]);
    assert_eq!(
        ev("Observation.value is FHIR.Quantity", &obs),
        ["Boolean:true"]
    );
    assert_eq!(ev("Observation.value is Element", &obs), ["Boolean:true"]);
    assert_eq!(
        ev("Observation.value is System.Quantity", &obs),
        ["Boolean:false"]
    );
    assert_eq!(ev("Observation.effective.ofType(dateTime)", &obs).len(), 1);
    assert_eq!(ev("Observation.effective.ofType(DateTime)", &obs).len(), 1);
    assert_eq!(
        ev("Observation.effective is DateTime", &obs),
        ["Boolean:false"]
    );
    assert_eq!(ev("Observation.status is code", &obs), ["Boolean:true"]);
    assert_eq!(ev("Observation.status is string", &obs), ["Boolean:true"]);
    assert_eq!(ev("Observation.status.ofType(String)", &obs).len(), 1);
    assert_eq!(ev("'a' is String", &obs), ["Boolean:true"]);
    assert_eq!(ev("'a' is string", &obs), ["Boolean:false"]);
    assert_eq!(
        ev("1 is Integer and 1.0 is Decimal", &obs),
        ["Boolean:true"]
    );
    assert_eq!(ev("Observation is Resource", &obs), ["Boolean:true"]);
}

#[test]
fn resolve_yields_stubs_typed_by_the_reference() {
    let p = patient();
    let r = ev("Patient.generalPractitioner.resolve()", &p);
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(
        r[0].starts_with("Organization:{"),
        "#org1 is the contained resource"
    );
    assert_eq!(r[1], "Resolved:Practitioner");
    assert_eq!(r[2], "Resolved:Organization");
    let orgs = ev(
        "Patient.generalPractitioner.where(resolve() is Organization)",
        &p,
    );
    assert_eq!(orgs.len(), 2);
    assert_eq!(
        ev(
            "Patient.generalPractitioner.where(resolve() is Practitioner).reference",
            &p
        ),
        ["string:\"Practitioner/pr1\""]
    );
    assert_eq!(
        ev("Patient.generalPractitioner.resolve().name", &p),
        ["string:\"Contained\""]
    );
    assert_eq!(
        ev(
            "Patient.managingOrganization.resolve().ofType(Organization).count()",
            &p
        ),
        ["Integer:1"]
    );
    assert!(ev("Patient.managingOrganization.resolve() is Patient", &p) == ["Boolean:false"]);
    for bad in [
        "Foo/1",
        "Patient",
        "Patient/",
        "Patient/1/x",
        "a/Patient/1",
        "Patient/1#x",
        "ValueSet?url=x",
    ] {
        let r = json!({"resourceType": "Patient", "link": [{"type": "seealso", "other": {"reference": bad}}]});
        assert!(ev("Patient.link.other.resolve()", &r).is_empty(), "{bad}");
    }
}

#[test]
fn operators_and_precedence() {
    assert_eq!(one("1 + 2 * 3"), "Integer:7");
    assert_eq!(one("(1 + 2) * 3"), "Integer:9");
    assert_eq!(one("2 - 1 - 1"), "Integer:0");
    assert_eq!(one("-2.abs()"), "Integer:-2");
    assert_eq!(one("-(2).abs() + 5"), "Integer:3");
    assert_eq!(one("7 div 2 + 7 mod 2"), "Integer:4");
    assert_eq!(one("1 / 4"), "Decimal:0.25");
    assert_eq!(one("0.1 + 0.2 = 0.3"), "Boolean:true");
    assert_eq!(one("1.50 + 1"), "Decimal:2.50");
    assert_eq!(one("1.0 = 1"), "Boolean:true");
    assert_eq!(one("true or false and false"), "Boolean:true");
    assert_eq!(one("(true or false) and false"), "Boolean:false");
    assert_eq!(one("false implies {}"), "Boolean:true");
    assert_eq!(one("true xor true"), "Boolean:false");
    assert_eq!(one("{} or true"), "Boolean:true");
    assert!(ev("{} and true", &patient()).is_empty());
    assert!(ev("{} = 1", &patient()).is_empty());
    assert_eq!(one("1 | 2 = 1 | 2"), "Boolean:true");
    assert_eq!(one("1 + 1 is Integer"), "Boolean:true");
    assert_eq!(one("(1 | 2 | 2 | 1).count()"), "Integer:2");
    assert_eq!(one("2 in (1 | 2)"), "Boolean:true");
    assert_eq!(one("(1 | 2) contains 3"), "Boolean:false");
    assert_eq!(one("'a' & {} & 'b'"), "String:ab");
    assert_eq!(one("'a' + 'b'"), "String:ab");
    assert_eq!(one("'abc' < 'abd'"), "Boolean:true");
    assert_eq!(one("'Peter  Pan' ~ 'peter pan'"), "Boolean:true");
    assert_eq!(one("1.01 ~ 1.0"), "Boolean:true");
    assert_eq!(one("@2020-01-01 < @2020-02"), "Boolean:true");
    assert!(
        ev("@2020-01 = @2020-01-01", &patient()).is_empty(),
        "precision differs"
    );
    assert_eq!(
        one("@2020-01-01T10:00:00+01:00 = @2020-01-01T09:00:00Z"),
        "Boolean:true"
    );
    assert_eq!(one("@T10:00 < @T10:30"), "Boolean:true");
    assert_eq!(one("4 'mg' = 4.0 'mg'"), "Boolean:true");
    assert_eq!(one("4 'mg' * 2"), "Quantity:8 'mg'");
    assert_eq!(one("3 days"), "Quantity:3 'days'");
    assert_eq!(
        one("Patient.deceased.exists() and Patient.deceased != false"),
        "Boolean:false"
    );
    assert_eq!(one("Patient.name.given[0] = 'Peter'"), "Boolean:true");
    assert_eq!(
        one("Patient.identifier.value = '123' | '999-99'"),
        "Boolean:true"
    );
    assert_eq!(one("Patient.multipleBirth > 1"), "Boolean:true");
    assert_eq!(
        one("Patient.meta.lastUpdated > @2024-01-01T00:00:00Z"),
        "Boolean:true"
    );
    assert_eq!(
        one("9223372036854775807 + 0"),
        "Integer:9223372036854775807"
    );
    assert_eq!(one("-9223372036854775808"), "Integer:-9223372036854775808");
    assert!(eval_err("9223372036854775807 + 1").contains("overflow"));
    assert!(ev("1 / 0", &patient()).is_empty());
    assert!(eval_err("1 < 'a'").contains("compare"));
}

#[test]
fn functions() {
    let p = patient();
    assert_eq!(
        ev("Patient.telecom.where(system='phone').value", &p),
        ["string:\"(03) 5555 6473\""]
    );
    assert_eq!(
        one("Patient.name.select(given.first()).count()"),
        "Integer:2"
    );
    assert_eq!(one("Patient.name.given.last()"), "string:\"Jim\"");
    assert_eq!(one("Patient.name.given.tail().first()"), "string:\"James\"");
    assert_eq!(
        one("Patient.name.given.skip(1).take(1)"),
        "string:\"James\""
    );
    assert_eq!(one("Patient.name.given.count()"), "Integer:3");
    assert_eq!(one("Patient.name.exists(use = 'usual')"), "Boolean:true");
    assert_eq!(one("Patient.name.all(given.exists())"), "Boolean:true");
    assert_eq!(
        one("Patient.name.given.where($index = 1)"),
        "string:\"James\""
    );
    assert_eq!(
        one("Patient.name.where($this.use = 'usual').given"),
        "string:\"Jim\""
    );
    assert_eq!(
        one("Patient.identifier.system.distinct().count()"),
        "Integer:2"
    );
    assert_eq!(one("(1 | 2).combine(2).count()"), "Integer:3");
    assert_eq!(one("(1 | 2 | 3).intersect(2 | 3 | 4).count()"), "Integer:2");
    assert_eq!(one("(1 | 2 | 3).exclude(2).count()"), "Integer:2");
    assert_eq!(one("(1 | 2).subsetOf(1 | 2 | 3)"), "Boolean:true");
    assert_eq!(one("(1 | 2).isDistinct()"), "Boolean:true");
    assert_eq!(one("iif(Patient.active, 'yes', 'no')"), "String:yes");
    assert_eq!(one("iif({}, 'yes', 'no')"), "String:no");
    assert_eq!(one("Patient.active.not()"), "Boolean:false");
    assert_eq!(one("(true | false).anyTrue()"), "Boolean:true");
    assert_eq!(one("(1 | 2 | 3).aggregate($this + $total, 0)"), "Integer:6");
    assert_eq!(one("Patient.gender.getValue()"), "String:male");
    assert_eq!(one("Patient.gender.hasValue()"), "Boolean:true");
    assert_eq!(one("Patient.gender.toString().upper()"), "String:MALE");
    assert_eq!(one("Patient.name[0].family.lower()"), "String:chalmers");
    assert_eq!(one("Patient.name[0].family.substring(1, 3)"), "String:hal");
    assert_eq!(one("Patient.name[0].family.substring(3)"), "String:lmers");
    assert!(ev("'abc'.substring(5)", &p).is_empty());
    assert_eq!(
        one("Patient.name[0].family.startsWith('Cha')"),
        "Boolean:true"
    );
    assert_eq!(
        one("Patient.name[0].family.endsWith('ers')"),
        "Boolean:true"
    );
    assert_eq!(
        one("Patient.name[0].family.contains('alm')"),
        "Boolean:true"
    );
    assert_eq!(one("Patient.name[0].family.indexOf('m')"), "Integer:4");
    assert_eq!(one("Patient.name[0].family.length()"), "Integer:8");
    assert_eq!(
        one("Patient.name[0].family.replace('ers', 'ERS')"),
        "String:ChalmERS"
    );
    assert_eq!(
        one("Patient.name[0].family.matches('^Ch.*s$')"),
        "Boolean:true"
    );
    assert_eq!(
        one("Patient.name[0].family.replaceMatches('[aeiou]', '_')"),
        "String:Ch_lm_rs"
    );
    assert_eq!(one("'a,b,c'.split(',').count()"), "Integer:3");
    assert_eq!(
        one("Patient.name.given.join('+')"),
        "String:Peter+James+Jim"
    );
    assert_eq!(one("'  x '.trim()"), "String:x");
    assert_eq!(one("'日本語'.length()"), "Integer:3");
    assert_eq!(one("'12'.toInteger() + 1"), "Integer:13");
    assert_eq!(one("'1.5'.toDecimal()"), "Decimal:1.5");
    assert_eq!(one("'yes'.toBoolean()"), "Boolean:true");
    assert_eq!(one("'x'.convertsToInteger()"), "Boolean:false");
    assert_eq!(one("'2020-01-02'.toDate()"), "Date:2020-01-02");
    assert_eq!(one("'2020-13'.convertsToDate()"), "Boolean:false");
    assert_eq!(one("'10:00'.toTime()"), "Time:10:00");
    assert_eq!(one("1.5.round()"), "Decimal:2");
    assert_eq!(one("3.14159.round(2)"), "Decimal:3.14");
    assert_eq!(one("(-1.5).abs()"), "Decimal:1.5");
    assert_eq!(one("1.1.ceiling()"), "Integer:2");
    assert_eq!(one("(-1.1).floor()"), "Integer:-2");
    assert_eq!(one("2.9.truncate()"), "Integer:2");
    assert_eq!(one("Patient.name[0].children().count()"), "Integer:4");
    assert_eq!(one("Patient.contact.descendants().count()"), "Integer:3");
    assert_eq!(one("Patient.name.trace('names').count()"), "Integer:2");
    assert_eq!(one("%resource.id"), "id:\"p1\"");
    assert_eq!(one("%context.gender"), "code:\"male\"");
    assert_eq!(one("%ucum"), "String:http://unitsofmeasure.org");
    assert_eq!(
        one("%`vs-administrative-gender`"),
        "String:http://hl7.org/fhir/ValueSet/administrative-gender"
    );
    assert_eq!(
        one("Patient.identifier.first().repeat(system).count()"),
        "Integer:1"
    );
    assert!(eval_err("Patient.name.given.single()").contains("single"));
    assert_eq!(
        eval_err("Patient.name.given.upper()"),
        "upper() needs a single item, found 3"
    );
    assert_eq!(eval_err("Patient.active.upper()"), "upper() needs a string");
    assert_eq!(one("Patient.resourceType"), "String:Patient");
    assert_eq!(
        one("'\\q\\(x\\u00e9\\u'"),
        "String:q(xéu",
        "escapes as fhirpath.js"
    );
    assert!(eval_err("1.repeat($this + 1)").contains("too many"));
}

#[test]
fn duplicates_are_removed_by_value_in_small_and_large_collections() {
    let p = patient();
    for n in [3, 40] {
        let ones = format!("1{}.distinct().count()", ".combine(1.0)".repeat(n));
        assert_eq!(ev(&ones, &p), ["Integer:1"], "{n}");
        let mixed = format!("'a'{}.distinct()", ".combine('b').combine('a')".repeat(n));
        assert_eq!(ev(&mixed, &p), ["String:a", "String:b"], "{n}");
        let codings = format!(
            "Patient.extension.value.ofType(Coding){}.distinct().count()",
            ".combine(Patient.extension.value.ofType(Coding))".repeat(n)
        );
        assert_eq!(ev(&codings, &p), ["Integer:1"], "{n}");
    }
    // Primitives with only extensions are equal only to themselves.
    let r = json!({"resourceType": "Patient",
        "name": [{"given": [null, null], "_given": [{"id": "a"}, {"id": "a"}]}]});
    for n in [1, 20] {
        let many = format!(
            "Patient.name.given{}.distinct().count()",
            ".combine(Patient.name.given)".repeat(n)
        );
        assert_eq!(ev(&many, &r), ["Integer:2"], "{n}");
    }
}

#[test]
fn evaluate_on_gives_a_context() {
    let obs = json!({"resourceType": "MolecularSequence", "type": "dna", "coordinateSystem": 0,
        "referenceSeq": {"chromosome": {"text": "1"}},
        "variant": [{"start": 1, "end": 2}, {"start": 5, "end": 9}]});
    let base = fhirpath::parse("MolecularSequence.variant").unwrap();
    let items = fhirpath::evaluate(&base, &obs).unwrap();
    assert_eq!(items.len(), 2);
    let start = fhirpath::parse("start").unwrap();
    let chrom = fhirpath::parse("%resource.referenceSeq.chromosome").unwrap();
    let ctx = fhirpath::parse("%context.end").unwrap();
    let r = fhirpath::evaluate_on(&start, &obs, &items[1..]).unwrap();
    assert_eq!(render(&r[0]), "integer:5");
    let r = fhirpath::evaluate_on(&chrom, &obs, &items[1..]).unwrap();
    assert_eq!(render(&r[0]), "CodeableConcept:{\"text\":\"1\"}");
    let r = fhirpath::evaluate_on(&ctx, &obs, &items[..1]).unwrap();
    assert_eq!(render(&r[0]), "integer:2");
}

#[test]
fn exprs_are_shareable() {
    fn check<T: Send + Sync>() {}
    check::<fhirpath::Expr>();
    let e = fhirpath::parse("Patient.name").unwrap();
    assert_eq!(e.text(), "Patient.name");
}
