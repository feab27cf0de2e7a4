//! The network's two authorities kept in a directory, with the ledger of what they issued and
//! revoked, and their published CRLs: what `kizuna pki` works on.
//!
//! ```text
//! DIR/network-ca.pem   network-ca.key (owner-only)
//! DIR/card-ca.pem      card-ca.key    (owner-only)
//! DIR/ledger.json      every certificate issued: serial, authority, holder, expiry, revocation
//! DIR/issued/SERIAL.pem, SERIAL.key (owner-only): handed to the holder
//! DIR/crl/network.crl.pem, DIR/crl/card.crl.pem: republished on every revocation
//! ```
//!
//! Every file is written whole to a temporary name, synced and renamed, so a crash leaves the
//! old or the new version, never half of one.

use crate::pki::{Authority, AuthorityKind, Holder, Issued, PkiError, Revocation};
use kizuna_jpid::InstitutionCode;
use rcgen::RevocationReason;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// How long a published CRL is valid: relying parties refetch within this.
pub const CRL_VALIDITY_DAYS: i64 = 7;

/// One issued certificate in the ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub serial: String,
    /// `network` or `card`.
    pub authority: String,
    /// `institution`, `staff` or `card`.
    pub kind: String,
    /// The institution code, `code/staff id`, or the card serial.
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub not_after: String,
    pub revoked: Option<Revoked>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revoked {
    /// RFC 3339.
    pub at: String,
    pub reason: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Ledger {
    issued: Vec<Entry>,
    network_crl_number: u64,
    card_crl_number: u64,
}

/// The reasons `revoke` takes, as written on the command line.
pub const REASONS: &[(&str, RevocationReason)] = &[
    ("unspecified", RevocationReason::Unspecified),
    ("key-compromise", RevocationReason::KeyCompromise),
    ("affiliation-changed", RevocationReason::AffiliationChanged),
    ("superseded", RevocationReason::Superseded),
    (
        "cessation-of-operation",
        RevocationReason::CessationOfOperation,
    ),
    ("certificate-hold", RevocationReason::CertificateHold),
];

/// An authorities directory, opened.
pub struct CaDir {
    dir: PathBuf,
    network: Authority,
    card: Authority,
    ledger: Ledger,
}

fn io(path: &Path, e: std::io::Error) -> PkiError {
    PkiError::Invalid(format!("{}: {e}", path.display()))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Writes `bytes` to `path` whole: a temporary file, synced, renamed, the directory synced.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], secret: bool) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = options.open(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Some(parent) = path.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|e| io(path, e))
}

impl CaDir {
    /// Creates both authorities in `dir` (which must not hold any yet).
    pub fn init(dir: &Path, name: &str, now: OffsetDateTime) -> Result<CaDir, PkiError> {
        if dir.join("network-ca.pem").exists() || dir.join("card-ca.pem").exists() {
            return Err(PkiError::Invalid(format!(
                "{} already holds certificate authorities; use another directory (or delete it to start over)",
                dir.display()
            )));
        }
        for sub in [dir.to_path_buf(), dir.join("issued"), dir.join("crl")] {
            std::fs::create_dir_all(&sub).map_err(|e| io(&sub, e))?;
        }
        let network = Authority::create(AuthorityKind::Network, name, now, 20)?;
        let card = Authority::create(AuthorityKind::Card, name, now, 20)?;
        for (a, file) in [(&network, "network-ca"), (&card, "card-ca")] {
            write_atomically(
                &dir.join(format!("{file}.key")),
                a.key_pem().as_bytes(),
                true,
            )?;
            write_atomically(
                &dir.join(format!("{file}.pem")),
                a.cert_pem.as_bytes(),
                false,
            )?;
        }
        let mut ca = CaDir {
            dir: dir.to_path_buf(),
            network,
            card,
            ledger: Ledger::default(),
        };
        ca.publish_crls(now)?;
        Ok(ca)
    }

    /// Opens the authorities in `dir`.
    pub fn open(dir: &Path) -> Result<CaDir, PkiError> {
        if !dir.join("network-ca.pem").exists() {
            return Err(PkiError::Invalid(format!(
                "{} holds no certificate authorities; create them with `kizuna pki init --dir {}`",
                dir.display(),
                dir.display()
            )));
        }
        let load = |kind, file: &str| {
            Authority::load(
                kind,
                &read(&dir.join(format!("{file}.pem")))?,
                &read(&dir.join(format!("{file}.key")))?,
            )
        };
        let ledger_path = dir.join("ledger.json");
        let ledger = if ledger_path.exists() {
            serde_json::from_str(&read(&ledger_path)?)
                .map_err(|e| PkiError::Invalid(format!("{}: {e}", ledger_path.display())))?
        } else {
            Ledger::default()
        };
        Ok(CaDir {
            dir: dir.to_path_buf(),
            network: load(AuthorityKind::Network, "network-ca")?,
            card: load(AuthorityKind::Card, "card-ca")?,
            ledger,
        })
    }

    pub fn authority(&self, kind: AuthorityKind) -> &Authority {
        match kind {
            AuthorityKind::Network => &self.network,
            AuthorityKind::Card => &self.card,
        }
    }

    /// Every certificate issued, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.ledger.issued
    }

    /// Issues a certificate to `holder`, records it and writes its files; answers it and the
    /// paths of its certificate and key.
    pub fn issue(
        &mut self,
        holder: &Holder,
        now: OffsetDateTime,
        days: i64,
    ) -> Result<(Issued, PathBuf, PathBuf), PkiError> {
        if days <= 0 {
            return Err(PkiError::Invalid(format!(
                "a certificate must be valid for at least a day, not {days}"
            )));
        }
        let (kind, authority, id, name) = match holder {
            Holder::Institution { code, name } => (
                "institution",
                AuthorityKind::Network,
                code.to_string(),
                name.clone(),
            ),
            Holder::Staff {
                institution,
                staff_id,
                name,
            } => (
                "staff",
                AuthorityKind::Network,
                format!("{institution}/{staff_id}"),
                name.clone(),
            ),
            Holder::Card { serial } => ("card", AuthorityKind::Card, serial.clone(), String::new()),
            Holder::Server { hosts } => (
                "server",
                AuthorityKind::Network,
                hosts.join(","),
                String::new(),
            ),
        };
        let issued = self.authority(authority).issue(holder, now, days)?;
        let cert_path = self
            .dir
            .join("issued")
            .join(format!("{}.pem", issued.serial));
        let key_path = self
            .dir
            .join("issued")
            .join(format!("{}.key", issued.serial));
        write_atomically(&key_path, issued.key_pem.as_bytes(), true)?;
        write_atomically(&cert_path, issued.cert_pem.as_bytes(), false)?;
        self.ledger.issued.push(Entry {
            serial: issued.serial.clone(),
            authority: match authority {
                AuthorityKind::Network => "network",
                AuthorityKind::Card => "card",
            }
            .into(),
            kind: kind.into(),
            id,
            name,
            not_after: rfc3339(issued.not_after),
            revoked: None,
        });
        self.save()?;
        Ok((issued, cert_path, key_path))
    }

    /// Revokes the certificate `serial` and republishes its authority's CRL.
    pub fn revoke(
        &mut self,
        serial: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Entry, PkiError> {
        if !REASONS.iter().any(|(r, _)| *r == reason) {
            let known: Vec<&str> = REASONS.iter().map(|(r, _)| *r).collect();
            return Err(PkiError::Invalid(format!(
                "'{reason}' is not a revocation reason ({})",
                known.join(", ")
            )));
        }
        let serial = serial.trim().to_ascii_lowercase();
        let Some(entry) = self.ledger.issued.iter_mut().find(|e| e.serial == serial) else {
            return Err(PkiError::Invalid(format!(
                "no certificate with serial {serial} was issued here (`kizuna pki list` shows them)"
            )));
        };
        if entry.revoked.is_some() {
            return Err(PkiError::Invalid(format!(
                "the certificate {serial} is revoked already"
            )));
        }
        entry.revoked = Some(Revoked {
            at: rfc3339(now),
            reason: reason.into(),
        });
        let entry = entry.clone();
        self.publish_crls(now)?;
        Ok(entry)
    }

    /// Signs and writes both CRLs (each with the next CRL number); answers their paths.
    pub fn publish_crls(&mut self, now: OffsetDateTime) -> Result<[PathBuf; 2], PkiError> {
        let next = now + time::Duration::days(CRL_VALIDITY_DAYS);
        let mut paths = Vec::new();
        for kind in [AuthorityKind::Network, AuthorityKind::Card] {
            let (label, number) = match kind {
                AuthorityKind::Network => {
                    self.ledger.network_crl_number += 1;
                    ("network", self.ledger.network_crl_number)
                }
                AuthorityKind::Card => {
                    self.ledger.card_crl_number += 1;
                    ("card", self.ledger.card_crl_number)
                }
            };
            let revoked = self
                .ledger
                .issued
                .iter()
                .filter(|e| e.authority == label)
                .filter_map(|e| {
                    let r = e.revoked.as_ref()?;
                    Some(Revocation {
                        serial: e.serial.clone(),
                        at: OffsetDateTime::parse(
                            &r.at,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .unwrap_or(now),
                        reason: REASONS
                            .iter()
                            .find(|(name, _)| *name == r.reason)
                            .map_or(RevocationReason::Unspecified, |(_, reason)| *reason),
                    })
                })
                .collect::<Vec<_>>();
            let pem = self.authority(kind).crl(&revoked, number, now, next)?;
            let path = self.dir.join("crl").join(format!("{label}.crl.pem"));
            write_atomically(&path, pem.as_bytes(), false)?;
            paths.push(path);
        }
        self.save()?;
        let [a, b]: [PathBuf; 2] = paths
            .try_into()
            .map_err(|_| PkiError::Invalid("two CRLs".into()))?;
        Ok([a, b])
    }

    /// The current CRL of an authority, DER.
    pub fn crl_der(&self, kind: AuthorityKind) -> Result<Vec<u8>, PkiError> {
        let label = match kind {
            AuthorityKind::Network => "network",
            AuthorityKind::Card => "card",
        };
        crate::pki::pem_der(
            &read(&self.dir.join("crl").join(format!("{label}.crl.pem")))?,
            "X509 CRL",
        )
    }

    /// Checks a client certificate (PEM) against whichever authority issued it and its current
    /// CRL.
    pub fn verify(&self, cert_pem: &str, now: OffsetDateTime) -> Result<Holder, PkiError> {
        let cert = crate::pki::pem_der(cert_pem, "CERTIFICATE")?;
        let mut refusal = None;
        for kind in [AuthorityKind::Network, AuthorityKind::Card] {
            match crate::pki::verify(
                &cert,
                &self.authority(kind).cert_der()?,
                kind,
                &self.crl_der(kind)?,
                now,
            ) {
                Ok(h) => return Ok(h),
                Err(PkiError::UnknownIssuer(_)) => {}
                Err(e) => refusal = Some(e),
            }
        }
        Err(refusal.unwrap_or(PkiError::UnknownIssuer("network or card")))
    }

    fn save(&self) -> Result<(), PkiError> {
        let text = serde_json::to_string_pretty(&self.ledger)
            .map_err(|e| PkiError::Invalid(format!("ledger: {e}")))?;
        write_atomically(&self.dir.join("ledger.json"), text.as_bytes(), false)
    }
}

/// Reads an institution code for a command line, with the reason when it is not one.
pub fn institution_code(text: &str) -> Result<InstitutionCode, PkiError> {
    InstitutionCode::parse(text).map_err(PkiError::Invalid)
}
