//! Index extraction: the values a resource gives every search parameter that applies to it,
//! typed per the specification's mapping of data types to parameter types
//! (<https://hl7.org/fhir/R4/search.html>).
//!
//! Each parameter's FHIRPath expression (and each composite component's) is parsed once, on
//! first use; [`extract`] evaluates them on a resource. Values that cannot be read (a malformed
//! date, a decimal beyond 34 digits, an expression that fails on odd data) are skipped, never
//! fatal: extraction never panics and never refuses a resource.
//!
//! What each parameter type takes:
//! - token: `code`/`string`/`id`/`uri` → code without system; `boolean` → `true`/`false`;
//!   `Coding` → system, code and display; `CodeableConcept` → each coding, and its `text` alone
//!   (for `:text`); `Identifier` → system and value, with `type.text` and the type's codings
//!   (for `:of-type`); `ContactPoint` → its value without system (the specification gives
//!   ContactPoint no token system: `ContactPoint.system` is a code like `phone`, not a URI).
//! - string: `string`/`markdown` → the text; `HumanName` → family, given, prefix, suffix, text;
//!   `Address` → line, city, district, state, postalCode, country, text. Each kept exactly and
//!   in the form [`normalize_string`] gives.
//! - date: `date`/`dateTime`/`instant` → the period they cover ([`values::parse_date_period`]);
//!   `Period` → `[start.start, end.end)`, open ends at `i64::MIN`/`i64::MAX`; `Timing` → each
//!   event.
//! - number: `integer`/`decimal` (and the other integer types) → an exact [`Decimal`];
//!   `Range` → its bounds ([`NumberRange`]).
//! - quantity: `Quantity` and its profiles (`Age`, `Duration`, `Count`, `Distance`,
//!   `SimpleQuantity`) → value, system, code, unit; `Money` → value with the currency as code
//!   in `urn:iso:std:iso:4217`. Units are kept as written ([`QuantityAmount::canonical`] gives
//!   the UCUM canonical form).
//! - reference: `Reference.reference` read as `Type/id`, `Type/id/_history/version`, an
//!   absolute URL (with the type and id of its last segments when they look like a FHIR
//!   REST URL), `#contained`, `urn:uuid:`/`urn:oid:`; `Reference.identifier` (for
//!   `:identifier`); `canonical`/`uri` values → URL with the `|version` split off.
//! - uri: `uri`/`url`/`canonical`/`oid`/`uuid` → the text as written.
//! - composite: for each item of the composite's expression, its components evaluated on that
//!   item, and every combination of their values (at most [`MAX_COMBINATIONS`] per item).
//!
//! A parameter gets each distinct value once. References written as conditional references
//! (`Patient?identifier=…`) give nothing: records rewrites them before a resource is indexed.
//! - special: `near` → `Location.position` in micro-degrees ([`Position`]); `_text` and
//!   `_content` → [`crate::text::text_of`]; `_query`: nothing.

use crate::decimal::Decimal;
use crate::registry::{self, ParamKind, SearchParam};
use crate::values;
use kizuna_fhir::fhirpath::{self, Expr, Item, Node};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The system of currency codes in `Money` quantities.
pub const CURRENCY_SYSTEM: &str = "urn:iso:std:iso:4217";

/// The most value combinations one item of a composite parameter produces (the rest are
/// dropped, so a pathological resource cannot blow up its index).
pub const MAX_COMBINATIONS: usize = 256;

/// One value a resource gives a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<T> {
    pub param: &'static SearchParam,
    pub value: T,
}

pub type TokenEntry = Entry<TokenValue>;
pub type StringEntry = Entry<StringValue>;
pub type DateEntry = Entry<DateValue>;
pub type NumberEntry = Entry<Decimal>;
pub type NumberRangeEntry = Entry<NumberRange>;
pub type QuantityEntry = Entry<QuantityAmount>;
pub type PositionEntry = Entry<Position>;
pub type ReferenceEntry = Entry<ReferenceValue>;
pub type UriEntry = Entry<String>;
pub type CompositeEntry = Entry<Vec<ComponentValue>>;

/// Everything a resource contributes to the search indexes, by parameter type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entries {
    pub tokens: Vec<TokenEntry>,
    pub strings: Vec<StringEntry>,
    pub dates: Vec<DateEntry>,
    pub numbers: Vec<NumberEntry>,
    /// Number parameters on a `Range` (`RiskAssessment.probability`): its bounds.
    pub number_ranges: Vec<NumberRangeEntry>,
    pub quantities: Vec<QuantityEntry>,
    pub references: Vec<ReferenceEntry>,
    pub uris: Vec<UriEntry>,
    pub composites: Vec<CompositeEntry>,
    /// `near` (Location.position).
    pub positions: Vec<PositionEntry>,
    /// What `_text` and `_content` search.
    pub text: crate::text::ResourceText,
}

impl Entries {
    /// The number of entries of every type.
    pub fn len(&self) -> usize {
        self.tokens.len()
            + self.strings.len()
            + self.dates.len()
            + self.numbers.len()
            + self.number_ranges.len()
            + self.quantities.len()
            + self.references.len()
            + self.uris.len()
            + self.composites.len()
            + self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A token: a code in a system, or only a text (a CodeableConcept's `text`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TokenValue {
    pub system: Option<String>,
    pub code: Option<String>,
    /// What `:text` searches: `Coding.display`, `CodeableConcept.text`, `Identifier.type.text`.
    pub text: Option<String>,
    /// For an Identifier, the codings of its `type` (system, code), for `:of-type`.
    pub identifier_type: Vec<(Option<String>, Option<String>)>,
}

/// A string, as written and normalized for the default (starts-with) match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StringValue {
    pub exact: String,
    /// [`normalize_string`] of `exact`.
    pub normalized: String,
}

impl StringValue {
    pub fn new(exact: &str) -> StringValue {
        StringValue {
            exact: exact.to_string(),
            normalized: normalize_string(exact),
        }
    }
}

/// The time a date value covers, `[start, end)` in microseconds since the Unix epoch; an
/// open end is `i64::MIN` (start) or `i64::MAX` (end). Ascending `_sort` orders by the
/// start, descending by the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateValue {
    pub start_micros: i64,
    pub end_micros: i64,
}

impl From<values::Period> for DateValue {
    fn from(p: values::Period) -> DateValue {
        DateValue {
            start_micros: p.start_micros,
            end_micros: p.end_micros,
        }
    }
}

/// A quantity as written (no unit conversion).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuantityAmount {
    pub value: Decimal,
    pub system: Option<String>,
    pub code: Option<String>,
    pub unit: Option<String>,
}

impl QuantityAmount {
    /// The quantity in canonical UCUM units, when its system is UCUM and [`crate::ucum`]
    /// understands its code.
    pub fn canonical(&self) -> Option<crate::ucum::Canonical> {
        if self.system.as_deref() != Some(crate::values::UCUM) {
            return None;
        }
        let code = self.code.as_deref()?;
        // A few units recur across millions of resources: each is read once per thread.
        thread_local! {
            static SEEN: std::cell::RefCell<HashMap<String, Option<crate::ucum::Conversion>>> =
                std::cell::RefCell::new(HashMap::new());
        }
        let conv = SEEN.with(|seen| {
            let mut seen = seen.borrow_mut();
            if let Some(c) = seen.get(code) {
                return c.clone();
            }
            if seen.len() >= 4096 {
                seen.clear();
            }
            let c = crate::ucum::conversion(code);
            seen.insert(code.to_string(), c.clone());
            c
        })?;
        Some(crate::ucum::Canonical {
            value: conv.apply(&self.value)?,
            unit: conv.unit().to_string(),
        })
    }
}

/// What a reference points to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReferenceValue {
    /// `Type/id` or `Type/id/_history/version`, relative to this server.
    Local {
        resource_type: String,
        id: String,
        version: Option<String>,
    },
    /// An absolute URL (`http://…`, `urn:uuid:…`) or a canonical URL with its `|version` split
    /// off. When the URL ends like a FHIR REST URL (`…/Patient/1`, `…/Patient/1/_history/2`),
    /// its type and id are kept too.
    Url {
        url: String,
        version: Option<String>,
        resource_type: Option<String>,
        id: Option<String>,
    },
    /// `#id`: a contained resource.
    Contained { id: String },
    /// `Reference.identifier`, for `:identifier`.
    Identifier {
        system: Option<String>,
        value: Option<String>,
    },
}

/// A position on the Earth (`Location.position`), in micro-degrees ([`crate::geo`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    pub latitude: i64,
    pub longitude: i64,
}

/// A `Range` a number parameter searches: its `low` and `high` values (a missing bound is
/// unbounded; at least one is present). Units play no part, as in every number search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberRange {
    pub low: Option<Decimal>,
    pub high: Option<Decimal>,
}

/// One component's value in a composite entry, typed by the component's parameter type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ComponentValue {
    Token(TokenValue),
    String(StringValue),
    Date(DateValue),
    Number(Decimal),
    /// Only outside composites (no R4 composite has a `Range` component).
    NumberRange(NumberRange),
    /// Only outside composites (`near`).
    Position(Position),
    Quantity(QuantityAmount),
    Reference(ReferenceValue),
    Uri(String),
}

/// The form strings are compared in for the default string search (starts-with, ignoring case
/// and accents): compatibility forms folded (NFKC: full-width `ＡＢ` → `ab`, half-width `ｱ` →
/// `ア`), lower case, diacritics removed (NFKD, combining marks dropped, recomposed), and
/// katakana folded to hiragana, so that `カナ` and `かな` match (Japanese names are searched in
/// either script). The kana voicing marks (dakuten, handakuten) are kept: `ガ` is `が`, never
/// `か`. The query side normalizes search values with this same function.
pub fn normalize_string(s: &str) -> String {
    s.to_lowercase()
        .nfkd()
        .filter(|&c| !is_combining_mark(c) || c == '\u{3099}' || c == '\u{309A}')
        .nfc()
        .map(|c| match c {
            // ァ..ヶ → ぁ..ゖ; ヽ ヾ → ゝ ゞ
            '\u{30A1}'..='\u{30F6}' | '\u{30FD}' | '\u{30FE}' => {
                char::from_u32(c as u32 - 0x60).unwrap_or(c)
            }
            _ => c,
        })
        // Lower case again: NFKD can reveal upper-case letters (`Ⅻ` → `XII`).
        .flat_map(char::to_lowercase)
        .collect()
}

/// A parameter's expressions for one resource type, parsed once.
struct Compiled {
    param: &'static SearchParam,
    expr: Expr,
    components: Vec<Option<Expr>>,
}

/// resource type → its parameters' expressions, narrowed to the type: a shared definition such
/// as `code` (30 resource types in one union) evaluates only its member for this type.
static PLANS: LazyLock<HashMap<&'static str, Vec<Compiled>>> = LazyLock::new(|| {
    kizuna_fhir::r4()
        .resource_types()
        .iter()
        .map(|t| {
            let list = registry::params_of(t)
                .into_iter()
                .filter(|p| p.kind != ParamKind::Special || p.code == "near")
                .filter_map(|param| {
                    let text = registry::expression_for(param, t)?;
                    Some(Compiled {
                        param,
                        expr: fhirpath::parse(&text).ok()?,
                        components: param
                            .components
                            .iter()
                            .map(|c| fhirpath::parse(&c.expression).ok())
                            .collect(),
                    })
                })
                .collect();
            (t.as_str(), list)
        })
        .collect()
});

/// Everything `resource` contributes to the parameters of its `resourceType` (the common
/// ones included). An unknown or missing type contributes nothing.
pub fn extract(resource: &Value) -> Entries {
    let mut out = Entries::default();
    let Some(rtype) = resource.get("resourceType").and_then(Value::as_str) else {
        return out;
    };
    let Some(plan) = PLANS.get(rtype) else {
        return out;
    };
    out.text = crate::text::text_of(resource);
    for c in plan {
        let param = c.param;
        let Ok(items) = fhirpath::evaluate(&c.expr, resource) else {
            continue;
        };
        match param.kind {
            ParamKind::Composite => composites(param, c, resource, &items, &mut out.composites),
            kind => {
                // A value given twice (the same given name in two names) is indexed once.
                let mut seen = HashSet::new();
                for item in &items {
                    push_values(kind, item, &mut |v| {
                        if seen.insert(v.clone()) {
                            out.push(param, v)
                        }
                    });
                }
            }
        }
    }
    out
}

impl Entries {
    fn push(&mut self, param: &'static SearchParam, value: ComponentValue) {
        match value {
            ComponentValue::Token(value) => self.tokens.push(Entry { param, value }),
            ComponentValue::String(value) => self.strings.push(Entry { param, value }),
            ComponentValue::Date(value) => self.dates.push(Entry { param, value }),
            ComponentValue::Number(value) => self.numbers.push(Entry { param, value }),
            ComponentValue::NumberRange(value) => self.number_ranges.push(Entry { param, value }),
            ComponentValue::Position(value) => self.positions.push(Entry { param, value }),
            ComponentValue::Quantity(value) => self.quantities.push(Entry { param, value }),
            ComponentValue::Reference(value) => self.references.push(Entry { param, value }),
            ComponentValue::Uri(value) => self.uris.push(Entry { param, value }),
        }
    }
}

fn composites(
    param: &'static SearchParam,
    c: &Compiled,
    resource: &Value,
    items: &[Item<'_>],
    out: &mut Vec<CompositeEntry>,
) {
    if c.components.is_empty() || c.components.iter().any(Option::is_none) {
        return;
    }
    let mut seen = HashSet::new();
    for item in items {
        let context = std::slice::from_ref(item);
        let mut lists: Vec<Vec<ComponentValue>> = Vec::with_capacity(c.components.len());
        for (component, expr) in param.components.iter().zip(&c.components) {
            let Some(expr) = expr else { return };
            let Ok(values) = fhirpath::evaluate_on(expr, resource, context) else {
                lists.clear();
                break;
            };
            let mut list = Vec::new();
            for v in &values {
                push_values(component.kind, v, &mut |x| list.push(x));
            }
            if list.is_empty() {
                lists.clear();
                break;
            }
            lists.push(list);
        }
        if lists.len() != c.components.len() {
            continue;
        }
        // Every combination, the first component varying slowest.
        let mut combos: Vec<Vec<ComponentValue>> = vec![Vec::new()];
        for list in &lists {
            let mut next = Vec::new();
            'outer: for combo in &combos {
                for v in list {
                    if next.len() == MAX_COMBINATIONS {
                        break 'outer;
                    }
                    let mut c = combo.clone();
                    c.push(v.clone());
                    next.push(c);
                }
            }
            combos = next;
        }
        for value in combos {
            if seen.insert(value.clone()) {
                out.push(Entry { param, value });
            }
        }
    }
}

/// The values `item` gives a parameter of type `kind`.
fn push_values(kind: ParamKind, item: &Item<'_>, push: &mut dyn FnMut(ComponentValue)) {
    match item {
        Item::Node(n) => match kind {
            ParamKind::Token => node_tokens(n, &mut |t| push(ComponentValue::Token(t))),
            ParamKind::String => node_strings(n, &mut |s| push(ComponentValue::String(s))),
            ParamKind::Date => node_dates(n, &mut |d| push(ComponentValue::Date(d))),
            ParamKind::Number => {
                if let Some(d) = n.value.and_then(decimal_of) {
                    push(ComponentValue::Number(d));
                } else if let Some(r) = number_range(n) {
                    push(ComponentValue::NumberRange(r));
                }
            }
            ParamKind::Quantity => {
                if let Some(q) = node_quantity(n) {
                    push(ComponentValue::Quantity(q));
                }
            }
            ParamKind::Reference => node_references(n, &mut |r| push(ComponentValue::Reference(r))),
            ParamKind::Uri => {
                if let Some(s) = n.value.and_then(Value::as_str) {
                    push(ComponentValue::Uri(s.to_string()));
                }
            }
            // `near`: Location.position.
            ParamKind::Special => {
                if let Some(p) = n.value.and_then(position) {
                    push(ComponentValue::Position(p));
                }
            }
            ParamKind::Composite => {}
        },
        // Values computed by the expression itself (rare in search parameters).
        Item::Str(s) => match kind {
            ParamKind::Token => push(ComponentValue::Token(code_token(s))),
            ParamKind::String => push(ComponentValue::String(StringValue::new(s))),
            ParamKind::Uri => push(ComponentValue::Uri(s.clone())),
            ParamKind::Reference => {
                if let Some(r) = reference_of(s) {
                    push(ComponentValue::Reference(r));
                }
            }
            _ => {}
        },
        Item::Bool(b) if kind == ParamKind::Token => {
            push(ComponentValue::Token(code_token(if *b {
                "true"
            } else {
                "false"
            })))
        }
        Item::Integer(i) if kind == ParamKind::Number => {
            if let Ok(d) = Decimal::parse(&i.to_string()) {
                push(ComponentValue::Number(d));
            }
        }
        Item::Decimal(s) if kind == ParamKind::Number => {
            if let Ok(d) = Decimal::parse(s) {
                push(ComponentValue::Number(d));
            }
        }
        Item::Date(s) | Item::DateTime(s) if kind == ParamKind::Date => {
            if let Ok(p) = values::parse_date_period(s) {
                push(ComponentValue::Date(p.into()));
            }
        }
        _ => {}
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

fn code_token(code: &str) -> TokenValue {
    TokenValue {
        code: Some(code.to_string()),
        ..TokenValue::default()
    }
}

fn coding_token(c: &Value) -> Option<TokenValue> {
    let t = TokenValue {
        system: owned(str_at(c, "system")),
        code: owned(str_at(c, "code")),
        text: owned(str_at(c, "display")),
        identifier_type: Vec::new(),
    };
    (t.system.is_some() || t.code.is_some() || t.text.is_some()).then_some(t)
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
}

fn node_tokens(n: &Node<'_>, push: &mut dyn FnMut(TokenValue)) {
    let Some(v) = n.value else { return };
    match n.fhir_type.name() {
        "Coding" => {
            if let Some(t) = coding_token(v) {
                push(t);
            }
        }
        "CodeableConcept" => {
            for c in array(v, "coding") {
                if let Some(t) = coding_token(c) {
                    push(t);
                }
            }
            if let Some(text) = str_at(v, "text") {
                push(TokenValue {
                    text: Some(text.to_string()),
                    ..TokenValue::default()
                });
            }
        }
        "Identifier" => {
            let kind = v.get("type");
            let t = TokenValue {
                system: owned(str_at(v, "system")),
                code: owned(str_at(v, "value")),
                text: kind.and_then(|k| str_at(k, "text")).map(str::to_string),
                identifier_type: kind
                    .map(|k| {
                        array(k, "coding")
                            .map(|c| (owned(str_at(c, "system")), owned(str_at(c, "code"))))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            if t.system.is_some() || t.code.is_some() {
                push(t);
            }
        }
        "ContactPoint" => {
            if let Some(value) = str_at(v, "value") {
                push(code_token(value));
            }
        }
        _ => match v {
            Value::String(s) => push(code_token(s)),
            Value::Bool(b) => push(code_token(if *b { "true" } else { "false" })),
            Value::Number(x) if n.fhir_type.is_primitive() => push(code_token(&x.to_string())),
            _ => {}
        },
    }
}

const NAME_PARTS: [&str; 5] = ["family", "given", "prefix", "suffix", "text"];
const ADDRESS_PARTS: [&str; 7] = [
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
    "text",
];

fn node_strings(n: &Node<'_>, push: &mut dyn FnMut(StringValue)) {
    let Some(v) = n.value else { return };
    let parts: &[&str] = match n.fhir_type.name() {
        "HumanName" => &NAME_PARTS,
        "Address" => &ADDRESS_PARTS,
        _ => {
            if let Some(s) = v.as_str() {
                push(StringValue::new(s));
            }
            return;
        }
    };
    for key in parts {
        match v.get(*key) {
            Some(Value::String(s)) => push(StringValue::new(s)),
            Some(Value::Array(list)) => {
                for s in list.iter().filter_map(Value::as_str) {
                    push(StringValue::new(s));
                }
            }
            _ => {}
        }
    }
}

fn date_of(v: &Value) -> Option<DateValue> {
    values::parse_date_period(v.as_str()?).ok().map(Into::into)
}

fn node_dates(n: &Node<'_>, push: &mut dyn FnMut(DateValue)) {
    let Some(v) = n.value else { return };
    match n.fhir_type.name() {
        "Period" => period(v, push),
        "Timing" => {
            // Each event, and the bounds of a repeating schedule.
            for e in array(v, "event") {
                if let Some(d) = date_of(e) {
                    push(d);
                }
            }
            if let Some(bounds) = v.get("repeat").and_then(|r| r.get("boundsPeriod")) {
                period(bounds, push);
            }
        }
        _ => {
            if let Some(d) = date_of(v) {
                push(d);
            }
        }
    }
}

/// A Period from its start to its end (an open end is unbounded); nothing if a bound is not a
/// date or neither is given.
fn period(v: &Value, push: &mut dyn FnMut(DateValue)) {
    let start = v.get("start").map(date_of);
    let end = v.get("end").map(date_of);
    match (start, end) {
        (None, None) | (Some(None), _) | (_, Some(None)) => {}
        (start, end) => push(DateValue {
            start_micros: start.flatten().map_or(i64::MIN, |d| d.start_micros),
            end_micros: end.flatten().map_or(i64::MAX, |d| d.end_micros),
        }),
    }
}

fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => Decimal::parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// `latitude` and `longitude` of a `Location.position`, when both are valid coordinates.
fn position(v: &Value) -> Option<Position> {
    Some(Position {
        latitude: crate::geo::micro_degrees(&decimal_of(v.get("latitude")?)?, 90)?,
        longitude: crate::geo::micro_degrees(&decimal_of(v.get("longitude")?)?, 180)?,
    })
}

/// The bounds of a `Range` node (`low.value`, `high.value`), if it has either.
fn number_range(n: &Node<'_>) -> Option<NumberRange> {
    if n.fhir_type.name() != "Range" {
        return None;
    }
    let v = n.value?;
    let bound = |key: &str| v.get(key).and_then(|q| q.get("value")).and_then(decimal_of);
    let (low, high) = (bound("low"), bound("high"));
    (low.is_some() || high.is_some()).then_some(NumberRange { low, high })
}

fn node_quantity(n: &Node<'_>) -> Option<QuantityAmount> {
    let v = n.value?;
    let value = decimal_of(v.get("value")?)?;
    if n.fhir_type.name() == "Money" {
        return Some(QuantityAmount {
            value,
            system: str_at(v, "currency").map(|_| CURRENCY_SYSTEM.to_string()),
            code: owned(str_at(v, "currency")),
            unit: None,
        });
    }
    if !n.fhir_type.is_a("Quantity") {
        return None;
    }
    Some(QuantityAmount {
        value,
        system: owned(str_at(v, "system")),
        code: owned(str_at(v, "code")),
        unit: owned(str_at(v, "unit")),
    })
}

fn node_references(n: &Node<'_>, push: &mut dyn FnMut(ReferenceValue)) {
    let Some(v) = n.value else { return };
    if n.fhir_type.name() == "Reference" {
        if let Some(r) = str_at(v, "reference").and_then(reference_of) {
            push(r);
        }
        if let Some(i) = v.get("identifier") {
            let (system, value) = (owned(str_at(i, "system")), owned(str_at(i, "value")));
            if system.is_some() || value.is_some() {
                push(ReferenceValue::Identifier { system, value });
            }
        }
    } else if let Some(s) = v.as_str()
        && let Some(r) = reference_of(s)
    {
        push(r);
    }
}

/// `Type/id[/_history/v]` at the end of `segments`, if it looks like one.
fn type_and_id(segments: &[&str]) -> Option<(String, String, Option<String>)> {
    let (t, id, version) = match segments {
        [.., t, id, "_history", v] => (*t, *id, Some(*v)),
        [.., t, id] => (*t, *id, None),
        _ => return None,
    };
    let ok = kizuna_fhir::r4().is_resource_type(t)
        && values::is_valid_id(id)
        && version.is_none_or(values::is_valid_id);
    ok.then(|| (t.to_string(), id.to_string(), version.map(str::to_string)))
}

fn reference_of(text: &str) -> Option<ReferenceValue> {
    if text.is_empty() {
        return None;
    }
    if let Some(id) = text.strip_prefix('#') {
        return Some(ReferenceValue::Contained { id: id.to_string() });
    }
    let scheme = text.split_once(':').is_some_and(|(s, _)| {
        let mut b = s.bytes();
        b.next().is_some_and(|c| c.is_ascii_alphabetic())
            && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    });
    if scheme {
        let (url, version) = match text.split_once('|') {
            Some((u, v)) => (u, Some(v.to_string())),
            None => (text, None),
        };
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let segments: Vec<&str> = path.split('/').collect();
        let (resource_type, id) = match type_and_id(&segments) {
            Some((t, i, _)) if url.starts_with("http") => (Some(t), Some(i)),
            _ => (None, None),
        };
        return Some(ReferenceValue::Url {
            url: url.to_string(),
            version,
            resource_type,
            id,
        });
    }
    let segments: Vec<&str> = text.split('/').collect();
    if !matches!(segments.len(), 2 | 4) {
        return None;
    }
    let (resource_type, id, version) = type_and_id(&segments)?;
    Some(ReferenceValue::Local {
        resource_type,
        id,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read() {
        assert_eq!(
            reference_of("Patient/1/_history/2"),
            Some(ReferenceValue::Local {
                resource_type: "Patient".into(),
                id: "1".into(),
                version: Some("2".into())
            })
        );
        assert_eq!(reference_of("Patient/1/x"), None);
        assert_eq!(reference_of("Nope/1"), None);
        assert_eq!(
            reference_of("#c1"),
            Some(ReferenceValue::Contained { id: "c1".into() })
        );
        assert_eq!(
            reference_of("http://ex.org/fhir/Patient/7"),
            Some(ReferenceValue::Url {
                url: "http://ex.org/fhir/Patient/7".into(),
                version: None,
                resource_type: Some("Patient".into()),
                id: Some("7".into())
            })
        );
        assert_eq!(
            reference_of("http://ex.org/ValueSet/vs|2.0"),
            Some(ReferenceValue::Url {
                url: "http://ex.org/ValueSet/vs".into(),
                version: Some("2.0".into()),
                resource_type: Some("ValueSet".into()),
                id: Some("vs".into())
            })
        );
        assert!(matches!(
            reference_of("urn:uuid:0f9b"),
            Some(ReferenceValue::Url {
                resource_type: None,
                ..
            })
        ));
    }

    #[test]
    fn every_expression_parses() {
        for t in kizuna_fhir::r4().resource_types() {
            let compiled = &PLANS[t.as_str()];
            for p in registry::params_of(t) {
                if (p.kind == ParamKind::Special && p.code != "near") || p.expression.is_none() {
                    continue;
                }
                let Some(c) = compiled.iter().find(|c| c.param.url == p.url) else {
                    // Only a definition none of whose members is for this type is left out.
                    assert!(registry::expression_for(p, t).is_none(), "{t} {}", p.url);
                    continue;
                };
                assert!(c.components.iter().all(Option::is_some), "{}", p.url);
            }
        }
    }
}
