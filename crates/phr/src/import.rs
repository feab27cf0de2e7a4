//! One way in for every format a patient brings: which format a file is ([`Format`]), reading
//! it as samples ([`read`]), and the summary of an import ([`Tally`]: how many were taken,
//! and how many were refused for each reason, with the first few places and reasons).

use crate::{Reason, Rejected, Sample, apple, fhir, fitbit, omh};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;

/// The formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apple Health's `export.xml`.
    AppleHealth,
    /// A Fitbit CSV export (daily activity, weight log).
    Fitbit,
    /// Open mHealth data points (one, or a JSON array).
    OpenMHealth,
    /// FHIR Observations (one, a Bundle of them, or a JSON array).
    Fhir,
}

impl Format {
    /// `apple`, `fitbit`, `omh` or `fhir`.
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "apple" | "apple-health" => Format::AppleHealth,
            "fitbit" => Format::Fitbit,
            "omh" | "openmhealth" | "open-mhealth" => Format::OpenMHealth,
            "fhir" => Format::Fhir,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::AppleHealth => "Apple Health export",
            Format::Fitbit => "Fitbit CSV export",
            Format::OpenMHealth => "Open mHealth data points",
            Format::Fhir => "FHIR Observations",
        }
    }

    /// The format of a file that starts with `head` (its first few kilobytes).
    pub fn sniff(head: &[u8]) -> Option<Format> {
        let text = String::from_utf8_lossy(head);
        let t = text.trim_start_matches('\u{feff}').trim_start();
        if t.starts_with('<') {
            return t.contains("HealthData").then_some(Format::AppleHealth);
        }
        if t.starts_with('{') || t.starts_with('[') {
            return Some(if t.contains("\"resourceType\"") {
                Format::Fhir
            } else {
                Format::OpenMHealth
            });
        }
        let first = t.lines().next().unwrap_or("");
        (first.starts_with("Id,") || first.contains("ActivityDate") || first.contains("WeightKg"))
            .then_some(Format::Fitbit)
    }
}

/// What one sample or refusal read was.
pub type Outcome = Result<Sample, Rejected>;

/// How much of an input [`read`] may hold at once for the JSON formats (the streamed ones,
/// Apple's and Fitbit's, hold a record at a time).
pub const MAX_JSON_BYTES: u64 = 256 * 1024 * 1024;

/// Reads `input` as `format`, handing each sample (or refusal) to `emit`. `source` names where
/// samples that do not say come from (`fitbit`, the app that sent them …); `zone` is the time
/// zone of formats without one (Fitbit's); `now` bounds the times. An error when the input is
/// not that format at all past some point (what was read before was handed over).
pub fn read<R: BufRead>(
    format: Format,
    input: R,
    source: &str,
    zone: &jiff::tz::TimeZone,
    now: jiff::Timestamp,
    mut emit: impl FnMut(Outcome),
) -> Result<(), String> {
    match format {
        Format::AppleHealth => apple::read(input, now, emit),
        Format::Fitbit => fitbit::read(input, zone, now, emit).map(|_| ()),
        Format::OpenMHealth | Format::Fhir => {
            let mut text = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(input, MAX_JSON_BYTES + 1),
                &mut text,
            )
            .map_err(|e| format!("the input could not be read: {e}"))?;
            if text.len() as u64 > MAX_JSON_BYTES {
                return Err(format!(
                    "a JSON input is read whole and may be at most {} MB; split it",
                    MAX_JSON_BYTES / 1024 / 1024
                ));
            }
            let doc: Value = serde_json::from_slice(&text).map_err(|e| format!("not JSON: {e}"))?;
            if format == Format::Fhir {
                read_fhir(&doc, source, now, &mut emit)
            } else {
                read_omh(&doc, source, now, &mut emit);
                Ok(())
            }
        }
    }
}

fn hand(at: String, got: Result<Vec<Sample>, Reason>, emit: &mut impl FnMut(Outcome)) {
    match got {
        Ok(samples) => samples.into_iter().for_each(|s| emit(Ok(s))),
        Err(reason) => emit(Err(Rejected { at, reason })),
    }
}

fn read_fhir(
    doc: &Value,
    source: &str,
    now: jiff::Timestamp,
    emit: &mut impl FnMut(Outcome),
) -> Result<(), String> {
    match doc {
        Value::Array(items) => {
            for (i, o) in items.iter().enumerate() {
                hand(format!("[{i}]"), fhir::samples(o, source, now), emit);
            }
        }
        _ if doc.get("resourceType").and_then(Value::as_str) == Some("Bundle") => {
            let entries = doc.get("entry").and_then(Value::as_array);
            for (i, e) in entries.into_iter().flatten().enumerate() {
                let at = format!("Bundle.entry[{i}].resource");
                match e.get("resource") {
                    Some(r) => hand(at, fhir::samples(r, source, now), emit),
                    None => emit(Err(Rejected {
                        at,
                        reason: Reason::Malformed("the entry has no resource".into()),
                    })),
                }
            }
        }
        _ if doc.get("resourceType").is_some() => {
            hand("Observation".into(), fhir::samples(doc, source, now), emit)
        }
        _ => return Err("not a FHIR Observation, Bundle or array of them".into()),
    }
    Ok(())
}

/// One data point, or an array of them.
fn read_omh(doc: &Value, source: &str, now: jiff::Timestamp, emit: &mut impl FnMut(Outcome)) {
    match doc {
        Value::Array(items) => {
            for (i, p) in items.iter().enumerate() {
                hand(
                    format!("data point {}", i + 1),
                    omh::data_point(p, source, now),
                    emit,
                );
            }
        }
        _ => hand("data point".into(), omh::data_point(doc, source, now), emit),
    }
}

/// The most refusals a summary lists one by one (all are counted).
pub const LISTED: usize = 100;

/// The summary of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Samples read and taken.
    pub samples: u64,
    /// Of those: new, replacing a different one, or already kept.
    pub added: u64,
    pub replaced: u64,
    pub unchanged: u64,
    /// Refusals per reason ([`Reason::kind`]).
    pub rejected: BTreeMap<&'static str, u64>,
    /// The first [`LISTED`] refusals.
    pub problems: Vec<Rejected>,
    /// Why the input stopped being read before its end, if it did.
    pub stopped: Option<String>,
}

impl Tally {
    /// Counts a refusal.
    pub fn reject(&mut self, r: Rejected) {
        *self.rejected.entry(r.reason.kind()).or_default() += 1;
        if self.problems.len() < LISTED {
            self.problems.push(r);
        }
    }

    /// How many were refused.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// One line per figure, for people (`kizuna phr import`).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} measurements taken: {} new, {} replacing a different value, {} already kept",
            self.samples, self.added, self.replaced, self.unchanged
        )];
        if self.rejected.is_empty() {
            out.push("nothing refused".into());
        } else {
            let parts: Vec<String> = self
                .rejected
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            out.push(format!(
                "{} refused: {}",
                self.rejected_total(),
                parts.join(", ")
            ));
        }
        if let Some(s) = &self.stopped {
            out.push(format!("reading stopped early: {s}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_known_by_their_first_bytes() {
        assert_eq!(
            Format::sniff(b"<?xml version=\"1.0\"?>\n<!DOCTYPE HealthData [\n"),
            Some(Format::AppleHealth)
        );
        assert_eq!(
            Format::sniff(b"Id,ActivityDate,TotalSteps\r\n"),
            Some(Format::Fitbit)
        );
        assert_eq!(
            Format::sniff(b"{\"resourceType\": \"Bundle\""),
            Some(Format::Fhir)
        );
        assert_eq!(
            Format::sniff(b"[{\"header\": {}, \"body\": {}}]"),
            Some(Format::OpenMHealth)
        );
        assert_eq!(Format::sniff(b"%PDF-1.4"), None);
    }

    #[test]
    fn a_bundle_of_observations_is_read_entry_by_entry() {
        let bundle = serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "effectiveDateTime": "2025-05-01T07:30:00+09:00",
                "valueQuantity": {"value": 62, "code": "/min"}}},
            {"resource": {"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "effectiveDateTime": "2025-05-01T07:31:00+09:00",
                "valueQuantity": {"value": -3, "code": "/min"}}},
            {"fullUrl": "urn:uuid:x"}]});
        let text = bundle.to_string();
        let mut tally = Tally::default();
        read(
            Format::Fhir,
            text.as_bytes(),
            "app",
            &jiff::tz::TimeZone::UTC,
            "2026-01-01T00:00:00Z".parse().unwrap(),
            |o| match o {
                Ok(_) => tally.samples += 1,
                Err(r) => tally.reject(r),
            },
        )
        .unwrap();
        assert_eq!(tally.samples, 1);
        assert_eq!(tally.rejected.get("impossible value"), Some(&1));
        assert_eq!(tally.rejected.get("malformed"), Some(&1));
        assert_eq!(tally.problems[1].at, "Bundle.entry[2].resource");
    }
}
