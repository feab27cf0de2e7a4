//! Parsing the entries of a batch or transaction Bundle into requests.

use super::*;

/// Entries' requests, all parsed before anything happens (a transaction fails whole on any).
pub(super) fn parse_entries(
    entries: &[Value],
    base: &str,
    _transaction: bool,
) -> Result<Vec<Entry>> {
    let mut out = Vec::with_capacity(entries.len());
    let mut issues = Vec::new();
    for (i, raw) in entries.iter().enumerate() {
        match parse_entry(i, raw, base) {
            Ok(e) => out.push(e),
            Err(f) => issues.extend(f.issues),
        }
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        Err(Failure {
            status: 400,
            issues,
            deleted: None,
        })
    }
}

pub(super) fn parse_entry(i: usize, raw: &Value, base: &str) -> Result<Entry> {
    let at = format!("Bundle.entry[{i}]");
    let err = |path: &str, msg: String| {
        Failure::new(400, IssueCode::Invalid, Some(format!("{at}{path}")), msg)
    };
    let request = raw.get("request").ok_or_else(|| {
        err(
            ".request",
            "each entry needs a request (method and url)".into(),
        )
    })?;
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let verb = match method {
        "GET" | "HEAD" => Verb::Get,
        "POST" => Verb::Post,
        "PUT" => Verb::Put,
        "PATCH" => Verb::Patch,
        "DELETE" => Verb::Delete,
        other => {
            return Err(err(
                ".request.method",
                format!("'{other}' is not a method (GET, HEAD, POST, PUT, PATCH, DELETE)"),
            ));
        }
    };
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| err(".request.url", "the request has no url".into()))?;
    let local = url
        .strip_prefix(base)
        .unwrap_or(url)
        .trim_start_matches('/');
    if local.starts_with("http://") || local.starts_with("https://") {
        return Err(err(
            ".request.url",
            format!("'{url}' is not on this server ({base})"),
        ));
    }
    let (path, query) = match local.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (local, None),
    };
    let parts: Vec<&str> = path.split('/').collect();
    let (rtype, id, vid) = match parts.as_slice() {
        [t] => (*t, None, None),
        [t, id] => (*t, Some(id.to_string()), None),
        [t, id, "_history", v] => (*t, Some(id.to_string()), Some(v.to_string())),
        _ => {
            return Err(err(
                ".request.url",
                format!("'{url}' is not a [type], [type]/[id] or [type]/[id]/_history/[vid] url"),
            ));
        }
    };
    check_type(rtype).map_err(|f| nest(f, &format!("{at}.request.url")))?;
    if let Some(id) = &id {
        check_id(id).map_err(|f| nest(f, &format!("{at}.request.url")))?;
    }
    let resource = raw.get("resource").cloned();
    if matches!(verb, Verb::Post | Verb::Put | Verb::Patch) && resource.is_none() {
        return Err(err(
            ".resource",
            format!("a {method} entry needs a resource"),
        ));
    }
    if matches!(verb, Verb::Post | Verb::Put) {
        let t = resource
            .as_ref()
            .and_then(|r| r.get("resourceType"))
            .and_then(Value::as_str);
        if t != Some(rtype) {
            return Err(err(
                ".resource.resourceType",
                format!(
                    "the entry's resource is a {} but its url is for {rtype}",
                    t.unwrap_or("(no resourceType)")
                ),
            ));
        }
    }
    if verb == Verb::Put && id.is_none() && query.is_none() {
        return Err(err(
            ".request.url",
            "a PUT needs [type]/[id] or [type]?criteria".into(),
        ));
    }
    if matches!(verb, Verb::Patch | Verb::Delete)
        && id.is_none()
        && (verb == Verb::Patch || query.is_none())
    {
        return Err(err(
            ".request.url",
            format!(
                "a {method} needs [type]/[id]{}",
                if verb == Verb::Delete {
                    " or [type]?criteria"
                } else {
                    ""
                }
            ),
        ));
    }
    if verb == Verb::Post && id.is_some() {
        return Err(err(
            ".request.url",
            "a POST goes to [type]; the server assigns the id".into(),
        ));
    }
    let if_match = match request.get("ifMatch").and_then(Value::as_str) {
        Some(s) => Some(parse_etag(s).ok_or_else(|| {
            err(
                ".request.ifMatch",
                format!("'{s}' is not an ETag like W/\"3\""),
            )
        })?),
        None => None,
    };
    Ok(Entry {
        index: i,
        verb,
        rtype: rtype.to_string(),
        id,
        vid,
        query,
        full_url: raw
            .get("fullUrl")
            .and_then(Value::as_str)
            .map(str::to_string),
        resource,
        if_none_exist: request
            .get("ifNoneExist")
            .and_then(Value::as_str)
            .map(str::to_string),
        if_match,
    })
}

/// The version number of an ETag: `W/"3"`, `"3"` or `3`.
pub fn parse_etag(s: &str) -> Option<u64> {
    s.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

/// The JSON Patch of a PATCH entry: a Binary holding `application/json-patch+json`.
pub(super) fn patch_document(e: &Entry) -> Result<Value> {
    let r = e.resource.as_ref().unwrap_or(&Value::Null);
    let bad = |m: &str| {
        Failure::new(
            400,
            IssueCode::Invalid,
            Some(format!("Bundle.entry[{}].resource", e.index)),
            m.to_string(),
        )
    };
    if r.get("resourceType").and_then(Value::as_str) != Some("Binary") {
        return Err(bad(
            "a PATCH entry's resource must be a Binary holding a JSON Patch (FHIRPath Patch is not supported)",
        ));
    }
    let data = r
        .get("data")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the Binary has no data"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.split_whitespace().collect::<String>())
        .map_err(|_| bad("the Binary's data is not base64"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| bad("the Binary's data is not a JSON Patch document"))
}
