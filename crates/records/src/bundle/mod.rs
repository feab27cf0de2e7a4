//! Batch and transaction Bundles (`POST [base]` with a Bundle of type batch or transaction).
//!
//! A transaction is planned whole — identities assigned, `urn:uuid:` and conditional references
//! rewritten, every resource validated — then committed as one store batch (all or nothing),
//! in the order the specification requires: DELETE, POST, PUT/PATCH, then GET. A batch runs its
//! entries independently (and concurrently, so they share the store's group commits).

use crate::{
    Criteria, Failure, IfNoneExist, Payload, REPLANS, Records, Reply, Result, check_id, check_type,
    gone, if_match_condition, incoming, multiple_matches, new_id, parse_patch, too_busy,
    version_conflict, with_id,
};
use base64::Engine as _;
use futures::StreamExt as _;
use kizuna_fhir::{Issue, IssueCode, operation_outcome};
use kizuna_store::{
    Batch, Condition, Method, OnFail, StoreError, Version, Write, WriteOutcome, format_instant,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

mod entry;
mod references;
mod response;

pub use entry::parse_etag;
use entry::*;
pub use references::rewrite_references;
use references::*;
pub use response::status_line;
use response::*;

/// Entries of a batch Bundle processed at once.
const BATCH_CONCURRENCY: usize = 16;

/// What the client wants back (`Prefer: return=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verb {
    Delete,
    Post,
    Put,
    Patch,
    Get,
}

/// One entry's request, parsed.
#[derive(Debug, Clone)]
struct Entry {
    index: usize,
    verb: Verb,
    rtype: String,
    id: Option<String>,
    /// `_history/[vid]` of a GET.
    vid: Option<String>,
    query: Option<String>,
    full_url: Option<String>,
    resource: Option<Value>,
    if_none_exist: Option<String>,
    if_match: Option<u64>,
}

impl Records {
    /// Processes a batch or transaction Bundle; the reply holds the response Bundle.
    pub async fn bundle(&self, body: Value, base: &str, prefer: Prefer) -> Result<Reply> {
        let kind = match body.get("resourceType").and_then(Value::as_str) {
            Some("Bundle") => body
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            Some(other) => {
                return Err(Failure::new(
                    400,
                    IssueCode::Invalid,
                    Some("resourceType".into()),
                    format!(
                        "POST to the base URL takes a batch or transaction Bundle, not a {other}"
                    ),
                ));
            }
            None => {
                return Err(Failure::new(
                    400,
                    IssueCode::Required,
                    Some("resourceType".into()),
                    "the body has no resourceType",
                ));
            }
        };
        let entries = body
            .get("entry")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match kind.as_str() {
            "transaction" => {
                let parsed = parse_entries(&entries, base, true)?;
                self.transaction(parsed, base, prefer).await
            }
            "batch" => self.batch(&entries, base, prefer).await,
            other => Err(Failure::new(
                400,
                IssueCode::Invalid,
                Some("Bundle.type".into()),
                format!(
                    "Bundle.type must be 'batch' or 'transaction' to be processed, not '{other}'"
                ),
            )),
        }
    }

    async fn batch(&self, entries: &[Value], base: &str, prefer: Prefer) -> Result<Reply> {
        // Parsed up front (owned), then run concurrently (sharing group commits), a bounded
        // number at a time, answered in order.
        let parsed: Vec<std::result::Result<Entry, Failure>> = entries
            .iter()
            .enumerate()
            .map(|(i, raw)| parse_entry(i, raw, base))
            .collect();
        let responses: Vec<Value> = futures::stream::iter(parsed.into_iter().enumerate())
            .map(|(i, parsed)| self.batch_entry(i, parsed, base, prefer))
            .buffered(BATCH_CONCURRENCY)
            .collect()
            .await;
        Ok(bundle_reply("batch-response", responses))
    }

    async fn batch_entry(
        &self,
        i: usize,
        parsed: std::result::Result<Entry, Failure>,
        base: &str,
        prefer: Prefer,
    ) -> Value {
        match parsed {
            Ok(e) => match self.single(&e, base).await {
                Ok(r) => response_entry(&r, base, prefer),
                Err(f) => failure_entry(&f, i),
            },
            Err(f) => failure_entry(&f, i),
        }
    }

    /// One entry of a batch as the corresponding single interaction.
    async fn single(&self, e: &Entry, base: &str) -> Result<Reply> {
        let resource = || e.resource.clone().unwrap_or(Value::Null);
        match (e.verb, &e.id, &e.query) {
            (Verb::Post, _, _) => {
                self.create(&e.rtype, resource(), e.if_none_exist.as_deref())
                    .await
            }
            (Verb::Put, Some(id), _) => self.update(&e.rtype, id, resource(), e.if_match).await,
            (Verb::Put, None, Some(q)) => {
                self.conditional_update(&e.rtype, q, resource(), e.if_match)
                    .await
            }
            (Verb::Patch, Some(id), _) => {
                self.patch(&e.rtype, id, patch_document(e)?, e.if_match)
                    .await
            }
            (Verb::Delete, Some(id), _) => self.delete(&e.rtype, id, e.if_match).await,
            (Verb::Delete, None, Some(q)) => self.conditional_delete(&e.rtype, q).await,
            (Verb::Get, _, _) => self.get(e, base).await,
            _ => Err(Failure::new(
                400,
                IssueCode::Invalid,
                None,
                "this request needs an id or criteria in its url",
            )),
        }
    }

    /// GET entries: read, vread, or a search by identifier/_id.
    async fn get(&self, e: &Entry, base: &str) -> Result<Reply> {
        match (&e.id, &e.vid, &e.query) {
            (Some(id), Some(v), _) => self.vread(&e.rtype, id, v).await,
            (Some(id), None, _) => self.read(&e.rtype, id).await,
            (None, _, Some(q)) => self.find_by_criteria(&e.rtype, q, base).await,
            _ => Err(Failure::new(
                400,
                IssueCode::Invalid,
                None,
                "a GET entry needs a resource id or search criteria",
            )),
        }
    }

    /// `GET [type]?criteria` in a Bundle: a search, answered as a searchset.
    pub async fn find_by_criteria(&self, rtype: &str, query: &str, base: &str) -> Result<Reply> {
        check_type(rtype)?;
        let pairs = form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
            .into_owned()
            .collect();
        self.search(crate::SearchRequest {
            rtype: Some(rtype.to_string()),
            patient: None,
            pairs,
            handling: kizuna_search::Handling::Lenient,
            base: base.to_string(),
        })
        .await
    }

    async fn transaction(
        &self,
        mut entries: Vec<Entry>,
        base: &str,
        prefer: Prefer,
    ) -> Result<Reply> {
        // The processing order the specification requires; responses keep the request order.
        entries.sort_by_key(|e| (e.verb, e.index));
        let mut last_conflict = None;
        for _ in 0..REPLANS {
            let Some(plan) = self.plan(&entries).await? else {
                last_conflict = Some(too_busy());
                continue;
            };
            let Plan {
                batch,
                outcomes,
                write_of,
                condition_entry,
            } = plan;
            let written = match self.commit_as_caller(batch).await? {
                Ok(w) => w,
                Err(StoreError::ConditionFailed {
                    on_fail: OnFail::Retry,
                    ..
                }) => {
                    last_conflict = Some(too_busy());
                    continue;
                }
                Err(StoreError::ConditionFailed { index, .. }) => {
                    return Err(precondition_failure(&entries, &condition_entry, index));
                }
                Err(e) => return Err(e.into()),
            };
            let mut responses: Vec<(usize, Value)> = Vec::with_capacity(entries.len());
            for (pos, e) in entries.iter().enumerate() {
                let reply = match (&outcomes[pos], write_of[pos]) {
                    (Planned::Write, Some(w)) => written_entry_reply(e, &written[w]),
                    (Planned::Existing(v), _) => Ok(Reply::version(200, v.clone())),
                    (Planned::NothingToDelete, _) => Ok(Reply {
                        status: 204,
                        payload: Payload::None,
                        location: None,
                        issues: vec![],
                    }),
                    (Planned::Get, _) => self.get(e, base).await,
                    (Planned::Write, None) => unreachable_reply(),
                };
                let value = match reply {
                    Ok(r) => response_entry(&r, base, prefer),
                    Err(f) => failure_entry(&f, e.index),
                };
                responses.push((e.index, value));
            }
            responses.sort_by_key(|(i, _)| *i);
            return Ok(bundle_reply(
                "transaction-response",
                responses.into_iter().map(|(_, v)| v).collect(),
            ));
        }
        Err(last_conflict.unwrap_or_else(too_busy))
    }

    /// Assigns identities, resolves criteria and references, validates, and builds the batch.
    /// None: the state changed while planning; plan again.
    async fn plan(&self, entries: &[Entry]) -> Result<Option<Plan>> {
        let profiles = self.profiles().current();
        let mut conditions: Vec<Condition> = Vec::new();
        let mut condition_entry: Vec<usize> = Vec::new();
        let mut outcomes = vec![Planned::Write; entries.len()];
        let mut targets: Vec<Option<(String, String)>> = vec![None; entries.len()];
        let mut urls: HashMap<String, String> = HashMap::new();
        let mut problems: Vec<Issue> = Vec::new();
        let mut status = 400;

        for (pos, e) in entries.iter().enumerate() {
            let at = format!("Bundle.entry[{}]", e.index);
            let target: Option<String> = match (e.verb, &e.id, &e.query) {
                (Verb::Get, _, _) => {
                    outcomes[pos] = Planned::Get;
                    None
                }
                (Verb::Delete, Some(id), _) => Some(id.clone()),
                (Verb::Delete, None, Some(q)) => {
                    let c = Criteria::parse(&e.rtype, q).map_err(|f| nest(f, &at))?;
                    let found = self.find(&e.rtype, &c.filters, 2).await?;
                    conditions.push(c.condition(&e.rtype, found.clone()));
                    condition_entry.push(e.index);
                    match found.as_slice() {
                        [] => {
                            outcomes[pos] = Planned::NothingToDelete;
                            None
                        }
                        [one] => Some(one.clone()),
                        _ => {
                            return Err(nest(
                                multiple_matches(&e.rtype, "a conditional delete"),
                                &at,
                            ));
                        }
                    }
                }
                (Verb::Post, _, _) => match &e.if_none_exist {
                    Some(q) => {
                        let c = Criteria::parse(&e.rtype, q).map_err(|f| nest(f, &at))?;
                        match self
                            .if_none_exist(&e.rtype, &c)
                            .await
                            .map_err(|f| nest(f, &at))?
                        {
                            Some(IfNoneExist::Create(cond)) => {
                                conditions.push(cond);
                                condition_entry.push(e.index);
                                Some(new_id())
                            }
                            Some(IfNoneExist::Existing(v)) => {
                                let id = v.id.clone();
                                outcomes[pos] = Planned::Existing(v);
                                Some(id)
                            }
                            None => return Ok(None),
                        }
                    }
                    None => Some(new_id()),
                },
                (Verb::Put, Some(id), _) => Some(id.clone()),
                (Verb::Put, None, Some(q)) => {
                    let c = Criteria::parse(&e.rtype, q).map_err(|f| nest(f, &at))?;
                    let body_id = e
                        .resource
                        .as_ref()
                        .and_then(|r| r.get("id"))
                        .and_then(Value::as_str);
                    let (id, conds) = self
                        .conditional_target(&e.rtype, &c, body_id)
                        .await
                        .map_err(|f| nest(f, &at))?;
                    condition_entry.extend(conds.iter().map(|_| e.index));
                    conditions.extend(conds);
                    Some(id)
                }
                (Verb::Patch, Some(id), _) => Some(id.clone()),
                _ => {
                    return Err(nest(
                        Failure::new(
                            400,
                            IssueCode::Invalid,
                            None,
                            "this request needs an id or criteria in its url",
                        ),
                        &at,
                    ));
                }
            };
            if let Some(id) = target {
                if let Some(full) = &e.full_url {
                    urls.insert(full.clone(), format!("{}/{}", e.rtype, id));
                }
                targets[pos] = Some((e.rtype.clone(), id));
            }
            if let Some((t, i)) = &targets[pos]
                && let Some(c) = if_match_condition(t, i, e.if_match)
            {
                conditions.push(c);
                condition_entry.push(e.index);
            }
        }

        // The same resource may be changed by one entry only.
        let mut seen: HashMap<&(String, String), usize> = HashMap::new();
        for (pos, t) in targets.iter().enumerate() {
            if let (Some(t), Planned::Write) = (t, &outcomes[pos])
                && let Some(prev) = seen.insert(t, entries[pos].index)
            {
                return Err(Failure::new(
                    400,
                    IssueCode::Duplicate,
                    Some(format!("Bundle.entry[{}]", entries[pos].index)),
                    format!(
                        "{}/{} is also changed by Bundle.entry[{prev}]; a transaction may change a resource only once",
                        t.0, t.1
                    ),
                ));
            }
        }

        // A GET that would fail fails the transaction before anything is written; the version
        // it reads is pinned by a condition so the answer after commit is the one checked.
        for e in entries.iter().filter(|e| e.verb == Verb::Get) {
            let (Some(id), at) = (&e.id, format!("Bundle.entry[{}]", e.index)) else {
                continue;
            };
            let written = entries
                .iter()
                .zip(&targets)
                .zip(&outcomes)
                .find_map(|((w, t), o)| {
                    (matches!(o, Planned::Write)
                        && t.as_ref().is_some_and(|(rt, i)| *rt == e.rtype && i == id))
                    .then_some(w.verb)
                });
            match (written, &e.vid) {
                (Some(Verb::Delete), None) => {
                    return Err(nest(
                        Failure::new(
                            410,
                            IssueCode::Deleted,
                            None,
                            format!("{}/{id} is deleted by this transaction", e.rtype),
                        ),
                        &at,
                    ));
                }
                (Some(_), None) => {}
                (_, vid) => {
                    let current = self.store().read(&e.rtype, id).await?;
                    let readable = match (vid, &current) {
                        (None, Some(v)) => !v.is_deleted(),
                        (Some(vid), Some(v)) => {
                            vid.parse::<u64>().is_ok_and(|n| n >= 1 && n <= v.version)
                        }
                        (_, None) => false,
                    };
                    if !readable {
                        let f = match (vid, current) {
                            (None, Some(v)) => gone(v),
                            _ => Failure::new(
                                404,
                                IssueCode::NotFound,
                                None,
                                format!("{}/{id} (as asked by this GET) does not exist", e.rtype),
                            ),
                        };
                        return Err(nest(f, &at));
                    }
                    conditions.push(Condition::Version {
                        rtype: e.rtype.clone(),
                        id: id.clone(),
                        version: current.map(|v| v.version),
                        on_fail: OnFail::Retry,
                    });
                    condition_entry.push(e.index);
                }
            }
        }

        let mut writes = Vec::new();
        let mut write_of = vec![None; entries.len()];
        for (pos, e) in entries.iter().enumerate() {
            if !matches!(outcomes[pos], Planned::Write) {
                continue;
            }
            let Some((rtype, id)) = targets[pos].clone() else {
                continue;
            };
            let at = format!("Bundle.entry[{}]", e.index);
            let write = match e.verb {
                Verb::Delete => Some(Write::Delete { rtype, id }),
                Verb::Post | Verb::Put => {
                    let mut resource = e.resource.clone().unwrap_or(Value::Null);
                    rewrite_references(&mut resource, &urls);
                    if let Err(f) = self
                        .resolve_conditional_references(
                            &mut resource,
                            &mut conditions,
                            &mut condition_entry,
                            e.index,
                        )
                        .await
                    {
                        status = status.max(f.status);
                        problems.extend(f.issues);
                        continue;
                    }
                    // The server chose the id of a create and of a conditional update.
                    let resource = if e.verb == Verb::Post || e.id.is_none() {
                        with_id(resource, &id)
                    } else {
                        resource
                    };
                    match incoming(
                        &rtype,
                        resource,
                        Some(&id),
                        if e.verb == Verb::Post {
                            "create"
                        } else {
                            "update"
                        },
                        &profiles,
                    ) {
                        Ok(body) => Some(self.put_write(
                            &rtype,
                            &id,
                            body,
                            if e.verb == Verb::Post {
                                Method::Post
                            } else {
                                Method::Put
                            },
                            e.verb == Verb::Put,
                        )),
                        Err(f) => {
                            status = status.max(f.status);
                            problems.extend(
                                f.issues
                                    .into_iter()
                                    .map(|i| i.nested_under(&format!("{at}.resource"))),
                            );
                            None
                        }
                    }
                }
                Verb::Patch => {
                    let patch = patch_document(e)
                        .and_then(parse_patch)
                        .map_err(|f| nest(f, &at))?;
                    let (doc, condition) = self
                        .patch_current(&rtype, &id, &patch, e.if_match)
                        .await
                        .map_err(|f| nest(f, &at))?;
                    conditions.push(condition);
                    condition_entry.push(e.index);
                    match incoming(&rtype, doc, Some(&id), "patch", &profiles) {
                        Ok(body) => Some(self.put_write(&rtype, &id, body, Method::Patch, true)),
                        Err(f) => {
                            status = status.max(f.status);
                            problems.extend(
                                f.issues
                                    .into_iter()
                                    .map(|i| i.nested_under(&format!("{at}.resource"))),
                            );
                            None
                        }
                    }
                }
                Verb::Get => None,
            };
            if let Some(w) = write {
                write_of[pos] = Some(writes.len());
                writes.push(w);
            }
        }
        if !problems.is_empty() {
            return Err(Failure {
                status,
                issues: problems,
                deleted: None,
            });
        }
        Ok(Some(Plan {
            batch: Batch {
                conditions,
                writes,
                ..Default::default()
            },
            outcomes,
            write_of,
            condition_entry,
        }))
    }

    /// Replaces `Type?criteria` references by the one resource they match.
    async fn resolve_conditional_references(
        &self,
        resource: &mut Value,
        conditions: &mut Vec<Condition>,
        condition_entry: &mut Vec<usize>,
        entry: usize,
    ) -> Result<()> {
        let mut refs = Vec::new();
        collect_conditional_references(resource, &mut refs);
        let mut resolved = HashMap::new();
        for r in refs {
            if resolved.contains_key(&r) {
                continue;
            }
            let (rtype, q) = r.split_once('?').unwrap_or((&r, ""));
            let at = Some(format!("Bundle.entry[{entry}].resource"));
            check_type(rtype).map_err(|mut f| {
                f.issues.iter_mut().for_each(|i| i.expression = at.clone());
                f
            })?;
            let c = Criteria::parse(rtype, q)?;
            let found = self.find(rtype, &c.filters, 2).await?;
            if found.len() != 1 {
                return Err(Failure::new(
                    if found.is_empty() { 404 } else { 412 },
                    IssueCode::NotFound,
                    at,
                    format!(
                        "the conditional reference '{r}' matches {} resources; it must match exactly one",
                        found.len()
                    ),
                ));
            }
            conditions.push(c.condition(rtype, found.clone()));
            condition_entry.push(entry);
            resolved.insert(r.clone(), format!("{rtype}/{}", found[0]));
        }
        rewrite_references(resource, &resolved);
        Ok(())
    }
}

/// The 412 of a transaction whose entry's `ifMatch` no longer holds.
fn precondition_failure(entries: &[Entry], condition_entry: &[usize], condition: usize) -> Failure {
    let entry = condition_entry.get(condition).copied();
    let e = entry.and_then(|i| entries.iter().find(|e| e.index == i));
    let f = match e {
        Some(e) => version_conflict(&e.rtype, e.id.as_deref().unwrap_or("?"), e.if_match),
        None => version_conflict("resource", "?", None),
    };
    match entry {
        Some(i) => nest(f, &format!("Bundle.entry[{i}]")),
        None => f,
    }
}

#[derive(Debug, Clone)]
enum Planned {
    Write,
    /// ifNoneExist matched: nothing written.
    Existing(Version),
    NothingToDelete,
    Get,
}

struct Plan {
    batch: Batch,
    outcomes: Vec<Planned>,
    write_of: Vec<Option<usize>>,
    /// The entry each batch condition comes from.
    condition_entry: Vec<usize>,
}

fn unreachable_reply() -> Result<Reply> {
    Err(Failure::new(
        500,
        IssueCode::Exception,
        None,
        "internal error: a planned write has no result",
    ))
}
