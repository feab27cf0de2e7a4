//! Incoming resources made ready for the store: checked against the URL and the R4
//! definitions, normalized (the server owns `id` on create and `meta.versionId`/`lastUpdated`),
//! hashed and indexed into a store write.

use crate::{Failure, Result};
use kizuna_fhir::{Issue, IssueCode, json::is_valid_id, r4, validate_resource};
use kizuna_profiles::Conformance;
use kizuna_store::{IndexRows, Method, Version, Write};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Prepares a resource for bulk loading: validated, with its content hash and index rows, as a
/// store write that keeps the resource's own id and creates no version when nothing changed.
/// Pure and synchronous, so loaders can run it on every core.
pub fn prepare_import(body: Value, profiles: &Conformance) -> Result<Write> {
    let rtype = body
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(id) = body.get("id").and_then(Value::as_str).map(str::to_string) else {
        return Err(Failure::new(
            400,
            IssueCode::Required,
            Some(format!("{rtype}.id")),
            "the resource has no id",
        ));
    };
    check_id(&id)?;
    let body = incoming(&rtype, body, Some(&id), "import", profiles)?;
    Ok(put_write(&rtype, &id, body, Method::Put, true))
}

/// A JSON Patch document (RFC 6902), checked before anything is read.
pub(crate) fn parse_patch(doc: Value) -> Result<json_patch::Patch> {
    serde_json::from_value(doc).map_err(|e| {
        Failure::new(
            400,
            IssueCode::Invalid,
            None,
            format!("not a JSON Patch document (RFC 6902): {e}"),
        )
    })
}

/// The current version with `patch` applied (validated later, like any incoming resource).
pub(crate) fn patched(current: &Version, patch: &json_patch::Patch) -> Result<Value> {
    let mut doc: Value =
        serde_json::from_str(current.body.as_deref().unwrap_or("{}")).map_err(|e| {
            Failure::new(
                500,
                IssueCode::Exception,
                None,
                format!("stored resource unreadable: {e}"),
            )
        })?;
    json_patch::patch(&mut doc, patch).map_err(|e| {
        Failure::new(
            422,
            IssueCode::Processing,
            None,
            format!("the patch cannot be applied: {e}"),
        )
    })?;
    Ok(doc)
}

/// Deepest nesting a stored resource may have. Real resources stay far below it; the JSON
/// parser refuses input past 128 levels, so nothing stored may be deeper (a patch could
/// otherwise build a resource that can no longer be read back).
pub(crate) const MAX_DEPTH: usize = 100;

/// Nesting depth of a JSON value (a scalar is 0), without recursion.
pub(crate) fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

/// Checks and normalizes a resource arriving for `interaction`: a JSON object of type `rtype`,
/// with `id` equal to `url_id` (update) or none kept (create), valid against R4 and against
/// the installed profiles it (or a resource nested in it) claims.
pub(crate) fn incoming(
    rtype: &str,
    mut body: Value,
    url_id: Option<&str>,
    interaction: &str,
    profiles: &Conformance,
) -> Result<Value> {
    check_type(rtype)?;
    if let Some(id) =
        url_id.filter(|id| rtype == "Observation" && crate::phr::search::parse_id(id).is_some())
    {
        return Err(Failure::new(
            400,
            IssueCode::Invalid,
            Some("Observation.id".into()),
            format!(
                "Observation/{id} is the id of a measurement from a patient's device; those are added through Patient/[id]/$phr-ingest, not written as resources"
            ),
        ));
    }
    if depth(&body) > MAX_DEPTH {
        return Err(Failure::new(
            400,
            IssueCode::TooCostly,
            None,
            format!("the resource is nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    let Some(obj) = body.as_object_mut() else {
        return Err(Failure::new(
            400,
            IssueCode::Structure,
            None,
            "the body must be a JSON object (a FHIR resource)",
        ));
    };
    match obj.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == rtype => {}
        Some(t) => {
            return Err(Failure::new(
                400,
                IssueCode::Invalid,
                Some("resourceType".into()),
                format!("the body is a {t} but the URL is for {rtype}"),
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
    }
    match url_id {
        None => {
            // Create: the server assigns the id; any id given is ignored, as the spec says.
            obj.remove("id");
        }
        Some(id) => match obj.get("id") {
            Some(Value::String(b)) if b == id => {}
            Some(Value::String(b)) => {
                return Err(Failure::new(
                    400,
                    IssueCode::Invalid,
                    Some(format!("{rtype}.id")),
                    format!("the resource's id '{b}' does not match the id in the URL '{id}'"),
                ));
            }
            Some(_) => {
                return Err(Failure::new(
                    400,
                    IssueCode::Value,
                    Some(format!("{rtype}.id")),
                    "id must be a string",
                ));
            }
            None => {
                return Err(Failure::new(
                    400,
                    IssueCode::Required,
                    Some(format!("{rtype}.id")),
                    format!(
                        "an {interaction} needs the resource's id in the body (the same as in the URL)"
                    ),
                ));
            }
        },
    }
    // The server owns versionId and lastUpdated.
    if let Some(meta) = obj.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty() {
            obj.remove("meta");
        }
    }
    let mut issues = validate_resource(&body);
    if !profiles.packages().is_empty() {
        issues.extend(profiles.validate(&as_stored(&body)).issues);
    }
    if issues.iter().any(Issue::is_error) {
        return Err(Failure::issues(422, issues));
    }
    Ok(body)
}

/// `body` as profiles see it: as it will be stored, with the `meta.versionId` and
/// `meta.lastUpdated` the store stamps (placeholders here), which profiles may require, and
/// without the network's own tags (custodian, document, addressee), which no profile knows
/// (JP profiles slice `meta.tag` closed) and the network answers for.
pub(crate) fn as_stored(body: &Value) -> std::borrow::Cow<'_, Value> {
    let body = crate::scope::without_server_tags(body);
    let meta = body.get("meta");
    if meta.is_some_and(|m| m.get("versionId").is_some() && m.get("lastUpdated").is_some()) {
        return body;
    }
    let mut v = body.into_owned();
    if let Some(obj) = v.as_object_mut() {
        let meta = obj
            .entry("meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(m) = meta.as_object_mut() {
            m.entry("versionId")
                .or_insert_with(|| Value::String("1".into()));
            m.entry("lastUpdated")
                .or_insert_with(|| Value::String("1970-01-01T00:00:00Z".into()));
        }
    }
    std::borrow::Cow::Owned(v)
}

pub(crate) fn check_type(rtype: &str) -> Result<()> {
    if r4().is_resource_type(rtype) {
        Ok(())
    } else {
        Err(Failure::new(
            404,
            IssueCode::NotSupported,
            None,
            format!("'{rtype}' is not a FHIR R4 resource type"),
        ))
    }
}

pub(crate) fn check_id(id: &str) -> Result<()> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(Failure::new(
            400,
            IssueCode::Value,
            None,
            format!("'{id}' is not a valid resource id (1-64 of A-Z, a-z, 0-9, '-' and '.')"),
        ))
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn with_id(mut body: Value, id: &str) -> Value {
    if let Some(obj) = body.as_object_mut() {
        // id right after resourceType, where people look for it.
        obj.shift_remove("id");
        let at = usize::from(obj.keys().next().is_some_and(|k| k == "resourceType"));
        obj.shift_insert(at, "id".into(), Value::String(id.into()));
    }
    body
}

/// The store write for a validated resource, with its content hash and index rows.
pub(crate) fn put_write(
    rtype: &str,
    id: &str,
    body: Value,
    method: Method,
    skip_if_unchanged: bool,
) -> Write {
    Write::Put {
        rtype: rtype.into(),
        id: id.into(),
        content_hash: content_hash(&body),
        index: index_rows(&body),
        body,
        method,
        skip_if_unchanged,
    }
}

/// SHA-256 of the resource's JSON without `meta.versionId`/`meta.lastUpdated` (which incoming
/// resources never carry): equal hashes mean an update changes nothing.
pub fn content_hash(body: &Value) -> [u8; 32] {
    let text = serde_json::to_vec(body).unwrap_or_default();
    Sha256::digest(&text).into()
}

/// The search index rows stored with a resource: every search parameter's values.
pub fn index_rows(body: &Value) -> IndexRows {
    let rtype = body
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    IndexRows::from_entries(rtype, &kizuna_search::extract::extract(body))
}
