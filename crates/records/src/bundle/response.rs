//! The response Bundles of batches and transactions, entry by entry.

use super::*;

pub(super) fn written_entry_reply(e: &Entry, w: &kizuna_store::Written) -> Result<Reply> {
    let mut r = match (&w.outcome, &w.version) {
        (WriteOutcome::Created, Some(v)) => Reply::version(201, v.clone()),
        (WriteOutcome::Deleted, Some(v)) => Reply {
            payload: Payload::None,
            status: 200,
            ..Reply::version(200, v.clone())
        },
        (WriteOutcome::NothingToDelete, _) => Reply {
            status: 204,
            payload: Payload::None,
            location: None,
            issues: vec![],
        },
        (_, Some(v)) => Reply::version(200, v.clone()),
        (_, None) => return unreachable_reply(),
    };
    if w.outcome == WriteOutcome::Unchanged {
        r.issues.push(Issue::information(format!(
            "{}/{} is unchanged; no new version",
            e.rtype,
            e.id.as_deref().unwrap_or("")
        )));
    }
    Ok(r)
}

/// The response entry of a successful interaction.
pub(super) fn response_entry(r: &Reply, base: &str, prefer: Prefer) -> Value {
    let mut response = Map::new();
    response.insert("status".into(), Value::String(status_line(r.status)));
    if let Some(loc) = &r.location {
        response.insert("location".into(), Value::String(loc.clone()));
    }
    let mut entry = Map::new();
    if let Some(v) = r.stored() {
        response.insert("etag".into(), Value::String(format!("W/\"{}\"", v.version)));
        response.insert(
            "lastModified".into(),
            Value::String(format_instant(v.last_updated)),
        );
        entry.insert(
            "fullUrl".into(),
            Value::String(format!("{base}/{}/{}", v.rtype, v.id)),
        );
    }
    match (prefer, &r.payload) {
        (Prefer::Representation, Payload::Version(v)) => {
            if let Some(b) = &v.body {
                entry.insert(
                    "resource".into(),
                    serde_json::from_str(b).unwrap_or(Value::Null),
                );
            }
        }
        (Prefer::Representation, Payload::Json(j)) => {
            entry.insert("resource".into(), j.clone());
        }
        (Prefer::Representation, Payload::Text(t)) => {
            entry.insert(
                "resource".into(),
                serde_json::from_str(t).unwrap_or(Value::Null),
            );
        }
        (Prefer::OperationOutcome, _) => {
            response.insert("outcome".into(), operation_outcome(&r.issues));
        }
        _ => {}
    }
    if !r.issues.is_empty()
        && prefer != Prefer::OperationOutcome
        && r.issues
            .iter()
            .any(|i| i.severity <= kizuna_fhir::Severity::Warning)
    {
        response.insert("outcome".into(), operation_outcome(&r.issues));
    }
    entry.insert("response".into(), Value::Object(response));
    Value::Object(entry)
}

pub(super) fn failure_entry(f: &Failure, index: usize) -> Value {
    let issues: Vec<Issue> = f
        .issues
        .iter()
        .cloned()
        .map(|i| match i.expression {
            Some(_) => i,
            None => Issue {
                expression: Some(format!("Bundle.entry[{index}]")),
                ..i
            },
        })
        .collect();
    json!({ "response": { "status": status_line(f.status), "outcome": operation_outcome(&issues) } })
}

pub(super) fn bundle_reply(kind: &str, entries: Vec<Value>) -> Reply {
    let bundle = json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "type": kind,
        "timestamp": format_instant(jiff::Timestamp::now().as_microsecond()),
        "entry": entries,
    });
    Reply {
        status: 200,
        payload: Payload::Json(bundle),
        location: None,
        issues: vec![],
    }
}

/// `201 Created`, as `Bundle.entry.response.status` wants it.
pub fn status_line(status: u16) -> String {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    };
    format!("{status} {reason}").trim_end().to_string()
}
