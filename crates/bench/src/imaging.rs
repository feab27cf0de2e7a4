//! The imaging benchmark: Kizuna and Orthanc side by side on this machine, each started here
//! as its own process on ports of its own, given the same files by the same clients.
//!
//! Workloads, in order, for each server:
//! - **STOW-RS ingest**: copies of the real head CT (28 slices, 14.7 MB a study), each study
//!   with UIDs of its own, one study per request from `clients` connections (instances/s, MB/s);
//! - **C-STORE ingest**: other copies, over `clients` associations (instances/s, MB/s);
//! - **QIDO-RS latency** once the server holds `qido_instances` more (copies without pixel data,
//!   100 per study, stored by STOW-RS): a study by its Accession Number, and one study's
//!   instances (p50, p99 in ms);
//! - **rendered frame**: a 512x512 CT slice as JPEG (p50, p99 in ms);
//! - **WADO-RS**: a whole study, the files as kept (MB/s);
//! - **memory**: the server process's resident set after all that (MB).
//!
//! First, the machine's own ceiling for acknowledged writes (server `disk`): the STOW-RS copies
//! written as files from `clients` threads, each file fsynced and then its directory, as a
//! server that loses nothing it acknowledged must before answering.

use crate::client::{Base, Conn};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use hdrhistogram::Histogram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone)]
pub struct ImagingPlan {
    /// The head CT's slices.
    pub ct: PathBuf,
    /// The `kizuna` binary to start.
    pub kizuna: PathBuf,
    /// Orthanc's binary and DICOMweb plugin, if installed.
    pub orthanc: Option<(PathBuf, PathBuf)>,
    /// Copies of the CT for each ingest path.
    pub studies: usize,
    /// Instances added before the QIDO-RS measure.
    pub qido_instances: usize,
    pub clients: usize,
    /// Where the servers keep their data (emptied first, removed at the end).
    pub work: PathBuf,
}

/// One figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub server: &'static str,
    pub workload: &'static str,
    pub value: f64,
    pub unit: &'static str,
}

struct Server {
    child: Child,
    /// `http://127.0.0.1:P` + the DICOMweb root.
    dicomweb: String,
    dicom: kizuna_dimse::Peer,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_for(url: &str) -> Result<()> {
    let base = Base::parse(url)?;
    for _ in 0..600 {
        if let Ok(mut c) = Conn::open(&base).await
            && let Ok((200, _)) = c.request_with("GET", "", &[], None).await
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("{url} did not answer within a minute")
}

async fn start_kizuna(plan: &ImagingPlan) -> Result<Server> {
    let (http, dicom) = (free_port()?, free_port()?);
    let data = plan.work.join("kizuna");
    let child = Command::new(&plan.kizuna)
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{http}"),
            "--dicom-port",
            &dicom.to_string(),
        ])
        .arg("--data")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", plan.kizuna.display()))?;
    let server = Server {
        child,
        dicomweb: format!("http://127.0.0.1:{http}/dicomweb"),
        dicom: kizuna_dimse::Peer {
            ae_title: "KIZUNA".into(),
            address: format!("127.0.0.1:{dicom}"),
        },
    };
    wait_for(&format!("http://127.0.0.1:{http}/fhir/metadata")).await?;
    // The benchmark's patient, whose number the copies carry.
    let mut c = Conn::open(&Base::parse(&format!("http://127.0.0.1:{http}/fhir"))?).await?;
    let patient = serde_json::json!({"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11310000001", "value": PATIENT}]});
    let (status, _) = c
        .request("POST", "Patient", Some(patient.to_string().into_bytes()))
        .await?;
    if status != 201 {
        bail!("the benchmark's patient could not be registered ({status})");
    }
    Ok(server)
}

fn start_orthanc(plan: &ImagingPlan, binary: &Path, plugin: &Path) -> Result<Server> {
    let (http, dicom) = (free_port()?, free_port()?);
    let dir = plan.work.join("orthanc");
    std::fs::create_dir_all(&dir)?;
    let config = serde_json::json!({
        "Name": "kizuna-bench", "StorageDirectory": dir.join("storage"), "IndexDirectory": dir.join("index"),
        "DicomAet": "ORTHANC", "DicomPort": dicom, "HttpPort": http,
        "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "DicomCheckCalledAet": false,
        "DicomAlwaysAllowStore": true, "Plugins": [plugin],
        "DicomWeb": {"Enable": true, "Root": "/dicom-web/"},
    });
    let file = dir.join("orthanc.json");
    std::fs::write(&file, config.to_string())?;
    let child = Command::new(binary)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    Ok(Server {
        child,
        dicomweb: format!("http://127.0.0.1:{http}/dicom-web"),
        dicom: kizuna_dimse::Peer {
            ae_title: "ORTHANC".into(),
            address: format!("127.0.0.1:{dicom}"),
        },
    })
}

const PATIENT: &str = "BENCH-0001";

/// A copy of `file` with new study, series and instance UIDs (from `study`, `n`), the
/// benchmark's patient, and, with `header_only`, no pixel data; and its Accession Number.
fn copy(file: &[u8], study: usize, series: usize, n: usize, header_only: bool) -> Result<Bytes> {
    let mut o = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Auto)
        .from_reader(file)
        .context("the CT slice cannot be read")?;
    let root = "1.2.826.0.1.3680043.10.1435.9";
    let put = |o: &mut dicom_object::DefaultDicomObject, tag, vr, v: String| {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    };
    let sop = format!("{root}.{study}.{series}.{n}");
    put(
        &mut o,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        format!("{root}.{study}"),
    );
    put(
        &mut o,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        format!("{root}.{study}.{series}"),
    );
    put(&mut o, tags::SOP_INSTANCE_UID, VR::UI, sop.clone());
    put(&mut o, tags::PATIENT_ID, VR::LO, PATIENT.into());
    put(&mut o, tags::ACCESSION_NUMBER, VR::SH, format!("A{study}"));
    put(&mut o, tags::INSTANCE_NUMBER, VR::IS, (n + 1).to_string());
    if header_only {
        o.remove_element(tags::PIXEL_DATA);
    }
    o.meta_mut().media_storage_sop_instance_uid = sop;
    o.meta_mut().update_information_group_length();
    let mut out = Vec::new();
    o.write_all(&mut out)
        .context("the copy cannot be written")?;
    Ok(Bytes::from(out))
}

fn multipart(files: &[Bytes], boundary: &str) -> Bytes {
    let mut body =
        Vec::with_capacity(files.iter().map(Bytes::len).sum::<usize>() + 128 * files.len());
    for f in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(f);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Bytes::from(body)
}

/// Posts each batch as one STOW-RS request, from `clients` connections.
async fn stow(root: &str, batches: Vec<Vec<Bytes>>, clients: usize) -> Result<()> {
    let base = Base::parse(root)?;
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(batches));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (base, queue) = (base.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&base).await?;
            let ctype = "multipart/related; type=\"application/dicom\"; boundary=kizuna-bench";
            loop {
                let Some(batch) = queue.lock().await.pop() else {
                    return Ok::<_, anyhow::Error>(());
                };
                let body = multipart(&batch, "kizuna-bench");
                let (status, b) = c
                    .request_with(
                        "POST",
                        "studies",
                        &[
                            ("content-type", ctype),
                            ("accept", "application/dicom+json"),
                        ],
                        Some(body),
                    )
                    .await?;
                if status != 200 {
                    bail!(
                        "STOW-RS answered {status}: {}",
                        String::from_utf8_lossy(&b[..b.len().min(300)])
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

async fn latencies(root: &str, paths: &[String], accept: &str) -> Result<(f64, f64)> {
    let mut c = Conn::open(&Base::parse(root)?).await?;
    let mut h = Histogram::<u64>::new(3)?;
    for p in paths {
        let t = Instant::now();
        let (status, _) = c
            .request_with("GET", p, &[("accept", accept)], None)
            .await?;
        if status != 200 {
            bail!("GET {p} answered {status}");
        }
        h.record(t.elapsed().as_micros() as u64)?;
    }
    Ok((
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
    ))
}

/// The disk's ceiling for acknowledged writes: `files` written from `threads` threads into
/// `dir`, each fsynced with its directory before the next; (files/s, MB/s).
fn disk_ceiling(dir: &Path, files: &[Bytes], threads: usize) -> Result<(f64, f64)> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let chunk = files.len().div_ceil(threads.max(1)).max(1);
    let t = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = files
            .chunks(chunk)
            .enumerate()
            .map(|(w, part)| {
                scope.spawn(move || -> std::io::Result<()> {
                    let sub = dir.join(format!("{w}"));
                    std::fs::create_dir_all(&sub)?;
                    let d = std::fs::File::open(&sub)?;
                    for (n, bytes) in part.iter().enumerate() {
                        let mut f = std::fs::File::create(sub.join(format!("{n}.dcm")))?;
                        f.write_all(bytes)?;
                        f.sync_all()?;
                        d.sync_all()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a disk writer failed"))??;
        }
        Ok(())
    })?;
    let secs = t.elapsed().as_secs_f64();
    let bytes: usize = files.iter().map(Bytes::len).sum();
    Ok((files.len() as f64 / secs, bytes as f64 / 1e6 / secs))
}

/// Runs every workload on Kizuna, then on Orthanc if it is installed; `say` reports progress.
///
/// Nothing is deleted while measuring: on ext4, files deleted within the last minute or so
/// slow every file created after them (each new inode skips the recently freed ones), which
/// would tax whichever server runs first. The run's files are removed at its end; any left by
/// an interrupted run are removed first, with a warning.
pub async fn run(plan: &ImagingPlan, say: &(dyn Fn(&str) + Sync)) -> Result<Vec<Figure>> {
    if plan.work.exists() {
        say(&format!(
            "removing what an earlier run left in {} (file creation may be slower for a minute)",
            plan.work.display()
        ));
        std::fs::remove_dir_all(&plan.work)
            .with_context(|| format!("cannot empty {}", plan.work.display()))?;
    }
    std::fs::create_dir_all(&plan.work)?;
    let figures = measure(plan, say).await;
    let _ = std::fs::remove_dir_all(&plan.work);
    figures
}

async fn measure(plan: &ImagingPlan, say: &(dyn Fn(&str) + Sync)) -> Result<Vec<Figure>> {
    let mut slices: Vec<PathBuf> = std::fs::read_dir(&plan.ct)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
        .collect();
    slices.sort();
    let slices: Vec<Vec<u8>> = slices.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    if slices.is_empty() {
        bail!("no .dcm files in {}", plan.ct.display());
    }
    say("preparing copies of the CT");
    let study_set = |first: usize,
                     header_only: bool,
                     per_study: usize,
                     count: usize|
     -> Result<Vec<Vec<Bytes>>> {
        (0..count)
            .map(|s| {
                (0..per_study)
                    .map(|n| copy(&slices[n % slices.len()], first + s, 1, n, header_only))
                    .collect()
            })
            .collect()
    };
    let stow_studies = study_set(1, false, slices.len(), plan.studies)?;
    let dimse_studies = study_set(100_000, false, slices.len(), plan.studies)?;
    let qido_studies = study_set(200_000, true, 100, plan.qido_instances.div_ceil(100))?;
    let stow_bytes: usize = stow_studies.iter().flatten().map(Bytes::len).sum();
    let dimse_bytes: usize = dimse_studies.iter().flatten().map(Bytes::len).sum();
    let mut figures = Vec::new();
    say("measuring the disk's ceiling for acknowledged writes");
    let all: Vec<Bytes> = stow_studies.iter().flatten().cloned().collect();
    let (files, mb) = disk_ceiling(&plan.work.join("disk"), &all, plan.clients)?;
    for (value, unit) in [(files, "instances/s"), (mb, "MB/s")] {
        figures.push(Figure {
            server: "disk",
            workload: "files written and fsynced",
            value,
            unit,
        });
    }
    let mut servers: Vec<&'static str> = vec!["Kizuna"];
    if plan.orthanc.is_some() {
        servers.push("Orthanc");
    }
    for name in servers {
        let server = match name {
            "Kizuna" => start_kizuna(plan).await?,
            _ => {
                let (b, p) = plan.orthanc.as_ref().context("Orthanc is not installed")?;
                let s = start_orthanc(plan, b, p)?;
                wait_for(&format!("{}/studies", s.dicomweb)).await?;
                s
            }
        };
        let mut fig = |workload, value, unit| {
            figures.push(Figure {
                server: name,
                workload,
                value,
                unit,
            });
        };
        say(&format!("{name}: STOW-RS ingest"));
        let n: usize = stow_studies.iter().map(Vec::len).sum();
        let t = Instant::now();
        stow(&server.dicomweb, stow_studies.clone(), plan.clients).await?;
        let secs = t.elapsed().as_secs_f64();
        fig("STOW-RS ingest", n as f64 / secs, "instances/s");
        fig("STOW-RS ingest", stow_bytes as f64 / 1e6 / secs, "MB/s");

        say(&format!("{name}: C-STORE ingest"));
        let n: usize = dimse_studies.iter().map(Vec::len).sum();
        let per_client: Vec<Vec<Bytes>> = {
            let all: Vec<Bytes> = dimse_studies.iter().flatten().cloned().collect();
            let chunk = all.len().div_ceil(plan.clients.max(1));
            all.chunks(chunk.max(1)).map(<[Bytes]>::to_vec).collect()
        };
        let t = Instant::now();
        let mut tasks = Vec::new();
        for files in per_client {
            let peer = server.dicom.clone();
            tasks.push(tokio::spawn(async move {
                kizuna_dimse::scu::store_files("BENCH", &peer, &files).await
            }));
        }
        for task in tasks {
            let done = task.await?.map_err(|e| anyhow::anyhow!("C-STORE: {e}"))?;
            if done.failed > 0 {
                bail!("{name} refused {} C-STORE objects", done.failed);
            }
        }
        let secs = t.elapsed().as_secs_f64();
        fig("C-STORE ingest", n as f64 / secs, "instances/s");
        fig("C-STORE ingest", dimse_bytes as f64 / 1e6 / secs, "MB/s");

        say(&format!(
            "{name}: filling to {} more instances for QIDO-RS",
            plan.qido_instances
        ));
        stow(&server.dicomweb, qido_studies.clone(), plan.clients).await?;
        let probes: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "studies?AccessionNumber=A{}",
                    200_000 + (i * 7919) % qido_studies.len()
                )
            })
            .collect();
        let (p50, p99) = latencies(&server.dicomweb, &probes, "application/dicom+json").await?;
        fig("QIDO-RS study by accession, p50", p50, "ms");
        fig("QIDO-RS study by accession, p99", p99, "ms");
        let root = "1.2.826.0.1.3680043.10.1435.9";
        let probes: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    "studies/{root}.{}/instances",
                    200_000 + (i * 7919) % qido_studies.len()
                )
            })
            .collect();
        let (p50, p99) = latencies(&server.dicomweb, &probes, "application/dicom+json").await?;
        fig("QIDO-RS a study's 100 instances, p50", p50, "ms");
        fig("QIDO-RS a study's 100 instances, p99", p99, "ms");

        say(&format!("{name}: rendered frames"));
        let slice = format!(
            "studies/{root}.1/series/{root}.1.1/instances/{root}.1.1.{}",
            slices.len() / 2
        );
        let probes: Vec<String> = (0..100)
            .map(|_| format!("{slice}/frames/1/rendered"))
            .collect();
        let (p50, p99) = latencies(&server.dicomweb, &probes, "image/jpeg").await?;
        fig("rendered 512x512 CT frame (JPEG), p50", p50, "ms");
        fig("rendered 512x512 CT frame (JPEG), p99", p99, "ms");

        say(&format!("{name}: WADO-RS"));
        let base = Base::parse(&server.dicomweb)?;
        let t = Instant::now();
        let mut bytes = 0usize;
        for s in 0..10 {
            // A connection per study: a server may close one after a long answer.
            let mut c = Conn::open(&base).await?;
            let path = format!("studies/{root}.{}", 1 + s % plan.studies.max(1));
            let (status, body) = c
                .request_with(
                    "GET",
                    &path,
                    &[("accept", "multipart/related; type=\"application/dicom\"")],
                    None,
                )
                .await?;
            if status != 200 {
                bail!("WADO-RS answered {status}");
            }
            bytes += body.len();
        }
        fig(
            "WADO-RS study retrieve",
            bytes as f64 / 1e6 / t.elapsed().as_secs_f64(),
            "MB/s",
        );
        if let Some(mb) = rss_mb(server.child.id()) {
            fig("memory after ingest (RSS)", mb, "MB");
        }
        drop(server);
    }
    Ok(figures)
}
