//! Personal health records: the measurements patients bring from their own devices and apps
//! (`kizuna-phr` samples), kept in the store's time series (one series per patient, measure and
//! source) rather than as one Observation per minute, and read back as trends or as FHIR
//! Observations. Who may add to or read whose records is the scope's [`crate::PhrAccess`]
//! (decided by `kizuna-access`: a patient their own, an institution what was shared with it).
//! [`search`] answers them through the ordinary FHIR search and read of Observations.

pub mod search;

use crate::{Failure, Records, Result};
use kizuna_fhir::IssueCode;
use kizuna_phr::import::{Format, Tally};
use kizuna_phr::trend::{self, Part, Resolution};
use kizuna_phr::{Measure, Sample};
use kizuna_store::series::{self, Ingested, Period, Point, Series, SeriesWrite};
use serde_json::Value;
use std::collections::BTreeMap;

/// The most measurements one trend at `sample` resolution reads per source, and the largest
/// page of Observations.
pub const MAX_POINTS: usize = 10_000;

/// How many samples of an import go into one transaction.
pub const IMPORT_BATCH: usize = 20_000;

/// A series' code: `http://loinc.org|{code}`.
fn series_code(m: Measure) -> String {
    format!("{}|{}", kizuna_phr::fhir::LOINC, m.loinc())
}

/// The measure of a series' code (`http://loinc.org|{code}`).
pub fn measure_of(code: &str) -> Option<Measure> {
    code.strip_prefix(kizuna_phr::fhir::LOINC)
        .and_then(|c| c.strip_prefix('|'))
        .and_then(Measure::from_loinc)
}

/// A trend of one measure.
#[derive(Debug, Clone)]
pub struct Trend {
    pub measure: Measure,
    pub resolution: Resolution,
    pub points: Vec<TrendPoint>,
    /// The sources it draws on.
    pub sources: Vec<String>,
    /// Whether some measurements were left out (more than [`MAX_POINTS`] per source at `sample`
    /// resolution): ask for a coarser one.
    pub truncated: bool,
}

/// One point of a trend: a bucket (its start, at the offset asked for) or one measurement (at
/// the offset it was taken at).
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub start: jiff::Timestamp,
    pub offset_seconds: i32,
    pub count: u64,
    pub value: f64,
    pub range: Option<(f64, f64)>,
}

/// A stored measurement and where it is kept.
#[derive(Debug, Clone)]
pub struct Measured {
    pub series: Series,
    pub sample: Sample,
}

fn forbidden(patient: &str, write: bool) -> Failure {
    Failure::new(
        403,
        IssueCode::Forbidden,
        None,
        if write {
            format!(
                "only the patient (through their card) adds to the personal health records of Patient/{patient}"
            )
        } else {
            format!(
                "Patient/{patient} has not shared their personal health records with you; the patient can share them from their portal or card"
            )
        },
    )
}

fn sample_of(s: &Series, p: &Point) -> Option<Sample> {
    Some(Sample {
        measure: measure_of(&s.code)?,
        start: jiff::Timestamp::from_microsecond(p.start).ok()?,
        end: p
            .end
            .and_then(|e| jiff::Timestamp::from_microsecond(e).ok()),
        offset_seconds: p.offset,
        value: p.value,
        source: s.source.clone(),
    })
}

fn micros(t: jiff::Timestamp) -> i64 {
    t.as_microsecond()
}

impl Records {
    /// Whether the caller may read (or, with `write`, add to) `patient`'s personal health records.
    pub fn phr_allowed(&self, patient: &str, write: bool) -> bool {
        match &self.scope().phr {
            None => true,
            Some(a) => {
                let list = if write { &a.write } else { &a.read };
                list.iter().any(|p| p == patient)
            }
        }
    }

    /// Adds `samples` to Patient `patient`'s records in one transaction (a sample already kept
    /// is kept once; one kept with another value is replaced).
    pub async fn phr_ingest(&self, patient: &str, samples: Vec<Sample>) -> Result<Ingested> {
        if !self.phr_allowed(patient, true) {
            return Err(forbidden(patient, true));
        }
        match self.store().read("Patient", patient).await? {
            Some(v) if !v.is_deleted() => {}
            _ => {
                return Err(Failure::new(
                    404,
                    IssueCode::NotFound,
                    None,
                    format!("Patient/{patient} is not known"),
                ));
            }
        }
        let mut groups: BTreeMap<(Measure, String), Vec<Point>> = BTreeMap::new();
        for s in samples {
            groups
                .entry((s.measure, s.source))
                .or_default()
                .push(Point {
                    start: micros(s.start),
                    end: s.end.map(micros),
                    offset: s.offset_seconds,
                    value: s.value,
                });
        }
        let writes = groups
            .into_iter()
            .map(|((m, source), points)| SeriesWrite {
                patient: patient.to_string(),
                code: series_code(m),
                unit: m.unit().to_string(),
                source,
                points,
            })
            .collect();
        Ok(self.store().ingest_series(writes).await?)
    }

    /// Reads `input` as `format` and adds what it holds to Patient `patient`'s records, in
    /// transactions of [`IMPORT_BATCH`] samples as it reads (so a file of any size streams);
    /// `progress` sees the tally after each. Refusals are counted, never fatal.
    #[allow(clippy::too_many_arguments)]
    pub async fn phr_import<R: std::io::BufRead + Send + 'static>(
        &self,
        patient: &str,
        format: Format,
        input: R,
        source: &str,
        zone: jiff::tz::TimeZone,
        now: jiff::Timestamp,
        mut progress: impl FnMut(&Tally),
    ) -> Result<Tally> {
        if !self.phr_allowed(patient, true) {
            return Err(forbidden(patient, true));
        }
        /// Samples and refusals go over in batches, so the reader and the writer do not wake
        /// each other for every record.
        enum Msg {
            Batch(Vec<Sample>, Vec<kizuna_phr::Rejected>),
            Stopped(String),
        }
        const REFUSALS: usize = 1_000;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(4);
        let source = source.to_string();
        let reader = tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(IMPORT_BATCH);
            let mut refused = Vec::new();
            let mut open = true;
            let result = kizuna_phr::import::read(format, input, &source, &zone, now, |o| {
                if !open {
                    return;
                }
                match o {
                    Ok(s) => batch.push(s),
                    Err(r) => refused.push(r),
                }
                // A transaction holds IMPORT_BATCH samples; refusals go ahead on their own.
                if batch.len() >= IMPORT_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(IMPORT_BATCH));
                    open = tx
                        .blocking_send(Msg::Batch(full, std::mem::take(&mut refused)))
                        .is_ok();
                } else if refused.len() >= REFUSALS {
                    open = tx
                        .blocking_send(Msg::Batch(Vec::new(), std::mem::take(&mut refused)))
                        .is_ok();
                }
            });
            if open && !(batch.is_empty() && refused.is_empty()) {
                let _ = tx.blocking_send(Msg::Batch(batch, refused));
            }
            if let Err(e) = result {
                let _ = tx.blocking_send(Msg::Stopped(e));
            }
        });
        let mut tally = Tally::default();
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Batch(batch, refused) => {
                    refused.into_iter().for_each(|r| tally.reject(r));
                    if batch.is_empty() {
                        continue;
                    }
                    tally.samples += batch.len() as u64;
                    let done = self.phr_ingest(patient, batch).await?;
                    tally.added += done.added;
                    tally.replaced += done.replaced;
                    tally.unchanged += done.unchanged;
                    progress(&tally);
                }
                Msg::Stopped(e) => tally.stopped = Some(e),
            }
        }
        reader.await.map_err(|_| {
            Failure::new(
                500,
                IssueCode::Exception,
                None,
                "the reader of the input failed",
            )
        })?;
        progress(&tally);
        Ok(tally)
    }

    /// The series of those of `patients` whose records the caller may read (of `measure`, if
    /// given); an error if it may read none of them.
    pub async fn phr_series(
        &self,
        patients: &[String],
        measure: Option<Measure>,
    ) -> Result<Vec<Series>> {
        let readable: Vec<String> = patients
            .iter()
            .filter(|p| self.phr_allowed(p, false))
            .cloned()
            .collect();
        if readable.is_empty() {
            return Err(forbidden(
                patients.first().map_or("", String::as_str),
                false,
            ));
        }
        Ok(self
            .store()
            .series(readable, measure.map(series_code))
            .await?)
    }

    /// The trend of `measure` for `patients` (a Patient and those the patient index links to it)
    /// from local day `first` to `last` (inclusive) at `resolution`, buckets dated at
    /// `offset_seconds`.
    pub async fn phr_trend(
        &self,
        patients: &[String],
        measure: Measure,
        resolution: Resolution,
        (first, last): (jiff::civil::Date, jiff::civil::Date),
        offset_seconds: i32,
    ) -> Result<Trend> {
        let all = self.phr_series(patients, Some(measure)).await?;
        let keys: Vec<i64> = all.iter().map(|s| s.key).collect();
        let sources = {
            let mut v: Vec<String> = all.iter().map(|s| s.source.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        let offset = jiff::tz::Offset::from_seconds(offset_seconds).map_err(|_| {
            Failure::new(400, IssueCode::Invalid, None, "the offset is out of range")
        })?;
        let zone = jiff::tz::TimeZone::fixed(offset);
        let midnight = |d: jiff::civil::Date| -> Result<jiff::Timestamp> {
            d.to_zoned(zone.clone())
                .map(|z| z.timestamp())
                .map_err(|_| Failure::new(400, IssueCode::Invalid, None, "a date is out of range"))
        };
        let (d0, d1) = (series::day_number(first), series::day_number(last));
        if d1 < d0 {
            return Err(Failure::new(
                400,
                IssueCode::Invalid,
                None,
                "the period ends before it starts",
            ));
        }
        let period = match resolution {
            Resolution::Sample => {
                let end = last.tomorrow().map_err(|_| {
                    Failure::new(400, IssueCode::Invalid, None, "a date is out of range")
                })?;
                let range = (micros(midnight(first)?), micros(midnight(end)?));
                let points = self
                    .store()
                    .points(keys.clone(), range, MAX_POINTS, false)
                    .await?;
                let mut per_series: BTreeMap<i64, usize> = BTreeMap::new();
                let mut out: Vec<TrendPoint> = points
                    .iter()
                    .filter_map(|(k, p)| {
                        *per_series.entry(*k).or_default() += 1;
                        Some(TrendPoint {
                            start: jiff::Timestamp::from_microsecond(p.start).ok()?,
                            offset_seconds: p.offset,
                            count: 1,
                            value: p.value,
                            range: None,
                        })
                    })
                    .collect();
                out.sort_by_key(|p| p.start);
                return Ok(Trend {
                    measure,
                    resolution,
                    points: out,
                    sources,
                    truncated: per_series.values().any(|n| *n >= MAX_POINTS),
                });
            }
            Resolution::Day => Period::Day,
            Resolution::Week => Period::Week,
            Resolution::Month => Period::Month,
        };
        let buckets = (period.bucket_of(d0), period.bucket_of(d1));
        let rows = self.store().rollups(keys, period, buckets).await?;
        let parts: Vec<Part> = rows
            .iter()
            .map(|r| Part {
                source: r.series,
                bucket: r.bucket,
                count: r.count,
                sum: r.sum,
                min: r.min,
                max: r.max,
            })
            .collect();
        let mut points = Vec::new();
        for f in trend::combine(measure, &parts) {
            let day = period.days_of(f.bucket).0;
            points.push(TrendPoint {
                start: midnight(series::date_of(day))?,
                offset_seconds,
                count: f.count,
                value: f.value,
                range: f.range,
            });
        }
        Ok(Trend {
            measure,
            resolution,
            points,
            sources,
            truncated: false,
        })
    }
}

/// The id a stored measurement reads as: `phr-{series}-{start in microseconds}` (a start before
/// 1970 is written `m` and its magnitude).
pub fn observation_id(series: i64, start: i64) -> String {
    if start < 0 {
        format!("phr-{series}-m{}", start.unsigned_abs())
    } else {
        format!("phr-{series}-{start}")
    }
}

/// The measurements as FHIR Observations: a systolic and a diastolic reading of one source at
/// one time read as one blood-pressure panel.
pub fn observations(measured: &[Measured]) -> Vec<Value> {
    let diastolic: BTreeMap<(String, &str, jiff::Timestamp), f64> = measured
        .iter()
        .filter(|m| m.sample.measure == Measure::DiastolicBloodPressure)
        .map(|m| {
            (
                (
                    m.series.patient.clone(),
                    m.sample.source.as_str(),
                    m.sample.start,
                ),
                m.sample.value,
            )
        })
        .collect();
    let systolic: std::collections::BTreeSet<(String, &str, jiff::Timestamp)> = measured
        .iter()
        .filter(|m| m.sample.measure == Measure::SystolicBloodPressure)
        .map(|m| {
            (
                m.series.patient.clone(),
                m.sample.source.as_str(),
                m.sample.start,
            )
        })
        .collect();
    measured
        .iter()
        .filter_map(|m| {
            let key = (
                m.series.patient.clone(),
                m.sample.source.as_str(),
                m.sample.start,
            );
            let paired = match m.sample.measure {
                Measure::DiastolicBloodPressure if systolic.contains(&key) => return None,
                Measure::SystolicBloodPressure => diastolic.get(&key).copied(),
                _ => None,
            };
            Some(kizuna_phr::fhir::observation(&kizuna_phr::fhir::Stored {
                id: observation_id(m.series.key, micros(m.sample.start)),
                patient: &m.series.patient,
                sample: &m.sample,
                diastolic: paired,
            }))
        })
        .collect()
}
