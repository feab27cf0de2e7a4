//! `kizuna phr`: personal health records from the operator's side. `import` loads files a
//! patient brought (Apple Health `export.xml`, Fitbit CSVs, Open mHealth data points, FHIR
//! Observations) into one Patient's records, streamed with a progress bar, and says how many
//! measurements were taken and how many were refused for each reason; `share` and `revoke`
//! record the patient's choice of which institution sees them (the patient does this from
//! their card through the API; here the operator acts for them, present at the desk). Every
//! change is audited.

use crate::cli::{StoreArgs, failure_message as message, progress_bar};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kizuna_access::{Caller, Network, audit::Event};
use kizuna_phr::import::{Format, Tally};
use kizuna_records::Records;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct PhrArgs {
    #[command(subcommand)]
    command: PhrCommand,
}

#[derive(Subcommand)]
enum PhrCommand {
    /// Load a patient's files: Apple Health export.xml, Fitbit CSV, Open mHealth JSON, FHIR
    /// Observations (JSON). Each file's format is recognised from its first bytes
    Import(ImportArgs),
    /// Share a patient's personal health records with an institution (until revoked)
    Share(ShareArgs),
    /// Stop sharing a patient's personal health records with an institution
    Revoke(ShareArgs),
    /// Measure ingest and trends in process: years of minute-level steps for one patient
    /// (Patient/bench-phr) into this store, a raw PostgreSQL COPY of the same rows for
    /// comparison (with --database), and a daily trend over all of it
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Years of minute-level steps
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=20))]
    years: u64,
    /// Samples per transaction
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    /// How many times the trend is asked
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Instead: write a synthetic Apple Health export.xml of this many GB (minute-level steps,
    /// heart rate and distance from a watch) and time `phr import`'s streaming of it, with the
    /// process's peak memory
    #[arg(long, value_name = "GB")]
    apple_gb: Option<f64>,
    /// Where that export is written (default: the temporary directory; removed afterwards
    /// unless given here)
    #[arg(long, value_name = "FILE", requires = "apple_gb")]
    apple_file: Option<PathBuf>,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The Patient the records belong to (its id)
    #[arg(long, value_name = "ID")]
    patient: String,
    /// The files' format, when their first bytes do not tell: apple, fitbit, omh, fhir
    #[arg(long, value_parser = ["apple", "fitbit", "omh", "fhir"])]
    format: Option<String>,
    /// Where measurements that do not name their device or app come from
    #[arg(long, default_value = "upload")]
    source: String,
    /// The time zone of formats without one (Fitbit's CSVs)
    #[arg(long, default_value = "Asia/Tokyo")]
    zone: String,
    /// Print every refusal (default: the first 20)
    #[arg(long)]
    all_refusals: bool,
    /// The files
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct ShareArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The Patient whose records they are (its id)
    #[arg(long, value_name = "ID")]
    patient: String,
    /// The institution's 10-digit medical institution code
    #[arg(long, value_name = "CODE")]
    institution: String,
}

pub async fn run(a: PhrArgs) -> Result<ExitCode> {
    match a.command {
        PhrCommand::Import(a) => import(a).await,
        PhrCommand::Share(a) => share(a, true).await,
        PhrCommand::Revoke(a) => share(a, false).await,
        PhrCommand::Bench(a) => bench(a).await,
    }
}

/// Counts the bytes read through it, for the progress bar.
struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

async fn import(a: ImportArgs) -> Result<ExitCode> {
    let zone = jiff::tz::TimeZone::get(&a.zone).with_context(|| {
        format!(
            "--zone '{}' is not a time zone name like Asia/Tokyo",
            a.zone
        )
    })?;
    let store = a.store.open().await?;
    let records = Records::new(store);
    let net = Network::with_random_key(records.clone(), None)
        .map_err(|e| anyhow::anyhow!("the audit log cannot be written: {e}"))?;
    let mut total = Tally::default();
    // A file that was not its format at all (nothing read): the command fails.
    let mut unreadable = false;
    for path in &a.files {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let format = match &a.format {
            Some(f) => Format::parse(f).context("unknown --format")?,
            None => {
                let mut head = vec![0u8; 4096];
                let n = file.read(&mut head)?;
                head.truncate(n);
                let f = Format::sniff(&head).with_context(|| {
                    format!(
                        "{} is not an Apple Health export, a Fitbit CSV, Open mHealth JSON or FHIR JSON; name its format with --format",
                        path.display()
                    )
                })?;
                file = std::fs::File::open(path)?;
                f
            }
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let bar = progress_bar(&name);
        bar.set_length(size);
        let mut event = Event {
            action: "C",
            subtype: "phr-import".into(),
            request: format!("PHR-IMPORT Patient/{}", a.patient),
            status: 0,
            patients: vec![format!("Patient/{}", a.patient)],
            detail: Some(format!("{} ({} bytes)", format.name(), size)),
            started: true,
            ..Default::default()
        };
        net.audit(&Caller::node(), &event)
            .await
            .map_err(|f| anyhow::anyhow!("the audit log could not be written: {}", message(&f)))?;
        let input = std::io::BufReader::with_capacity(
            256 * 1024,
            Counting {
                inner: file,
                bar: bar.clone(),
            },
        );
        let started = std::time::Instant::now();
        let shown = bar.clone();
        let outcome = records
            .phr_import(
                &a.patient,
                format,
                input,
                &a.source,
                zone.clone(),
                jiff::Timestamp::now(),
                move |t| shown.set_message(format!("{} measurements", t.samples)),
            )
            .await;
        bar.finish_and_clear();
        event.started = false;
        event.status = match &outcome {
            Ok(_) => 200,
            Err(f) => f.status,
        };
        net.audit(&Caller::node(), &event)
            .await
            .map_err(|f| anyhow::anyhow!("the audit log could not be written: {}", message(&f)))?;
        let t = match outcome {
            Ok(t) => t,
            Err(f) => bail!("{} was not imported: {}", path.display(), message(&f)),
        };
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name} ({}) in {secs:.1} s ({:.0} measurements/s):",
            format.name(),
            t.samples as f64 / secs.max(1e-9)
        );
        for line in t.lines() {
            println!("  {line}");
        }
        let shown = if a.all_refusals { t.problems.len() } else { 20 };
        for p in t.problems.iter().take(shown) {
            println!("    {}: {} ({})", p.at, p.reason.kind(), p.reason.detail());
        }
        if t.rejected_total() as usize > shown.min(t.problems.len()) {
            println!(
                "    … {} more refused (--all-refusals lists up to {})",
                t.rejected_total() as usize - shown.min(t.problems.len()),
                kizuna_phr::import::LISTED
            );
        }
        unreadable |= t.samples == 0 && t.rejected.is_empty() && t.stopped.is_some();
        total.samples += t.samples;
        total.added += t.added;
        total.replaced += t.replaced;
        total.unchanged += t.unchanged;
        for (k, n) in t.rejected {
            *total.rejected.entry(k).or_default() += n;
        }
    }
    if a.files.len() > 1 {
        println!("all {} files:", a.files.len());
        for line in total.lines() {
            println!("  {line}");
        }
    }
    Ok(if unreadable {
        eprintln!(
            "some files could not be read at all (see above); check them or name their format with --format"
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn share(a: ShareArgs, share: bool) -> Result<ExitCode> {
    let store = a.store.open().await?;
    let records = Records::new(store);
    let net = Network::with_random_key(records, None)
        .map_err(|e| anyhow::anyhow!("the audit log cannot be written: {e}"))?;
    let caller = Caller::node();
    let mut event = Event {
        action: "E",
        subtype: if share { "phr-share" } else { "phr-revoke" }.into(),
        request: format!(
            "{} Patient/{}",
            if share { "PHR-SHARE" } else { "PHR-REVOKE" },
            a.patient
        ),
        status: 0,
        patients: vec![format!("Patient/{}", a.patient)],
        detail: Some(format!("institution {}", a.institution)),
        ..Default::default()
    };
    let outcome = if share {
        net.share_phr(&caller, &a.patient, &a.institution)
            .await
            .map(|(c, new)| {
                if new {
                    format!(
                        "Patient/{}'s personal health records are now shared with {} (Consent/{})",
                        a.patient,
                        a.institution,
                        c["id"].as_str().unwrap_or("")
                    )
                } else {
                    format!("already shared with {}", a.institution)
                }
            })
    } else {
        net.revoke_phr(&caller, &a.patient, &a.institution)
            .await
            .map(|n| {
                if n == 0 {
                    format!("nothing was shared with {}", a.institution)
                } else {
                    format!("no longer shared with {}", a.institution)
                }
            })
    };
    event.status = match &outcome {
        Ok(_) => 200,
        Err(f) => f.status,
    };
    net.audit(&caller, &event)
        .await
        .map_err(|f| anyhow::anyhow!("the audit log could not be written: {}", message(&f)))?;
    match outcome {
        Ok(text) => {
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => bail!("{}", message(&f)),
    }
}

/// `phr bench --apple-gb`: a synthetic Apple Health export streamed through `phr import`'s path.
async fn bench_apple(records: Records, a: &BenchArgs, gb: f64, backend: &str) -> Result<ExitCode> {
    if !(gb > 0.0 && gb <= 50.0) {
        bail!(
            "--apple-gb {gb}: give a size in GB up to 50 (120 years of minutes), e.g. --apple-gb 2"
        );
    }
    let bytes = (gb * 1e9) as u64;
    let path = a.apple_file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kizuna-apple-bench-{}.xml", std::process::id()))
    });
    let file = std::fs::File::create(&path).with_context(|| {
        format!(
            "cannot write {}; choose a place with --apple-file",
            path.display()
        )
    })?;
    let bar = progress_bar("writing the export");
    bar.set_length(bytes);
    let written =
        kizuna_bench::phr::apple_export(bar.wrap_write(std::io::BufWriter::new(file)), bytes)
            .with_context(|| {
                format!("writing {} failed (is there {gb} GB free?)", path.display())
            })?;
    bar.finish_and_clear();
    let bar = progress_bar("importing");
    bar.set_length(written.bytes);
    let input = std::io::BufReader::with_capacity(
        1 << 20,
        Counting {
            inner: std::fs::File::open(&path)?,
            bar: bar.clone(),
        },
    );
    let started = std::time::Instant::now();
    let tally = records
        .phr_import(
            kizuna_bench::phr::PATIENT,
            Format::AppleHealth,
            input,
            "apple",
            jiff::tz::TimeZone::get("Asia/Tokyo")?,
            jiff::Timestamp::now(),
            |_| {},
        )
        .await
        .map_err(|f| anyhow::anyhow!("the import failed: {}", message(&f)))?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if a.apple_file.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    let refused: u64 = tally.rejected.values().sum();
    println!(
        "{backend}: a {:.2} GB Apple Health export ({} records) streamed in {seconds:.1} s: {:.0} MB/s, {:.0} samples/s kept ({} added, {} refused as not kept)",
        written.bytes as f64 / 1e9,
        written.records,
        written.bytes as f64 / 1e6 / seconds.max(1e-9),
        tally.samples as f64 / seconds.max(1e-9),
        tally.added,
        refused,
    );
    match kizuna_bench::phr::peak_rss() {
        Some(peak) => println!(
            "peak resident memory of the whole process: {:.0} MB",
            peak as f64 / 1e6
        ),
        None => println!("peak resident memory: not known on this system"),
    }
    if tally.samples != written.kept || refused != written.records - written.kept {
        bail!(
            "the import read {} samples and refused {refused}, but the export holds {} to keep and {} not",
            tally.samples,
            written.kept,
            written.records - written.kept
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn bench(a: BenchArgs) -> Result<ExitCode> {
    let store = a.store.open().await?;
    let backend = store.backend_name();
    let records = Records::new(store);
    let patient = kizuna_bench::phr::PATIENT;
    records
        .update(
            "Patient",
            patient,
            serde_json::json!({"resourceType": "Patient", "id": patient, "name": [{"family": "ベンチ"}]}),
            None,
        )
        .await
        .map_err(|f| anyhow::anyhow!("the benchmark's Patient could not be written: {}", message(&f)))?;
    if let Some(gb) = a.apple_gb {
        return bench_apple(records, &a, gb, backend).await;
    }
    let days = a.years * 365 + a.years / 4;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(days * 1440);
        bar.set_style(
            ProgressStyle::with_template(
                "ingesting [{bar:40}] {pos}/{len} samples ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let progress = bar.clone();
    let got = kizuna_bench::phr::in_process(
        &records,
        patient,
        a.years,
        a.batch,
        a.runs,
        a.store.database.as_deref(),
        move |n| progress.set_position(n),
    )
    .await?;
    bar.finish_and_clear();
    println!(
        "{backend}: {} samples ({} years of minute-level steps) ingested in {:.1} s: {:.0} samples/s (transactions of {})",
        got.samples,
        a.years,
        got.ingest_seconds,
        got.ingest_rate(),
        a.batch
    );
    if let Some(rate) = got.copy_rate() {
        println!(
            "raw binary COPY of the same rows into a table of the same shape: {rate:.0} samples/s; Kizuna's ingest is {:.0}% of it",
            100.0 * got.ingest_rate() / rate
        );
    }
    println!(
        "daily trend over all of it ({} days): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} runs)",
        got.trend_points,
        got.trend_quantile(0.5),
        got.trend_quantile(0.99),
        got.trend_quantile(1.0),
        got.trend_ms.len()
    );
    Ok(ExitCode::SUCCESS)
}
