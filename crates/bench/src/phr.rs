//! Personal-health-record benchmarks.
//!
//! Over HTTP (Kizuna's `Patient/{id}/$phr-ingest` and `$phr-trend`, any Kizuna's URL):
//! `phr-ingest` posts FHIR Bundles of 1,000 heart-rate Observations from several clients;
//! `phr-trend` asks a patient's daily trend over and over.
//!
//! In process ([`in_process`], `kizuna phr bench`): minute-level steps for one patient over
//! some years, ingested through the records layer into the embedded store or PostgreSQL in
//! transactions of 20,000; the rate of a raw binary `COPY` of the same rows into a table of the
//! same shape (PostgreSQL's practical limit); and the latency of a daily trend over all of it.

use crate::client::{Base, Conn};
use crate::{Count, Figures, Plan, Progress, Request, timed};
use anyhow::{Result, bail};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// The Patient the HTTP workloads write to and read.
pub const PATIENT: &str = "bench-phr";
/// Samples per HTTP request.
pub const BATCH: u64 = 1_000;

/// Makes sure the benchmark's Patient exists.
async fn patient(base: &Base) -> Result<()> {
    let mut conn = Conn::open(base).await?;
    let body = json!({"resourceType": "Patient", "id": PATIENT, "name": [{"family": "ベンチ"}]});
    let (status, b) = conn
        .request(
            "PUT",
            &format!("Patient/{PATIENT}"),
            Some(serde_json::to_vec(&body)?),
        )
        .await?;
    if status >= 300 {
        bail!(
            "the benchmark's Patient could not be written (HTTP {status}): {}",
            String::from_utf8_lossy(&b)
        );
    }
    Ok(())
}

/// `phr-ingest`: Bundles of [`BATCH`] heart-rate Observations, one minute apart, each request
/// a new stretch of time: to Kizuna's `$phr-ingest` when `native`, else (another server) as a
/// `transaction` Bundle creating each Observation, the standard way to send the same readings.
pub(crate) async fn ingest(
    plan: &Plan,
    base: &Base,
    progress: Arc<dyn Progress>,
    native: bool,
) -> Result<Figures> {
    patient(base).await?;
    let start = jiff::Timestamp::from_second(1_577_836_800)?; // 2020-01-01T00:00:00Z
    let (name, path) = if native {
        (
            "phr-ingest",
            format!("Patient/{PATIENT}/$phr-ingest?format=fhir"),
        )
    } else {
        ("phr-ingest (as a transaction)", String::new())
    };
    timed(name, plan.upload_clients, plan.duration, base, progress, move |n| {
        let entries: Vec<serde_json::Value> = (0..BATCH)
            .map(|i| {
                let minute = (n * BATCH + i) as i64;
                let at = start
                    .checked_add(jiff::SignedDuration::from_mins(minute))
                    .unwrap_or(start)
                    .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string();
                let mut o = json!({"resourceType": "Observation", "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "effectiveDateTime": at, "device": {"display": "bench watch"},
                    "valueQuantity": {"value": 55 + (minute % 60), "system": "http://unitsofmeasure.org", "code": "/min"}});
                if native {
                    json!({"resource": o})
                } else {
                    o["subject"] = json!({"reference": format!("Patient/{PATIENT}")});
                    json!({"resource": o, "request": {"method": "POST", "url": "Observation"}})
                }
            })
            .collect();
        let kind = if native { "collection" } else { "transaction" };
        let bundle = json!({"resourceType": "Bundle", "type": kind, "entry": entries});
        Request {
            method: "POST",
            path: path.clone(),
            body: Some(serde_json::to_vec(&bundle).unwrap_or_default()),
            count: Count::Fixed(BATCH),
        }
    })
    .await
}

/// `phr-trend`: the daily heart-rate trend of the benchmark's Patient over 2020–2024.
pub(crate) async fn trend(
    plan: &Plan,
    base: &Base,
    progress: Arc<dyn Progress>,
) -> Result<Figures> {
    let path = format!(
        "Patient/{PATIENT}/$phr-trend?code=8867-4&start=2020-01-01&end=2024-12-31&resolution=day"
    );
    timed(
        "phr-trend",
        plan.search_connections,
        plan.duration,
        base,
        progress,
        move |_| Request {
            method: "GET",
            path: path.clone(),
            body: None,
            count: Count::Fixed(1),
        },
    )
    .await
}

/// Minute-level steps over `days` days from 2020-01-01 (JST): each minute's count from a fixed
/// pseudo-random walk, so runs are comparable.
pub fn minute_steps(days: u64) -> impl Iterator<Item = kizuna_phr::Sample> {
    let start = jiff::Timestamp::from_second(1_577_804_400).unwrap_or(jiff::Timestamp::UNIX_EPOCH); // 2020-01-01T00:00+09:00
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..days * 1440).map(move |m| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let t = start
            .checked_add(jiff::SignedDuration::from_mins(m as i64))
            .unwrap_or(start);
        kizuna_phr::Sample {
            measure: kizuna_phr::Measure::Steps,
            start: t,
            end: t.checked_add(jiff::SignedDuration::from_mins(1)).ok(),
            offset_seconds: 9 * 3600,
            value: (state % 120) as f64,
            source: "bench:watch".into(),
        }
    })
}

/// What [`in_process`] measured.
#[derive(Debug, Clone)]
pub struct InProcess {
    pub samples: u64,
    pub ingest_seconds: f64,
    /// The same rows by raw binary COPY (PostgreSQL only): samples and seconds.
    pub copy: Option<(u64, f64)>,
    /// Latencies of the daily trend over the whole period, in milliseconds (sorted).
    pub trend_ms: Vec<f64>,
    /// Buckets the trend answered.
    pub trend_points: usize,
}

impl InProcess {
    pub fn ingest_rate(&self) -> f64 {
        self.samples as f64 / self.ingest_seconds.max(1e-9)
    }
    pub fn copy_rate(&self) -> Option<f64> {
        self.copy.map(|(n, s)| n as f64 / s.max(1e-9))
    }
    pub fn trend_quantile(&self, q: f64) -> f64 {
        let i = ((self.trend_ms.len() as f64 - 1.0) * q).round() as usize;
        self.trend_ms.get(i).copied().unwrap_or(0.0)
    }
}

/// Ingests `years` of minute-level steps for Patient `patient` (which must exist) through
/// `records` in transactions of `batch`, then times `runs` daily trends over them; with
/// `postgres` (the same database's URL), also times a raw COPY of the same rows.
pub async fn in_process(
    records: &kizuna_records::Records,
    patient: &str,
    years: u64,
    batch: usize,
    runs: usize,
    postgres: Option<&str>,
    progress: impl Fn(u64),
) -> Result<InProcess> {
    let days = years * 365 + years / 4;
    let total = days * 1440;
    let mut samples = minute_steps(days);
    let started = Instant::now();
    let mut done = 0u64;
    loop {
        let chunk: Vec<_> = samples.by_ref().take(batch).collect();
        if chunk.is_empty() {
            break;
        }
        done += chunk.len() as u64;
        records
            .phr_ingest(patient, chunk)
            .await
            .map_err(|f| anyhow::anyhow!("ingest failed: {:?}", f.issues))?;
        progress(done);
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    let copy = match postgres {
        Some(url) => Some(raw_copy(url, days).await?),
        None => None,
    };
    let first = jiff::civil::date(2020, 1, 1);
    let last = first
        .checked_add(jiff::Span::new().days(days as i64 - 1))
        .unwrap_or(first);
    let mut trend_ms = Vec::with_capacity(runs);
    let mut trend_points = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let trend = records
            .phr_trend(
                &[patient.to_string()],
                kizuna_phr::Measure::Steps,
                kizuna_phr::trend::Resolution::Day,
                (first, last),
                9 * 3600,
            )
            .await
            .map_err(|f| anyhow::anyhow!("trend failed: {:?}", f.issues))?;
        trend_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        trend_points = trend.points.len();
    }
    trend_ms.sort_by(f64::total_cmp);
    debug_assert_eq!(done, total);
    Ok(InProcess {
        samples: done,
        ingest_seconds,
        copy,
        trend_ms,
        trend_points,
    })
}

/// A raw binary COPY of `days` of minute rows into a fresh table shaped like the store's
/// (same columns and primary key), in one transaction: samples and seconds.
async fn raw_copy(url: &str, days: u64) -> Result<(u64, f64)> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::Type;
    let (mut client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_copy;
             CREATE TABLE bench_copy (series_key BIGINT NOT NULL, start_us BIGINT NOT NULL,
               end_us BIGINT, offset_s INTEGER NOT NULL, day INTEGER NOT NULL,
               value DOUBLE PRECISION NOT NULL, PRIMARY KEY (series_key, start_us))",
        )
        .await?;
    let started = Instant::now();
    let tx = client.transaction().await?;
    let sink = tx
        .copy_in("COPY bench_copy (series_key, start_us, end_us, offset_s, day, value) FROM STDIN BINARY")
        .await?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT4,
            Type::INT4,
            Type::FLOAT8,
        ],
    );
    futures::pin_mut!(writer);
    let mut n = 0u64;
    for s in minute_steps(days) {
        let start = s.start.as_microsecond();
        let end = s.end.map(|e| e.as_microsecond());
        let day = ((start.div_euclid(1_000_000) + 9 * 3600).div_euclid(86_400)) as i32;
        writer
            .as_mut()
            .write(&[&1i64, &start, &end, &s.offset_seconds, &day, &s.value])
            .await?;
        n += 1;
    }
    writer.finish().await?;
    tx.commit().await?;
    let secs = started.elapsed().as_secs_f64();
    client.batch_execute("DROP TABLE bench_copy").await?;
    Ok((n, secs))
}

/// What [`apple_export`] wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppleExport {
    pub bytes: u64,
    /// `Record` elements in all.
    pub records: u64,
    /// Of those, the ones Kizuna keeps (steps and heart rate; distance walked is not kept).
    pub kept: u64,
}

/// About how many bytes one minute of [`apple_export`] takes.
const APPLE_MINUTE_BYTES: u64 = 800;

/// Writes a synthetic Apple Health `export.xml` of at least `bytes` bytes to `out`, shaped like
/// a real one (the `HealthData` root, `ExportDate`, `Me`, then `Record`s): minute by minute at
/// JST up to about 2025-12-31, a watch's step count, heart rate and distance walked (the last
/// not kept), values from a fixed pseudo-random walk so runs are comparable. (A file of 1 GB
/// covers about 2.4 years; of 50 GB, about 120.)
pub fn apple_export(mut out: impl std::io::Write, bytes: u64) -> std::io::Result<AppleExport> {
    let mut n = AppleExport::default();
    let put = |out: &mut dyn std::io::Write, text: &str, n: &mut AppleExport| {
        n.bytes += text.len() as u64;
        out.write_all(text.as_bytes())
    };
    put(
        &mut out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<HealthData locale=\"ja_JP\">\n \
         <ExportDate value=\"2026-11-21 09:00:00 +0900\"/>\n \
         <Me HKCharacteristicTypeIdentifierDateOfBirth=\"1970-05-01\" \
         HKCharacteristicTypeIdentifierBiologicalSex=\"HKBiologicalSexFemale\"/>\n",
        &mut n,
    )?;
    let minutes = (bytes / APPLE_MINUTE_BYTES + 1).min(i64::MAX as u64) as i64;
    let end = jiff::civil::datetime(2025, 12, 31, 0, 0, 0, 0);
    let start = end
        .checked_sub(jiff::SignedDuration::from_mins(minutes))
        .unwrap_or(jiff::civil::datetime(1900, 1, 1, 0, 0, 0, 0));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut minute = 0i64;
    let mut line = String::with_capacity(1024);
    while n.bytes < bytes {
        let at = start
            .checked_add(jiff::SignedDuration::from_mins(minute))
            .unwrap_or(start);
        let next = at
            .checked_add(jiff::SignedDuration::from_mins(1))
            .unwrap_or(at);
        let (t0, t1) = (
            at.strftime("%Y-%m-%d %H:%M:%S +0900").to_string(),
            next.strftime("%Y-%m-%d %H:%M:%S +0900").to_string(),
        );
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let steps = state % 120;
        let rate = 55 + state % 60;
        line.clear();
        use std::fmt::Write as _;
        let _ = write!(
            line,
            " <Record type=\"HKQuantityTypeIdentifierStepCount\" sourceName=\"Apple Watch\" sourceVersion=\"10.1\" unit=\"count\" creationDate=\"{t1}\" startDate=\"{t0}\" endDate=\"{t1}\" value=\"{steps}\"/>\n \
             <Record type=\"HKQuantityTypeIdentifierHeartRate\" sourceName=\"Apple Watch\" sourceVersion=\"10.1\" unit=\"count/min\" creationDate=\"{t0}\" startDate=\"{t0}\" endDate=\"{t0}\" value=\"{rate}\">\n  \
             <MetadataEntry key=\"HKMetadataKeyHeartRateMotionContext\" value=\"0\"/>\n </Record>\n \
             <Record type=\"HKQuantityTypeIdentifierDistanceWalkingRunning\" sourceName=\"Apple Watch\" sourceVersion=\"10.1\" unit=\"km\" creationDate=\"{t1}\" startDate=\"{t0}\" endDate=\"{t1}\" value=\"{:.3}\"/>\n",
            steps as f64 * 0.0007
        );
        put(&mut out, &line, &mut n)?;
        n.records += 3;
        n.kept += 2;
        minute += 1;
    }
    put(&mut out, "</HealthData>\n", &mut n)?;
    out.flush()?;
    Ok(n)
}

/// The peak resident memory of this process so far, in bytes (Linux; None elsewhere).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_apple_export_reads_back_record_for_record() {
        let mut xml = Vec::new();
        let written = apple_export(&mut xml, 1_000_000).unwrap();
        assert_eq!(written.bytes, xml.len() as u64);
        assert!(written.bytes >= 1_000_000 && written.records > 3_000);
        let (mut kept, mut refused) = (0u64, 0u64);
        kizuna_phr::apple::read(&xml[..], jiff::Timestamp::now(), |o| match o {
            Ok(_) => kept += 1,
            Err(r) => {
                assert_eq!(r.reason.kind(), "not kept", "{r:?}");
                refused += 1
            }
        })
        .unwrap();
        assert_eq!(
            (kept, refused),
            (written.kept, written.records - written.kept)
        );
    }
}
