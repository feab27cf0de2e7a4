//! A brute-force, in-memory search evaluator: the oracle that the SQL search engines of the
//! store are property-tested against. It scans every resource and favours obviousness over
//! speed; what follows is the meaning of a [`Query`], which the SQL side implements exactly.
//!
//! Index values come from [`extract::extract`] (computed once per resource and call), except
//! `_id` and `_lastUpdated`, which come from [`Stored::id`] (a token without system) and
//! [`Stored::last_updated_micros`] (the date `[t, t+1)`). A resource's entries for a parameter
//! are those extraction gave under that code; in a system-level search each type reads the
//! parameter through [`registry::param`]`(type, code)`.
//!
//! - Scope: `query.resource_type`, else the `query.types`, else every type. Every filter must
//!   hold (AND); [`Filter::Param`] holds when ANY of its values matches ANY entry (OR).
//! - `:missing=true`: no entry at all for the parameter (of any shape: a text-only token, a
//!   contained reference count as entries); `:missing=false`: at least one.
//! - String: default, the entry's normalized form starts with
//!   [`extract::normalize_string`]`(value)`; `:exact`, the entry as written equals the value;
//!   `:contains`, the normalized entry contains the normalized value.
//! - Token `[system|]code` (entries without a code serve only `:text`): no system → any
//!   system; `|code` → the entry has no system; `system|code` → both equal; `system|` → that
//!   system, any code. Codes and systems compare case-sensitively. `:text` → the entry's text
//!   (display, `CodeableConcept.text`, `Identifier.type.text`), normalized, starts with the
//!   normalized value. `:not` → the resource matches when NO entry matches any value (so a
//!   resource without the parameter matches). `:of-type` → an identifier with a type coding
//!   of exactly that system and code, and that value. Booleans are the codes `true`/`false`.
//! - Reference `Type/id[/_history/v]` → a local reference with that id, that type (when given,
//!   or when the parameter has exactly one target type) and that version (when given). An
//!   absolute URL `url[|version]` → a reference by URL equal to it (and with that version, when
//!   given). Contained references (`#id`) never match. `:identifier` reads a token and matches
//!   `Reference.identifier` (system ↔ system, code ↔ value) by the token rules.
//! - Date: search `[sl, sh)`, entry `[rl, rh)` (open ends `i64::MIN`/`i64::MAX`).
//!   `eq`: `rl >= sl && rh <= sh`; `ne`: not `eq`; `gt`: `rh > sh`; `lt`: `rl < sl`;
//!   `ge`: `gt || eq`; `le`: `lt || eq`; `sa`: `rl >= sh`; `eb`: `rh <= sl`; `ap`: the entry
//!   overlaps `[sl - w, sh + w)` with `w = (sh - sl) / 10` (integer division, saturating),
//!   i.e. `rl < sh + w && rh > sl - w`.
//! - Number (exact decimals; search `value` with its precision range `[low, high)`):
//!   `eq`: `low <= v < high`; `ne`: not `eq`; `gt`/`sa`: `v > value`; `lt`/`eb`: `v < value`;
//!   `ge`: `v >= value`; `le`: `v <= value`; `ap`: `|v - value| <= |value| / 10`
//!   ([`Decimal::approx_bounds`], computed in the unit the value is written in, so that `ap37`
//!   Cel is 33.3–40.7 °C, whatever unit it is compared in). A `Range` entry `[l, h]` (missing
//!   bounds unbounded) generalizes a point `v = [v, v]`: `eq`: `low <= l && h < high`; `gt`:
//!   `h > value`; `lt`: `l < value`; `ge`: `h >= value`; `le`: `l <= value`; `sa`: `l > value`;
//!   `eb`: `h < value`; `ap`: `l <= high && h >= low` (the `ap` bounds).
//! - Quantity: the number rules on the entry's value, and the unit: `|system|code` → both
//!   equal; `||code` → the entry's code or its unit equals it; no code → any unit (of that
//!   system, when one is given). A UCUM search value whose code `ucum` understands
//!   (`5.4|http://unitsofmeasure.org|mg`) instead matches UCUM entries of the same dimension:
//!   both are converted to canonical units (the search value's number bound by bound, so
//!   `ap` is ±10% of the converted value) and compared there; `5.4 mg` matches `0.0054 g`.
//!   Quantities inside composites compare by their written unit only.
//! - URI: default, the entry equals the value (`uri|version`: equals that text); `:below`, the
//!   entry starts with the value's URI; `:above`, the value's URI starts with the entry (the
//!   version of a `uri|version` value is not used by `:below`/`:above`).
//! - `near` (Location): the position is within the distance of the point (great-circle
//!   distance, [`crate::geo::distance_km`], on micro-degrees).
//! - Composite: ONE composite entry whose every component matches its part, each by the
//!   default rules of its type.
//! - Chain `param:Type.criterion`: a local reference of `param` to `Type/id` (any version)
//!   where the resource `Type/id` is in the data set and matches the criterion.
//! - `_has:Type:param:criterion`: some resource of `Type` in the data set has a local reference
//!   of `param` to this resource's type and id (any version) and matches the criterion.
//! - `_list`: every criterion of its meaning matches (`_has:List:item:_id=…` for list ids;
//!   the defining criteria of a functional list such as `$current-allergies`).
//! - `_text` / `_content`: some value's every term ([`crate::text::terms`]) is in the
//!   resource's narrative / content text ([`crate::text::text_of`]).
//! - Sort: for each key, a resource's value is the MIN of its values for an ascending key and
//!   the MAX for a descending one: dates by start ascending, by end descending; strings by
//!   their normalized form; tokens by code (entries without a code ignored); numbers and
//!   quantities by value (a `Range` by its low bound ascending, its high bound descending, a
//!   missing one below or above every number); references by `Type/id` (local ones only); URIs as written. Texts
//!   compare by Unicode code point. `_id` sorts by id, `_lastUpdated` by time. A resource
//!   without a value sorts after those with one, in both directions. Keys compare in priority
//!   order; ties (and searches without sort) keep the order of the data set.
//! - Ignored: `_count`, `_page`, `_include`, `_revinclude`, `_summary`, `_elements`, `_total`.

use crate::decimal::Decimal;
use crate::extract::{
    self, ComponentValue, DateValue, Entries, Entry, QuantityAmount, ReferenceValue, StringValue,
    TokenValue, normalize_string,
};
use crate::query::{Filter, Modifier, Query, SortKey, Value};
use crate::registry::{self, ParamKind, SearchParam};
use crate::values::{
    DateRange, NumberValue, OfType, Prefix, QuantityValue, Reference, Token, UriValue,
};
use std::cell::OnceCell;
use std::cmp::Ordering;

#[cfg(test)]
mod tests;

/// One stored resource, in the order it was first created (its position is the tie-breaker of
/// every order).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub rtype: String,
    pub id: String,
    pub last_updated_micros: i64,
    /// The resource's JSON (with its `resourceType`).
    pub body: serde_json::Value,
}

/// Ids (as `(rtype, id)`) of the resources matching `query.filters` (and
/// `query.resource_type`/`query.types`), in result order (per `query.sort`, ties and no sort:
/// position in `resources`). Ignores `_count`/`_page`/`_include`/`_summary`. Only live
/// resources are given.
pub fn search(query: &Query, resources: &[Stored]) -> Vec<(String, String)> {
    let data = Data::new(resources);
    let in_scope = |r: &Stored| match &query.resource_type {
        Some(t) => r.rtype == *t,
        None => query.types.is_empty() || query.types.contains(&r.rtype),
    };
    let mut hits: Vec<usize> = (0..resources.len())
        .filter(|&i| {
            let r = &resources[i];
            in_scope(r)
                && query
                    .filters
                    .iter()
                    .all(|f| data.matches(f, r, data.index(i)))
        })
        .collect();
    if !query.sort.is_empty() {
        let keys: Vec<Vec<Option<SortValue>>> = hits
            .iter()
            .map(|&i| {
                query
                    .sort
                    .iter()
                    .map(|k| sort_value(data.index(i), &k.param.code, k.descending))
                    .collect()
            })
            .collect();
        let mut order: Vec<usize> = (0..hits.len()).collect();
        order.sort_by(|&a, &b| {
            compare_keys(&query.sort, &keys[a], &keys[b]).then(hits[a].cmp(&hits[b]))
        });
        hits = order.into_iter().map(|k| hits[k]).collect();
    }
    hits.into_iter()
        .map(|i| (resources[i].rtype.clone(), resources[i].id.clone()))
        .collect()
}

/// Whether one resource matches one filter (`resources` is the whole data set, for chains and
/// `_has`).
pub fn matches(filter: &Filter, resource: &Stored, resources: &[Stored]) -> bool {
    let data = Data::new(resources);
    data.matches(filter, resource, &index(resource))
}

/// The data set, with each resource's index values computed on first use.
struct Data<'a> {
    resources: &'a [Stored],
    indexes: Vec<OnceCell<Entries>>,
}

impl<'a> Data<'a> {
    fn new(resources: &'a [Stored]) -> Data<'a> {
        Data {
            resources,
            indexes: (0..resources.len()).map(|_| OnceCell::new()).collect(),
        }
    }

    fn index(&self, i: usize) -> &Entries {
        self.indexes[i].get_or_init(|| index(&self.resources[i]))
    }

    fn matches(&self, filter: &Filter, resource: &Stored, own: &Entries) -> bool {
        match filter {
            Filter::Param {
                param,
                modifier,
                values,
            } => {
                let def = registry::param(&resource.rtype, &param.code).unwrap_or(param);
                let hit = values.iter().any(|v| value_hits(def, *modifier, v, own));
                if *modifier == Modifier::Not {
                    !hit
                } else {
                    hit
                }
            }
            Filter::Missing { param, missing } => has_entry(own, &param.code) != *missing,
            Filter::Chain {
                param,
                target_type,
                filter,
            } => of(&own.references, &param.code).any(|r| match r {
                ReferenceValue::Local {
                    resource_type, id, ..
                } if resource_type == target_type => (0..self.resources.len()).any(|j| {
                    let t = &self.resources[j];
                    t.rtype == *resource_type
                        && t.id == *id
                        && self.matches(filter, t, self.index(j))
                }),
                _ => false,
            }),
            Filter::Has {
                source_type,
                param,
                filter,
            } => (0..self.resources.len()).any(|j| {
                let s = &self.resources[j];
                s.rtype == *source_type
                    && of(&self.index(j).references, &param.code).any(|r| {
                        matches!(r, ReferenceValue::Local { resource_type, id, .. }
                            if *resource_type == resource.rtype && *id == resource.id)
                    })
                    && self.matches(filter, s, self.index(j))
            }),
            Filter::List { meaning, .. } => meaning.iter().all(|f| self.matches(f, resource, own)),
            Filter::Text { param, values } => {
                let text = if param.code == "_text" {
                    &own.text.narrative
                } else {
                    &own.text.content
                };
                values.iter().any(|v| {
                    crate::text::terms(v).is_ok_and(|terms| crate::text::matches(text, &terms))
                })
            }
        }
    }
}

/// The index values of one resource: extraction, with `_id` and `_lastUpdated` taken from the
/// stored row instead of the body.
fn index(resource: &Stored) -> Entries {
    let mut entries = extract::extract(&resource.body);
    let stored = |p: &SearchParam| p.code == "_id" || p.code == "_lastUpdated";
    entries.tokens.retain(|e| !stored(e.param));
    entries.dates.retain(|e| !stored(e.param));
    if let Some(param) = registry::param(&resource.rtype, "_id") {
        entries.tokens.push(Entry {
            param,
            value: TokenValue {
                code: Some(resource.id.clone()),
                ..TokenValue::default()
            },
        });
    }
    if let Some(param) = registry::param(&resource.rtype, "_lastUpdated") {
        let t = resource.last_updated_micros;
        entries.dates.push(Entry {
            param,
            value: DateValue {
                start_micros: t,
                end_micros: t.saturating_add(1),
            },
        });
    }
    entries
}

/// The values of the entries of parameter `code`.
fn of<'e, T>(list: &'e [Entry<T>], code: &'e str) -> impl Iterator<Item = &'e T> + 'e {
    list.iter()
        .filter(move |e| e.param.code == code)
        .map(|e| &e.value)
}

/// Whether the resource has any entry for parameter `code`.
fn has_entry(e: &Entries, code: &str) -> bool {
    let has = |p: &SearchParam| p.code == code;
    e.tokens.iter().any(|x| has(x.param))
        || e.strings.iter().any(|x| has(x.param))
        || e.dates.iter().any(|x| has(x.param))
        || e.numbers.iter().any(|x| has(x.param))
        || e.number_ranges.iter().any(|x| has(x.param))
        || e.quantities.iter().any(|x| has(x.param))
        || e.references.iter().any(|x| has(x.param))
        || e.uris.iter().any(|x| has(x.param))
        || e.composites.iter().any(|x| has(x.param))
        || e.positions.iter().any(|x| has(x.param))
}

/// Whether one value of a criterion on `def` matches some entry of the resource (`:not` is
/// applied by the caller: here its values match like plain tokens).
fn value_hits(def: &SearchParam, modifier: Modifier, value: &Value, e: &Entries) -> bool {
    let code = def.code.as_str();
    match (def.kind, value) {
        (ParamKind::Token, Value::Token(t)) => {
            of(&e.tokens, code).any(|x| token_matches(t, x.system.as_deref(), x.code.as_deref()))
        }
        (ParamKind::Token, Value::String(s)) => {
            let wanted = normalize_string(s);
            of(&e.tokens, code).any(|x| {
                x.text
                    .as_deref()
                    .is_some_and(|text| normalize_string(text).starts_with(&wanted))
            })
        }
        (ParamKind::Token, Value::OfType(o)) => of(&e.tokens, code).any(|x| of_type_matches(o, x)),
        (ParamKind::String, Value::String(s)) => {
            of(&e.strings, code).any(|x| string_matches(modifier, s, x))
        }
        (ParamKind::Reference, Value::Reference(r)) => {
            of(&e.references, code).any(|x| reference_matches(r, x, &def.targets))
        }
        (ParamKind::Reference, Value::Token(t)) => of(&e.references, code).any(|x| match x {
            ReferenceValue::Identifier { system, value } => {
                token_matches(t, system.as_deref(), value.as_deref())
            }
            _ => false,
        }),
        (ParamKind::Date, Value::Date(d)) => of(&e.dates, code).any(|x| date_matches(d, x)),
        (ParamKind::Number, Value::Number(n)) => {
            of(&e.numbers, code).any(|x| number_matches(n, x))
                || of(&e.number_ranges, code).any(|r| {
                    range_matches(
                        n,
                        Bound::of(r.low, Bound::Below),
                        Bound::of(r.high, Bound::Above),
                    )
                })
        }
        (ParamKind::Quantity, Value::Quantity(q)) => {
            of(&e.quantities, code).any(|x| quantity_matches(q, x))
        }
        (ParamKind::Uri, Value::Uri(u)) => of(&e.uris, code).any(|x| uri_matches(modifier, u, x)),
        (ParamKind::Special, Value::Near(n)) => {
            of(&e.positions, code).any(|p| n.contains(p.latitude, p.longitude))
        }
        (ParamKind::Composite, Value::Composite(parts)) => {
            of(&e.composites, code).any(|x| composite_matches(def, parts, x))
        }
        _ => false,
    }
}

/// The token rules, for a token entry (`code`) or a reference's identifier (`value`).
fn token_matches(t: &Token, system: Option<&str>, code: Option<&str>) -> bool {
    let Some(code) = code else {
        return false;
    };
    let system_ok = match t.system.as_deref() {
        None => true,
        Some("") => system.is_none(),
        Some(s) => system == Some(s),
    };
    system_ok && t.code.as_deref().is_none_or(|c| c == code)
}

fn of_type_matches(o: &OfType, x: &TokenValue) -> bool {
    x.code.as_deref() == Some(o.value.as_str())
        && x.identifier_type.iter().any(|(s, c)| {
            s.as_deref() == Some(o.type_system.as_str())
                && c.as_deref() == Some(o.type_code.as_str())
        })
}

fn string_matches(modifier: Modifier, s: &str, x: &StringValue) -> bool {
    match modifier {
        Modifier::Exact => x.exact == s,
        Modifier::Contains => x.normalized.contains(&normalize_string(s)),
        _ => x.normalized.starts_with(&normalize_string(s)),
    }
}

/// `targets`: the types the parameter may refer to (one: a bare id has that type).
fn reference_matches(r: &Reference, x: &ReferenceValue, targets: &[String]) -> bool {
    match (r, x) {
        (
            Reference::Local {
                resource_type,
                id,
                version,
            },
            ReferenceValue::Local {
                resource_type: x_type,
                id: x_id,
                version: x_version,
            },
        ) => {
            let implied = match targets {
                [only] => Some(only),
                _ => None,
            };
            x_id == id
                && resource_type
                    .as_ref()
                    .or(implied)
                    .is_none_or(|t| t == x_type)
                && version
                    .as_ref()
                    .is_none_or(|v| x_version.as_ref() == Some(v))
        }
        (
            Reference::Url { url, version },
            ReferenceValue::Url {
                url: x_url,
                version: x_version,
                ..
            },
        ) => {
            x_url == url
                && version
                    .as_ref()
                    .is_none_or(|v| x_version.as_ref() == Some(v))
        }
        _ => false,
    }
}

fn date_matches(d: &DateRange, x: &DateValue) -> bool {
    let (sl, sh) = (d.start_micros, d.end_micros);
    let (rl, rh) = (x.start_micros, x.end_micros);
    let eq = rl >= sl && rh <= sh;
    let gt = rh > sh;
    let lt = rl < sl;
    match d.prefix {
        Prefix::Eq => eq,
        Prefix::Ne => !eq,
        Prefix::Gt => gt,
        Prefix::Lt => lt,
        Prefix::Ge => gt || eq,
        Prefix::Le => lt || eq,
        Prefix::Sa => rl >= sh,
        Prefix::Eb => rh <= sl,
        Prefix::Ap => {
            let w = sh.saturating_sub(sl) / 10;
            rl < sh.saturating_add(w) && rh > sl.saturating_sub(w)
        }
    }
}

fn number_matches(n: &NumberValue, v: &Decimal) -> bool {
    range_matches(n, Bound::At(*v), Bound::At(*v))
}

/// A bound of a number range: a missing low bound is below every number, a missing high bound
/// above every number (variant order is numeric order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Bound {
    Below,
    At(Decimal),
    Above,
}

impl Bound {
    fn of(d: Option<Decimal>, missing: Bound) -> Bound {
        d.map_or(missing, Bound::At)
    }
}

/// The number rules on an entry `[l, h]` (a point is `[v, v]`).
fn range_matches(n: &NumberValue, l: Bound, h: Bound) -> bool {
    let at = Bound::At;
    let eq = at(n.low) <= l && h < at(n.high);
    match n.prefix {
        Prefix::Eq => eq,
        Prefix::Ne => !eq,
        Prefix::Gt => h > at(n.value),
        Prefix::Sa => l > at(n.value),
        Prefix::Lt => l < at(n.value),
        Prefix::Eb => h < at(n.value),
        Prefix::Ge => h >= at(n.value),
        Prefix::Le => l <= at(n.value),
        Prefix::Ap => l <= at(n.high) && h >= at(n.low),
    }
}

fn quantity_matches(q: &QuantityValue, x: &QuantityAmount) -> bool {
    if let Some((unit, n)) = q.canonical() {
        return x
            .canonical()
            .is_some_and(|c| c.unit == unit && number_matches(&n, &c.value));
    }
    written_quantity_matches(q, x)
}

/// The rules on the written unit (composites use only these).
fn written_quantity_matches(q: &QuantityValue, x: &QuantityAmount) -> bool {
    let unit = match (&q.system, &q.code) {
        (Some(s), Some(c)) => x.system.as_ref() == Some(s) && x.code.as_ref() == Some(c),
        (None, Some(c)) => x.code.as_ref() == Some(c) || x.unit.as_ref() == Some(c),
        (system, None) => system.as_ref().is_none_or(|s| x.system.as_ref() == Some(s)),
    };
    unit && number_matches(&q.number, &x.value)
}

fn uri_matches(modifier: Modifier, u: &UriValue, x: &str) -> bool {
    match modifier {
        Modifier::Below => x.starts_with(u.uri.as_str()),
        Modifier::Above => u.uri.starts_with(x),
        _ => match &u.version {
            Some(v) => x == format!("{}|{v}", u.uri),
            None => x == u.uri,
        },
    }
}

fn composite_matches(def: &SearchParam, parts: &[Value], x: &[ComponentValue]) -> bool {
    parts.len() == x.len()
        && parts.iter().zip(x).enumerate().all(|(i, (part, value))| {
            let targets = def
                .components
                .get(i)
                .and_then(|c| registry::by_url(&c.url))
                .map_or(&[][..], |p| p.targets.as_slice());
            component_matches(part, value, targets)
        })
}

fn component_matches(part: &Value, x: &ComponentValue, targets: &[String]) -> bool {
    match (part, x) {
        (Value::Token(t), ComponentValue::Token(x)) => {
            token_matches(t, x.system.as_deref(), x.code.as_deref())
        }
        (Value::String(s), ComponentValue::String(x)) => string_matches(Modifier::None, s, x),
        (Value::Date(d), ComponentValue::Date(x)) => date_matches(d, x),
        (Value::Number(n), ComponentValue::Number(x)) => number_matches(n, x),
        (Value::Quantity(q), ComponentValue::Quantity(x)) => written_quantity_matches(q, x),
        (Value::Reference(r), ComponentValue::Reference(x)) => reference_matches(r, x, targets),
        (Value::Uri(u), ComponentValue::Uri(x)) => uri_matches(Modifier::None, u, x),
        _ => false,
    }
}

/// A resource's value for one sort key; one parameter gives values of one variant only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Micros(i64),
    Text(String),
    Number(Bound),
}

/// The MIN (ascending) or MAX (descending) of the resource's values for parameter `code`.
fn sort_value(e: &Entries, code: &str, descending: bool) -> Option<SortValue> {
    let mut values: Vec<SortValue> = Vec::new();
    values.extend(of(&e.dates, code).map(|d| {
        SortValue::Micros(if descending {
            d.end_micros
        } else {
            d.start_micros
        })
    }));
    values.extend(of(&e.strings, code).map(|s| SortValue::Text(s.normalized.clone())));
    values.extend(of(&e.tokens, code).filter_map(|t| t.code.clone().map(SortValue::Text)));
    values.extend(of(&e.numbers, code).map(|n| SortValue::Number(Bound::At(*n))));
    values.extend(of(&e.number_ranges, code).map(|r| {
        SortValue::Number(if descending {
            Bound::of(r.high, Bound::Above)
        } else {
            Bound::of(r.low, Bound::Below)
        })
    }));
    values.extend(of(&e.quantities, code).map(|q| SortValue::Number(Bound::At(q.value))));
    values.extend(of(&e.references, code).filter_map(|r| match r {
        ReferenceValue::Local {
            resource_type, id, ..
        } => Some(SortValue::Text(format!("{resource_type}/{id}"))),
        _ => None,
    }));
    values.extend(of(&e.uris, code).map(|u| SortValue::Text(u.clone())));
    if descending {
        values.into_iter().max()
    } else {
        values.into_iter().min()
    }
}

/// Compares two resources' sort values, key by key; a missing value comes last either way.
fn compare_keys(sort: &[SortKey], a: &[Option<SortValue>], b: &[Option<SortValue>]) -> Ordering {
    for ((key, x), y) in sort.iter().zip(a).zip(b) {
        let o = match (x, y) {
            (Some(x), Some(y)) if key.descending => y.cmp(x),
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}
