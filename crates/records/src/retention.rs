//! How long kept documents stay: each document's term runs from when the network received it
//! (its Binary's time) for [`Retention::years`] (5 by default), or, when it or one of its
//! entries is tagged for long-term storage (`LTS`), for [`Retention::lts_years`] (for ever by
//! default). When the term has ended, the document goes whole: its DocumentReference (every
//! version), the Binary holding it, and every entry it created (deleted ones included), but
//! not the Organizations, which other documents share. Nothing within its term is ever
//! removed: [`Records::purge_document`] checks the term again itself.

use crate::scope::tag_codes;
use crate::{Failure, Records, Result};
use kizuna_documents::{DOCUMENT_TAG, INDICATION_SYSTEM};
use kizuna_fhir::IssueCode;
use serde_json::Value;

/// The terms documents are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Years a document is kept (5: Japan's sharing service keeps the six information and the
    /// documents for five years).
    pub years: u32,
    /// Years a document tagged `LTS` is kept; None: for ever.
    pub lts_years: Option<u32>,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            years: 5,
            lts_years: None,
        }
    }
}

/// One kept document and its term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentTerm {
    /// The DocumentReference's id.
    pub document: String,
    /// `Patient/{id}`, the document's subject.
    pub patient: Option<String>,
    /// When the network received it (microseconds since the epoch).
    pub received: i64,
    pub lts: bool,
    /// When its term ends; None: kept for ever.
    pub ends: Option<i64>,
    /// What removing it removes (type, id).
    pub parts: Vec<(String, String)>,
}

impl DocumentTerm {
    /// Whether its term has ended at `now`.
    pub fn ended(&self, now: i64) -> bool {
        self.ends.is_some_and(|e| e <= now)
    }
}

impl Records {
    /// Every document the network keeps, with its term under `policy`. The node's view only.
    pub async fn document_terms(&self, policy: &Retention) -> Result<Vec<DocumentTerm>> {
        self.node_only()?;
        let (docrefs, _) = self
            .search_all(
                "DocumentReference",
                vec![("_tag:missing".to_string(), "false".to_string())],
                usize::MAX,
            )
            .await?;
        let mut out = Vec::new();
        for d in &docrefs {
            if let Some(t) = self.term_of(d, policy).await? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The term of one DocumentReference, if it indexes a kept document.
    async fn term_of(&self, docref: &Value, policy: &Retention) -> Result<Option<DocumentTerm>> {
        let Some(id) = docref["id"].as_str() else {
            return Ok(None);
        };
        if !tag_codes(docref, DOCUMENT_TAG).iter().any(|c| c == id) {
            return Ok(None);
        }
        let Some(bin) = crate::documents::binary_of(docref) else {
            return Ok(None);
        };
        let Some(stored) = self.store.read("Binary", bin).await? else {
            return Ok(None);
        };
        let received = stored.last_updated;
        let lts = tag_codes(docref, INDICATION_SYSTEM)
            .iter()
            .any(|c| c == "LTS");
        let years = if lts {
            policy.lts_years
        } else {
            Some(policy.years)
        };
        let ends = years.and_then(|y| add_years(received, y));
        let mut parts = vec![
            ("DocumentReference".to_string(), id.to_string()),
            ("Binary".to_string(), bin.to_string()),
        ];
        for r in docref
            .pointer("/context/related")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r["reference"].as_str())
        {
            if let Some((t, i)) = r.split_once('/')
                && t != "Organization"
                && !i.contains('/')
            {
                parts.push((t.to_string(), i.to_string()));
            }
        }
        Ok(Some(DocumentTerm {
            document: id.to_string(),
            patient: docref["subject"]["reference"].as_str().map(String::from),
            received,
            lts,
            ends,
            parts,
        }))
    }

    /// Removes the document `document` (a DocumentReference id) if its term under `policy`
    /// has ended at `now`, whole (see the module doc); refuses one still within its term (the
    /// term is read again from what is stored). Answers what went: None if there is no such
    /// document, else the term and how many resources were removed.
    pub async fn purge_document(
        &self,
        document: &str,
        policy: &Retention,
        now: i64,
    ) -> Result<Option<(DocumentTerm, usize)>> {
        self.node_only()?;
        let Some(body) = self
            .store
            .read("DocumentReference", document)
            .await?
            .and_then(|v| {
                v.body
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<Value>(b).ok())
            })
        else {
            return Ok(None);
        };
        let Some(term) = self.term_of(&body, policy).await? else {
            return Ok(None);
        };
        if !term.ended(now) {
            return Err(Failure::new(
                409,
                IssueCode::BusinessRule,
                None,
                format!(
                    "DocumentReference/{document} is within its retention term; it is never removed before its term ends"
                ),
            ));
        }
        let n = self.store.purge(term.parts.clone()).await?;
        Ok(Some((term, n)))
    }
}

impl Records {
    /// Refuses any caller but the node itself.
    fn node_only(&self) -> Result<()> {
        if self.scope().access.is_some() {
            return Err(Failure::new(
                403,
                IssueCode::Forbidden,
                None,
                "retention is the node operator's",
            ));
        }
        Ok(())
    }
}

/// `micros` plus `years` calendar years (UTC); None past the representable range.
fn add_years(micros: i64, years: u32) -> Option<i64> {
    let ts = jiff::Timestamp::from_microsecond(micros).ok()?;
    let z = ts.to_zoned(jiff::tz::TimeZone::UTC);
    let later = z
        .checked_add(jiff::Span::new().years(i64::from(years)))
        .ok()?;
    Some(later.timestamp().as_microsecond())
}
