//! Reading a submission: its kind, who it is about, who wrote it and to whom, and every rule
//! broken (all of them, each with its path).

use crate::{DOC_TYPE_SYSTEM, INDICATION_SYSTEM, INSTITUTION_SYSTEM, Kind, SECTION_SYSTEM};
use kizuna_fhir::{Issue, IssueCode};
use serde_json::Value;
use std::collections::HashMap;

/// The section of a referral letter naming its addressee (紹介先情報).
const ADDRESSEE_SECTION: &str = "910";

/// The resource types a collection of the six information may hold after its Patient: the
/// information itself and what it refers to.
const CLINICAL_INFORMATION_TYPES: &[&str] = &[
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "MedicationRequest",
    "Medication",
    "Specimen",
    "Encounter",
    "Organization",
    "Practitioner",
    "PractitionerRole",
];

/// What a submission is, read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub kind: Kind,
    /// `Bundle.identifier` (system, value): what a correction names.
    pub identifier: (String, String),
    /// The Patient entry: its index and `fullUrl`.
    pub patient_index: usize,
    pub patient_url: String,
    /// The patient's identifiers (system, value), each with both.
    pub patient_identifiers: Vec<(String, String)>,
    /// The 10-digit code of the authoring institution.
    pub institution: String,
    /// The authoring institution's name, if given.
    pub institution_name: Option<String>,
    /// The 10-digit codes of the institutions a referral letter is addressed to.
    pub addressees: Vec<String>,
    /// `Composition.relatesTo`.
    pub relates: Vec<Relation>,
    /// `Composition.date`, or the collection's `Bundle.timestamp`.
    pub date: Option<String>,
    pub title: Option<String>,
    /// `Composition.type` and its first `category`, as given.
    pub doc_type: Option<Value>,
    pub category: Option<Value>,
    /// `Composition.status` (`final`, `amended`, ...).
    pub status: Option<String>,
    /// Whether the submission or one of its entries is tagged for long-term storage (`LTS`).
    pub lts: bool,
}

/// One `Composition.relatesTo`: a document this one replaces, appends to, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub code: String,
    /// `targetIdentifier` (system, value).
    pub identifier: Option<(String, String)>,
    /// `targetReference.reference`.
    pub reference: Option<String>,
    /// Where it is, for messages.
    pub path: String,
}

/// Reads a document Bundle (Composition first) or a JP-CLINS collection of clinical
/// information (Patient first), checking the rules the specifications state: the Bundle is
/// identified; every entry has a `fullUrl` and a resource, and every `urn:` reference names an
/// entry; the patient is identified; the authoring institution is named by its medical
/// institution code; a referral letter names its addressee institution; a discharge summary
/// appends to a referral letter; a collection holds only the six information and what they
/// refer to. Every problem found is returned, each with its path.
pub fn read(bundle: &Value) -> Result<Submission, Vec<Issue>> {
    let mut issues = Vec::new();
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(vec![Issue::error(
            IssueCode::Invalid,
            Some("resourceType".into()),
            "a document is submitted as a Bundle",
        )]);
    }
    let entries: &[Value] = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    if entries.is_empty() {
        return Err(vec![Issue::error(
            IssueCode::Required,
            Some("Bundle.entry".into()),
            "a document has entries: its Composition (or, for clinical information, its Patient) first",
        )]);
    }
    let doc = Doc::new(entries, &mut issues);
    let identifier = match (
        str_at(bundle, &["identifier", "system"]),
        str_at(bundle, &["identifier", "value"]),
    ) {
        (Some(s), Some(v)) => (s.to_string(), v.to_string()),
        _ => {
            issues.push(Issue::error(
                IssueCode::Required,
                Some("Bundle.identifier".into()),
                "a document is identified by Bundle.identifier (system and value); a correction names it",
            ));
            (String::new(), String::new())
        }
    };
    let mut lts = has_lts(bundle);
    for (i, e) in entries.iter().enumerate() {
        if let Some(r) = e.get("resource") {
            lts |= has_lts(r);
            doc.check_references(r, &format!("Bundle.entry[{i}].resource"), &mut issues);
        }
    }
    let read = match bundle.get("type").and_then(Value::as_str) {
        Some("document") => doc.composition(&mut issues),
        Some("collection") => doc.collection(&identifier.1, &mut issues),
        other => {
            issues.push(Issue::error(
                IssueCode::Value,
                Some("Bundle.type".into()),
                format!(
                    "a document is a Bundle of type 'document' (Composition first), or 'collection' (Patient first) for the six information; not '{}'",
                    other.unwrap_or("")
                ),
            ));
            None
        }
    };
    let patient = read
        .as_ref()
        .and_then(|r| doc.patient(r.patient, &mut issues));
    match (read, patient) {
        (Some(r), Some((patient_url, patient_identifiers))) if issues.is_empty() => {
            Ok(Submission {
                kind: r.kind,
                identifier,
                patient_index: r.patient,
                patient_url,
                patient_identifiers,
                institution: r.institution,
                institution_name: r.institution_name,
                addressees: r.addressees,
                relates: r.relates,
                date: r
                    .date
                    .or_else(|| str_at(bundle, &["timestamp"]).map(String::from)),
                title: r.title,
                doc_type: r.doc_type,
                category: r.category,
                status: r.status,
                lts,
            })
        }
        _ => {
            if issues.is_empty() {
                issues.push(Issue::error(
                    IssueCode::Invalid,
                    Some("Bundle".into()),
                    "the submission could not be read as a document",
                ));
            }
            Err(issues)
        }
    }
}

/// The entries of a submission to keep as resources: every entry but those `resolved` names
/// (`fullUrl` to the `Type/id` of a stored resource standing for it: the caller's own record
/// of the patient, an institution already known), with their ids dropped (the store gives new
/// ones) and every reference to a resolved entry (by `fullUrl`, or relative `Type/id`)
/// replaced by the stored one. Each comes with its `fullUrl`, which the others' references use.
pub fn entries(bundle: &Value, resolved: &HashMap<String, String>) -> Vec<(String, Value)> {
    let list: &[Value] = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let mut map: HashMap<String, String> = resolved.clone();
    for e in list {
        if let (Some(url), Some(r)) = (e.get("fullUrl").and_then(Value::as_str), e.get("resource"))
            && let Some(to) = resolved.get(url)
            && let (Some(t), Some(id)) = (str_at(r, &["resourceType"]), str_at(r, &["id"]))
        {
            map.entry(format!("{t}/{id}")).or_insert_with(|| to.clone());
        }
    }
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let (Some(url), Some(resource)) =
            (e.get("fullUrl").and_then(Value::as_str), e.get("resource"))
        else {
            continue;
        };
        if resolved.contains_key(url) {
            continue;
        }
        let mut r = resource.clone();
        if let Some(o) = r.as_object_mut() {
            o.remove("id");
        }
        rewrite(&mut r, &|s| map.get(s).cloned());
        out.push((url.to_string(), r));
    }
    out
}

/// What the first entry says.
struct Head {
    kind: Kind,
    patient: usize,
    institution: String,
    institution_name: Option<String>,
    addressees: Vec<String>,
    relates: Vec<Relation>,
    date: Option<String>,
    title: Option<String>,
    doc_type: Option<Value>,
    category: Option<Value>,
    status: Option<String>,
}

/// A submission's entries, by `fullUrl`.
struct Doc<'a> {
    entries: &'a [Value],
    urls: HashMap<&'a str, usize>,
}

impl<'a> Doc<'a> {
    fn new(entries: &'a [Value], issues: &mut Vec<Issue>) -> Doc<'a> {
        let mut urls = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            match e.get("fullUrl").and_then(Value::as_str) {
                Some(u) => {
                    if urls.insert(u, i).is_some() {
                        issues.push(Issue::error(
                            IssueCode::Duplicate,
                            Some(format!("Bundle.entry[{i}].fullUrl")),
                            format!("two entries have the fullUrl '{u}'"),
                        ));
                    }
                }
                None => issues.push(Issue::error(
                    IssueCode::Required,
                    Some(format!("Bundle.entry[{i}].fullUrl")),
                    "every entry of a document has a fullUrl, which references to it use",
                )),
            }
            if !e.get("resource").is_some_and(Value::is_object) {
                issues.push(Issue::error(
                    IssueCode::Required,
                    Some(format!("Bundle.entry[{i}].resource")),
                    "every entry of a document holds a resource",
                ));
            }
        }
        Doc { entries, urls }
    }

    fn resource(&self, i: usize) -> Option<&'a Value> {
        self.entries.get(i).and_then(|e| e.get("resource"))
    }

    /// The entry a reference names: by `fullUrl`, or a relative `Type/id` by type and id.
    fn resolve(&self, reference: &str) -> Option<usize> {
        match self.urls.get(reference) {
            Some(&i) => Some(i),
            None => by_type_and_id(self.entries, reference),
        }
    }

    /// The entry `reference` (a Reference element) names, if it is a resource of `rtype`.
    fn entry_of(&self, reference: &Value, rtype: &str) -> Option<usize> {
        let i = self.resolve(reference.get("reference")?.as_str()?)?;
        (str_at(self.resource(i)?, &["resourceType"]) == Some(rtype)).then_some(i)
    }

    /// Every `urn:` reference inside `r` names an entry.
    fn check_references(&self, r: &Value, path: &str, issues: &mut Vec<Issue>) {
        match r {
            Value::Object(o) => {
                for (k, v) in o {
                    let here = format!("{path}.{k}");
                    if k == "reference"
                        && let Some(s) = v.as_str()
                        && s.starts_with("urn:")
                        && !self.urls.contains_key(s)
                    {
                        issues.push(Issue::error(
                            IssueCode::Invalid,
                            Some(here),
                            format!("the reference '{s}' names no entry of the document"),
                        ));
                    } else {
                        self.check_references(v, &here, issues);
                    }
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.check_references(v, &format!("{path}[{i}]"), issues);
                }
            }
            _ => {}
        }
    }

    /// The 10-digit institution code of the Organization entry `i`, if it has one.
    fn institution(&self, i: usize) -> Option<(String, Option<String>)> {
        let org = self.resource(i)?;
        let code = org
            .get("identifier")?
            .as_array()?
            .iter()
            .find(|id| str_at(id, &["system"]) == Some(INSTITUTION_SYSTEM))
            .and_then(|id| str_at(id, &["value"]))?;
        Some((code.to_string(), str_at(org, &["name"]).map(String::from)))
    }

    fn composition(&self, issues: &mut Vec<Issue>) -> Option<Head> {
        let cp = "Bundle.entry[0].resource";
        let comp = self.resource(0)?;
        if str_at(comp, &["resourceType"]) != Some("Composition") {
            issues.push(Issue::error(
                IssueCode::Structure,
                Some(cp.into()),
                "a document Bundle starts with its Composition",
            ));
            return None;
        }
        let kind = comp
            .pointer("/type/coding")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| {
                matches!(
                    str_at(c, &["system"]),
                    Some(DOC_TYPE_SYSTEM | "http://loinc.org")
                )
            })
            .and_then(|c| str_at(c, &["code"]))
            .map_or(Kind::Document, Kind::of_type_code);
        let patient = comp
            .get("subject")
            .and_then(|s| self.entry_of(s, "Patient"));
        if patient.is_none() {
            issues.push(Issue::error(
                IssueCode::Required,
                Some(format!("{cp}.subject")),
                "the Composition's subject is the document's Patient entry",
            ));
        }
        let author = comp
            .get("author")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| self.entry_of(a, "Organization"))
            .find_map(|i| self.institution(i));
        if author.is_none() {
            issues.push(Issue::error(
                IssueCode::Required,
                Some(format!("{cp}.author")),
                format!(
                    "the Composition's author includes the authoring institution: an Organization entry identified by its medical institution code ({INSTITUTION_SYSTEM})"
                ),
            ));
        }
        let mut addressees = Vec::new();
        if let Some(sections) = comp.get("section") {
            self.addressees(sections, &mut addressees);
        }
        if kind == Kind::Referral && addressees.is_empty() {
            issues.push(Issue::error(
                IssueCode::Required,
                Some(format!("{cp}.section")),
                format!(
                    "a referral letter names its addressee: a section {ADDRESSEE_SECTION} (紹介先情報) whose entries include an Organization identified by its medical institution code ({INSTITUTION_SYSTEM})"
                ),
            ));
        }
        let relates: Vec<Relation> = comp
            .get("relatesTo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| Relation {
                code: str_at(r, &["code"]).unwrap_or_default().to_string(),
                identifier: match (
                    str_at(r, &["targetIdentifier", "system"]),
                    str_at(r, &["targetIdentifier", "value"]),
                ) {
                    (Some(s), Some(v)) => Some((s.to_string(), v.to_string())),
                    _ => None,
                },
                reference: str_at(r, &["targetReference", "reference"]).map(String::from),
                path: format!("{cp}.relatesTo[{i}]"),
            })
            .collect();
        for r in &relates {
            if r.identifier.is_none() && r.reference.is_none() {
                issues.push(Issue::error(
                    IssueCode::Required,
                    Some(r.path.clone()),
                    "relatesTo names the other document by targetIdentifier (its Bundle.identifier) or targetReference",
                ));
            }
        }
        if kind == Kind::DischargeSummary && !relates.iter().any(|r| r.code == "appends") {
            issues.push(Issue::error(
                IssueCode::BusinessRule,
                Some(format!("{cp}.relatesTo")),
                "a discharge summary is shared only with a referral letter: name the letter it accompanies in Composition.relatesTo (code 'appends', targetIdentifier: the letter's Bundle.identifier), after submitting the letter",
            ));
        }
        let (institution, institution_name) = author.unwrap_or_default();
        Some(Head {
            kind,
            patient: patient?,
            institution,
            institution_name,
            addressees,
            relates,
            date: str_at(comp, &["date"]).map(String::from),
            title: str_at(comp, &["title"]).map(String::from),
            doc_type: comp.get("type").cloned(),
            category: comp.pointer("/category/0").cloned(),
            status: str_at(comp, &["status"]).map(String::from),
        })
    }

    /// The institutions named by the Organization entries of addressee sections, at any depth.
    fn addressees(&self, sections: &Value, out: &mut Vec<String>) {
        for s in sections.as_array().into_iter().flatten() {
            let is_addressee = s
                .pointer("/code/coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| {
                    str_at(c, &["system"]) == Some(SECTION_SYSTEM)
                        && str_at(c, &["code"]) == Some(ADDRESSEE_SECTION)
                });
            if is_addressee {
                for e in s
                    .get("entry")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some((code, _)) = self
                        .entry_of(e, "Organization")
                        .and_then(|i| self.institution(i))
                        && !out.contains(&code)
                    {
                        out.push(code);
                    }
                }
            }
            if let Some(sub) = s.get("section") {
                self.addressees(sub, out);
            }
        }
    }

    fn collection(&self, identifier: &str, issues: &mut Vec<Issue>) -> Option<Head> {
        let first = self.resource(0)?;
        if str_at(first, &["resourceType"]) != Some("Patient") {
            issues.push(Issue::error(
                IssueCode::Structure,
                Some("Bundle.entry[0].resource".into()),
                "a collection of clinical information (JP-CLINS) starts with its Patient",
            ));
            return None;
        }
        for (i, _) in self.entries.iter().enumerate().skip(1) {
            let rtype = self
                .resource(i)
                .and_then(|r| str_at(r, &["resourceType"]))
                .unwrap_or_default();
            if !CLINICAL_INFORMATION_TYPES.contains(&rtype) {
                issues.push(Issue::error(
                    IssueCode::Value,
                    Some(format!("Bundle.entry[{i}].resource")),
                    format!(
                        "a collection of clinical information holds diagnoses, allergies, lab results and prescriptions (and what they refer to), not a {rtype}"
                    ),
                ));
            }
        }
        // JP-CLINS: the identifier's value is `institution code^year^serial`.
        let institution = identifier
            .split('^')
            .next()
            .filter(|c| c.len() == 10 && c.bytes().all(|b| b.is_ascii_digit()));
        if institution.is_none() && !identifier.is_empty() {
            issues.push(Issue::error(
                IssueCode::Value,
                Some("Bundle.identifier.value".into()),
                "the identifier of a collection of clinical information starts with the sending institution's 10-digit medical institution code, then '^' (code^year^serial)",
            ));
        }
        Some(Head {
            kind: Kind::ClinicalInformation,
            patient: 0,
            institution: institution.unwrap_or_default().to_string(),
            institution_name: None,
            addressees: Vec::new(),
            relates: Vec::new(),
            date: None,
            title: None,
            doc_type: None,
            category: None,
            status: None,
        })
    }

    /// The Patient entry's `fullUrl` and identifiers.
    fn patient(
        &self,
        i: usize,
        issues: &mut Vec<Issue>,
    ) -> Option<(String, Vec<(String, String)>)> {
        let p = self.resource(i)?;
        let ids: Vec<(String, String)> = p
            .get("identifier")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|id| {
                Some((
                    str_at(id, &["system"])?.to_string(),
                    str_at(id, &["value"])?.to_string(),
                ))
            })
            .collect();
        if ids.is_empty() {
            issues.push(Issue::error(
                IssueCode::Required,
                Some(format!("Bundle.entry[{i}].resource.identifier")),
                "the patient is identified: Patient.identifier with system and value (the institution's patient number, or the insured member id)",
            ));
            return None;
        }
        let url = self.entries.get(i)?.get("fullUrl")?.as_str()?.to_string();
        Some((url, ids))
    }
}

/// The entry of `entries` a reference names: by `fullUrl`, or a relative `Type/id` by type
/// and id.
pub(crate) fn entry_index(entries: &[Value], reference: &str) -> Option<usize> {
    entries
        .iter()
        .position(|e| str_at(e, &["fullUrl"]) == Some(reference))
        .or_else(|| by_type_and_id(entries, reference))
}

fn by_type_and_id(entries: &[Value], reference: &str) -> Option<usize> {
    let (rtype, id) = reference.split_once('/')?;
    entries.iter().position(|e| {
        e.get("resource").is_some_and(|r| {
            str_at(r, &["resourceType"]) == Some(rtype) && str_at(r, &["id"]) == Some(id)
        })
    })
}

/// The string at `path` in `v`.
fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_str()
}

/// Whether `r` is tagged for long-term storage.
fn has_lts(r: &Value) -> bool {
    r.pointer("/meta/tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| {
            str_at(t, &["system"]) == Some(INDICATION_SYSTEM) && str_at(t, &["code"]) == Some("LTS")
        })
}

/// Replaces every `reference` string `f` maps.
fn rewrite(v: &mut Value, f: &dyn Fn(&str) -> Option<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "reference"
                    && let Some(s) = x.as_str()
                    && let Some(new) = f(s)
                {
                    *x = Value::String(new);
                } else {
                    rewrite(x, f);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, f)),
        _ => {}
    }
}
