//! Full-text search: what `_text` (the narrative) and `_content` (the whole resource) search,
//! and how their values are read.
//!
//! A resource's searchable text is stored in the form [`normalize_string`] gives (case, width,
//! accents and kana folded), whitespace runs made one space, one value per line:
//! - narrative: the text of `text.div` (tags dropped, character references read, by an XML
//!   reader);
//! - content: every string, number and boolean in the resource (the narrative as its text),
//!   except base64 data (`data` of Attachment, Binary and SampledData; `Device.udiCarrier.
//!   carrierAIDC`; `Signature.data`), what the server assigns (`id`, `meta.versionId`,
//!   `meta.lastUpdated`: `_id` and `_lastUpdated` search those), and identifiers of things
//!   rather than words (`resourceType`, code-system and extension URIs in `system` and `url`,
//!   `reference`: token and reference parameters search those, and they would make every
//!   resource match `http` or `loinc`). A value repeated is kept once.
//!
//! A search value is a list of words and `"quoted phrases"`, each of which must appear in the
//! text as written, anywhere (a substring: Japanese has no spaces between words, so `肺炎`
//! finds `市中肺炎`); OR is written with commas as for every parameter. Boolean operators
//! inside a value are not interpreted.

use crate::extract::normalize_string;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;
use std::collections::HashSet;

/// The text `_text` and `_content` search in one resource ([`text_of`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ResourceText {
    pub narrative: String,
    pub content: String,
}

/// Keys whose string values are not words: base64 data, URIs naming systems and extensions,
/// references.
const SKIPPED_KEYS: &[&str] = &[
    "data",
    "carrierAIDC",
    "system",
    "url",
    "reference",
    "resourceType",
];

/// The narrative and content text of `resource`.
pub fn text_of(resource: &Value) -> ResourceText {
    let narrative = resource
        .get("text")
        .and_then(|t| t.get("div"))
        .and_then(Value::as_str)
        .map(|div| fold(&xhtml_text(div)))
        .unwrap_or_default();
    let mut lines = Lines::default();
    if let Value::Object(map) = resource {
        for (key, value) in map {
            match (key.as_str(), value) {
                ("id", _) => {}
                ("meta", Value::Object(meta)) => {
                    for (k, v) in meta {
                        if k != "versionId" && k != "lastUpdated" {
                            collect(v, &mut lines);
                        }
                    }
                }
                _ => collect_member(key, value, &mut lines),
            }
        }
    }
    ResourceText {
        narrative,
        content: lines.list.join("\n"),
    }
}

fn collect_member(key: &str, value: &Value, lines: &mut Lines) {
    match (key, value) {
        (k, Value::String(_)) if SKIPPED_KEYS.contains(&k) => {}
        ("div", Value::String(div)) => push_line(lines, &xhtml_text(div)),
        _ => collect(value, lines),
    }
}

fn collect(v: &Value, lines: &mut Lines) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                collect_member(key, value, lines);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, lines)),
        Value::String(s) => push_line(lines, s),
        Value::Number(n) => push_line(lines, &n.to_string()),
        Value::Bool(b) => push_line(lines, if *b { "true" } else { "false" }),
        Value::Null => {}
    }
}

/// The distinct lines of a resource's content, in order.
#[derive(Default)]
struct Lines {
    list: Vec<String>,
    seen: HashSet<String>,
}

fn push_line(lines: &mut Lines, text: &str) {
    let folded = fold(text);
    if !folded.is_empty() && lines.seen.insert(folded.clone()) {
        lines.list.push(folded);
    }
}

/// [`normalize_string`], with every run of whitespace made one space and none at the ends, and
/// control characters dropped (PostgreSQL's text cannot hold U+0000; stores written before
/// validation refused them may still have some).
fn fold(text: &str) -> String {
    normalize_string(text)
        .replace(|c: char| c.is_control() && !c.is_whitespace(), "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The character data of an XHTML fragment, elements separated by spaces. Text that is not
/// well-formed XHTML is read as far as it is, then taken as written.
fn xhtml_text(xhtml: &str) -> String {
    let mut reader = Reader::from_str(xhtml);
    let mut out = String::with_capacity(xhtml.len() / 2);
    loop {
        match reader.read_event() {
            Ok(Event::Text(t)) => out.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) => out.push_str(&t),
            Ok(Event::GeneralRef(r)) => match r.resolve_char_ref() {
                Ok(Some(c)) => out.push(c),
                _ => out.push_str(quick_xml::escape::resolve_predefined_entity(&r).unwrap_or(" ")),
            },
            Ok(Event::Start(_) | Event::End(_) | Event::Empty(_)) => out.push(' '),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return xhtml.to_string(),
        }
    }
    out
}

/// The terms of one `_text`/`_content` value (normalized like the text), or why it has none.
pub fn terms(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        let (term, after) = match rest.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => return Err(format!("'{value}' opens a quoted phrase it does not close")),
            },
            None => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        let folded = fold(term);
        if !folded.is_empty() {
            out.push(folded);
        }
        rest = after;
    }
    if out.is_empty() {
        return Err("a full-text search needs at least one word".into());
    }
    Ok(out)
}

/// Whether every term appears in `text`.
pub fn matches(text: &str, terms: &[String]) -> bool {
    terms.iter().all(|t| text.contains(t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn narrative_and_content() {
        let t = text_of(&json!({
            "resourceType": "Condition",
            "id": "c1234",
            "meta": {"versionId": "7", "lastUpdated": "2024-01-01T00:00:00Z", "tag": [{"code": "lts"}]},
            "text": {"status": "generated",
                     "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>市中<b>肺炎</b> &amp; Cough&#160;(ｾｷ)</p></div>"},
            "code": {"text": "Community-acquired  PNEUMONIA"},
            "onsetAge": {"value": 72, "system": "http://unitsofmeasure.org", "code": "a"},
            "evidence": [{"detail": [{"reference": "Observation/xyz"}]}],
            "note": [{"text": "Zoë"}],
            "attachment": {"data": "aGVsbG8="}
        }));
        assert_eq!(t.narrative, "市中 肺炎 & cough (せき)");
        assert!(t.content.contains("community-acquired pneumonia"));
        assert!(t.content.contains("\n72\n") && t.content.contains("zoe"));
        assert!(!t.content.contains("agvsbg8"), "base64 is not text");
        assert!(!t.content.contains("unitsofmeasure") && !t.content.contains("xyz"));
        assert!(!t.content.contains("condition"));
        assert!(!t.content.contains("c1234") && !t.content.contains("2024-01-01"));
        assert!(t.content.lines().any(|l| l == "lts") && !t.content.lines().any(|l| l == "7"));
        assert!(t.content.contains("市中 肺炎"));
        assert_eq!(text_of(&json!({"resourceType": "Basic"})).narrative, "");
    }

    #[test]
    fn broken_xhtml_is_taken_as_written() {
        let t = text_of(&json!({"text": {"div": "<div><p>open"}}));
        assert!(t.narrative.contains("open"));
        let t = text_of(&json!({"text": {"div": "a < b"}}));
        assert_eq!(t.narrative, "a < b");
    }

    #[test]
    fn terms_are_words_and_phrases() {
        assert_eq!(terms("肺炎  Cough").unwrap(), ["肺炎", "cough"]);
        assert_eq!(
            terms("\"Community  acquired\" ＰＮＥＵ").unwrap(),
            ["community acquired", "pneu"]
        );
        assert!(terms("  ").is_err());
        assert!(terms("\"open").is_err());
        let text =
            text_of(&json!({"code": {"text": "Community acquired pneumonia 市中肺炎"}})).content;
        assert!(matches(&text, &terms("肺炎 community").unwrap()));
        assert!(matches(&text, &terms("\"acquired pneumonia\"").unwrap()));
        assert!(!matches(&text, &terms("\"pneumonia acquired\"").unwrap()));
        assert!(!matches(&text, &terms("肺炎 flu").unwrap()));
    }
}
