//! `kizuna-bench`: a load generator for any FHIR R4 server's base URL.
//!
//! Owns the benchmark workloads, so the same load can be run against Kizuna and against another
//! server: bulk upload (transaction Bundles of synthetic resources), single-resource reads under
//! concurrency, and small transactions (1 Patient + 1 Observation per Bundle, as Blaze
//! publishes) from many clients. Each client is one keep-alive HTTP/1.1 connection; latencies go
//! into HDR histograms.
//!
//! Must never: send traffic anywhere but the URL it is given, or run unbounded (every workload
//! stops by count or duration).

mod client;
pub mod imaging;
pub mod phr;
mod search;

pub use search::SearchKind;

use anyhow::{Context, Result, bail};
use client::Conn;
use hdrhistogram::Histogram;
use kizuna_synth::{Config as SynthConfig, Synth};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// FHIR base URL, e.g. `http://127.0.0.1:8080/fhir`.
    pub url: String,
    /// Synthetic patients uploaded by the upload workload (and read by the read workload).
    pub patients: usize,
    pub seed: u64,
    /// Resources per upload Bundle.
    pub bundle_size: usize,
    /// Concurrent connections of the upload workload.
    pub upload_clients: usize,
    /// Concurrent connections of the read workload.
    pub read_connections: usize,
    /// Concurrent clients of the transaction workload.
    pub transaction_clients: usize,
    /// Concurrent connections of each search workload (1: latency without queueing).
    pub search_connections: usize,
    /// How long the read, transaction and search workloads run (each).
    pub duration: Duration,
    pub workloads: Vec<Workload>,
    /// Use only standard FHIR interactions, even against Kizuna (for figures comparable with
    /// another server's: personal health records as a transaction of Observations).
    pub standard_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Upload,
    Read,
    Transaction,
    Search(SearchKind),
    /// Personal health records into Kizuna's `$phr-ingest`, 1,000 per request.
    PhrIngest,
    /// Kizuna's `$phr-trend` of the data `PhrIngest` wrote.
    PhrTrend,
}

impl Workload {
    /// Every workload by its name; `search` stands for all the search workloads.
    pub fn parse(name: &str) -> Option<Vec<Workload>> {
        Some(match name {
            "upload" => vec![Workload::Upload],
            "read" => vec![Workload::Read],
            "transaction" => vec![Workload::Transaction],
            "phr-ingest" => vec![Workload::PhrIngest],
            "phr-trend" => vec![Workload::PhrTrend],
            "search" => SearchKind::ALL.into_iter().map(Workload::Search).collect(),
            other => vec![Workload::Search(
                SearchKind::ALL.into_iter().find(|k| k.name() == other)?,
            )],
        })
    }

    /// The names [`Workload::parse`] knows.
    pub fn names() -> Vec<&'static str> {
        let mut v = vec![
            "upload",
            "read",
            "transaction",
            "search",
            "phr-ingest",
            "phr-trend",
        ];
        v.extend(SearchKind::ALL.iter().map(|k| k.name()));
        v
    }
}

/// One workload's figures.
#[derive(Debug, Clone)]
pub struct Figures {
    pub workload: &'static str,
    pub clients: usize,
    pub operations: u64,
    /// Resources written or read.
    pub resources: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Figures {
    pub fn ops_per_sec(&self) -> f64 {
        self.operations as f64 / self.seconds.max(1e-9)
    }
    pub fn resources_per_sec(&self) -> f64 {
        self.resources as f64 / self.seconds.max(1e-9)
    }
    pub fn to_json(&self) -> Value {
        json!({
            "workload": self.workload, "clients": self.clients, "operations": self.operations,
            "resources": self.resources, "errors": self.errors, "seconds": self.seconds,
            "opsPerSec": self.ops_per_sec(), "resourcesPerSec": self.resources_per_sec(),
            "p50Ms": self.p50_ms, "p90Ms": self.p90_ms, "p99Ms": self.p99_ms, "maxMs": self.max_ms,
        })
    }
}

/// Progress of a running workload, for a progress bar.
pub trait Progress: Send + Sync {
    fn begin(&self, workload: &str, total: Option<u64>);
    fn advance(&self, n: u64);
    fn end(&self);
}

/// Runs the plan's workloads in order and returns their figures.
pub async fn run(plan: &Plan, progress: Arc<dyn Progress>) -> Result<Vec<Figures>> {
    let base = client::Base::parse(&plan.url)?;
    // Is anybody there?
    let mut probe = Conn::open(&base)
        .await
        .with_context(|| format!("cannot connect to {}", plan.url))?;
    let (status, body) = probe.request("GET", "metadata", None).await?;
    let is_capability = serde_json::from_slice::<Value>(&body)
        .is_ok_and(|v| v["resourceType"] == "CapabilityStatement");
    if status != 200 || !is_capability {
        bail!(
            "{}/metadata did not answer with a CapabilityStatement (HTTP {status}); is this a FHIR base URL?",
            plan.url
        );
    }
    // Kizuna's own operations for personal health records; other servers take the same
    // readings as a transaction of Observations.
    let phr_native = !plan.standard_only
        && serde_json::from_slice::<Value>(&body).is_ok_and(|v| {
            v.pointer("/rest/0/resource")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| r["type"] == "Patient")
                .flat_map(|r| r["operation"].as_array().into_iter().flatten())
                .any(|o| o["name"] == "phr-ingest")
        });
    let synth = Arc::new(Synth::new(SynthConfig {
        seed: plan.seed,
        patients: plan.patients,
        ..SynthConfig::default()
    }));
    let mut out = Vec::new();
    let mut sample = None;
    for w in &plan.workloads {
        out.push(match w {
            Workload::Upload => upload(plan, &base, &synth, progress.clone()).await?,
            Workload::Read => read(plan, &base, &synth, progress.clone()).await?,
            Workload::Transaction => transactions(plan, &base, progress.clone()).await?,
            Workload::PhrIngest => phr::ingest(plan, &base, progress.clone(), phr_native).await?,
            Workload::PhrTrend if !phr_native => {
                eprintln!(
                    "phr-trend skipped: {} has no $phr-trend (a Kizuna operation), and no standard search answers a trend",
                    plan.url
                );
                continue;
            }
            Workload::PhrTrend => phr::trend(plan, &base, progress.clone()).await?,
            Workload::Search(kind) => {
                let sample = match &sample {
                    Some(s) => Arc::clone(s),
                    None => {
                        let s = Arc::new(search::Sample::of(&synth, plan.patients)?);
                        sample = Some(s.clone());
                        s
                    }
                };
                search::run(
                    *kind,
                    sample,
                    plan.search_connections,
                    plan.duration,
                    &base,
                    progress.clone(),
                )
                .await?
            }
        });
    }
    Ok(out)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn figures(
    workload: &'static str,
    clients: usize,
    hist: &Histogram<u64>,
    resources: u64,
    errors: u64,
    seconds: f64,
) -> Figures {
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Figures {
        workload,
        clients,
        operations: hist.len(),
        resources,
        errors,
        seconds,
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        max_ms: hist.max() as f64 / 1000.0,
    }
}

/// Uploads the synthetic data set as transaction Bundles of PUTs (idempotent: ids are the
/// generator's), `upload_clients` at a time.
async fn upload(
    plan: &Plan,
    base: &client::Base,
    synth: &Arc<Synth>,
    progress: Arc<dyn Progress>,
) -> Result<Figures> {
    // Institutions first (everything refers to them), then patients in parallel.
    let mut first = Conn::open(base).await?;
    let inst = synth.institutions();
    for chunk in inst.chunks(plan.bundle_size.max(1)) {
        let (status, body) = first
            .request("POST", "", Some(transaction_of(chunk)))
            .await?;
        if status != 200 {
            bail!(
                "uploading institutions failed: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    let next_patient = Arc::new(AtomicU64::new(0));
    let total_patients = plan.patients as u64;
    progress.begin("upload", Some(total_patients));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..plan.upload_clients.max(1) {
        let (base, synth, next, progress) = (
            base.clone(),
            synth.clone(),
            next_patient.clone(),
            progress.clone(),
        );
        let bundle_size = plan.bundle_size.max(1);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&base).await?;
            let mut hist = histogram();
            let (mut resources, mut errors) = (0u64, 0u64);
            let mut pending: Vec<Value> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let done = i >= total_patients;
                if !done {
                    pending.extend(synth.patient(i as usize));
                    progress.advance(1);
                }
                while pending.len() >= bundle_size || (done && !pending.is_empty()) {
                    let rest = pending.split_off(pending.len().min(bundle_size));
                    let n = pending.len() as u64;
                    let t = Instant::now();
                    let (status, _) = conn
                        .request("POST", "", Some(transaction_of(&pending)))
                        .await?;
                    hist.record(t.elapsed().as_micros() as u64).ok();
                    if status == 200 {
                        resources += n
                    } else {
                        errors += 1
                    }
                    pending = rest;
                }
                if done {
                    return anyhow::Ok((hist, resources, errors));
                }
            }
        }));
    }
    let (hist, resources, errors) = join(tasks).await?;
    let secs = started.elapsed().as_secs_f64();
    progress.end();
    Ok(figures(
        "upload",
        plan.upload_clients,
        &hist,
        resources,
        errors,
        secs,
    ))
}

fn transaction_of(resources: &[Value]) -> Vec<u8> {
    let entries: Vec<Value> = resources
        .iter()
        .map(|r| {
            let url = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            );
            json!({"fullUrl": url, "resource": r, "request": {"method": "PUT", "url": url}})
        })
        .collect();
    serde_json::to_vec(&json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
        .unwrap_or_default()
}

/// Reads of single resources (`GET [type]/[id]`) of the uploaded data, picked at random, by
/// `read_connections` connections for `duration`.
async fn read(
    plan: &Plan,
    base: &client::Base,
    synth: &Arc<Synth>,
    progress: Arc<dyn Progress>,
) -> Result<Figures> {
    let mut targets = Vec::new();
    for i in 0..plan.patients.min(2000) {
        for r in synth.patient(i) {
            targets.push(format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            ));
        }
    }
    if targets.is_empty() {
        bail!(
            "the read workload needs uploaded data: run it after upload (or with --patients > 0)"
        );
    }
    // Check one exists: reading an empty server measures 404s.
    let (status, _) = Conn::open(base)
        .await?
        .request("GET", &targets[0], None)
        .await?;
    if status != 200 {
        bail!(
            "{} answered HTTP {status}: upload the data set first (workload 'upload')",
            targets[0]
        );
    }
    let targets = Arc::new(targets);
    timed(
        "read",
        plan.read_connections,
        plan.duration,
        base,
        progress,
        move |n| {
            let path = targets[(n.wrapping_mul(2654435761) as usize) % targets.len()].clone();
            Request {
                method: "GET",
                path,
                body: None,
                count: Count::Fixed(1),
            }
        },
    )
    .await
}

/// Small transactions: one Patient and one Observation referring to it.
async fn transactions(
    plan: &Plan,
    base: &client::Base,
    progress: Arc<dyn Progress>,
) -> Result<Figures> {
    timed("transaction", plan.transaction_clients, plan.duration, base, progress, |n| {
        let p = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": p, "request": {"method": "POST", "url": "Patient"},
             "resource": {"resourceType": "Patient", "gender": "female", "birthDate": "1960-04-01",
                          "name": [{"family": "ベンチ", "given": [format!("{n}")]}]}},
            {"fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()), "request": {"method": "POST", "url": "Observation"},
             "resource": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
                          "subject": {"reference": p},
                          "valueQuantity": {"value": 60 + (n % 30), "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}}
        ]});
        Request { method: "POST", path: String::new(), body: Some(serde_json::to_vec(&bundle).unwrap_or_default()), count: Count::Fixed(2) }
    })
    .await
}

/// One request of a timed workload, and how many resources it concerns.
struct Request {
    method: &'static str,
    path: String,
    body: Option<Vec<u8>>,
    count: Count,
}

/// How the resources a request concerns are counted.
#[derive(Debug, Clone, Copy)]
enum Count {
    Fixed(u64),
    /// The entries of the Bundle answered.
    Entries,
    /// The Bundle's `total` (a count query).
    Total,
}

impl Count {
    fn of(self, body: &[u8]) -> u64 {
        let field = match self {
            Count::Fixed(n) => return n,
            Count::Entries => "entry",
            Count::Total => "total",
        };
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return 0;
        };
        match &v[field] {
            Value::Array(a) => a.len() as u64,
            other => other.as_u64().unwrap_or(0),
        }
    }
}

/// Sends the requests `op` makes on `clients` connections for `duration`.
async fn timed<F>(
    name: &'static str,
    clients: usize,
    duration: Duration,
    base: &client::Base,
    progress: Arc<dyn Progress>,
    op: F,
) -> Result<Figures>
where
    F: Fn(u64) -> Request + Send + Sync + Clone + 'static,
{
    progress.begin(name, Some(duration.as_secs()));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (base, op, counter) = (base.clone(), op.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&base).await?;
            let mut hist = histogram();
            let (mut resources, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let req = op(n);
                let t = Instant::now();
                let (status, body) = conn.request(req.method, &req.path, req.body).await?;
                hist.record(t.elapsed().as_micros() as u64).ok();
                if status < 300 {
                    resources += req.count.of(&body)
                } else {
                    errors += 1
                }
            }
            anyhow::Ok((hist, resources, errors))
        }));
    }
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut last = 0;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = started.elapsed().as_secs();
                progress.advance(now.saturating_sub(last));
                last = now;
            }
        })
    };
    let (hist, resources, errors) = join(tasks).await?;
    let secs = started.elapsed().as_secs_f64();
    ticker.abort();
    progress.end();
    Ok(figures(name, clients, &hist, resources, errors, secs))
}

type Part = (Histogram<u64>, u64, u64);

async fn join(tasks: Vec<tokio::task::JoinHandle<Result<Part>>>) -> Result<Part> {
    let mut hist = histogram();
    let (mut resources, mut errors) = (0, 0);
    for t in tasks {
        let (h, r, e) = t.await.context("a benchmark client failed")??;
        hist.add(&h).ok();
        resources += r;
        errors += e;
    }
    Ok((hist, resources, errors))
}
