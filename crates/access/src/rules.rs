//! The access rules: what a caller may see, from the grants stored for it.
//!
//! - The node sees everything.
//! - An institution sees what it wrote (its custodian tag), the directory types every
//!   institution shares, and the records of every person who granted it access (a Consent by
//!   card or spoken, or an emergency access) for a period covering now, minus what that person
//!   hides; never the records of a person who opted out of sharing.
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
const MAX_GRANTS: usize = 20_000;

pub(crate) async fn scope_for(net: &Network, caller: &Caller) -> Result<Scope, Failure> {
    match &caller.agent {
        Agent::Node => Ok(Scope::default()),
        Agent::Unauthenticated => Err(Failure::new(
            401,
            IssueCode::Login,
            None,
            "the request carries no accepted credentials",
        )),
        Agent::Institution { code, name } => {
            let persons = granted_persons(net, code).await?;
            let mut patients = Vec::new();
            for person in persons {
                if let Some(p) = person_scope(net, &person, true).await? {
                    patients.push(p);
                }
            }
            Ok(Scope {
                access: Some(Arc::new(Access {
                    own: vec![(kizuna_records::CUSTODIAN_SYSTEM.into(), code.clone())],
                    shared_types: shared_types(),
                    patients,
                    never: vec![],
                    keys: access_keys(),
                })),
                custodian: Some((code.clone(), name.clone())),
            })
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
            let patients = person_scope(net, &v.id, false).await?.into_iter().collect();
            Ok(Scope {
                access: Some(Arc::new(Access {
                    own: vec![],
                    shared_types: shared_types(),
                    patients,
                    never: vec![(UNINFORMED.0.into(), UNINFORMED.1.into())],
                    keys: access_keys(),
                })),
                custodian: None,
            })
        }
    }
}

/// The network ids of the persons whose grant to institution `code` covers now.
pub(crate) async fn granted_persons(net: &Network, code: &str) -> Result<Vec<String>, Failure> {
    let now = kizuna_store::format_instant(crate::now_micros());
    let actor = format!("{INSTITUTION_SYSTEM}|{code}");
    let consents = index::search(
        &net.records,
        "Consent",
        &[
            ("actor:identifier", &actor),
            ("status", "active"),
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
    Ok(persons)
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
