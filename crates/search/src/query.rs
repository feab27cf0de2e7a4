//! The parsed form of a search request: what to match (filters, all of which must hold) and how
//! to return it (includes, sort, paging, summaries). Produced by [`crate::parse()`]; consumed by the
//! SQL generators of the store and by the in-memory evaluator of the property tests.

use crate::registry::SearchParam;
use crate::values::{
    DateRange, NumberValue, OfType, QuantityValue, Reference, Token, UriValue, escape,
};

/// Page size when the request gives no `_count`.
pub const DEFAULT_COUNT: u32 = 50;
/// The largest page; a larger `_count` is lowered to it (with a warning).
pub const MAX_COUNT: u32 = 1000;
/// How deeply chains and `_has` may nest (`a.b.c.d` is three levels below the search).
pub const MAX_CHAIN_DEPTH: usize = 4;
/// The most values one parameter may list with commas.
pub const MAX_OR_VALUES: usize = 1000;

/// A search request, parsed and checked against the R4 definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The searched type; `None` for a system-level search.
    pub resource_type: Option<String>,
    /// System-level search only: the types named by `_type`, sorted (empty: all types).
    pub types: Vec<String>,
    /// Criteria that must all hold (AND); each may list alternatives (OR).
    pub filters: Vec<Filter>,
    pub includes: Vec<Include>,
    pub revincludes: Vec<Include>,
    /// Sort keys in priority order (empty: the engine's order).
    pub sort: Vec<SortKey>,
    /// Page size, [`DEFAULT_COUNT`] unless given, at most [`MAX_COUNT`]. `0` means only the
    /// total is wanted, like `_summary=count`.
    pub count: u32,
    pub total: Option<Total>,
    pub summary: Option<Summary>,
    /// Top-level element names to return (`_elements`), in the order given.
    pub elements: Vec<String>,
    /// The opaque page cursor (`_page`) that the engine put in its own next/previous links.
    pub page: Option<String>,
}

/// One criterion. Parameter definitions are those of the type the criterion applies to; in a
/// system-level search over several `_type`s they are those of the first type, and the other
/// types have a parameter of the same code and kind (use [`crate::registry::param`] per type).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The parameter matches any of `values` (OR), read according to `modifier`.
    Param {
        param: &'static SearchParam,
        modifier: Modifier,
        values: Vec<Value>,
    },
    /// `:missing=true` (no value for the parameter) or `:missing=false` (some value).
    Missing {
        param: &'static SearchParam,
        missing: bool,
    },
    /// `param:target_type.…`: a resource of `target_type` that `param` refers to matches
    /// `filter`.
    Chain {
        param: &'static SearchParam,
        target_type: String,
        filter: Box<Filter>,
    },
    /// `_has:source_type:param:…`: some resource of `source_type` refers to this one through
    /// `param` (a reference parameter of `source_type`) and matches `filter`.
    Has {
        source_type: String,
        param: &'static SearchParam,
        filter: Box<Filter>,
    },
    /// Full-text search: `_text` (narrative) or `_content` (whole resource), any of `values`.
    Text {
        param: &'static SearchParam,
        values: Vec<String>,
    },
    /// `_list`: the resource is an item of one of these lists (ids, or one `$current-allergies`
    /// style functional list name). `meaning` is the equivalent criteria, all of which match:
    /// for ids, `_has:List:item:_id=…`; for a functional list, the criteria defining it
    /// (`clinical-status=active` …).
    List {
        values: Vec<String>,
        meaning: Vec<Filter>,
    },
}

/// How the values of a [`Filter::Param`] are matched. `:missing` is [`Filter::Missing`]; a
/// reference's `:[type]` is carried by its values ([`Reference::Local::resource_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    None,
    /// String: the whole value, case- and accent-sensitive.
    Exact,
    /// String: anywhere in the value, case- and accent-insensitive.
    Contains,
    /// Token: resources with no matching coding (including those with none at all).
    Not,
    /// Token: string search on the text/display ([`Value::String`] values).
    Text,
    /// Token on an identifier: [`Value::OfType`] values.
    OfType,
    /// Reference: the reference's `identifier` ([`Value::Token`] values).
    Identifier,
    /// URI: the value is the resource's URI or a prefix of it (by path segments).
    Above,
    /// URI: the resource's URI starts with the value.
    Below,
}

impl Modifier {
    /// The modifier as written after `:` (`None` for none).
    pub fn code(self) -> Option<&'static str> {
        Some(match self {
            Modifier::None => return None,
            Modifier::Exact => "exact",
            Modifier::Contains => "contains",
            Modifier::Not => "not",
            Modifier::Text => "text",
            Modifier::OfType => "of-type",
            Modifier::Identifier => "identifier",
            Modifier::Above => "above",
            Modifier::Below => "below",
        })
    }
}

/// One value of a criterion, typed by its parameter (and modifier).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// Strings, and tokens under `:text`.
    String(String),
    /// Tokens, and references under `:identifier`.
    Token(Token),
    OfType(OfType),
    Reference(Reference),
    Date(DateRange),
    Number(NumberValue),
    Quantity(QuantityValue),
    Uri(UriValue),
    /// The components of a composite value, in definition order.
    Composite(Vec<Value>),
    /// `near` (Location): a point and a distance.
    Near(crate::geo::NearValue),
}

/// An `_include` or `_revinclude`.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    /// The type the references come from; `None` for the bare wildcard `*`.
    pub source_type: Option<String>,
    /// The reference parameter of `source_type`; `None` for `*` (every reference parameter).
    pub param: Option<&'static SearchParam>,
    /// Only references to this type.
    pub target_type: Option<String>,
    /// `:iterate` (or its older name `:recurse`): apply to included resources too.
    pub iterate: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub param: &'static SearchParam,
    pub descending: bool,
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Total {
    None,
    Estimate,
    Accurate,
}

impl Total {
    pub fn code(self) -> &'static str {
        match self {
            Total::None => "none",
            Total::Estimate => "estimate",
            Total::Accurate => "accurate",
        }
    }
}

/// `_summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Summary {
    True,
    Text,
    Data,
    Count,
    False,
}

impl Summary {
    pub fn code(self) -> &'static str {
        match self {
            Summary::True => "true",
            Summary::Text => "text",
            Summary::Data => "data",
            Summary::Count => "count",
            Summary::False => "false",
        }
    }
}

impl Value {
    /// The value as written in a query (escaped, prefix `eq` omitted).
    pub fn render(&self) -> String {
        match self {
            Value::String(s) => escape(s),
            Value::Near(n) => n.text.clone(),
            Value::Token(t) => match (&t.system, &t.code) {
                (None, Some(c)) => escape(c),
                (None, None) => String::new(),
                (Some(s), c) => format!("{}|{}", escape(s), escape(c.as_deref().unwrap_or(""))),
            },
            Value::OfType(o) => format!(
                "{}|{}|{}",
                escape(&o.type_system),
                escape(&o.type_code),
                escape(&o.value)
            ),
            Value::Reference(Reference::Local {
                resource_type,
                id,
                version,
            }) => {
                let mut s = match resource_type {
                    Some(t) => format!("{t}/{id}"),
                    None => id.clone(),
                };
                if let Some(v) = version {
                    s = format!("{s}/_history/{v}");
                }
                escape(&s)
            }
            Value::Reference(Reference::Url { url, version }) => with_version(url, version),
            Value::Date(d) => format!("{}{}", d.prefix.render(), escape(&d.text)),
            Value::Number(n) => render_number(n),
            Value::Quantity(q) => {
                let number = render_number(&q.number);
                match (&q.system, &q.code) {
                    (None, None) => number,
                    (s, c) => format!(
                        "{number}|{}|{}",
                        escape(s.as_deref().unwrap_or("")),
                        escape(c.as_deref().unwrap_or(""))
                    ),
                }
            }
            Value::Uri(u) => with_version(&u.uri, &u.version),
            Value::Composite(parts) => parts
                .iter()
                .map(Value::render)
                .collect::<Vec<_>>()
                .join("$"),
        }
    }
}

fn render_number(n: &NumberValue) -> String {
    format!("{}{}", n.prefix.render(), n.value)
}

fn with_version(base: &str, version: &Option<String>) -> String {
    match version {
        Some(v) => format!("{}|{}", escape(base), escape(v)),
        None => escape(base),
    }
}

/// Sorted, without duplicates, joined by commas: the canonical form of an OR list.
fn or_list(mut items: Vec<String>) -> String {
    items.sort();
    items.dedup();
    items.join(",")
}

impl Filter {
    /// The parameter name and value in canonical form: a chain's target type always written
    /// (`subject:Patient.name`), `:Type` folded into reference values (`subject=Patient/1`),
    /// OR values sorted and without duplicates.
    pub fn canonical_pair(&self) -> (String, String) {
        match self {
            Filter::Param {
                param,
                modifier,
                values,
            } => {
                let name = match modifier.code() {
                    Some(m) => format!("{}:{m}", param.code),
                    None => param.code.clone(),
                };
                (name, or_list(values.iter().map(Value::render).collect()))
            }
            Filter::Missing { param, missing } => {
                (format!("{}:missing", param.code), missing.to_string())
            }
            Filter::Chain {
                param,
                target_type,
                filter,
            } => {
                let (inner, value) = filter.canonical_pair();
                (format!("{}:{target_type}.{inner}", param.code), value)
            }
            Filter::Has {
                source_type,
                param,
                filter,
            } => {
                let (inner, value) = filter.canonical_pair();
                (format!("_has:{source_type}:{}:{inner}", param.code), value)
            }
            Filter::Text { param, values } => (
                param.code.clone(),
                or_list(values.iter().map(|v| escape(v)).collect()),
            ),
            Filter::List { values, .. } => (
                "_list".into(),
                or_list(values.iter().map(|v| escape(v)).collect()),
            ),
        }
    }
}

impl Include {
    /// The value as written after `_include=` or `_revinclude=`.
    pub fn render(&self) -> String {
        let Some(source) = &self.source_type else {
            return "*".into();
        };
        let code = self.param.map_or("*", |p| p.code.as_str());
        match &self.target_type {
            Some(t) => format!("{source}:{code}:{t}"),
            None => format!("{source}:{code}"),
        }
    }
}

impl Query {
    /// An empty query on `resource_type` with the default page size.
    pub fn new(resource_type: Option<&str>) -> Query {
        Query {
            resource_type: resource_type.map(str::to_string),
            types: Vec::new(),
            filters: Vec::new(),
            includes: Vec::new(),
            revincludes: Vec::new(),
            sort: Vec::new(),
            count: DEFAULT_COUNT,
            total: None,
            summary: None,
            elements: Vec::new(),
            page: None,
        }
    }

    /// The query as a URL query string (without `?`) in a normalized order, for `self` links
    /// and cache keys: two requests that mean the same give the same string, and parsing it
    /// gives the same query back. Criteria come first, sorted; then `_type`, `_include`,
    /// `_revinclude` (sorted), `_sort`, `_count` (always), `_total`, `_summary`, `_elements`
    /// and `_page`. Percent-encoded, with `: / , $` left readable.
    pub fn canonical_string(&self) -> String {
        let mut criteria: Vec<(String, String)> =
            self.filters.iter().map(Filter::canonical_pair).collect();
        criteria.sort();
        criteria.dedup();
        let mut pairs = criteria;
        if !self.types.is_empty() {
            pairs.push(("_type".into(), or_list(self.types.clone())));
        }
        for (name, list) in [
            ("_include", &self.includes),
            ("_revinclude", &self.revincludes),
        ] {
            let mut rendered: Vec<(String, String)> = list
                .iter()
                .map(|i| {
                    let n = if i.iterate {
                        format!("{name}:iterate")
                    } else {
                        name.to_string()
                    };
                    (n, i.render())
                })
                .collect();
            rendered.sort();
            rendered.dedup();
            pairs.extend(rendered);
        }
        if !self.sort.is_empty() {
            let keys: Vec<String> = self
                .sort
                .iter()
                .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.param.code))
                .collect();
            pairs.push(("_sort".into(), keys.join(",")));
        }
        pairs.push(("_count".into(), self.count.to_string()));
        if let Some(t) = self.total {
            pairs.push(("_total".into(), t.code().into()));
        }
        if let Some(s) = self.summary {
            pairs.push(("_summary".into(), s.code().into()));
        }
        if !self.elements.is_empty() {
            pairs.push(("_elements".into(), or_list(self.elements.clone())));
        }
        if let Some(p) = &self.page {
            pairs.push(("_page".into(), p.clone()));
        }
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &pairs {
            out.append_pair(name, value);
        }
        // Decoding gives the same bytes whether these are escaped or not.
        out.finish()
            .replace("%3A", ":")
            .replace("%2F", "/")
            .replace("%2C", ",")
            .replace("%24", "$")
    }
}
