//! A readable HTML page of a submission: its header (kind, title, date, patient, author,
//! addressees), the Composition's narrative and every section's (nested sections as nested
//! headings), and for entries without a narrative, one line each. Narratives are re-written
//! through an allow-list of XHTML elements and attributes, so a page never carries script,
//! styles, forms or external resources whatever a document holds.

use crate::{INSTITUTION_SYSTEM, Kind, Submission};
use quick_xml::Reader;
use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use serde_json::Value;
use std::fmt::Write;

/// The XHTML elements FHIR narratives may use that a rendering keeps (no images: they would
/// fetch from elsewhere).
const ALLOWED: &[&str] = &[
    "a",
    "abbr",
    "b",
    "big",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
];
/// Elements dropped with everything inside them.
const DROPPED_WHOLE: &[&str] = &["script", "style", "object", "embed", "iframe", "template"];
/// Attributes kept (on any allowed element); `href` only when it points inside the page.
const ALLOWED_ATTRIBUTES: &[&str] = &["class", "colspan", "rowspan", "lang", "title", "id"];

/// The page of `bundle`, read as `sub`.
pub fn render(bundle: &Value, sub: &Submission) -> String {
    let entries: &[Value] = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let resource = |i: usize| entries.get(i).and_then(|e| e.get("resource"));
    let (ja, en) = sub.kind.names();
    let title = sub.title.clone().unwrap_or_else(|| ja.to_string());
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<p class=\"kind\">{} <span lang=\"en\">{}</span>{}</p>\n<h1>{}</h1>\n<dl>",
        escape(&title),
        escape(ja),
        escape(en),
        if sub.lts {
            " <span class=\"lts\">長期保存 <span lang=\"en\">long-term storage</span></span>"
        } else {
            ""
        },
        escape(&title),
    );
    let row = |h: &mut String, ja: &str, en: &str, value: &str| {
        let _ = write!(
            h,
            "\n<dt>{ja} <span lang=\"en\">{en}</span></dt><dd>{}</dd>",
            escape(value)
        );
    };
    if let Some(d) = &sub.date {
        row(&mut h, "作成日", "Date", d);
    }
    if let Some(p) = resource(sub.patient_index) {
        row(&mut h, "患者", "Patient", &patient_line(p));
    }
    let org_name = |code: &str| {
        entries
            .iter()
            .filter_map(|e| e.get("resource"))
            .find(|r| {
                r.get("resourceType").and_then(Value::as_str) == Some("Organization")
                    && r.get("identifier")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|i| {
                            i.get("system").and_then(Value::as_str) == Some(INSTITUTION_SYSTEM)
                                && i.get("value").and_then(Value::as_str) == Some(code)
                        })
            })
            .and_then(|r| r.get("name").and_then(Value::as_str))
            .map_or_else(|| code.to_string(), |n| format!("{n} ({code})"))
    };
    row(&mut h, "作成機関", "Author", &org_name(&sub.institution));
    for a in &sub.addressees {
        row(&mut h, "紹介先", "Addressee", &org_name(a));
    }
    row(
        &mut h,
        "文書番号",
        "Identifier",
        &format!("{}|{}", sub.identifier.0, sub.identifier.1),
    );
    h.push_str("\n</dl>\n</header>\n<main>\n");
    if sub.kind == Kind::ClinicalInformation {
        h.push_str("<table>\n<thead><tr><th>種類 <span lang=\"en\">Kind</span></th><th>内容 <span lang=\"en\">Content</span></th><th>日付 <span lang=\"en\">Date</span></th></tr></thead>\n<tbody>\n");
        for (i, _) in entries.iter().enumerate() {
            if i == sub.patient_index {
                continue;
            }
            if let Some(r) = resource(i) {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(type_name(r)),
                    entry_content(r),
                    escape(date_of(r).unwrap_or_default())
                );
            }
        }
        h.push_str("</tbody>\n</table>\n");
    } else if let Some(comp) = resource(0) {
        if let Some(div) = comp.pointer("/text/div").and_then(Value::as_str) {
            let _ = writeln!(
                h,
                "<section class=\"narrative\">{}</section>",
                sanitize_xhtml(div)
            );
        }
        if let Some(sections) = comp.get("section") {
            sections_html(&mut h, sections, 2, entries);
        }
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

const STYLE: &str = "body{font-family:system-ui,'Hiragino Sans','Noto Sans JP',sans-serif;margin:2rem auto;max-width:60rem;line-height:1.6;color:#222}header{border-bottom:2px solid #446;margin-bottom:1rem}.kind{color:#446;margin:0}.lts{background:#fe9;padding:0 .4em;border-radius:.3em}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:bold}dd{margin:0}section{margin:.5rem 0 1rem}section section{margin-left:1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;vertical-align:top}[lang=en]{color:#666;font-size:.85em}";

fn sections_html(h: &mut String, sections: &Value, level: usize, entries: &[Value]) {
    for s in sections.as_array().into_iter().flatten() {
        let title = s
            .get("title")
            .and_then(Value::as_str)
            .or_else(|| s.pointer("/code/coding/0/display").and_then(Value::as_str))
            .or_else(|| s.pointer("/code/text").and_then(Value::as_str))
            .unwrap_or("");
        let lv = level.min(6);
        let _ = writeln!(h, "<section>\n<h{lv}>{}</h{lv}>", escape(title));
        if let Some(div) = s.pointer("/text/div").and_then(Value::as_str) {
            h.push_str(&sanitize_xhtml(div));
            h.push('\n');
        } else {
            let items: Vec<String> = s
                .get("entry")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let r = by_ref(entries, e.get("reference")?.as_str()?)?;
                    Some(match r.pointer("/text/div").and_then(Value::as_str) {
                        Some(div) => sanitize_xhtml(div),
                        None => entry_content(r),
                    })
                })
                .collect();
            if !items.is_empty() {
                h.push_str("<ul>\n");
                for i in items {
                    let _ = writeln!(h, "<li>{i}</li>");
                }
                h.push_str("</ul>\n");
            }
        }
        if let Some(sub) = s.get("section") {
            sections_html(h, sub, level + 1, entries);
        }
        h.push_str("</section>\n");
    }
}

/// The resource of the entry `reference` names: by `fullUrl`, or a relative `Type/id`.
fn by_ref<'a>(entries: &'a [Value], reference: &str) -> Option<&'a Value> {
    entries
        .get(crate::read::entry_index(entries, reference)?)?
        .get("resource")
}

/// "name (reading), birth date, gender" of a Patient.
fn patient_line(p: &Value) -> String {
    let names: Vec<String> = p
        .get("name")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| {
            n.get("text")
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| {
                    let family = n.get("family").and_then(Value::as_str).unwrap_or("");
                    let given: Vec<&str> = n
                        .get("given")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    let s = format!("{family} {}", given.join(" "));
                    (!s.trim().is_empty()).then(|| s.trim().to_string())
                })
        })
        .collect();
    let mut line = match names.split_first() {
        Some((first, rest)) if !rest.is_empty() => format!("{first} ({})", rest.join(", ")),
        Some((first, _)) => first.clone(),
        None => String::new(),
    };
    for k in ["birthDate", "gender"] {
        if let Some(v) = p.get(k).and_then(Value::as_str) {
            line.push_str(", ");
            line.push_str(v);
        }
    }
    line
}

fn type_name(r: &Value) -> &'static str {
    match r.get("resourceType").and_then(Value::as_str).unwrap_or("") {
        "Condition" => "傷病名 Diagnosis",
        "AllergyIntolerance" => "アレルギー Allergy",
        "Observation" => "検査・観察 Observation",
        "MedicationRequest" => "処方 Prescription",
        "Encounter" => "受診 Encounter",
        "Organization" => "医療機関 Organization",
        "Practitioner" | "PractitionerRole" => "医療者 Practitioner",
        "Specimen" => "検体 Specimen",
        "Medication" => "医薬品 Medication",
        "DocumentReference" => "文書 Document",
        _ => "その他 Other",
    }
}

/// One line (escaped HTML) saying what an entry holds.
fn entry_content(r: &Value) -> String {
    escape(describe(r)).into_owned()
}

/// One line of text saying what a record holds: its code (or medication, or type), name,
/// value and dosage text, as written.
pub(crate) fn describe(r: &Value) -> String {
    let concept = |c: &Value| -> Option<String> {
        c.get("text")
            .and_then(Value::as_str)
            .or_else(|| {
                c.get("coding")?
                    .as_array()?
                    .iter()
                    .find_map(|x| x.get("display").and_then(Value::as_str))
            })
            .or_else(|| c.pointer("/coding/0/code").and_then(Value::as_str))
            .map(String::from)
    };
    let mut parts: Vec<String> = Vec::new();
    for k in ["code", "medicationCodeableConcept", "type"] {
        if let Some(c) = r.get(k)
            && let Some(s) = if c.is_array() {
                c.get(0).and_then(concept)
            } else {
                concept(c)
            }
        {
            parts.push(s);
            break;
        }
    }
    if let Some(name) = r.get("name").and_then(Value::as_str) {
        parts.push(name.to_string());
    }
    if let Some(q) = r.get("valueQuantity") {
        let v = q.get("value").map(|v| v.to_string()).unwrap_or_default();
        let u = q
            .get("unit")
            .or_else(|| q.get("code"))
            .and_then(Value::as_str)
            .unwrap_or("");
        parts.push(format!("{v} {u}").trim().to_string());
    } else if let Some(s) = r.get("valueString").and_then(Value::as_str) {
        parts.push(s.to_string());
    } else if let Some(s) = r.get("valueCodeableConcept").and_then(concept) {
        parts.push(s);
    }
    if let Some(text) = r
        .pointer("/dosageInstruction/0/text")
        .and_then(Value::as_str)
    {
        parts.push(text.to_string());
    }
    parts.join(" — ")
}

/// The clinically relevant date of an entry, as written.
fn date_of(r: &Value) -> Option<String> {
    [
        "effectiveDateTime",
        "onsetDateTime",
        "recordedDate",
        "authoredOn",
        "issued",
        "date",
    ]
    .iter()
    .find_map(|k| r.get(*k).and_then(Value::as_str))
    .or_else(|| r.pointer("/effectivePeriod/start").and_then(Value::as_str))
    .or_else(|| r.pointer("/period/start").and_then(Value::as_str))
    .map(String::from)
}

/// An XHTML narrative re-written through the allow-list: allowed elements keep their allowed
/// attributes (and `href` pointing inside the page); other elements are dropped but their text
/// kept, except script-like ones, dropped whole. Text that is not well-formed XHTML is shown as
/// escaped text.
pub fn sanitize_xhtml(xhtml: &str) -> String {
    let mut reader = Reader::from_str(xhtml);
    let mut out = String::with_capacity(xhtml.len());
    let mut skip = 0usize;
    let mut open: Vec<Option<String>> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = local_name(&e);
                if skip > 0 || DROPPED_WHOLE.contains(&name.as_str()) {
                    skip += 1;
                    continue;
                }
                let keep = ALLOWED.contains(&name.as_str());
                if keep {
                    start_tag(&mut out, &e, &name, false);
                    open.push(Some(name));
                } else {
                    open.push(None);
                }
            }
            Ok(Event::Empty(e)) => {
                let name = local_name(&e);
                if skip == 0 && ALLOWED.contains(&name.as_str()) {
                    // `<br/>` is a void element in HTML; `<div/>` would open one and never close it.
                    let void = matches!(name.as_str(), "br" | "hr" | "col");
                    start_tag(&mut out, &e, &name, void);
                    if !void {
                        let _ = write!(out, "</{name}>");
                    }
                }
            }
            Ok(Event::End(e)) => {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let _ = e;
                if let Some(Some(name)) = open.pop() {
                    let _ = write!(out, "</{name}>");
                }
            }
            Ok(Event::Text(t)) if skip == 0 => out.push_str(&escape(&*t.xml10_content())),
            Ok(Event::CData(t)) if skip == 0 => {
                out.push_str(&escape(&*t));
            }
            Ok(Event::GeneralRef(r)) if skip == 0 => match r.resolve_char_ref() {
                Ok(Some(c)) => out.push_str(&escape(&*c.to_string())),
                _ => {
                    let s = quick_xml::escape::resolve_predefined_entity(&r).unwrap_or(" ");
                    out.push_str(&escape(s));
                }
            },
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return format!("<pre>{}</pre>", escape(xhtml)),
        }
    }
    // Close what the fragment left open, so the page's own structure stays intact.
    while let Some(name) = open.pop() {
        if let Some(name) = name {
            let _ = write!(out, "</{name}>");
        }
    }
    out
}

fn local_name(e: &BytesStart) -> String {
    AsRef::<str>::as_ref(&e.local_name()).to_lowercase()
}

fn start_tag(out: &mut String, e: &BytesStart, name: &str, empty: bool) {
    let _ = write!(out, "<{name}");
    for a in e.attributes().flatten() {
        let key = AsRef::<str>::as_ref(&a.key.local_name()).to_lowercase();
        let Ok(value) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) else {
            continue;
        };
        let kept = ALLOWED_ATTRIBUTES.contains(&key.as_str())
            || (key == "href" && name == "a" && value.starts_with('#'));
        if kept && a.key.prefix().is_none() {
            let _ = write!(out, " {key}=\"{}\"", escape(&*value));
        }
    }
    out.push_str(if empty { "/>" } else { ">" });
}

#[cfg(test)]
mod tests {
    use super::sanitize_xhtml;

    #[test]
    fn narratives_keep_text_and_lose_anything_active() {
        let s = sanitize_xhtml(
            r##"<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()" class="c">A &amp; B &#x3042;</p><script>alert(1)</script><img src="http://e/x"/><a href="javascript:x">l</a><a href="#s">s</a><custom>kept text</custom></div>"##,
        );
        assert_eq!(
            s,
            r##"<div><p class="c">A &amp; B あ</p><a>l</a><a href="#s">s</a>kept text</div>"##
        );
        // Empty non-void elements close; void ones stay void.
        assert_eq!(
            sanitize_xhtml("<div><table/><br/>x</div>"),
            "<div><table></table><br/>x</div>"
        );
        // Not well-formed: whatever is read, nothing unknown comes through as markup.
        let odd = sanitize_xhtml("<div>a < b</div><p>c");
        assert!(
            odd.starts_with("<div>a") && !odd.contains("<b") && odd.ends_with("</div>"),
            "{odd}"
        );
    }
}
