//! History at instance, type and system level, as `history` Bundles paged by a cursor.

use crate::{Failure, Payload, Records, Reply, Result, check_id, check_type, not_found};
use kizuna_fhir::{Issue, IssueCode};
use kizuna_search::values::parse_date_period;
use kizuna_store::{HistoryQuery, HistoryScope, Method, Version, format_instant};
use serde_json::{Value, json};

const DEFAULT_COUNT: usize = 50;
const MAX_COUNT: usize = 1000;

/// The parameters a history request may carry.
#[derive(Debug, Default, Clone)]
pub struct HistoryParams {
    pub since: Option<String>,
    pub at: Option<String>,
    pub count: Option<String>,
    /// Opaque cursor of the next page (from a `next` link).
    pub page: Option<String>,
}

impl HistoryParams {
    /// Takes the history parameters from decoded query pairs; others draw a warning.
    pub fn from_pairs(pairs: &[(String, String)]) -> (HistoryParams, Vec<Issue>) {
        let mut p = HistoryParams::default();
        let mut warnings = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                // (parse_date_period reads an unencoded '+' that arrived as a space as meant.)
                "_since" => p.since = Some(v.clone()),
                "_at" => p.at = Some(v.clone()),
                "_count" => p.count = Some(v.clone()),
                "_page" => p.page = Some(v.clone()),
                "_format" | "_pretty" => {}
                other => warnings.push(Issue::warning(
                    IssueCode::NotSupported,
                    None,
                    format!(
                        "history ignores the parameter '{other}' (it takes _since, _at and _count)"
                    ),
                )),
            }
        }
        (p, warnings)
    }
}

impl Records {
    /// `GET [base]/_history`, `[type]/_history`, `[type]/[id]/_history`.
    pub async fn history(
        &self,
        rtype: Option<&str>,
        id: Option<&str>,
        params: &HistoryParams,
        base: &str,
    ) -> Result<Reply> {
        let scope = match (rtype, id) {
            (Some(t), Some(i)) => {
                check_type(t)?;
                check_id(i)?;
                if self.store().read(t, i).await?.is_none() || !self.may_see(t, i).await? {
                    return Err(not_found(t, i));
                }
                HistoryScope::Instance {
                    rtype: t.into(),
                    id: i.into(),
                }
            }
            (Some(t), None) => {
                check_type(t)?;
                HistoryScope::Type { rtype: t.into() }
            }
            _ => HistoryScope::System,
        };
        let bad = |name: &str, v: &str, expected: &str| {
            Failure::new(
                400,
                IssueCode::Value,
                None,
                format!("{name}='{v}' is not valid: expected {expected}"),
            )
        };
        let since = match &params.since {
            Some(s) => Some(
                parse_date_period(s)
                    .map_err(|_| bad("_since", s, "an instant such as 2024-05-01T10:00:00+09:00"))?
                    .start_micros,
            ),
            None => None,
        };
        let at = match &params.at {
            Some(s) => Some(
                parse_date_period(s)
                    .map(|p| (p.start_micros, p.end_micros))
                    .map_err(|_| bad("_at", s, "a date or dateTime such as 2024-05-01"))?,
            ),
            None => None,
        };
        let count = match &params.count {
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| bad("_count", c, "a whole number"))?
                .min(MAX_COUNT),
            None => DEFAULT_COUNT,
        };
        let before_seq = match &params.page {
            Some(p) => Some(
                p.parse::<i64>()
                    .map_err(|_| bad("_page", p, "a cursor taken from a next link"))?,
            ),
            None => None,
        };
        let page = if count == 0 {
            kizuna_store::HistoryPage {
                versions: vec![],
                next_before_seq: None,
            }
        } else {
            self.store()
                .history(HistoryQuery {
                    scope: scope.clone(),
                    since,
                    at,
                    count,
                    before_seq,
                    access: self.access().cloned(),
                })
                .await?
        };
        let path = match &scope {
            HistoryScope::Instance { rtype, id } => format!("{base}/{rtype}/{id}/_history"),
            HistoryScope::Type { rtype } => format!("{base}/{rtype}/_history"),
            HistoryScope::System => format!("{base}/_history"),
        };
        let mut query = vec![format!("_count={count}")];
        if let Some(s) = &params.since {
            query.push(format!("_since={}", encode(s)));
        }
        if let Some(a) = &params.at {
            query.push(format!("_at={}", encode(a)));
        }
        let mut self_query = query.clone();
        if let Some(p) = &params.page {
            self_query.push(format!("_page={p}"));
        }
        let mut links =
            vec![json!({"relation": "self", "url": format!("{path}?{}", self_query.join("&"))})];
        if let Some(next) = page.next_before_seq {
            query.push(format!("_page={next}"));
            links.push(json!({"relation": "next", "url": format!("{path}?{}", query.join("&"))}));
        }
        let entries: Vec<Value> = page
            .versions
            .iter()
            .map(|v| history_entry(v, base))
            .collect();
        let bundle = json!({
            "resourceType": "Bundle",
            "type": "history",
            "timestamp": format_instant(jiff::Timestamp::now().as_microsecond()),
            "link": links,
            "entry": entries,
        });
        Ok(Reply {
            status: 200,
            payload: Payload::Json(bundle),
            location: None,
            issues: vec![],
        })
    }
}

fn history_entry(v: &Version, base: &str) -> Value {
    let mut e = json!({ "fullUrl": format!("{base}/{}/{}", v.rtype, v.id) });
    if let Some(body) = &v.body {
        e["resource"] = serde_json::from_str(body).unwrap_or(Value::Null);
    }
    let (url, status) = match v.method {
        Method::Post => (v.rtype.clone(), "201 Created"),
        Method::Delete => (format!("{}/{}", v.rtype, v.id), "204 No Content"),
        _ if v.version == 1 => (format!("{}/{}", v.rtype, v.id), "201 Created"),
        _ => (format!("{}/{}", v.rtype, v.id), "200 OK"),
    };
    e["request"] = json!({ "method": v.method.as_str(), "url": url });
    e["response"] = json!({
        "status": status,
        "etag": format!("W/\"{}\"", v.version),
        "lastModified": format_instant(v.last_updated),
    });
    e
}

/// Percent-encodes a query value.
pub(crate) fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
