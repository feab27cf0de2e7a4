//! `Patient/{id}/$summary`: the six information of one patient from every institution whose
//! records the caller may see, as a FHIR document (`kizuna_documents::summary`). The records
//! are read through the caller's scope like any search, for the Patient asked about and the
//! other Patients the patient index links to the same person (the caller passes them).

use crate::incoming::new_id;
use crate::{CUSTODIAN_SYSTEM, Failure, Payload, Records, Reply, Result};
use kizuna_documents::summary::{Form, Source, is_infection_test, summarize, summary_document};
use kizuna_fhir::{Issue, IssueCode};
use kizuna_profiles::Membership;
use serde_json::Value;

/// The most records of one type read per Patient (beyond: the summary says it is partial).
const MAX_PER_TYPE: usize = 10_000;

/// What a summary is made of.
const TYPES: [&str; 5] = [
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "MedicationRequest",
    "Immunization",
];

/// The JP-CLINS code system of infection tests without a JLAC code.
const INFECTION_CS: &str =
    "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_InfectionLabo_CS";

impl Records {
    /// The summary of Patient `patient` (which the caller must be able to read) and of the
    /// `linked` Patients of the same person, as a document Bundle of `form` (200).
    pub async fn summary(
        &self,
        patient: &str,
        linked: &[String],
        base: &str,
        form: Form,
    ) -> Result<Reply> {
        let read = self.read("Patient", patient).await?;
        let Payload::Version(v) = read.payload else {
            return Err(Failure::new(
                404,
                IssueCode::NotFound,
                None,
                format!("Patient/{patient} is not known"),
            ));
        };
        let body: Value = v
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .ok_or_else(|| {
                Failure::new(
                    410,
                    IssueCode::Deleted,
                    None,
                    format!("Patient/{patient} was deleted"),
                )
            })?;
        let (items, partial) = self.summary_items(patient, linked).await?;
        let now = kizuna_store::format_instant(jiff::Timestamp::now().as_microsecond());
        let doc = summary_document(&body, &items, base, &new_id(), &now, form);
        let mut issues = Vec::new();
        if partial {
            issues.push(Issue::warning(
                IssueCode::TooCostly,
                None,
                format!("more than {MAX_PER_TYPE} records of a kind: the summary holds the first {MAX_PER_TYPE} of each"),
            ));
        }
        Ok(Reply {
            status: 200,
            payload: Payload::Json(doc),
            location: None,
            issues,
        })
    }

    /// The six information (and immunizations) of Patient `patient` and the `linked` Patients
    /// of the same person, as far as the caller may see them, each item with its sources; and
    /// whether some kind had more records than are read ([`MAX_PER_TYPE`]). The caller must
    /// have checked that it may read `patient`.
    pub async fn summary_items(
        &self,
        patient: &str,
        linked: &[String],
    ) -> Result<(Vec<kizuna_documents::summary::Item>, bool)> {
        let mut ids: Vec<&str> = vec![patient];
        for l in linked {
            if !ids.contains(&l.as_str()) {
                ids.push(l);
            }
        }
        let mut records = Vec::new();
        let mut partial = false;
        for pid in &ids {
            for rtype in TYPES {
                let (found, cut) = self
                    .search_all(
                        rtype,
                        vec![("patient".into(), format!("Patient/{pid}"))],
                        MAX_PER_TYPE,
                    )
                    .await?;
                partial |= cut;
                for r in found {
                    let source = source_of(&r);
                    records.push((r, source));
                }
            }
        }
        let conf = self.profiles().current();
        let infection_sets: Vec<&str> = conf
            .value_set_urls()
            .filter(|u| u.to_ascii_lowercase().contains("infectionlabo"))
            .collect();
        let also = |system: Option<&str>, code: &str| {
            system == Some(INFECTION_CS)
                || infection_sets
                    .iter()
                    .any(|vs| conf.member_of(vs, system, code) == Membership::Yes)
        };
        Ok((
            summarize(records, &|r| is_infection_test(r, &also)),
            partial,
        ))
    }
}

/// Who wrote a record (its custodian tag) and when.
fn source_of(r: &Value) -> Source {
    let institution = r["meta"]["tag"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["system"] == CUSTODIAN_SYSTEM)
        .and_then(|t| {
            Some((
                t["code"].as_str()?.to_string(),
                t["display"].as_str().unwrap_or("").to_string(),
            ))
        });
    Source {
        institution,
        reference: format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or("")
        ),
        recorded: r["meta"]["lastUpdated"].as_str().unwrap_or("").to_string(),
        date: None,
    }
}
