//! Subcommands and their arguments.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kizuna_records::Records;
use kizuna_store::Store;
use std::io::IsTerminal;
use std::net::SocketAddr;
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
    Serve(ServeArgs),
    /// Load NDJSON files and Bundles (files or directories) into a store
    Import(ImportArgs),
}

/// Where the data lives.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Data directory of the embedded store (created if missing)
    #[arg(long, value_name = "DIR", default_value = "kizuna-data", conflicts_with = "database")]
    data: PathBuf,
    /// Use PostgreSQL instead of the embedded store, e.g. postgres://user@host/db
    #[arg(long, value_name = "URL", env = "KIZUNA_DATABASE")]
    database: Option<String>,
}

impl StoreArgs {
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
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    /// Largest request body accepted, in MiB
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    max_body_mb: usize,
    /// Base URL clients use, if not http://ADDR/fhir (behind a proxy)
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
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
        Command::Serve(a) => serve(a).await,
        Command::Import(a) => import(a).await,
    }
}

async fn serve(a: ServeArgs) -> Result<ExitCode> {
    if a.max_body_mb == 0 {
        bail!("--max-body-mb must be at least 1");
    }
    let store = a.store.open().await?;
    let listener = tokio::net::TcpListener::bind(a.addr)
        .await
        .with_context(|| format!("cannot listen on {} (in use? try another --addr, or port 0 for any free port)", a.addr))?;
    let addr = listener.local_addr()?;
    let mut config = kizuna_server::Config::for_addr(addr);
    if let Some(b) = a.base_url {
        config.base_url = b.trim_end_matches('/').to_string();
    }
    config.max_body_bytes = a.max_body_mb * 1024 * 1024;
    let base = config.base_url.clone();
    tracing::info!(backend = store.backend_name(), %addr, "serving");
    let app = kizuna_server::app(Records::new(store), config);
    println!("Kizuna FHIR R4 server ready at {base}");
    kizuna_server::serve(listener, app, shutdown_signal()).await.context("the server stopped with an error")?;
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
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
        let n = self.resources.fetch_add(resources, std::sync::atomic::Ordering::Relaxed) + resources;
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

async fn import(a: ImportArgs) -> Result<ExitCode> {
    let store = a.store.open().await?;
    let started = std::time::Instant::now();
    let bar = progress_bar("importing");
    let report = kizuna_import::import(&store, &a.paths, Arc::new(Bar { bar: bar.clone(), resources: Default::default() })).await?;
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
        let shown = if a.all_rejections { report.rejections.len() } else { 20 };
        for r in report.rejections.iter().take(shown) {
            println!("  {}: {}", r.source, r.reason);
        }
        if report.rejected as usize > shown {
            println!("  ... and {} more (--all-rejections lists them all)", report.rejected as usize - shown);
        }
    }
    Ok(if a.strict && report.rejected > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
