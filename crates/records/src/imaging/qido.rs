//! QIDO-RS (PS3.18 §10.6): its query parameters read into an image index query, and its
//! answers written as DICOM JSON. Also used by WADO-RS to find what a path names.
//!
//! Matching (PS3.4 C.2.2.2): a UID list (`\`-separated) matches any; text matches exactly or
//! with `*` and `?` wildcards; person names ignore case and kana script (`ヤマダ*` finds
//! `やまだ`), and with `fuzzymatching=true` match when every word given begins a word of the
//! name, in any of its alphabetic, ideographic or phonetic forms; dates and times take ranges
//! (`20240101-`, `-20241231`, `20240101-20240131`); an empty value asks for the attribute only.

use crate::{Failure, Result};
use kizuna_fhir::IssueCode;
use kizuna_search::extract::normalize_string;
use kizuna_store::imaging::{Column, Found, ImageQuery, Level, Piece, Test};
use serde_json::{Map, Value, json};

/// The most rows one answer gives when `limit` is not set (or set higher).
pub const MAX_LIMIT: usize = 1000;

/// A QIDO-RS request, read.
#[derive(Debug, Clone)]
pub struct Qido {
    pub query: ImageQuery,
    /// Attributes to add to each answer (tags, `GGGGEEEE`); `all` adds every attribute kept.
    pub include: Vec<String>,
    pub include_all: bool,
    /// Matching keys this server does not match on (the answer warns of them).
    pub ignored: Vec<String>,
}

/// A matching key: its tag, keyword, the column it tests, and how.
struct Key {
    tag: &'static str,
    keyword: &'static str,
    column: Option<Column>,
    kind: Kind,
    level: Level,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Uid,
    Text,
    Name,
    Range,
    Int,
}

const KEYS: &[Key] = &[
    key(
        "00080020",
        "StudyDate",
        Some(Column::StudyDate),
        Kind::Range,
        Level::Study,
    ),
    key(
        "00080030",
        "StudyTime",
        Some(Column::StudyTime),
        Kind::Range,
        Level::Study,
    ),
    key(
        "00080050",
        "AccessionNumber",
        Some(Column::Accession),
        Kind::Text,
        Level::Study,
    ),
    key(
        "00080061",
        "ModalitiesInStudy",
        Some(Column::Modality),
        Kind::Uid,
        Level::Study,
    ),
    key(
        "00080090",
        "ReferringPhysicianName",
        Some(Column::Referring),
        Kind::Name,
        Level::Study,
    ),
    key(
        "00100010",
        "PatientName",
        Some(Column::PatientName),
        Kind::Name,
        Level::Study,
    ),
    key(
        "00100020",
        "PatientID",
        Some(Column::PatientId),
        Kind::Text,
        Level::Study,
    ),
    key(
        "00100030",
        "PatientBirthDate",
        Some(Column::BirthDate),
        Kind::Range,
        Level::Study,
    ),
    key(
        "00100040",
        "PatientSex",
        Some(Column::Sex),
        Kind::Text,
        Level::Study,
    ),
    key(
        "0020000D",
        "StudyInstanceUID",
        Some(Column::StudyUid),
        Kind::Uid,
        Level::Study,
    ),
    key(
        "00200010",
        "StudyID",
        Some(Column::StudyId),
        Kind::Text,
        Level::Study,
    ),
    key(
        "00081030",
        "StudyDescription",
        Some(Column::StudyDescription),
        Kind::Text,
        Level::Study,
    ),
    key(
        "00080060",
        "Modality",
        Some(Column::Modality),
        Kind::Uid,
        Level::Series,
    ),
    key(
        "0020000E",
        "SeriesInstanceUID",
        Some(Column::SeriesUid),
        Kind::Uid,
        Level::Series,
    ),
    key(
        "00200011",
        "SeriesNumber",
        Some(Column::SeriesNumber),
        Kind::Int,
        Level::Series,
    ),
    key(
        "0008103E",
        "SeriesDescription",
        Some(Column::SeriesDescription),
        Kind::Text,
        Level::Series,
    ),
    key(
        "00080016",
        "SOPClassUID",
        Some(Column::SopClass),
        Kind::Uid,
        Level::Instance,
    ),
    key(
        "00080018",
        "SOPInstanceUID",
        Some(Column::SopUid),
        Kind::Uid,
        Level::Instance,
    ),
    key(
        "00200013",
        "InstanceNumber",
        Some(Column::InstanceNumber),
        Kind::Int,
        Level::Instance,
    ),
    // Answered but not matched on.
    key(
        "00080005",
        "SpecificCharacterSet",
        None,
        Kind::Text,
        Level::Study,
    ),
    key(
        "00080056",
        "InstanceAvailability",
        None,
        Kind::Text,
        Level::Study,
    ),
    key("00081190", "RetrieveURL", None, Kind::Text, Level::Study),
    key(
        "00201206",
        "NumberOfStudyRelatedSeries",
        None,
        Kind::Int,
        Level::Study,
    ),
    key(
        "00201208",
        "NumberOfStudyRelatedInstances",
        None,
        Kind::Int,
        Level::Study,
    ),
    key(
        "00201209",
        "NumberOfSeriesRelatedInstances",
        None,
        Kind::Int,
        Level::Series,
    ),
    key("00280010", "Rows", None, Kind::Int, Level::Instance),
    key("00280011", "Columns", None, Kind::Int, Level::Instance),
    key(
        "00280100",
        "BitsAllocated",
        None,
        Kind::Int,
        Level::Instance,
    ),
    key(
        "00280008",
        "NumberOfFrames",
        None,
        Kind::Int,
        Level::Instance,
    ),
];

const fn key(
    tag: &'static str,
    keyword: &'static str,
    column: Option<Column>,
    kind: Kind,
    level: Level,
) -> Key {
    Key {
        tag,
        keyword,
        column,
        kind,
        level,
    }
}

/// The attributes every answer at a level carries (PS3.18 Tables 10.6.3-3 to 10.6.3-5).
fn default_tags(level: Level) -> &'static [&'static str] {
    match level {
        Level::Study => &[
            "00080020", "00080030", "00080050", "00080090", "00100010", "00100020", "00100030",
            "00100040", "0020000D", "00200010", "00081030",
        ],
        Level::Series => &["00080060", "0020000E", "00200011", "0008103E", "0020000D"],
        Level::Instance => &[
            "00080016", "00080018", "00200013", "00280010", "00280011", "00280100", "00280008",
            "0020000D", "0020000E",
        ],
    }
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(400, IssueCode::Invalid, None, message)
}

/// Reads the query parameters of a QIDO-RS request at `level`, within the study and series the
/// path names.
pub fn parse(
    level: Level,
    study: Option<&str>,
    series: Option<&str>,
    params: &[(String, String)],
) -> Result<Qido> {
    let mut q = Qido {
        query: ImageQuery {
            level,
            filters: Vec::new(),
            offset: 0,
            limit: Some(MAX_LIMIT),
            with_attrs: true,
            access: None,
        },
        include: Vec::new(),
        include_all: false,
        ignored: Vec::new(),
    };
    if let Some(s) = study {
        q.query
            .filters
            .push((Column::StudyUid, Test::AnyOf(vec![s.into()])));
    }
    if let Some(s) = series {
        q.query
            .filters
            .push((Column::SeriesUid, Test::AnyOf(vec![s.into()])));
    }
    let fuzzy = match params.iter().rev().find(|(k, _)| k == "fuzzymatching") {
        None => false,
        Some((_, v)) if v == "true" => true,
        Some((_, v)) if v == "false" => false,
        Some(_) => return Err(bad("fuzzymatching is true or false")),
    };
    for (name, value) in params {
        match name.as_str() {
            "fuzzymatching" => {}
            "limit" | "offset" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| bad(format!("{name} is a whole number, not '{value}'")))?;
                if name == "limit" {
                    q.query.limit = Some(n.min(MAX_LIMIT));
                } else {
                    q.query.offset = n;
                }
            }
            "includefield" => {
                for f in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if f == "all" {
                        q.include_all = true;
                    } else {
                        q.include.push(tag_of(f).ok_or_else(|| {
                            bad(format!(
                                "includefield '{f}' is not a DICOM attribute keyword or tag"
                            ))
                        })?);
                    }
                }
            }
            _ => {
                let Some(tag) = tag_of(name) else {
                    return Err(bad(format!(
                        "'{name}' is not a QIDO-RS parameter, nor a DICOM attribute keyword or tag"
                    )));
                };
                let Some(k) = KEYS.iter().find(|k| k.tag == tag) else {
                    q.ignored.push(name.clone());
                    continue;
                };
                let Some(column) = k.column else {
                    q.ignored.push(name.clone());
                    continue;
                };
                if finer(k.level, level) {
                    return Err(bad(format!(
                        "{} is an attribute of a {}, which a query for {} does not match on",
                        k.keyword,
                        level_name(k.level),
                        level_name(level)
                    )));
                }
                q.include.push(tag.clone());
                if value.is_empty() {
                    continue; // universal matching: the attribute is returned, nothing tested
                }
                q.query.filters.push(filter(k, column, value, fuzzy)?);
            }
        }
    }
    Ok(q)
}

/// Whether `key_level` is below `query_level` (an instance key in a study query).
fn finer(key_level: Level, query_level: Level) -> bool {
    let rank = |l| match l {
        Level::Study => 0,
        Level::Series => 1,
        Level::Instance => 2,
    };
    rank(key_level) > rank(query_level)
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Study => "study",
        Level::Series => "series",
        Level::Instance => "instance",
    }
}

fn filter(k: &Key, column: Column, value: &str, fuzzy: bool) -> Result<(Column, Test)> {
    Ok(match k.kind {
        Kind::Uid => (
            column,
            Test::AnyOf(
                value
                    .split(['\\', ','])
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(String::from)
                    .collect(),
            ),
        ),
        Kind::Int => (
            column,
            Test::Int(
                value
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("{} is a whole number, not '{value}'", k.keyword)))?,
            ),
        ),
        Kind::Range => {
            let digits = |s: &str| -> Result<Option<String>> {
                let s = s.trim().replace([':', '-'], "");
                if s.is_empty() {
                    return Ok(None);
                }
                if !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                    return Err(bad(format!(
                        "{} takes a DICOM date (YYYYMMDD) or time (HHMMSS), or a range of them (a-b, a-, -b)",
                        k.keyword
                    )));
                }
                Ok(Some(s))
            };
            match value.split_once('-') {
                Some((low, high)) => {
                    let (low, high) = (digits(low)?, digits(high)?);
                    // A time's upper end covers its whole last unit (`-1200` is up to 12:00:59…).
                    let high = high.map(|h| format!("{h}\u{7f}"));
                    (column, Test::Between(low, high))
                }
                None => {
                    let v = digits(value)?.unwrap_or_default();
                    if k.tag == "00080030" {
                        (
                            column,
                            Test::Between(Some(v.clone()), Some(format!("{v}\u{7f}"))),
                        )
                    } else {
                        (column, Test::AnyOf(vec![v]))
                    }
                }
            }
        }
        Kind::Name if fuzzy && column == Column::PatientName => {
            let words: Vec<String> = words(&value.replace(['*', '?'], " "));
            (Column::PatientNameWords, Test::WordPrefixes(words))
        }
        Kind::Name => (column, like(value, true)),
        Kind::Text => (column, like(value, false)),
    })
}

/// Exact text, or a pattern when it has wildcards; names normalized like their key.
fn like(value: &str, name: bool) -> Test {
    let norm = |s: &str| if name { name_key(s) } else { s.to_string() };
    if !value.contains(['*', '?']) {
        return Test::AnyOf(vec![norm(value)]);
    }
    let mut pieces = Vec::new();
    let mut text = String::new();
    for ch in value.chars() {
        if ch == '*' || ch == '?' {
            if !text.is_empty() {
                pieces.push(Piece::Text(norm(&text)));
                text.clear();
            }
            pieces.push(if ch == '*' { Piece::Any } else { Piece::One });
        } else {
            text.push(ch);
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(norm(&text)));
    }
    Test::Like(pieces)
}

/// A person name as compared: case and kana script folded, as FHIR string search does.
pub fn name_key(pn: &str) -> String {
    normalize_string(pn.trim())
}

/// The words of a person name (components, groups and spaces apart), normalized, as
/// ` word word … `.
pub fn name_words(pn: &str) -> String {
    let w = words(pn);
    format!(" {} ", w.join(" "))
}

fn words(s: &str) -> Vec<String> {
    s.split(['^', '=', ' ', '\u{3000}', ','])
        .map(name_key)
        .filter(|w| !w.is_empty())
        .collect()
}

/// `PatientName` or `00100010` → `00100010`.
fn tag_of(name: &str) -> Option<String> {
    if name.len() == 8 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(name.to_ascii_uppercase());
    }
    if let Some(k) = KEYS.iter().find(|k| k.keyword == name) {
        return Some(k.tag.to_string());
    }
    use dicom_core::dictionary::DataDictionary;
    use dicom_dictionary_std::StandardDataDictionary;
    StandardDataDictionary.by_name(name).map(|e| {
        let t = e.tag.inner();
        format!("{:04X}{:04X}", t.group(), t.element())
    })
}

/// One answer of a QIDO-RS response: the level's attributes, those asked for, and those the
/// index counts; `base` is the DICOMweb root (`…/dicomweb`).
pub fn answer(f: &Found, q: &Qido, base: &str) -> Value {
    let level = q.query.level;
    let attrs: Map<String, Value> = serde_json::from_str::<Value>(&f.attrs)
        .ok()
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let mut out = Map::new();
    let take = |tag: &str, out: &mut Map<String, Value>| {
        if let Some(v) = attrs.get(tag)
            && v.get("BulkDataURI").is_none()
        {
            out.insert(tag.to_string(), v.clone());
        }
    };
    for l in [Level::Study, Level::Series, Level::Instance] {
        if !finer(l, level) {
            for tag in default_tags(l) {
                take(tag, &mut out);
            }
        }
    }
    if q.include_all {
        for tag in attrs.keys() {
            take(tag, &mut out);
        }
    }
    for tag in &q.include {
        take(tag, &mut out);
    }
    out.insert(
        "00080005".into(),
        json!({"vr": "CS", "Value": ["ISO_IR 192"]}),
    );
    let study_url = format!("{base}/studies/{}", f.study_uid);
    match level {
        Level::Study => {
            out.insert("00080056".into(), json!({"vr": "CS", "Value": ["ONLINE"]}));
            out.insert("00080061".into(), cs(&f.modalities));
            out.insert(
                "00201206".into(),
                json!({"vr": "IS", "Value": [f.study_series]}),
            );
            out.insert(
                "00201208".into(),
                json!({"vr": "IS", "Value": [f.study_instances]}),
            );
            out.insert("00081190".into(), json!({"vr": "UR", "Value": [study_url]}));
        }
        Level::Series => {
            out.insert(
                "00201209".into(),
                json!({"vr": "IS", "Value": [f.series_instances]}),
            );
            out.insert(
                "00081190".into(),
                json!({"vr": "UR", "Value": [format!("{study_url}/series/{}", f.series_uid)]}),
            );
        }
        Level::Instance => {
            out.insert("00080056".into(), json!({"vr": "CS", "Value": ["ONLINE"]}));
            out.insert(
                "00081190".into(),
                json!({"vr": "UR", "Value": [format!("{study_url}/series/{}/instances/{}", f.series_uid, f.sop_uid)]}),
            );
        }
    }
    // DICOM JSON lists attributes in tag order.
    let mut sorted: Vec<(String, Value)> = out.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(sorted.into_iter().collect())
}

fn cs(values: &[String]) -> Value {
    if values.is_empty() {
        json!({"vr": "CS"})
    } else {
        json!({"vr": "CS", "Value": values})
    }
}

/// The attributes of a kept object as WADO-RS metadata gives them: bulk data references made
/// absolute under the object's URL `instance_url`.
pub fn metadata(attrs: &str, instance_url: &str) -> Value {
    let mut v: Value = serde_json::from_str(attrs).unwrap_or(Value::Object(Map::new()));
    if let Value::Object(m) = &mut v {
        for e in m.values_mut() {
            if let Some(Value::String(uri)) = e.get_mut("BulkDataURI") {
                *uri = format!("{instance_url}/{uri}");
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_the_standard_matching() {
        let q = parse(
            Level::Study,
            None,
            None,
            &params(&[
                ("PatientName", "ヤマダ*"),
                ("StudyDate", "20240101-20241231"),
                ("ModalitiesInStudy", "CT"),
                ("00200010", ""),
                ("limit", "5"),
                ("offset", "10"),
                ("includefield", "00081030,BodyPartExamined"),
            ]),
        )
        .unwrap();
        assert_eq!(q.query.limit, Some(5));
        assert_eq!(q.query.offset, 10);
        assert_eq!(
            q.query.filters,
            vec![
                (
                    Column::PatientName,
                    Test::Like(vec![Piece::Text("やまだ".into()), Piece::Any])
                ),
                (
                    Column::StudyDate,
                    Test::Between(Some("20240101".into()), Some("20241231\u{7f}".into()))
                ),
                (Column::Modality, Test::AnyOf(vec!["CT".into()])),
            ]
        );
        assert!(
            q.include.contains(&"00180015".to_string()),
            "{:?}",
            q.include
        );
        assert!(q.include.contains(&"00200010".to_string()));
    }

    #[test]
    fn fuzzy_names_match_words_in_any_form() {
        let q = parse(
            Level::Study,
            None,
            None,
            &params(&[("PatientName", "tar"), ("fuzzymatching", "true")]),
        )
        .unwrap();
        assert_eq!(
            q.query.filters,
            vec![(
                Column::PatientNameWords,
                Test::WordPrefixes(vec!["tar".into()])
            )]
        );
        assert_eq!(
            name_words("Yamada^Tarou=山田^太郎=ヤマダ^タロウ"),
            " yamada tarou 山田 太郎 やまだ たろう "
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for p in [
            ("NotAnAttribute", "x"),
            ("limit", "-1"),
            ("SOPInstanceUID", "1.2"),
            ("StudyDate", "yesterday"),
            ("fuzzymatching", "maybe"),
            ("includefield", "Nonsense"),
        ] {
            let e = parse(Level::Study, None, None, &params(&[p])).unwrap_err();
            assert_eq!(e.status, 400, "{p:?}");
        }
        // A real attribute the index does not match on is ignored, with a warning.
        let q = parse(
            Level::Study,
            None,
            None,
            &params(&[("BodyPartExamined", "HEAD")]),
        )
        .unwrap();
        assert_eq!(q.ignored, vec!["BodyPartExamined".to_string()]);
    }
}
