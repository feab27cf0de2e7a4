//! Search (`GET [type]?…`, `POST [type]/_search`, system and compartment search) and
//! `Patient/{id}/$everything`, answered as `searchset` Bundles.
//!
//! A request is parsed by `kizuna-search` into a [`Query`], run by the store one page at a time
//! (keyset paging: the `_page` cursor is the sort keys and position of the row a page ends at,
//! so pages neither repeat nor skip resources while others are written), and extended with
//! `_include`/`_revinclude` targets. Includes are never cut silently: past [`MAX_INCLUDES`] per
//! page the Bundle carries a warning saying so.

mod subset;

use crate::{Failure, Payload, Records, Reply, Result, check_id};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kizuna_fhir::{Issue, IssueCode, operation_outcome, r4};
use kizuna_search::registry::{self, ParamKind};
use kizuna_search::{Handling, Include, Query, Summary, Total};
use kizuna_store::index::stored_keys;
use kizuna_store::{Compartment, Cursor, Hit, SearchSpec, SortValue};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// The most resources `_include`/`_revinclude` add to one page (beyond: a warning).
pub const MAX_INCLUDES: usize = 1000;
/// How long one search may run before it is cancelled.
pub const SEARCH_BUDGET: Duration = Duration::from_secs(10);
/// `$everything`'s page size when the request gives no `_count`.
const EVERYTHING_COUNT: u32 = 1000;

/// A search request, decoded from HTTP by the server.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The searched type; None for a system-level search.
    pub rtype: Option<String>,
    /// `Patient/{id}/[type]`: only resources in this patient's compartment.
    pub patient: Option<String>,
    /// Decoded query (and form) pairs.
    pub pairs: Vec<(String, String)>,
    pub handling: Handling,
    /// The server's base URL, for `fullUrl` and links.
    pub base: String,
}

/// A page cursor: where the page ended (or began, for `previous`).
fn encode_cursor(c: &Cursor, backward: bool) -> String {
    let keys: Vec<Value> = c
        .keys
        .iter()
        .map(|k| match k {
            SortValue::Null => Value::Null,
            SortValue::Int(i) => json!(i),
            SortValue::Text(t) => json!(t),
        })
        .collect();
    let v = json!({"r": c.res_key, "k": keys, "b": backward});
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_cursor(text: &str, keys: usize) -> Result<(Cursor, bool)> {
    let bad = || {
        Failure::new(
            400,
            IssueCode::Invalid,
            Some("_page".into()),
            "_page is not a cursor of this search; follow the links of the Bundle, or start again without _page",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let res_key = v["r"].as_i64().ok_or_else(bad)?;
    let list = v["k"].as_array().ok_or_else(bad)?;
    if list.len() != keys {
        return Err(bad());
    }
    let keys = list
        .iter()
        .map(|k| match k {
            Value::Null => Ok(SortValue::Null),
            Value::Number(n) => n.as_i64().map(SortValue::Int).ok_or_else(bad),
            Value::String(s) => Ok(SortValue::Text(s.clone())),
            _ => Err(bad()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((Cursor { keys, res_key }, v["b"].as_bool().unwrap_or(false)))
}

/// The index keys of the reference parameters that put a resource of `rtype` in a patient's
/// compartment.
fn compartment_keys(rtype: &str) -> Vec<i32> {
    r4().patient_compartment(rtype)
        .iter()
        .flat_map(|code| stored_keys(rtype, code, ""))
        .collect()
}

/// What a page of results is, written out.
struct Page {
    hits: Vec<Hit>,
    included: Vec<Hit>,
    total: Option<u64>,
    next: Option<String>,
    previous: Option<String>,
    warnings: Vec<Issue>,
}

impl Records {
    /// Every match of a search, page by page (following `next`; 1,000 a page unless `pairs`
    /// say `_count`), at most `limit`: the resources, and whether the limit cut the list.
    pub async fn search_all(
        &self,
        rtype: &str,
        mut pairs: Vec<(String, String)>,
        limit: usize,
    ) -> Result<(Vec<Value>, bool)> {
        if !pairs.iter().any(|(k, _)| k == "_count") {
            pairs.push(("_count".into(), limit.clamp(1, 1000).to_string()));
        }
        let mut out = Vec::new();
        loop {
            let reply = self
                .search(SearchRequest {
                    rtype: Some(rtype.to_string()),
                    patient: None,
                    pairs: pairs.clone(),
                    handling: Handling::Strict,
                    base: String::new(),
                })
                .await?;
            let bundle: Value = match &reply.payload {
                Payload::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
                Payload::Json(v) => v.clone(),
                _ => Value::Null,
            };
            for e in bundle["entry"].as_array().into_iter().flatten() {
                if e["search"]["mode"] != "include" {
                    if out.len() >= limit {
                        return Ok((out, true));
                    }
                    out.push(e["resource"].clone());
                }
            }
            let next = bundle["link"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .and_then(|u| u.split_once('?'))
                .map(|(_, q)| form_urlencoded::parse(q.as_bytes()).into_owned().collect());
            match next {
                Some(p) => pairs = p,
                None => return Ok((out, false)),
            }
        }
    }

    /// Runs a search and answers a `searchset` Bundle.
    pub async fn search(&self, req: SearchRequest) -> Result<Reply> {
        if let Some(t) = &req.rtype {
            crate::check_type(t)?;
        }
        // Measurements from patients' own devices live in the time series, not as resources.
        if req.rtype.as_deref() == Some("Observation")
            && crate::phr::search::is_phr_search(&req.pairs)
        {
            if let Some(id) = &req.patient {
                check_id(id)?;
            }
            return self
                .phr_search(&req.pairs, req.patient.as_deref(), req.handling, &req.base)
                .await;
        }
        let (query, mut warnings) =
            kizuna_search::parse(req.rtype.as_deref(), &req.pairs, req.handling)
                .map_err(|issues| Failure::issues(400, issues))?;
        let types = match (&req.rtype, query.types.is_empty()) {
            (Some(t), _) => vec![t.clone()],
            (None, false) => query.types.clone(),
            (None, true) => r4().resource_types().to_vec(),
        };
        let compartment = match &req.patient {
            Some(id) => {
                check_id(id)?;
                for t in &types {
                    if r4().patient_compartment(t).is_empty() && t != "Patient" {
                        return Err(Failure::new(
                            400,
                            IssueCode::NotSupported,
                            None,
                            format!("{t} resources are never in a patient's compartment"),
                        ));
                    }
                }
                Some(Compartment {
                    owner_type: "Patient".into(),
                    owner_id: id.clone(),
                    keys: types.iter().flat_map(|t| compartment_keys(t)).collect(),
                })
            }
            None => None,
        };
        let link_base = match (&req.patient, &req.rtype) {
            (Some(id), Some(t)) => format!("{}/Patient/{id}/{t}", req.base),
            (_, Some(t)) => format!("{}/{t}", req.base),
            (_, None) => req.base.clone(),
        };
        let page = self.page(&query, types, compartment, &mut warnings).await?;
        Ok(bundle_reply(&query, page, &link_base, &req.base, warnings))
    }

    /// `Patient/{id}/$everything`: the patient, every resource in its compartment, and the
    /// resources they refer to (practitioners, organizations, medications …), paged.
    pub async fn everything(
        &self,
        id: &str,
        pairs: &[(String, String)],
        base: &str,
    ) -> Result<Reply> {
        check_id(id)?;
        if !matches!(self.store().read("Patient", id).await?, Some(v) if !v.is_deleted())
            || !self.may_see("Patient", id).await?
        {
            return Err(crate::not_found("Patient", id));
        }
        let mut types: Vec<String> = r4()
            .resource_types()
            .iter()
            .filter(|t| *t == "Patient" || !r4().patient_compartment(t).is_empty())
            .cloned()
            .collect();
        let mut warnings = Vec::new();
        let mut search_pairs = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "_type" => {
                    let wanted: Vec<&str> = v.split(',').map(str::trim).collect();
                    for w in &wanted {
                        if !types.iter().any(|t| t == w) {
                            return Err(Failure::new(
                                400,
                                IssueCode::Value,
                                Some("_type".into()),
                                format!("'{w}' is not a resource type of a patient's compartment"),
                            ));
                        }
                    }
                    types.retain(|t| wanted.contains(&t.as_str()));
                    // Kept in the query, so that the page links keep it too.
                    search_pairs.push((k.clone(), v.clone()));
                }
                "_since" => search_pairs.push(("_lastUpdated".to_string(), format!("ge{v}"))),
                "_count" | "_page" => search_pairs.push((k.clone(), v.clone())),
                "_format" | "_pretty" => {}
                other => warnings.push(Issue::warning(
                    IssueCode::NotSupported,
                    Some(other.into()),
                    format!("$everything ignores '{other}' (it takes _since, _type and _count)"),
                )),
            }
        }
        if !search_pairs.iter().any(|(k, _)| k == "_count") {
            search_pairs.push(("_count".into(), EVERYTHING_COUNT.to_string()));
        }
        let (query, more) = kizuna_search::parse(None, &search_pairs, Handling::Strict)
            .map_err(|issues| Failure::issues(400, issues))?;
        warnings.extend(more);
        let compartment = Compartment {
            owner_type: "Patient".into(),
            owner_id: id.to_string(),
            keys: types.iter().flat_map(|t| compartment_keys(t)).collect(),
        };
        let link_base = format!("{base}/Patient/{id}/$everything");
        let mut page = self
            .page(&query, types, Some(compartment), &mut warnings)
            .await?;
        // The resources they refer to that are outside the compartment.
        let outside = reference_keys(page.hits.iter().map(|h| h.version.rtype.as_str()));
        let from: Vec<i64> = page.hits.iter().map(|h| h.res_key).collect();
        let mut seen: HashSet<i64> = from.iter().copied().collect();
        let found = self
            .store()
            .referenced(
                &from,
                &outside,
                None,
                MAX_INCLUDES + 1,
                self.access().map(|a| &**a),
            )
            .await?;
        for h in found {
            if r4().patient_compartment(&h.version.rtype).is_empty()
                && h.version.rtype != "Patient"
                && seen.insert(h.res_key)
            {
                page.included.push(h);
            }
        }
        limit_includes(&mut page);
        Ok(bundle_reply(&query, page, &link_base, base, warnings))
    }

    /// One page of matches, with its includes.
    async fn page(
        &self,
        query: &Query,
        types: Vec<String>,
        compartment: Option<Compartment>,
        warnings: &mut Vec<Issue>,
    ) -> Result<Page> {
        let (cursor, backward) = match &query.page {
            Some(p) => {
                let (c, b) = decode_cursor(p, query.sort.len())?;
                (Some(c), b)
            }
            None => (None, false),
        };
        let count_only = count_only(query);
        let spec = SearchSpec {
            types,
            filters: query.filters.clone(),
            sort: query.sort.clone(),
            count: if count_only { 0 } else { query.count as usize },
            cursor: cursor.clone(),
            backward,
            total: count_only || matches!(query.total, Some(Total::Accurate | Total::Estimate)),
            budget: SEARCH_BUDGET,
            compartment,
            access: self.access().cloned(),
        };
        let result = self.store().search(spec).await?;
        let first_page = cursor.is_none();
        let total = result.total.or_else(|| {
            // Known for free when everything fits on the first page.
            (first_page && !result.more && query.total != Some(Total::None))
                .then_some(result.hits.len() as u64)
        });
        let hits = result.hits;
        let (after_more, before_more) = if backward {
            (true, result.more)
        } else {
            (result.more, !first_page)
        };
        let with_page = |c: &Hit, back: bool| {
            let mut q = query.clone();
            q.page = Some(encode_cursor(
                &Cursor {
                    keys: c.keys.clone(),
                    res_key: c.res_key,
                },
                back,
            ));
            q.canonical_string()
        };
        let next = after_more
            .then(|| hits.last().map(|h| with_page(h, false)))
            .flatten();
        let previous = before_more
            .then(|| hits.first().map(|h| with_page(h, true)))
            .flatten();
        let mut page = Page {
            hits,
            included: Vec::new(),
            total,
            next,
            previous,
            warnings: Vec::new(),
        };
        self.includes(query, &mut page).await?;
        warnings.append(&mut page.warnings);
        Ok(page)
    }

    /// Adds the `_include` and `_revinclude` targets of the page (iterating where asked).
    async fn includes(&self, query: &Query, page: &mut Page) -> Result<()> {
        if query.includes.is_empty() && query.revincludes.is_empty() {
            return Ok(());
        }
        let mut seen: HashSet<i64> = page.hits.iter().map(|h| h.res_key).collect();
        let mut frontier: Vec<Hit> = page.hits.clone();
        let mut round = 0;
        while !frontier.is_empty() && page.included.len() <= MAX_INCLUDES {
            let mut next = Vec::new();
            for inc in &query.includes {
                if round > 0 && !inc.iterate {
                    continue;
                }
                let from: Vec<&Hit> = frontier
                    .iter()
                    .filter(|h| {
                        inc.source_type
                            .as_ref()
                            .is_none_or(|s| *s == h.version.rtype)
                    })
                    .collect();
                if from.is_empty() {
                    continue;
                }
                let keys = include_keys(inc, &from);
                let keys_from: Vec<i64> = from.iter().map(|h| h.res_key).collect();
                let found = self
                    .store()
                    .referenced(
                        &keys_from,
                        &keys,
                        inc.target_type.as_deref(),
                        MAX_INCLUDES + 1,
                        self.access().map(|a| &**a),
                    )
                    .await?;
                next.extend(found.into_iter().filter(|h| seen.insert(h.res_key)));
            }
            for inc in &query.revincludes {
                if round > 0 && !inc.iterate {
                    continue;
                }
                // `Type:param`; `Type:*` and `*` follow every reference parameter of that type,
                // or of every type.
                let keys = match (&inc.source_type, inc.param) {
                    (Some(source), Some(param)) => stored_keys(source, &param.code, ""),
                    (Some(source), None) => reference_keys(std::iter::once(source.as_str())),
                    (None, _) => reference_keys(r4().resource_types().iter().map(String::as_str)),
                };
                let targets: Vec<(String, String)> = frontier
                    .iter()
                    .filter(|h| {
                        inc.target_type
                            .as_ref()
                            .is_none_or(|t| *t == h.version.rtype)
                    })
                    .map(|h| (h.version.rtype.clone(), h.version.id.clone()))
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                let found = self
                    .store()
                    .referring(
                        &targets,
                        &keys,
                        MAX_INCLUDES + 1,
                        self.access().map(|a| &**a),
                    )
                    .await?;
                next.extend(found.into_iter().filter(|h| seen.insert(h.res_key)));
            }
            page.included.extend(next.iter().cloned());
            frontier = next;
            round += 1;
        }
        limit_includes(page);
        Ok(())
    }
}

/// Index keys of the reference parameters an `_include` follows from resources `from`.
fn include_keys(inc: &Include, from: &[&Hit]) -> Vec<i32> {
    match (&inc.source_type, inc.param) {
        (Some(t), Some(p)) => stored_keys(t, &p.code, ""),
        _ => reference_keys(from.iter().map(|h| h.version.rtype.as_str())),
    }
}

/// Index keys of every reference parameter of the given resource types.
fn reference_keys<'a>(types: impl Iterator<Item = &'a str>) -> Vec<i32> {
    types
        .collect::<HashSet<_>>()
        .into_iter()
        .flat_map(|t| {
            registry::params_of(t)
                .into_iter()
                .filter(|p| p.kind == ParamKind::Reference)
                .flat_map(move |p| stored_keys(t, &p.code, ""))
        })
        .collect()
}

/// Whether the search asks only for the number of matches.
fn count_only(query: &Query) -> bool {
    query.count == 0 || query.summary == Some(Summary::Count)
}

/// Cuts the includes at [`MAX_INCLUDES`], saying so in the Bundle.
fn limit_includes(page: &mut Page) {
    if page.included.len() > MAX_INCLUDES {
        page.included.truncate(MAX_INCLUDES);
        page.warnings.push(Issue::warning(
            IssueCode::TooCostly,
            Some("_include".into()),
            format!(
                "more than {MAX_INCLUDES} resources would be included in this page; only the first {MAX_INCLUDES} are; ask for a smaller _count"
            ),
        ));
    }
}

/// The Bundle, written as text: stored bodies are spliced in as they are unless `_summary` or
/// `_elements` cut them down.
fn bundle_reply(
    query: &Query,
    page: Page,
    link_base: &str,
    base: &str,
    mut warnings: Vec<Issue>,
) -> Reply {
    warnings.extend(page.warnings);
    let link = |relation: &str, qs: &str| json!({"relation": relation, "url": format!("{link_base}?{qs}")});
    let mut links = vec![link("self", &query.canonical_string())];
    if let Some(n) = &page.next {
        links.push(link("next", n));
    }
    if let Some(p) = &page.previous {
        links.push(link("previous", p));
    }
    let mut head = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "searchset",
    });
    if let Some(t) = page.total {
        head["total"] = json!(t);
    }
    head["link"] = Value::Array(links);
    let mut text = serde_json::to_string(&head).unwrap_or_default();
    text.pop(); // the closing brace
    text.push_str(",\"entry\":[");
    let mut first = true;
    let mut entry = |text: &mut String, body: &str, fullurl: &str, mode: &str| {
        if !first {
            text.push(',');
        }
        first = false;
        text.push_str("{\"fullUrl\":");
        text.push_str(&serde_json::to_string(fullurl).unwrap_or_default());
        text.push_str(",\"resource\":");
        text.push_str(body);
        text.push_str(",\"search\":{\"mode\":\"");
        text.push_str(mode);
        text.push_str("\"}}");
    };
    let subsetting = subset::subsets(query.summary, &query.elements);
    if !count_only(query) {
        for (hits, mode) in [(&page.hits, "match"), (&page.included, "include")] {
            for h in hits.iter() {
                let Some(body) = &h.version.body else {
                    continue;
                };
                let url = format!("{base}/{}/{}", h.version.rtype, h.version.id);
                if subsetting && mode == "match" {
                    let mut v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                    subset::apply(&mut v, query.summary, &query.elements);
                    entry(&mut text, &v.to_string(), &url, mode);
                } else {
                    entry(&mut text, body, &url, mode);
                }
            }
        }
    }
    if !warnings.is_empty() {
        let oo = operation_outcome(&warnings).to_string();
        entry(
            &mut text,
            &oo,
            &format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            "outcome",
        );
    }
    text.push_str("]}");
    Reply {
        status: 200,
        payload: Payload::Text(text),
        location: None,
        issues: Vec::new(),
    }
}
