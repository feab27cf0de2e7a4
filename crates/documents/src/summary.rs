//! A patient's summary of the six information (diagnoses 傷病名, infections 感染症, drug
//! allergies 薬剤アレルギー等, other allergies その他アレルギー等, lab results 検査, prescriptions 処方)
//! from the records of every institution, as a FHIR document: the same thing reported twice is
//! one item, attributed to every source (a `Provenance` per item: each institution and when),
//! infection results are their own section and flagged, items tagged for long-term storage
//! are marked.

use serde_json::{Value, json};
use std::collections::HashMap;

/// Where one record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The institution that wrote it (10-digit code, name), if known.
    pub institution: Option<(String, String)>,
    /// `Type/id` of the record.
    pub reference: String,
    /// When it was last written (FHIR instant).
    pub recorded: String,
    /// The record's clinical date (onset, effective, authored ...), set by [`summarize`].
    pub date: Option<String>,
}

/// The six kinds of information, in the order a summary shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Diagnoses,
    Infections,
    DrugAllergies,
    OtherAllergies,
    LabResults,
    Prescriptions,
    /// Not one of the six; the International Patient Summary has a section for it.
    Immunizations,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Diagnoses,
        Category::Infections,
        Category::DrugAllergies,
        Category::OtherAllergies,
        Category::LabResults,
        Category::Prescriptions,
    ];

    /// Its name in Japanese and in English.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Category::Diagnoses => ("傷病名", "Diagnoses"),
            Category::Infections => ("感染症", "Infections"),
            Category::DrugAllergies => ("薬剤アレルギー等", "Drug allergies"),
            Category::OtherAllergies => ("その他アレルギー等", "Other allergies"),
            Category::LabResults => ("検査", "Lab results"),
            Category::Prescriptions => ("処方", "Prescriptions"),
            Category::Immunizations => ("予防接種", "Immunizations"),
        }
    }

    /// Its section code (JP-CLINS `document-section`).
    fn section_code(self) -> &'static str {
        match self {
            Category::Diagnoses => "340",
            Category::Infections => "520",
            Category::DrugAllergies | Category::OtherAllergies => "510",
            Category::LabResults => "620",
            Category::Prescriptions => "430",
            Category::Immunizations => "530",
        }
    }
}

/// One item of a summary: what was reported, once, however many times it was.
#[derive(Debug, Clone)]
pub struct Item {
    pub category: Category,
    /// The newest report (the one the summary shows).
    pub resource: Value,
    /// Every report of it, newest first.
    pub sources: Vec<Source>,
    /// Tagged for long-term storage (`LTS`) by any source.
    pub lts: bool,
}

/// LOINC codes of the infection tests the sharing service flags: syphilis (RPR, TPHA, TP
/// antibody), HBs antigen, HCV antibody, HIV antibody and antigen.
pub const INFECTION_LOINC: &[&str] = &[
    "20507-0", "5292-8", "22587-0", "24110-3", "17723-8", "8041-6", "5393-4", // syphilis
    "5196-1", "5195-3", "7905-3", "58452-4", // HBs antigen
    "16128-1", "13955-0", "40726-0", // HCV antibody
    "7917-8", "7918-6", "56888-1", "75622-1", "68961-2", "31201-7", "5221-7", // HIV
];

/// The six information among `records` (Condition, AllergyIntolerance, Observation,
/// MedicationRequest, each with its source), the same thing from several sources merged into
/// one item. `infection` says whether an Observation is an infection test result. Entered in
/// error, refuted and cancelled records are left out; Observations that are neither lab
/// results nor infection results (vital signs) too.
pub fn summarize(records: Vec<(Value, Source)>, infection: &dyn Fn(&Value) -> bool) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut by_key: HashMap<(Category, String), usize> = HashMap::new();
    let mut records = records;
    // Newest first, so each item's first source is the one it shows.
    records.sort_by(|a, b| b.1.recorded.cmp(&a.1.recorded));
    for (r, mut source) in records {
        let Some(category) = category_of(&r, infection) else {
            continue;
        };
        source.date = clinical_date(&r);
        let key = dedup_key(&r);
        let lts = has_tag(&r, crate::INDICATION_SYSTEM, "LTS");
        match by_key.get(&(category, key.clone())) {
            Some(&i) => {
                items[i].sources.push(source);
                items[i].lts |= lts;
            }
            None => {
                by_key.insert((category, key), items.len());
                items.push(Item {
                    category,
                    resource: r,
                    sources: vec![source],
                    lts,
                });
            }
        }
    }
    items.sort_by(|a, b| {
        a.category
            .cmp(&b.category)
            .then_with(|| clinical_date(&b.resource).cmp(&clinical_date(&a.resource)))
    });
    items
}

fn category_of(r: &Value, infection: &dyn Fn(&Value) -> bool) -> Option<Category> {
    let status = |path: &str| r.pointer(path).and_then(Value::as_str).unwrap_or("");
    match r["resourceType"].as_str()? {
        "Condition" => {
            let v = status("/verificationStatus/coding/0/code");
            (v != "entered-in-error" && v != "refuted").then_some(Category::Diagnoses)
        }
        "AllergyIntolerance" => {
            let v = status("/verificationStatus/coding/0/code");
            if v == "entered-in-error" || v == "refuted" {
                return None;
            }
            let drug = r["category"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "medication"));
            Some(if drug {
                Category::DrugAllergies
            } else {
                Category::OtherAllergies
            })
        }
        "Observation" => {
            if matches!(r["status"].as_str(), Some("entered-in-error" | "cancelled")) {
                return None;
            }
            if infection(r) {
                return Some(Category::Infections);
            }
            let lab = r["category"].as_array().into_iter().flatten().any(|c| {
                c["coding"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x["code"] == "laboratory")
            });
            lab.then_some(Category::LabResults)
        }
        "MedicationRequest" => (!matches!(
            r["status"].as_str(),
            Some("entered-in-error" | "cancelled" | "draft")
        ))
        .then_some(Category::Prescriptions),
        "Immunization" => (!matches!(r["status"].as_str(), Some("entered-in-error")))
            .then_some(Category::Immunizations),
        _ => None,
    }
}

/// What makes two reports the same thing: the code (system and code of the first coding, or
/// the text), and for results and prescriptions also the day, and for results the value. A
/// record without code or text is never the same as another.
fn dedup_key(r: &Value) -> String {
    let concept = |c: &Value| -> String {
        c["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|x| Some(format!("{}|{}", x["system"].as_str()?, x["code"].as_str()?)))
            .or_else(|| c["text"].as_str().map(|t| t.trim().to_lowercase()))
            .unwrap_or_default()
    };
    let code = match r["resourceType"].as_str().unwrap_or("") {
        "MedicationRequest" => concept(&r["medicationCodeableConcept"]),
        "Immunization" => concept(&r["vaccineCode"]),
        _ => concept(&r["code"]),
    };
    if code.is_empty() {
        return format!("#id#{}", r["id"].as_str().unwrap_or(""));
    }
    let day = clinical_date(r)
        .map(|d| d.chars().take(10).collect::<String>())
        .unwrap_or_default();
    match r["resourceType"].as_str().unwrap_or("") {
        "Observation" => {
            // Every value[x] of Observation, as written (the key name says which).
            let value = r
                .as_object()
                .into_iter()
                .flatten()
                .find(|(k, _)| k.starts_with("value"))
                .map(|(k, v)| format!("{k}={v}"))
                .unwrap_or_default();
            format!("{code}#{day}#{value}")
        }
        "MedicationRequest" | "Immunization" => format!("{code}#{day}"),
        _ => code,
    }
}

/// The clinically relevant date of a record, as written.
pub fn clinical_date(r: &Value) -> Option<String> {
    [
        "/effectiveDateTime",
        "/effectivePeriod/start",
        "/onsetDateTime",
        "/onsetPeriod/start",
        "/recordedDate",
        "/authoredOn",
        "/occurrenceDateTime",
        "/issued",
    ]
    .iter()
    .find_map(|p| r.pointer(p).and_then(Value::as_str))
    .map(String::from)
}

fn has_tag(r: &Value, system: &str, code: &str) -> bool {
    r["meta"]["tag"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["system"] == system && t["code"] == code)
}

/// Whether an Observation's code is one of [`INFECTION_LOINC`], or `also` says it is one.
pub fn is_infection_test(r: &Value, also: &dyn Fn(Option<&str>, &str) -> bool) -> bool {
    r["code"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            let code = c["code"].as_str().unwrap_or("");
            let system = c["system"].as_str();
            (system == Some("http://loinc.org") && INFECTION_LOINC.contains(&code))
                || also(system, code)
        })
}

/// The canonical URL of the International Patient Summary's Bundle profile (IPS 2.0.0).
pub const IPS_BUNDLE: &str = "http://hl7.org/fhir/uv/ips/StructureDefinition/Bundle-uv-ips";
const IPS_COMPOSITION: &str = "http://hl7.org/fhir/uv/ips/StructureDefinition/Composition-uv-ips";
const LOINC: &str = "http://loinc.org";

/// What a summary document looks like: Japan's six information, or the International Patient
/// Summary for care abroad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The six information, titled in Japanese and English, JP-CLINS section codes.
    SixInformation,
    /// The IPS (2.0.0): its LOINC-coded sections (problems, allergies, medications required;
    /// results, immunizations recommended), in English, claiming the IPS profiles.
    Ips,
}

/// One section of a summary: its title, code and the kinds of item it lists.
struct SectionSpec {
    title: String,
    code: Value,
    categories: Vec<Category>,
}

impl Form {
    fn sections(self) -> Vec<SectionSpec> {
        match self {
            Form::SixInformation => Category::ALL
                .iter()
                .map(|&c| {
                    let (ja, en) = c.names();
                    SectionSpec {
                        title: format!("{ja} / {en}"),
                        code: json!({"coding": [{"system": crate::SECTION_SYSTEM, "code": c.section_code()}], "text": en}),
                        categories: vec![c],
                    }
                })
                .collect(),
            Form::Ips => {
                let loinc = |code: &str, display: &str| {
                    json!({"coding": [{"system": LOINC, "code": code, "display": display}]})
                };
                vec![
                    SectionSpec {
                        title: "Problem list".into(),
                        code: loinc("11450-4", "Problem list - Reported"),
                        categories: vec![Category::Diagnoses],
                    },
                    SectionSpec {
                        title: "Allergies and intolerances".into(),
                        code: loinc("48765-2", "Allergies and adverse reactions Document"),
                        categories: vec![Category::DrugAllergies, Category::OtherAllergies],
                    },
                    SectionSpec {
                        title: "Medication summary".into(),
                        code: loinc("10160-0", "History of Medication use Narrative"),
                        categories: vec![Category::Prescriptions],
                    },
                    SectionSpec {
                        title: "Results".into(),
                        code: loinc("30954-2", "Relevant diagnostic tests/laboratory data Narrative"),
                        categories: vec![Category::LabResults, Category::Infections],
                    },
                    SectionSpec {
                        title: "Immunizations".into(),
                        code: loinc("11369-6", "History of Immunization Narrative"),
                        categories: vec![Category::Immunizations],
                    },
                ]
            }
        }
    }
}

/// The summary of `items` for `patient` as a FHIR document Bundle of `form`: a Composition with
/// one section per kind of information (its narrative lists every item with its sources and
/// marks; `emptyReason` when there is none), the Patient, the items, and a Provenance per item
/// naming every source. `base` makes the entries' `fullUrl`s; `now` is the Composition's date.
/// The items' resources are kept as recorded, original codes and all.
pub fn summary_document(
    patient: &Value,
    items: &[Item],
    base: &str,
    id: &str,
    now: &str,
    form: Form,
) -> Value {
    let ips = form == Form::Ips;
    let full = |r: &Value| {
        format!(
            "{base}/{}/{}",
            r["resourceType"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or("")
        )
    };
    let mut sections = Vec::new();
    let mut entries =
        vec![json!({"fullUrl": format!("{base}/Composition/{id}"), "resource": null})];
    entries.push(json!({"fullUrl": full(patient), "resource": patient}));
    let (head_item, head_date, head_sources, head_marks, none) = if ips {
        (
            "Item",
            "Date",
            "Sources",
            "Marks",
            "No information recorded",
        )
    } else {
        (
            "内容 Item",
            "日付 Date",
            "情報源 Sources",
            "注記 Marks",
            "記録なし / None recorded",
        )
    };
    for spec in form.sections() {
        let mine: Vec<&Item> = items
            .iter()
            .filter(|i| spec.categories.contains(&i.category))
            .collect();
        let mut section = json!({"title": spec.title, "code": spec.code});
        if mine.is_empty() {
            section["text"] = json!({"status": "generated",
                "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{none}</p></div>")});
            section["emptyReason"] = json!({"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "nilknown",
                "display": "Nil Known"}]});
        } else {
            let mut rows = String::new();
            let mut refs = Vec::new();
            for item in &mine {
                refs.push(json!({"reference": full(&item.resource)}));
                let sources: Vec<String> = item
                    .sources
                    .iter()
                    .map(|s| {
                        let who = s
                            .institution
                            .as_ref()
                            .map(|(code, name)| {
                                if name.is_empty() || ips {
                                    code.clone()
                                } else {
                                    format!("{name} ({code})")
                                }
                            })
                            .unwrap_or_else(|| "—".into());
                        let when = s.date.clone().unwrap_or_else(|| s.recorded.clone());
                        format!("{who}, {when}")
                    })
                    .collect();
                let mut marks = Vec::new();
                if item.category == Category::Infections {
                    marks.push(if ips {
                        "infection"
                    } else {
                        "感染症 infection"
                    });
                }
                if item.lts {
                    marks.push(if ips {
                        "long-term storage"
                    } else {
                        "長期保存 LTS"
                    });
                }
                rows.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&crate::render::describe(&item.resource)),
                    esc(&clinical_date(&item.resource).unwrap_or_default()),
                    esc(&sources.join("; ")),
                    esc(&marks.join(", "))
                ));
                entries.push(json!({"fullUrl": full(&item.resource), "resource": item.resource}));
                entries.push(json!({"fullUrl": format!("{base}/Provenance/{}-{}", id, entries.len()),
                    "resource": provenance(item, &format!("{id}-{}", entries.len()), &full(&item.resource))}));
            }
            section["text"] = json!({"status": "generated", "div": format!(
                "<div xmlns=\"http://www.w3.org/1999/xhtml\"><table><thead><tr><th>{head_item}</th><th>{head_date}</th><th>{head_sources}</th><th>{head_marks}</th></tr></thead><tbody>{rows}</tbody></table></div>")});
            section["entry"] = json!(refs);
        }
        sections.push(section);
    }
    let (type_text, title) = if ips {
        ("Patient summary", "International Patient Summary")
    } else {
        (
            "患者サマリー(6情報) / Patient summary (six information)",
            "患者サマリー(6情報) / Patient summary",
        )
    };
    // The author: the network that assembled the summary.
    let author_id = format!("{id}-author");
    let author = json!({"resourceType": "Organization", "id": author_id, "name": "Kizuna"});
    let mut composition = json!({
        "resourceType": "Composition",
        "id": id,
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}],
            "text": type_text},
        "subject": {"reference": full(patient)},
        "date": now,
        "author": [{"reference": format!("{base}/Organization/{author_id}")}],
        "title": title,
        "section": sections,
    });
    if ips {
        composition["meta"] = json!({"profile": [IPS_COMPOSITION]});
    }
    entries[0]["resource"] = composition;
    entries
        .push(json!({"fullUrl": format!("{base}/Organization/{author_id}"), "resource": author}));
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": id,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{id}")},
        "type": "document",
        "timestamp": now,
        "entry": entries,
    });
    if ips {
        bundle["meta"] = json!({"profile": [IPS_BUNDLE]});
    }
    bundle
}

fn provenance(item: &Item, id: &str, target: &str) -> Value {
    let agents: Vec<Value> = item
        .sources
        .iter()
        .filter_map(|s| s.institution.as_ref())
        .fold(Vec::<&(String, String)>::new(), |mut acc, i| {
            if !acc.contains(&i) {
                acc.push(i);
            }
            acc
        })
        .into_iter()
        .map(|(code, name)| {
            let mut who = json!({"identifier": {"system": crate::INSTITUTION_SYSTEM, "value": code}});
            if !name.is_empty() {
                who["display"] = json!(name);
            }
            json!({"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "custodian"}]},
                "who": who})
        })
        .collect();
    let entities: Vec<Value> = item
        .sources
        .iter()
        .map(|s| json!({"role": "source", "what": {"reference": s.reference}}))
        .collect();
    let mut p = json!({
        "resourceType": "Provenance",
        "id": id,
        "target": [{"reference": target}],
        "recorded": item.sources.first().map(|s| s.recorded.clone()).unwrap_or_default(),
        "agent": agents,
        "entity": entities,
    });
    if p["agent"].as_array().is_some_and(Vec::is_empty) {
        p["agent"] = json!([{"who": {"display": "unknown"}}]);
    }
    p
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}
