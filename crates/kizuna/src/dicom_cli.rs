//! `kizuna dicom`: Kizuna as a DICOM service class user, from the operator's side. `send`
//! sends studies kept here to a peer AE (a PACS such as Orthanc, a viewer) by C-STORE, each
//! object in the transfer syntax it is kept in; `get` gets studies from a peer by C-GET into
//! this node (each object placed in the record like any other: its patient must be known).
//! Each transfer is audited before and after.

use crate::cli::{StoreArgs, progress_bar};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kizuna_access::{Caller, Network, audit::Event};
use kizuna_records::Records;
use std::process::ExitCode;

#[derive(Args)]
pub struct DicomArgs {
    #[command(subcommand)]
    command: DicomCommand,
}

#[derive(Subcommand)]
enum DicomCommand {
    /// Send studies kept here to a peer AE by C-STORE (e.g. --peer ORTHANC@127.0.0.1:4242)
    Send(TransferArgs),
    /// Get studies from a peer AE by C-GET into this node (their patients must be registered)
    Get(TransferArgs),
    /// Benchmark Kizuna's imaging side by side with Orthanc (started here, if installed):
    /// STOW-RS and C-STORE ingest, QIDO-RS latency, rendered frames, WADO-RS, memory
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// The head CT's slices (the fixtures' dicom/head-ct)
    #[arg(
        long,
        value_name = "DIR",
        default_value = "../shared/fixtures/dicom/head-ct"
    )]
    ct: std::path::PathBuf,
    /// Copies of the CT sent through each ingest path
    #[arg(long, default_value_t = 20)]
    studies: usize,
    /// Instances added (without pixel data, 100 per study) before QIDO-RS is measured
    #[arg(long, default_value_t = 100_000)]
    qido_instances: usize,
    /// Concurrent clients (connections, associations)
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Where the servers keep their data (emptied first, removed at the end)
    #[arg(long, value_name = "DIR", default_value = "kizuna-imaging-bench")]
    work: std::path::PathBuf,
    /// Measure Kizuna alone, even if Orthanc is installed
    #[arg(long)]
    no_orthanc: bool,
}

#[derive(Args)]
struct TransferArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Where images are kept (default: DIR/images beside the embedded store's data)
    #[arg(long, value_name = "DIR|s3://BUCKET")]
    images: Option<String>,
    /// The peer, as AE@host:port
    #[arg(long = "peer", value_name = "AE@HOST:PORT")]
    peer: String,
    /// This node's AE title
    #[arg(long, value_name = "AE", default_value = "KIZUNA")]
    ae: String,
    /// Study Instance UIDs
    #[arg(required = true, value_name = "STUDY_UID")]
    studies: Vec<String>,
}

pub async fn run(a: DicomArgs) -> Result<ExitCode> {
    let (get, t) = match a.command {
        DicomCommand::Send(t) => (false, t),
        DicomCommand::Get(t) => (true, t),
        DicomCommand::Bench(b) => return bench(b).await,
    };
    let peer = kizuna_dimse::Peer::parse(&t.peer).map_err(|e| anyhow::anyhow!("--peer {e}"))?;
    let images = match (&t.images, &t.store.database) {
        (Some(at), _) => at.clone(),
        (None, None) => t.store.data_dir().join("images").display().to_string(),
        (None, Some(_)) => {
            bail!("with --database, say where the images are kept: --images DIR (or s3://bucket)")
        }
    };
    let blobs =
        kizuna_blobs::Blobs::open(&images).context("cannot use the images there (--images)")?;
    let store = t.store.open().await?;
    let records = Records::new(store);
    let net = Network::with_random_key(records.clone(), None)
        .map_err(|e| anyhow::anyhow!("the audit log cannot be written: {e}"))?;
    let setup = kizuna_dimse::Setup {
        ae_title: t.ae.clone(),
        blobs,
        peers: vec![],
    };
    let what = if get { "dimse:get" } else { "dimse:send" };
    let mut event = Event {
        action: if get { "C" } else { "R" },
        subtype: what.into(),
        request: format!("{} {}@{}", what.to_uppercase(), peer.ae_title, peer.address),
        entities: t
            .studies
            .iter()
            .map(|s| {
                format!(
                    "ImagingStudy/{}",
                    kizuna_records::imaging::study_resource_id(s)
                )
            })
            .collect(),
        started: true,
        ..Default::default()
    };
    net.audit(&Caller::node(), &event)
        .await
        .map_err(|_| anyhow::anyhow!("the audit log could not be written"))?;
    let started = std::time::Instant::now();
    let outcome = if get {
        let mut total = kizuna_dimse::scu::Transferred::default();
        let mut result = Ok(());
        for study in &t.studies {
            match kizuna_dimse::scu::get_study(&records, &setup, &peer, study).await {
                Ok(done) => {
                    total.completed += done.completed;
                    total.failed += done.failed;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        result.map(|()| total)
    } else {
        let bar = progress_bar("sending");
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "sending [{bar:40}] {pos}/{len} objects ({eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let r =
            kizuna_dimse::scu::send_studies(&records, &setup, &peer, &t.studies, &|done, of| {
                bar.set_length(of as u64);
                bar.set_position(done as u64);
            })
            .await;
        bar.finish_and_clear();
        r
    };
    event.started = false;
    event.status = match &outcome {
        Ok(d) if d.failed == 0 => 200,
        Ok(_) => 207,
        Err(_) => 502,
    };
    net.audit(&Caller::node(), &event)
        .await
        .map_err(|_| anyhow::anyhow!("the audit log could not be written"))?;
    let done = outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    let verb = if get { "got from" } else { "sent to" };
    println!(
        "{} objects {verb} {} in {:.1} s; {} failed",
        done.completed,
        peer.ae_title,
        started.elapsed().as_secs_f64(),
        done.failed
    );
    if done.failed > 0 {
        eprintln!(
            "some objects were not taken: for `get`, their patients may not be registered here (kizuna serve's log and the audit log say why)"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn bench(b: BenchArgs) -> Result<ExitCode> {
    if !b.ct.is_dir() {
        bail!(
            "{} is not a directory of CT slices; give the fixtures' dicom/head-ct with --ct",
            b.ct.display()
        );
    }
    let orthanc = if b.no_orthanc {
        None
    } else {
        let binary = std::path::PathBuf::from("/usr/sbin/Orthanc");
        let plugin = std::path::PathBuf::from("/usr/share/orthanc/plugins/libOrthancDicomWeb.so");
        if binary.exists() && plugin.exists() {
            Some((binary, plugin))
        } else {
            eprintln!(
                "Orthanc (Debian packages orthanc, orthanc-dicomweb) is not installed: measuring Kizuna alone"
            );
            None
        }
    };
    let plan = kizuna_bench::imaging::ImagingPlan {
        ct: b.ct,
        kizuna: std::env::current_exe().context("cannot find this kizuna binary")?,
        orthanc,
        studies: b.studies.max(1),
        qido_instances: b.qido_instances,
        clients: b.clients.max(1),
        work: b.work,
    };
    let figures = kizuna_bench::imaging::run(&plan, &|what| eprintln!("  {what} ...")).await?;
    // How many times better Kizuna does: more per second, or fewer milliseconds and megabytes.
    println!("| Workload | Kizuna | Orthanc | Kizuna's advantage |");
    println!("|---|---|---|---|");
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for f in figures.iter().filter(|f| f.server != "disk") {
        if !rows.contains(&(f.workload, f.unit)) {
            rows.push((f.workload, f.unit));
        }
    }
    for (workload, unit) in rows {
        let of = |server: &str| {
            figures
                .iter()
                .find(|f| f.server == server && f.workload == workload && f.unit == unit)
                .map(|f| f.value)
        };
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} {unit}"));
        let lower_is_better = unit == "ms" || unit == "MB";
        let ratio = match (of("Kizuna"), of("Orthanc")) {
            (Some(k), Some(o)) if k > 0.0 && o > 0.0 => {
                format!("{:.1}x", if lower_is_better { o / k } else { k / o })
            }
            _ => "-".into(),
        };
        println!(
            "| {workload} | {} | {} | {ratio} |",
            show(of("Kizuna")),
            show(of("Orthanc"))
        );
    }
    let disk: Vec<String> = figures
        .iter()
        .filter(|f| f.server == "disk")
        .map(|f| format!("{:.1} {}", f.value, f.unit))
        .collect();
    if !disk.is_empty() {
        println!(
            "\nThis machine's ceiling for acknowledged writes (the STOW-RS copies written as files from {} threads, each fsynced with its directory): {}",
            plan.clients,
            disk.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
