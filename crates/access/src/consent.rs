//! Consent: how an institution comes to see a patient's shared records.
//!
//! - **By card** (the normal way): the institution asks for a one-time [`Challenge`] bound to
//!   it and valid a few minutes; the patient's card signs it after the patient enters the PIN;
//!   the institution posts the signature and the card's certificate. The network checks the
//!   challenge (its own MAC, the institution, the time), the certificate (chain to the card
//!   authority, validity, revocation), the signature over this very challenge, and that the
//!   challenge was never answered before, then records a `Consent`.
//! - **Spoken** (the old insurance card without a chip): reception enters the insured-member id
//!   and birth date and records the patient's spoken consent; weaker, and marked so
//!   (`basis` `spoken`, not verified).
//! - **Emergency** ("break the glass"): without consent, with a stated reason, for a short
//!   period; recorded like a consent (`basis` `emergency`, purpose `ETREAT`), audited, shown to
//!   the patient and listed for the institution's administrator.
//!
//! A replayed answer is refused by the store itself: the challenge's nonce is the Consent's
//! identifier, created only if none has it (one atomic conditional create).

use crate::index::{self, CARD_SYSTEM, PERSON_SYSTEM};
use crate::rules::INSTITUTION_SYSTEM;
use crate::{Caller, Network};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kizuna_fhir::IssueCode;
use kizuna_records::Failure;
use kizuna_trust::pki::{self, AuthorityKind, Holder};
use serde_json::{Value, json};

/// The system of a Consent identifier holding the nonce of the challenge it answered.
pub const CHALLENGE_SYSTEM: &str = "urn:kizuna:challenge";
/// The system of the code saying how a grant was given (`card`, `spoken`, `emergency`).
pub const BASIS_SYSTEM: &str = "urn:kizuna:consent-basis";
/// The extension holding the reason of an emergency access.
pub const REASON_EXTENSION: &str = "urn:kizuna:emergency-reason";

/// Where the patient is treated, which bounds how long consent lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Outpatient,
    Inpatient,
}

/// How a grant was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Card,
    Spoken,
    Emergency,
}

impl Basis {
    pub fn code(self) -> &'static str {
        match self {
            Basis::Card => "card",
            Basis::Spoken => "spoken",
            Basis::Emergency => "emergency",
        }
    }
}

/// A granted access: the Consent recorded, whom it concerns, until when.
#[derive(Debug, Clone)]
pub struct Granted {
    pub consent: Value,
    pub consent_id: String,
    pub person: String,
    pub basis: Basis,
    /// Microseconds since the Unix epoch.
    pub until: i64,
}

/// A one-time challenge, as given to the institution (the card signs its `text`).
#[derive(Debug, Clone)]
pub struct Challenge {
    pub text: String,
    /// Microseconds since the Unix epoch.
    pub expires: i64,
}

/// The card's answer to a challenge.
#[derive(Debug, Clone)]
pub struct CardAnswer {
    pub challenge: String,
    pub signature: Vec<u8>,
    /// The card's certificate (DER).
    pub certificate: Vec<u8>,
    pub setting: Setting,
}

fn refuse(status: u16, code: IssueCode, message: impl Into<String>) -> Failure {
    Failure::new(status, code, None, message)
}

fn institution_of(caller: &Caller) -> Result<(String, String), Failure> {
    match &caller.agent {
        crate::Agent::Institution { code, name } => Ok((code.clone(), name.clone())),
        _ => Err(refuse(
            403,
            IssueCode::Forbidden,
            "only an institution can ask for or record consent",
        )),
    }
}

impl Network {
    /// A new one-time challenge for the calling institution.
    pub fn challenge(&self, caller: &Caller) -> Result<Challenge, Failure> {
        let (code, _) = institution_of(caller)?;
        let mut nonce = [0u8; 16];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| refuse(500, IssueCode::Exception, "the random generator failed"))?;
        let expires = crate::now_micros() + self.policy.challenge.as_micros() as i64;
        let claims = json!({"n": kizuna_trust::hex::encode(&nonce), "i": code, "e": expires});
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let tag = aws_lc_rs::hmac::sign(&self.challenge_key, body.as_bytes());
        Ok(Challenge {
            text: format!(
                "kizuna-consent.{body}.{}",
                URL_SAFE_NO_PAD.encode(tag.as_ref())
            ),
            expires,
        })
    }

    /// Checks a challenge this network issued to `code` and answers its nonce.
    fn open_challenge(&self, text: &str, code: &str) -> Result<String, Failure> {
        let bad = || {
            refuse(
                400,
                IssueCode::Invalid,
                "the challenge is not one this network issued; ask for a new one",
            )
        };
        let mut parts = text.split('.');
        let (Some("kizuna-consent"), Some(body), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        aws_lc_rs::hmac::verify(&self.challenge_key, body.as_bytes(), &tag).map_err(|_| bad())?;
        let claims: Value = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(bad)?;
        if claims["i"].as_str() != Some(code) {
            return Err(refuse(
                403,
                IssueCode::Forbidden,
                "the challenge was issued to another institution",
            ));
        }
        if claims["e"].as_i64().is_none_or(|e| e < crate::now_micros()) {
            return Err(refuse(
                403,
                IssueCode::Security,
                "the challenge has expired; ask for a new one and have the card sign it",
            ));
        }
        claims["n"].as_str().map(String::from).ok_or_else(bad)
    }

    /// Records the consent a card gave by signing a challenge.
    pub async fn consent_by_card(
        &self,
        caller: &Caller,
        answer: &CardAnswer,
    ) -> Result<Granted, Failure> {
        let (code, name) = institution_of(caller)?;
        let nonce = self.open_challenge(&answer.challenge, &code)?;
        let Some(cards) = &self.cards else {
            return Err(refuse(
                503,
                IssueCode::NotSupported,
                "this node checks no cards (start it with the card authority: kizuna serve --card-ca --card-crl)",
            ));
        };
        let (ca, crl) = cards
            .card_authority()
            .map_err(|e| refuse(503, IssueCode::Exception, e))?;
        let now = time::OffsetDateTime::now_utc();
        let serial = match pki::verify(&answer.certificate, &ca, AuthorityKind::Card, &crl, now) {
            Ok(Holder::Card { serial }) => serial,
            Ok(_) => {
                return Err(refuse(
                    403,
                    IssueCode::Security,
                    "the certificate is not a patient card's",
                ));
            }
            Err(e) => {
                return Err(refuse(
                    403,
                    IssueCode::Security,
                    format!("the card is refused: {e}"),
                ));
            }
        };
        if !kizuna_trust::card::signature_is_valid(
            &answer.certificate,
            answer.challenge.as_bytes(),
            &answer.signature,
        ) {
            return Err(refuse(
                403,
                IssueCode::Security,
                "the card's signature does not match this challenge",
            ));
        }
        let Some((person, _)) = index::person_by(self.records(), CARD_SYSTEM, &serial).await?
        else {
            return Err(refuse(
                404,
                IssueCode::NotFound,
                "this card is not registered in the patient index",
            ));
        };
        let period = self.policy.period(answer.setting);
        self.grant(
            &person.id,
            (&code, &name),
            Basis::Card,
            &caller.purpose,
            period,
            Some(&nonce),
            None,
        )
        .await
    }

    /// Records consent given by word at reception for a patient with the old insurance card:
    /// the insured-member id and the birth date must name a registered person.
    pub async fn consent_spoken(
        &self,
        caller: &Caller,
        insured_member_id: &str,
        birth_date: &str,
        setting: Setting,
    ) -> Result<Granted, Failure> {
        let (code, name) = institution_of(caller)?;
        let value = index::insured_member_value(insured_member_id)?;
        let found = index::person_by(
            self.records(),
            kizuna_jpid::INSURED_MEMBER_ID_SYSTEM,
            &value,
        )
        .await?;
        let mismatch = || {
            refuse(
                403,
                IssueCode::Security,
                "no registered patient has this insured-member id and birth date",
            )
        };
        let Some((person, body)) = found else {
            return Err(mismatch());
        };
        if !self.birth_date_matches(&body, birth_date).await? {
            return Err(mismatch());
        }
        let period = self.policy.period(setting);
        self.grant(
            &person.id,
            (&code, &name),
            Basis::Spoken,
            &caller.purpose,
            period,
            None,
            None,
        )
        .await
    }

    async fn birth_date_matches(&self, person: &Value, birth_date: &str) -> Result<bool, Failure> {
        let birth_date = birth_date.trim();
        if person.get("birthDate").and_then(Value::as_str) == Some(birth_date) {
            return Ok(true);
        }
        for id in index::patients_of(self.records(), person).await? {
            if let Some((_, p)) = index::read_json(self.records(), "Patient", &id).await?
                && p.get("birthDate").and_then(Value::as_str) == Some(birth_date)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Emergency access to the person `person` names (a network id or an insured-member id),
    /// for `reason`.
    pub async fn break_glass(
        &self,
        caller: &Caller,
        person: &str,
        reason: &str,
    ) -> Result<Granted, Failure> {
        let (code, name) = institution_of(caller)?;
        let reason = reason.trim();
        if reason.chars().count() < 4 {
            return Err(Failure::new(
                400,
                IssueCode::Required,
                Some("reason".into()),
                "emergency access needs a reason (who is treated, for what)",
            ));
        }
        let id = match index::read_json(self.records(), "Person", person).await? {
            Some((v, _)) => v.id,
            None => {
                let value = index::insured_member_value(person).map_err(|_| {
                    refuse(
                        404,
                        IssueCode::NotFound,
                        "no person in the patient index has this network id or insured-member id",
                    )
                })?;
                match index::person_by(
                    self.records(),
                    kizuna_jpid::INSURED_MEMBER_ID_SYSTEM,
                    &value,
                )
                .await?
                {
                    Some((v, _)) => v.id,
                    None => {
                        return Err(refuse(
                            404,
                            IssueCode::NotFound,
                            "no person in the patient index has this insured-member id",
                        ));
                    }
                }
            }
        };
        self.grant(
            &id,
            (&code, &name),
            Basis::Emergency,
            "ETREAT",
            self.policy.emergency,
            None,
            Some(reason),
        )
        .await
    }

    /// Records a grant to institution `(code, name)` over person `person` as a Consent.
    #[allow(clippy::too_many_arguments)]
    async fn grant(
        &self,
        person: &str,
        (code, name): (&str, &str),
        basis: Basis,
        purpose: &str,
        period: std::time::Duration,
        nonce: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Granted, Failure> {
        let Some((_, body)) = index::read_json(self.records(), "Person", person).await? else {
            return Err(refuse(404, IssueCode::NotFound, "no such person"));
        };
        if index::privacy(&body).opted_out {
            return Err(refuse(
                403,
                IssueCode::Forbidden,
                "the patient has opted out of sharing their records; nothing is shared, even in an emergency",
            ));
        }
        let patients = index::patients_of(self.records(), &body).await?;
        let now = crate::now_micros();
        let until = now + period.as_micros() as i64;
        let mut identifiers = vec![json!({"system": PERSON_SYSTEM, "value": person})];
        if let Some(n) = nonce {
            identifiers.push(json!({"system": CHALLENGE_SYSTEM, "value": n}));
        }
        let actor =
            json!({"identifier": {"system": INSTITUTION_SYSTEM, "value": code}, "display": name});
        let mut consent = json!({
            "resourceType": "Consent",
            "identifier": identifiers,
            "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
            "category": [
                {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]},
                {"coding": [{"system": BASIS_SYSTEM, "code": basis.code()}]}
            ],
            "dateTime": kizuna_store::format_instant(now),
            "organization": [actor.clone()],
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": if basis == Basis::Emergency { "EMRGONLY" } else { "OPTIN" }}]},
            "verification": [{"verified": basis == Basis::Card,
                "verificationDate": kizuna_store::format_instant(now)}],
            "provision": {
                "type": "permit",
                "period": {"start": kizuna_store::format_instant(now), "end": kizuna_store::format_instant(until)},
                "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
                    "reference": actor}],
                "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}]
            }
        });
        if let Some(p) = patients.first() {
            consent["patient"] = json!({"reference": format!("Patient/{p}")});
        }
        if let Some(r) = reason {
            consent["extension"] = json!([{"url": REASON_EXTENSION, "valueString": r}]);
        }
        let if_none_exist = nonce.map(|n| format!("identifier={CHALLENGE_SYSTEM}|{n}"));
        let reply = self
            .records()
            .create("Consent", consent, if_none_exist.as_deref())
            .await?;
        if reply.status != 201 {
            return Err(refuse(
                403,
                IssueCode::Security,
                "this challenge was already answered; a replayed answer grants nothing (ask for a new challenge)",
            ));
        }
        let Some(v) = reply.stored() else {
            return Err(refuse(
                500,
                IssueCode::Exception,
                "the consent was not stored",
            ));
        };
        let stored: Value = v
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        Ok(Granted {
            consent_id: v.id.clone(),
            consent: stored,
            person: person.to_string(),
            basis,
            until,
        })
    }
}
