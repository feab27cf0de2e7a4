//! The search workloads: the queries issue 3 sets targets for, on the synthetic data set the
//! upload workload loads (same `--patients` and `--seed`), so they can be run against any server
//! holding that data.
//!
//! Query values come from the data itself: the most frequent Observation codes, the patients'
//! family names, and the patients with the most resources (for `$everything`), read from the
//! first [`SAMPLED_PATIENTS`] synthetic patients.

use crate::{Count, Progress, Request, timed};
use anyhow::{Result, bail};
use kizuna_synth::Synth;
use std::collections::HashMap;
use std::sync::Arc;

/// Patients whose data the query values are taken from.
const SAMPLED_PATIENTS: usize = 1000;
/// Observation codes searched (the most frequent first).
const CODES: usize = 8;
/// Patients `$everything` is asked for (those with the most resources).
const EVERYTHING_PATIENTS: usize = 10;

/// One search workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// First page (50) of `Observation?code=` one LOINC code.
    Code,
    /// `Observation?code=…&_summary=count`: counting every hit.
    Count,
    /// First page of one patient's Observations, newest first.
    PatientByDate,
    /// `Observation?subject:Patient.family=…`: a chained query.
    Chain,
    /// `Patient?_has:Observation:subject:code=…`: a reverse chain.
    Has,
    /// `Patient/{id}/$everything` for the patients with the most resources.
    Everything,
    /// `Patient/{id}/$summary` (the six information as a document) for the same patients.
    Summary,
}

impl SearchKind {
    pub const ALL: [SearchKind; 7] = [
        SearchKind::Code,
        SearchKind::Count,
        SearchKind::PatientByDate,
        SearchKind::Chain,
        SearchKind::Has,
        SearchKind::Everything,
        SearchKind::Summary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SearchKind::Code => "search-code",
            SearchKind::Count => "search-count",
            SearchKind::PatientByDate => "search-patient",
            SearchKind::Chain => "search-chain",
            SearchKind::Has => "search-has",
            SearchKind::Everything => "everything",
            SearchKind::Summary => "summary",
        }
    }
}

/// Values the queries use, read off the synthetic data.
pub struct Sample {
    codes: Vec<String>,
    patients: Vec<String>,
    families: Vec<String>,
    /// (patient id, resources in its compartment)
    largest: Vec<(String, usize)>,
}

impl Sample {
    pub fn of(synth: &Synth, patients: usize) -> Result<Sample> {
        let mut codes: HashMap<String, usize> = HashMap::new();
        let mut families: HashMap<String, usize> = HashMap::new();
        let mut ids = Vec::new();
        let mut sizes = Vec::new();
        for i in 0..patients.min(SAMPLED_PATIENTS) {
            let resources = synth.patient(i);
            let mut id = None;
            for r in &resources {
                match r["resourceType"].as_str() {
                    Some("Patient") => {
                        id = r["id"].as_str().map(str::to_string);
                        if let Some(f) = r["name"][0]["family"].as_str() {
                            *families.entry(f.to_string()).or_default() += 1;
                        }
                    }
                    Some("Observation") => {
                        if let Some(c) = r["code"]["coding"][0]["code"].as_str() {
                            *codes.entry(c.to_string()).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(id) = id {
                sizes.push((id.clone(), resources.len()));
                ids.push(id);
            }
        }
        if ids.is_empty() || codes.is_empty() {
            bail!("the search workloads need synthetic data: use --patients of at least 1");
        }
        let by_count = |m: HashMap<String, usize>| -> Vec<String> {
            let mut v: Vec<(String, usize)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v.into_iter().map(|(k, _)| k).collect()
        };
        let mut codes = by_count(codes);
        codes.truncate(CODES);
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        sizes.truncate(EVERYTHING_PATIENTS);
        Ok(Sample {
            codes,
            patients: ids,
            families: by_count(families),
            largest: sizes,
        })
    }

    /// The `n`th request of workload `kind`.
    fn request(&self, kind: SearchKind, n: u64) -> Request {
        // Values are percent-encoded (`|`, Japanese family names).
        let pick = |list: &[String]| -> String {
            let v = &list[(n.wrapping_mul(2_654_435_761) as usize) % list.len()];
            form_urlencoded::byte_serialize(v.as_bytes()).collect()
        };
        let loinc = |code: String| format!("http%3A%2F%2Floinc.org%7C{code}");
        let (path, count) = match kind {
            SearchKind::Code => (
                format!("Observation?code={}&_count=50", loinc(pick(&self.codes))),
                Count::Entries,
            ),
            SearchKind::Count => (
                format!(
                    "Observation?code={}&_summary=count",
                    loinc(pick(&self.codes))
                ),
                Count::Total,
            ),
            SearchKind::PatientByDate => (
                format!(
                    "Observation?subject=Patient/{}&_sort=-date&_count=50",
                    pick(&self.patients)
                ),
                Count::Entries,
            ),
            SearchKind::Chain => (
                format!(
                    "Observation?subject:Patient.family={}&_count=50",
                    pick(&self.families)
                ),
                Count::Entries,
            ),
            SearchKind::Has => (
                format!(
                    "Patient?_has:Observation:subject:code={}&_count=50",
                    loinc(pick(&self.codes))
                ),
                Count::Entries,
            ),
            SearchKind::Everything => {
                let (id, _) = &self.largest[n as usize % self.largest.len()];
                (format!("Patient/{id}/$everything"), Count::Entries)
            }
            SearchKind::Summary => {
                let (id, _) = &self.largest[n as usize % self.largest.len()];
                (format!("Patient/{id}/$summary"), Count::Entries)
            }
        };
        Request {
            method: "GET",
            path,
            body: None,
            count,
        }
    }
}

/// Runs one search workload on `connections` connections for `duration`.
pub async fn run(
    kind: SearchKind,
    sample: Arc<Sample>,
    connections: usize,
    duration: std::time::Duration,
    base: &crate::client::Base,
    progress: Arc<dyn Progress>,
) -> Result<crate::Figures> {
    timed(
        kind.name(),
        connections,
        duration,
        base,
        progress,
        move |n| sample.request(kind, n),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_synth::Config;

    #[test]
    fn queries_use_values_found_in_the_data() {
        let synth = Synth::new(Config {
            seed: 1,
            patients: 20,
            ..Config::default()
        });
        let sample = Sample::of(&synth, 20).unwrap();
        assert!(!sample.codes.is_empty() && sample.codes.len() <= CODES);
        assert_eq!(sample.patients.len(), 20);
        assert!(sample.largest.iter().all(|(_, n)| *n > 1));
        for kind in SearchKind::ALL {
            let r = sample.request(kind, 7);
            assert_eq!(r.method, "GET");
            assert!(
                r.path.is_ascii() && !r.path.contains(['|', ' ']),
                "{}",
                r.path
            );
        }
        let r = sample.request(SearchKind::Chain, 0);
        assert!(r.path.starts_with("Observation?subject:Patient.family="));
    }
}
