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

/// The live resources of `rtype` matching every `(parameter, value)` (values as written,
/// commas taken literally), in the node's view: ids and parsed bodies, at most `limit`.
pub(crate) async fn search(
    records: &Records,
    rtype: &str,
    criteria: &[(&str, &str)],
    limit: usize,
) -> Result<Vec<(String, Value)>, Failure> {
    // Values are given decoded, so only FHIR's own escape (of the OR comma) applies.
    let pairs: Vec<(String, String)> = criteria
        .iter()
        .map(|(k, v)| (k.to_string(), v.replace('\\', "\\\\").replace(',', "\\,")))
        .collect();
    let (query, _) = kizuna_search::parse(Some(rtype), &pairs, kizuna_search::Handling::Strict)
        .map_err(|issues| Failure {
            status: 400,
            issues,
            deleted: None,
        })?;
    let spec = kizuna_store::SearchSpec::matching(rtype, &query.filters, limit);
    let hits = records.store().search(spec).await?.hits;
    hits.into_iter()
        .filter_map(|h| h.version.body.map(|b| (h.version.id, b)))
        .map(|(id, b)| Ok((id, parse_stored(&b)?)))
        .collect()
}

/// The ids of [`search`]'s matches, sorted.
pub(crate) async fn find(
    records: &Records,
    rtype: &str,
    criteria: &[(&str, &str)],
    limit: usize,
) -> Result<Vec<String>, Failure> {
    let mut ids: Vec<String> = search(records, rtype, criteria, limit)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    Ok(ids)
}

fn parse_stored(body: &str) -> Result<Value, Failure> {
    serde_json::from_str(body).map_err(|_| {
        Failure::new(
            500,
            IssueCode::Exception,
            None,
            "a stored resource does not parse",
        )
    })
}

/// The failure for a person the index does not hold.
fn no_person(id: &str) -> Failure {
    Failure::new(
        404,
        IssueCode::NotFound,
        None,
        format!("no person {id} in the patient index"),
    )
}

/// The failure for a Patient that does not exist.
fn no_patient(id: &str) -> Failure {
    Failure::new(
        404,
        IssueCode::NotFound,
        None,
        format!("Patient/{id} does not exist"),
    )
}

/// The live resource `rtype/id` as JSON, if any.
pub async fn read_json(
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
    let value = parse_stored(body)?;
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
        return Err(no_person(person_id));
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

/// The extension that marks a HumanName's representation (`SYL`: the kana reading).
const REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

/// The kana readings of a Patient or Person (names marked `SYL`, or any name written in kana),
/// as matching compares them (`kizuna_jpid::kana_key`).
pub fn kana_keys(resource: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    for name in resource
        .get("name")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let syl = name
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| {
                e.get("url").and_then(Value::as_str) == Some(REPRESENTATION)
                    && e.get("valueCode").and_then(Value::as_str) == Some("SYL")
            });
        let text = match name.get("text").and_then(Value::as_str) {
            Some(t) => t.to_string(),
            None => {
                let family = name.get("family").and_then(Value::as_str).unwrap_or("");
                let given: Vec<&str> = name
                    .get("given")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                format!("{family}{}", given.join(""))
            }
        };
        let key = kizuna_jpid::kana_key(&text);
        let all_kana =
            !key.is_empty() && key.chars().all(|c| ('\u{30A0}'..='\u{30FF}').contains(&c));
        if (syl || all_kana) && !key.is_empty() {
            keys.push(key);
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// A possible match for a Patient: a person whose records show the same kana name, birth date
/// and sex. Offered to a person to confirm ([`link`]), never linked on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub person: String,
    /// The other institution's Patient that matched.
    pub via: String,
}

/// The persons Patient `patient_id` may be (see [`Candidate`]), excluding any it already
/// belongs to.
pub async fn candidates(records: &Records, patient_id: &str) -> Result<Vec<Candidate>, Failure> {
    let Some((_, patient)) = read_json(records, "Patient", patient_id).await? else {
        return Err(no_patient(patient_id));
    };
    let keys = kana_keys(&patient);
    let (Some(birth), Some(gender)) = (
        patient.get("birthDate").and_then(Value::as_str),
        patient.get("gender").and_then(Value::as_str),
    ) else {
        return Ok(vec![]);
    };
    if keys.is_empty() {
        return Ok(vec![]);
    }
    let own: Vec<String> = persons_of_patient(records, patient_id).await?;
    let mut out = Vec::new();
    for (other, body) in search(
        records,
        "Patient",
        &[("birthdate", birth), ("gender", gender)],
        1000,
    )
    .await?
    {
        if other == patient_id {
            continue;
        }
        if !kana_keys(&body).iter().any(|k| keys.contains(k)) {
            continue;
        }
        for person in persons_of_patient(records, &other).await? {
            let c = Candidate {
                person,
                via: other.clone(),
            };
            if !own.contains(&c.person) && !out.contains(&c) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// The persons a Patient belongs to: those linking it, and those with one of its
/// insured-member ids.
pub async fn persons_of_patient(
    records: &Records,
    patient_id: &str,
) -> Result<Vec<String>, Failure> {
    let mut out = find(
        records,
        "Person",
        &[("link", &format!("Patient/{patient_id}"))],
        100,
    )
    .await?;
    if let Some((_, patient)) = read_json(records, "Patient", patient_id).await? {
        for value in identifiers(&patient, kizuna_jpid::INSURED_MEMBER_ID_SYSTEM) {
            let Ok(normal) = insured_member_value(value) else {
                continue;
            };
            if let Some((v, _)) =
                person_by(records, kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, &normal).await?
            {
                out.push(v.id);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Changes a Person with `change`, as a new version (optimistic: a concurrent change is a 409).
async fn change_person(
    records: &Records,
    person_id: &str,
    change: impl FnOnce(&mut Value) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let Some((v, mut person)) = read_json(records, "Person", person_id).await? else {
        return Err(no_person(person_id));
    };
    change(&mut person)?;
    // FHIR has no empty arrays: a list emptied by the change goes.
    if let Some(o) = person.as_object_mut() {
        o.retain(|_, v| !matches!(v, Value::Array(a) if a.is_empty()));
    }
    records
        .update("Person", person_id, person, Some(v.version))
        .await?;
    Ok(())
}

/// Links Patient `patient_id` to person `person_id`, as confirmed by a person (assurance
/// level 3).
pub async fn link(records: &Records, person_id: &str, patient_id: &str) -> Result<(), Failure> {
    if read_json(records, "Patient", patient_id).await?.is_none() {
        return Err(no_patient(patient_id));
    }
    let target = format!("Patient/{patient_id}");
    change_person(records, person_id, |p| {
        let links = p
            .as_object_mut()
            .map(|o| o.entry("link").or_insert_with(|| json!([])));
        if let Some(Value::Array(links)) = links
            && !links
                .iter()
                .any(|l| l.pointer("/target/reference").and_then(Value::as_str) == Some(&target))
        {
            links.push(json!({"target": {"reference": target}, "assurance": "level3"}));
        }
        Ok(())
    })
    .await
}

/// Removes the link of Patient `patient_id` from person `person_id`.
pub async fn unlink(records: &Records, person_id: &str, patient_id: &str) -> Result<(), Failure> {
    let target = format!("Patient/{patient_id}");
    change_person(records, person_id, |p| {
        if let Some(links) = p.get_mut("link").and_then(Value::as_array_mut) {
            links.retain(|l| {
                l.pointer("/target/reference").and_then(Value::as_str) != Some(&target)
            });
        }
        Ok(())
    })
    .await
}

/// Merges person `absorbed` into `kept` (the same patient registered twice): `kept` gains its
/// identifiers and links; `absorbed` is deactivated and points to `kept`. Both keep their
/// history, and [`unmerge`] undoes it.
pub async fn merge(records: &Records, kept: &str, absorbed: &str) -> Result<(), Failure> {
    if kept == absorbed {
        return Err(Failure::new(
            400,
            IssueCode::Invalid,
            None,
            "a person cannot be merged into itself",
        ));
    }
    let Some((_, from)) = read_json(records, "Person", absorbed).await? else {
        return Err(no_person(absorbed));
    };
    if from.get("active").and_then(Value::as_bool) == Some(false) {
        return Err(Failure::new(
            409,
            IssueCode::Conflict,
            None,
            format!("person {absorbed} is already merged; unmerge it first"),
        ));
    }
    // The absorbed person's identifiers move, so that each names one active person.
    change_person(records, absorbed, |p| {
        p["active"] = json!(false);
        if let Some(o) = p.as_object_mut() {
            o.remove("identifier");
        }
        p["link"] =
            json!([{"target": {"reference": format!("Person/{kept}")}, "assurance": "level4"}]);
        Ok(())
    })
    .await?;
    change_person(records, kept, |p| {
        for key in ["identifier", "link"] {
            let mut list = p
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for item in from.get(key).and_then(Value::as_array).into_iter().flatten() {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
            p[key] = Value::Array(list);
        }
        let mut merged = p
            .get("extension")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        merged.push(json!({"url": MERGED_EXTENSION, "valueReference": {"reference": format!("Person/{absorbed}")}}));
        p["extension"] = Value::Array(merged);
        Ok(())
    })
    .await
}

/// Records on a kept Person which person was merged into it.
pub const MERGED_EXTENSION: &str = "urn:kizuna:merged-from";

/// Undoes [`merge`]: the absorbed person gets back what it had before the merge (read from its
/// history), and the kept person loses it.
pub async fn unmerge(records: &Records, kept: &str, absorbed: &str) -> Result<(), Failure> {
    let Some((current, now)) = read_json(records, "Person", absorbed).await? else {
        return Err(no_person(absorbed));
    };
    let merged_into = now
        .pointer("/link/0/target/reference")
        .and_then(Value::as_str)
        == Some(&format!("Person/{kept}"));
    if now.get("active").and_then(Value::as_bool) != Some(false) || !merged_into {
        return Err(Failure::new(
            409,
            IssueCode::Conflict,
            None,
            format!("person {absorbed} is not merged into {kept}"),
        ));
    }
    let before = current
        .version
        .checked_sub(1)
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            Failure::new(
                409,
                IssueCode::Conflict,
                None,
                "no version before the merge",
            )
        })?;
    let old = records.store().vread("Person", absorbed, before).await?;
    let old: Value = old
        .and_then(|v| v.body.as_deref().and_then(|b| serde_json::from_str(b).ok()))
        .ok_or_else(|| {
            Failure::new(
                409,
                IssueCode::Conflict,
                None,
                "the version before the merge is gone",
            )
        })?;
    let moved = |key: &str| -> Vec<Value> {
        old.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (idents, links) = (moved("identifier"), moved("link"));
    change_person(records, kept, |p| {
        if let Some(list) = p.get_mut("identifier").and_then(Value::as_array_mut) {
            list.retain(|i| !idents.contains(i));
        }
        if let Some(list) = p.get_mut("link").and_then(Value::as_array_mut) {
            list.retain(|l| !links.contains(l));
        }
        let reference = format!("Person/{absorbed}");
        if let Some(list) = p.get_mut("extension").and_then(Value::as_array_mut) {
            list.retain(|e| {
                !(e.get("url").and_then(Value::as_str) == Some(MERGED_EXTENSION)
                    && e.pointer("/valueReference/reference")
                        .and_then(Value::as_str)
                        == Some(&reference))
            });
        }
        Ok(())
    })
    .await?;
    let mut restored = old.clone();
    if let Some(o) = restored.as_object_mut() {
        o.remove("meta");
    }
    records
        .update("Person", absorbed, restored, Some(current.version))
        .await?;
    Ok(())
}
