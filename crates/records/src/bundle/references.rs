//! Reference rewriting of transactions (`urn:uuid:` and conditional references).

use super::*;

/// Replaces every string equal to a key of `map` (references, uris), and occurrences inside
/// narrative `div`s (links and images), as a transaction requires.
pub fn rewrite_references(v: &mut Value, map: &HashMap<String, String>) {
    if map.is_empty() {
        return;
    }
    match v {
        Value::String(s) => {
            if let Some(new) = map.get(s.as_str()) {
                *s = new.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_references(x, map)),
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "div" {
                    if let Value::String(div) = x {
                        for (from, to) in map {
                            if div.contains(from.as_str()) {
                                *div = div.replace(&format!("\"{from}\""), &format!("\"{to}\""));
                            }
                        }
                    }
                } else {
                    rewrite_references(x, map);
                }
            }
        }
        _ => {}
    }
}

pub(super) fn collect_conditional_references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a
            .iter()
            .for_each(|x| collect_conditional_references(x, out)),
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(s))
                        if s.contains('?') && !s.contains("://") && !s.starts_with('#') =>
                    {
                        out.push(s.clone())
                    }
                    _ => collect_conditional_references(x, out),
                }
            }
        }
        _ => {}
    }
}

pub(super) fn nest(mut f: Failure, at: &str) -> Failure {
    for i in &mut f.issues {
        if i.expression.is_none() {
            i.expression = Some(at.to_string());
        }
    }
    f
}
