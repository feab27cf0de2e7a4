//! Personal health records through the ordinary FHIR API: a search of Observations tagged
//! `urn:kizuna:phr|device` (`Observation?patient=…&_tag=urn:kizuna:phr|device&code=…&date=…`,
//! also in a patient's compartment) and a read of `Observation/phr-{series}-{start}` answer
//! from the time series, not from stored resources. `Patient/{id}/$phr-observations` is the
//! same search over the patient and the Patients linked to them.
//!
//! Pages are newest first (or oldest first with `_sort=date`) and never split the
//! measurements taken at one instant, so a blood-pressure panel is never cut in two; the
//! `_page` cursor is the instant the next page starts before (or after).

use super::{Measured, measure_of, observation_id, observations, sample_of};
use crate::{Failure, Records, Reply, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kizuna_fhir::{Issue, IssueCode};
use kizuna_phr::Measure;
use kizuna_phr::fhir::{BLOOD_PRESSURE_PANEL, LOINC, PHR_TAG};
use kizuna_search::Handling;
use kizuna_store::series::Series;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The page size when the request gives no `_count`.
const DEFAULT_COUNT: usize = 100;

/// The `_tag` value of a search of personal health records: `urn:kizuna:phr|device`.
fn phr_tag() -> String {
    format!("{}|{}", PHR_TAG.0, PHR_TAG.1)
}

/// Whether `pairs` ask for personal health records: `_tag=urn:kizuna:phr|device`.
pub fn is_phr_search(pairs: &[(String, String)]) -> bool {
    let tag = phr_tag();
    pairs
        .iter()
        .any(|(k, v)| k == "_tag" && v.split(',').any(|t| t == tag))
}

/// The Patients a search of measurements names (the compartment's, else every `patient` or
/// `subject`), for auditing a refused search as concerning them.
pub fn patients_named(pairs: &[(String, String)], compartment: Option<&str>) -> Vec<String> {
    if let Some(owner) = compartment {
        return vec![owner.to_string()];
    }
    pairs
        .iter()
        .filter(|(k, _)| k.starts_with("patient") || k.starts_with("subject"))
        .flat_map(|(_, v)| v.split(','))
        .map(patient_id)
        .filter(|id| crate::check_id(id).is_ok())
        .map(str::to_string)
        .collect()
}

/// A search of measurements, decoded from query pairs.
struct Criteria {
    patients: Vec<String>,
    /// None: every measure.
    measures: Vec<Measure>,
    from: i64,
    to: i64,
    count: usize,
    newest_first: bool,
    /// Where the page starts (exclusive), from `_page`.
    after: Option<i64>,
    /// The pairs that define the search (for `self` and `next` links).
    canonical: Vec<(String, String)>,
    warnings: Vec<Issue>,
}

fn invalid(param: &str, text: impl Into<String>) -> Failure {
    Failure::new(400, IssueCode::Invalid, Some(param.into()), text)
}

/// The measures a `code` value names (`[http://loinc.org|]code`, comma-separated; the
/// blood-pressure panel stands for its two readings).
pub fn measures_of(value: &str) -> Result<Vec<Measure>> {
    let mut out = Vec::new();
    for token in value.split(',') {
        let code = match token.split_once('|') {
            Some((LOINC, c)) | Some(("", c)) => c,
            Some((system, _)) => {
                return Err(invalid(
                    "code",
                    format!("personal health records are coded in LOINC ({LOINC}), not {system}"),
                ));
            }
            None => token,
        };
        if code == BLOOD_PRESSURE_PANEL {
            out.extend([
                Measure::SystolicBloodPressure,
                Measure::DiastolicBloodPressure,
            ]);
            continue;
        }
        match Measure::from_loinc(code) {
            Some(m) => out.push(m),
            None => {
                let known: Vec<&str> = Measure::ALL.iter().map(|m| m.loinc()).collect();
                return Err(invalid(
                    "code",
                    format!(
                        "'{code}' is not a measure personal health records keep (they keep LOINC {} and the panel {BLOOD_PRESSURE_PANEL})",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Narrows `[from, to)` by one `date` value (`[eq|ge|gt|le|lt]date`).
fn narrow(value: &str, (from, to): &mut (i64, i64)) -> Result<()> {
    let (prefix, text) = match value.get(..2) {
        Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
        Some("ne" | "sa" | "eb" | "ap") => {
            return Err(Failure::new(
                400,
                IssueCode::NotSupported,
                Some("date".into()),
                format!(
                    "'{value}': personal health records are searched by date with eq, ge, gt, le or lt"
                ),
            ));
        }
        _ => ("eq", value),
    };
    let p = kizuna_search::values::parse_date_period(text).map_err(|e| invalid("date", e))?;
    match prefix {
        "ge" => *from = (*from).max(p.start_micros),
        "gt" => *from = (*from).max(p.end_micros),
        "lt" => *to = (*to).min(p.start_micros),
        "le" => *to = (*to).min(p.end_micros),
        _ => {
            *from = (*from).max(p.start_micros);
            *to = (*to).min(p.end_micros);
        }
    }
    Ok(())
}

/// `Patient/id`, a full URL ending so, or a bare id.
fn patient_id(value: &str) -> &str {
    value
        .rsplit_once("Patient/")
        .map_or(value, |(_, id)| id)
        .split('/')
        .next()
        .unwrap_or("")
}

fn criteria(
    pairs: &[(String, String)],
    compartment: Option<&str>,
    handling: Handling,
) -> Result<Criteria> {
    let mut c = Criteria {
        patients: compartment.map(str::to_string).into_iter().collect(),
        measures: Vec::new(),
        from: i64::MIN,
        to: i64::MAX,
        count: DEFAULT_COUNT,
        newest_first: true,
        after: None,
        canonical: Vec::new(),
        warnings: Vec::new(),
    };
    let mut page = None;
    for (k, v) in pairs {
        match k.as_str() {
            "patient" | "subject" | "patient:Patient" | "subject:Patient" => {
                let ids: Vec<String> = v.split(',').map(|p| patient_id(p).to_string()).collect();
                if ids.iter().any(|i| crate::check_id(i).is_err()) {
                    return Err(invalid(k, format!("'{v}' is not a Patient reference")));
                }
                // In a patient's compartment, only that patient (the conditions hold together).
                if let Some(owner) = compartment
                    && !ids.iter().any(|i| i == owner)
                {
                    return Err(invalid(
                        k,
                        format!("'{v}' does not name Patient/{owner}, whose compartment this is"),
                    ));
                }
                if compartment.is_none() {
                    c.patients.extend(ids);
                }
            }
            "code" => c.measures.extend(measures_of(v)?),
            "date" => {
                let mut range = (c.from, c.to);
                narrow(v, &mut range)?;
                (c.from, c.to) = range;
            }
            "_count" => {
                // More than a page holds is served a page at a time, as FHIR allows.
                c.count = v
                    .parse::<usize>()
                    .map_err(|_| invalid("_count", "_count is a whole number"))?
                    .min(super::MAX_POINTS);
            }
            "_sort" => {
                c.newest_first = match v.as_str() {
                    "-date" => true,
                    "date" => false,
                    _ => {
                        return Err(Failure::new(
                            400,
                            IssueCode::NotSupported,
                            Some("_sort".into()),
                            "personal health records sort by date or -date (the default)",
                        ));
                    }
                };
            }
            "_page" => {
                page = Some(v.clone());
            }
            "_tag" => {
                let tag = phr_tag();
                if v != &tag {
                    return Err(invalid(
                        "_tag",
                        format!("a search of personal health records takes _tag={tag} alone"),
                    ));
                }
            }
            "_format" | "_pretty" => continue,
            other => {
                let text = format!(
                    "a search of personal health records takes patient, code, date, _count and _sort, not '{other}'"
                );
                if handling == Handling::Strict {
                    return Err(Failure::new(
                        400,
                        IssueCode::NotSupported,
                        Some(other.into()),
                        text,
                    ));
                }
                c.warnings.push(Issue::warning(
                    IssueCode::NotSupported,
                    Some(other.into()),
                    format!("{text}; it was ignored"),
                ));
                continue;
            }
        }
        c.canonical.push((k.clone(), v.clone()));
    }
    if c.patients.is_empty() {
        return Err(Failure::new(
            400,
            IssueCode::Required,
            Some("patient".into()),
            "a search of personal health records names the patient (patient=Patient/…)",
        ));
    }
    c.patients.sort();
    c.patients.dedup();
    c.measures.sort();
    c.measures.dedup();
    if let Some(p) = page {
        let at = URL_SAFE_NO_PAD
            .decode(&p)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("phr:").and_then(|n| n.parse::<i64>().ok()));
        match at {
            Some(at) => c.after = Some(at),
            None => {
                return Err(invalid(
                    "_page",
                    "_page is not a cursor of this search; follow the links of the Bundle, or start again without _page",
                ));
            }
        }
    }
    Ok(c)
}

impl Records {
    /// `Observation?…&_tag=urn:kizuna:phr|device` (in Patient `compartment`'s compartment, if
    /// given): a page of the measurements, as a `searchset` Bundle.
    pub(crate) async fn phr_search(
        &self,
        pairs: &[(String, String)],
        compartment: Option<&str>,
        handling: Handling,
        base: &str,
    ) -> Result<Reply> {
        let c = criteria(pairs, compartment, handling)?;
        let link_base = match compartment {
            Some(id) => format!("{base}/Patient/{id}/Observation"),
            None => format!("{base}/Observation"),
        };
        self.phr_bundle(c, &link_base, base).await
    }

    /// `Patient/{id}/$phr-observations?code=&date=&_count=&_sort=`: the same search over
    /// `patients` (the Patient and those linked to it), linked from `link_base`.
    pub async fn phr_observations(
        &self,
        patients: &[String],
        pairs: &[(String, String)],
        link_base: &str,
        base: &str,
    ) -> Result<Reply> {
        for (k, _) in pairs {
            if k.starts_with("patient") || k.starts_with("subject") {
                return Err(invalid(
                    k,
                    "$phr-observations is of its Patient; leave out patient",
                ));
            }
        }
        let mut c = criteria(
            pairs,
            patients.first().map(String::as_str),
            Handling::Strict,
        )?;
        c.patients = patients.to_vec();
        self.phr_bundle(c, link_base, base).await
    }

    async fn phr_bundle(&self, c: Criteria, link_base: &str, base: &str) -> Result<Reply> {
        let mut all = self.phr_series(&c.patients, None).await?;
        if !c.measures.is_empty() {
            all.retain(|s| measure_of(&s.code).is_some_and(|m| c.measures.contains(&m)));
        }
        let (mut from, mut to) = (c.from, c.to);
        match (c.after, c.newest_first) {
            (Some(at), true) => to = to.min(at),
            (Some(at), false) => from = from.max(at.saturating_add(1)),
            (None, _) => {}
        }
        let (found, next) = self
            .phr_page(&all, (from, to), c.count, c.newest_first)
            .await?;
        let query = |extra: Option<String>| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            // `self` is this page (its `_page`), `next` the one after.
            for (k, v) in c
                .canonical
                .iter()
                .filter(|(k, _)| extra.is_none() || k != "_page")
            {
                s.append_pair(k, v);
            }
            if let Some(p) = extra {
                s.append_pair("_page", &p);
            }
            s.finish()
        };
        let mut links =
            vec![json!({"relation": "self", "url": format!("{link_base}?{}", query(None))})];
        if let Some(at) = next {
            let token = URL_SAFE_NO_PAD.encode(format!("phr:{at}"));
            links.push(
                json!({"relation": "next", "url": format!("{link_base}?{}", query(Some(token)))}),
            );
        }
        let entries: Vec<Value> = observations(&found)
            .into_iter()
            .map(|o| {
                let url = format!("{base}/Observation/{}", o["id"].as_str().unwrap_or(""));
                json!({"fullUrl": url, "resource": o, "search": {"mode": "match"}})
            })
            .collect();
        let mut bundle = json!({
            "resourceType": "Bundle",
            "id": uuid::Uuid::new_v4().to_string(),
            "type": "searchset",
        });
        // Known when this first page holds everything (`_count=0` asks for no page at all).
        if c.after.is_none() && next.is_none() && c.count > 0 {
            bundle["total"] = json!(entries.len());
        }
        let mut entries = entries;
        if !c.warnings.is_empty() {
            let outcome = kizuna_fhir::operation_outcome(&c.warnings);
            entries.push(json!({"resource": outcome, "search": {"mode": "outcome"}}));
        }
        bundle["link"] = Value::Array(links);
        bundle["entry"] = Value::Array(entries);
        Ok(Reply {
            status: 200,
            payload: crate::Payload::Json(bundle),
            location: None,
            issues: Vec::new(),
        })
    }

    /// The measurements of `series` starting in `[from, to)`, at least `count` of them unless
    /// there are fewer, newest (or oldest) first, ending at a whole instant; and, if more
    /// follow, the instant the next page starts beyond.
    async fn phr_page(
        &self,
        series: &[Series],
        range: (i64, i64),
        count: usize,
        newest_first: bool,
    ) -> Result<(Vec<Measured>, Option<i64>)> {
        if count == 0 || series.is_empty() || range.0 >= range.1 {
            return Ok((Vec::new(), None));
        }
        let by_key: BTreeMap<i64, &Series> = series.iter().map(|s| (s.key, s)).collect();
        // One more per series than a page: each series has at most one point per instant, so
        // every point at the page's last instant is among these.
        let mut points = self
            .store()
            .points(
                by_key.keys().copied().collect(),
                range,
                count + 1,
                newest_first,
            )
            .await?;
        points.sort_by(|(ka, a), (kb, b)| {
            let by_time = if newest_first {
                b.start.cmp(&a.start)
            } else {
                a.start.cmp(&b.start)
            };
            by_time.then(ka.cmp(kb))
        });
        let mut next = None;
        if points.len() > count {
            let last = points[count - 1].1.start;
            let end = points[count..]
                .iter()
                .position(|(_, p)| p.start != last)
                .map_or(points.len(), |i| count + i);
            if end < points.len() {
                next = Some(last);
            }
            points.truncate(end);
        }
        let out = points
            .iter()
            .filter_map(|(k, p)| {
                let s = by_key.get(k)?;
                Some(Measured {
                    sample: sample_of(s, p)?,
                    series: (*s).clone(),
                })
            })
            .collect();
        Ok((out, next))
    }

    /// `GET Observation/phr-{series}-{start}`: one measurement (a systolic reading with the
    /// diastolic one of the same source and instant, as their panel). Not found unless the
    /// caller may read the patient's records.
    pub(crate) async fn phr_read(&self, id: &str) -> Result<Reply> {
        let missing = || crate::not_found("Observation", id);
        let (key, start) = parse_id(id).ok_or_else(missing)?;
        let patient = self.store().series_owner(key).await?.ok_or_else(missing)?;
        if !self.phr_allowed(&patient, false) {
            return Err(missing());
        }
        let mut all = self
            .phr_series(std::slice::from_ref(&patient), None)
            .await?;
        let Some(series) = all.iter().find(|s| s.key == key).cloned() else {
            return Err(missing());
        };
        // A systolic reading is read with its diastolic pair, as search shows it.
        let measure = measure_of(&series.code);
        all.retain(|s| {
            s.key == key
                || (measure == Some(Measure::SystolicBloodPressure)
                    && s.source == series.source
                    && measure_of(&s.code) == Some(Measure::DiastolicBloodPressure))
        });
        let (found, _) = self
            .phr_page(&all, (start, start.saturating_add(1)), all.len(), true)
            .await?;
        observations(&found)
            .into_iter()
            .find(|o| o["id"].as_str() == Some(&observation_id(key, start)))
            .map(|o| Reply {
                status: 200,
                payload: crate::Payload::Json(o),
                location: None,
                issues: Vec::new(),
            })
            .ok_or_else(missing)
    }
}

/// The series and start of an id written by [`observation_id`].
pub fn parse_id(id: &str) -> Option<(i64, i64)> {
    let (key, start) = id.strip_prefix("phr-")?.split_once('-')?;
    let start = match start.strip_prefix('m') {
        Some(magnitude) => 0i64.checked_sub_unsigned(magnitude.parse().ok()?)?,
        None => start.parse().ok()?,
    };
    let key = key.parse().ok()?;
    // Only the one way each id is written (no `phr-01-5`, `phr-1-+5`, `phr-1-m0`).
    (observation_id(key, start) == id).then_some((key, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back() {
        for (key, start) in [(1, 0), (42, 1_714_512_600_000_000), (7, -86_400_000_000)] {
            assert_eq!(parse_id(&observation_id(key, start)), Some((key, start)));
        }
        assert_eq!(parse_id("phr-x-1"), None);
        assert_eq!(parse_id("example"), None);
        assert_eq!(parse_id("phr-1-m"), None);
        for other in ["phr-01-5", "phr-1-+5", "phr-1-m0", "phr-1--5"] {
            assert_eq!(parse_id(other), None, "{other}");
        }
    }

    #[test]
    fn criteria_decode_and_refuse_what_they_cannot_answer() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let c = criteria(
            &pairs(&[
                ("patient", "Patient/p1"),
                ("_tag", "urn:kizuna:phr|device"),
                ("code", "http://loinc.org|85354-9,29463-7"),
                ("date", "ge2025-05-01"),
                ("date", "lt2025-06"),
                ("_count", "5"),
            ]),
            None,
            Handling::Strict,
        )
        .unwrap();
        assert_eq!(c.patients, ["p1"]);
        assert_eq!(c.measures.len(), 3);
        let (may, june) = (
            "2025-05-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap(),
            "2025-06-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap(),
        );
        // Dates without a zone are at JST.
        assert_eq!(
            (c.from, c.to),
            (
                may.as_microsecond() - 9 * 3_600_000_000,
                june.as_microsecond() - 9 * 3_600_000_000
            )
        );
        assert_eq!(c.count, 5);
        let refused = |list: &[(&str, &str)], handling| {
            criteria(&pairs(list), Some("p1"), handling)
                .err()
                .map(|f| f.status)
        };
        assert_eq!(
            refused(&[("code", "http://snomed.info/sct|1")], Handling::Strict),
            Some(400)
        );
        assert_eq!(refused(&[("code", "1234-5")], Handling::Strict), Some(400));
        assert_eq!(refused(&[("date", "ne2025")], Handling::Strict), Some(400));
        assert_eq!(refused(&[("_count", "x")], Handling::Strict), Some(400));
        assert_eq!(refused(&[("_count", "0")], Handling::Strict), None);
        assert_eq!(
            refused(&[("patient", "p2")], Handling::Strict),
            Some(400),
            "not the compartment's"
        );
        assert_eq!(
            refused(&[("patient", "Patient/p1")], Handling::Strict),
            None
        );
        assert_eq!(
            refused(&[("_page", "garbage")], Handling::Strict),
            Some(400)
        );
        assert_eq!(
            refused(&[("value-quantity", "gt5")], Handling::Strict),
            Some(400)
        );
        assert_eq!(
            refused(&[("value-quantity", "gt5")], Handling::Lenient),
            None
        );
        assert_eq!(
            criteria(&pairs(&[("code", "29463-7")]), None, Handling::Strict)
                .err()
                .map(|f| f.status),
            Some(400),
            "a patient is named"
        );
    }
}
