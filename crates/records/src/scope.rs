//! Whom the interactions are made for: what they may see ([`Access`], applied by the store to
//! every search, read, include and history) and what they write as (the custodian tag put on
//! every resource they write; only a resource's custodian changes or deletes it).
//!
//! The rules that decide a caller's scope live in `kizuna-access`; this module applies a
//! decided scope, so that every interaction, single or in a Bundle, goes through it.

use crate::{Failure, Records, Result};
use kizuna_fhir::{IssueCode, r4};
use kizuna_store::index::stored_keys;
use kizuna_store::{Access, AccessKeys, Batch, Condition, OnFail, Write};
use serde_json::{Value, json};
use std::sync::{Arc, LazyLock};

/// The system of the tag naming the institution that wrote a resource (its custodian): the
/// code is the 10-digit medical institution code.
pub const CUSTODIAN_SYSTEM: &str = "urn:kizuna:custodian";

/// Whom interactions are made for.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// What the caller may see; None: everything (the node itself: imports, operators).
    pub access: Option<Arc<Access>>,
    /// The institution the caller writes as (code, name): its tag is put on what it writes,
    /// and it may change or delete only resources that carry it.
    pub custodian: Option<(String, String)>,
    /// Tags (system, code) put on everything written in this scope that has no tag of that
    /// system, after validation, like the custodian's (a document's entries are tagged with
    /// the document): server tags, which a profile's closed slicing of `meta.tag` does not know.
    pub stamps: Vec<(String, String)>,
}

/// The index keys [`Access`] reads, for every resource type.
pub fn access_keys() -> Arc<AccessKeys> {
    static KEYS: LazyLock<Arc<AccessKeys>> = LazyLock::new(|| {
        let types = r4().resource_types();
        Arc::new(AccessKeys {
            compartment: types
                .iter()
                .flat_map(|t| {
                    r4().patient_compartment(t)
                        .iter()
                        .flat_map(move |code| stored_keys(t, code, ""))
                })
                .collect(),
            labels: types
                .iter()
                .flat_map(|t| [stored_keys(t, "_tag", ""), stored_keys(t, "_security", "")])
                .flatten()
                .collect(),
        })
    });
    KEYS.clone()
}

/// Resource types that say nothing about a patient, which every institution may see
/// (directories and terminology): no patient compartment, and not the network's own records
/// of people (`Person`), groups of patients, or the audit trail.
pub fn shared_types() -> Arc<[String]> {
    static TYPES: LazyLock<Arc<[String]>> = LazyLock::new(|| {
        const PRIVATE: &[&str] = &[
            "Patient",
            "Person",
            "Group",
            "Linkage",
            "AuditEvent",
            "Provenance",
            "Consent",
            "Basic",
            "Binary",
            "Bundle",
            "Composition",
            "DocumentReference",
            "List",
            "Subscription",
            "Task",
            "Communication",
            "Parameters",
        ];
        r4().resource_types()
            .iter()
            .filter(|t| r4().patient_compartment(t).is_empty() && !PRIVATE.contains(&t.as_str()))
            .cloned()
            .collect()
    });
    TYPES.clone()
}

/// Whether `body` carries the custodian tag of `code`.
pub fn written_by(body: &Value, code: &str) -> bool {
    custodian_of(body).is_some_and(|c| c == code)
}

/// The code of the institution that wrote `body`, from its custodian tag.
pub fn custodian_of(body: &Value) -> Option<&str> {
    body.pointer("/meta/tag")?
        .as_array()?
        .iter()
        .find(|t| t.get("system").and_then(Value::as_str) == Some(CUSTODIAN_SYSTEM))?
        .get("code")?
        .as_str()
}

/// Puts the custodian tag of `(code, name)` on `body`, replacing any the client sent.
fn stamp(body: &mut Value, code: &str, name: &str) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let tags = meta
        .as_object_mut()
        .map(|m| m.entry("tag").or_insert_with(|| json!([])));
    if let Some(tags) = tags {
        if !tags.is_array() {
            *tags = json!([]);
        }
        if let Some(list) = tags.as_array_mut() {
            list.retain(|t| t.get("system").and_then(Value::as_str) != Some(CUSTODIAN_SYSTEM));
            list.push(json!({"system": CUSTODIAN_SYSTEM, "code": code, "display": name}));
        }
    }
}

/// Puts the tag `system|code` on `body` unless it has a tag of `system` already.
fn add_tag(body: &mut Value, system: &str, code: &str) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    let Some(m) = meta.as_object_mut() else {
        return;
    };
    let tags = m.entry("tag").or_insert_with(|| json!([]));
    if let Some(list) = tags.as_array_mut()
        && !list
            .iter()
            .any(|t| t.get("system").and_then(Value::as_str) == Some(system))
    {
        list.push(json!({"system": system, "code": code}));
    }
}

impl Records {
    /// These interactions for `scope`.
    pub fn scoped(&self, scope: Scope) -> Records {
        Records {
            store: self.store.clone(),
            scope: Arc::new(scope),
            profiles: Arc::clone(&self.profiles),
        }
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub(crate) fn access(&self) -> Option<&Arc<Access>> {
        self.scope.access.as_ref()
    }

    /// The ids of the live resources of `rtype` the caller may see matching all `filters`,
    /// sorted, at most `limit`.
    pub(crate) async fn find(
        &self,
        rtype: &str,
        filters: &[kizuna_search::Filter],
        limit: usize,
    ) -> Result<Vec<String>> {
        Ok(self
            .store
            .find_as(rtype, filters, limit, self.access().cloned())
            .await?)
    }

    /// Whether the caller may see `rtype/id` (always, without access rules).
    pub(crate) async fn may_see(&self, rtype: &str, id: &str) -> Result<bool> {
        match self.access() {
            None => Ok(true),
            Some(a) => Ok(self.store.visible(rtype, id, a).await?),
        }
    }

    /// The store write of a validated resource, carrying the caller's custodian tag (stamped
    /// before the content hash and index rows are computed from it).
    pub(crate) fn put_write(
        &self,
        rtype: &str,
        id: &str,
        mut body: Value,
        method: kizuna_store::Method,
        skip_if_unchanged: bool,
    ) -> Write {
        if let Some((code, name)) = &self.scope.custodian {
            stamp(&mut body, code, name);
        }
        for (system, code) in &self.scope.stamps {
            add_tag(&mut body, system, code);
        }
        crate::incoming::put_write(rtype, id, body, method, skip_if_unchanged)
    }

    /// Commits a batch as the caller: every resource it changes or deletes must be the caller's
    /// own (pinned by a condition, so a concurrent change of custodian makes the plan again).
    ///
    /// The outer error refuses the batch before it is tried; the inner result is the store's.
    pub(crate) async fn commit_as_caller(
        &self,
        mut batch: Batch,
    ) -> Result<std::result::Result<Vec<kizuna_store::Written>, kizuna_store::StoreError>> {
        let Some((code, _)) = &self.scope.custodian else {
            return Ok(self.store.commit(batch).await);
        };
        let mut pins = Vec::new();
        for w in &batch.writes {
            let (rtype, id) = match w {
                Write::Put { rtype, id, .. } | Write::Delete { rtype, id } => {
                    (rtype.clone(), id.clone())
                }
            };
            let current = self.store.read(&rtype, &id).await?;
            if let Some(v) = &current
                && let Some(body) = &v.body
            {
                let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                if !written_by(&value, code) {
                    let visible = self.may_see(&v.rtype, &v.id).await?;
                    return Err(forbidden(&rtype, &id, visible));
                }
                if rtype == "Binary" && is_kept_document(&value) {
                    return Err(Failure::new(
                        405,
                        IssueCode::NotSupported,
                        None,
                        format!(
                            "Binary/{id} is a document kept as submitted and never changes; correct it by submitting a new version whose Composition.relatesTo replaces it"
                        ),
                    ));
                }
            }
            pins.push(Condition::Version {
                rtype,
                id,
                version: current.map(|v| v.version),
                on_fail: OnFail::Retry,
            });
        }
        // The caller's conditions keep their indexes (errors name them); the pins follow.
        batch.conditions.extend(pins);
        Ok(self.store.commit(batch).await)
    }
}

/// Whether `body` is a submitted document kept as a Binary.
fn is_kept_document(body: &Value) -> bool {
    body.pointer("/meta/tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| t.get("system").and_then(Value::as_str) == Some(kizuna_documents::DOCUMENT_TAG))
}

/// The failure of a change to a resource the caller did not write.
pub(crate) fn forbidden(rtype: &str, id: &str, visible: bool) -> Failure {
    if visible {
        Failure::new(
            403,
            IssueCode::Forbidden,
            None,
            format!(
                "{rtype}/{id} was written by another institution; only the institution that wrote a record may change or delete it"
            ),
        )
    } else {
        crate::not_found(rtype, id)
    }
}
