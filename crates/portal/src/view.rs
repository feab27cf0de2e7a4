//! FHIR resources as people read them: names family first (kanji, with the kana reading),
//! codes by their display text, dates the language's way, and who recorded what.

use crate::i18n::Lang;
use kizuna_documents::summary::{Category, Item};
use serde_json::Value;

const EN_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

/// A patient as a search result or a page heading shows them.
pub struct PatientRow {
    pub id: String,
    /// Family name first, as written (kanji when there is an ideographic name).
    pub name: String,
    /// The reading (kana), when the name has one besides.
    pub reading: String,
    pub birth: String,
    pub gender: &'static str,
}

/// A name's text: `text`, else family then given (no space between kanji).
fn name_text(n: &Value) -> String {
    if let Some(t) = n["text"].as_str().filter(|t| !t.trim().is_empty()) {
        return t.trim().to_string();
    }
    let family = n["family"].as_str().unwrap_or("");
    let given: Vec<&str> = n["given"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let wide = family.chars().any(|c| c as u32 > 0x2E80);
    let mut parts = vec![family];
    parts.extend(given);
    parts.retain(|p| !p.is_empty());
    parts.join(if wide { "\u{3000}" } else { " " })
}

/// The representation (`IDE` kanji, `SYL` kana, `ABC` alphabetic) a HumanName declares.
fn representation(n: &Value) -> Option<&str> {
    n["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == EN_REPRESENTATION)?
        .get("valueCode")?
        .as_str()
}

pub fn patient_row(p: &Value, lang: Lang) -> PatientRow {
    let t = lang.texts();
    let names: Vec<&Value> = p["name"].as_array().into_iter().flatten().collect();
    let by = |r: &str| names.iter().find(|n| representation(n) == Some(r)).copied();
    let main = by("IDE").or_else(|| names.first().copied());
    let name = main.map(name_text).unwrap_or_default();
    let reading = by("SYL")
        .map(name_text)
        .filter(|r| *r != name)
        .unwrap_or_default();
    PatientRow {
        id: p["id"].as_str().unwrap_or("").to_string(),
        name: if name.is_empty() {
            t.unknown.to_string()
        } else {
            name
        },
        reading,
        birth: p["birthDate"]
            .as_str()
            .map(|b| lang.birth_date(b))
            .unwrap_or_else(|| t.unknown.to_string()),
        gender: match p["gender"].as_str() {
            Some("male") => t.male,
            Some("female") => t.female,
            Some("other") => t.other,
            _ => t.unknown,
        },
    }
}

/// A CodeableConcept's words: its text, else the first coding's display, else its code.
pub fn concept(c: &Value) -> String {
    if let Some(t) = c["text"].as_str().filter(|t| !t.is_empty()) {
        return t.to_string();
    }
    let codings: Vec<&Value> = c["coding"].as_array().into_iter().flatten().collect();
    codings
        .iter()
        .find_map(|x| x["display"].as_str().filter(|d| !d.is_empty()))
        .or_else(|| codings.iter().find_map(|x| x["code"].as_str()))
        .unwrap_or("")
        .to_string()
}

/// What a record is about, in words.
fn what(r: &Value) -> String {
    let direct = concept(&r["code"]);
    if !direct.is_empty() {
        return direct;
    }
    concept(&r["medicationCodeableConcept"])
}

/// A result's value in words (a quantity with its unit, a code, a text).
fn value(r: &Value) -> String {
    if let Some(q) = r.get("valueQuantity") {
        let v = q["value"].to_string();
        let unit = q["unit"]
            .as_str()
            .or_else(|| q["code"].as_str())
            .unwrap_or("");
        return format!("{v} {unit}").trim().to_string();
    }
    if let Some(c) = r.get("valueCodeableConcept") {
        return concept(c);
    }
    if let Some(s) = r["valueString"].as_str() {
        return s.to_string();
    }
    if let Some(d) = r["dosageInstruction"].as_array().and_then(|d| d.first()) {
        return d["text"].as_str().unwrap_or("").to_string();
    }
    if let Some(c) = r.get("reaction").and_then(|x| x.get(0)) {
        let m: Vec<String> = c["manifestation"]
            .as_array()
            .into_iter()
            .flatten()
            .map(concept)
            .collect();
        return m.join(", ");
    }
    String::new()
}

/// One line of a summary section.
pub struct Line {
    pub what: String,
    pub value: String,
    pub date: String,
    /// Every institution that reported it, named.
    pub sources: String,
}

/// A section of the summary: its heading and lines.
pub struct Section {
    pub heading: &'static str,
    pub lines: Vec<Line>,
}

/// The summary's items as the page's sections, in the six information's order (allergies of
/// both kinds together), most recent labs first and at most 20 of them.
pub fn sections(items: &[Item], lang: Lang) -> Vec<Section> {
    let t = lang.texts();
    let groups: [(&'static str, &[Category]); 5] = [
        (t.diagnoses, &[Category::Diagnoses]),
        (t.infections, &[Category::Infections]),
        (
            t.allergies,
            &[Category::DrugAllergies, Category::OtherAllergies],
        ),
        (t.prescriptions, &[Category::Prescriptions]),
        (t.labs, &[Category::LabResults]),
    ];
    groups
        .iter()
        .map(|(heading, cats)| {
            let mut lines: Vec<Line> = items
                .iter()
                .filter(|i| cats.contains(&i.category))
                .map(|i| line(i, lang))
                .collect();
            if cats == &[Category::LabResults] {
                lines.truncate(20);
            }
            Section { heading, lines }
        })
        .collect()
}

fn line(item: &Item, lang: Lang) -> Line {
    let t = lang.texts();
    let r = &item.resource;
    let date = item
        .sources
        .first()
        .and_then(|s| s.date.clone())
        .or_else(|| kizuna_documents::summary::clinical_date(r))
        .map(|d| lang.date(&d))
        .unwrap_or_default();
    let mut names: Vec<String> = Vec::new();
    for s in &item.sources {
        let n = match &s.institution {
            Some((_, name)) if !name.is_empty() => name.clone(),
            Some((code, _)) => code.clone(),
            None => t.this_node.to_string(),
        };
        if !names.contains(&n) {
            names.push(n);
        }
    }
    Line {
        what: what(r),
        value: value(r),
        date,
        sources: names.join(lang_list_separator(lang)),
    }
}

fn lang_list_separator(lang: Lang) -> &'static str {
    match lang {
        Lang::Ja => "、",
        Lang::En => ", ",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn japanese_names_show_kanji_with_their_reading() {
        let p = json!({"resourceType": "Patient", "id": "p1", "gender": "female",
            "birthDate": "1970-05-01",
            "name": [
                {"extension": [{"url": EN_REPRESENTATION, "valueCode": "IDE"}],
                 "family": "山田", "given": ["花子"]},
                {"extension": [{"url": EN_REPRESENTATION, "valueCode": "SYL"}],
                 "family": "ヤマダ", "given": ["ハナコ"]}]});
        let row = patient_row(&p, Lang::Ja);
        assert_eq!(row.name, "山田\u{3000}花子");
        assert_eq!(row.reading, "ヤマダ\u{3000}ハナコ");
        assert_eq!(row.birth, "1970年5月1日（昭和45年）");
        assert_eq!(row.gender, "女性");
        let en = patient_row(
            &json!({"name": [{"family": "Smith", "given": ["Ann"]}]}),
            Lang::En,
        );
        assert_eq!((en.name.as_str(), en.reading.as_str()), ("Smith Ann", ""));
        assert_eq!(en.birth, "unknown");
    }

    #[test]
    fn values_read_as_words() {
        assert_eq!(
            value(&json!({"valueQuantity": {"value": 6.5, "unit": "%"}})),
            "6.5 %"
        );
        assert_eq!(
            concept(&json!({"coding": [{"code": "E11"}, {"code": "x", "display": "2型糖尿病"}]})),
            "2型糖尿病"
        );
        assert_eq!(
            what(&json!({"medicationCodeableConcept": {"text": "アムロジピン"}})),
            "アムロジピン"
        );
    }
}
