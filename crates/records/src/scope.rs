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
    /// Whether writes may carry the network's own tags (a kept document's, an addressee's)
    /// and change or delete the parts of kept documents: only document submission's writer.
    /// Otherwise an institution's writes lose such tags, and kept documents refuse changes.
    pub server_tags: bool,
    /// Whose personal health records (`kizuna-phr`) the caller may read and add to; None:
    /// everyone's (the node itself).
    pub phr: Option<Arc<PhrAccess>>,
}

/// Whose personal health records a caller may read and add to, by Patient id: a patient their
/// own; an institution those the patient shared them with (read only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhrAccess {
    pub read: Vec<String>,
    pub write: Vec<String>,
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
            if !self.scope.server_tags {
                strip_server_tags(&mut body);
            }
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
                if is_kept_document(&value) && !self.scope.server_tags {
                    return Err(Failure::new(
                        405,
                        IssueCode::NotSupported,
                        None,
                        format!(
                            "{rtype}/{id} is part of a document kept as submitted and never changes; correct the document by submitting a new version whose Composition.relatesTo replaces it"
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

/// Removes from `body` the tags only the network gives (custodian, document, addressee): a
/// client cannot claim to be another institution's, part of a kept document, or addressed to
/// someone.
pub(crate) fn strip_server_tags(body: &mut Value) {
    let Some(meta) = body.get_mut("meta").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(list) = meta.get_mut("tag").and_then(Value::as_array_mut) {
        list.retain(|t| !is_server_tag(t));
        if list.is_empty() {
            meta.remove("tag");
        }
    }
    if meta.is_empty()
        && let Some(o) = body.as_object_mut()
    {
        o.remove("meta");
    }
}

/// `body` as profiles see it: without the network's own tags, which no profile knows (JP
/// profiles slice `meta.tag` closed) and which the network, not the client, answers for.
pub(crate) fn without_server_tags(body: &Value) -> std::borrow::Cow<'_, Value> {
    let has = body
        .pointer("/meta/tag")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(is_server_tag));
    if !has {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut copy = body.clone();
    strip_server_tags(&mut copy);
    std::borrow::Cow::Owned(copy)
}

/// Whether tag `t` is one only the network gives (custodian, document, addressee).
fn is_server_tag(t: &Value) -> bool {
    matches!(
        t.get("system").and_then(Value::as_str),
        Some(CUSTODIAN_SYSTEM | kizuna_documents::DOCUMENT_TAG | kizuna_documents::ADDRESSEE_TAG)
    )
}

/// The codes of `r`'s tags of `system`.
pub(crate) fn tag_codes(r: &Value, system: &str) -> Vec<String> {
    r.pointer("/meta/tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("system").and_then(Value::as_str) == Some(system))
        .filter_map(|t| t.get("code").and_then(Value::as_str).map(String::from))
        .collect()
}

/// Whether `body` is part of a kept document (its bytes, its index or one of its entries).
fn is_kept_document(body: &Value) -> bool {
    !tag_codes(body, kizuna_documents::DOCUMENT_TAG).is_empty()
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
