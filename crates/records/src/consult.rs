//! The urgent consult: an on-site doctor shows a patient's images to a specialist team
//! elsewhere, talks it through, and the times of each step are kept.
//!
//! A consult is a FHIR `Task` (code `urn:kizuna:consult|urgent`, priority `stat`) written by
//! the institution that opens it: `for` the patient, `focus` the study, `owner` the team's
//! institution, the reason as `description`, the last-known-well time as an input, and each
//! milestone as an output (`urn:kizuna:consult-milestone|arrival`, `ct-done`,
//! `images-shared`, `specialist-viewing`, `decision` with what was decided, `needle`,
//! `transfer`), each a time with the offset it was given in (JST when none). Opening it shares
//! with the team, by the addressee tag (`urn:kizuna:addressee|{team}`), the consult, the
//! patient and the study: the team sees them (and the study's images) without any other grant,
//! and its subscriptions on `Task?_tag=urn:kizuna:addressee|{team}` alert it at once. Messages
//! are `Communication`s `partOf` the consult, tagged for both sides, which may reference
//! images (`ImagingStudy/…` or a DICOMweb URL). Only the two institutions take part; the
//! network writes the consult's resources on their behalf (as the consult's custodian), and
//! the audit log records who asked. Door-to-needle and door-to-decision are reported per
//! consult, and exported for quality review.

use crate::{CUSTODIAN_SYSTEM, Failure, Records, Result, Scope, custodian_of};
use kizuna_documents::{ADDRESSEE_TAG, INSTITUTION_SYSTEM};
use kizuna_fhir::IssueCode;
use serde_json::{Value, json};

pub const CONSULT_SYSTEM: &str = "urn:kizuna:consult";
pub const MILESTONE_SYSTEM: &str = "urn:kizuna:consult-milestone";
pub const DECISION_SYSTEM: &str = "urn:kizuna:consult-decision";

/// A step of a consult whose time is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    Arrival,
    CtDone,
    ImagesShared,
    SpecialistViewing,
    Decision,
    Needle,
    Transfer,
}

impl Milestone {
    pub const ALL: [Milestone; 7] = [
        Milestone::Arrival,
        Milestone::CtDone,
        Milestone::ImagesShared,
        Milestone::SpecialistViewing,
        Milestone::Decision,
        Milestone::Needle,
        Milestone::Transfer,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Milestone::Arrival => "arrival",
            Milestone::CtDone => "ct-done",
            Milestone::ImagesShared => "images-shared",
            Milestone::SpecialistViewing => "specialist-viewing",
            Milestone::Decision => "decision",
            Milestone::Needle => "needle",
            Milestone::Transfer => "transfer",
        }
    }

    /// What people read: English, then Japanese.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Milestone::Arrival => ("Arrival", "来院"),
            Milestone::CtDone => ("CT done", "CT撮影完了"),
            Milestone::ImagesShared => ("Images shared", "画像共有"),
            Milestone::SpecialistViewing => ("Specialist viewing", "専門医閲覧"),
            Milestone::Decision => ("Decision", "治療方針決定"),
            Milestone::Needle => ("Needle (thrombolysis)", "血栓溶解療法開始"),
            Milestone::Transfer => ("Transfer", "転院搬送"),
        }
    }

    pub fn parse(s: &str) -> Option<Milestone> {
        Milestone::ALL.into_iter().find(|m| m.code() == s)
    }
}

/// What the team decided.
pub const DECISIONS: [(&str, &str, &str); 3] = [
    ("thrombolysis", "Thrombolysis", "血栓溶解療法"),
    ("transfer", "Transfer", "転院"),
    ("none", "No intervention", "介入なし"),
];

/// A consult to open.
#[derive(Debug, Clone, Default)]
pub struct Opening {
    /// The Patient (id), one of the caller's.
    pub patient: String,
    /// The study (ImagingStudy id) shown, one of the caller's.
    pub study: Option<String>,
    /// The specialist team's institution (10-digit code).
    pub team: String,
    /// Why ("suspected stroke").
    pub reason: String,
    /// When the patient was last known well (FHIR dateTime).
    pub last_known_well: Option<String>,
    /// When the patient arrived (default: the study's start, else now).
    pub arrival: Option<String>,
}

/// A consult's times, for review.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub consult: String,
    pub opened: String,
    pub team: String,
    pub last_known_well: Option<String>,
    pub milestones: Vec<(Milestone, String)>,
    pub decision: Option<String>,
    /// Minutes from arrival to decision, to needle.
    pub door_to_decision: Option<f64>,
    pub door_to_needle: Option<f64>,
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(400, IssueCode::Value, None, message)
}

fn forbidden(message: impl Into<String>) -> Failure {
    Failure::new(403, IssueCode::Forbidden, None, message)
}

/// A FHIR dateTime to the second with its offset: as given, or read as JST when it has none.
pub fn instant(s: &str) -> Result<String> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        // Offsets are kept: rewrite only the form, not the zone.
        let offset = s
            .rfind(['+', '-'])
            .filter(|i| *i > 10)
            .map(|i| &s[i..])
            .unwrap_or("Z");
        let tz = if offset == "Z" || s.ends_with('Z') {
            jiff::tz::TimeZone::UTC
        } else {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let hm: Vec<i32> = offset[1..]
                .split(':')
                .filter_map(|p| p.parse().ok())
                .collect();
            let secs = sign
                * (hm.first().copied().unwrap_or(0) * 3600 + hm.get(1).copied().unwrap_or(0) * 60);
            jiff::tz::TimeZone::fixed(
                jiff::tz::Offset::from_seconds(secs).map_err(|_| bad("an offset out of range"))?,
            )
        };
        return Ok(ts.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        let z = dt
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
            .map_err(|_| bad(format!("'{s}' is not a time")))?;
        return Ok(z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
    }
    Err(bad(format!(
        "'{s}' is not a date and time (2026-11-21T21:40:00+09:00; without an offset, Japan time)"
    )))
}

fn now() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn minutes(from: &str, to: &str) -> Option<f64> {
    let a: jiff::Timestamp = from.parse().ok()?;
    let b: jiff::Timestamp = to.parse().ok()?;
    Some((b.as_second() - a.as_second()) as f64 / 60.0)
}

fn add_tag(body: &mut Value, system: &str, code: &str) {
    let tags = &mut body["meta"]["tag"];
    if !tags.is_array() {
        *tags = json!([]);
    }
    if let Some(list) = tags.as_array_mut()
        && !list
            .iter()
            .any(|t| t["system"] == system && t["code"] == code)
    {
        list.push(json!({"system": system, "code": code}));
    }
}

/// The resource a write answered with (`what` names it in the error, a store that answers
/// without it being a bug).
fn written(reply: &crate::Reply, what: &str) -> Result<Value> {
    reply
        .stored()
        .and_then(|v| serde_json::from_str(v.body.as_deref()?).ok())
        .ok_or_else(|| {
            Failure::new(
                500,
                IssueCode::Exception,
                None,
                format!("{what} was written but cannot be read back"),
            )
        })
}

fn strip_meta(body: &mut Value) {
    if let Some(m) = body.get_mut("meta").and_then(Value::as_object_mut) {
        m.remove("versionId");
        m.remove("lastUpdated");
    }
}

/// A new consult's `Task`: its text, why, the Patient (id), who asks, the team (institution
/// code) and when it opened.
fn consult_task(
    text: &str,
    why: &str,
    patient: &str,
    requester: Value,
    team: &str,
    opened: &str,
) -> Value {
    json!({
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "priority": "stat",
        "code": {"coding": [{"system": CONSULT_SYSTEM, "code": "urgent", "display": "Urgent consult"}], "text": text},
        "description": why,
        "for": {"reference": format!("Patient/{patient}")},
        "authoredOn": opened,
        "lastModified": opened,
        "requester": requester,
        "owner": {"identifier": {"system": INSTITUTION_SYSTEM, "value": team}},
    })
}

fn milestone_output(m: Milestone, at: &str) -> Value {
    let (en, ja) = m.label();
    json!({
        "type": {"coding": [{"system": MILESTONE_SYSTEM, "code": m.code(), "display": en}], "text": ja},
        "valueDateTime": at,
    })
}

impl Records {
    /// A scope writing as the institution `(code, name)` with the network's own tags kept.
    fn consult_writer(&self, custodian: (String, String)) -> Records {
        self.scoped(Scope {
            access: None,
            custodian: Some(custodian),
            stamps: Vec::new(),
            server_tags: true,
            phr: None,
        })
    }

    /// A resource as stored, if the caller may see it.
    async fn visible_body(&self, rtype: &str, id: &str) -> Result<Option<(Value, u64)>> {
        if !self.may_see(rtype, id).await? {
            return Ok(None);
        }
        Ok(self.store().read(rtype, id).await?.and_then(|v| {
            let body: Value = serde_json::from_str(v.body.as_deref()?).ok()?;
            Some((body, v.version))
        }))
    }

    /// Opens a consult (see the module doc) and shares it, the patient and the study with the
    /// team; the `Task` written.
    pub async fn open_consult(&self, o: Opening) -> Result<Value> {
        let Some((own, own_name)) = self.scope().custodian.clone() else {
            return Err(forbidden(
                "a consult is opened by an institution (its certificate)",
            ));
        };
        if o.team.len() != 10 || !o.team.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("team is the specialist institution's 10-digit code"));
        }
        if o.team == own {
            return Err(bad("a consult asks another institution"));
        }
        if o.reason.trim().is_empty() {
            return Err(bad("a consult says why (reason)"));
        }
        let Some((mut patient, patient_version)) = self.visible_body("Patient", &o.patient).await?
        else {
            return Err(crate::not_found("Patient", &o.patient));
        };
        if custodian_of(&patient) != Some(own.as_str()) {
            return Err(forbidden(
                "a consult is opened on your own record of the patient",
            ));
        }
        let mut study = None;
        if let Some(id) = &o.study {
            let Some((body, version)) = self.visible_body("ImagingStudy", id).await? else {
                return Err(crate::not_found("ImagingStudy", id));
            };
            if body["subject"]["reference"] != format!("Patient/{}", o.patient) {
                return Err(bad(format!(
                    "ImagingStudy/{id} is not of Patient/{}",
                    o.patient
                )));
            }
            if custodian_of(&body) != Some(own.as_str()) {
                return Err(forbidden("a consult shows your own study"));
            }
            study = Some((id.clone(), body, version));
        }
        let opened = now();
        let mut outputs = Vec::new();
        let ct_done = study
            .as_ref()
            .and_then(|(_, b, _)| b["started"].as_str())
            .filter(|s| s.contains('T'))
            .map(String::from);
        let arrival = match &o.arrival {
            Some(a) => Some(instant(a)?),
            None => None,
        };
        if let Some(a) = &arrival {
            outputs.push(milestone_output(Milestone::Arrival, a));
        }
        if let Some(c) = &ct_done {
            outputs.push(milestone_output(Milestone::CtDone, c));
        }
        if study.is_some() {
            outputs.push(milestone_output(Milestone::ImagesShared, &opened));
        }
        let mut task = consult_task(
            "緊急コンサルト",
            o.reason.trim(),
            &o.patient,
            json!({"identifier": {"system": INSTITUTION_SYSTEM, "value": own}, "display": own_name}),
            &o.team,
            &opened,
        );
        if let Some((id, _, _)) = &study {
            task["focus"] = json!({"reference": format!("ImagingStudy/{id}")});
        }
        if let Some(l) = &o.last_known_well {
            let (en, ja) = ("Last known well", "最終健常確認");
            task["input"] = json!([{
                "type": {"coding": [{"system": MILESTONE_SYSTEM, "code": "last-known-well", "display": en}], "text": ja},
                "valueDateTime": instant(l)?,
            }]);
        }
        if !outputs.is_empty() {
            task["output"] = Value::Array(outputs);
        }
        add_tag(&mut task, ADDRESSEE_TAG, &o.team);
        let writer = self.consult_writer((own.clone(), own_name));
        // Shared with the team: the patient and the study (a tag each, once).
        add_tag(&mut patient, ADDRESSEE_TAG, &o.team);
        strip_meta(&mut patient);
        writer
            .update("Patient", &o.patient, patient, Some(patient_version))
            .await?;
        if let Some((id, mut body, version)) = study {
            add_tag(&mut body, ADDRESSEE_TAG, &o.team);
            strip_meta(&mut body);
            writer
                .update("ImagingStudy", &id, body, Some(version))
                .await?;
        }
        let reply = writer.create("Task", task, None).await?;
        written(&reply, "the consult")
    }

    /// The consult `id` and its custodian, if the caller takes part in it (the requester or
    /// the team).
    async fn consult(&self, id: &str) -> Result<(Value, u64, (String, String))> {
        let not_found = || {
            Failure::new(
                404,
                IssueCode::NotFound,
                None,
                format!("Task/{id} is not a consult you take part in"),
            )
        };
        let Some((task, version)) = self.visible_body("Task", id).await? else {
            return Err(not_found());
        };
        if task["code"]["coding"][0]["system"] != CONSULT_SYSTEM {
            return Err(not_found());
        }
        let custodian = task["meta"]["tag"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["system"] == CUSTODIAN_SYSTEM)
            .map(|t| {
                (
                    t["code"].as_str().unwrap_or_default().to_string(),
                    t["display"].as_str().unwrap_or_default().to_string(),
                )
            })
            .ok_or_else(not_found)?;
        if let Some((me, _)) = &self.scope().custodian {
            let team = task["owner"]["identifier"]["value"]
                .as_str()
                .unwrap_or_default();
            if *me != custodian.0 && me != team {
                return Err(not_found());
            }
        }
        Ok((task, version, custodian))
    }

    /// Adds a message to the consult `id`: text, and images it points to (`ImagingStudy/…` or
    /// DICOMweb URLs); the `Communication` written.
    pub async fn consult_message(&self, id: &str, text: &str, images: &[String]) -> Result<Value> {
        if text.trim().is_empty() && images.is_empty() {
            return Err(bad("a message has text or images"));
        }
        let (task, _, custodian) = self.consult(id).await?;
        let team = task["owner"]["identifier"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let from = self
            .scope()
            .custodian
            .as_ref()
            .map(|(c, _)| c.clone())
            .unwrap_or_else(|| custodian.0.clone());
        let mut payload = Vec::new();
        if !text.trim().is_empty() {
            payload.push(json!({"contentString": text.trim()}));
        }
        for i in images {
            let reference = if i.starts_with("ImagingStudy/") {
                json!({"reference": i})
            } else if i.starts_with("http://") || i.starts_with("https://") {
                json!({"type": "ImagingStudy", "identifier": {"system": "urn:ietf:rfc:3986", "value": i}, "display": "DICOMweb"})
            } else {
                return Err(bad(format!(
                    "'{i}' is not an image reference (ImagingStudy/id or a DICOMweb URL)"
                )));
            };
            payload.push(json!({"contentReference": reference}));
        }
        let mut message = json!({
            "resourceType": "Communication",
            "status": "completed",
            "partOf": [{"reference": format!("Task/{id}")}],
            "subject": task["for"].clone(),
            "sent": now(),
            "sender": {"identifier": {"system": INSTITUTION_SYSTEM, "value": from}},
            "payload": payload,
        });
        add_tag(&mut message, ADDRESSEE_TAG, &team);
        add_tag(&mut message, ADDRESSEE_TAG, &custodian.0);
        let reply = self
            .consult_writer(custodian)
            .create("Communication", message, None)
            .await?;
        written(&reply, "the message")
    }

    /// Stamps a milestone of the consult `id` (at `at`, or now); a decision says what was
    /// decided. Stamping one already stamped keeps the first time. The `Task` as it is now.
    pub async fn consult_milestone(
        &self,
        id: &str,
        milestone: Milestone,
        at: Option<&str>,
        decision: Option<&str>,
    ) -> Result<Value> {
        let at = match at {
            Some(a) => instant(a)?,
            None => now(),
        };
        let decided = match (milestone, decision) {
            (Milestone::Decision, Some(d)) => Some(
                DECISIONS
                    .iter()
                    .find(|(code, _, _)| *code == d)
                    .ok_or_else(|| {
                        bad(format!(
                            "decision is thrombolysis, transfer or none, not '{d}'"
                        ))
                    })?,
            ),
            (Milestone::Decision, None) => {
                return Err(bad(
                    "a decision says what was decided (thrombolysis, transfer or none)",
                ));
            }
            (_, Some(_)) => return Err(bad("only the decision milestone takes a decision")),
            (_, None) => None,
        };
        for _ in 0..20 {
            let (mut task, version, custodian) = self.consult(id).await?;
            let outputs = task["output"].as_array().cloned().unwrap_or_default();
            if outputs
                .iter()
                .any(|o| o["type"]["coding"][0]["code"] == milestone.code())
            {
                return Ok(task);
            }
            let mut list = outputs;
            list.push(milestone_output(milestone, &at));
            if let Some((code, en, ja)) = decided {
                list.push(json!({
                    "type": {"coding": [{"system": MILESTONE_SYSTEM, "code": "decision-made", "display": "Decision made"}], "text": "決定内容"},
                    "valueCodeableConcept": {"coding": [{"system": DECISION_SYSTEM, "code": code, "display": en}], "text": ja},
                }));
            }
            task["output"] = Value::Array(list);
            task["lastModified"] = json!(now());
            task["status"] = json!(match milestone {
                Milestone::Needle | Milestone::Transfer => "completed",
                Milestone::Decision if decided.is_some_and(|d| d.0 == "none") => "completed",
                _ => "in-progress",
            });
            strip_meta(&mut task);
            match self
                .consult_writer(custodian)
                .update("Task", id, task, Some(version))
                .await
            {
                Ok(reply) => {
                    return written(&reply, "the consult");
                }
                // Another milestone came in between: stamp on top of it.
                Err(f) if f.status == 412 => continue,
                Err(f) => return Err(f),
            }
        }
        Err(Failure::new(
            503,
            IssueCode::Exception,
            None,
            "the consult keeps changing; try again",
        ))
    }

    /// Shares the consult `id` with a partner institution (abroad) under de-identified images:
    /// a copy of the study made to PS3.15's Basic Profile (a fresh key; the patient named by a
    /// pseudonym), kept as a study of its own under a pseudonymous Patient, and a consult
    /// `Task` of its own for the partner on them (English text; times with their offsets).
    /// Only the consult's requester does it. The re-identification map (pseudonym and UIDs
    /// back to the patient and the originals, and the two consults) is a `Basic` resource only
    /// the requester sees. Returns the partner's `Task`.
    pub async fn consult_abroad(
        &self,
        id: &str,
        partner: &str,
        reason: Option<&str>,
        blobs: &kizuna_blobs::Blobs,
    ) -> Result<Value> {
        let (task, _, custodian) = self.consult(id).await?;
        let Some((me, _)) = self.scope().custodian.clone() else {
            return Err(forbidden(
                "a consult is shared by the institution that opened it",
            ));
        };
        if me != custodian.0 {
            return Err(forbidden(
                "only the institution that opened the consult shares it with a partner",
            ));
        }
        if partner.len() != 10 || !partner.bytes().all(|b| b.is_ascii_digit()) || partner == me {
            return Err(bad("partner is another institution's 10-digit code"));
        }
        let Some(study_res) = task["focus"]["reference"]
            .as_str()
            .and_then(|r| r.strip_prefix("ImagingStudy/"))
        else {
            return Err(bad("the consult shows no study to share"));
        };
        let Some((study, _)) = self.visible_body("ImagingStudy", study_res).await? else {
            return Err(bad("the consult's study is gone"));
        };
        let Some(study_uid) = study["identifier"][0]["value"]
            .as_str()
            .and_then(|v| v.strip_prefix("urn:oid:"))
        else {
            return Err(bad("the consult's study has no Study Instance UID"));
        };
        let found = self
            .find_images(kizuna_store::imaging::ImageQuery {
                level: kizuna_store::imaging::Level::Instance,
                filters: vec![(
                    kizuna_store::imaging::Column::StudyUid,
                    kizuna_store::imaging::Test::AnyOf(vec![study_uid.to_string()]),
                )],
                offset: 0,
                limit: None,
                with_attrs: false,
                access: None,
            })
            .await?;
        if found.is_empty() {
            return Err(bad("the consult's study has no images kept"));
        }
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let pseudonym = format!("CASE-{}", tag[..8].to_ascii_uppercase());
        let key = [
            uuid::Uuid::new_v4().into_bytes(),
            uuid::Uuid::new_v4().into_bytes(),
        ]
        .concat();
        let writer = self.consult_writer(custodian.clone());
        // The pseudonymous patient, known to the partner by the pseudonym only.
        let mut patient = json!({"resourceType": "Patient", "identifier": [{
            "system": format!("{}{me}", crate::imaging::PATIENT_NUMBER_ROOT), "value": pseudonym}]});
        add_tag(&mut patient, ADDRESSEE_TAG, partner);
        let pseudonymous = writer.create("Patient", patient, None).await?;
        let patient_id = written(&pseudonymous, "the pseudonymous patient")?["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (copy_study, uids) = self
            .deidentified_copy(&found, &key, &pseudonym, blobs)
            .await?;
        let (mut body, version) = self
            .visible_body("ImagingStudy", &copy_study)
            .await?
            .ok_or_else(|| {
                Failure::new(
                    500,
                    IssueCode::Exception,
                    None,
                    "the de-identified study cannot be read back",
                )
            })?;
        add_tag(&mut body, ADDRESSEE_TAG, partner);
        strip_meta(&mut body);
        writer
            .update("ImagingStudy", &copy_study, body, Some(version))
            .await?;
        // The partner's consult.
        let mut shared = consult_task(
            "Urgent consult (de-identified images)",
            reason.unwrap_or("Urgent consult: de-identified images for a second opinion"),
            &patient_id,
            task["requester"].clone(),
            partner,
            &now(),
        );
        shared["focus"] = json!({"reference": format!("ImagingStudy/{copy_study}")});
        if let Some(i) = task.get("input") {
            shared["input"] = i.clone();
        }
        if let Some(o) = task.get("output") {
            shared["output"] = json!(
                o.as_array()
                    .into_iter()
                    .flatten()
                    .filter(|x| x["type"]["coding"][0]["code"] != "specialist-viewing")
                    .cloned()
                    .collect::<Vec<_>>()
            );
        }
        add_tag(&mut shared, ADDRESSEE_TAG, partner);
        let shared = writer.create("Task", shared, None).await?;
        let shared: Value = written(&shared, "the partner's consult")?;
        let map = reidentification_map(
            &task["for"]["reference"],
            &pseudonym,
            &patient_id,
            (id, shared["id"].as_str().unwrap_or_default()),
            &uids,
        );
        writer.create("Basic", map, None).await?;
        Ok(shared)
    }

    /// A de-identified copy of the objects `found` (key `key`, the patient named `pseudonym`),
    /// kept as a study of its own; its `ImagingStudy` id and the map of replaced UIDs.
    async fn deidentified_copy(
        &self,
        found: &[kizuna_store::imaging::Found],
        key: &[u8],
        pseudonym: &str,
        blobs: &kizuna_blobs::Blobs,
    ) -> Result<(String, std::collections::BTreeMap<String, String>)> {
        let mut copies = Vec::new();
        let mut uids = std::collections::BTreeMap::new();
        for f in found {
            let bytes = blobs.get(&f.blob).await.map_err(|e| {
                Failure::new(
                    503,
                    IssueCode::Exception,
                    None,
                    format!("a kept image cannot be read: {e}"),
                )
            })?;
            let (key, pseudonym) = (key.to_vec(), pseudonym.to_string());
            let d = tokio::task::spawn_blocking(move || {
                kizuna_dicom::deid::deidentify(&bytes, &key, &pseudonym)
            })
            .await
            .map_err(|_| Failure::new(500, IssueCode::Exception, None, "de-identification failed"))?
            .map_err(|e| {
                Failure::new(
                    422,
                    IssueCode::Processing,
                    None,
                    format!("an image cannot be shared de-identified: {e}"),
                )
            })?;
            uids.extend(d.uids);
            copies.push(bytes::Bytes::from(d.bytes));
        }
        let stored = self.store_images(blobs, copies, None, true, None).await?;
        let mut copy_study = None;
        for s in &stored {
            match s {
                crate::imaging::Stored::Kept(p) | crate::imaging::Stored::AlreadyKept(p) => {
                    copy_study = Some(p.study_res.clone())
                }
                crate::imaging::Stored::Refused { message, .. } => {
                    return Err(Failure::new(
                        500,
                        IssueCode::Exception,
                        None,
                        format!("the de-identified copy was not kept: {message}"),
                    ));
                }
            }
        }
        let copy_study = copy_study.ok_or_else(|| bad("nothing to share"))?;
        Ok((copy_study, uids))
    }

    /// The consults showing `study` (ImagingStudy id) to the caller's institution as their
    /// team that have no `specialist-viewing` yet: the team's first look stamps it
    /// ([`Records::consult_milestone`]).
    pub async fn consults_unviewed(&self, study: &str) -> Result<Vec<String>> {
        let Some((me, _)) = self.scope().custodian.clone() else {
            return Ok(Vec::new());
        };
        let query = format!(
            "focus=ImagingStudy/{study}&_tag={ADDRESSEE_TAG}%7C{me}&code={CONSULT_SYSTEM}%7Curgent"
        );
        let criteria = crate::Criteria::parse("Task", &query)?;
        let mut out = Vec::new();
        for id in self.find("Task", &criteria.filters, 20).await? {
            let (task, _, _) = self.consult(&id).await?;
            let viewed = task["output"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["type"]["coding"][0]["code"] == Milestone::SpecialistViewing.code());
            if task["owner"]["identifier"]["value"] == me.as_str() && !viewed {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// The times of the consult `id`.
    pub async fn consult_report(&self, id: &str) -> Result<Report> {
        let (task, _, _) = self.consult(id).await?;
        Ok(report_of(id, &task))
    }

    /// The times of every consult the caller took part in, opened in `[from, to]` (dates),
    /// oldest first.
    pub async fn consult_reports(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<Report>> {
        let mut query = format!("code={CONSULT_SYSTEM}%7Curgent");
        if let Some(f) = from {
            query.push_str(&format!("&authored-on=ge{f}"));
        }
        if let Some(t) = to {
            query.push_str(&format!("&authored-on=le{t}"));
        }
        let criteria = crate::Criteria::parse("Task", &query)?;
        let mut out = Vec::new();
        for id in self.find("Task", &criteria.filters, 10_000).await? {
            if let Ok((task, _, _)) = self.consult(&id).await {
                out.push(report_of(&id, &task));
            }
        }
        out.sort_by(|a, b| a.opened.cmp(&b.opened));
        Ok(out)
    }
}

/// The re-identification map of a share abroad, as a `Basic` resource: the patient, the
/// pseudonym and its Patient, the two consults (original, shared) and every UID replaced. It
/// names the patient inside an extension only, so no patient compartment holds it and only its
/// writer sees it.
fn reidentification_map(
    patient: &Value,
    pseudonym: &str,
    pseudonymous_patient: &str,
    (consult, shared): (&str, &str),
    uids: &std::collections::BTreeMap<String, String>,
) -> Value {
    let mut ext = vec![
        json!({"url": "urn:kizuna:deid:patient", "valueReference": {"reference": patient.clone()}}),
        json!({"url": "urn:kizuna:deid:pseudonym", "valueString": pseudonym}),
        json!({"url": "urn:kizuna:deid:pseudonymous-patient", "valueReference": {"reference": format!("Patient/{pseudonymous_patient}")}}),
        json!({"url": "urn:kizuna:deid:consult", "valueReference": {"reference": format!("Task/{consult}")}}),
        json!({"url": "urn:kizuna:deid:shared-consult", "valueReference": {"reference": format!("Task/{shared}")}}),
    ];
    for (replacement, original) in uids {
        ext.push(json!({"url": "urn:kizuna:deid:uid", "extension": [
            {"url": "replacement", "valueOid": format!("urn:oid:{replacement}")},
            {"url": "original", "valueOid": format!("urn:oid:{original}")},
        ]}));
    }
    json!({
        "resourceType": "Basic",
        "code": {"coding": [{"system": "urn:kizuna:deid", "code": "reidentification-map", "display": "Re-identification map"}]},
        "extension": ext,
    })
}

fn report_of(id: &str, task: &Value) -> Report {
    let outputs = task["output"].as_array().cloned().unwrap_or_default();
    let mut milestones = Vec::new();
    let mut decision = None;
    for o in &outputs {
        let code = o["type"]["coding"][0]["code"].as_str().unwrap_or_default();
        if code == "decision-made" {
            decision = o["valueCodeableConcept"]["coding"][0]["code"]
                .as_str()
                .map(String::from);
        } else if let (Some(m), Some(at)) = (Milestone::parse(code), o["valueDateTime"].as_str()) {
            milestones.push((m, at.to_string()));
        }
    }
    let time = |m: Milestone| {
        milestones
            .iter()
            .find(|(x, _)| *x == m)
            .map(|(_, t)| t.clone())
    };
    let arrival = time(Milestone::Arrival);
    Report {
        consult: id.to_string(),
        opened: task["authoredOn"].as_str().unwrap_or_default().to_string(),
        team: task["owner"]["identifier"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        last_known_well: task["input"][0]["valueDateTime"].as_str().map(String::from),
        door_to_decision: arrival
            .as_deref()
            .zip(time(Milestone::Decision))
            .and_then(|(a, d)| minutes(a, &d)),
        door_to_needle: arrival
            .as_deref()
            .zip(time(Milestone::Needle))
            .and_then(|(a, n)| minutes(a, &n)),
        milestones,
        decision,
    }
}

impl Report {
    /// The report as a FHIR `Parameters` resource.
    pub fn parameters(&self) -> Value {
        let mut p = vec![
            json!({"name": "consult", "valueReference": {"reference": format!("Task/{}", self.consult)}}),
            json!({"name": "opened", "valueDateTime": self.opened}),
            json!({"name": "team", "valueString": self.team}),
        ];
        if let Some(l) = &self.last_known_well {
            p.push(json!({"name": "last-known-well", "valueDateTime": l}));
        }
        for (m, at) in &self.milestones {
            p.push(json!({"name": m.code(), "valueDateTime": at}));
        }
        if let Some(d) = &self.decision {
            p.push(json!({"name": "decision-made", "valueCode": d}));
        }
        if let Some(m) = self.door_to_decision {
            p.push(json!({"name": "door-to-decision-minutes", "valueDecimal": m}));
        }
        if let Some(m) = self.door_to_needle {
            p.push(json!({"name": "door-to-needle-minutes", "valueDecimal": m}));
        }
        json!({"resourceType": "Parameters", "parameter": p})
    }

    /// The CSV header of [`Report::csv_row`] (English; the times keep their offsets).
    pub fn csv_header() -> String {
        let mut h = vec!["consult", "opened", "team", "last_known_well"];
        h.extend(Milestone::ALL.iter().map(|m| m.code()));
        h.extend(["decision", "door_to_decision_min", "door_to_needle_min"]);
        h.join(",")
    }

    pub fn csv_row(&self) -> String {
        let time = |m: Milestone| {
            self.milestones
                .iter()
                .find(|(x, _)| *x == m)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        };
        let mut row = vec![
            self.consult.clone(),
            self.opened.clone(),
            self.team.clone(),
            self.last_known_well.clone().unwrap_or_default(),
        ];
        row.extend(Milestone::ALL.iter().map(|m| time(*m)));
        row.push(self.decision.clone().unwrap_or_default());
        row.push(
            self.door_to_decision
                .map(|m| format!("{m:.1}"))
                .unwrap_or_default(),
        );
        row.push(
            self.door_to_needle
                .map(|m| format!("{m:.1}"))
                .unwrap_or_default(),
        );
        row.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_their_offsets_and_default_to_japan() {
        assert_eq!(
            instant("2026-11-21T21:40:00+09:00").unwrap(),
            "2026-11-21T21:40:00+09:00"
        );
        assert_eq!(
            instant("2026-11-21T13:40:00+01:00").unwrap(),
            "2026-11-21T13:40:00+01:00"
        );
        assert_eq!(
            instant("2026-11-21T12:40:00Z").unwrap(),
            "2026-11-21T12:40:00+00:00"
        );
        assert_eq!(
            instant("2026-11-21T21:40:00").unwrap(),
            "2026-11-21T21:40:00+09:00"
        );
        assert!(instant("21:40").is_err());
        assert_eq!(
            minutes("2026-11-21T22:00:00+09:00", "2026-11-21T14:45:00+01:00"),
            Some(45.0)
        );
    }
}
