//! Audit events: every interaction (read, search, write, consent, denial, emergency access)
//! as a FHIR `AuditEvent` in the store's hash-chained, append-only log, and the patient's own
//! view of it ("who looked at my records").
//!
//! An event names the caller (institution, acting staff member, SMART client), the purpose of
//! use, what was done, the outcome, the resources concerned (`Type/id`) and the patients they
//! belong to (`Patient/id`), never their content: no names, no query values, no My Number.

use crate::rules::INSTITUTION_SYSTEM;
use crate::{Agent, Caller, Network, index};
use kizuna_records::Failure;
use serde_json::{Value, json};

/// The most resources one event names (a page of a search is at most this big).
pub const MAX_ENTITIES: usize = 1000;

/// What happened, in the terms of an AuditEvent.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// `C`, `R`, `U`, `D` or `E` (execute: operations, consent, emergency access).
    pub action: &'static str,
    /// The interaction (`read`, `search-type`, `create`, `consent`, `emergency-access` …).
    pub subtype: String,
    /// The request as `METHOD path` (no query values: they can hold patient data).
    pub request: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// Resources concerned (`Type/id`).
    pub entities: Vec<String>,
    /// Patients concerned (`Patient/id`).
    pub patients: Vec<String>,
    /// Persons (network ids) concerned.
    pub persons: Vec<String>,
    /// Why a request was refused, or what makes it notable (no patient data).
    pub detail: Option<String>,
    /// The request's id, shared by every entry about it.
    pub request_id: Option<String>,
    /// A write about to run, recorded before it may commit: no outcome yet (`status` is
    /// meaningless); the request's final entry follows with the same `request_id`.
    pub started: bool,
}

/// The system of the request ids that tie a request's entries together.
pub const REQUEST_SYSTEM: &str = "urn:kizuna:request";

/// The AuditEvent of `event` made by `caller` at `recorded` (µs).
pub fn audit_event(caller: &Caller, event: &Event, recorded: i64) -> Value {
    let outcome = match event.status {
        200..=399 => "0",
        401 | 403 => "8",
        400..=499 => "4",
        _ => "12",
    };
    let mut agents = Vec::new();
    match &caller.agent {
        Agent::Node => agents.push(json!({
            "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150", "display": "Application"}]},
            "who": {"display": "this Kizuna node (operator)"},
            "requestor": true
        })),
        Agent::Institution { code, name } => {
            agents.push(json!({
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "PROV", "display": "healthcare provider"}]},
                "who": {"identifier": {"system": INSTITUTION_SYSTEM, "value": code}, "display": name},
                "requestor": caller.staff.is_none()
            }));
            if let Some(staff) = &caller.staff {
                agents.push(json!({
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser", "display": "human user"}]},
                    "who": {"identifier": {"system": format!("urn:kizuna:staff:{code}"), "value": staff}},
                    "altId": staff,
                    "requestor": true
                }));
            }
            if let Some(client) = &caller.client {
                agents.push(json!({
                    "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150", "display": "Application"}]},
                    "who": {"identifier": {"system": "urn:kizuna:smart-client", "value": client}},
                    "requestor": false
                }));
            }
        }
        Agent::Unauthenticated => agents.push(json!({
            "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150", "display": "Application"}]},
            "who": {"display": "a client whose credentials were refused"},
            "requestor": true
        })),
        Agent::Patient { card_serial } => agents.push(json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "PAT", "display": "patient"}]},
            "who": {"identifier": {"system": index::CARD_SYSTEM, "value": card_serial}},
            "requestor": true
        })),
    }
    let mut entities: Vec<Value> = event
        .patients
        .iter()
        .map(|p| {
            json!({"what": {"reference": p},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}})
        })
        .collect();
    entities.extend(event.persons.iter().map(|p| {
        json!({"what": {"identifier": {"system": index::PERSON_SYSTEM, "value": p}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"}})
    }));
    entities.extend(
        event
            .entities
            .iter()
            .take(MAX_ENTITIES)
            .map(|e| json!({"what": {"reference": e}})),
    );
    if let Some(id) = &event.request_id {
        entities.push(json!({"what": {"identifier": {"system": REQUEST_SYSTEM, "value": id}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "4", "display": "Other"}}));
    }
    let mut ev = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": event.subtype}],
        "action": event.action,
        "recorded": kizuna_store::format_instant(recorded),
        "outcome": outcome,
        "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": caller.purpose}]}],
        "agent": agents,
        "source": {"observer": {"display": "Kizuna"}, "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}]},
        "entity": entities,
    });
    if event.started {
        // Started, outcome unknown until the request's final entry.
        if let Some(o) = ev.as_object_mut() {
            o.remove("outcome");
        }
        ev["outcomeDesc"] = json!(format!("{} -> started", event.request));
        return ev;
    }
    let mut desc = format!("{} -> {}", event.request, event.status);
    if let Some(d) = &event.detail {
        desc.push_str(": ");
        desc.push_str(d);
    }
    ev["outcomeDesc"] = json!(desc);
    ev
}

/// The patients a returned resource belongs to: itself if a Patient, else the Patients its
/// `subject`, `patient`, `beneficiary` or `individual` refer to.
pub fn patients_in(resource: &Value, out: &mut Vec<String>) {
    if resource.get("resourceType").and_then(Value::as_str) == Some("Patient") {
        if let Some(id) = resource.get("id").and_then(Value::as_str) {
            out.push(format!("Patient/{id}"));
        }
        return;
    }
    for key in ["subject", "patient", "beneficiary", "individual"] {
        let refs: Vec<&Value> = match resource.get(key) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v) => vec![v],
            None => vec![],
        };
        for r in refs {
            if let Some(s) = r.get("reference").and_then(Value::as_str)
                && let Some(at) = s.find("Patient/")
            {
                let tail = &s[at..];
                let end = tail.find("/_history").unwrap_or(tail.len());
                out.push(tail[..end].to_string());
            }
        }
    }
}

/// The resources and patients of an answer's body (a resource or a Bundle of them).
pub fn concerned(body: &Value, entities: &mut Vec<String>, patients: &mut Vec<String>) {
    let mut one = |r: &Value| {
        if let (Some(t), Some(id)) = (
            r.get("resourceType").and_then(Value::as_str),
            r.get("id").and_then(Value::as_str),
        ) && t != "OperationOutcome"
            && t != "Bundle"
        {
            entities.push(format!("{t}/{id}"));
        }
        patients_in(r, patients);
    };
    if body.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        for e in body
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = e.get("resource") {
                one(r);
            }
        }
    } else {
        one(body);
    }
    patients.sort();
    patients.dedup();
}

/// What an answer concerns, for the server's audit layer, when its body is not a FHIR
/// resource of its own (a document as submitted, an HTML page, a stream of images): a
/// resource, or a Bundle of the resources, standing for it ([`concerned`] reads it).
#[derive(Clone, Debug)]
pub struct Concerns(pub Value);

/// The event as the audit log keeps it, with the keys it is found by; for an entry that must
/// commit with the write it tells of (`kizuna_store::Batch::audit`). [`Network::audit`]
/// appends one on its own.
pub fn entry_of(caller: &Caller, event: &Event) -> kizuna_store::audit::AuditEntry {
    kizuna_store::audit::AuditEntry {
        entry: audit_event(caller, event, crate::now_micros()).to_string(),
        keys: keys_of(caller, event),
    }
}

impl Network {
    /// Appends the event to the audit log, durably; an error means the answer must not be
    /// given (nothing is disclosed unaudited).
    pub async fn audit(&self, caller: &Caller, event: &Event) -> Result<(), Failure> {
        self.records()
            .store()
            .append_audit(vec![entry_of(caller, event)])
            .await?;
        Ok(())
    }

    /// The audit events about person `person` (network id): their own view of who looked at
    /// their records, newest first, at most `limit`.
    pub async fn access_log(&self, person: &str, limit: usize) -> Result<Vec<Value>, Failure> {
        let Some((_, body)) = index::read_json(self.records(), "Person", person).await? else {
            return Ok(vec![]);
        };
        let patients: Vec<String> = index::patients_of(self.records(), &body)
            .await?
            .into_iter()
            .map(|p| format!("Patient/{p}"))
            .collect();
        let mut keys: Vec<String> = patients.clone();
        keys.push(person_key(person));
        by_keys(self.records().store(), &keys, limit, |ev| {
            ev.get("entity")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|e| {
                    e.pointer("/what/reference")
                        .and_then(Value::as_str)
                        .is_some_and(|r| patients.iter().any(|p| p == r))
                        || e.pointer("/what/identifier/value").and_then(Value::as_str)
                            == Some(person)
                })
        })
        .await
    }
}

/// One audit event in plain words for the patient (Japanese and English): when, who, what.
pub fn plain_words(ev: &Value) -> (String, String) {
    let when = ev.get("recorded").and_then(Value::as_str).unwrap_or("?");
    let who = ev
        .get("agent")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|a| a.pointer("/who/display"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    let sub = ev
        .pointer("/subtype/0/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ok = ev.get("outcome").and_then(Value::as_str) == Some("0");
    let (ja, en) = match (sub, ok) {
        ("emergency-access", true) => (
            "緊急時に記録を閲覧しました",
            "opened your records in an emergency",
        ),
        ("consent", true) => (
            "記録の閲覧に同意を得ました",
            "received your consent to see your records",
        ),
        (_, false) => (
            "閲覧しようとしましたが拒否されました",
            "tried to see your records and was refused",
        ),
        ("create" | "update" | "patch", true) => ("記録を書きました", "wrote to your records"),
        ("delete", true) => ("記録を削除しました", "deleted a record"),
        (_, true) => ("記録を閲覧しました", "looked at your records"),
    };
    (format!("{when} {who} が{ja}"), format!("{when} {who} {en}"))
}

impl Network {
    /// The emergency accesses recorded in the audit log, newest first, at most `limit`: all of
    /// them, or those of institution `institution` (what its administrator reviews).
    pub async fn emergencies(
        &self,
        institution: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Value>, Failure> {
        emergencies(self.records().store(), institution, limit).await
    }
}

/// See [`Network::emergencies`]; for tools that hold only the store.
pub async fn emergencies(
    store: &kizuna_store::Store,
    institution: Option<&str>,
    limit: usize,
) -> Result<Vec<Value>, Failure> {
    let key = match institution {
        Some(code) => format!("{EMERGENCY_KEY}|{code}"),
        None => EMERGENCY_KEY.to_string(),
    };
    by_keys(store, &[key], limit, |ev| {
        let emergency = ev.pointer("/subtype/0/code").and_then(Value::as_str)
            == Some("emergency-access")
            && ev.get("outcome").and_then(Value::as_str) == Some("0");
        let by = ev
            .pointer("/agent/0/who/identifier/value")
            .and_then(Value::as_str);
        emergency && institution.is_none_or(|i| by == Some(i))
    })
    .await
}

/// The key of successful emergency accesses (and, with `|` and the institution code, of one
/// institution's).
const EMERGENCY_KEY: &str = "emergency";

fn person_key(person: &str) -> String {
    format!("Person/{person}")
}

/// The keys an event is found by: the patients and persons it concerns, and whether it is an
/// emergency access (and whose).
fn keys_of(caller: &Caller, event: &Event) -> Vec<String> {
    if event.started {
        // No outcome yet: the request's final entry is the one the patient sees.
        return Vec::new();
    }
    let mut keys: Vec<String> = event.patients.clone();
    // A refused or empty answer names its target only as an entity (e.g. `Patient/x`).
    keys.extend(
        event
            .entities
            .iter()
            .take(MAX_ENTITIES)
            .filter(|e| e.starts_with("Patient/"))
            .cloned(),
    );
    keys.extend(event.persons.iter().map(|p| person_key(p)));
    if event.subtype == "emergency-access" && (200..400).contains(&event.status) {
        keys.push(EMERGENCY_KEY.into());
        if let Agent::Institution { code, .. } = &caller.agent {
            keys.push(format!("{EMERGENCY_KEY}|{code}"));
        }
    }
    keys
}

/// The newest entries (at most `limit`, newest first) appended with any of `keys`; entries
/// written before the log had keys are read in full, and `keep` (the same selection as the
/// keys make) picks among them.
async fn by_keys(
    store: &kizuna_store::Store,
    keys: &[String],
    limit: usize,
    keep: impl FnMut(&Value) -> bool,
) -> Result<Vec<Value>, Failure> {
    let (found, keyed_from) = store.audit_by_keys(keys, limit).await?;
    let mut out: Vec<Value> = found
        .iter()
        .filter_map(|rec| serde_json::from_str::<Value>(&rec.entry).ok())
        .collect();
    if out.len() < limit && keyed_from > 1 {
        out.extend(scan(store, keyed_from, limit - out.len(), keep).await?);
    }
    Ok(out)
}

/// The entries before `before` that `keep` accepts, newest first, at most `limit`.
async fn scan(
    store: &kizuna_store::Store,
    before: i64,
    limit: usize,
    mut keep: impl FnMut(&Value) -> bool,
) -> Result<Vec<Value>, Failure> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_after(after, 5000).await?;
        let page: Vec<_> = page.into_iter().take_while(|r| r.seq < before).collect();
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(
            page.iter()
                .filter_map(|rec| serde_json::from_str::<Value>(&rec.entry).ok())
                .filter(|ev| keep(ev)),
        );
    }
    out.reverse();
    out.truncate(limit);
    Ok(out)
}
