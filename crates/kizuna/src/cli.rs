//! Subcommands and their arguments.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kizuna_store::Store;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "kizuna",
    version,
    about = "Kizuna (絆): a FHIR R4 medical-record sharing network",
    long_about = "Kizuna (絆): a FHIR R4 medical-record sharing network.\n\n\
                  Start with `kizuna demo`: a working server with synthetic Japanese patients on the embedded store."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the FHIR API (under /fhir) on the embedded store or PostgreSQL
    Serve(Box<crate::serve_cli::ServeArgs>),
    /// Load NDJSON files and Bundles (files or directories) into a store
    Import(ImportArgs),
    /// Generate synthetic Japanese patients (NDJSON file, or straight into a store)
    Synth(SynthArgs),
    /// Synthetic patients in an embedded store, served: a working Kizuna in one command
    Demo(crate::demo_cli::DemoArgs),
    /// Benchmark any FHIR server's base URL: upload, reads, small transactions
    Bench(BenchArgs),
    /// Recompute the search index rows of every resource (after an upgrade that changes what
    /// is indexed; stop the server first when using the embedded store)
    Reindex(ReindexArgs),
    /// The network's certificate authorities: institutions, staff, patient cards, revocation
    Pki(crate::pki_cli::PkiArgs),
    /// Software patient cards for tests and demos: create, sign a challenge, show tries left
    Card(crate::pki_cli::CardArgs),
    /// The audit log: `verify` proves it intact or names the first tampered entry
    Audit(crate::audit_cli::AuditArgs),
    /// Register EHR systems that use SMART Backend Services (client credentials, signed JWT)
    Smart(crate::smart_cli::SmartArgs),
    /// The patient index: register persons, link their Patients, merge, sharing choices
    Person(crate::person_cli::PersonArgs),
    /// Implementation guides (FHIR packages such as JP Core and JP-CLINS): install, list,
    /// remove, validate files against them
    Ig(crate::ig_cli::IgArgs),
    /// Documents past their retention term (5 years; LTS-tagged for ever unless --lts-years):
    /// report them, or remove them with --apply (audited; nothing within its term is touched)
    Retention(crate::retention_cli::RetentionArgs),
    /// Personal health records: import a patient's files (Apple Health, Fitbit, Open mHealth,
    /// FHIR), share them with an institution or revoke it
    Phr(crate::phr_cli::PhrArgs),
    /// DICOM to and from other systems: send studies to a PACS, get studies from one
    Dicom(crate::dicom_cli::DicomArgs),
}

#[derive(Args)]
struct ReindexArgs {
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct SynthArgs {
    /// How many patients
    #[arg(long, default_value_t = 100)]
    patients: usize,
    /// Seed: the same seed and count give the same data, byte for byte
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write NDJSON to this file ("-" for standard output) instead of loading a store
    #[arg(long, value_name = "FILE.ndjson")]
    out: Option<PathBuf>,
    /// Load into the embedded store in this directory
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "database"])]
    data: Option<PathBuf>,
    /// Load into PostgreSQL
    #[arg(long, value_name = "URL", conflicts_with = "out")]
    database: Option<String>,
}

#[derive(Args)]
struct BenchArgs {
    /// FHIR base URL of the server under test (Kizuna or any other)
    #[arg(long, default_value = "http://127.0.0.1:8080/fhir")]
    url: String,
    /// Workloads to run, in order: upload, read, transaction, the search workloads
    /// (search-code, search-count, search-patient, search-chain, search-has, everything, summary; `search`
    /// runs them all), and phr-ingest, phr-trend (personal health records). Search and read
    /// need the data the upload workload loads (same --patients and --seed), or `kizuna
    /// synth` of the same.
    #[arg(long, value_delimiter = ',', default_value = "upload,read,transaction")]
    workloads: Vec<String>,
    /// Synthetic patients uploaded (and read)
    #[arg(long, default_value_t = 100)]
    patients: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Resources per upload Bundle
    #[arg(long, default_value_t = 500)]
    bundle_size: usize,
    /// Concurrent connections uploading
    #[arg(long, default_value_t = 4)]
    upload_clients: usize,
    /// Concurrent connections reading
    #[arg(long, default_value_t = 32)]
    read_connections: usize,
    /// Concurrent clients sending small transactions
    #[arg(long, default_value_t = 64)]
    transaction_clients: usize,
    /// Concurrent connections of each search workload (1 measures latency without queueing)
    #[arg(long, default_value_t = 1)]
    search_connections: usize,
    /// Seconds each of the read, transaction and search workloads runs
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Print the figures as JSON too
    #[arg(long)]
    json: bool,
    /// Only standard FHIR interactions, even against Kizuna, for figures comparable with
    /// another server's (phr-ingest as a transaction of Observations; phr-trend skipped)
    #[arg(long)]
    standard_only: bool,
}

/// Where the data lives.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Data directory of the embedded store (created if missing)
    #[arg(
        long,
        value_name = "DIR",
        default_value = "kizuna-data",
        conflicts_with = "database"
    )]
    data: PathBuf,
    /// Use PostgreSQL instead of the embedded store, e.g. postgres://user@host/db
    #[arg(long, value_name = "URL", env = "KIZUNA_DATABASE")]
    pub database: Option<String>,
}

impl StoreArgs {
    /// The embedded store's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data
    }

    pub async fn open(&self) -> Result<Store> {
        match &self.database {
            Some(url) => Store::open(url).await.with_context(|| {
                "cannot open the PostgreSQL store: check that the server runs and the URL (--database) names a database you may use"
            }),
            None => {
                let dir = self.data.to_str().context("the --data path must be valid UTF-8")?;
                Store::open(dir).await.with_context(|| format!("cannot open the embedded store in {dir} (--data)"))
            }
        }
    }
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Exit with status 1 if any resource was rejected
    #[arg(long)]
    strict: bool,
    /// Print every rejection (default: the first 20)
    #[arg(long)]
    all_rejections: bool,
    /// NDJSON files, Bundle .json files, or directories of them
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(a) => crate::serve_cli::serve(*a).await,
        Command::Import(a) => import(a).await,
        Command::Synth(a) => synth(a).await,
        Command::Demo(a) => crate::demo_cli::demo(a).await,
        Command::Bench(a) => bench(a).await,
        Command::Reindex(a) => reindex(a).await,
        Command::Pki(a) => crate::pki_cli::run(a),
        Command::Card(a) => crate::pki_cli::run_card(a),
        Command::Audit(a) => crate::audit_cli::run(a).await,
        Command::Smart(a) => crate::smart_cli::run(a),
        Command::Person(a) => crate::person_cli::run(a).await,
        Command::Ig(a) => crate::ig_cli::run(a).await,
        Command::Retention(a) => crate::retention_cli::run(a).await,
        Command::Phr(a) => crate::phr_cli::run(a).await,
        Command::Dicom(a) => crate::dicom_cli::run(a).await,
    }
}

/// What a refused interaction said, for a CLI error.
pub fn failure_message(f: &kizuna_records::Failure) -> String {
    f.issues
        .iter()
        .map(|i| i.message.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Says so when the store's search indexes were written by an older kizuna.
pub async fn warn_if_index_outdated(store: &Store) -> Result<()> {
    let format = store.index_format().await?;
    if format < kizuna_store::index::INDEX_FORMAT {
        tracing::warn!(
            index_format = format,
            current = kizuna_store::index::INDEX_FORMAT,
            "this store's search indexes were written by an older kizuna: some searches miss resources until `kizuna reindex` has run on it"
        );
    }
    Ok(())
}

/// A byte-based progress bar on a terminal (hidden otherwise), counting resources stored.
struct Bar {
    bar: ProgressBar,
    resources: std::sync::atomic::AtomicU64,
}

impl kizuna_import::Progress for Bar {
    fn start(&self, total: u64) {
        self.bar.set_length(total);
    }
    fn advance(&self, bytes: u64, resources: u64) {
        let n = self
            .resources
            .fetch_add(resources, std::sync::atomic::Ordering::Relaxed)
            + resources;
        self.bar.inc(bytes);
        self.bar.set_message(format!("{n} resources"));
    }
}

pub fn progress_bar(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{bytes}}/{{total_bytes}} {{msg}} ({{eta}} left)"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// Resources read, indexed and written per step of `reindex`.
const REINDEX_PAGE: usize = 2000;

async fn reindex(a: ReindexArgs) -> Result<ExitCode> {
    let store = a.store.open().await?;
    let started = std::time::Instant::now();
    let total = store.stats().await?.resources;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "reindexing [{bar:40}] {pos}/{len} resources ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let (mut after, mut done, mut changed, mut unreadable) = (0i64, 0usize, 0usize, 0usize);
    loop {
        let page = store.live_after(after, REINDEX_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.res_key;
        // Extraction on the blocking pool, half a page per task.
        let mut tasks = Vec::new();
        for chunk in page.chunks(REINDEX_PAGE / 2) {
            let chunk = chunk.to_vec();
            tasks.push(tokio::task::spawn_blocking(move || {
                let mut unreadable = 0usize;
                let items = chunk
                    .into_iter()
                    .filter_map(|live| {
                        let Ok(body) = serde_json::from_str::<serde_json::Value>(&live.body) else {
                            unreadable += 1;
                            return None;
                        };
                        Some(kizuna_store::Reindexed {
                            res_key: live.res_key,
                            seq: live.seq,
                            index: kizuna_records::index_rows(&body),
                        })
                    })
                    .collect::<Vec<_>>();
                (items, unreadable)
            }));
        }
        let mut items = Vec::with_capacity(page.len());
        for t in tasks {
            let (more, bad) = t.await.context("index extraction failed")?;
            items.extend(more);
            unreadable += bad;
        }
        let attempted = items.len();
        let replaced = store.reindex(items).await?;
        done += replaced;
        changed += attempted - replaced;
        bar.inc(page.len() as u64);
    }
    bar.finish_and_clear();
    if unreadable == 0 {
        store
            .set_index_format(kizuna_store::index::INDEX_FORMAT)
            .await?;
    }
    if let Store::Postgres(_) = store {
        eprintln!("vacuuming the index tables and refreshing PostgreSQL's statistics …");
    }
    store.after_reindex().await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "reindexed {done} resources in {secs:.1} s ({:.0} resources/s)",
        done as f64 / secs.max(1e-9)
    );
    if changed > 0 {
        println!(
            "{changed} resources were written or deleted while reindexing (their new versions are indexed already)"
        );
    }
    if unreadable > 0 {
        // Stored bodies are JSON the store wrote; this means damage to the store.
        println!(
            "{unreadable} stored bodies could not be read as JSON and kept their old rows; check the store"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn import(a: ImportArgs) -> Result<ExitCode> {
    let store = a.store.open().await?;
    warn_if_index_outdated(&store).await?;
    let started = std::time::Instant::now();
    let bar = progress_bar("importing");
    let report = kizuna_import::import(
        &store,
        &a.paths,
        Arc::new(Bar {
            bar: bar.clone(),
            resources: Default::default(),
        }),
    )
    .await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let accepted = report.accepted();
    println!(
        "imported {} files: {accepted} resources accepted ({} created, {} updated, {} unchanged), {} rejected, in {secs:.1} s ({:.0} resources/s)",
        report.files,
        report.created,
        report.updated,
        report.unchanged,
        report.rejected,
        accepted as f64 / secs.max(1e-9)
    );
    let mut types: Vec<_> = report.by_type.iter().collect();
    types.sort();
    for (t, n) in types {
        println!("  {t:<28} {n}");
    }
    if report.rejected > 0 {
        println!("rejected:");
        let shown = if a.all_rejections {
            report.rejections.len()
        } else {
            20
        };
        for r in report.rejections.iter().take(shown) {
            println!("  {}: {}", r.source, r.reason);
        }
        if report.rejected as usize > shown {
            println!(
                "  ... and {} more (--all-rejections lists them all)",
                report.rejected as usize - shown
            );
        }
    }
    Ok(if a.strict && report.rejected > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Generates `patients` synthetic patients (institutions first) as groups of resources.
/// The synthetic world of `patients` (institutions first); `kept`: each patient's records as
/// the institutions that saw them keep them (custodian-tagged, a Patient per institution).
pub(crate) fn synthetic(
    patients: usize,
    seed: u64,
    kept: bool,
) -> (
    Arc<kizuna_synth::Synth>,
    impl Iterator<Item = Vec<serde_json::Value>> + Send + 'static,
) {
    let synth = Arc::new(kizuna_synth::Synth::new(kizuna_synth::Config {
        seed,
        patients,
        ..Default::default()
    }));
    let s = synth.clone();
    let groups = std::iter::once(synth.institutions()).chain((0..patients).map(move |i| {
        if kept {
            s.patient_as_kept(i, kizuna_records::CUSTODIAN_SYSTEM)
        } else {
            s.patient(i)
        }
    }));
    (synth, groups)
}

/// A progress bar counting patients.
struct PatientBar {
    bar: ProgressBar,
}

impl kizuna_import::Progress for PatientBar {
    fn start(&self, _: u64) {}
    fn advance(&self, groups: u64, _resources: u64) {
        self.bar.inc(groups);
    }
}

pub(crate) fn patient_bar(what: &str, patients: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(patients as u64 + 1);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} patients ({{eta}} left)"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

pub(crate) async fn load_synthetic(
    store: &Store,
    patients: usize,
    seed: u64,
    kept: bool,
) -> Result<kizuna_import::Report> {
    let (_, groups) = synthetic(patients, seed, kept);
    let bar = patient_bar("generating and loading", patients);
    let report = kizuna_import::load(
        store,
        "synthetic data",
        groups,
        Arc::new(PatientBar { bar: bar.clone() }),
    )
    .await?;
    bar.finish_and_clear();
    if report.rejected > 0 {
        let first = report
            .rejections
            .first()
            .map(|r| r.reason.clone())
            .unwrap_or_default();
        bail!(
            "the generator made {} invalid resources (a bug in kizuna-synth), e.g.: {first}",
            report.rejected
        );
    }
    Ok(report)
}

async fn synth(a: SynthArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    if let Some(out) = &a.out {
        let (synth, _) = synthetic(a.patients, a.seed, false);
        let count = if out.as_os_str() == "-" {
            synth.write_ndjson(&mut std::io::stdout().lock())?
        } else {
            let mut f = std::fs::File::create(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let n = synth.write_ndjson(&mut f)?;
            f.sync_all()?;
            n
        };
        eprintln!(
            "wrote {count} resources of {} patients in {:.1} s",
            a.patients,
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let store = match (&a.data, &a.database) {
        (_, Some(url)) => {
            StoreArgs {
                data: PathBuf::new(),
                database: Some(url.clone()),
            }
            .open()
            .await?
        }
        (Some(dir), None) => {
            StoreArgs {
                data: dir.clone(),
                database: None,
            }
            .open()
            .await?
        }
        (None, None) => {
            bail!("say where the data goes: --out FILE.ndjson, --data DIR or --database URL")
        }
    };
    let report = load_synthetic(&store, a.patients, a.seed, false).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "loaded {} resources of {} patients ({} new, {} unchanged) in {secs:.1} s ({:.0} resources/s)",
        report.accepted(),
        a.patients,
        report.created,
        report.unchanged,
        report.accepted() as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// Progress of benchmark workloads.
struct BenchBar {
    bar: std::sync::Mutex<ProgressBar>,
}

impl kizuna_bench::Progress for BenchBar {
    fn begin(&self, workload: &str, total: Option<u64>) {
        if !std::io::stderr().is_terminal() {
            eprintln!("running {workload} ...");
            return;
        }
        let bar = ProgressBar::new(total.unwrap_or(0));
        bar.set_style(
            ProgressStyle::with_template(&format!("{workload:>12} [{{bar:40}}] {{pos}}/{{len}}"))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        if let Ok(mut b) = self.bar.lock() {
            *b = bar;
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(b) = self.bar.lock() {
            b.inc(n);
        }
    }
    fn end(&self) {
        if let Ok(b) = self.bar.lock() {
            b.finish_and_clear();
        }
    }
}

async fn bench(a: BenchArgs) -> Result<ExitCode> {
    let mut workloads = Vec::new();
    for w in &a.workloads {
        match kizuna_bench::Workload::parse(w) {
            Some(list) => workloads.extend(list),
            None => bail!(
                "unknown workload '{w}': choose from {}",
                kizuna_bench::Workload::names().join(", ")
            ),
        }
    }
    let plan = kizuna_bench::Plan {
        url: a.url.trim_end_matches('/').to_string(),
        patients: a.patients,
        seed: a.seed,
        bundle_size: a.bundle_size,
        upload_clients: a.upload_clients,
        read_connections: a.read_connections,
        transaction_clients: a.transaction_clients,
        search_connections: a.search_connections,
        duration: std::time::Duration::from_secs(a.seconds.max(1)),
        workloads,
        standard_only: a.standard_only,
    };
    let figures = kizuna_bench::run(
        &plan,
        Arc::new(BenchBar {
            bar: std::sync::Mutex::new(ProgressBar::hidden()),
        }),
    )
    .await?;
    println!(
        "{:<15} {:>8} {:>10} {:>12} {:>13} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "workload",
        "clients",
        "requests",
        "requests/s",
        "resources/s",
        "res/req",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors"
    );
    for f in &figures {
        println!(
            "{:<15} {:>8} {:>10} {:>12.0} {:>13.0} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            f.workload,
            f.clients,
            f.operations,
            f.ops_per_sec(),
            f.resources_per_sec(),
            f.resources as f64 / f.operations.max(1) as f64,
            f.p50_ms,
            f.p90_ms,
            f.p99_ms,
            f.max_ms,
            f.errors
        );
    }
    if a.json {
        let all: Vec<serde_json::Value> = figures.iter().map(|f| f.to_json()).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if figures.iter().any(|f| f.errors > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
