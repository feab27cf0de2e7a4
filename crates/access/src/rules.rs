//! The access rules: what a caller may see, from the grants stored for it.
//!
//! - The node sees everything.
//! - An institution sees what it wrote (its custodian tag), the documents addressed to it (a
//!   referral letter's index and the letter itself: the addressee tag), the directory types every
//!   institution shares, and the records of every person who granted it access (a Consent by
//!   card or spoken, or an emergency access) for a period covering now, minus what that person
//!   hides; never the records of a person who opted out of sharing.
//! - Personal health records: an institution reads those a patient shared with it (a Consent
//!   of kind `phr`, which opens nothing else); a patient reads and adds to their own.
//! - A patient sees their own records (every Patient the index links to them and what is in
//!   their compartments), except conditions not yet disclosed to them (`UNINFORMED`).

use crate::index::{self, PERSON_SYSTEM};
use crate::{Agent, Caller, Network};
use kizuna_fhir::IssueCode;
use kizuna_records::{Failure, Scope, access_keys, shared_types};
use kizuna_store::{Access, PatientScope};
use serde_json::Value;
use std::sync::Arc;

/// The system of the 10-digit medical institution code (JP Core).
pub const INSTITUTION_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";

/// The tag of a condition not yet disclosed to the patient (JP-CLINS).
pub const UNINFORMED: (&str, &str) = (
    "http://jpfhir.jp/fhir/clins/CodeSystem/JP_ehrshrs_indication",
    "UNINFORMED",
);

/// The most persons one institution's grants cover at once (beyond: the oldest are left out
/// and the server logs it).
pub(crate) const MAX_GRANTS: usize = 20_000;

/// The resource types a caller's scope is derived from: grants (Consent), the patient index
/// and its privacy choices (Person), and the patients it links (Patient).
const SCOPE_SOURCES: &[&str] = &["Consent", "Person", "Patient"];

/// Scopes computed recently, per institution or card: a scope costs a grant search and a read
/// per granted person, and every request needs one.
#[derive(Default)]
pub(crate) struct ScopeCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, Cached>>,
}

struct Cached {
    /// [`kizuna_store::Changes::of`] the scope's sources when it was computed.
    changes: u64,
    /// When the scope stops being valid: the TTL, or the first grant in it ending sooner.
    until: i64,
    scope: Scope,
}

/// Cached entries beyond which the cache is emptied (a bound on memory, not expected in use).
const SCOPE_CACHE_MAX: usize = 100_000;

pub(crate) async fn scope_for(net: &Network, caller: &Caller) -> Result<Scope, Failure> {
    let key = match &caller.agent {
        Agent::Institution { code, name } => format!("i|{code}|{name}"),
        Agent::Patient { card_serial } => format!("c|{card_serial}"),
        Agent::Node | Agent::Unauthenticated => return compute(net, caller).await.map(|c| c.0),
    };
    // Read before computing: a write committed meanwhile makes the entry stale at once.
    let changes = net.records().store().changes().of(SCOPE_SOURCES);
    let now = crate::now_micros();
    {
        let entries = net.scopes.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = entries.get(&key)
            && c.changes == changes
            && now < c.until
        {
            return Ok(c.scope.clone());
        }
    }
    let (scope, ends) = compute(net, caller).await?;
    // How long it may serve without a local write to its sources (`Policy::scope_cache`).
    let ttl = i64::try_from(net.policy.scope_cache.as_micros()).unwrap_or(i64::MAX);
    let until = now.saturating_add(ttl).min(ends.unwrap_or(i64::MAX));
    let mut entries = net.scopes.entries.lock().unwrap_or_else(|p| p.into_inner());
    if entries.len() >= SCOPE_CACHE_MAX {
        entries.clear();
    }
    entries.insert(
        key,
        Cached {
            changes,
            until,
            scope: scope.clone(),
        },
    );
    Ok(scope)
}

/// The scope of `caller`, and when the first grant in it ends.
async fn compute(net: &Network, caller: &Caller) -> Result<(Scope, Option<i64>), Failure> {
    match &caller.agent {
        Agent::Node => Ok((Scope::default(), None)),
        Agent::Unauthenticated => Err(Failure::new(
            401,
            IssueCode::Login,
            None,
            "the request carries no accepted credentials",
        )),
        Agent::Institution { code, name } => {
            let (persons, ends) = granted_persons(net, code).await?;
            let mut patients = Vec::new();
            for person in persons {
                if let Some(p) = person_scope(net, &person, true).await? {
                    patients.push(p);
                }
            }
            // Personal health records: those their patients shared with it, to read.
            let mut phr = kizuna_records::PhrAccess::default();
            for person in crate::sharing::sharing_persons(net, code).await? {
                if let Some(p) = person_scope(net, &person, true).await? {
                    phr.read.extend(p.ids);
                }
            }
            let scope = Scope {
                access: Some(Arc::new(Access {
                    // What it wrote, and the documents addressed to it (referral letters).
                    own: vec![
                        (kizuna_records::CUSTODIAN_SYSTEM.into(), code.clone()),
                        (kizuna_documents::ADDRESSEE_TAG.into(), code.clone()),
                    ],
                    shared_types: shared_types(),
                    patients,
                    never: vec![],
                    keys: access_keys(),
                })),
                custodian: Some((code.clone(), name.clone())),
                stamps: Vec::new(),
                server_tags: false,
                phr: Some(Arc::new(phr)),
            };
            Ok((scope, ends))
        }
        Agent::Patient { card_serial } => {
            let Some((v, _)) =
                index::person_by(&net.records, index::CARD_SYSTEM, card_serial).await?
            else {
                return Err(Failure::new(
                    403,
                    IssueCode::Forbidden,
                    None,
                    "this card is not registered in the patient index; ask your insurer or a reception desk to register it",
                ));
            };
            let patients: Vec<PatientScope> =
                person_scope(net, &v.id, false).await?.into_iter().collect();
            // Their own personal health records, to read and add to.
            let own: Vec<String> = patients.iter().flat_map(|p| p.ids.clone()).collect();
            let phr = kizuna_records::PhrAccess {
                read: own.clone(),
                write: own,
            };
            let scope = Scope {
                access: Some(Arc::new(Access {
                    own: vec![],
                    shared_types: shared_types(),
                    patients,
                    never: vec![(UNINFORMED.0.into(), UNINFORMED.1.into())],
                    keys: access_keys(),
                })),
                custodian: None,
                stamps: Vec::new(),
                server_tags: false,
                phr: Some(Arc::new(phr)),
            };
            Ok((scope, None))
        }
    }
}

/// The network ids of the persons whose grant to institution `code` covers now, and when the
/// first of those grants ends.
pub(crate) async fn granted_persons(
    net: &Network,
    code: &str,
) -> Result<(Vec<String>, Option<i64>), Failure> {
    let now = kizuna_store::format_instant(crate::now_micros());
    let actor = format!("{INSTITUTION_SYSTEM}|{code}");
    let phr_kind = format!(
        "{}|{}",
        crate::sharing::KIND_SYSTEM,
        crate::sharing::PHR_KIND
    );
    let consents = index::search(
        &net.records,
        "Consent",
        &[
            ("actor:identifier", &actor),
            ("status", "active"),
            // A share of personal health records opens nothing else.
            ("category:not", &phr_kind),
            ("period", &format!("ge{now}")),
            ("period", &format!("le{now}")),
        ],
        MAX_GRANTS,
    )
    .await?;
    if consents.len() >= MAX_GRANTS {
        tracing::warn!(
            institution = code,
            "more active grants than one request considers"
        );
    }
    let mut persons: Vec<String> = consents
        .iter()
        .flat_map(|(_, c)| index::identifiers(c, PERSON_SYSTEM).map(String::from))
        .collect();
    persons.sort();
    persons.dedup();
    let ends = consents
        .iter()
        .filter_map(|(_, c)| c.pointer("/provision/period/end")?.as_str())
        .filter_map(|end| kizuna_search::values::parse_date_period(end).ok())
        .map(|p| p.end_micros)
        .min();
    Ok((persons, ends))
}

/// The records of person `id` as others (`for_others`) or the person sees them; None when
/// the person opted out of sharing (for others) or is unknown.
async fn person_scope(
    net: &Network,
    id: &str,
    for_others: bool,
) -> Result<Option<PatientScope>, Failure> {
    let Some((_, mut person)) = index::read_json(&net.records, "Person", id).await? else {
        return Ok(None);
    };
    if person.get("active").and_then(Value::as_bool) == Some(false) {
        // Merged into another person: grants given to it follow (one step).
        let Some(kept) = person
            .pointer("/link/0/target/reference")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("Person/"))
            .map(String::from)
        else {
            return Ok(None);
        };
        match index::read_json(&net.records, "Person", &kept).await? {
            Some((_, p)) if p.get("active").and_then(Value::as_bool) != Some(false) => person = p,
            _ => return Ok(None),
        }
    }
    let privacy = index::privacy(&person);
    if for_others && privacy.opted_out {
        return Ok(None);
    }
    let ids = index::patients_of(&net.records, &person).await?;
    Ok(Some(if for_others {
        PatientScope {
            ids,
            hidden_labels: privacy.hidden_labels,
            hidden: privacy.hidden_records,
        }
    } else {
        PatientScope {
            ids,
            ..Default::default()
        }
    }))
}
