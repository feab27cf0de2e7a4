//! Clinical documents submitted to the network (`POST [base]/Bundle` with a document, or a
//! JP-CLINS collection of the six information), kept as the IHE MHD profile keeps them:
//!
//! - the submission itself, byte for byte, as a `Binary` (immutable: no update, patch or delete
//!   but by the node's retention);
//! - a `DocumentReference` indexing it: `masterIdentifier` is the Bundle's identifier, the
//!   attachment's `url`, `size` and `hash` (SHA-1, as FHIR's `Attachment.hash` is) point at the
//!   Binary, `relatesTo` names the document it replaces (`replaces`, then `superseded`) or the
//!   referral letter it appends to, and `context.related` lists every entry kept;
//! - every entry but the Patient as a searchable resource, its references to the document's
//!   Patient pointing at the caller's own record of the patient, tagged with the document
//!   (`urn:kizuna:document|{DocumentReference id}`). An Organization the network already knows
//!   by its institution code is not created again.
//!
//! A referral letter (and a discharge summary appended to it) is tagged with the addressee's
//! institution code (`urn:kizuna:addressee|{code}`), which makes it the addressee's to see: its
//! inbox is a search on that tag. All of it is one transaction.

use crate::incoming::{as_stored, new_id};
use crate::scope::tag_codes as tags;
use crate::{Criteria, Failure, Payload, Prefer, Records, Reply, Result, written_by};
use base64::Engine;
use kizuna_documents::{
    ADDRESSEE_TAG, DOCUMENT_MEDIA_TYPE, DOCUMENT_TAG, INSTITUTION_SYSTEM, Kind,
};
use kizuna_fhir::{Issue, IssueCode};
use serde_json::{Value, json};
use std::collections::HashMap;

impl Records {
    /// Whether `body` is a submission [`Records::submit_document`] takes: a document Bundle, or
    /// a collection whose first entry is a Patient (JP-CLINS clinical information).
    pub fn is_submission(body: &Value) -> bool {
        match body.get("type").and_then(Value::as_str) {
            Some("document") => true,
            Some("collection") => {
                body.pointer("/entry/0/resource/resourceType")
                    .and_then(Value::as_str)
                    == Some("Patient")
            }
            _ => false,
        }
    }

    /// Takes a submitted document (`raw`, parsed as `body`): checks it whole (the base
    /// specification, the installed profiles, the documents' rules) and answers every problem
    /// at once; refuses a document whose author is not the caller's institution or whose
    /// patient the caller does not know; keeps it as the module doc says. The reply is the new
    /// `DocumentReference` (201).
    pub async fn submit_document(&self, raw: &[u8], body: &Value, base: &str) -> Result<Reply> {
        let conf = self.profiles().current();
        let mut issues = kizuna_fhir::validate_resource(body);
        issues.extend(conf.validate(&as_stored(body)).issues);
        let sub = match kizuna_documents::read(body) {
            Ok(s) => Some(s),
            Err(more) => {
                issues.extend(more);
                None
            }
        };
        if issues.iter().any(Issue::is_error) {
            return Err(Failure::issues(422, issues));
        }
        let Some(sub) = sub else {
            return Err(Failure::issues(422, issues));
        };
        let warnings = issues;
        let is_node = self.scope().access.is_none();
        if !is_node && self.scope().custodian.is_none() {
            return Err(Failure::new(
                403,
                IssueCode::Forbidden,
                None,
                "documents are submitted by the institution that wrote them",
            ));
        }
        if sub.relates.iter().filter(|r| r.code == "replaces").count() > 1 {
            return Err(Failure::new(
                422,
                IssueCode::BusinessRule,
                Some("Bundle.entry[0].resource.relatesTo".into()),
                "a correction replaces one document (one relatesTo with code 'replaces')",
            ));
        }
        if let Some((code, _)) = &self.scope().custodian
            && *code != sub.institution
        {
            return Err(Failure::new(
                403,
                IssueCode::Forbidden,
                Some(match sub.kind {
                    Kind::ClinicalInformation => "Bundle.identifier".into(),
                    _ => "Bundle.entry[0].resource.author".into(),
                }),
                format!(
                    "this document's author is institution {}, not the institution sending it ({code}); an institution submits only what it wrote",
                    sub.institution
                ),
            ));
        }
        let patient = self.known_patient(&sub).await?;

        // What already exists stands for its entry: the patient, and known institutions.
        let entries_in: &[Value] = body
            .get("entry")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let mut resolved: HashMap<String, String> = HashMap::new();
        resolved.insert(sub.patient_url.clone(), format!("Patient/{patient}"));
        for e in entries_in {
            let (Some(url), Some(r)) =
                (e.get("fullUrl").and_then(Value::as_str), e.get("resource"))
            else {
                continue;
            };
            if r.get("resourceType").and_then(Value::as_str) != Some("Organization") {
                continue;
            }
            let code = r
                .get("identifier")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|i| i.get("system").and_then(Value::as_str) == Some(INSTITUTION_SYSTEM))
                .and_then(|i| i.get("value").and_then(Value::as_str));
            if let Some(code) = code
                && let Some(id) = self
                    .find_one("Organization", &identifier_query(INSTITUTION_SYSTEM, code))
                    .await?
            {
                resolved.insert(url.to_string(), format!("Organization/{id}"));
            }
        }

        let doc_id = new_id();
        let bin_id = new_id();
        let mut relates = Vec::new();
        let mut addressees = sub.addressees.clone();
        let mut replaced: Option<(Value, u64)> = None;
        for r in &sub.relates {
            let Some(target) = self.related_document(r).await? else {
                return Err(Failure::new(
                    422,
                    IssueCode::NotFound,
                    Some(r.path.clone()),
                    "relatesTo names a document this network does not hold (or the caller may not see)",
                ));
            };
            let (body, version) = target;
            let target_id = body
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mine = is_node
                || self
                    .scope()
                    .custodian
                    .as_ref()
                    .is_some_and(|(code, _)| written_by(&body, code));
            match r.code.as_str() {
                "replaces" => {
                    if !mine {
                        return Err(Failure::new(
                            403,
                            IssueCode::Forbidden,
                            Some(r.path.clone()),
                            "only the institution that wrote a document may replace it",
                        ));
                    }
                    if body.pointer("/subject/reference").and_then(Value::as_str)
                        != Some(format!("Patient/{patient}").as_str())
                    {
                        return Err(Failure::new(
                            422,
                            IssueCode::BusinessRule,
                            Some(r.path.clone()),
                            "a correction is about the same patient as the document it replaces",
                        ));
                    }
                    if body.get("status").and_then(Value::as_str) != Some("current") {
                        return Err(Failure::new(
                            409,
                            IssueCode::Conflict,
                            Some(r.path.clone()),
                            "the document named is already superseded; a correction replaces the current version",
                        ));
                    }
                    replaced = Some((body.clone(), version));
                }
                "appends" if sub.kind == Kind::DischargeSummary => {
                    let is_referral = body
                        .pointer("/type/coding")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|c| {
                            c.get("code").and_then(Value::as_str) == Kind::Referral.type_code()
                        });
                    if !is_referral || !mine {
                        return Err(Failure::new(
                            422,
                            IssueCode::BusinessRule,
                            Some(r.path.clone()),
                            "a discharge summary appends to a referral letter written by the same institution",
                        ));
                    }
                    for t in tags(&body, ADDRESSEE_TAG) {
                        if !addressees.contains(&t) {
                            addressees.push(t);
                        }
                    }
                }
                _ => {}
            }
            relates.push(json!({"code": r.code, "target": {"reference": format!("DocumentReference/{target_id}")}}));
        }

        // The transaction.
        let mut marks = Vec::new();
        for a in &addressees {
            marks.push(json!({"system": ADDRESSEE_TAG, "code": a}));
        }
        if sub.lts {
            marks.push(json!({"system": kizuna_documents::INDICATION_SYSTEM, "code": "LTS"}));
        }
        // What hides an entry hides the document holding it: a condition not yet disclosed to
        // the patient (UNINFORMED), and the security labels a person may hide by.
        let mut security: Vec<Value> = Vec::new();
        for e in entries_in {
            let r = &e["resource"];
            if tags(r, kizuna_documents::INDICATION_SYSTEM)
                .iter()
                .any(|c| c == "UNINFORMED")
                && !marks.iter().any(|t| t["code"] == "UNINFORMED")
            {
                marks.push(
                    json!({"system": kizuna_documents::INDICATION_SYSTEM, "code": "UNINFORMED"}),
                );
            }
            for l in r
                .pointer("/meta/security")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = (l.get("system").cloned(), l.get("code").cloned());
                if l.get("code").is_some()
                    && !security
                        .iter()
                        .any(|x| (x.get("system").cloned(), x.get("code").cloned()) == key)
                {
                    let mut label = json!({"code": l["code"]});
                    if let Some(sys) = l.get("system") {
                        label["system"] = sys.clone();
                    }
                    security.push(label);
                }
            }
        }
        let mut tx: Vec<Value> = Vec::new();
        // The submitted entry each transaction entry comes from, to name it in errors.
        let mut origin: Vec<Option<usize>> = Vec::new();
        let index_of: HashMap<&str, usize> = entries_in
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.get("fullUrl")?.as_str()?, i)))
            .collect();
        let mut related = Vec::new();
        let mut composition_url = None;
        for (url, mut r) in kizuna_documents::entries(body, &resolved) {
            // The network's own tags are the network's to give.
            crate::scope::strip_server_tags(&mut r);
            let rtype = r
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if rtype == "Composition" {
                composition_url = Some(url.clone());
            }
            related.push(json!({"reference": url}));
            origin.push(index_of.get(url.as_str()).copied());
            tx.push(
                json!({"fullUrl": url, "resource": r, "request": {"method": "POST", "url": rtype}}),
            );
        }
        let sha1 = {
            use sha1::Digest;
            base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(raw))
        };
        let mut binary = json!({
            "resourceType": "Binary",
            "id": bin_id,
            "contentType": DOCUMENT_MEDIA_TYPE,
            "securityContext": {"reference": format!("Patient/{patient}")},
            "data": base64::engine::general_purpose::STANDARD.encode(raw),
        });
        let mut attachment = json!({
            "contentType": DOCUMENT_MEDIA_TYPE,
            "url": format!("Binary/{bin_id}"),
            "size": raw.len(),
            "hash": sha1,
        });
        let (ja, _) = sub.kind.names();
        attachment["title"] = json!(sub.title.clone().unwrap_or_else(|| ja.to_string()));
        if let Some(d) = &sub.date {
            attachment["creation"] = json!(d);
        }
        let mut docref = json!({
            "resourceType": "DocumentReference",
            "id": doc_id,
            "masterIdentifier": {"system": sub.identifier.0, "value": sub.identifier.1},
            "status": "current",
            "subject": {"reference": format!("Patient/{patient}")},
            "author": [institution_ref(&sub.institution, sub.institution_name.as_deref())],
            "custodian": institution_ref(&sub.institution, sub.institution_name.as_deref()),
            "content": [{"attachment": attachment}],
        });
        let doc_status = match sub.status.as_deref() {
            Some(s @ ("preliminary" | "final" | "amended" | "entered-in-error")) => Some(s),
            _ => None,
        };
        let mut meta = serde_json::Map::new();
        if !marks.is_empty() {
            meta.insert("tag".into(), json!(marks));
        }
        if !security.is_empty() {
            meta.insert("security".into(), json!(security));
        }
        if !meta.is_empty() {
            binary["meta"] = Value::Object(meta.clone());
            docref["meta"] = Value::Object(meta);
        }
        if let Some(s) = doc_status {
            docref["docStatus"] = json!(s);
        }
        docref["type"] = sub.doc_type.clone().unwrap_or_else(|| {
            json!({"coding": [{"system": "http://jpfhir.jp/fhir/clins/CodeSystem/BundleResourceType_CS", "code": "CLINS"}], "text": ja})
        });
        if let Some(c) = &sub.category {
            docref["category"] = json!([c]);
        }
        if let Some(t) = &sub.title {
            docref["description"] = json!(t);
        }
        if !relates.is_empty() {
            docref["relatesTo"] = json!(relates);
        }
        let mut context = json!({});
        if let Some(d) = &sub.date {
            context["period"] = json!({"start": d});
        }
        if !related.is_empty() {
            context["related"] = json!(related);
        }
        if let Some(u) = &composition_url {
            // The Composition first, so a reader finds it without scanning.
            if let Some(list) = context["related"].as_array_mut()
                && let Some(pos) = list.iter().position(|r| r["reference"] == json!(u))
            {
                let c = list.remove(pos);
                list.insert(0, c);
            }
        }
        if context.as_object().is_some_and(|o| !o.is_empty()) {
            docref["context"] = context;
        }
        tx.push(json!({"resource": binary, "request": {"method": "PUT", "url": format!("Binary/{bin_id}")}}));
        tx.push(json!({"resource": docref, "request": {"method": "PUT", "url": format!("DocumentReference/{doc_id}")}}));
        if let Some((mut old, version)) = replaced {
            let old_id = old
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            for r in old
                .pointer("/context/related")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.get("reference").and_then(Value::as_str))
                .filter(|r| !r.starts_with("Organization/"))
            {
                tx.push(json!({"request": {"method": "DELETE", "url": r}}));
            }
            old["status"] = json!("superseded");
            // Addressees the correction no longer names lose the letter.
            let dropped: Vec<String> = tags(&old, ADDRESSEE_TAG)
                .into_iter()
                .filter(|a| !addressees.contains(a))
                .collect();
            if !dropped.is_empty() {
                let keep = |v: &mut Value| {
                    if let Some(list) = v.pointer_mut("/meta/tag").and_then(Value::as_array_mut) {
                        list.retain(|t| {
                            !(t["system"] == ADDRESSEE_TAG
                                && t["code"]
                                    .as_str()
                                    .is_some_and(|c| dropped.iter().any(|d| d == c)))
                        });
                    }
                };
                keep(&mut old);
                if let Some(bin) = binary_of(&old).map(String::from)
                    && let Some(v) = self.store().read("Binary", &bin).await?
                    && let Some(mut b) = v
                        .body
                        .as_deref()
                        .and_then(|b| serde_json::from_str::<Value>(b).ok())
                {
                    keep(&mut b);
                    if let Some(m) = b.get_mut("meta").and_then(Value::as_object_mut) {
                        m.remove("versionId");
                        m.remove("lastUpdated");
                    }
                    tx.push(json!({"resource": b, "request": {"method": "PUT", "url": format!("Binary/{bin}"), "ifMatch": format!("W/\"{}\"", v.version)}}));
                }
            }
            if let Some(m) = old.get_mut("meta").and_then(Value::as_object_mut) {
                m.remove("versionId");
                m.remove("lastUpdated");
            }
            tx.push(json!({"resource": old, "request": {"method": "PUT", "url": format!("DocumentReference/{old_id}"), "ifMatch": format!("W/\"{version}\"")}}));
        }
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": tx});
        // Everything written is tagged with the document (after validation: a profile's closed
        // slicing of meta.tag knows no server tags), but the old index, which has its own.
        let mut scope = self.scope().clone();
        scope
            .stamps
            .push((DOCUMENT_TAG.to_string(), doc_id.clone()));
        scope.server_tags = true;
        let writer = self.scoped(scope);
        if let Err(mut f) = writer.bundle(bundle, base, Prefer::Minimal).await {
            // The transaction's entries are not the document's: name the document's.
            for i in &mut f.issues {
                if let Some(e) = &i.expression
                    && let Some(rest) = e.strip_prefix("Bundle.entry[")
                    && let Some((n, tail)) = rest.split_once(']')
                    && let Ok(n) = n.parse::<usize>()
                {
                    i.expression = Some(match origin.get(n).copied().flatten() {
                        Some(d) => format!("Bundle.entry[{d}]{tail}"),
                        None => "Bundle".to_string(),
                    });
                }
            }
            return Err(f);
        }
        let mut reply = self.read("DocumentReference", &doc_id).await?;
        reply.status = 201;
        reply.issues = warnings;
        Ok(reply)
    }

    /// The caller's record of the submission's patient: a Patient the caller may see with one
    /// of its identifiers; among several, the one the caller wrote.
    async fn known_patient(&self, sub: &kizuna_documents::Submission) -> Result<String> {
        let mut found: Vec<String> = Vec::new();
        for (system, value) in &sub.patient_identifiers {
            let c = Criteria::parse("Patient", &identifier_query(system, value))?;
            for id in self.find("Patient", &c.filters, 10).await? {
                if !found.contains(&id) {
                    found.push(id);
                }
            }
        }
        let at = Some(format!(
            "Bundle.entry[{}].resource.identifier",
            sub.patient_index
        ));
        if found.len() > 1
            && let Some((code, _)) = &self.scope().custodian
        {
            let mut own = Vec::new();
            for id in &found {
                if let Payload::Version(v) = self.read("Patient", id).await?.payload
                    && let Some(b) = v.body.as_deref()
                    && serde_json::from_str::<Value>(b).is_ok_and(|b| written_by(&b, code))
                {
                    own.push(id.clone());
                }
            }
            if !own.is_empty() {
                found = own;
            }
        }
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Failure::new(
                422,
                IssueCode::NotFound,
                at,
                "the document's patient is unknown here: none of its identifiers matches a patient the sending institution has registered (create the Patient first)",
            )),
            _ => Err(Failure::new(
                409,
                IssueCode::Conflict,
                at,
                "the document's patient identifiers match several registered patients; the document cannot say which it is about",
            )),
        }
    }

    /// The id of the one `rtype` the caller may see matching `query`, if any (the first of
    /// several).
    async fn find_one(&self, rtype: &str, query: &str) -> Result<Option<String>> {
        let c = Criteria::parse(rtype, query)?;
        Ok(self.find(rtype, &c.filters, 1).await?.into_iter().next())
    }

    /// The stored DocumentReference a `relatesTo` names, with its version.
    async fn related_document(
        &self,
        r: &kizuna_documents::Relation,
    ) -> Result<Option<(Value, u64)>> {
        let id = match (&r.reference, &r.identifier) {
            // The document's Composition as stored (what R4 says relatesTo names), or its index.
            (Some(reference), _) if reference.starts_with("Composition/") => {
                let id = reference.trim_start_matches("Composition/");
                let id = id.split('/').next().unwrap_or(id);
                if !kizuna_fhir::json::is_valid_id(id) {
                    return Ok(None);
                }
                self.find_one("DocumentReference", &format!("related=Composition/{id}"))
                    .await?
            }
            (Some(reference), _) => reference
                .strip_prefix("DocumentReference/")
                .map(|id| id.split('/').next().unwrap_or(id).to_string()),
            (None, Some((system, value))) => {
                // The current version of the document with that identifier, else any.
                let q = identifier_query(system, value);
                match self
                    .find_one("DocumentReference", &format!("{q}&status=current"))
                    .await?
                {
                    Some(id) => Some(id),
                    None => self.find_one("DocumentReference", &q).await?,
                }
            }
            (None, None) => None,
        };
        let Some(id) = id else { return Ok(None) };
        let reply = match self.read("DocumentReference", &id).await {
            Ok(r) => r,
            Err(f) if f.status == 404 || f.status == 410 || f.status == 403 => return Ok(None),
            Err(f) => return Err(f),
        };
        Ok(match reply.payload {
            Payload::Version(v) => v
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str(b).ok())
                .map(|b| (b, v.version)),
            _ => None,
        })
    }

    /// The document a stored DocumentReference indexes, byte for byte, if the caller may see
    /// the DocumentReference (the Binary is read for it: seeing the index is seeing the
    /// document).
    pub async fn kept_document(&self, id: &str) -> Result<KeptDocument> {
        let reply = self.read("DocumentReference", id).await?;
        let Payload::Version(v) = reply.payload else {
            return Err(not_a_document(id));
        };
        let docref: Value = v
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .ok_or_else(|| not_a_document(id))?;
        let bin = binary_of(&docref)
            .filter(|_| !tags(&docref, DOCUMENT_TAG).is_empty())
            .ok_or_else(|| not_a_document(id))?;
        // Read past the caller's scope: seeing the index is seeing the document.
        let b = self
            .store()
            .read("Binary", bin)
            .await?
            .ok_or_else(|| not_a_document(id))?;
        let data = b
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            // Only the bytes kept for this very index.
            .filter(|b| tags(b, DOCUMENT_TAG).iter().any(|t| t == id))
            .and_then(|b| b.get("data").and_then(Value::as_str).map(String::from))
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .ok_or_else(|| not_a_document(id))?;
        let digest = {
            use sha2::Digest;
            sha2::Sha256::digest(&data).into()
        };
        Ok(KeptDocument {
            index: docref,
            bytes: data,
            sha256: digest,
        })
    }

    /// A readable HTML page of the document a stored DocumentReference indexes, with the
    /// index.
    pub async fn render_document(&self, id: &str) -> Result<(Value, String)> {
        let kept = self.kept_document(id).await?;
        let body: Value = kizuna_fhir::json::parse(&kept.bytes).map_err(|_| not_a_document(id))?;
        let sub = kizuna_documents::read(&body).map_err(|issues| Failure::issues(500, issues))?;
        Ok((kept.index, kizuna_documents::render(&body, &sub)))
    }
}

/// A document as kept: its index (the DocumentReference), its bytes as submitted, and their
/// SHA-256.
#[derive(Debug, Clone)]
pub struct KeptDocument {
    pub index: Value,
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
}

fn not_a_document(id: &str) -> Failure {
    Failure::new(
        404,
        IssueCode::NotFound,
        None,
        format!("DocumentReference/{id} indexes no document kept by this network"),
    )
}

/// `identifier=system|value`, escaped for a search and URL-encoded.
fn identifier_query(system: &str, value: &str) -> String {
    let esc = |s: &str| {
        form_urlencoded::byte_serialize(kizuna_search::values::escape(s).as_bytes())
            .collect::<String>()
    };
    format!("identifier={}|{}", esc(system), esc(value))
}

fn institution_ref(code: &str, name: Option<&str>) -> Value {
    let mut r = json!({"type": "Organization", "identifier": {"system": INSTITUTION_SYSTEM, "value": code}});
    if let Some(n) = name {
        r["display"] = json!(n);
    }
    r
}

/// The id of the Binary a kept document's index points at.
pub(crate) fn binary_of(docref: &Value) -> Option<&str> {
    docref
        .pointer("/content/0/attachment/url")
        .and_then(Value::as_str)
        .and_then(|u| u.strip_prefix("Binary/"))
}
