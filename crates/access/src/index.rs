//! The patient index: one `Person` resource per patient, whose id is the patient's opaque
//! network id.
//!
//! A Person carries the identifiers that name the patient across the network: the
//! individualized insured-member id (JP-CLINS, normalized), the serials of the patient's card
//! certificates, and optionally the keyed hash of the My Number (never the number). Patient
//! resources written by institutions belong to the person when they carry one of the person's
//! insured-member ids (linked by exact identifier, whenever looked up, so a newly registered
//! Patient is linked at once), or when a person linked them (`Person.link`, after confirming a
//! demographic candidate). The person's sharing preferences are extensions of the Person
//! (opting out of sharing, hidden labels, hidden records); every change is a new version.

use kizuna_fhir::IssueCode;
use kizuna_records::{Failure, Records};
use kizuna_store::Version;
use serde_json::{Value, json};

/// The system of a Consent identifier naming the person (network id) it concerns.
pub const PERSON_SYSTEM: &str = "urn:kizuna:person";
/// The system of a card certificate's serial on a Person.
pub const CARD_SYSTEM: &str = "urn:kizuna:card-serial";
/// The system of the keyed hash of a My Number on a Person.
pub const MY_NUMBER_SYSTEM: &str = "urn:kizuna:my-number-hmac";
/// The person's choice about sharing (`valueCode`: `share` or `opt-out`).
pub const SHARING_EXTENSION: &str = "urn:kizuna:sharing";
/// A label or tag (`valueCoding`) whose records the person hides from others.
pub const HIDDEN_LABEL_EXTENSION: &str = "urn:kizuna:hidden-label";
/// A record (`valueReference`) the person hides from others.
pub const HIDDEN_RECORD_EXTENSION: &str = "urn:kizuna:hidden-record";

/// What registers a person (or adds identifiers to the person one of them already names).
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// The insured-member id as written (`insurer:symbol:number:branch`).
    pub insured_member_id: Option<String>,
    pub card_serials: Vec<String>,
    /// The keyed hash of the My Number (see `kizuna_trust::my_number`).
    pub my_number_hash: Option<String>,
    /// Name in kana, birth date (YYYY-MM-DD) and sex (`male`, `female`, `other`, `unknown`).
    pub kana_name: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
}

/// A person's sharing preferences, read from their Person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privacy {
    pub opted_out: bool,
    pub hidden_labels: Vec<(String, String)>,
    pub hidden_records: Vec<(String, String)>,
}

/// `rtype?param=value&…` among every resource (the node's view), ids sorted, at most `limit`.
pub(crate) async fn find(
    records: &Records,
    rtype: &str,
    criteria: &[(&str, &str)],
    limit: usize,
) -> Result<Vec<String>, Failure> {
    let mut q = String::new();
    for (k, v) in criteria {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(k);
        q.push('=');
        q.extend(form_escape(v));
    }
    let criteria = kizuna_records::Criteria::parse(rtype, &q)?;
    Ok(records
        .store()
        .find(rtype, &criteria.filters, limit)
        .await?)
}

/// A search value percent-encoded for a query string, commas escaped (they separate values).
fn form_escape(v: &str) -> impl Iterator<Item = char> + '_ {
    v.bytes().flat_map(|b| {
        let s: String = match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'|' | b':' => {
                (b as char).to_string()
            }
            b',' => "%5C%2C".into(),
            _ => format!("%{b:02X}"),
        };
        s.chars().collect::<Vec<_>>()
    })
}

/// The live resource `rtype/id` as JSON, if any.
pub(crate) async fn read_json(
    records: &Records,
    rtype: &str,
    id: &str,
) -> Result<Option<(Version, Value)>, Failure> {
    let Some(v) = records.store().read(rtype, id).await? else {
        return Ok(None);
    };
    let Some(body) = &v.body else {
        return Ok(None);
    };
    let value = serde_json::from_str(body).map_err(|_| {
        Failure::new(
            500,
            IssueCode::Exception,
            None,
            "a stored resource does not parse",
        )
    })?;
    Ok(Some((v, value)))
}

/// The normalized insured-member id, or why it is not one.
pub fn insured_member_value(text: &str) -> Result<String, Failure> {
    kizuna_jpid::InsuredMemberId::parse(text)
        .map(|i| i.value())
        .map_err(|e| {
            Failure::new(
                400,
                IssueCode::Value,
                Some("insuredMemberId".into()),
                format!("not an insured-member id (insurer:symbol:number:branch): {e}"),
            )
        })
}

/// The person named by identifier `system|value`, if any.
pub async fn person_by(
    records: &Records,
    system: &str,
    value: &str,
) -> Result<Option<(Version, Value)>, Failure> {
    let ident = format!("{system}|{value}");
    let ids = find(records, "Person", &[("identifier", &ident)], 2).await?;
    match ids.as_slice() {
        [] => Ok(None),
        [one] => read_json(records, "Person", one).await,
        _ => Err(Failure::new(
            409,
            IssueCode::Duplicate,
            None,
            "two persons of the patient index share an identifier; an operator must merge them",
        )),
    }
}

/// Registers a person, or adds the registration's identifiers to the person one of them
/// already names; answers the network id.
pub async fn register(records: &Records, reg: &Registration) -> Result<String, Failure> {
    let mut idents: Vec<(String, String)> = Vec::new();
    if let Some(i) = &reg.insured_member_id {
        idents.push((
            kizuna_jpid::INSURED_MEMBER_ID_SYSTEM.into(),
            insured_member_value(i)?,
        ));
    }
    for s in &reg.card_serials {
        idents.push((CARD_SYSTEM.into(), s.clone()));
    }
    if let Some(h) = &reg.my_number_hash {
        idents.push((MY_NUMBER_SYSTEM.into(), h.clone()));
    }
    if idents.is_empty() {
        return Err(Failure::new(
            400,
            IssueCode::Required,
            None,
            "a person needs an insured-member id, a card or a My Number",
        ));
    }
    let mut existing = None;
    for (system, value) in &idents {
        if let Some(found) = person_by(records, system, value).await? {
            existing = Some(found);
            break;
        }
    }
    let mut person = match &existing {
        Some((_, p)) => p.clone(),
        None => json!({"resourceType": "Person", "active": true}),
    };
    let list = person
        .as_object_mut()
        .map(|o| o.entry("identifier").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = list {
        for (system, value) in &idents {
            let have = list.iter().any(|i| {
                i.get("system").and_then(Value::as_str) == Some(system)
                    && i.get("value").and_then(Value::as_str) == Some(value)
            });
            if !have {
                list.push(json!({"system": system, "value": value}));
            }
        }
    }
    if let Some(k) = &reg.kana_name {
        person["name"] = json!([{"text": k, "extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
            "valueCode": "SYL"}]}]);
    }
    if let Some(b) = &reg.birth_date {
        person["birthDate"] = json!(b);
    }
    if let Some(g) = &reg.gender {
        person["gender"] = json!(g);
    }
    let reply = match &existing {
        Some((v, _)) => {
            let id = v.id.clone();
            records
                .update("Person", &id, person, Some(v.version))
                .await?
        }
        None => records.create("Person", person, None).await?,
    };
    reply
        .stored()
        .map(|v| v.id.clone())
        .ok_or_else(|| Failure::new(500, IssueCode::Exception, None, "the person was not stored"))
}

/// The Patient resources of a person: those it links, and those carrying one of its
/// insured-member ids.
pub async fn patients_of(records: &Records, person: &Value) -> Result<Vec<String>, Failure> {
    let mut ids: Vec<String> = Vec::new();
    for link in person
        .get("link")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = link
            .pointer("/target/reference")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("Patient/"))
        {
            ids.push(id.to_string());
        }
    }
    for ident in identifiers(person, kizuna_jpid::INSURED_MEMBER_ID_SYSTEM) {
        let token = format!("{}|{ident}", kizuna_jpid::INSURED_MEMBER_ID_SYSTEM);
        ids.extend(find(records, "Patient", &[("identifier", &token)], 1000).await?);
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// The values of a resource's identifiers of `system`.
pub fn identifiers<'a>(resource: &'a Value, system: &'a str) -> impl Iterator<Item = &'a str> {
    resource
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |i| i.get("system").and_then(Value::as_str) == Some(system))
        .filter_map(|i| i.get("value").and_then(Value::as_str))
}

/// A person's sharing preferences.
pub fn privacy(person: &Value) -> Privacy {
    let mut p = Privacy::default();
    for e in person
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match e.get("url").and_then(Value::as_str) {
            Some(SHARING_EXTENSION) => {
                p.opted_out = e.get("valueCode").and_then(Value::as_str) == Some("opt-out");
            }
            Some(HIDDEN_LABEL_EXTENSION) => {
                if let (Some(s), Some(c)) = (
                    e.pointer("/valueCoding/system").and_then(Value::as_str),
                    e.pointer("/valueCoding/code").and_then(Value::as_str),
                ) {
                    p.hidden_labels.push((s.into(), c.into()));
                }
            }
            Some(HIDDEN_RECORD_EXTENSION) => {
                if let Some((t, id)) = e
                    .pointer("/valueReference/reference")
                    .and_then(Value::as_str)
                    .and_then(|r| r.split_once('/'))
                {
                    p.hidden_records.push((t.into(), id.into()));
                }
            }
            _ => {}
        }
    }
    p
}

/// Replaces a person's sharing preferences (a new version of the Person).
pub async fn set_privacy(records: &Records, person_id: &str, p: &Privacy) -> Result<(), Failure> {
    let Some((v, mut person)) = read_json(records, "Person", person_id).await? else {
        return Err(Failure::new(
            404,
            IssueCode::NotFound,
            None,
            format!("no person {person_id} in the patient index"),
        ));
    };
    let mut ext: Vec<Value> = person
        .get("extension")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ext.retain(|e| {
        !matches!(
            e.get("url").and_then(Value::as_str),
            Some(SHARING_EXTENSION | HIDDEN_LABEL_EXTENSION | HIDDEN_RECORD_EXTENSION)
        )
    });
    ext.push(json!({"url": SHARING_EXTENSION,
        "valueCode": if p.opted_out { "opt-out" } else { "share" }}));
    for (s, c) in &p.hidden_labels {
        ext.push(json!({"url": HIDDEN_LABEL_EXTENSION, "valueCoding": {"system": s, "code": c}}));
    }
    for (t, id) in &p.hidden_records {
        ext.push(json!({"url": HIDDEN_RECORD_EXTENSION,
            "valueReference": {"reference": format!("{t}/{id}")}}));
    }
    person["extension"] = Value::Array(ext);
    records
        .update("Person", person_id, person, Some(v.version))
        .await?;
    Ok(())
}
