//! From query pairs to a [`Query`]: resolving parameter names (modifiers, chains, `_has`)
//! against the R4 definitions, reading values with [`crate::values`], and the result
//! parameters. Every problem is collected, none stops the others from being found.

use crate::query::{Filter, MAX_CHAIN_DEPTH, MAX_OR_VALUES, Modifier, Query, Summary, Value};
use crate::registry::{ParamKind, SearchParam, by_url, common_param, param};
use crate::values::{
    is_valid_id, parse_date, parse_number, parse_of_type, parse_quantity, parse_reference,
    parse_token, parse_uri, split_escaped, unescape,
};
use kizuna_fhir::{Issue, IssueCode, r4};
use std::collections::HashSet;

mod results;

/// What to do with unknown or unsupported parameters (`Prefer: handling=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handling {
    /// Ignore them, with a warning saying which and why (the default).
    #[default]
    Lenient,
    /// Refuse the search.
    Strict,
}

impl Handling {
    /// `lenient` or `strict`, as in `Prefer: handling=strict`.
    pub fn from_code(code: &str) -> Option<Handling> {
        match code {
            "lenient" => Some(Handling::Lenient),
            "strict" => Some(Handling::Strict),
            _ => None,
        }
    }
}

/// Parses the decoded query pairs of a search on `resource_type` (`None`: system-level search).
///
/// Returns the query and the warnings (ignored parameters, a lowered `_count` …), or every
/// issue found if at least one is an error. Issues name the offending parameter as written in
/// their `expression`. Empty values are ignored, as the specification says.
pub fn parse(
    resource_type: Option<&str>,
    pairs: &[(String, String)],
    handling: Handling,
) -> Result<(Query, Vec<Issue>), Vec<Issue>> {
    let mut p = Parser {
        handling,
        issues: Vec::new(),
        seen: HashSet::new(),
    };
    if let Some(t) = resource_type
        && !r4().is_resource_type(t)
    {
        return Err(vec![Issue::error(
            IssueCode::NotSupported,
            None,
            format!("'{t}' is not a FHIR R4 resource type"),
        )]);
    }
    let mut query = Query::new(resource_type);
    let pairs: Vec<&(String, String)> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    for (name, value) in &pairs {
        if name.split(':').next() == Some("_type") {
            p.parse_types(&mut query, name, value);
        }
    }
    let types = query.types.clone();
    let scope = match (resource_type, types.as_slice()) {
        (Some(t), _) => Scope::Type(t),
        (None, []) => Scope::All,
        (None, [t]) => Scope::Type(t),
        (None, ts) => Scope::Types(ts),
    };
    for (name, value) in &pairs {
        let (base, modifier) = match name.split_once(':') {
            Some((b, m)) => (b, Some(m)),
            None => (name.as_str(), None),
        };
        match base {
            "_type" => {}
            "_format" | "_pretty" => {}
            "_include" | "_revinclude" => {
                let iterate = match modifier {
                    None => false,
                    Some("iterate" | "recurse") => true,
                    Some(m) => {
                        p.error(IssueCode::Invalid, name, format!(
                            "':{m}' is not a modifier of {base} (only :iterate, or its older name :recurse)"
                        ));
                        continue;
                    }
                };
                if let Some(i) = p.parse_include(&scope, name, value, iterate, base == "_include") {
                    match base {
                        "_include" => query.includes.push(i),
                        _ => query.revincludes.push(i),
                    }
                }
            }
            "_count" | "_total" | "_summary" | "_sort" | "_elements" | "_contained"
            | "_containedType" | "_page" => {
                if let Some(m) = modifier {
                    p.error(
                        IssueCode::Invalid,
                        name,
                        format!("{base} takes no modifier (':{m}')"),
                    );
                } else if !p.seen.insert(base.to_string()) {
                    p.error(
                        IssueCode::Invalid,
                        name,
                        format!("{base} may be given only once"),
                    );
                } else {
                    p.parse_result_param(&mut query, &scope, base, value);
                }
            }
            "_query" => p.error(
                IssueCode::NotSupported,
                name,
                "this server defines no named queries; a search with _query cannot be processed",
            ),
            "_filter" => p.ignorable(
                name,
                "the _filter expression language is not supported (use the standard parameters)",
            ),
            _ => match p.criterion(&scope, name, value, 0) {
                Ok(f) => query.filters.push(f),
                Err(problem) => p.report(name, problem),
            },
        }
    }
    if query.summary == Some(Summary::Text)
        && !(query.includes.is_empty() && query.revincludes.is_empty())
    {
        p.error(
            IssueCode::Invalid,
            "_summary",
            "_include and _revinclude cannot be combined with _summary=text",
        );
    }
    if p.issues.iter().any(Issue::is_error) {
        Err(p.issues)
    } else {
        Ok((query, p.issues))
    }
}

/// [`parse`] for a raw query string (`name=peter&birthdate=ge2000`, with or without `?`),
/// percent-decoded as `application/x-www-form-urlencoded`.
pub fn parse_query_string(
    resource_type: Option<&str>,
    query: &str,
    handling: Handling,
) -> Result<(Query, Vec<Issue>), Vec<Issue>> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    parse(resource_type, &pairs, handling)
}

/// The resource types a criterion is read against.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    Type(&'a str),
    /// System-level search over several `_type`s.
    Types(&'a [String]),
    /// System-level search over every type.
    All,
}

/// Why a criterion cannot be used.
enum Problem {
    /// Unknown or unsupported: ignored when lenient, refused when strict.
    Ignorable(String),
    /// Wrong: always refused.
    Errors(Vec<(IssueCode, String)>),
}

fn invalid(message: impl Into<String>) -> Problem {
    Problem::Errors(vec![(IssueCode::Invalid, message.into())])
}

struct Parser {
    handling: Handling,
    issues: Vec<Issue>,
    /// Result parameters already given (each may appear once).
    seen: HashSet<String>,
}

impl Parser {
    fn error(&mut self, code: IssueCode, name: &str, message: impl Into<String>) {
        self.issues
            .push(Issue::error(code, Some(name.to_string()), message));
    }

    fn warning(&mut self, code: IssueCode, name: &str, message: impl Into<String>) {
        self.issues
            .push(Issue::warning(code, Some(name.to_string()), message));
    }

    /// An unknown or unsupported parameter (or part of one).
    fn ignorable(&mut self, name: &str, why: &str) {
        match self.handling {
            Handling::Lenient => self.warning(
                IssueCode::NotSupported,
                name,
                format!("parameter '{name}' was ignored: {why}"),
            ),
            Handling::Strict => self.error(
                IssueCode::NotSupported,
                name,
                format!("parameter '{name}' cannot be used: {why}"),
            ),
        }
    }

    fn report(&mut self, name: &str, problem: Problem) {
        match problem {
            Problem::Ignorable(why) => self.ignorable(name, &why),
            Problem::Errors(list) => {
                for (code, message) in list {
                    self.error(code, name, format!("parameter '{name}': {message}"));
                }
            }
        }
    }

    fn parse_types(&mut self, query: &mut Query, name: &str, value: &str) {
        if name != "_type" {
            self.error(IssueCode::Invalid, name, "_type takes no modifier");
            return;
        }
        if let Some(t) = &query.resource_type {
            let why = format!("_type applies to system-level search, and this search is on {t}");
            self.ignorable(name, &why);
            return;
        }
        if !query.types.is_empty() {
            self.error(IssueCode::Invalid, name, "_type may be given only once");
            return;
        }
        let mut types = Vec::new();
        for t in split_escaped(value, ',') {
            if r4().is_resource_type(t) {
                types.push(t.to_string());
            } else {
                self.error(
                    IssueCode::Value,
                    name,
                    format!("'{t}' is not a FHIR R4 resource type"),
                );
            }
        }
        types.sort();
        types.dedup();
        query.types = types;
    }

    /// The definitions of `code` for every type of `scope` (the first one is the one used).
    fn resolve(scope: &Scope, code: &str) -> Result<Vec<&'static SearchParam>, Problem> {
        match scope {
            Scope::Type(t) => param(t, code)
                .map(|p| vec![p])
                .ok_or_else(|| Problem::Ignorable(format!("{t} has no search parameter '{code}'"))),
            Scope::All => common_param(code).map(|p| vec![p]).ok_or_else(|| {
                Problem::Ignorable(format!(
                    "'{code}' is not a parameter of every resource type (name the types with _type)"
                ))
            }),
            Scope::Types(ts) => {
                let mut found = Vec::new();
                for t in ts.iter() {
                    match param(t, code) {
                        Some(p) => found.push(p),
                        None => {
                            return Err(Problem::Ignorable(format!(
                                "{t} has no search parameter '{code}', so it is not common to the _type list"
                            )));
                        }
                    }
                }
                if found.iter().any(|p| p.kind != found[0].kind) {
                    return Err(invalid(format!(
                        "'{code}' has different types among {} (search them separately)",
                        ts.join(", ")
                    )));
                }
                Ok(found)
            }
        }
    }

    /// One criterion `name=value` in `scope`; `depth` counts enclosing chains and `_has`.
    fn criterion(
        &mut self,
        scope: &Scope,
        name: &str,
        value: &str,
        depth: usize,
    ) -> Result<Filter, Problem> {
        if depth > MAX_CHAIN_DEPTH {
            return Err(Problem::Errors(vec![(
                IssueCode::TooCostly,
                format!("chains and _has may nest at most {MAX_CHAIN_DEPTH} levels"),
            )]));
        }
        if let Some(rest) = name.strip_prefix("_has:") {
            return self.has(scope, rest, value, depth);
        }
        if name == "_has" {
            return Err(invalid("_has is written _has:Type:parameter:criterion"));
        }
        if let Some((head, tail)) = name.split_once('.') {
            return self.chain(scope, head, tail, value, depth);
        }
        let (code, modifier) = match name.split_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (name, None),
        };
        if code == "_list" {
            return self.list(scope, modifier, value, depth);
        }
        if code == "_query" {
            return Err(Problem::Errors(vec![(
                IssueCode::NotSupported,
                "this server defines no named queries".into(),
            )]));
        }
        let p = Self::resolve(scope, code)?[0];
        if modifier == Some("missing") {
            if p.kind == ParamKind::Composite {
                return Err(invalid("composite parameters take no modifiers"));
            }
            return match value {
                "true" => Ok(Filter::Missing {
                    param: p,
                    missing: true,
                }),
                "false" => Ok(Filter::Missing {
                    param: p,
                    missing: false,
                }),
                _ => Err(Problem::Errors(vec![(
                    IssueCode::Value,
                    format!("':missing' takes true or false, not '{value}'"),
                )])),
            };
        }
        if p.kind == ParamKind::Special && p.code != "near" {
            return Err(Problem::Ignorable(format!(
                "'{code}' is a special parameter that is not supported"
            )));
        }
        if p.expression.is_none() && p.kind == ParamKind::String {
            // _text and _content: full-text search.
            if let Some(m) = modifier {
                return Err(invalid(format!("{code} takes no modifier (':{m}')")));
            }
            let values = or_values(value, |v| {
                let v = unescape(v).map_err(|e| (IssueCode::Value, e))?;
                crate::text::terms(&v).map_err(|e| (IssueCode::Value, e))?;
                Ok(v)
            })?;
            return Ok(Filter::Text { param: p, values });
        }
        let (modifier, fixed_type) = modifier_of(p, modifier)?;
        let values = or_values(value, |v| {
            read_value(p, modifier, fixed_type.as_deref(), v).map_err(|e| (IssueCode::Value, e))
        })?;
        Ok(Filter::Param {
            param: p,
            modifier,
            values,
        })
    }

    /// `_has:Type:param:criterion` (`rest` is what follows `_has:`), within a single type.
    fn has(
        &mut self,
        scope: &Scope,
        rest: &str,
        value: &str,
        depth: usize,
    ) -> Result<Filter, Problem> {
        let Scope::Type(here) = scope else {
            return Err(Problem::Ignorable(
                "_has needs a resource type; it is not supported in system-level search over several types"
                    .into(),
            ));
        };
        let shape = "_has is written _has:Type:parameter:criterion";
        let Some((source, rest)) = rest.split_once(':') else {
            return Err(invalid(shape));
        };
        let Some((code, inner)) = rest.split_once(':') else {
            return Err(invalid(shape));
        };
        if inner.is_empty() {
            return Err(invalid(shape));
        }
        if !r4().is_resource_type(source) {
            return Err(invalid(format!(
                "'{source}' in _has is not a resource type"
            )));
        }
        let p = Self::resolve(&Scope::Type(source), code)?[0];
        if p.kind != ParamKind::Reference {
            return Err(invalid(format!(
                "_has needs a reference parameter of {source}; '{code}' is a {} parameter",
                p.kind.code()
            )));
        }
        if !p.targets.is_empty() && !p.targets.iter().any(|t| t == here) {
            return Err(invalid(format!(
                "{source}.{code} refers to {}, never to {here}",
                p.targets.join(", ")
            )));
        }
        let filter = self.criterion(&Scope::Type(source), inner, value, depth + 1)?;
        Ok(Filter::Has {
            source_type: source.to_string(),
            param: p,
            filter: Box::new(filter),
        })
    }

    /// `head.tail`, where `head` is `reference[:Type]`.
    fn chain(
        &mut self,
        scope: &Scope,
        head: &str,
        tail: &str,
        value: &str,
        depth: usize,
    ) -> Result<Filter, Problem> {
        let (code, type_modifier) = match head.split_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (head, None),
        };
        let params = Self::resolve(scope, code)?;
        let p = params[0];
        if p.kind != ParamKind::Reference {
            return Err(invalid(format!(
                "'{code}' is a {} parameter; only reference parameters can be chained",
                p.kind.code()
            )));
        }
        if tail.is_empty() {
            return Err(invalid("a chain needs a parameter after '.'"));
        }
        let mut targets: Vec<String> = params.iter().flat_map(|p| p.targets.clone()).collect();
        if targets.is_empty() {
            targets = r4().resource_types().to_vec();
        }
        targets.sort();
        targets.dedup();
        let target = match type_modifier {
            Some(t) => {
                if !r4().is_resource_type(t) {
                    return Err(invalid(format!(
                        "':{t}' is not a resource type; in a chain, '{code}' takes only a :Type modifier"
                    )));
                }
                if !targets.iter().any(|x| x == t) {
                    return Err(invalid(format!(
                        "'{code}' refers to {}, never to {t}",
                        targets.join(", ")
                    )));
                }
                t.to_string()
            }
            None => {
                let next = (!tail.starts_with("_has:"))
                    .then(|| tail.split(['.', ':']).next().unwrap_or(tail));
                let candidates: Vec<&String> = targets
                    .iter()
                    .filter(|t| next.is_none_or(|n| n == "_list" || param(t, n).is_some()))
                    .collect();
                match candidates.as_slice() {
                    [] => {
                        return Err(Problem::Ignorable(format!(
                            "none of the types '{code}' refers to has a parameter '{}'",
                            next.unwrap_or(tail)
                        )));
                    }
                    [one] => one.to_string(),
                    many => {
                        let list: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
                        return Err(invalid(format!(
                            "'{code}.{tail}' is ambiguous: '{code}' may refer to {}; name the type, as in '{code}:{}.{tail}'",
                            list.join(", "),
                            list[0]
                        )));
                    }
                }
            }
        };
        let filter = self.criterion(&Scope::Type(&target), tail, value, depth + 1)?;
        Ok(Filter::Chain {
            param: p,
            target_type: target,
            filter: Box::new(filter),
        })
    }
}

/// A functional list's name, the types it holds and its criteria (code, value).
type FunctionalList = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// The functional lists `_list` knows (FHIR R4 §2.1.1.4, "Functional lists"): the resource
/// types each holds and the criteria (code of a token parameter, value) that define it.
const FUNCTIONAL_LISTS: &[FunctionalList] = &[
    (
        "$current-problems",
        &["Condition"],
        &[
            ("clinical-status", "active"),
            ("category", "problem-list-item"),
        ],
    ),
    (
        "$current-medications",
        &["MedicationStatement", "MedicationRequest"],
        &[("status", "active")],
    ),
    (
        "$current-allergies",
        &["AllergyIntolerance"],
        &[("clinical-status", "active")],
    ),
    (
        "$current-drug-allergies",
        &["AllergyIntolerance"],
        &[("clinical-status", "active"), ("category", "medication")],
    ),
];

impl Parser {
    /// `_list=id[,id]`: the resources some `List` of these ids holds (as `_has:List:item:_id`);
    /// or one functional list (`$current-allergies`), as the criteria that define it.
    fn list(
        &mut self,
        scope: &Scope,
        modifier: Option<&str>,
        value: &str,
        depth: usize,
    ) -> Result<Filter, Problem> {
        if let Some(m) = modifier {
            return Err(invalid(format!("_list takes no modifier (':{m}')")));
        }
        let values = or_values(value, |v| {
            let v = unescape(v).map_err(|e| (IssueCode::Value, e))?;
            let functional = v.strip_prefix('$').is_some_and(|n| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if functional || is_valid_id(&v) {
                Ok(v)
            } else {
                Err((IssueCode::Value, format!("'{v}' is not a list id")))
            }
        })?;
        let Some(name) = values.iter().find(|v| v.starts_with('$')) else {
            let item = Self::resolve(&Scope::Type("List"), "item")?[0];
            let ids = self.criterion(&Scope::Type("List"), "_id", value, depth + 1)?;
            return Ok(Filter::List {
                values,
                meaning: vec![Filter::Has {
                    source_type: "List".into(),
                    param: item,
                    filter: Box::new(ids),
                }],
            });
        };
        if values.len() > 1 {
            return Err(invalid(format!(
                "{name} cannot be one of several lists in one _list (repeat _list to require several)"
            )));
        }
        let Some((_, types, criteria)) = FUNCTIONAL_LISTS.iter().find(|(n, ..)| n == name) else {
            let known: Vec<&str> = FUNCTIONAL_LISTS.iter().map(|(n, ..)| *n).collect();
            return Err(Problem::Errors(vec![(
                IssueCode::NotSupported,
                format!(
                    "'{name}' is not a functional list this server knows ({})",
                    known.join(", ")
                ),
            )]));
        };
        let here = match scope {
            Scope::Type(t) if types.contains(t) => *t,
            _ => {
                return Err(invalid(format!(
                    "{name} holds {} resources; search that type for it",
                    types.join(" or ")
                )));
            }
        };
        let meaning = criteria
            .iter()
            .map(|(code, v)| self.criterion(&Scope::Type(here), code, v, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter::List { values, meaning })
    }
}

/// Splits an OR list and reads each item, collecting every error.
fn or_values<T>(
    value: &str,
    mut read: impl FnMut(&str) -> Result<T, (IssueCode, String)>,
) -> Result<Vec<T>, Problem> {
    let items = split_escaped(value, ',');
    if items.len() > MAX_OR_VALUES {
        return Err(Problem::Errors(vec![(
            IssueCode::TooCostly,
            format!(
                "at most {MAX_OR_VALUES} values may be listed, not {}",
                items.len()
            ),
        )]));
    }
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        if item.is_empty() {
            errors.push((
                IssueCode::Value,
                "the list has an empty value (',,' or a trailing ',')".into(),
            ));
            continue;
        }
        match read(item) {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(Problem::Errors(errors))
    }
}

/// The modifier of a parameter, and for references the type that `:[type]` fixes.
fn modifier_of(
    p: &SearchParam,
    modifier: Option<&str>,
) -> Result<(Modifier, Option<String>), Problem> {
    let Some(m) = modifier else {
        return Ok((Modifier::None, None));
    };
    let unsupported = |why: &str| {
        Err(Problem::Errors(vec![(
            IssueCode::NotSupported,
            format!("the modifier ':{m}' is not supported: {why}"),
        )]))
    };
    let modifier = match (p.kind, m) {
        (ParamKind::String, "exact") => Modifier::Exact,
        (ParamKind::String, "contains") => Modifier::Contains,
        (ParamKind::String, "text") => {
            return unsupported("advanced text search on strings is not available");
        }
        (ParamKind::Token, "not") => Modifier::Not,
        (ParamKind::Token, "text") => Modifier::Text,
        (ParamKind::Token, "of-type") if p.on_identifier => Modifier::OfType,
        (ParamKind::Token, "of-type") => {
            return Err(invalid(format!(
                "':of-type' applies to identifier parameters, and '{}' is not one",
                p.code
            )));
        }
        (ParamKind::Token, "in" | "not-in" | "above" | "below") => {
            return unsupported(
                "value sets and subsumption need a terminology service, which this server does not have",
            );
        }
        (ParamKind::Reference, "identifier") => Modifier::Identifier,
        (ParamKind::Reference, "above" | "below") => {
            return unsupported("searching reference hierarchies is not available");
        }
        (ParamKind::Reference, t) if r4().is_resource_type(t) => {
            if !p.targets.is_empty() && !p.targets.iter().any(|x| x == t) {
                return Err(invalid(format!(
                    "'{}' refers to {}, never to {t}",
                    p.code,
                    p.targets.join(", ")
                )));
            }
            return Ok((Modifier::None, Some(t.to_string())));
        }
        (ParamKind::Uri, "above") => Modifier::Above,
        (ParamKind::Uri, "below") => Modifier::Below,
        (ParamKind::Composite, _) => return Err(invalid("composite parameters take no modifiers")),
        (kind, _) => {
            let allowed = match kind {
                ParamKind::String => ":exact, :contains, :missing",
                ParamKind::Token => ":not, :text, :of-type (identifiers), :missing",
                ParamKind::Reference => ":[type], :identifier, :missing",
                ParamKind::Uri => ":above, :below, :missing",
                _ => ":missing",
            };
            return Err(invalid(format!(
                "':{m}' is not a modifier of {} parameters (they take {allowed})",
                kind.code()
            )));
        }
    };
    Ok((modifier, None))
}

/// One value (an item of the OR list) of parameter `p` under `modifier`.
fn read_value(
    p: &SearchParam,
    modifier: Modifier,
    fixed_type: Option<&str>,
    v: &str,
) -> Result<Value, String> {
    Ok(match (p.kind, modifier) {
        (ParamKind::String, _) | (ParamKind::Token, Modifier::Text) => Value::String(unescape(v)?),
        (ParamKind::Token, Modifier::OfType) => Value::OfType(parse_of_type(v)?),
        (ParamKind::Token, _) | (ParamKind::Reference, Modifier::Identifier) => {
            Value::Token(parse_token(v)?)
        }
        (ParamKind::Reference, _) => Value::Reference(parse_reference(v, &p.targets, fixed_type)?),
        (ParamKind::Date, _) => Value::Date(parse_date(v)?),
        (ParamKind::Number, _) => Value::Number(parse_number(v)?),
        (ParamKind::Quantity, _) => Value::Quantity(parse_quantity(v)?),
        (ParamKind::Uri, _) => Value::Uri(parse_uri(v)?),
        (ParamKind::Composite, _) => {
            let parts = split_escaped(v, '$');
            if parts.len() != p.components.len() || parts.iter().any(|s| s.is_empty()) {
                let codes: Vec<&str> = p.components.iter().map(|c| c.code.as_str()).collect();
                return Err(format!(
                    "'{v}' has {} part(s); {} takes {} joined by '$' ({})",
                    parts.len(),
                    p.code,
                    p.components.len(),
                    codes.join("$")
                ));
            }
            let mut values = Vec::new();
            for (part, component) in parts.iter().zip(&p.components) {
                let def = by_url(&component.url)
                    .ok_or_else(|| format!("the component {} is not defined", component.url))?;
                values.push(read_value(def, Modifier::None, None, part)?);
            }
            Value::Composite(values)
        }
        (ParamKind::Special, _) if p.code == "near" => Value::Near(crate::geo::parse_near(v)?),
        (ParamKind::Special, _) => return Err(format!("'{}' is not supported", p.code)),
    })
}
