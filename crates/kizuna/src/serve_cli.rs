//! `kizuna serve`: the FHIR server on the store, over plain HTTP on loopback (the node's own
//! operator) or mutual TLS (institutions' certificates, patients' cards, SMART clients).

use crate::cli::StoreArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use kizuna_records::Records;
use kizuna_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {
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
    /// Where DICOM images are kept: a directory, or s3://bucket (endpoint and keys from the
    /// AWS_* variables). Default: DIR/images beside the embedded store's data; with
    /// --database, none (DICOMweb then answers 503)
    #[arg(long, value_name = "DIR|s3://BUCKET")]
    images: Option<String>,
    #[command(flatten)]
    dicom: DicomArgs,
    #[command(flatten)]
    tls: TlsArgs,
    /// The card reader at reception, for the portal's consent by card: a directory of software
    /// cards (`kizuna card create`), or `pcsc` (every PC/SC reader) or `pcsc:NAME` (needs a
    /// build with `--features pcsc`). Needs --card-ca and --card-crl
    #[arg(long, value_name = "DIR|pcsc[:NAME]", requires = "card_ca")]
    card_reader: Option<String>,
}

/// What reception checks patients' cards with (over plain HTTP; with mutual TLS the card
/// authority comes with the TLS setup) and the card reader it reads them on.
#[derive(Default)]
pub struct Reception {
    /// The card authority's certificate (PEM) and its CRL file.
    pub card_authority: Option<(String, PathBuf)>,
    pub reader: Option<std::sync::Arc<dyn kizuna_trust::card::CardReader>>,
}

/// The card reader `--card-reader` names.
fn card_reader(at: &str) -> Result<std::sync::Arc<dyn kizuna_trust::card::CardReader>> {
    if at == "pcsc" || at.starts_with("pcsc:") {
        #[cfg(feature = "pcsc")]
        return Ok(std::sync::Arc::new(kizuna_trust::jpki::PcscReaders {
            only: at.strip_prefix("pcsc:").map(String::from),
        }));
        #[cfg(not(feature = "pcsc"))]
        bail!(
            "this kizuna was built without PC/SC card readers; build it with `cargo build --release --features pcsc` (Debian: apt install libpcsclite-dev pcscd), or give a directory of software cards"
        );
    }
    let dir = PathBuf::from(at);
    if !dir.is_dir() {
        bail!(
            "--card-reader {at}: no such directory of software cards (or give pcsc, or pcsc:NAME)"
        );
    }
    Ok(std::sync::Arc::new(kizuna_trust::card::CardDir::new(&dir)))
}

/// DICOM networking (DIMSE), for modalities and PACS.
#[derive(Args)]
pub struct DicomArgs {
    /// Also answer DICOM associations (C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE) on this port
    /// (associations act as the node's operator: from this machine under any AE title, from
    /// another only as a --dicom-peer)
    #[arg(long, value_name = "PORT")]
    dicom_port: Option<u16>,
    /// The address DICOM associations are answered on: 127.0.0.1 (this machine only) unless
    /// modalities or PACS elsewhere send (e.g. 0.0.0.0; each must then be a --dicom-peer)
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    dicom_listen: std::net::IpAddr,
    /// This node's AE title; associations calling another are rejected
    #[arg(long, value_name = "AE", default_value = "KIZUNA")]
    dicom_ae: String,
    /// A DICOM peer, as AE@host:port (repeat for each): C-MOVE may send to it, and it may
    /// associate from another machine (calling as AE, from an address host resolves to)
    #[arg(long = "dicom-peer", value_name = "AE@HOST:PORT")]
    dicom_peers: Vec<String>,
}

/// The DIMSE listener: its address, AE title, and its peers.
pub type DicomListener = (SocketAddr, String, Vec<kizuna_dimse::Peer>);

impl DicomArgs {
    /// The DIMSE listener's port, AE title and peers, if asked for.
    fn setup(&self) -> Result<Option<DicomListener>> {
        let Some(port) = self.dicom_port else {
            return Ok(None);
        };
        let ae = self.dicom_ae.trim();
        if ae.is_empty() || ae.len() > 16 {
            bail!("--dicom-ae must be 1 to 16 characters");
        }
        let peers = self
            .dicom_peers
            .iter()
            .map(|p| kizuna_dimse::Peer::parse(p).map_err(|e| anyhow::anyhow!("--dicom-peer {e}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((
            SocketAddr::new(self.dicom_listen, port),
            ae.to_string(),
            peers,
        )))
    }
}

/// Mutual TLS: give all four to serve HTTPS to institutions holding network-CA certificates.
#[derive(Args)]
struct TlsArgs {
    /// This server's certificate (`kizuna pki issue server --host …`); turns on mutual TLS
    #[arg(long, value_name = "CERT.pem", requires_all = ["tls_key", "client_ca", "client_crl"])]
    tls_cert: Option<PathBuf>,
    /// The server certificate's key
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The network CA whose institution and staff certificates may connect (network-ca.pem)
    #[arg(long, value_name = "CA.pem", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// The network CA's CRL (crl/network.crl.pem); reread whenever it changes
    #[arg(long, value_name = "CRL.pem", requires = "tls_cert")]
    client_crl: Option<PathBuf>,
    /// The card authority (card-ca.pem): patients' cards give consent and reach their records
    /// (over plain HTTP: only the portal's reception, with --card-reader)
    #[arg(long, value_name = "CA.pem", requires = "card_crl")]
    card_ca: Option<PathBuf>,
    /// The card authority's CRL (crl/card.crl.pem); reread whenever it changes
    #[arg(long, value_name = "CRL.pem", requires = "card_ca")]
    card_crl: Option<PathBuf>,
    /// SMART Backend Services: the clients `kizuna smart register` wrote (turns on /auth/token)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    smart_clients: Option<PathBuf>,
    /// With mutual TLS: sign a checkpoint of the audit log's head with this server's key this
    /// often, in seconds, when entries were added since the last (0: never; `kizuna audit
    /// checkpoint` does it by hand)
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    checkpoint_seconds: u64,
}

impl TlsArgs {
    fn setup(&self) -> Result<Option<kizuna_server::tls::TlsSetup>> {
        let (Some(cert), Some(key), Some(ca), Some(crl)) = (
            &self.tls_cert,
            &self.tls_key,
            &self.client_ca,
            &self.client_crl,
        ) else {
            return Ok(None);
        };
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        };
        Ok(Some(kizuna_server::tls::TlsSetup {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            client_ca_pem: read(ca)?,
            client_crl: crl.clone(),
            card: match (&self.card_ca, &self.card_crl) {
                (Some(ca), Some(crl)) => Some((read(ca)?, crl.clone())),
                _ => None,
            },
        }))
    }
}

pub async fn serve(a: ServeArgs) -> Result<ExitCode> {
    if a.max_body_mb == 0 {
        bail!("--max-body-mb must be at least 1");
    }
    let store = a.store.open().await?;
    crate::cli::warn_if_index_outdated(&store).await?;
    let tls = a.tls.setup()?;
    let smart = a.tls.smart_clients.clone();
    if let Some(setup) = &tls
        && a.tls.checkpoint_seconds > 0
    {
        spawn_checkpoints(
            store.clone(),
            setup.key_pem.clone(),
            setup.cert_pem.clone(),
            std::time::Duration::from_secs(a.tls.checkpoint_seconds),
        );
    }
    let images = match (&a.images, &a.store.database) {
        (Some(at), _) => Some(at.clone()),
        (None, None) => Some(a.store.data_dir().join("images").display().to_string()),
        (None, Some(_)) => None,
    };
    let images = images
        .map(|at| kizuna_blobs::Blobs::open(&at))
        .transpose()
        .context("cannot keep images there (--images)")?;
    if images.is_none() {
        tracing::warn!("no --images given: DICOM images are not kept, and DICOMweb answers 503");
    }
    let dicom = a.dicom.setup()?;
    if dicom.is_some() && images.is_none() {
        bail!("--dicom-port needs somewhere to keep images: give --images DIR (or s3://bucket)");
    }
    let reception = Reception {
        card_authority: match (&a.tls.card_ca, &a.tls.card_crl) {
            (Some(ca), Some(crl)) => Some((
                std::fs::read_to_string(ca)
                    .with_context(|| format!("cannot read {}", ca.display()))?,
                crl.clone(),
            )),
            _ => None,
        },
        reader: a.card_reader.as_deref().map(card_reader).transpose()?,
    };
    serve_store(
        store,
        a.addr,
        a.base_url,
        (a.max_body_mb, images, dicom),
        (tls, smart, reception),
        |_| {},
    )
    .await
}

/// Signs a checkpoint of the audit log every `every` while entries keep coming (see
/// `kizuna audit checkpoint`).
fn spawn_checkpoints(store: Store, key_pem: String, cert_pem: String, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut certified = 0;
        loop {
            tokio::time::sleep(every).await;
            match crate::audit_cli::certify_head(&store, &key_pem, &cert_pem, certified).await {
                Ok(Some((at, _))) => certified = at,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "the audit checkpoint failed; retrying"),
            }
        }
    });
}

/// Serves `store` until Ctrl-C/SIGTERM; `ready` runs with the base URL once requests are accepted.
pub async fn serve_store(
    store: Store,
    addr: SocketAddr,
    base_url: Option<String>,
    (max_body_mb, images, dicom): (usize, Option<kizuna_blobs::Blobs>, Option<DicomListener>),
    (tls, a_smart, reception): (
        Option<kizuna_server::tls::TlsSetup>,
        Option<PathBuf>,
        Reception,
    ),
    ready: impl FnOnce(&str),
) -> Result<ExitCode> {
    let a_addr = addr;
    if tls.is_none() && !addr.ip().is_loopback() {
        bail!(
            "without mutual TLS every request acts as this node's operator, so Kizuna listens on this machine only: use --addr 127.0.0.1:PORT, or turn on mutual TLS (--tls-cert, --tls-key, --client-ca, --client-crl)"
        );
    }
    let listener = tokio::net::TcpListener::bind(a_addr)
        .await
        .with_context(|| format!("cannot listen on {a_addr} (in use? try another --addr, or port 0 for any free port)"))?;
    let addr = listener.local_addr()?;
    let mut config = kizuna_server::Config::for_addr(addr);
    if tls.is_some() {
        config.base_url = format!("https://{addr}/fhir");
    }
    if let Some(b) = base_url {
        config.base_url = b.trim_end_matches('/').to_string();
    }
    config.max_body_bytes = max_body_mb * 1024 * 1024;
    if let (Some((at, ae_title, peers)), Some(blobs)) = (dicom, images.clone()) {
        start_dimse(&store, at, ae_title, peers, blobs).await?;
    }
    config.images = images;
    config.card_reader = reception.reader;
    let base = config.base_url.clone();
    tracing::info!(backend = store.backend_name(), %addr, "serving");
    // The audit log's keys (who each entry concerns) are indexed in bulk, here every few
    // seconds, so that a patient's log or the emergency list finds little left to index.
    let indexer = store.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            if let Err(e) = indexer.index_audit_keys().await {
                tracing::warn!(error = %e, "indexing the audit log's keys failed; retrying");
            }
        }
    });
    // The installed implementation guides: every write is validated against the profiles it
    // claims; an install or removal by `kizuna ig` (another process, on PostgreSQL) is picked
    // up within seconds.
    let records = Records::new(store.clone());
    records
        .profiles()
        .refresh(&store)
        .await
        .context("cannot load the installed implementation guides (`kizuna ig list` shows them)")?;
    let profiles = records.profiles().clone();
    let watched = store.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            match profiles.refresh(&watched).await {
                Ok(true) => tracing::info!("implementation guides reloaded"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reloading the implementation guides failed; keeping the ones loaded")
                }
            }
        }
    });
    match tls {
        Some(setup) => {
            let (tls_config, auth) = kizuna_server::tls::configure(&setup)
                .map_err(|e| anyhow::anyhow!("cannot set up mutual TLS: {e}"))?;
            let cards: Option<std::sync::Arc<dyn kizuna_access::CardTrust>> =
                setup.card.is_some().then(|| auth.clone() as _);
            let network = kizuna_access::Network::with_random_key(records, cards)
                .map_err(|e| anyhow::anyhow!(e))?;
            let smart = match &a_smart {
                Some(file) => Some(std::sync::Arc::new(
                    kizuna_server::smart::SmartSetup::new(
                        file.clone(),
                        format!("{}/auth/token", base.trim_end_matches("/fhir")),
                    )
                    .map_err(|e| anyhow::anyhow!(e))?,
                )),
                None => None,
            };
            let security = kizuna_server::Security {
                client_auth: Some(auth),
                smart,
            };
            let app = kizuna_server::app_for(network, config, security);
            println!("Kizuna FHIR R4 server ready at {base}");
            ready(&base);
            kizuna_server::tls::serve_tls(listener, app, tls_config, shutdown_signal())
                .await
                .context("the server stopped with an error")?;
        }
        None => {
            let cards: Option<std::sync::Arc<dyn kizuna_access::CardTrust>> =
                match &reception.card_authority {
                    Some((ca, crl)) => Some(std::sync::Arc::new(
                        kizuna_server::tls::CardAuthority::new(ca, crl.clone())
                            .map_err(|e| anyhow::anyhow!("cannot check patients' cards: {e}"))?,
                    )),
                    None => None,
                };
            let network = kizuna_access::Network::with_random_key(records, cards)
                .map_err(|e| anyhow::anyhow!("cannot start the server: {e}"))?;
            let app = kizuna_server::app_for(network, config, kizuna_server::Security::default());
            println!("Kizuna FHIR R4 server ready at {base}");
            ready(&base);
            kizuna_server::serve(listener, app, shutdown_signal())
                .await
                .context("the server stopped with an error")?;
        }
    }
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Answers DICOM associations on `at` until the process stops.
async fn start_dimse(
    store: &Store,
    at: SocketAddr,
    ae_title: String,
    peers: Vec<kizuna_dimse::Peer>,
    blobs: kizuna_blobs::Blobs,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(at).await.with_context(|| {
        format!("cannot listen for DICOM on {at} (in use? try another --dicom-port; not an address of this machine? check --dicom-listen)")
    })?;
    let network = kizuna_access::Network::with_random_key(Records::new(store.clone()), None)
        .map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "Kizuna DICOM (DIMSE) ready at {ae_title}@{}",
        listener.local_addr()?
    );
    let setup = std::sync::Arc::new(kizuna_dimse::Setup {
        ae_title,
        blobs,
        peers,
    });
    tokio::spawn(async move {
        if let Err(e) = kizuna_dimse::serve(
            listener,
            std::sync::Arc::new(network),
            setup,
            shutdown_signal(),
        )
        .await
        {
            tracing::error!(error = %e, "the DICOM listener stopped");
        }
    });
    Ok(())
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
