//! `kizuna-records`: the FHIR interactions on records, independent of HTTP.
//!
//! Owns what each RESTful interaction means: create (also conditional), read, vread, update
//! (also create-on-update and conditional), JSON Patch, delete (also conditional), history at
//! instance, type and system level, and batch/transaction Bundles. It validates every incoming
//! resource, plans the writes, and hands them to the store as one atomic [`Batch`] whose
//! conditions capture every read the plan relied on; if a concurrent writer changed one of them,
//! the plan is made again.
//!
//! Results carry FHIR status codes (a Bundle's `entry.response.status` needs them too), never
//! HTTP types: `kizuna-server` maps them onto HTTP.
//!
//! Must never: know HTTP, skip validation of a resource it writes, or log resource content.

mod bundle;
pub mod consult;
mod criteria;
mod documents;
mod history;
pub mod imaging;
mod incoming;
pub mod phr;
pub mod profiles;
mod retention;
mod scope;
mod search;
mod summary;
mod validate_op;

use kizuna_fhir::{Issue, IssueCode};
use kizuna_store::{
    Batch, Condition, Method, OnFail, Store, StoreError, Version, Write, WriteOutcome, Written,
};
use serde_json::Value;

pub use bundle::{Prefer, parse_etag, rewrite_references, status_line};
pub use criteria::Criteria;
pub use documents::KeptDocument;
pub use history::HistoryParams;
use incoming::{check_id, check_type, incoming, new_id, parse_patch, patched, with_id};
pub use incoming::{content_hash, index_rows, prepare_import};
pub use kizuna_search::Handling;
pub use retention::{DocumentTerm, Retention};
pub use scope::{
    CUSTODIAN_SYSTEM, PhrAccess, Scope, access_keys, custodian_of, shared_types, written_by,
};
pub use search::SearchRequest;

/// How many times a plan is made again when concurrent writers keep changing what it read.
const REPLANS: usize = 50;

/// What an interaction produced.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub payload: Payload,
    /// `Type/id/_history/n` of the version concerned, for `Location`.
    pub location: Option<String>,
    /// Warnings and information for the client.
    pub issues: Vec<Issue>,
}

#[derive(Debug, Clone)]
pub enum Payload {
    None,
    /// A stored version: its body (or tombstone), `ETag` and `Last-Modified`.
    Version(Version),
    /// A computed resource (Bundle, OperationOutcome).
    Json(Value),
    /// A computed resource already serialized (a search Bundle spliced from stored bodies).
    Text(String),
}

impl Reply {
    fn version(status: u16, v: Version) -> Reply {
        Reply {
            status,
            location: Some(format!("{}/{}/_history/{}", v.rtype, v.id, v.version)),
            payload: Payload::Version(v),
            issues: Vec::new(),
        }
    }

    /// The version concerned, if any.
    pub fn stored(&self) -> Option<&Version> {
        match &self.payload {
            Payload::Version(v) => Some(v),
            _ => None,
        }
    }
}

/// A failed interaction: its status and every problem found.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub issues: Vec<Issue>,
    /// For 410 Gone: the deletion, so ETag/Last-Modified can be given.
    pub deleted: Option<Version>,
}

impl Failure {
    pub fn new(
        status: u16,
        code: IssueCode,
        expression: Option<String>,
        message: impl Into<String>,
    ) -> Failure {
        Failure {
            status,
            issues: vec![Issue::error(code, expression, message)],
            deleted: None,
        }
    }
    pub(crate) fn issues(status: u16, issues: Vec<Issue>) -> Failure {
        Failure {
            status,
            issues,
            deleted: None,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::ConditionFailed { .. } => Failure::new(
                409,
                IssueCode::Conflict,
                None,
                "the resource was changed concurrently; try again",
            ),
            StoreError::Unavailable(m) => Failure::new(
                503,
                IssueCode::Exception,
                None,
                format!("storage unavailable: {m}"),
            ),
            StoreError::Unsupported(m) => Failure::new(
                400,
                IssueCode::NotSupported,
                None,
                format!("not supported: {m}"),
            ),
            StoreError::TooCostly(m) => Failure::new(503, IssueCode::TooCostly, None, m),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "storage error");
                Failure::new(
                    500,
                    IssueCode::Exception,
                    None,
                    "internal storage error: the outcome of a change in flight is unknown; read the resource before retrying",
                )
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// The FHIR interactions over one store, for one [`Scope`] (by default the node itself,
/// which sees everything).
#[derive(Clone)]
pub struct Records {
    store: Store,
    scope: std::sync::Arc<Scope>,
    profiles: std::sync::Arc<profiles::Profiles>,
}

impl Records {
    pub fn new(store: Store) -> Records {
        Records {
            store,
            scope: Default::default(),
            profiles: Default::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The installed implementation guides' profiles every write is validated against
    /// (refresh them after a package is installed or removed).
    pub fn profiles(&self) -> &std::sync::Arc<profiles::Profiles> {
        &self.profiles
    }

    /// `GET [type]/[id]`
    pub async fn read(&self, rtype: &str, id: &str) -> Result<Reply> {
        check_type(rtype)?;
        check_id(id)?;
        // A measurement's id, unless a resource was stored under it before such ids existed.
        if rtype == "Observation"
            && phr::search::parse_id(id).is_some()
            && self.store.read(rtype, id).await?.is_none()
        {
            return self.phr_read(id).await;
        }
        if !self.may_see(rtype, id).await? {
            return Err(not_found(rtype, id));
        }
        match self.store.read(rtype, id).await? {
            None => Err(not_found(rtype, id)),
            Some(v) if v.is_deleted() => Err(gone(v)),
            Some(v) => Ok(Reply {
                location: None,
                ..Reply::version(200, v)
            }),
        }
    }

    /// `GET [type]/[id]/_history/[vid]`
    pub async fn vread(&self, rtype: &str, id: &str, vid: &str) -> Result<Reply> {
        check_type(rtype)?;
        check_id(id)?;
        let Some(n) = vid.parse::<u64>().ok().filter(|n| *n > 0) else {
            return Err(Failure::new(
                404,
                IssueCode::NotFound,
                None,
                format!("'{vid}' is not a version of {rtype}/{id}"),
            ));
        };
        if !self.may_see(rtype, id).await? {
            return Err(not_found(rtype, id));
        }
        match self.store.vread(rtype, id, n).await? {
            None => Err(Failure::new(
                404,
                IssueCode::NotFound,
                None,
                format!("{rtype}/{id} has no version {n}"),
            )),
            Some(v) if v.is_deleted() => Err(gone(v)),
            Some(v) => Ok(Reply {
                location: None,
                ..Reply::version(200, v)
            }),
        }
    }

    /// `POST [type]`, with `If-None-Exist` criteria for a conditional create.
    pub async fn create(
        &self,
        rtype: &str,
        body: Value,
        if_none_exist: Option<&str>,
    ) -> Result<Reply> {
        let body = incoming(rtype, body, None, "create", &self.profiles.current())?;
        let criteria = if_none_exist
            .map(|q| Criteria::parse(rtype, q))
            .transpose()?;
        for _ in 0..REPLANS {
            let mut conditions = Vec::new();
            if let Some(c) = &criteria {
                match self.if_none_exist(rtype, c).await? {
                    Some(IfNoneExist::Create(cond)) => conditions.push(cond),
                    // Already there: the existing resource, nothing written.
                    Some(IfNoneExist::Existing(v)) => return Ok(Reply::version(200, v)),
                    None => continue,
                }
            }
            let id = new_id();
            let write = self.put_write(rtype, &id, with_id(body.clone(), &id), Method::Post, false);
            let batch = Batch {
                conditions,
                writes: vec![write],
                ..Default::default()
            };
            if let Some(reply) = self.try_commit(batch, rtype, &id, None).await? {
                return Ok(reply);
            }
        }
        Err(too_busy())
    }

    /// `PUT [type]/[id]`: update, or create with the client's id. `if_match` is the version
    /// the client last saw (`If-Match: W/"n"`).
    pub async fn update(
        &self,
        rtype: &str,
        id: &str,
        body: Value,
        if_match: Option<u64>,
    ) -> Result<Reply> {
        check_id(id)?;
        let body = incoming(rtype, body, Some(id), "update", &self.profiles.current())?;
        let conditions: Vec<Condition> = if_match_condition(rtype, id, if_match)
            .into_iter()
            .collect();
        let write = self.put_write(rtype, id, body, Method::Put, true);
        let batch = Batch {
            conditions,
            writes: vec![write],
            ..Default::default()
        };
        // No condition here asks to plan again, so a reply always comes.
        self.try_commit(batch, rtype, id, if_match)
            .await?
            .ok_or_else(too_busy)
    }

    /// `PUT [type]?criteria`: update the one match, or create if none.
    pub async fn conditional_update(
        &self,
        rtype: &str,
        query: &str,
        body: Value,
        if_match: Option<u64>,
    ) -> Result<Reply> {
        check_type(rtype)?;
        let criteria = Criteria::parse(rtype, query)?;
        for _ in 0..REPLANS {
            let body_id = body.get("id").and_then(Value::as_str);
            let (id, mut conditions) = self.conditional_target(rtype, &criteria, body_id).await?;
            let body = incoming(
                rtype,
                with_id(body.clone(), &id),
                Some(&id),
                "update",
                &self.profiles.current(),
            )?;
            conditions.extend(if_match_condition(rtype, &id, if_match));
            let write = self.put_write(rtype, &id, body, Method::Put, true);
            let batch = Batch {
                conditions,
                writes: vec![write],
                ..Default::default()
            };
            if let Some(reply) = self.try_commit(batch, rtype, &id, if_match).await? {
                return Ok(reply);
            }
        }
        Err(too_busy())
    }

    /// `PATCH [type]/[id]` with a JSON Patch document.
    pub async fn patch(
        &self,
        rtype: &str,
        id: &str,
        patch: Value,
        if_match: Option<u64>,
    ) -> Result<Reply> {
        check_type(rtype)?;
        check_id(id)?;
        let patch = parse_patch(patch)?;
        for _ in 0..REPLANS {
            let (doc, condition) = self.patch_current(rtype, id, &patch, if_match).await?;
            let body = incoming(rtype, doc, Some(id), "patch", &self.profiles.current())?;
            let conditions = vec![condition];
            let write = self.put_write(rtype, id, body, Method::Patch, true);
            let batch = Batch {
                conditions,
                writes: vec![write],
                ..Default::default()
            };
            if let Some(reply) = self.try_commit(batch, rtype, id, if_match).await? {
                return Ok(reply);
            }
        }
        Err(too_busy())
    }

    /// `DELETE [type]/[id]`
    pub async fn delete(&self, rtype: &str, id: &str, if_match: Option<u64>) -> Result<Reply> {
        check_type(rtype)?;
        check_id(id)?;
        let conditions: Vec<Condition> = if_match_condition(rtype, id, if_match)
            .into_iter()
            .collect();
        match self
            .commit_as_caller(Batch {
                conditions,
                writes: vec![Write::Delete {
                    rtype: rtype.into(),
                    id: id.into(),
                }],
                ..Default::default()
            })
            .await?
        {
            Ok(w) => Ok(deleted_reply(w, rtype, id)),
            Err(StoreError::ConditionFailed { .. }) => Err(version_conflict(rtype, id, if_match)),
            Err(e) => Err(e.into()),
        }
    }

    /// `DELETE [type]?criteria`: deletes the one match (none: nothing to do; several: 412).
    pub async fn conditional_delete(&self, rtype: &str, query: &str) -> Result<Reply> {
        check_type(rtype)?;
        let criteria = Criteria::parse(rtype, query)?;
        for _ in 0..REPLANS {
            let found = self.find(rtype, &criteria.filters, 2).await?;
            let id = match found.as_slice() {
                [] => {
                    let mut r = Reply {
                        status: 204,
                        payload: Payload::None,
                        location: None,
                        issues: vec![],
                    };
                    r.issues.push(Issue::information(format!(
                        "no {rtype} matched; nothing was deleted"
                    )));
                    return Ok(r);
                }
                [one] => one.clone(),
                _ => return Err(multiple_matches(rtype, "the conditional delete")),
            };
            let batch = Batch {
                conditions: vec![criteria.condition(rtype, found.clone())],
                writes: vec![Write::Delete {
                    rtype: rtype.into(),
                    id: id.clone(),
                }],
                ..Default::default()
            };
            match self.commit_as_caller(batch).await? {
                Ok(w) => return Ok(deleted_reply(w, rtype, &id)),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_busy())
    }
}

/// The condition of an `If-Match: W/"n"`: the current version is n, or 412.
fn if_match_condition(rtype: &str, id: &str, if_match: Option<u64>) -> Option<Condition> {
    if_match.map(|v| Condition::Version {
        rtype: rtype.into(),
        id: id.into(),
        version: Some(v),
        on_fail: OnFail::PreconditionFailed,
    })
}

/// What the criteria of a conditional create found.
enum IfNoneExist {
    /// Nothing: create, on the condition that still nothing matches.
    Create(Condition),
    /// One resource: it is the answer, nothing is written.
    Existing(Version),
}

impl Records {
    /// Resolves `If-None-Exist` criteria. None: the state changed while looking; plan again.
    async fn if_none_exist(&self, rtype: &str, c: &Criteria) -> Result<Option<IfNoneExist>> {
        let found = self.find(rtype, &c.filters, 2).await?;
        match found.as_slice() {
            [] => Ok(Some(IfNoneExist::Create(c.condition(rtype, vec![])))),
            [one] => Ok(match self.store.read(rtype, one).await? {
                Some(v) if !v.is_deleted() => Some(IfNoneExist::Existing(v)),
                _ => None,
            }),
            _ => Err(multiple_matches(rtype, "If-None-Exist")),
        }
    }

    /// The id a conditional update writes: the one match, or with none the body's id (if no
    /// other resource has it) or a new one; with the conditions that choice relies on.
    async fn conditional_target(
        &self,
        rtype: &str,
        criteria: &Criteria,
        body_id: Option<&str>,
    ) -> Result<(String, Vec<Condition>)> {
        let found = self.find(rtype, &criteria.filters, 2).await?;
        let mut conditions = vec![criteria.condition(rtype, found.clone())];
        let id = match (found.as_slice(), body_id) {
            ([], None) => new_id(),
            ([], Some(b)) => {
                check_id(b)?;
                // Create-on-update with the body's id, unless that id is another resource,
                // which the criteria did not select.
                let current = self.store.read(rtype, b).await?;
                if current.as_ref().is_some_and(|v| !v.is_deleted()) {
                    return Err(Failure::new(
                        409,
                        IssueCode::Conflict,
                        Some(format!("{rtype}.id")),
                        format!(
                            "{rtype}/{b} exists but does not match the criteria; it is not overwritten"
                        ),
                    ));
                }
                conditions.push(Condition::Version {
                    rtype: rtype.into(),
                    id: b.into(),
                    version: current.map(|v| v.version),
                    on_fail: OnFail::Retry,
                });
                b.to_string()
            }
            ([one], Some(b)) if one != b => {
                return Err(Failure::new(
                    400,
                    IssueCode::Invalid,
                    Some(format!("{rtype}.id")),
                    format!(
                        "the resource's id '{b}' is not that of the resource matching the criteria ('{one}')"
                    ),
                ));
            }
            ([one], _) => one.clone(),
            _ => return Err(multiple_matches(rtype, "the conditional update")),
        };
        Ok((id, conditions))
    }

    /// The current version of `rtype/id` with `patch` applied (not yet validated), and the
    /// condition that it is still current at commit; a stale `If-Match` is a 412 at once.
    async fn patch_current(
        &self,
        rtype: &str,
        id: &str,
        patch: &json_patch::Patch,
        if_match: Option<u64>,
    ) -> Result<(Value, Condition)> {
        if !self.may_see(rtype, id).await? {
            return Err(not_found(rtype, id));
        }
        let current = match self.store.read(rtype, id).await? {
            None => return Err(not_found(rtype, id)),
            Some(v) if v.is_deleted() => return Err(gone(v)),
            Some(v) => v,
        };
        if if_match.is_some_and(|expected| expected != current.version) {
            return Err(version_conflict(rtype, id, if_match));
        }
        let doc = patched(&current, patch)?;
        let condition = Condition::Version {
            rtype: rtype.into(),
            id: id.into(),
            version: Some(current.version),
            on_fail: if if_match.is_some() {
                OnFail::PreconditionFailed
            } else {
                OnFail::Retry
            },
        };
        Ok((doc, condition))
    }

    /// Commits one planned write: its reply, or None when a concurrent change means planning
    /// again; a failed `If-Match` is a 412.
    async fn try_commit(
        &self,
        batch: Batch,
        rtype: &str,
        id: &str,
        if_match: Option<u64>,
    ) -> Result<Option<Reply>> {
        match self.commit_as_caller(batch).await? {
            Ok(w) => written_reply(w).map(Some),
            Err(StoreError::ConditionFailed {
                on_fail: OnFail::Retry,
                ..
            }) => Ok(None),
            Err(StoreError::ConditionFailed { .. }) => Err(version_conflict(rtype, id, if_match)),
            Err(e) => Err(e.into()),
        }
    }
}

/// The reply to a committed single put. A store that answers without the version is a bug,
/// reported as a 500, never a panic.
fn written_reply(w: Vec<Written>) -> Result<Reply> {
    let Some(Written {
        outcome,
        version: Some(version),
    }) = w.into_iter().next()
    else {
        return Err(Failure::new(
            500,
            IssueCode::Exception,
            None,
            "internal error: the store did not report the version it wrote",
        ));
    };
    let status = match outcome {
        WriteOutcome::Created => 201,
        _ => 200,
    };
    let mut r = Reply::version(status, version);
    if outcome == WriteOutcome::Unchanged {
        r.issues.push(Issue::information(
            "the resource is unchanged; no new version was created",
        ));
    }
    Ok(r)
}

fn deleted_reply(w: Vec<Written>, rtype: &str, id: &str) -> Reply {
    // No result at all reads as "nothing changed", the safe answer for a delete.
    let w = w.into_iter().next().unwrap_or(Written {
        outcome: WriteOutcome::NothingToDelete,
        version: None,
    });
    let mut r = Reply {
        status: 200,
        payload: Payload::None,
        location: None,
        issues: vec![],
    };
    r.issues.push(Issue::information(match w.outcome {
        WriteOutcome::Deleted => format!("{rtype}/{id} deleted"),
        _ => format!("{rtype}/{id} did not exist or was already deleted; nothing changed"),
    }));
    if let Some(v) = w.version {
        r.location = Some(format!("{}/{}/_history/{}", v.rtype, v.id, v.version));
        r.payload = Payload::Version(v);
    }
    r
}

fn not_found(rtype: &str, id: &str) -> Failure {
    Failure::new(
        404,
        IssueCode::NotFound,
        None,
        format!("{rtype}/{id} does not exist, or is not shared with you"),
    )
}

fn gone(v: Version) -> Failure {
    let mut f = Failure::new(
        410,
        IssueCode::Deleted,
        None,
        format!("{}/{} was deleted (version {})", v.rtype, v.id, v.version),
    );
    f.deleted = Some(v);
    f
}

fn version_conflict(rtype: &str, id: &str, if_match: Option<u64>) -> Failure {
    Failure::new(
        412,
        IssueCode::Conflict,
        None,
        match if_match {
            Some(v) => format!(
                "If-Match asked for version {v} of {rtype}/{id}, which is not the current version; read it again and retry"
            ),
            None => format!("{rtype}/{id} was changed concurrently; read it again and retry"),
        },
    )
}

fn multiple_matches(rtype: &str, what: &str) -> Failure {
    Failure::new(
        412,
        IssueCode::Duplicate,
        None,
        format!("several {rtype} resources match the criteria of {what}; make them more selective"),
    )
}

fn too_busy() -> Failure {
    Failure::new(
        409,
        IssueCode::Conflict,
        None,
        "the resources kept changing while this request ran; try again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON Patch cases of the official FHIR test suite (RFC 6902 examples).
    #[test]
    fn official_json_patch_cases() {
        let dir = std::env::var("KIZUNA_FIXTURES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
            });
        let Ok(text) = std::fs::read_to_string(dir.join("fhir-r4/patch/json-patch-tests.json"))
        else {
            assert!(
                std::env::var("CI").is_err(),
                "fixtures missing under {}",
                dir.display()
            );
            eprintln!(
                "\n*** SKIPPED: fixtures not found under {} ***\n",
                dir.display()
            );
            return;
        };
        let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(cases.len(), 16);
        for case in cases {
            let name = case["comment"].as_str().unwrap_or("?");
            let current = Version {
                rtype: "Basic".into(),
                id: "x".into(),
                version: 1,
                last_updated: 0,
                method: Method::Put,
                body: Some(case["doc"].to_string().into()),
            };
            let result = parse_patch(case["patch"].clone()).and_then(|p| patched(&current, &p));
            match (case.get("expected"), result) {
                (Some(expected), Ok(doc)) => assert_eq!(&doc, expected, "{name}"),
                (None, Err(f)) => {
                    assert!(f.status == 400 || f.status == 422, "{name}: {}", f.status)
                }
                (Some(_), Err(f)) => panic!("{name}: refused: {:?}", f.issues),
                (None, Ok(doc)) => panic!("{name}: should fail, gave {doc}"),
            }
        }
    }
}
