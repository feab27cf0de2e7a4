//! Search: turns the criteria and sort of a parsed [`kizuna_search::Query`] into one SQL
//! statement over the index tables (see [`crate::index`]), for either backend.
//!
//! The meaning of every criterion is the one `kizuna_search::evaluate` documents (the
//! in-memory evaluator the property tests compare this against). Each criterion becomes a set
//! of `res_key`s (a `SELECT res_key …`); the page is the first set, narrowed by `IN` each other
//! set, ordered by the sort keys and `res_key`, after a keyset cursor, `LIMIT count + 1`.
//! Index rows exist only for live resources, so sets over the index need no liveness check;
//! sets over `resource` (`_id`, `_lastUpdated`, `:not`, `:missing=true`) check `deleted`.

use crate::index::{CANONICAL_MARK, UNIT_MARK, decimal_key, stored_keys};
use crate::{StoreError, Version};
use kizuna_search::registry::{self, ParamKind, SearchParam};
use kizuna_search::values::{DateRange, NumberValue, Prefix, QuantityValue, Reference, Token};
use kizuna_search::{Decimal, Filter, Modifier, SortKey, Value};

/// What to search: the criteria and order of a query, over one or more resource types, one
/// page at a time.
#[derive(Debug, Clone)]
pub struct SearchSpec {
    /// The resource types searched (one for a type-level search).
    pub types: Vec<String>,
    pub filters: Vec<Filter>,
    pub sort: Vec<SortKey>,
    /// Page size (0: only the total).
    pub count: usize,
    /// Continue after (or, `backward`, before) this row.
    pub cursor: Option<Cursor>,
    pub backward: bool,
    /// Whether to count every match.
    pub total: bool,
    /// Give up (with [`StoreError::TooCostly`]) after this long.
    pub budget: std::time::Duration,
    /// Only resources in this compartment.
    pub compartment: Option<Compartment>,
    /// Only resources the caller may see (None: every resource, for the node itself).
    pub access: Option<std::sync::Arc<crate::Access>>,
}

/// A compartment (`Patient/123`): the resources whose reference parameters `keys` (index keys,
/// per type) point to `owner`, and the owner itself.
#[derive(Debug, Clone)]
pub struct Compartment {
    pub owner_type: String,
    pub owner_id: String,
    pub keys: Vec<i32>,
}

/// A position in a result order: the sort key values of a row and its `res_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub keys: Vec<SortValue>,
    pub res_key: i64,
}

/// The value of one sort key of one row (`Null`: the resource has no value; it sorts last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    Null,
    Int(i64),
    Text(String),
}

/// One row of a page.
#[derive(Debug, Clone)]
pub struct Hit {
    pub res_key: i64,
    pub keys: Vec<SortValue>,
    pub version: Version,
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    /// The page, in result order.
    pub hits: Vec<Hit>,
    /// Whether rows follow the page in the direction searched.
    pub more: bool,
    pub total: Option<u64>,
}

impl SearchResult {
    /// The result of a page statement's rows (`LIMIT count + 1`, in the direction searched):
    /// the extra row only says more follow; a backward page is put back in result order.
    pub fn from_rows(mut hits: Vec<Hit>, spec: &SearchSpec, total: Option<u64>) -> SearchResult {
        let more = hits.len() > spec.count;
        hits.truncate(spec.count);
        if spec.backward {
            hits.reverse();
        }
        SearchResult { hits, more, total }
    }
}

/// Whether a page statement needs running: not for a count-only search.
pub fn wants_page(spec: &SearchSpec) -> bool {
    spec.count > 0 || !spec.total
}

/// A bound argument of a generated statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    I32(i32),
    I64(i64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement under construction: SQL with `?` placeholders, and their arguments in order.
/// The PostgreSQL backend renumbers placeholders to `$n` ([`Sql::numbered`]).
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    pub(crate) fn arg(&mut self, a: Arg) {
        self.text.push('?');
        self.args.push(a);
    }
    pub(crate) fn text_arg(&mut self, s: &str) {
        self.arg(Arg::Text(s.to_string()));
    }
    fn int_arg(&mut self, i: i64) {
        self.arg(Arg::I64(i));
    }

    /// The text with `$1, $2, …` for `?` (generated SQL has no `?` anywhere else).
    pub fn numbered(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 16);
        let mut n = 0;
        for ch in self.text.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        out
    }
}

fn is_text(f: &Filter) -> bool {
    matches!(f, Filter::Text { .. })
}

/// The statements of one search: the page, and the count when asked.
pub struct Plan {
    pub page: Sql,
    pub count: Option<Sql>,
    pub keys: usize,
}

/// From this many resources matching a `_has` criterion on, targets are tested one by one
/// (5,000 by default). A tuning knob: both plans give the same results, and the property
/// tests run both by setting it.
pub static MANY_REFERRERS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(5_000);

/// The most bound values one statement may take (SQLite allows 32,766, PostgreSQL 65,535).
pub const MAX_ARGS: usize = 30_000;

/// The columns the page statement returns, in order, before the sort keys.
pub const PAGE_COLUMNS: usize = 7;

pub fn plan(spec: &SearchSpec, dialect: Dialect) -> Result<Plan, StoreError> {
    // Full-text criteria scan the text of every resource of the type: any other criterion
    // drives the page, and the texts of its matches only are searched.
    let reordered;
    let spec = if spec.filters.len() > 1 && spec.filters.iter().any(is_text) {
        let (mut filters, text): (Vec<Filter>, Vec<Filter>) =
            spec.filters.iter().cloned().partition(|f| !is_text(f));
        filters.extend(text);
        reordered = SearchSpec {
            filters,
            ..spec.clone()
        };
        &reordered
    } else {
        spec
    };
    let g = Gen {
        dialect,
        access: spec.access.as_deref(),
    };
    let mut sets = Vec::new();
    if let Some(c) = &spec.compartment {
        let mut s = Sql::default();
        s.push("SELECT res_key FROM search_index WHERE param IN (");
        if c.keys.is_empty() {
            s.push("NULL");
        }
        list(&mut s, &c.keys, |o, k| o.arg(Arg::I32(*k)));
        s.push(") AND c1 = ");
        s.text_arg(&c.owner_id);
        s.push(" AND c2 = ");
        s.text_arg(&c.owner_type);
        // The owner itself, when its type is searched (decided here: a list of every
        // searched type in the statement cost PostgreSQL its planning time).
        if spec.types.contains(&c.owner_type) {
            s.push(" UNION ALL SELECT res_key FROM resource WHERE deleted = FALSE AND type = ");
            s.text_arg(&c.owner_type);
            s.push(" AND id = ");
            s.text_arg(&c.owner_id);
        }
        sets.push(s);
    }
    // Full text after another criterion (see above) tests the rows that criterion gives; so
    // does what the caller may see.
    let mut tests = Vec::new();
    if let Some(a) = &spec.access {
        let mut s = Sql::default();
        a.condition(&mut s);
        tests.push(s);
    }
    for f in &spec.filters {
        let mut s = Sql::default();
        match f {
            Filter::Text { param, values } if !sets.is_empty() => {
                g.text_set(param, values, &spec.types, true, &mut s)?;
                tests.push(s);
            }
            _ => {
                g.set(f, &spec.types, &mut s)?;
                sets.push(s);
            }
        }
    }
    let narrowing = Narrowing {
        sets: &sets,
        tests: &tests,
    };
    let base = |out: &mut Sql| {
        if sets.is_empty() {
            out.push("SELECT res_key FROM resource WHERE deleted = FALSE AND type IN (");
            list(out, &spec.types, |o, t| o.text_arg(t));
            out.push(")");
        } else {
            append(out, &sets[0]);
        }
    };
    let narrow = |out: &mut Sql| narrowing.apply("p", out);
    let count = spec.total.then(|| {
        let mut c = Sql::default();
        c.push("SELECT count(*) FROM (SELECT DISTINCT res_key FROM (");
        base(&mut c);
        c.push(") b) p WHERE 1 = 1");
        narrow(&mut c);
        c
    });
    if let Some(page) = type_page(&g, spec)? {
        return Ok(Plan {
            page,
            count,
            keys: 0,
        });
    }
    if let Some(page) = ordered_page(spec, &narrowing)? {
        return Ok(Plan {
            page,
            count,
            keys: 0,
        });
    }
    // The page's keys are chosen (filtered, keyset-bounded, sorted, limited) before any body is
    // read: bodies are joined for the page's rows only.
    let order = |alias: &str, out: &mut Sql| {
        out.push(" ORDER BY ");
        for (i, key) in spec.sort.iter().enumerate() {
            let descending = key.descending != spec.backward;
            let nulls = if spec.backward { "FIRST" } else { "LAST" };
            out.push(&format!(
                "{alias}.k{i} {} NULLS {nulls}, ",
                if descending { "DESC" } else { "ASC" }
            ));
        }
        out.push(&format!(
            "{alias}.res_key {}",
            if spec.backward { "DESC" } else { "ASC" }
        ));
    };
    let mut page = Sql::default();
    page.push(&format!("SELECT {HIT_COLUMNS}"));
    for i in 0..spec.sort.len() {
        page.push(&format!(", pg.k{i}"));
    }
    page.push(" FROM (SELECT * FROM (SELECT r.res_key");
    for (i, key) in spec.sort.iter().enumerate() {
        page.push(", ");
        g.sort_expr(key, &spec.types, &mut page)?;
        page.push(&format!(" AS k{i}"));
    }
    // The criteria's sets hold live resources of the searched types only (index rows exist
    // for current versions of live resources), so PostgreSQL picks the page's keys from the
    // sets alone, and reads `resource` for the page's rows only. SQLite walks `resource` by
    // the (ordered) first set and stops at the page's end. Sorting by `_id` or
    // `_lastUpdated` needs `resource` either way.
    let by_resource = g.dialect == Dialect::Sqlite
        || spec
            .sort
            .iter()
            .any(|k| matches!(k.param.code.as_str(), "_id" | "_lastUpdated"));
    if by_resource {
        page.push(" FROM resource r WHERE r.deleted = FALSE AND r.res_key IN (");
        base(&mut page);
        page.push(")");
    } else {
        page.push(" FROM (SELECT DISTINCT res_key FROM (");
        base(&mut page);
        page.push(") b) r WHERE 1 = 1");
    }
    narrowing.apply("r", &mut page);
    page.push(") q");
    if let Some(c) = &spec.cursor {
        page.push(" WHERE ");
        keyset(spec, c, &mut page);
    }
    order("q", &mut page);
    page.push(" LIMIT ");
    page.int_arg(spec.count as i64 + 1);
    page.push(") pg JOIN resource r ON r.res_key = pg.res_key JOIN history h ON h.seq = r.seq");
    order("pg", &mut page);
    if page.args.len() > MAX_ARGS {
        return Err(unsupported(format!(
            "the search needs {} values across its types and criteria (at most {MAX_ARGS}); name fewer values, or fewer types with _type",
            page.args.len()
        )));
    }
    Ok(Plan {
        page,
        count,
        keys: spec.sort.len(),
    })
}

/// The page of an unsorted search of one type with no criteria but `_has` (or none at all),
/// read off the type's resources in key order: it stops at its last row, testing each resource
/// as it goes, instead of first building the set of every match. None for other searches.
fn type_page(g: &Gen, spec: &SearchSpec) -> Result<Option<Sql>, StoreError> {
    let ([rtype], true, None) = (
        spec.types.as_slice(),
        spec.sort.is_empty(),
        &spec.compartment,
    ) else {
        return Ok(None);
    };
    if !spec.filters.iter().all(|f| matches!(f, Filter::Has { .. })) {
        return Ok(None);
    }
    let mut page = Sql::default();
    page.push(&format!(
        "SELECT {HIT_COLUMNS} FROM (SELECT q.res_key FROM resource q WHERE q.type = "
    ));
    page.text_arg(rtype);
    page.push(" AND q.deleted = FALSE");
    for f in &spec.filters {
        page.push(" AND ");
        g.has_member("q", f, &spec.types, &mut page)?;
    }
    g.visible("q", &mut page);
    Ok(key_ordered_page(page, spec))
}

/// Ends a page whose inner `SELECT q.res_key …` (open, with its conditions) yields keys in
/// `res_key` order: the cursor, the limit, and the page's rows joined with their bodies. None
/// if the statement would take too many values (the general plan then reports it).
fn key_ordered_page(mut page: Sql, spec: &SearchSpec) -> Option<Sql> {
    if let Some(c) = &spec.cursor {
        page.push(" AND ");
        keyset(spec, c, &mut page);
    }
    let dir = if spec.backward { "DESC" } else { "ASC" };
    page.push(&format!(" ORDER BY q.res_key {dir} LIMIT "));
    page.int_arg(spec.count as i64 + 1);
    page.push(&format!(
        ") p JOIN resource r ON r.res_key = p.res_key JOIN history h ON h.seq = r.seq WHERE r.deleted = FALSE ORDER BY r.res_key {dir}"
    ));
    (page.args.len() <= MAX_ARGS).then_some(page)
}

/// The page of an unsorted search whose first criterion is one token with system and code
/// (`code=http://loinc.org|8867-4`): its index rows share their whole prefix, so they come in
/// `res_key` order, and the page is read straight off the index, stopping at its last row
/// however many resources match. None for any other search.
fn ordered_page(spec: &SearchSpec, narrowing: &Narrowing) -> Result<Option<Sql>, StoreError> {
    let (
        Some(Filter::Param {
            param,
            modifier: Modifier::None,
            values,
        }),
        [rtype],
    ) = (spec.filters.first(), spec.types.as_slice())
    else {
        return Ok(None);
    };
    let [
        Value::Token(Token {
            system: Some(system),
            code: Some(code),
            ..
        }),
    ] = values.as_slice()
    else {
        return Ok(None);
    };
    let keys = stored_keys(rtype, &param.code, "");
    let ([key], ParamKind::Token, true, None, false) = (
        keys.as_slice(),
        param.kind,
        spec.sort.is_empty(),
        &spec.compartment,
        param.code == "_id",
    ) else {
        return Ok(None);
    };
    let mut page = Sql::default();
    page.push(&format!(
        "SELECT {HIT_COLUMNS} FROM (SELECT q.res_key FROM search_index q WHERE q.param = "
    ));
    page.arg(Arg::I32(*key));
    page.push(" AND q.c1 = ");
    page.text_arg(code);
    page.push(" AND q.c2 = ");
    page.text_arg(system);
    page.push(" AND q.c3 = '' AND q.lo = 0 AND q.hi = 0");
    narrowing.apply("q", &mut page);
    Ok(key_ordered_page(page, spec))
}

const HIT_COLUMNS: &str = "r.res_key, r.type, r.id, r.version, r.last_updated, h.method, h.body";

/// The live resources that index keys `params` of the resources `from` refer to.
pub fn referenced(
    from: &[i64],
    params: &[i32],
    target_type: Option<&str>,
    limit: usize,
    dialect: Dialect,
    access: Option<&crate::Access>,
) -> Sql {
    let g = Gen { dialect, access };
    let mut out = Sql::default();
    // Each distinct target is looked up once: a patient's 900 resources hold some 3,000
    // references, to a few dozen encounters and practitioners and the patient.
    out.push(&format!(
        "SELECT {HIT_COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE r.deleted = FALSE AND r.res_key IN (SELECT t.res_key FROM (SELECT DISTINCT x.c1, x.c2 FROM search_index x WHERE x.res_key IN ("
    ));
    if from.is_empty() {
        out.push("NULL");
    }
    list(&mut out, from, |o, k| o.int_arg(*k));
    out.push(") AND x.param IN (");
    if params.is_empty() {
        out.push("NULL");
    }
    list(&mut out, params, |o, k| o.arg(Arg::I32(*k)));
    out.push(")");
    if let Some(t) = target_type {
        out.push(" AND x.c2 = ");
        out.text_arg(t);
    }
    out.push(&format!(") s {})", g.target_join("t")));
    g.visible("r", &mut out);
    out.push(" ORDER BY r.res_key LIMIT ");
    out.int_arg(limit as i64);
    out
}

/// The live resources whose index keys `params` refer to one of `targets`.
pub fn referring(
    targets: &[(String, String)],
    params: &[i32],
    limit: usize,
    access: Option<&crate::Access>,
) -> Sql {
    let mut out = Sql::default();
    out.push(&format!(
        "SELECT {HIT_COLUMNS} FROM resource r JOIN history h ON h.seq = r.seq WHERE r.deleted = FALSE AND r.res_key IN (SELECT s.res_key FROM search_index s WHERE s.param IN ("
    ));
    if params.is_empty() {
        out.push("NULL");
    }
    list(&mut out, params, |o, k| o.arg(Arg::I32(*k)));
    out.push(") AND (");
    if targets.is_empty() {
        out.push("1 = 0");
    }
    for (i, (t, id)) in targets.iter().enumerate() {
        if i > 0 {
            out.push(" OR ");
        }
        out.push("(s.c1 = ");
        out.text_arg(id);
        out.push(" AND s.c2 = ");
        out.text_arg(t);
        out.push(")");
    }
    out.push("))");
    if let Some(a) = access {
        out.push(" AND ");
        a.condition_on("r", &mut out);
    }
    out.push(" ORDER BY r.res_key LIMIT ");
    out.int_arg(limit as i64);
    out
}

/// How the page's rows are narrowed after the first criterion's set: by the other sets, and
/// by tests of each row (full text), whose `{row}` is the row's alias.
struct Narrowing<'a> {
    sets: &'a [Sql],
    tests: &'a [Sql],
}

impl Narrowing<'_> {
    fn apply(&self, alias: &str, out: &mut Sql) {
        for s in self.sets.iter().skip(1) {
            out.push(&format!(" AND {alias}.res_key IN ("));
            append(out, s);
            out.push(")");
        }
        for t in self.tests {
            out.push(" AND ");
            out.text.push_str(&t.text.replace("{row}", alias));
            out.args.extend(t.args.iter().cloned());
        }
    }
}

fn append(out: &mut Sql, s: &Sql) {
    out.text.push_str(&s.text);
    out.args.extend(s.args.iter().cloned());
}

fn list<T>(out: &mut Sql, items: &[T], mut f: impl FnMut(&mut Sql, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(", ");
        }
        f(out, item);
    }
}

fn sort_arg(out: &mut Sql, v: &SortValue) {
    match v {
        SortValue::Null => out.push("NULL"),
        SortValue::Int(i) => out.int_arg(*i),
        SortValue::Text(t) => out.text_arg(t),
    }
}

/// The rows strictly after (or, backward, before) the cursor in result order.
fn keyset(spec: &SearchSpec, c: &Cursor, out: &mut Sql) {
    out.push("(");
    for (i, key) in spec.sort.iter().enumerate() {
        let Some(v) = c.keys.get(i) else { break };
        for (j, _) in spec.sort.iter().enumerate().take(i) {
            match c.keys.get(j) {
                Some(SortValue::Null) | None => out.push(&format!("q.k{j} IS NULL AND ")),
                Some(v) => {
                    out.push(&format!("q.k{j} = "));
                    sort_arg(out, v);
                    out.push(" AND ");
                }
            }
        }
        let ascending = !key.descending;
        match (v, spec.backward) {
            // Nothing comes after a missing value; everything with a value comes before it.
            (SortValue::Null, false) => out.push("1 = 0"),
            (SortValue::Null, true) => out.push(&format!("q.k{i} IS NOT NULL")),
            (v, false) => {
                out.push(&format!("(q.k{i} {} ", if ascending { ">" } else { "<" }));
                sort_arg(out, v);
                out.push(&format!(" OR q.k{i} IS NULL)"));
            }
            (v, true) => {
                out.push(&format!("q.k{i} {} ", if ascending { "<" } else { ">" }));
                sort_arg(out, v);
            }
        }
        out.push(" OR ");
    }
    for (j, _) in spec.sort.iter().enumerate() {
        match c.keys.get(j) {
            Some(SortValue::Null) | None => out.push(&format!("q.k{j} IS NULL AND ")),
            Some(v) => {
                out.push(&format!("q.k{j} = "));
                sort_arg(out, v);
                out.push(" AND ");
            }
        }
    }
    out.push(if spec.backward {
        "q.res_key < "
    } else {
        "q.res_key > "
    });
    out.int_arg(c.res_key);
    out.push(")");
}

struct Gen<'a> {
    dialect: Dialect,
    /// What the caller may see (None: everything).
    access: Option<&'a crate::Access>,
}

/// The smallest string greater than every string that starts with `prefix` (None: no bound,
/// for an empty prefix or one made only of the last code point). Bytewise order of UTF-8 is
/// code point order, so incrementing the last code point works.
pub fn prefix_upper(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn unsupported(what: String) -> StoreError {
    StoreError::Unsupported(what)
}

/// The parameter `code` as defined on `rtype` (a system search applies a criterion to every
/// type that has it).
fn keys_of(code: &str, types: &[String]) -> Vec<i32> {
    types
        .iter()
        .filter(|t| registry::param(t, code).is_some())
        .flat_map(|t| stored_keys(t, code, ""))
        .collect()
}

impl Gen<'_> {
    /// ` AND` the resource `alias.res_key` is visible to the caller (nothing without access
    /// rules).
    fn visible(&self, alias: &str, out: &mut Sql) {
        if let Some(a) = self.access {
            out.push(" AND ");
            a.condition_on(alias, out);
        }
    }

    /// Joins `resource` as `alias` to the target of reference row `s`, looked up one reference
    /// at a time by `(type, id)`: PostgreSQL otherwise hashes the whole resource table when it
    /// overestimates the references (a lateral subquery behind `OFFSET 0` is not flattened).
    fn target_join(&self, alias: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                format!("CROSS JOIN resource {alias} ON {alias}.type = s.c2 AND {alias}.id = s.c1")
            }
            Dialect::Postgres => format!(
                "CROSS JOIN LATERAL (SELECT res_key, type, id, deleted FROM resource WHERE type = s.c2 AND id = s.c1 OFFSET 0) {alias}"
            ),
        }
    }

    /// Keeps PostgreSQL from turning a correlated `EXISTS` into a hashed set of every row it
    /// could match (which it does even where the test stops at the first row).
    fn exists_fence(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " OFFSET 0",
        }
    }

    /// A join whose left side drives: SQLite keeps the order of a `CROSS JOIN`; PostgreSQL
    /// plans by cost (and has no `CROSS JOIN … ON`).
    fn ordered_join(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "CROSS JOIN",
            Dialect::Postgres => "JOIN",
        }
    }

    /// `SELECT res_key …` of the live resources of `types` matching `f`.
    fn set(&self, f: &Filter, types: &[String], out: &mut Sql) -> Result<(), StoreError> {
        match f {
            Filter::Param {
                param,
                modifier,
                values,
            } => self.param_set(param, *modifier, values, types, out),
            Filter::Missing { param, missing } => {
                if matches!(param.code.as_str(), "_id" | "_lastUpdated") {
                    // Every resource has both.
                    out.push("SELECT res_key FROM resource WHERE deleted = FALSE AND ");
                    out.push(if *missing { "1 = 0" } else { "type IN (" });
                    if !*missing {
                        list(out, types, |o, t| o.text_arg(t));
                        out.push(")");
                    }
                    return Ok(());
                }
                let mut present = Sql::default();
                self.present_set(param, types, &mut present);
                if *missing {
                    self.complement(types, &present, out);
                } else {
                    append(out, &present);
                }
                Ok(())
            }
            Filter::Chain {
                param,
                target_type,
                filter,
            } => {
                // From the (usually few) targets that match to the references to them.
                out.push(&format!(
                    "SELECT s.res_key FROM resource t {} search_index s ON s.",
                    self.ordered_join()
                ));
                param_in(&keys_of(&param.code, types), out);
                out.push(" AND s.c1 = t.id AND s.c2 = t.type WHERE t.type = ");
                out.text_arg(target_type);
                out.push(" AND t.deleted = FALSE AND t.res_key IN (");
                self.set(filter, std::slice::from_ref(target_type), out)?;
                out.push(")");
                // Only targets the caller may see: a chain must not tell what a hidden
                // resource holds.
                self.visible("t", out);
                Ok(())
            }
            Filter::Has {
                source_type,
                param,
                filter,
            } => {
                // As a set (the page is driven by another criterion or sorted): from the
                // referrers that match to what they refer to, a cost bounded by the referrers
                // (`type_page` tests targets one by one where `_has` drives the page).
                let source = std::slice::from_ref(source_type);
                out.push(&format!(
                    "SELECT t2.res_key FROM search_index s {} WHERE s.res_key IN (",
                    self.target_join("t2")
                ));
                self.set(filter, source, out)?;
                out.push(") AND s.");
                param_in(&stored_keys(source_type, &param.code, ""), out);
                out.push(" AND s.c2 IN (");
                list(out, types, |o, t| o.text_arg(t));
                out.push(") AND t2.deleted = FALSE");
                // Only referrers the caller may see count.
                self.visible("s", out);
                Ok(())
            }
            Filter::Text { param, values } => self.text_set(param, values, types, false, out),
            Filter::List { meaning, .. } => {
                // Every criterion of its meaning: the first set, narrowed by the others.
                let Some((first, rest)) = meaning.split_first() else {
                    return Err(unsupported("an empty _list".into()));
                };
                out.push("SELECT l.res_key FROM (");
                self.set(first, types, out)?;
                out.push(") l");
                for (i, f) in rest.iter().enumerate() {
                    out.push(if i == 0 { " WHERE " } else { " AND " });
                    out.push("l.res_key IN (");
                    self.set(f, types, out)?;
                    out.push(")");
                }
                Ok(())
            }
        }
    }

    /// `_text`/`_content`: the resources of `types` whose text holds every term of some value;
    /// with `probe`, instead a test of one row (`{row}` stands for its alias; see
    /// [`Narrowing`]), so that only the texts of rows another criterion gives are read.
    fn text_set(
        &self,
        param: &SearchParam,
        values: &[String],
        types: &[String],
        probe: bool,
        out: &mut Sql,
    ) -> Result<(), StoreError> {
        let column = if param.code == "_text" {
            "x.narrative"
        } else {
            "x.content"
        };
        let find = match self.dialect {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        };
        if probe {
            // The row is of a searched type already.
            out.push("EXISTS (SELECT 1 FROM resource_text x WHERE x.res_key = {row}.res_key");
        } else {
            out.push(
                "SELECT x.res_key FROM resource_text x JOIN resource r ON r.res_key = x.res_key WHERE r.type IN (",
            );
            list(out, types, |o, t| o.text_arg(t));
            out.push(")");
        }
        out.push(" AND (");
        for (i, v) in values.iter().enumerate() {
            let terms = kizuna_search::text::terms(v)
                .map_err(|e| unsupported(format!("{}: {e}", param.code)))?;
            out.push(if i == 0 { "(" } else { " OR (" });
            for (j, t) in terms.iter().enumerate() {
                if j > 0 {
                    out.push(" AND ");
                }
                out.push(&format!("{find}({column}, "));
                out.text_arg(t);
                out.push(") > 0");
            }
            out.push(")");
        }
        out.push(if probe { "))" } else { ")" });
        Ok(())
    }

    /// The live resources of `types` not in `set`.
    fn complement(&self, types: &[String], set: &Sql, out: &mut Sql) {
        out.push("SELECT res_key FROM resource WHERE deleted = FALSE AND type IN (");
        list(out, types, |o, t| o.text_arg(t));
        out.push(") AND res_key NOT IN (");
        append(out, set);
        out.push(")");
    }

    /// Resources with at least one index row for `param` (of any of its derived forms).
    fn present_set(&self, param: &SearchParam, types: &[String], out: &mut Sql) {
        let table = if param.kind == ParamKind::Composite {
            "composite_index"
        } else {
            "search_index"
        };
        let derived: &[&str] = match param.kind {
            ParamKind::Token => &["", "text"],
            ParamKind::Reference => &["", "identifier"],
            _ => &[""],
        };
        let keys: Vec<i32> = types
            .iter()
            .filter(|t| registry::param(t, &param.code).is_some())
            .flat_map(|t| {
                derived
                    .iter()
                    .flat_map(move |suffix| stored_keys(t, &param.code, suffix))
            })
            .collect();
        out.push(&format!("SELECT res_key FROM {table} WHERE param IN ("));
        list(out, &keys, |o, k| o.arg(Arg::I32(*k)));
        out.push(")");
    }

    fn param_set(
        &self,
        param: &SearchParam,
        modifier: Modifier,
        values: &[Value],
        types: &[String],
        out: &mut Sql,
    ) -> Result<(), StoreError> {
        match param.code.as_str() {
            "_id" => {
                out.push("SELECT res_key FROM resource WHERE deleted = FALSE AND type IN (");
                list(out, types, |o, t| o.text_arg(t));
                out.push(") AND id IN (");
                let ids: Vec<&str> = values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Token(Token { code: Some(c), .. }) => Some(c.as_str()),
                        _ => None,
                    })
                    .collect();
                if ids.is_empty() {
                    out.push("NULL");
                }
                list(out, &ids, |o, id| o.text_arg(id));
                out.push(")");
                return Ok(());
            }
            "_lastUpdated" => {
                out.push("SELECT res_key FROM resource WHERE deleted = FALSE AND type IN (");
                list(out, types, |o, t| o.text_arg(t));
                out.push(") AND (");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(" OR ");
                    }
                    match v {
                        Value::Date(d) => date_cond("last_updated", "(last_updated + 1)", d, out),
                        _ => out.push("1 = 0"),
                    }
                }
                out.push(")");
                return Ok(());
            }
            _ => {}
        }
        if modifier == Modifier::Not {
            let mut positive = Sql::default();
            self.param_set(param, Modifier::None, values, types, &mut positive)?;
            self.complement(types, &positive, out);
            return Ok(());
        }
        let (table, arms) = self.arms(param, modifier, values, types)?;
        if arms.is_empty() {
            // No type searched has the parameter: nothing matches.
            out.push("SELECT res_key FROM resource WHERE 1 = 0");
        }
        for (i, arm) in arms.iter().enumerate() {
            if i > 0 {
                out.push(" UNION ALL ");
            }
            out.push(&format!("SELECT res_key FROM {table} WHERE "));
            append(out, arm);
        }
        Ok(())
    }

    /// Whether the resource `row` (an alias of `resource`) is referred to as `_has` `f` says.
    /// Two plans, chosen when the statement runs by how many resources match the inner
    /// criterion. Few: a set of what they refer to. Many (a common code): `row` is tested for
    /// one matching referrer, which stops at the first (the set would cost a probe per
    /// referrer).
    fn has_member(
        &self,
        row: &str,
        f: &Filter,
        types: &[String],
        out: &mut Sql,
    ) -> Result<(), StoreError> {
        let Filter::Has {
            source_type,
            param,
            filter,
        } = f
        else {
            out.push(&format!("{row}.res_key IN ("));
            self.set(f, types, out)?;
            out.push(")");
            return Ok(());
        };
        let source = std::slice::from_ref(source_type);
        let keys = stored_keys(source_type, &param.code, "");
        let threshold = MANY_REFERRERS.load(std::sync::atomic::Ordering::Relaxed);
        out.push("(CASE WHEN (SELECT count(*) FROM (");
        self.set(filter, source, out)?;
        out.push(&format!(" LIMIT {threshold}) m) >= {threshold}"));
        out.push(" THEN EXISTS (SELECT 1 FROM search_index s WHERE s.");
        param_in(&keys, out);
        out.push(&format!(" AND s.c1 = {row}.id AND s.c2 = {row}.type AND "));
        self.member("s.res_key", None, filter, source, out)?;
        self.visible("s", out);
        out.push(self.exists_fence());
        out.push(&format!(") ELSE {row}.res_key IN ("));
        self.set(f, types, out)?;
        out.push(") END)");
        Ok(())
    }

    /// The table of a plain criterion (no `:not`, `:missing`, `_id`, `_lastUpdated`), and one
    /// condition on its rows per type and value: a resource matches when one of its rows
    /// meets one of them.
    fn arms(
        &self,
        param: &SearchParam,
        modifier: Modifier,
        values: &[Value],
        types: &[String],
    ) -> Result<(&'static str, Vec<Sql>), StoreError> {
        let suffix = match modifier {
            Modifier::Text => "text",
            Modifier::OfType => "of-type",
            Modifier::Identifier => "identifier",
            _ => "",
        };
        let table = if param.kind == ParamKind::Composite {
            "composite_index"
        } else {
            "search_index"
        };
        let mut arms = Vec::new();
        for t in types
            .iter()
            .filter(|t| registry::param(t, &param.code).is_some())
        {
            let keys = stored_keys(t, &param.code, suffix);
            for v in values {
                let mut arm = Sql::default();
                param_in(&keys, &mut arm);
                arm.push(" AND ");
                self.value_cond(param, modifier, v, &mut arm)?;
                arms.push(arm);
            }
        }
        Ok((table, arms))
    }

    /// `key IN (set of f)`, or, when `f` is a plain criterion, the same as a correlated
    /// `EXISTS` that probes `key`'s own index rows (no set is built: the cost is per key
    /// tested, not per resource that matches `f`).
    fn member(
        &self,
        key: &str,
        row: Option<&str>,
        f: &Filter,
        types: &[String],
        out: &mut Sql,
    ) -> Result<(), StoreError> {
        if let (Filter::Has { .. }, Some(row)) = (f, row) {
            return self.has_member(row, f, types, out);
        }
        if let Filter::Param {
            param,
            modifier,
            values,
        } = f
            && !matches!(param.code.as_str(), "_id" | "_lastUpdated")
            && *modifier != Modifier::Not
        {
            let (table, arms) = self.arms(param, *modifier, values, types)?;
            out.push(&format!(
                "EXISTS (SELECT 1 FROM {table} c WHERE c.res_key = {key} AND ("
            ));
            if arms.is_empty() {
                out.push("1 = 0");
            }
            for (i, arm) in arms.iter().enumerate() {
                if i > 0 {
                    out.push(" OR ");
                }
                out.push("(");
                append(out, arm);
                out.push(")");
            }
            out.push("))");
            return Ok(());
        }
        out.push(&format!("{key} IN ("));
        self.set(f, types, out)?;
        out.push(")");
        Ok(())
    }

    /// The condition on one row of the parameter's table for one search value.
    fn value_cond(
        &self,
        param: &SearchParam,
        modifier: Modifier,
        v: &Value,
        out: &mut Sql,
    ) -> Result<(), StoreError> {
        match (param.kind, modifier, v) {
            (_, Modifier::Text, Value::String(s)) => {
                self.string_cond("c1", "c2", Modifier::None, s, out)
            }
            (_, Modifier::OfType, Value::OfType(o)) => {
                out.push("c1 = ");
                out.text_arg(&o.value);
                out.push(" AND c2 = ");
                out.text_arg(&o.type_system);
                out.push(" AND c3 = ");
                out.text_arg(&o.type_code);
            }
            (_, _, Value::Token(t)) => token_cond("c1", "c2", t, out),
            (ParamKind::String, m, Value::String(s)) => self.string_cond("c1", "c2", m, s, out),
            (_, _, Value::Reference(r)) => reference_cond("c1", "c2", "c3", param, r, out),
            (_, _, Value::Date(d)) => {
                out.push("c1 = '' AND c2 = '' AND c3 = '' AND ");
                date_cond("lo", "hi", d, out);
            }
            (_, _, Value::Number(n)) => number_param_cond(param, n, out),
            (_, _, Value::Near(n)) => self.near_cond(n, out),
            (_, _, Value::Quantity(q)) => quantity_cond("c1", "c2", "c3", q, true, out),
            (ParamKind::Uri, m, Value::Uri(u)) => {
                let text = match &u.version {
                    Some(v) => format!("{}|{v}", u.uri),
                    None => u.uri.clone(),
                };
                match m {
                    // The version plays no part in a hierarchy of URIs.
                    Modifier::Below => prefix_cond("c1", &u.uri, out),
                    Modifier::Above => {
                        out.push("c1 IN (");
                        let prefixes: Vec<&str> = u
                            .uri
                            .char_indices()
                            .map(|(i, c)| &u.uri[..i + c.len_utf8()])
                            .collect();
                        list(out, &prefixes, |o, p| o.text_arg(p));
                        out.push(")");
                    }
                    _ => {
                        out.push("c1 = ");
                        out.text_arg(&text);
                    }
                }
            }
            (ParamKind::Composite, _, Value::Composite(parts)) => {
                out.push("1 = 1");
                for (i, (part, component)) in parts.iter().zip(&param.components).enumerate() {
                    out.push(" AND ");
                    let cols: [&str; 5] = match i {
                        0 => ["a1", "a2", "''", "0", "0"],
                        1 => ["b1", "b2", "b3", "blo", "bhi"],
                        _ => ["''", "''", "c3", "0", "0"],
                    };
                    self.component_cond(component.kind, cols, part, out)?;
                }
            }
            (kind, m, v) => {
                return Err(unsupported(format!(
                    "a {} parameter with modifier {:?} and value {:?}",
                    kind.code(),
                    m,
                    v.render()
                )));
            }
        }
        Ok(())
    }

    fn component_cond(
        &self,
        kind: ParamKind,
        [t1, t2, num, lo, hi]: [&str; 5],
        v: &Value,
        out: &mut Sql,
    ) -> Result<(), StoreError> {
        match (kind, v) {
            (_, Value::Token(t)) => token_cond(t1, t2, t, out),
            (_, Value::String(s)) => self.string_cond(t1, t2, Modifier::None, s, out),
            (_, Value::Date(d)) => date_cond(lo, hi, d, out),
            (_, Value::Number(n)) => number_cond(num, n, out),
            (_, Value::Quantity(q)) => quantity_cond(t1, t2, num, q, false, out),
            (_, Value::Reference(r)) => match r {
                Reference::Local {
                    resource_type, id, ..
                } => {
                    out.push(&format!("{t1} = "));
                    out.text_arg(id);
                    match resource_type {
                        Some(rt) => {
                            out.push(&format!(" AND {t2} = "));
                            out.text_arg(rt);
                        }
                        None => out.push(&format!(" AND {t2} NOT IN ('', '#')")),
                    }
                }
                Reference::Url { url, .. } => {
                    out.push(&format!("{t1} = "));
                    out.text_arg(url);
                    out.push(&format!(" AND {t2} = ''"));
                }
            },
            (_, Value::Uri(u)) => {
                out.push(&format!("{t1} = "));
                out.text_arg(&match &u.version {
                    Some(v) => format!("{}|{v}", u.uri),
                    None => u.uri.clone(),
                });
            }
            (k, v) => {
                return Err(unsupported(format!(
                    "a {} component with value {}",
                    k.code(),
                    v.render()
                )));
            }
        }
        Ok(())
    }

    fn string_cond(&self, norm: &str, exact: &str, m: Modifier, s: &str, out: &mut Sql) {
        let n = kizuna_search::extract::normalize_string(s);
        match m {
            Modifier::Exact => {
                out.push(&format!("{norm} = "));
                out.text_arg(&n);
                out.push(&format!(" AND {exact} = "));
                out.text_arg(s);
            }
            Modifier::Contains => {
                out.push(match self.dialect {
                    Dialect::Sqlite => "instr(",
                    Dialect::Postgres => "strpos(",
                });
                out.push(&format!("{norm}, "));
                out.text_arg(&n);
                out.push(") > 0");
            }
            _ => prefix_cond(norm, &n, out),
        }
    }

    /// Positions (`lo`, `hi`: latitude, longitude) within the distance: a box on the index,
    /// then the great-circle distance (SQLite: [`kizuna_search::geo::distance_km`] itself,
    /// registered as `kizuna_distance_km`; PostgreSQL: the same formula in SQL).
    fn near_cond(&self, n: &kizuna_search::geo::NearValue, out: &mut Sql) {
        let ((lat_lo, lat_hi), lon) = n.bounding_box();
        out.push("c1 = '' AND c2 = '' AND c3 = '' AND lo >= ");
        out.int_arg(lat_lo);
        out.push(" AND lo <= ");
        out.int_arg(lat_hi);
        if let Some((lon_lo, lon_hi)) = lon {
            out.push(" AND hi >= ");
            out.int_arg(lon_lo);
            out.push(" AND hi <= ");
            out.int_arg(lon_hi);
        }
        match self.dialect {
            Dialect::Sqlite => {
                out.push(" AND kizuna_distance_km(");
                out.int_arg(n.latitude);
                out.push(", ");
                out.int_arg(n.longitude);
                out.push(", lo, hi)");
            }
            Dialect::Postgres => {
                // Arguments are cast: PostgreSQL would infer `integer` or `numeric`.
                let rad = |out: &mut Sql, col: &str, minus: Option<i64>| {
                    out.push(&format!("radians(({col}"));
                    if let Some(m) = minus {
                        out.push(" - CAST(");
                        out.int_arg(m);
                        out.push(" AS BIGINT)");
                    }
                    out.push(")::float8 / 1000000.0)");
                };
                // sin² as a product and in `geo::distance_km`'s order of operations, so that
                // both compute the same floating-point number.
                let sin_squared = |out: &mut Sql, col: &str, minus: i64| {
                    for i in 0..2 {
                        out.push(if i == 0 { "(sin(" } else { " * sin(" });
                        rad(out, col, Some(minus));
                        out.push(" / 2.0)");
                    }
                    out.push(")");
                };
                out.push(" AND 2.0 * ");
                out.push(&kizuna_search::geo::EARTH_RADIUS_KM.to_string());
                out.push(" * asin(least(1.0, sqrt(");
                sin_squared(out, "lo", n.latitude);
                out.push(" + cos(radians(CAST(");
                out.int_arg(n.latitude);
                out.push(" AS BIGINT)::float8 / 1000000.0)) * cos(");
                rad(out, "lo", None);
                out.push(") * ");
                sin_squared(out, "hi", n.longitude);
                out.push(")))");
            }
        }
        out.push(" <= CAST(");
        out.int_arg(n.distance_mm);
        out.push(" AS BIGINT) / 1000000.0");
    }

    fn sort_expr(&self, key: &SortKey, types: &[String], out: &mut Sql) -> Result<(), StoreError> {
        let agg = if key.descending { "max" } else { "min" };
        let (expr, extra) = match (key.param.code.as_str(), key.param.kind) {
            ("_id", _) => {
                out.push("r.id");
                return Ok(());
            }
            ("_lastUpdated", _) => {
                out.push("r.last_updated");
                return Ok(());
            }
            (_, ParamKind::Date) => (if key.descending { "x.hi" } else { "x.lo" }, ""),
            (_, ParamKind::Token) => ("x.c1", " AND x.c1 <> ''"),
            // A range sorts by its low bound ascending, its high bound descending.
            (_, ParamKind::Number) if key.descending && key.param.on_range => {
                ("CASE WHEN x.c2 = '' THEN x.c1 ELSE x.c2 END", "")
            }
            (_, ParamKind::String | ParamKind::Number | ParamKind::Uri) => ("x.c1", ""),
            (_, ParamKind::Quantity) => ("x.c3", ""),
            (_, ParamKind::Reference) => ("x.c2 || '/' || x.c1", " AND x.c2 NOT IN ('', '#')"),
            (_, kind) => {
                return Err(unsupported(format!(
                    "sorting by a {} parameter ({})",
                    kind.code(),
                    key.param.code
                )));
            }
        };
        out.push(&format!(
            "(SELECT {agg}({expr}) FROM search_index x WHERE x.res_key = r.res_key AND x.param IN ("
        ));
        list(out, &keys_of(&key.param.code, types), |o, k| {
            o.arg(Arg::I32(*k))
        });
        out.push(&format!("){extra}"));
        if key.param.kind == ParamKind::Quantity {
            // The canonical rows hold other numbers (grams where the value is in mg).
            out.push(" AND x.c2 <> ");
            out.text_arg(CANONICAL_MARK);
        }
        out.push(")");
        Ok(())
    }
}

/// `param = k` for one key (the common case, and the plainest plan), `param IN (…)` for more.
fn param_in(keys: &[i32], out: &mut Sql) {
    if let [one] = keys {
        out.push("param = ");
        out.arg(Arg::I32(*one));
    } else {
        out.push("param IN (");
        list(out, keys, |o, k| o.arg(Arg::I32(*k)));
        out.push(")");
    }
}

fn prefix_cond(col: &str, prefix: &str, out: &mut Sql) {
    out.push(&format!("{col} >= "));
    out.text_arg(prefix);
    if let Some(upper) = prefix_upper(prefix) {
        out.push(&format!(" AND {col} < "));
        out.text_arg(&upper);
    }
}

fn token_cond(code_col: &str, system_col: &str, t: &Token, out: &mut Sql) {
    match (&t.system, &t.code) {
        (None, Some(c)) => {
            out.push(&format!("{code_col} = "));
            out.text_arg(c);
        }
        (Some(s), Some(c)) => {
            out.push(&format!("{code_col} = "));
            out.text_arg(c);
            out.push(&format!(" AND {system_col} = "));
            out.text_arg(s);
            if code_col == "c1" {
                // The whole index prefix is fixed, so rows come in res_key order.
                out.push(" AND c3 = '' AND lo = 0 AND hi = 0");
            }
        }
        (Some(s), None) => {
            out.push(&format!("{system_col} = "));
            out.text_arg(s);
        }
        (None, None) => out.push("1 = 1"),
    }
}

fn reference_cond(
    id_col: &str,
    type_col: &str,
    version_col: &str,
    param: &SearchParam,
    r: &Reference,
    out: &mut Sql,
) {
    match r {
        Reference::Local {
            resource_type,
            id,
            version,
        } => {
            out.push(&format!("{id_col} = "));
            out.text_arg(id);
            let implied = match (resource_type, param.targets.as_slice()) {
                (Some(t), _) => Some(t.as_str()),
                (None, [only]) => Some(only.as_str()),
                _ => None,
            };
            match implied {
                Some(t) => {
                    out.push(&format!(" AND {type_col} = "));
                    out.text_arg(t);
                }
                None => out.push(&format!(" AND {type_col} NOT IN ('', '#')")),
            }
            if let Some(v) = version {
                out.push(&format!(" AND {version_col} = "));
                out.text_arg(v);
            }
        }
        Reference::Url { url, version } => {
            out.push(&format!("{id_col} = "));
            out.text_arg(url);
            out.push(&format!(" AND {type_col} = ''"));
            if let Some(v) = version {
                out.push(&format!(" AND {version_col} = "));
                out.text_arg(v);
            }
        }
    }
}

/// Date semantics over a row's `[lo, hi)` (see `kizuna_search::evaluate`).
fn date_cond(lo: &str, hi: &str, d: &DateRange, out: &mut Sql) {
    let (sl, sh) = (d.start_micros, d.end_micros);
    let eq = |out: &mut Sql| {
        out.push(&format!("({lo} >= "));
        out.int_arg(sl);
        out.push(&format!(" AND {hi} <= "));
        out.int_arg(sh);
        out.push(")");
    };
    let cmp = |out: &mut Sql, col: &str, op: &str, v: i64| {
        out.push(&format!("{col} {op} "));
        out.int_arg(v);
    };
    match d.prefix {
        Prefix::Eq => eq(out),
        Prefix::Ne => {
            out.push("NOT ");
            eq(out);
        }
        Prefix::Gt => cmp(out, hi, ">", sh),
        Prefix::Lt => cmp(out, lo, "<", sl),
        Prefix::Ge => {
            out.push("(");
            cmp(out, hi, ">", sh);
            out.push(" OR ");
            eq(out);
            out.push(")");
        }
        Prefix::Le => {
            out.push("(");
            cmp(out, lo, "<", sl);
            out.push(" OR ");
            eq(out);
            out.push(")");
        }
        Prefix::Sa => cmp(out, lo, ">=", sh),
        Prefix::Eb => cmp(out, hi, "<=", sl),
        Prefix::Ap => {
            let w = sh.saturating_sub(sl) / 10;
            cmp(out, lo, "<", sh.saturating_add(w));
            out.push(" AND ");
            cmp(out, hi, ">", sl.saturating_sub(w));
        }
    }
}

/// Number semantics over a decimal key column (see `kizuna_search::evaluate`): a point.
fn number_cond(col: &str, n: &NumberValue, out: &mut Sql) {
    number_range_cond(col, col, n, out)
}

/// The number rules on rows whose `[lo_col, hi_col]` hold a range's keys (a point's are one
/// column twice).
fn number_range_cond(lo_col: &str, hi_col: &str, n: &NumberValue, out: &mut Sql) {
    let cmp = |out: &mut Sql, col: &str, op: &str, d: &Decimal| {
        out.push(&format!("{col} {op} "));
        out.text_arg(&decimal_key(d));
    };
    match n.prefix {
        Prefix::Eq | Prefix::Ne => {
            if n.prefix == Prefix::Ne {
                out.push("NOT ");
            }
            out.push("(");
            cmp(out, lo_col, ">=", &n.low);
            out.push(" AND ");
            cmp(out, hi_col, "<", &n.high);
            out.push(")");
        }
        Prefix::Gt => cmp(out, hi_col, ">", &n.value),
        Prefix::Sa => cmp(out, lo_col, ">", &n.value),
        Prefix::Lt => cmp(out, lo_col, "<", &n.value),
        Prefix::Eb => cmp(out, hi_col, "<", &n.value),
        Prefix::Ge => cmp(out, hi_col, ">=", &n.value),
        Prefix::Le => cmp(out, lo_col, "<=", &n.value),
        Prefix::Ap => {
            cmp(out, lo_col, "<=", &n.high);
            out.push(" AND ");
            cmp(out, hi_col, ">=", &n.low);
        }
    }
}

/// A number parameter's rows: points (`c2` empty), and for a parameter that can search a
/// `Range`, ranges (`[c1, c2]`).
fn number_param_cond(param: &SearchParam, n: &NumberValue, out: &mut Sql) {
    if !param.on_range {
        return number_cond("c1", n, out);
    }
    out.push("((c2 = '' AND ");
    number_cond("c1", n, out);
    out.push(") OR (c2 <> '' AND ");
    number_range_cond("c1", "c2", n, out);
    out.push("))");
}

/// A quantity's rows; with `canonical` (not in composites), a UCUM value in a unit `ucum`
/// understands is compared in canonical units against the canonical rows.
fn quantity_cond(
    code_col: &str,
    system_col: &str,
    num_col: &str,
    q: &QuantityValue,
    canonical: bool,
    out: &mut Sql,
) {
    if let Some((unit, n)) = q.canonical().filter(|_| canonical) {
        number_cond(num_col, &n, out);
        out.push(&format!(" AND {code_col} = "));
        out.text_arg(&unit);
        out.push(&format!(" AND {system_col} = "));
        out.text_arg(CANONICAL_MARK);
        return;
    }
    number_cond(num_col, &q.number, out);
    match (&q.system, &q.code) {
        (Some(s), Some(c)) => {
            out.push(&format!(" AND {code_col} = "));
            out.text_arg(c);
            out.push(&format!(" AND {system_col} = "));
            out.text_arg(s);
        }
        (None, Some(c)) => {
            out.push(&format!(" AND {code_col} = "));
            out.text_arg(c);
            out.push(&format!(" AND {system_col} <> "));
            out.text_arg(CANONICAL_MARK);
        }
        (Some(s), None) => {
            out.push(&format!(" AND {system_col} = "));
            out.text_arg(s);
        }
        (None, None) => {
            // Any unit; the unit and canonical rows repeat the value, so they are left out.
            out.push(&format!(" AND {system_col} NOT IN ("));
            out.text_arg(UNIT_MARK);
            out.push(", ");
            out.text_arg(CANONICAL_MARK);
            out.push(")");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_upper_bounds_every_extension() {
        assert_eq!(prefix_upper("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper(""), None);
        assert_eq!(prefix_upper("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper("\u{D7FF}").as_deref(), Some("\u{E000}"));
        for s in ["ab", "abc", "ab\u{10FFFF}\u{10FFFF}", "abz"] {
            assert!(s >= "ab" && s < prefix_upper("ab").unwrap().as_str());
        }
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let mut s = Sql::default();
        s.push("a = ");
        s.int_arg(1);
        s.push(" AND b = ");
        s.text_arg("x");
        assert_eq!(s.numbered(), "a = $1 AND b = $2");
    }
}
