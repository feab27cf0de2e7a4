//! `kizuna-access`: who may see what, over the records. Owns the [`Caller`] of a request (the
//! institution, its acting staff member and purpose of use, or a patient through their card),
//! the rules that turn a caller into the [`Scope`] every interaction runs in ([`Network::scope_for`]:
//! own records, records of patients who consented, minus what each patient hides), the patient
//! index ([`index`]: a `Person` per patient, linking Patient resources by exact identifier),
//! consent ([`consent`]: one-time challenges signed by the patient's card, spoken consent for the
//! old insurance card, emergency access), and the audit events of every interaction ([`audit`]).
//!
//! Grants are FHIR `Consent` resources and the index is `Person` resources, written by the
//! network itself (not by any institution), so they have versions, history and search like any
//! record, and no institution reads them directly.
//!
//! Must never: know HTTP, grant anything not backed by a stored Consent (or the caller's own
//! records), log patient data or a My Number, or let a caller's own input choose its identity
//! (that comes from a verified certificate or token).

pub mod audit;
pub mod consent;
pub mod index;
mod rules;
pub mod sharing;

use kizuna_records::{Failure, Records, Scope};
use std::sync::Arc;
use std::time::Duration;

pub use rules::{INSTITUTION_SYSTEM, UNINFORMED};

/// Who makes a request, as authentication established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    /// The node itself: its operator on this machine, imports. Sees everything.
    Node,
    /// An institution (its mutual-TLS certificate, or a SMART client registered for it).
    Institution { code: String, name: String },
    /// A patient, through the certificate of their card.
    Patient { card_serial: String },
    /// A client whose credentials were refused (recorded in the audit log; sees nothing).
    Unauthenticated,
}

/// A request's caller: who, for whom, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub agent: Agent,
    /// The staff member acting through the institution (from a staff certificate, or as the
    /// institution asserts it).
    pub staff: Option<String>,
    /// The purpose of use (HL7 v3 PurposeOfUse: `TREAT`, `ETREAT`, `PATRQT` …).
    pub purpose: String,
    /// The SMART client the institution acts through, if any.
    pub client: Option<String>,
}

impl Caller {
    pub fn node() -> Caller {
        Caller {
            agent: Agent::Node,
            staff: None,
            purpose: "HOPERAT".into(),
            client: None,
        }
    }

    pub fn institution(code: &str, name: &str) -> Caller {
        Caller {
            agent: Agent::Institution {
                code: code.into(),
                name: name.into(),
            },
            staff: None,
            purpose: "TREAT".into(),
            client: None,
        }
    }

    /// The institution's code, if the caller is one.
    pub fn institution_code(&self) -> Option<&str> {
        match &self.agent {
            Agent::Institution { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The purposes of use a caller may state (HL7 v3 PurposeOfUse).
pub const PURPOSES: &[(&str, &str)] = &[
    ("TREAT", "treatment"),
    ("ETREAT", "emergency treatment"),
    ("PATRQT", "patient requested"),
    ("HOPERAT", "healthcare operations"),
    ("CAREMGT", "care management"),
];

/// How long grants last.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Consent given at an outpatient visit.
    pub outpatient: Duration,
    /// Consent given at admission (until discharge; this bounds it).
    pub inpatient: Duration,
    /// Emergency access.
    pub emergency: Duration,
    /// How long a challenge may be answered.
    pub challenge: Duration,
    /// How long a caller's computed scope (its grants and the persons behind them) serves
    /// requests while no Consent, Person or Patient is written through this process. It bounds
    /// how late a change made by another process sharing the database, or a grant whose period
    /// starts later, takes effect; a grant ending sooner ends the cached scope with it.
    pub scope_cache: Duration,
}

impl Policy {
    /// How long consent given in `setting` lasts.
    pub fn period(&self, setting: consent::Setting) -> Duration {
        match setting {
            consent::Setting::Outpatient => self.outpatient,
            consent::Setting::Inpatient => self.inpatient,
        }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            outpatient: Duration::from_secs(24 * 3600),
            inpatient: Duration::from_secs(60 * 24 * 3600),
            emergency: Duration::from_secs(4 * 3600),
            challenge: Duration::from_secs(300),
            scope_cache: Duration::from_secs(1),
        }
    }
}

/// The card authority patients' cards are checked against: its certificate and CRL (DER),
/// reread by the caller when they change.
pub trait CardTrust: Send + Sync {
    /// The card authority's certificate and current CRL.
    fn card_authority(&self) -> Result<(Vec<u8>, Vec<u8>), String>;
}

/// The network's access services over one store.
#[derive(Clone)]
pub struct Network {
    /// The records as the node itself (no access rules).
    records: Records,
    challenge_key: Arc<aws_lc_rs::hmac::Key>,
    cards: Option<Arc<dyn CardTrust>>,
    pub policy: Policy,
    scopes: Arc<rules::ScopeCache>,
}

impl Network {
    /// `secret` (at least 32 bytes) keys the one-time challenges; `cards` checks patients'
    /// cards (None: consent by card is refused).
    pub fn new(
        records: Records,
        secret: &[u8],
        cards: Option<Arc<dyn CardTrust>>,
    ) -> Result<Network, String> {
        if secret.len() < 32 {
            return Err("the network's challenge key must have at least 32 bytes".into());
        }
        Ok(Network {
            records,
            challenge_key: Arc::new(aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                secret,
            )),
            cards,
            policy: Policy::default(),
            scopes: Default::default(),
        })
    }

    /// [`Network::new`] with a fresh random challenge key: challenges are answered to the node
    /// that issued them, within minutes, so a key per process serves one node.
    pub fn with_random_key(
        records: Records,
        cards: Option<Arc<dyn CardTrust>>,
    ) -> Result<Network, String> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| "the system random generator failed".to_string())?;
        Network::new(records, &secret, cards)
    }

    /// A key of this node for `purpose` (e.g. signing the portal's sessions), derived from its
    /// challenge key: as secret, as long-lived, and different for every purpose.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let tag = aws_lc_rs::hmac::sign(
            &self.challenge_key,
            format!("kizuna key|{purpose}").as_bytes(),
        );
        let mut key = [0u8; 32];
        key.copy_from_slice(&tag.as_ref()[..32]);
        key
    }

    /// The records as the node sees them (every resource).
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// The records as `caller` may see and change them.
    pub async fn records_for(&self, caller: &Caller) -> Result<Records, Failure> {
        let scope = self.scope_for(caller).await?;
        Ok(self.records.scoped(scope))
    }

    /// The other Patients of the person(s) Patient `patient_id` belongs to, by the patient
    /// index (links and insured-member ids), whoever may see them: callers read their records
    /// through their own scope.
    pub async fn linked_patients(&self, patient_id: &str) -> Result<Vec<String>, Failure> {
        let mut out = Vec::new();
        for person in index::persons_of_patient(&self.records, patient_id).await? {
            if let Some((_, p)) = index::read_json(&self.records, "Person", &person).await? {
                out.extend(index::patients_of(&self.records, &p).await?);
            }
        }
        out.sort();
        out.dedup();
        out.retain(|p| p != patient_id);
        Ok(out)
    }

    /// The Patients the patient index links to the person `person_id` (a grant's), whoever may
    /// see them: callers read them through their own scope.
    pub async fn patients_of_person(&self, person_id: &str) -> Result<Vec<String>, Failure> {
        match index::read_json(&self.records, "Person", person_id).await? {
            Some((_, p)) => index::patients_of(&self.records, &p).await,
            None => Ok(Vec::new()),
        }
    }

    /// What `caller` may see and write as.
    pub async fn scope_for(&self, caller: &Caller) -> Result<Scope, Failure> {
        rules::scope_for(self, caller).await
    }
}

/// Now, in microseconds since the Unix epoch.
pub(crate) fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}
