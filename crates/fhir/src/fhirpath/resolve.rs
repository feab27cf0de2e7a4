//! `resolve()` without a store: a reference's target type from the reference itself, and
//! contained resources (see the module documentation of `fhirpath`).

use super::model::MODEL;
use super::{Item, TypeRef};
use serde_json::Value;

/// What `resolve()` gives for one item (see the module documentation).
pub(super) fn resolve<'a>(item: &Item<'a>) -> Option<Item<'a>> {
    let (reference, container, canonical) = match item {
        Item::Node(n) if n.fhir_type.is_a("Reference") => (
            n.value?.get("reference")?.as_str()?,
            Some(n.resource),
            false,
        ),
        Item::Node(n) if n.fhir_type.is_a("uri") || n.fhir_type.is_a("string") => (
            n.value?.as_str()?,
            Some(n.resource),
            n.fhir_type.name() == "canonical",
        ),
        Item::Str(s) => (s.as_str(), None, false),
        _ => return None,
    };
    if let Some(id) = reference.strip_prefix('#') {
        let container = container?;
        let contained = container.get("contained")?.as_array()?;
        let found = contained
            .iter()
            .find(|r| !id.is_empty() && r.get("id").and_then(Value::as_str) == Some(id))?;
        return Some(Item::Node(super::eval::resource_node(found)));
    }
    if canonical {
        return None;
    }
    resolve_type(reference).map(Item::Resolved)
}

/// The resource type a reference names: `Type/id`, `Type/id/_history/v`, or an absolute
/// `http(s)://host/.../Type/id[/_history/v]`.
pub(super) fn resolve_type(reference: &str) -> Option<TypeRef> {
    if reference.contains(['#', '?', '|']) {
        return None;
    }
    let (path, absolute) = match reference
        .strip_prefix("http://")
        .or_else(|| reference.strip_prefix("https://"))
    {
        Some(rest) => (rest.split_once('/')?.1, true),
        None => (reference, false),
    };
    let mut segments: Vec<&str> = path.split('/').collect();
    let n = segments.len();
    if n >= 2 && segments[n - 2] == "_history" {
        segments.truncate(n - 2);
    }
    if segments.len() < 2 || (!absolute && segments.len() != 2) {
        return None;
    }
    let (ty, id) = (segments[segments.len() - 2], segments[segments.len() - 1]);
    if id.is_empty() || !crate::r4().is_resource_type(ty) {
        return None;
    }
    MODEL.type_id(ty).map(TypeRef)
}
