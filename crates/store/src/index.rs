//! Search index rows: the flat, typed form in which the values a resource gives its search
//! parameters ([`kizuna_search::extract::Entries`]) are stored, one row per value.
//!
//! Both backends keep the same index tables, holding rows of the current version
//! of live resources only (a new version replaces its resource's rows; a deletion removes them):
//!
//! `search_index (param, c1, c2, c3, lo, hi, res_key)`, by parameter type:
//!
//! | kind                      | c1              | c2                        | c3       | lo, hi      |
//! |---------------------------|-----------------|---------------------------|----------|-------------|
//! | token                     | code            | system (`''`: none)       |          |             |
//! | token `:text` (derived)   | normalized text | text as written           |          |             |
//! | identifier `:of-type`     | value           | type system               | type code|             |
//! | reference `:identifier`   | value           | system                    |          |             |
//! | string                    | normalized      | as written                |          |             |
//! | date                      |                 |                           |          | `[lo, hi)` µs |
//! | number                    | [`decimal_key`] |                           |          |             |
//! | number on a `Range`       | low key (`0`: none) | high key (`4`: none)  |          |             |
//! | quantity                  | code            | system                    | [`decimal_key`] |      |
//! | quantity (its unit)       | unit            | [`UNIT_MARK`]             | [`decimal_key`] |      |
//! | quantity (UCUM, canonical)| canonical unit  | [`CANONICAL_MARK`]        | [`decimal_key`] |      |
//! | reference (local)         | id              | type                      | version  |             |
//! | reference (URL)           | URL             | `''`                      | version  |             |
//! | reference (contained)     | id              | `#`                       |          |             |
//! | uri                       | the URI         |                           |          |             |
//! | `near` (Location.position)|                 |                           |          | lat, long µ° |
//!
//! `composite_index (param, a1, a2, b1, b2, b3, blo, bhi, c3, res_key)`: one row per combination;
//! component 0 in `a*`, component 1 in `b*` (laid out like the table above: code/id/normalized
//! in `b1`, system/type/exact in `b2`, a decimal key in `b3`, a date in `blo, bhi`), component 2
//! (a number) in `c3`.
//!
//! `resource_text (res_key, narrative, content)`: what `_text` and `_content` search
//! (`kizuna_search::text`), one row per resource that has any text.
//!
//! Unused text columns hold `''` and unused integers `0`, so that every lookup is an equality
//! on an index prefix. `param` is [`param_key`] of the resource type and parameter code (derived
//! rows append `:text`, `:of-type` or `:identifier` to the code). `_id` has no rows (searches
//! read `resource`), and a parameter that is the union of others (`combo-code` is `code |
//! component-code`) is searched through their rows ([`stored_keys`]). Text compares bytewise (SQLite's
//! BINARY, PostgreSQL's `"C"` collation), which [`decimal_key`] relies on.

use kizuna_search::Decimal;
use kizuna_search::extract::{
    ComponentValue, Entries, QuantityAmount, ReferenceValue, TokenValue, normalize_string,
};
use kizuna_search::registry::{self, SearchParam};
use kizuna_search::text::ResourceText;

/// The format of the index rows this build writes: raised whenever what is extracted or how
/// rows are laid out changes. A store whose rows are of an older format (recorded in
/// `index_format`) answers some searches incompletely until `kizuna reindex` has run; the
/// server says so when it starts. 1: UCUM canonical rows, no `_id` or union rows, Timing
/// bounds. 2: number ranges, Location positions.
pub const INDEX_FORMAT: i64 = 2;

/// The system of the extra row that lets a quantity's `unit` be searched like its code.
pub const UNIT_MARK: &str = "\u{1}unit";

/// The system of the extra row of a UCUM quantity in canonical units (its code is the
/// canonical unit, e.g. `g.m-3`), which a UCUM search value in any unit of that dimension
/// finds.
pub const CANONICAL_MARK: &str = "\u{1}ucum";

/// The key of a range's missing low bound: below every [`decimal_key`].
pub const NO_LOW: &str = "0";
/// The key of a range's missing high bound: above every [`decimal_key`].
pub const NO_HIGH: &str = "4";

/// One row of `search_index` (without its `res_key`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexRow {
    pub param: i32,
    pub c1: String,
    pub c2: String,
    pub c3: String,
    pub lo: i64,
    pub hi: i64,
}

/// One row of `composite_index` (without its `res_key`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompositeRow {
    pub param: i32,
    pub a1: String,
    pub a2: String,
    pub b1: String,
    pub b2: String,
    pub b3: String,
    pub blo: i64,
    pub bhi: i64,
    pub c3: String,
}

/// The index rows of one resource version, computed by the caller (outside the writer).
#[derive(Debug, Clone, Default)]
pub struct IndexRows {
    pub rows: Vec<IndexRow>,
    pub composites: Vec<CompositeRow>,
    /// The row of `resource_text` (`res_key, narrative, content`): what `_text` and
    /// `_content` search (boxed: a batch moves many of these).
    pub text: Box<ResourceText>,
}

/// The stable key of parameter `code` (or a derived `code:suffix`) of `rtype`: 31 bits of the
/// FNV-1a hash of `rtype.code`. The keys of every R4 parameter are distinct (tested).
pub fn param_key(rtype: &str, code: &str) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rtype.bytes().chain([b'.']).chain(code.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ((h ^ (h >> 32)) & 0x7fff_ffff) as i32
}

/// Whether parameter `p` of `rtype` has rows of its own. `_id` has none (searches read the
/// resource table), nor has a parameter that is the union of others (`combo-code` of
/// Observation is `code | component-code`; see [`stored_keys`]).
fn indexed(rtype: &str, p: &SearchParam) -> bool {
    p.code != "_id" && registry::union_of(rtype, &p.code).is_none()
}

/// The `param` keys under which the rows of parameter `code` of `rtype` are stored (of its
/// derived form `code:suffix` when `suffix` is not empty): its own key, or, for a parameter
/// that is the union of others, theirs.
pub fn stored_keys(rtype: &str, code: &str, suffix: &str) -> Vec<i32> {
    match registry::union_of(rtype, code) {
        Some(parts) => parts
            .iter()
            .flat_map(|p| stored_keys(rtype, &p.code, suffix))
            .collect(),
        None if suffix.is_empty() => vec![param_key(rtype, code)],
        None => vec![param_key(rtype, &format!("{code}:{suffix}"))],
    }
}

/// A text key that orders like the number: `a < b` exactly when `decimal_key(a) <
/// decimal_key(b)` bytewise, and equal numbers (`1.0`, `1.00`) give equal keys. Negative numbers
/// start with `1`, zero is `2`, positive numbers start with `3`; then the decimal exponent
/// (offset, four digits) and the significant digits (complemented for negatives, which end in
/// `~` so that a shorter digit string sorts after a longer one it begins).
pub fn decimal_key(d: &Decimal) -> String {
    let c = d.coefficient();
    if c == 0 {
        return "2".into();
    }
    let mut magnitude = c.unsigned_abs();
    let mut exponent = i64::from(d.exponent());
    while magnitude.is_multiple_of(10) {
        magnitude /= 10;
        exponent += 1;
    }
    let digits = magnitude.to_string();
    let adjusted = exponent + digits.len() as i64 - 1;
    if c > 0 {
        format!("3{:04}{digits}", 5000 + adjusted)
    } else {
        let complement: String = digits
            .bytes()
            .map(|b| char::from(b'9' - (b - b'0')))
            .collect();
        format!("1{:04}{complement}~", 5000 - adjusted)
    }
}

impl IndexRows {
    /// The text row to write, if the resource has any text.
    pub fn text(&self) -> Option<&ResourceText> {
        let t = &self.text;
        (!t.narrative.is_empty() || !t.content.is_empty()).then_some(t)
    }

    /// The rows of `entries`, extracted from a resource of type `rtype`.
    pub fn from_entries(rtype: &str, entries: &Entries) -> IndexRows {
        let mut out = IndexRows {
            text: Box::new(entries.text.clone()),
            ..IndexRows::default()
        };
        let key = |code: &str| param_key(rtype, code);
        for e in &entries.tokens {
            if !indexed(rtype, e.param) {
                continue;
            }
            token_rows(
                key(&e.param.code),
                &e.param.code,
                rtype,
                &e.value,
                &mut out.rows,
            );
        }
        for e in &entries.strings {
            if !indexed(rtype, e.param) {
                continue;
            }
            out.rows.push(IndexRow {
                param: key(&e.param.code),
                c1: e.value.normalized.clone(),
                c2: e.value.exact.clone(),
                ..IndexRow::default()
            });
        }
        for e in &entries.dates {
            if !indexed(rtype, e.param) {
                continue;
            }
            out.rows.push(IndexRow {
                param: key(&e.param.code),
                lo: e.value.start_micros,
                hi: e.value.end_micros,
                ..IndexRow::default()
            });
        }
        for e in &entries.numbers {
            if !indexed(rtype, e.param) {
                continue;
            }
            out.rows.push(IndexRow {
                param: key(&e.param.code),
                c1: decimal_key(&e.value),
                ..IndexRow::default()
            });
        }
        for e in &entries.positions {
            if !indexed(rtype, e.param) {
                continue;
            }
            out.rows.push(IndexRow {
                param: key(&e.param.code),
                lo: e.value.latitude,
                hi: e.value.longitude,
                ..IndexRow::default()
            });
        }
        for e in &entries.number_ranges {
            if !indexed(rtype, e.param) {
                continue;
            }
            out.rows.push(IndexRow {
                param: key(&e.param.code),
                c1: e.value.low.as_ref().map_or(NO_LOW.into(), decimal_key),
                c2: e.value.high.as_ref().map_or(NO_HIGH.into(), decimal_key),
                ..IndexRow::default()
            });
        }
        for e in &entries.quantities {
            if !indexed(rtype, e.param) {
                continue;
            }
            for (c1, c2, c3) in quantity_cells(&e.value) {
                out.rows.push(IndexRow {
                    param: key(&e.param.code),
                    c1,
                    c2,
                    c3,
                    ..IndexRow::default()
                });
            }
            if let Some(c) = e.value.canonical() {
                out.rows.push(IndexRow {
                    param: key(&e.param.code),
                    c1: c.unit,
                    c2: CANONICAL_MARK.into(),
                    c3: decimal_key(&c.value),
                    ..IndexRow::default()
                });
            }
        }
        for e in &entries.references {
            if !indexed(rtype, e.param) {
                continue;
            }
            let code = &e.param.code;
            if let ReferenceValue::Identifier { system, value } = &e.value {
                if let Some(value) = value {
                    out.rows.push(IndexRow {
                        param: key(&format!("{code}:identifier")),
                        c1: value.clone(),
                        c2: system.clone().unwrap_or_default(),
                        ..IndexRow::default()
                    });
                }
            } else if let Some((c1, c2, c3)) = reference_cells(&e.value) {
                out.rows.push(IndexRow {
                    param: key(code),
                    c1,
                    c2,
                    c3,
                    ..IndexRow::default()
                });
            }
        }
        for e in &entries.uris {
            if !indexed(rtype, e.param) {
                continue;
            }
            out.rows.push(IndexRow {
                param: key(&e.param.code),
                c1: e.value.clone(),
                ..IndexRow::default()
            });
        }
        for e in &entries.composites {
            if !indexed(rtype, e.param) {
                continue;
            }
            composite_rows(key(&e.param.code), &e.value, &mut out.composites);
        }
        // One row per distinct value (a quantity's unit row may repeat another value's row).
        out.rows.sort_by(|a, b| {
            (a.param, &a.c1, &a.c2, &a.c3, a.lo, a.hi)
                .cmp(&(b.param, &b.c1, &b.c2, &b.c3, b.lo, b.hi))
        });
        out.rows.dedup();
        out.composites.sort_by(|a, b| {
            (
                a.param, &a.a1, &a.a2, &a.b1, &a.b2, &a.b3, a.blo, a.bhi, &a.c3,
            )
                .cmp(&(
                    b.param, &b.a1, &b.a2, &b.b1, &b.b2, &b.b3, b.blo, b.bhi, &b.c3,
                ))
        });
        out.composites.dedup();
        out
    }
}

fn token_rows(param: i32, code: &str, rtype: &str, t: &TokenValue, out: &mut Vec<IndexRow>) {
    if t.code.is_some() || t.system.is_some() {
        let c = t.code.clone().unwrap_or_default();
        out.push(IndexRow {
            param,
            c1: c.clone(),
            c2: t.system.clone().unwrap_or_default(),
            ..IndexRow::default()
        });
        for (type_system, type_code) in &t.identifier_type {
            if let (Some(s), Some(tc)) = (type_system, type_code) {
                out.push(IndexRow {
                    param: param_key(rtype, &format!("{code}:of-type")),
                    c1: c.clone(),
                    c2: s.clone(),
                    c3: tc.clone(),
                    ..IndexRow::default()
                });
            }
        }
    }
    if let Some(text) = &t.text {
        out.push(IndexRow {
            param: param_key(rtype, &format!("{code}:text")),
            c1: normalize_string(text),
            c2: text.clone(),
            ..IndexRow::default()
        });
    }
}

/// `(code, system, decimal key)` rows of a quantity: its code, and its unit when that differs.
fn quantity_cells(q: &QuantityAmount) -> Vec<(String, String, String)> {
    let number = decimal_key(&q.value);
    let system = q.system.clone().unwrap_or_default();
    let mut out = vec![(q.code.clone().unwrap_or_default(), system, number.clone())];
    if let Some(unit) = &q.unit
        && q.code.as_ref() != Some(unit)
    {
        out.push((unit.clone(), UNIT_MARK.into(), number));
    }
    out
}

/// `(id or URL, type or '' or '#' for a contained resource, version)` of a reference.
fn reference_cells(r: &ReferenceValue) -> Option<(String, String, String)> {
    match r {
        ReferenceValue::Local {
            resource_type,
            id,
            version,
        } => Some((
            id.clone(),
            resource_type.clone(),
            version.clone().unwrap_or_default(),
        )),
        ReferenceValue::Url { url, version, .. } => Some((
            url.clone(),
            String::new(),
            version.clone().unwrap_or_default(),
        )),
        // Never matched by a search value, but it makes `:missing=false` true.
        ReferenceValue::Contained { id } => Some((id.clone(), "#".into(), String::new())),
        ReferenceValue::Identifier { .. } => None,
    }
}

/// The cells of one component value: `(text 1, text 2, decimal key, lo, hi)`.
fn component_cells(v: &ComponentValue) -> Vec<(String, String, String, i64, i64)> {
    match v {
        ComponentValue::Token(t) if t.code.is_some() || t.system.is_some() => vec![(
            t.code.clone().unwrap_or_default(),
            t.system.clone().unwrap_or_default(),
            String::new(),
            0,
            0,
        )],
        ComponentValue::Token(_) => Vec::new(),
        ComponentValue::String(s) => {
            vec![(s.normalized.clone(), s.exact.clone(), String::new(), 0, 0)]
        }
        ComponentValue::Date(d) => vec![(
            String::new(),
            String::new(),
            String::new(),
            d.start_micros,
            d.end_micros,
        )],
        ComponentValue::Number(n) => {
            vec![(String::new(), String::new(), decimal_key(n), 0, 0)]
        }
        ComponentValue::NumberRange(_) | ComponentValue::Position(_) => Vec::new(),
        ComponentValue::Quantity(q) => quantity_cells(q)
            .into_iter()
            .map(|(c, s, n)| (c, s, n, 0, 0))
            .collect(),
        ComponentValue::Reference(r) => reference_cells(r)
            .into_iter()
            .map(|(a, b, _)| (a, b, String::new(), 0, 0))
            .collect(),
        ComponentValue::Uri(u) => vec![(u.clone(), String::new(), String::new(), 0, 0)],
    }
}

fn composite_rows(param: i32, values: &[ComponentValue], out: &mut Vec<CompositeRow>) {
    let cells = |i: usize| values.get(i).map(component_cells);
    let Some(first) = cells(0) else { return };
    let second = cells(1).unwrap_or_else(|| vec![Default::default()]);
    let third = cells(2).unwrap_or_else(|| vec![Default::default()]);
    for a in &first {
        for b in &second {
            for c in &third {
                out.push(CompositeRow {
                    param,
                    a1: a.0.clone(),
                    a2: a.1.clone(),
                    b1: b.0.clone(),
                    b2: b.1.clone(),
                    b3: b.2.clone(),
                    blo: b.3,
                    bhi: b.4,
                    c3: c.2.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn decimal_keys_order_like_numbers() {
        let list = [
            "-1e30", "-12", "-1.23", "-1.2", "-1", "-0.5", "-0.05", "0", "0.0001", "0.05", "0.5",
            "1", "1.2", "1.23", "9", "12", "100", "1e30",
        ];
        for w in list.windows(2) {
            assert!(
                decimal_key(&d(w[0])) < decimal_key(&d(w[1])),
                "{} < {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(decimal_key(&d("1.0")), decimal_key(&d("1.00")));
        assert_eq!(decimal_key(&d("100")), decimal_key(&d("1e2")));
        assert_eq!(decimal_key(&d("-0.0")), decimal_key(&d("0")));
    }

    #[test]
    fn param_keys_are_distinct() {
        let mut seen: HashMap<i32, String> = HashMap::new();
        for rtype in kizuna_fhir::r4().resource_types() {
            for p in kizuna_search::registry::params_of(rtype) {
                for code in [
                    p.code.clone(),
                    format!("{}:text", p.code),
                    format!("{}:of-type", p.code),
                    format!("{}:identifier", p.code),
                ] {
                    let name = format!("{rtype}.{code}");
                    if let Some(other) = seen.insert(param_key(rtype, &code), name.clone()) {
                        panic!("{name} and {other} share a key");
                    }
                }
            }
        }
    }
}
