//! Mutual TLS: institutions reach the API with the certificate the network CA gave them.
//!
//! The TLS handshake asks every client for a certificate and checks that the client holds its
//! key (the handshake signature). Whether the certificate may be used — issued by the network
//! CA, within its validity, not revoked in the current CRL, for client authentication — is
//! decided per request by [`authenticate`] with `kizuna_trust::pki::verify`, so that a refusal
//! is an OperationOutcome that names the reason (and, with the audit log, is recorded), not a
//! bare TLS alert. The CRL file is reread when it changes, so a revocation takes effect on the
//! next request without a restart.

use crate::reply;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use kizuna_fhir::IssueCode;
use kizuna_trust::pki::{self, AuthorityKind, Holder, PkiError};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

/// What `kizuna serve` needs for mutual TLS (all PEM).
#[derive(Debug, Clone)]
pub struct TlsSetup {
    /// The server's certificate (`kizuna pki issue server`), and its key.
    pub cert_pem: String,
    pub key_pem: String,
    /// The network CA, which issued the institutions' certificates.
    pub client_ca_pem: String,
    /// The network CA's CRL (`kizuna pki` republishes it on every revocation).
    pub client_crl: PathBuf,
    /// The card authority and its CRL: patients reach their own records with their card, and
    /// institutions post cards' answers to consent challenges.
    pub card: Option<(String, PathBuf)>,
}

/// The leaf certificate a client presented on its connection (DER), if any.
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Option<Arc<Vec<u8>>>);

/// Who is calling: the holder of a verified client certificate.
#[derive(Debug, Clone)]
pub struct Caller(pub Holder);

/// Asks for a client certificate and checks possession of its key only (see the module doc).
#[derive(Debug)]
struct PresentedCertificate {
    provider: Arc<CryptoProvider>,
    hints: Vec<DistinguishedName>,
}

impl ClientCertVerifier for PresentedCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A CRL file, reread when it changes.
struct CrlFile {
    path: PathBuf,
    cached: Mutex<Option<(SystemTime, Arc<Vec<u8>>)>>,
}

impl CrlFile {
    fn new(path: PathBuf) -> CrlFile {
        CrlFile {
            path,
            cached: Mutex::new(None),
        }
    }

    fn der(&self) -> Result<Arc<Vec<u8>>, String> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .map_err(|e| format!("the CRL {} cannot be read: {e}", self.path.display()))?;
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| "CRL cache poisoned".to_string())?;
        if let Some((at, der)) = cached.as_ref()
            && *at == modified
        {
            return Ok(der.clone());
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("the CRL {} cannot be read: {e}", self.path.display()))?;
        let der = Arc::new(pki::pem_der(&text, "X509 CRL").map_err(|e| e.to_string())?);
        *cached = Some((modified, der.clone()));
        Ok(der)
    }
}

/// The checks of client certificates: the network CA (institutions, staff) and, if set, the
/// card authority (patients), each with its CRL.
pub struct ClientAuth {
    ca_der: Vec<u8>,
    crl: CrlFile,
    card: Option<CardAuthority>,
}

impl ClientAuth {
    /// Who holds `cert`, or why it is refused.
    fn check(&self, cert: &[u8]) -> Result<Holder, PkiError> {
        let now = time::OffsetDateTime::now_utc();
        let crl = self.crl.der().map_err(PkiError::Invalid)?;
        let network = pki::verify(cert, &self.ca_der, AuthorityKind::Network, &crl, now);
        match (&network, &self.card) {
            (Err(PkiError::UnknownIssuer(_)), Some(card)) => {
                let crl = card.crl.der().map_err(PkiError::Invalid)?;
                match pki::verify(cert, &card.ca_der, AuthorityKind::Card, &crl, now) {
                    Err(PkiError::UnknownIssuer(_)) => network,
                    other => other,
                }
            }
            _ => network,
        }
    }
}

impl kizuna_access::CardTrust for ClientAuth {
    fn card_authority(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        match &self.card {
            Some(card) => kizuna_access::CardTrust::card_authority(card),
            None => {
                Err("this node has no card authority (kizuna serve --card-ca --card-crl)".into())
            }
        }
    }
}

/// The card authority patients' cards are checked against: its certificate, and its CRL
/// file, reread whenever it changes (a lost card revoked takes effect at once).
pub struct CardAuthority {
    ca_der: Vec<u8>,
    crl: CrlFile,
}

impl CardAuthority {
    /// The authority of `ca_pem` with its CRL at `crl`; an error if either cannot be read.
    pub fn new(ca_pem: &str, crl: PathBuf) -> Result<CardAuthority, String> {
        let card = CardAuthority {
            ca_der: pki::pem_der(ca_pem, "CERTIFICATE")
                .map_err(|e| format!("the card authority: {e}"))?,
            crl: CrlFile::new(crl),
        };
        card.crl.der()?;
        Ok(card)
    }
}

impl kizuna_access::CardTrust for CardAuthority {
    fn card_authority(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        Ok((self.ca_der.clone(), self.crl.der()?.to_vec()))
    }
}

/// The rustls configuration and the client checks of `setup`.
pub fn configure(setup: &TlsSetup) -> Result<(Arc<rustls::ServerConfig>, Arc<ClientAuth>), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = pem_blocks(&setup.cert_pem, "CERTIFICATE")?
        .into_iter()
        .map(CertificateDer::from)
        .collect::<Vec<_>>();
    if certs.is_empty() {
        return Err("the server certificate file holds no CERTIFICATE".into());
    }
    let key = PrivateKeyDer::try_from(
        pem_blocks(&setup.key_pem, "PRIVATE KEY")?
            .into_iter()
            .next()
            .ok_or("the server key file holds no PRIVATE KEY (PKCS#8)")?,
    )
    .map_err(|e| format!("the server key: {e}"))?;
    let ca_der = pki::pem_der(&setup.client_ca_pem, "CERTIFICATE").map_err(|e| e.to_string())?;
    let hint = x509_subject(&ca_der)?;
    let verifier = Arc::new(PresentedCertificate {
        provider: provider.clone(),
        hints: vec![DistinguishedName::from(hint)],
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("the server certificate and key: {e}"))?;
    let card = match &setup.card {
        Some((pem, crl)) => Some(CardAuthority::new(pem, crl.clone())?),
        None => None,
    };
    let auth = Arc::new(ClientAuth {
        ca_der,
        crl: CrlFile::new(setup.client_crl.clone()),
        card,
    });
    auth.crl.der()?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), auth))
}

fn pem_blocks(text: &str, label: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()) {
        let block = block.map_err(|e| format!("PEM: {e}"))?;
        if block.label == label || (label == "PRIVATE KEY" && block.label.ends_with("PRIVATE KEY"))
        {
            out.push(block.contents);
        }
    }
    Ok(out)
}

/// The DER of a certificate's subject name (the hint sent to clients).
fn x509_subject(der: &[u8]) -> Result<Vec<u8>, String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("the client CA certificate: {e}"))?;
    Ok(cert.subject().as_raw().to_vec())
}

/// Refuses requests without a valid client certificate (except the CapabilityStatement, which
/// is public) with a 401 OperationOutcome naming the reason; puts the [`Caller`] on the others.
///
/// With SMART Backend Services set up, a request without a client certificate may instead carry
/// an access token from the token endpoint (`Authorization: Bearer`); the token endpoint and the
/// SMART discovery document are public too.
pub async fn authenticate(
    auth: Arc<ClientAuth>,
    smart: Option<Arc<crate::smart::SmartSetup>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let public = path == "/fhir/metadata"
        || (smart.is_some()
            && matches!(
                path,
                "/auth/token"
                    | "/.well-known/smart-configuration"
                    | "/fhir/.well-known/smart-configuration"
            ));
    if public {
        return next.run(req).await;
    }
    let presented = req
        .extensions()
        .get::<PeerCertificate>()
        .and_then(|p| p.0.clone());
    let Some(cert) = presented else {
        match smart.as_ref().and_then(|s| s.bearer(req.headers())) {
            Some(Ok(grant)) => {
                req.extensions_mut().insert(crate::smart::Granted(grant));
                return next.run(req).await;
            }
            Some(Err(e)) => {
                tracing::info!(reason = e.oauth_error(), "access token refused");
                return reply::error(401, IssueCode::Login, format!("access token refused: {e}"));
            }
            None => {}
        }
        return reply::error(
            401,
            IssueCode::Login,
            "no client certificate: institutions reach this API over mutual TLS with the certificate `kizuna pki issue institution` gave them (or, with SMART Backend Services, with an access token from /auth/token)",
        );
    };
    match auth.check(&cert) {
        Ok(holder) => {
            req.extensions_mut().insert(Caller(holder));
            next.run(req).await
        }
        Err(e) => {
            tracing::info!(reason = %e, "client certificate refused");
            reply::error(
                401,
                IssueCode::Login,
                format!("client certificate refused: {e}"),
            )
        }
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then lets connections in
/// flight finish (at most 30 s). Handshakes time out after 10 s.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let peer = PeerCertificate(
                stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| Arc::new(c.to_vec())),
            );
            let service = tower::ServiceExt::map_request(
                app,
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(peer.clone());
                    req
                },
            );
            let service = hyper_util::service::TowerToHyperService::new(service);
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 30 s; stopping anyway");
    }
    Ok(())
}
