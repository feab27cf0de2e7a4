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
    if let Some(parts) = r["component"].as_array().filter(|p| !p.is_empty()) {
        // A reading of several figures (blood pressure 138/82 mmHg).
        let figures: Vec<String> = parts
            .iter()
            .filter_map(|p| p["valueQuantity"]["value"].as_f64().map(|v| v.to_string()))
            .collect();
        if figures.len() == parts.len() {
            let unit = parts[0]["valueQuantity"]["unit"].as_str().unwrap_or("");
            return format!("{} {unit}", figures.join("/")).trim().to_string();
        }
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

/// One encounter on the timeline.
pub struct Visit {
    pub date: String,
    /// When it ended, if another day (an admission).
    pub until: String,
    pub kind: &'static str,
    /// Why (its type or reason).
    pub what: String,
    pub institution: String,
    /// The diagnoses recorded in it.
    pub diagnoses: Vec<String>,
    pub emergency: bool,
}

/// The institution that recorded `r` (its custodian's name), else the node.
fn institution(r: &Value, lang: Lang) -> String {
    r["meta"]["tag"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["system"] == kizuna_records::CUSTODIAN_SYSTEM)
        .and_then(|t| t["display"].as_str().or_else(|| t["code"].as_str()))
        .unwrap_or(lang.texts().this_node)
        .to_string()
}

/// The encounters, most recent first (at most `limit`), each with its diagnoses.
pub fn visits(encounters: &[Value], conditions: &[Value], lang: Lang, limit: usize) -> Vec<Visit> {
    let t = lang.texts();
    let mut sorted: Vec<&Value> = encounters.iter().collect();
    let start = |e: &Value| e["period"]["start"].as_str().unwrap_or("").to_string();
    sorted.sort_by_key(|e| std::cmp::Reverse(start(e)));
    sorted
        .into_iter()
        .take(limit)
        .map(|e| {
            let reference = format!("Encounter/{}", e["id"].as_str().unwrap_or(""));
            let mut diagnoses: Vec<String> = conditions
                .iter()
                .filter(|c| c["encounter"]["reference"].as_str() == Some(reference.as_str()))
                .map(|c| concept(&c["code"]))
                .filter(|n| !n.is_empty())
                .collect();
            diagnoses.dedup();
            let class = e["class"]["code"].as_str().unwrap_or("");
            let date = lang.date(&start(e));
            let until = e["period"]["end"]
                .as_str()
                .map(|d| lang.date(d))
                .filter(|d| *d != date)
                .unwrap_or_default();
            let what = e["type"]
                .as_array()
                .and_then(|a| a.first())
                .map(concept)
                .filter(|w| !w.is_empty())
                .or_else(|| {
                    e["reasonCode"]
                        .as_array()
                        .and_then(|a| a.first())
                        .map(concept)
                })
                .unwrap_or_default();
            Visit {
                date,
                until,
                kind: match class {
                    "IMP" | "ACUTE" | "NONAC" => t.inpatient_visit,
                    "EMER" => t.emergency_visit,
                    "HH" => t.home_visit,
                    _ => t.outpatient_visit,
                },
                what,
                institution: institution(e, lang),
                diagnoses,
                emergency: class == "EMER",
            }
        })
        .collect()
}

/// One test's results over time.
pub struct Trend {
    pub name: String,
    pub latest: String,
    pub date: String,
    pub range: String,
    pub sources: String,
    pub count: usize,
    /// The chart, as a `data:` URL of an SVG (when there are two numeric results or more).
    pub chart: Option<String>,
    /// The chart in words, for those who cannot see it.
    pub alt: String,
}

/// When an observation was made, as an instant (a date alone is its start in JST).
fn observed_at(o: &Value) -> Option<(jiff::Timestamp, String)> {
    let text = o["effectiveDateTime"]
        .as_str()
        .or_else(|| o["effectivePeriod"]["start"].as_str())
        .or_else(|| o["issued"].as_str())?;
    let ts = text.parse::<jiff::Timestamp>().ok().or_else(|| {
        let day: jiff::civil::Date = text.get(..10)?.parse().ok()?;
        day.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
            .ok()
            .map(|z| z.timestamp())
    })?;
    Some((ts, text.to_string()))
}

/// Charts drawn at most on one page (the tests with the most results).
const CHARTS: usize = 12;

/// The observations by test (code), the most recent result first, with a chart of each
/// test's numeric results over time.
pub fn trends(observations: &[Value], lang: Lang) -> Vec<Trend> {
    use std::collections::BTreeMap;
    let mut by_test: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for o in observations {
        let key = o["code"]["coding"]
            .as_array()
            .and_then(|c| c.first())
            .map(|c| {
                format!(
                    "{}|{}",
                    c["system"].as_str().unwrap_or(""),
                    c["code"].as_str().unwrap_or("")
                )
            })
            .unwrap_or_else(|| concept(&o["code"]));
        by_test.entry(key).or_default().push(o);
    }
    let mut out: Vec<Trend> = by_test
        .into_values()
        .map(|mut list| {
            list.sort_by_key(|o| std::cmp::Reverse(observed_at(o).map(|x| x.0)));
            let latest = list[0];
            let mut names: Vec<String> = Vec::new();
            for o in &list {
                let n = institution(o, lang);
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            let range = latest["referenceRange"]
                .as_array()
                .and_then(|r| r.first())
                .map(|r| {
                    let v = |k: &str| {
                        r[k]["value"]
                            .as_f64()
                            .map(|x| x.to_string())
                            .unwrap_or_default()
                    };
                    match (v("low").as_str(), v("high").as_str()) {
                        ("", "") => r["text"].as_str().unwrap_or("").to_string(),
                        (lo, hi) => format!("{lo}–{hi}"),
                    }
                })
                .unwrap_or_default();
            Trend {
                name: concept(&latest["code"]),
                latest: value(latest),
                date: observed_at(latest)
                    .map(|x| lang.date(&x.1))
                    .unwrap_or_default(),
                range,
                sources: names.join(lang_list_separator(lang)),
                count: list.len(),
                chart: None,
                alt: String::new(),
            }
            .with_chart(&list, lang)
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    for t in out.iter_mut().skip(CHARTS) {
        t.chart = None;
    }
    out
}

impl Trend {
    fn with_chart(mut self, list: &[&Value], lang: Lang) -> Trend {
        let mut points: Vec<kizuna_phr::chart::ChartPoint> = list
            .iter()
            .filter_map(|o| {
                Some((
                    observed_at(o)?.0,
                    o["valueQuantity"]["value"].as_f64()?,
                    None,
                ))
            })
            .collect();
        if points.len() < 2 {
            return self;
        }
        points.sort_by_key(|p| p.0);
        let unit = list[0]["valueQuantity"]["unit"].as_str().unwrap_or("");
        let chart = kizuna_phr::chart::Chart {
            title: &self.name,
            unit,
            points: &points,
            offset_seconds: 9 * 3600,
            bars: false,
            bucket_seconds: 0,
        };
        if let Ok(svg) = kizuna_phr::chart::svg(&chart) {
            use base64::Engine;
            self.chart = Some(format!(
                "data:image/svg+xml;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(svg)
            ));
            let (lo, hi) = points
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                    (a.min(p.1), b.max(p.1))
                });
            self.alt = lang
                .texts()
                .chart_alt
                .replace("{name}", &self.name)
                .replace("{n}", &points.len().to_string())
                .replace("{low}", &format!("{lo} {unit}"))
                .replace("{high}", &format!("{hi} {unit}"))
                .replace("{latest}", &self.latest);
        }
        self
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
