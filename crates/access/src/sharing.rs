//! Sharing personal health records: the patient lets one institution read the measurements
//! they brought from their own devices and apps, until they revoke it. A share is a `Consent`
//! (category `urn:kizuna:consent-kind|phr`, no end), separate from the consent that opens the
//! clinical records: a doctor seeing a patient's records does not see their wearable data
//! unless the patient shared it, and a share opens nothing else. Revoking makes the Consent
//! `inactive` with its period ended (its history keeps when it was in force).

use crate::index::{self, PERSON_SYSTEM};
use crate::rules::INSTITUTION_SYSTEM;
use crate::{Agent, Caller, Network};
use kizuna_fhir::IssueCode;
use kizuna_records::Failure;
use serde_json::{Value, json};

/// The system of the kind of a Consent that is not a grant of the clinical records.
pub const KIND_SYSTEM: &str = "urn:kizuna:consent-kind";
/// The kind of a share of personal health records.
pub const PHR_KIND: &str = "phr";

/// The most shares one person has at once that are considered.
const MAX_SHARES: usize = 1_000;

fn refuse(status: u16, code: IssueCode, message: impl Into<String>) -> Failure {
    Failure::new(status, code, None, message)
}

impl Network {
    /// The person whose records Patient `patient` is, if `caller` may share them: the patient
    /// (through their card) or the node acting for them.
    async fn sharer(&self, caller: &Caller, patient: &str) -> Result<String, Failure> {
        let persons = index::persons_of_patient(self.records(), patient).await?;
        let Some(person) = persons.first().cloned() else {
            return Err(refuse(
                404,
                IssueCode::NotFound,
                format!("Patient/{patient} is not in the patient index"),
            ));
        };
        match &caller.agent {
            Agent::Node => Ok(person),
            Agent::Patient { card_serial } => {
                match index::person_by(self.records(), index::CARD_SYSTEM, card_serial).await? {
                    Some((v, _)) if persons.contains(&v.id) => Ok(v.id),
                    _ => Err(refuse(
                        403,
                        IssueCode::Forbidden,
                        "only the patient themself shares or revokes their personal health records",
                    )),
                }
            }
            _ => Err(refuse(
                403,
                IssueCode::Forbidden,
                "only the patient themself shares or revokes their personal health records",
            )),
        }
    }

    /// The active shares of `person`'s records (with `institution`, if given).
    async fn shares_of(
        &self,
        person: &str,
        institution: Option<&str>,
    ) -> Result<Vec<(String, Value)>, Failure> {
        let who = format!("{PERSON_SYSTEM}|{person}");
        let kind = format!("{KIND_SYSTEM}|{PHR_KIND}");
        let actor = institution.map(|c| format!("{INSTITUTION_SYSTEM}|{c}"));
        let mut criteria = vec![
            ("identifier", who.as_str()),
            ("category", kind.as_str()),
            ("status", "active"),
        ];
        if let Some(a) = &actor {
            criteria.push(("actor:identifier", a));
        }
        index::search(self.records(), "Consent", &criteria, MAX_SHARES).await
    }

    /// Shares Patient `patient`'s personal health records with institution `code` (idempotent:
    /// an active share is answered as it is). Answers the Consent and whether it is new.
    pub async fn share_phr(
        &self,
        caller: &Caller,
        patient: &str,
        code: &str,
    ) -> Result<(Value, bool), Failure> {
        if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse(
                400,
                IssueCode::Invalid,
                format!("'{code}' is not a 10-digit medical institution code"),
            ));
        }
        let person = self.sharer(caller, patient).await?;
        if let Some((_, existing)) = self
            .shares_of(&person, Some(code))
            .await?
            .into_iter()
            .next()
        {
            return Ok((existing, false));
        }
        let Some((_, body)) = index::read_json(self.records(), "Person", &person).await? else {
            return Err(refuse(404, IssueCode::NotFound, "no such person"));
        };
        if index::privacy(&body).opted_out {
            return Err(refuse(
                409,
                IssueCode::BusinessRule,
                "the patient has opted out of sharing their records; change that choice first",
            ));
        }
        let now = kizuna_store::format_instant(crate::now_micros());
        let actor = json!({"identifier": {"system": INSTITUTION_SYSTEM, "value": code}});
        let consent = json!({
            "resourceType": "Consent",
            "identifier": [{"system": PERSON_SYSTEM, "value": person}],
            "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
            "category": [
                {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]},
                {"coding": [{"system": KIND_SYSTEM, "code": PHR_KIND,
                    "display": "personal health records shared by the patient"}]}
            ],
            "patient": {"reference": format!("Patient/{patient}")},
            "dateTime": now,
            "organization": [actor.clone()],
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
            "provision": {
                "type": "permit",
                "period": {"start": now},
                "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
                    "reference": actor}],
                "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}]
            }
        });
        let reply = self.records().create("Consent", consent, None).await?;
        let stored = reply
            .stored()
            .and_then(|v| v.body.as_deref())
            .and_then(|b| serde_json::from_str(b).ok())
            .ok_or_else(|| refuse(500, IssueCode::Exception, "the share was not stored"))?;
        Ok((stored, true))
    }

    /// Revokes every active share of Patient `patient`'s personal health records with
    /// institution `code`; answers how many there were.
    pub async fn revoke_phr(
        &self,
        caller: &Caller,
        patient: &str,
        code: &str,
    ) -> Result<usize, Failure> {
        let person = self.sharer(caller, patient).await?;
        let shares = self.shares_of(&person, Some(code)).await?;
        let now = kizuna_store::format_instant(crate::now_micros());
        for (id, mut consent) in shares.iter().cloned() {
            consent["status"] = json!("inactive");
            consent["provision"]["period"]["end"] = json!(now);
            if let Some(meta) = consent.get_mut("meta").and_then(Value::as_object_mut) {
                meta.remove("versionId");
                meta.remove("lastUpdated");
            }
            self.records().update("Consent", &id, consent, None).await?;
        }
        Ok(shares.len())
    }

    /// The institutions Patient `patient`'s personal health records are shared with (codes),
    /// as the patient or the node sees them.
    pub async fn phr_shares(&self, caller: &Caller, patient: &str) -> Result<Vec<Value>, Failure> {
        let person = self.sharer(caller, patient).await?;
        Ok(self
            .shares_of(&person, None)
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }
}

/// The persons who share their personal health records with institution `code`.
pub(crate) async fn sharing_persons(net: &Network, code: &str) -> Result<Vec<String>, Failure> {
    let actor = format!("{INSTITUTION_SYSTEM}|{code}");
    let kind = format!("{KIND_SYSTEM}|{PHR_KIND}");
    let consents = index::search(
        net.records(),
        "Consent",
        &[
            ("actor:identifier", &actor),
            ("category", &kind),
            ("status", "active"),
        ],
        crate::rules::MAX_GRANTS,
    )
    .await?;
    let mut persons: Vec<String> = consents
        .iter()
        .flat_map(|(_, c)| index::identifiers(c, PERSON_SYSTEM).map(String::from))
        .collect();
    persons.sort();
    persons.dedup();
    Ok(persons)
}
