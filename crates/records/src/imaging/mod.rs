//! Images in the record: DICOM objects kept as received (their bytes in object storage, their
//! attributes in the store's image index) and, for each study, an `ImagingStudy` resource
//! that places it in the patient's record. A study is seen by exactly those who see its
//! `ImagingStudy`, so images follow the same access rules, and the same audit, as every other
//! record.
//!
//! [`Records::store_images`] is the one way in (DICOMweb STOW-RS and DIMSE C-STORE both call
//! it): each object is parsed, matched to a Patient of the sender (its Patient ID is the
//! sender's patient number; a birth date that disagrees is refused), written to object
//! storage under its content's hash, then indexed in one store batch with the study's
//! `ImagingStudy` when the study is new. An object already kept is acknowledged again; one
//! whose SOP Instance UID names different content is refused, never replaced.
//! [`Records::find_images`] answers queries within the caller's scope (QIDO-RS, C-FIND,
//! WADO-RS), and `qido.rs` reads QIDO-RS parameters and writes its answers.

pub mod qido;

use crate::incoming::incoming;
use crate::{CUSTODIAN_SYSTEM, Failure, Records, Result, written_by};
use kizuna_blobs::Blobs;
use kizuna_dicom::{Instance, Keys};
use kizuna_fhir::IssueCode;
use kizuna_store::imaging::{
    Column, Found, ImageQuery, ImageRow, Level, SeriesAttrs, StudyAttrs, Test,
};
use kizuna_store::{Batch, Condition, Method, OnFail, StoreError};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The system of the patient numbers an institution gives, followed by its 10-digit code
/// (JP Core's medical record number).
pub const PATIENT_NUMBER_ROOT: &str = "urn:oid:1.2.392.100495.20.3.51.1";

/// How many times storing is planned again when concurrent senders keep changing what it read.
const REPLANS: usize = 20;

/// What became of one object sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Kept now.
    Kept(Placed),
    /// Kept before, byte for byte.
    AlreadyKept(Placed),
    /// Not kept, and why.
    Refused {
        sop_class: Option<String>,
        sop_uid: Option<String>,
        why: Refusal,
        /// For people: what was wrong and what to do (names no patient data).
        message: String,
    },
}

/// Makes the audit entry of an object kept (see [`Records::store_images`]).
pub type AuditKept<'a> = dyn Fn(&Placed) -> kizuna_store::audit::AuditEntry + Sync + 'a;

/// Where a kept object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub sop_class: String,
    pub sop_uid: String,
    pub series_uid: String,
    pub study_uid: String,
    /// The `ImagingStudy` standing for the study.
    pub study_res: String,
    /// The Patient it is about.
    pub patient: String,
}

/// Why an object was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a DICOM object, or one without the UIDs that place it.
    Unreadable,
    /// Its patient is not one of the sender's (or is ambiguous, or the birth date differs).
    UnknownPatient,
    /// Its study is another patient's, or another institution's.
    WrongStudy,
    /// Its SOP Instance UID names different content already kept.
    Conflict,
    /// Object storage or the store failed; sending again may succeed.
    Unavailable,
}

impl Refusal {
    /// The DICOM status of the refusal (PS3.4 C.4.2.1.5, PS3.18 Table I.2-3's failure
    /// reasons): 0xC000 cannot understand, 0xA900 data set does not match (a study of
    /// someone else), 0x0111 duplicate SOP instance, 0xA700 out of resources.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Unreadable | Refusal::UnknownPatient => 0xC000,
            Refusal::WrongStudy => 0xA900,
            Refusal::Conflict => 0x0111,
            Refusal::Unavailable => 0xA700,
        }
    }
}

fn refused(keys: Option<&Keys>, why: Refusal, message: impl Into<String>) -> Stored {
    Stored::Refused {
        sop_class: keys.map(|k| k.sop_class_uid.clone()),
        sop_uid: keys.map(|k| k.sop_instance_uid.clone()),
        why,
        message: message.into(),
    }
}

/// An object read and ready to keep.
struct Prepared {
    keys: Keys,
    bytes: bytes::Bytes,
    hash: String,
    attrs: String,
}

/// The id of the `ImagingStudy` standing for the study `study_uid` (the same on every node).
pub fn study_resource_id(study_uid: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::uuid!("5c8ae0f6-3a0d-4d0e-9a59-6b0c2f4d1a17");
    uuid::Uuid::new_v5(&NAMESPACE, study_uid.as_bytes()).to_string()
}

/// Where the object with content hash `hash` is kept in object storage.
fn blob_key(hash: &str) -> String {
    format!("dicom/{}/{hash}.dcm", &hash[..2])
}

impl Records {
    /// Keeps `objects` (Part 10 files as received), each on its own: one refused does not stop
    /// the others; with `study`, only objects of that study are kept. Studies new to the node get their `ImagingStudy` in the same commit as their
    /// first objects; with `refresh`, the `ImagingStudy` of every study that gained objects is
    /// brought up to date afterwards (DIMSE senders, which send one object at a time, refresh
    /// once at the end of their association: [`Records::refresh_studies`]). With `audit`, each
    /// object kept now ([`Stored::Kept`]) has the entry `audit` makes of it appended in the
    /// same commit as its index rows; the others' entries are the caller's to write.
    pub async fn store_images(
        &self,
        blobs: &Blobs,
        objects: Vec<bytes::Bytes>,
        study: Option<&str>,
        refresh: bool,
        audit: Option<&AuditKept<'_>>,
    ) -> Result<Vec<Stored>> {
        let mut out: Vec<Option<Stored>> = vec![None; objects.len()];
        let mut ready: Vec<(usize, Prepared)> = Vec::new();
        for (n, bytes) in objects.into_iter().enumerate() {
            match prepare(bytes).await {
                Ok(p) if study.is_some_and(|s| s != p.keys.study_uid) => {
                    out[n] = Some(refused(
                        Some(&p.keys),
                        Refusal::WrongStudy,
                        "the object is not of the study the request names",
                    ));
                }
                Ok(p) => ready.push((n, p)),
                Err(s) => out[n] = Some(s),
            }
        }
        let mut touched = BTreeSet::new();
        let mut patients: HashMap<
            (Option<String>, Option<String>),
            std::result::Result<String, Stored>,
        > = HashMap::new();
        for _ in 0..REPLANS {
            if ready.is_empty() {
                break;
            }
            let mut batch = Batch::default();
            let mut planned: Vec<(usize, Prepared, Placed)> = Vec::new();
            let mut new_studies: BTreeMap<String, Value> = BTreeMap::new();
            let mut known_studies: HashMap<String, Option<Found>> = HashMap::new();
            for (n, p) in std::mem::take(&mut ready) {
                let k = &p.keys;
                match self.store().image_hash(&k.sop_instance_uid).await? {
                    Some(h) if h == p.hash => {
                        let placed = self.placed_of(&k.sop_instance_uid).await?;
                        out[n] = Some(match placed {
                            Some(placed) => Stored::AlreadyKept(placed),
                            None => refused(
                                Some(k),
                                Refusal::WrongStudy,
                                "the object is kept, but not where you may see it",
                            ),
                        });
                        continue;
                    }
                    Some(_) => {
                        out[n] = Some(refused(
                            Some(k),
                            Refusal::Conflict,
                            "another object with this SOP Instance UID is kept, with different content; a kept object is never replaced: send it with a new SOP Instance UID",
                        ));
                        continue;
                    }
                    None => {}
                }
                let who = (k.patient_id.clone(), k.patient_issuer.clone());
                if !patients.contains_key(&who) {
                    let matched = self.match_patient(k).await?;
                    patients.insert(who.clone(), matched);
                }
                let patient = match &patients[&who] {
                    Ok(id) => id.clone(),
                    Err(s) => {
                        out[n] = Some(with_keys(s.clone(), k));
                        continue;
                    }
                };
                if let Some(birth) = &k.patient_birth_date
                    && !self.birth_date_agrees(&patient, birth).await?
                {
                    out[n] = Some(refused(
                        Some(k),
                        Refusal::UnknownPatient,
                        "the object's Patient Birth Date is not the birth date of the patient its Patient ID names; check that the images are this patient's",
                    ));
                    continue;
                }
                if !known_studies.contains_key(&k.study_uid) {
                    let found = self.study_row(&k.study_uid).await?;
                    known_studies.insert(k.study_uid.clone(), found);
                }
                let study_res = study_resource_id(&k.study_uid);
                match &known_studies[&k.study_uid] {
                    Some(study) => {
                        if study.patient != patient {
                            out[n] = Some(refused(
                                Some(k),
                                Refusal::WrongStudy,
                                "the object's Study Instance UID names a study of another patient",
                            ));
                            continue;
                        }
                        if let Err(message) = self.may_add_to(&study.study_res).await? {
                            out[n] = Some(refused(Some(k), Refusal::WrongStudy, message));
                            continue;
                        }
                        touched.insert(k.study_uid.clone());
                    }
                    None => {
                        if !new_studies.contains_key(&k.study_uid) {
                            let body = imaging_study(
                                &study_res,
                                &patient,
                                &[first_found(&p, &patient, &study_res)],
                                p.keys.timezone_offset.as_deref(),
                            );
                            new_studies.insert(k.study_uid.clone(), body);
                        }
                    }
                }
                let placed = Placed {
                    sop_class: k.sop_class_uid.clone(),
                    sop_uid: k.sop_instance_uid.clone(),
                    series_uid: k.series_uid.clone(),
                    study_uid: k.study_uid.clone(),
                    study_res,
                    patient,
                };
                planned.push((n, p, placed));
            }
            if planned.is_empty() {
                break;
            }
            // Object storage first: an index row never names bytes not yet kept.
            let puts = planned.iter().map(|(_, p, _)| {
                let (key, bytes) = (blob_key(&p.hash), p.bytes.clone());
                async move { blobs.put(&key, bytes).await }
            });
            let results = futures::future::join_all(puts).await;
            let mut failed_put = None;
            for r in results {
                if let Err(e) = r {
                    failed_put = Some(e.to_string());
                }
            }
            if let Some(e) = failed_put {
                tracing::error!(error = %e, "object storage refused an image");
                for (n, p, _) in planned {
                    out[n] = Some(refused(
                        Some(&p.keys),
                        Refusal::Unavailable,
                        "the image could not be written to object storage; send it again later",
                    ));
                }
                break;
            }
            let received = jiff::Timestamp::now().as_microsecond();
            for (study_uid, body) in &new_studies {
                let id = study_resource_id(study_uid);
                let body = incoming(
                    "ImagingStudy",
                    body.clone(),
                    Some(&id),
                    "create",
                    &self.profiles.current(),
                )?;
                batch.conditions.push(Condition::Version {
                    rtype: "ImagingStudy".into(),
                    id: id.clone(),
                    version: None,
                    on_fail: OnFail::Retry,
                });
                batch
                    .writes
                    .push(self.put_write("ImagingStudy", &id, body, Method::Post, false));
            }
            for (_, p, placed) in &planned {
                batch.conditions.push(Condition::NoImage {
                    sop_uid: p.keys.sop_instance_uid.clone(),
                    on_fail: OnFail::Retry,
                });
                batch.images.push(image_row(p, placed, received));
                if let Some(audit) = audit {
                    batch.audit.push(audit(placed));
                }
            }
            match self.commit_as_caller(batch).await? {
                Ok(_) => {
                    for (n, _, placed) in planned {
                        touched.insert(placed.study_uid.clone());
                        out[n] = Some(Stored::Kept(placed));
                    }
                    break;
                }
                Err(StoreError::ConditionFailed { .. }) => {
                    // Another sender stored one of these, or began one of these studies: plan
                    // again from what is stored now.
                    ready = planned.into_iter().map(|(n, p, _)| (n, p)).collect();
                }
                Err(e) => {
                    tracing::error!(error = %e, "the image index refused a batch");
                    for (n, p, _) in planned {
                        if self
                            .store()
                            .image_hash(&p.keys.sop_instance_uid)
                            .await
                            .ok()
                            .flatten()
                            != Some(p.hash.clone())
                        {
                            let _ = blobs.delete(&blob_key(&p.hash)).await;
                        }
                        out[n] = Some(refused(
                            Some(&p.keys),
                            Refusal::Unavailable,
                            "the image could not be indexed; send it again later",
                        ));
                    }
                    break;
                }
            }
        }
        for (n, p) in ready {
            out[n] = Some(refused(
                Some(&p.keys),
                Refusal::Unavailable,
                "too many concurrent senders changed this study; send the image again",
            ));
        }
        if refresh {
            self.refresh_studies(&touched.into_iter().collect::<Vec<_>>())
                .await?;
        }
        Ok(out
            .into_iter()
            .map(|s| {
                s.unwrap_or_else(|| {
                    refused(
                        None,
                        Refusal::Unavailable,
                        "internal error: the object was not handled",
                    )
                })
            })
            .collect())
    }

    /// Brings the `ImagingStudy` of each of `study_uids` up to date with the objects kept (a
    /// study whose resource already says so gets no new version).
    pub async fn refresh_studies(&self, study_uids: &[String]) -> Result<()> {
        for study_uid in study_uids {
            for _ in 0..REPLANS {
                let rows = self
                    .store()
                    .images(ImageQuery {
                        level: Level::Instance,
                        filters: vec![(Column::StudyUid, Test::AnyOf(vec![study_uid.clone()]))],
                        offset: 0,
                        limit: None,
                        with_attrs: false,
                        access: None,
                    })
                    .await?;
                let Some(first) = rows.first() else { break };
                let id = first.study_res.clone();
                let Some(current) = self.store().read("ImagingStudy", &id).await? else {
                    break;
                };
                let offset = self.timezone_offset_of(&first.sop_uid).await?;
                let body = imaging_study(&id, &first.patient, &rows, offset.as_deref());
                let body = incoming(
                    "ImagingStudy",
                    body,
                    Some(&id),
                    "update",
                    &self.profiles.current(),
                )?;
                let batch = Batch {
                    conditions: vec![Condition::Version {
                        rtype: "ImagingStudy".into(),
                        id: id.clone(),
                        version: Some(current.version),
                        on_fail: OnFail::Retry,
                    }],
                    writes: vec![self.put_write("ImagingStudy", &id, body, Method::Put, true)],
                    ..Default::default()
                };
                match self.commit_as_caller(batch).await? {
                    Ok(_) => break,
                    Err(StoreError::ConditionFailed { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// The Timezone Offset From UTC (`+0900`) object `sop_uid` was made in, if it says.
    async fn timezone_offset_of(&self, sop_uid: &str) -> Result<Option<String>> {
        let found = self
            .store()
            .images(ImageQuery {
                level: Level::Instance,
                filters: vec![(Column::SopUid, Test::AnyOf(vec![sop_uid.to_string()]))],
                offset: 0,
                limit: Some(1),
                with_attrs: true,
                access: None,
            })
            .await?;
        Ok(found.first().and_then(|f| {
            let attrs: Value = serde_json::from_str(&f.attrs).ok()?;
            attrs
                .pointer("/00080201/Value/0")
                .and_then(Value::as_str)
                .map(str::to_string)
        }))
    }

    /// The studies, series or instances matching `query` that the caller may see.
    pub async fn find_images(&self, mut query: ImageQuery) -> Result<Vec<Found>> {
        query.access = self.access().cloned();
        Ok(self.store().images(query).await?)
    }

    /// The study `study_uid` as indexed, whoever may see it (for placing new objects).
    async fn study_row(&self, study_uid: &str) -> Result<Option<Found>> {
        Ok(self
            .store()
            .images(ImageQuery {
                level: Level::Study,
                filters: vec![(Column::StudyUid, Test::AnyOf(vec![study_uid.into()]))],
                offset: 0,
                limit: Some(1),
                with_attrs: false,
                access: None,
            })
            .await?
            .pop())
    }

    /// Where the kept object `sop_uid` is, if the caller may see it.
    async fn placed_of(&self, sop_uid: &str) -> Result<Option<Placed>> {
        Ok(self
            .find_images(ImageQuery {
                level: Level::Instance,
                filters: vec![(Column::SopUid, Test::AnyOf(vec![sop_uid.into()]))],
                offset: 0,
                limit: Some(1),
                with_attrs: false,
                access: None,
            })
            .await?
            .pop()
            .map(|f| Placed {
                sop_class: f.sop_class,
                sop_uid: f.sop_uid,
                series_uid: f.series_uid,
                study_uid: f.study_uid,
                study_res: f.study_res,
                patient: f.patient,
            }))
    }

    /// Whether the caller may add objects to the study whose resource is `study_res`: only the
    /// institution that began it (its custodian) may; Err says why not.
    async fn may_add_to(&self, study_res: &str) -> Result<std::result::Result<(), String>> {
        let Some((code, _)) = &self.scope().custodian else {
            return Ok(Ok(()));
        };
        let Some(v) = self.store().read("ImagingStudy", study_res).await? else {
            return Ok(Ok(()));
        };
        let body: Value = v
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        Ok(if written_by(&body, code) {
            Ok(())
        } else {
            Err("the object's study was begun by another institution; only it adds to the study (send the images as a new study)".into())
        })
    }

    /// The Patient the object is about: one of the sender's own, whose patient number (in the
    /// sender's system, or the system the Issuer of Patient ID names) is the object's Patient
    /// ID. The node itself (an operator, a modality on loopback) matches any institution's
    /// number, given an Issuer of Patient ID naming the institution or a number only one
    /// Patient has.
    async fn match_patient(&self, k: &Keys) -> Result<std::result::Result<String, Stored>> {
        let Some(pid) = &k.patient_id else {
            return Ok(Err(refused(
                Some(k),
                Refusal::UnknownPatient,
                "the object has no Patient ID; give it the patient's number at your institution",
            )));
        };
        let issuer = k
            .patient_issuer
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let custodian = self
            .scope()
            .custodian
            .as_ref()
            .map(|(code, _)| code.clone());
        let system = match (issuer, &custodian) {
            (Some(i), _) if i.len() == 10 && i.bytes().all(|b| b.is_ascii_digit()) => {
                Some(format!("{PATIENT_NUMBER_ROOT}{i}"))
            }
            (Some(i), _) if i.starts_with("urn:") => Some(i.to_string()),
            (_, Some(code)) => Some(format!("{PATIENT_NUMBER_ROOT}{code}")),
            (_, None) => None,
        };
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            match &system {
                Some(s) => query.append_pair("identifier", &format!("{s}|{pid}")),
                None => query.append_pair("identifier", pid),
            };
            if let Some(code) = &custodian {
                query.append_pair("_tag", &format!("{CUSTODIAN_SYSTEM}|{code}"));
            }
            query.finish()
        };
        let criteria = crate::Criteria::parse("Patient", &query)?;
        let ids = self.find("Patient", &criteria.filters, 2).await?;
        Ok(match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(refused(
                Some(k),
                Refusal::UnknownPatient,
                match &custodian {
                    Some(_) => {
                        "no patient of yours has the object's Patient ID as their patient number; register the patient first, or correct the Patient ID"
                    }
                    None => {
                        "no patient has the object's Patient ID as a patient number; register the patient first, or give the Issuer of Patient ID (the institution's 10-digit code)"
                    }
                },
            )),
            _ => Err(refused(
                Some(k),
                Refusal::UnknownPatient,
                "more than one patient has the object's Patient ID; give the Issuer of Patient ID (the institution's 10-digit code)",
            )),
        })
    }

    /// Whether the Patient's birth date (if it has one) is `dicom_date` (`YYYYMMDD`).
    async fn birth_date_agrees(&self, patient: &str, dicom_date: &str) -> Result<bool> {
        let Some(v) = self.store().read("Patient", patient).await? else {
            return Ok(false);
        };
        let body: Value = v
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        Ok(match body["birthDate"].as_str() {
            Some(b) => b.replace('-', "") == dicom_date.trim(),
            None => true,
        })
    }
}

/// A refusal found for one object, given for another with the same patient.
fn with_keys(s: Stored, k: &Keys) -> Stored {
    match s {
        Stored::Refused { why, message, .. } => refused(Some(k), why, message),
        other => other,
    }
}

/// Reads one object (off the async threads: parsing a large object takes a while).
#[allow(clippy::result_large_err)] // a refusal is answered at once, never kept
async fn prepare(bytes: bytes::Bytes) -> std::result::Result<Prepared, Stored> {
    let work = tokio::task::spawn_blocking(move || {
        let instance = Instance::parse(&bytes)
            .map_err(|e| refused(None, Refusal::Unreadable, format!("{e}")))?;
        let keys = instance
            .keys()
            .map_err(|e| refused(None, Refusal::Unreadable, e.to_string()))?;
        let attrs = instance
            .metadata(&|tag| format!("bulkdata/{tag}"))
            .map_err(|e| refused(Some(&keys), Refusal::Unreadable, e.to_string()))?;
        let hash = hex(&sha2::Sha256::digest(&bytes));
        Ok(Prepared {
            keys,
            bytes,
            hash,
            attrs: attrs.to_string(),
        })
    });
    work.await.unwrap_or_else(|_| {
        Err(refused(
            None,
            Refusal::Unreadable,
            "the object could not be read",
        ))
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn image_row(p: &Prepared, placed: &Placed, received: i64) -> ImageRow {
    let k = &p.keys;
    ImageRow {
        sop_uid: k.sop_instance_uid.clone(),
        series_uid: k.series_uid.clone(),
        study_uid: k.study_uid.clone(),
        study_res: placed.study_res.clone(),
        patient: placed.patient.clone(),
        sop_class: k.sop_class_uid.clone(),
        instance_number: k.instance_number.map(i64::from),
        transfer_syntax: k.transfer_syntax.clone(),
        frames: i64::from(k.frames),
        blob: blob_key(&p.hash),
        size: p.bytes.len() as i64,
        hash: p.hash.clone(),
        received,
        attrs: p.attrs.clone(),
        series: SeriesAttrs {
            modality: k.modality.clone(),
            number: k.series_number.map(i64::from),
            description: k.series_description.clone(),
        },
        study: StudyAttrs {
            patient_id: k.patient_id.clone(),
            patient_name: k.patient_name.clone(),
            name_key: k.patient_name.as_deref().map(qido::name_key),
            name_words: k.patient_name.as_deref().map(qido::name_words),
            birth_date: k.patient_birth_date.clone(),
            sex: k.patient_sex.clone(),
            date: k.study_date.clone(),
            time: k.study_time.clone(),
            accession: k.accession_number.clone(),
            study_id: k.study_id.clone(),
            referring: k.referring_physician.clone(),
            referring_key: k.referring_physician.as_deref().map(qido::name_key),
            description: k.study_description.clone(),
        },
    }
}

/// The index row an object would have, as a [`Found`] (to describe a study not yet stored).
fn first_found(p: &Prepared, patient: &str, study_res: &str) -> Found {
    let row = image_row(
        p,
        &Placed {
            sop_class: String::new(),
            sop_uid: String::new(),
            series_uid: String::new(),
            study_uid: String::new(),
            study_res: study_res.into(),
            patient: patient.into(),
        },
        0,
    );
    Found {
        study_uid: row.study_uid,
        study_res: row.study_res,
        patient: row.patient,
        study: row.study,
        study_series: 1,
        study_instances: 1,
        modalities: row.series.modality.iter().cloned().collect(),
        series_uid: row.series_uid,
        series: row.series,
        series_instances: 1,
        sop_uid: row.sop_uid,
        sop_class: row.sop_class,
        instance_number: row.instance_number,
        transfer_syntax: row.transfer_syntax,
        frames: row.frames,
        blob: row.blob,
        size: row.size,
        hash: row.hash,
        attrs: String::new(),
    }
}

/// The `ImagingStudy` of a study from its objects (instance rows, in the order received),
/// started at the study's date and time in `offset` (the objects' Timezone Offset From UTC;
/// Japan's when they do not say).
fn imaging_study(id: &str, patient: &str, rows: &[Found], offset: Option<&str>) -> Value {
    let first = &rows[0];
    let s = &first.study;
    let mut series: Vec<(String, Vec<&Found>)> = Vec::new();
    for r in rows {
        match series.iter_mut().find(|(uid, _)| *uid == r.series_uid) {
            Some((_, list)) => list.push(r),
            None => series.push((r.series_uid.clone(), vec![r])),
        }
    }
    let modality = |m: &Option<String>| {
        json!({
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": m.clone().unwrap_or_else(|| "OT".into()),
        })
    };
    let mut modalities: Vec<Value> = Vec::new();
    for (_, list) in &series {
        let m = modality(&list[0].series.modality);
        if !modalities.contains(&m) {
            modalities.push(m);
        }
    }
    let mut identifiers = vec![json!({
        "system": "urn:dicom:uid",
        "value": format!("urn:oid:{}", first.study_uid),
    })];
    if let Some(a) = &s.accession {
        identifiers.push(json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
            "value": a,
        }));
    }
    let mut body = json!({
        "resourceType": "ImagingStudy",
        "id": id,
        "identifier": identifiers,
        "status": "available",
        "modality": modalities,
        "subject": {"reference": format!("Patient/{patient}")},
        "numberOfSeries": series.len(),
        "numberOfInstances": rows.len(),
    });
    if let Some(started) = started(s.date.as_deref(), s.time.as_deref(), offset) {
        body["started"] = json!(started);
    }
    if let Some(d) = &s.description {
        body["description"] = json!(d);
    }
    body["series"] = Value::Array(
        series
            .iter()
            .map(|(uid, list)| {
                let f = list[0];
                let mut v = json!({
                    "uid": uid,
                    "modality": modality(&f.series.modality),
                    "numberOfInstances": list.len(),
                });
                if let Some(n) = f.series.number.filter(|n| *n >= 0) {
                    v["number"] = json!(n);
                }
                if let Some(d) = &f.series.description {
                    v["description"] = json!(d);
                }
                v["instance"] = Value::Array(
                    list.iter()
                        .map(|i| {
                            let mut inst = json!({
                                "uid": i.sop_uid,
                                "sopClass": {"system": "urn:ietf:rfc:3986", "code": format!("urn:oid:{}", i.sop_class)},
                            });
                            if let Some(n) = i.instance_number.filter(|n| *n >= 0) {
                                inst["number"] = json!(n);
                            }
                            inst
                        })
                        .collect(),
                );
                v
            })
            .collect(),
    );
    body
}

/// A study's date and time as a FHIR dateTime in `offset` (a DICOM Timezone Offset From UTC),
/// or in Japan's time when the objects give none (JST is the network's default). None if the
/// date is not a DICOM date.
fn started(date: Option<&str>, time: Option<&str>, offset: Option<&str>) -> Option<String> {
    let d = date?.trim();
    if d.len() != 8 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day = format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]);
    jiff::civil::Date::strptime("%Y-%m-%d", &day).ok()?;
    let t: String = time.unwrap_or("").trim().chars().take(6).collect();
    if t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()) {
        let (h, m, s) = (&t[..2], &t[2..4], &t[4..6]);
        if h < "24" && m < "60" && s < "60" {
            let zone = offset
                .and_then(utc_offset)
                .unwrap_or_else(|| "+09:00".into());
            return Some(format!("{day}T{h}:{m}:{s}{zone}"));
        }
    }
    Some(day)
}

/// A DICOM Timezone Offset From UTC (`+0900`, `-0500`) as FHIR writes it (`+09:00`); None if
/// it is not one (hours -12 to +14, minutes under 60).
fn utc_offset(dicom: &str) -> Option<String> {
    let v = dicom.trim();
    let (sign, digits) = (v.get(..1)?, v.get(1..)?);
    if !matches!(sign, "+" | "-")
        || digits.len() != 4
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (h, m): (i32, i32) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
    let ok = m < 60 && if sign == "+" { h <= 14 } else { h <= 12 };
    ok.then(|| format!("{sign}{}:{}", &digits[..2], &digits[2..]))
}

/// A refusal of a request about images, as a FHIR failure.
pub fn not_found_study() -> Failure {
    Failure::new(
        404,
        IssueCode::NotFound,
        None,
        "no such study, series or instance is shared with you",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_study_starts_in_the_offset_its_objects_give() {
        let at = |offset| started(Some("20240305"), Some("214012.25"), offset);
        assert_eq!(at(None).as_deref(), Some("2024-03-05T21:40:12+09:00"));
        assert_eq!(
            at(Some("+0100")).as_deref(),
            Some("2024-03-05T21:40:12+01:00")
        );
        assert_eq!(
            at(Some("-0500")).as_deref(),
            Some("2024-03-05T21:40:12-05:00")
        );
        assert_eq!(
            at(Some("+0545")).as_deref(),
            Some("2024-03-05T21:40:12+05:45")
        );
        // Not an offset: Japan's, as when none is given.
        for bad in ["0900", "+9", "+1500", "-1300", "+0960", "+09:00", ""] {
            assert_eq!(
                at(Some(bad)).as_deref(),
                Some("2024-03-05T21:40:12+09:00"),
                "{bad}"
            );
        }
        // A date alone stays a date.
        assert_eq!(
            started(Some("20240305"), None, Some("+0100")).as_deref(),
            Some("2024-03-05")
        );
        assert_eq!(started(Some("2024030"), Some("214012"), None), None);
    }
}
