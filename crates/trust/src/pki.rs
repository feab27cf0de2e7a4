//! The network's certificates: two authorities, what they issue, revocation, and the check of
//! a presented certificate.
//!
//! - The **network CA** (ECDSA P-256) issues institution certificates (subject: the
//!   institution's name as `CN`, its 10-digit medical institution code as `serialNumber`,
//!   `OU=institution`) and staff credentials (`CN` the staff member's name, `UID` their staff
//!   id, `serialNumber` their institution's code, `OU=staff`), and the TLS server
//!   certificates of Kizuna nodes (`OU=server`, host names and addresses as SANs).
//! - The **card CA** (RSA-2048, SHA-256, like JPKI's) issues patient card certificates whose
//!   subject is only the card serial (`CN`): a card certificate names a card, never a person;
//!   the patient index links cards to patients.
//!
//! Both keep a list of revoked serials and publish it as a signed CRL. [`verify`] checks a
//! presented certificate with rustls-webpki against one authority and its CRL: chain,
//! validity period, revocation, key usage. Certificates are made by rcgen and read by
//! x509-parser; nothing here encodes ASN.1 or does cryptography by hand.

use kizuna_jpid::InstitutionCode;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SerialNumber,
};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// OIDs of the subject attributes used beyond rcgen's named ones.
const OID_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
const OID_UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];

/// Which of the two authorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorityKind {
    /// Issues institution certificates and staff credentials.
    Network,
    /// Issues patient card certificates.
    Card,
}

/// What a certificate is for, read from its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Institution {
        code: InstitutionCode,
        name: String,
    },
    Staff {
        institution: InstitutionCode,
        staff_id: String,
        name: String,
    },
    Card {
        serial: String,
    },
    /// A Kizuna node's TLS server certificate: the host names or IP addresses clients reach it
    /// by (the first is the subject's `CN`).
    Server {
        hosts: Vec<String>,
    },
}

/// Why something could not be made or a certificate is refused; each says what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PkiError {
    #[error("{0}")]
    Invalid(String),
    #[error("the certificate is not issued by this network's {0} authority (unknown issuer)")]
    UnknownIssuer(&'static str),
    #[error("the certificate expired at {0}; issue a new one")]
    Expired(String),
    #[error("the certificate is not valid until {0}")]
    NotYetValid(String),
    #[error("the certificate has been revoked")]
    Revoked,
    #[error("the certificate is not for this use ({0})")]
    WrongUse(String),
    #[error("the certificate cannot be read: {0}")]
    Malformed(String),
    #[error("certificate authority error: {0}")]
    Crypto(String),
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Crypto(e.to_string())
    }
}

/// A certificate authority: its certificate and signing key (PEM).
pub struct Authority {
    pub kind: AuthorityKind,
    pub cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate made by an authority, with its new private key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Hex, as in CRLs and the issuance ledger.
    pub serial: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: OffsetDateTime,
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Hex serial.
    pub serial: String,
    pub at: OffsetDateTime,
    pub reason: RevocationReason,
}

fn key_for(kind: AuthorityKind) -> Result<KeyPair, PkiError> {
    Ok(match kind {
        AuthorityKind::Network => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        AuthorityKind::Card => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)?
        }
    })
}

/// A random positive serial of 16 bytes (RFC 5280: positive, at most 20 octets).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| PkiError::Crypto("the system random generator failed".into()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

impl Authority {
    /// A new self-signed authority, valid from `now` for `years`.
    pub fn create(
        kind: AuthorityKind,
        name: &str,
        now: OffsetDateTime,
        years: i64,
    ) -> Result<Authority, PkiError> {
        let key = key_for(kind)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "JP");
        dn.push(DnType::OrganizationName, name);
        dn.push(
            DnType::CommonName,
            match kind {
                AuthorityKind::Network => format!("{name} network CA"),
                AuthorityKind::Card => format!("{name} card CA"),
            },
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(365 * years);
        params.serial_number = Some(random_serial()?);
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        Ok(Authority {
            kind,
            issuer: Issuer::new(params, key),
            cert_pem,
            key_pem,
        })
    }

    /// An authority saved earlier ([`Authority::key_pem`] and `cert_pem`).
    pub fn load(kind: AuthorityKind, cert_pem: &str, key_pem: &str) -> Result<Authority, PkiError> {
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| PkiError::Invalid(format!("the authority's key cannot be read: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| {
            PkiError::Invalid(format!("the authority's certificate cannot be read: {e}"))
        })?;
        Ok(Authority {
            kind,
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    /// The signing key, PEM (PKCS#8), for saving with owner-only permissions.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The authority's certificate, DER.
    pub fn cert_der(&self) -> Result<Vec<u8>, PkiError> {
        pem_der(&self.cert_pem, "CERTIFICATE")
    }

    /// Issues a certificate for `holder`, valid from `now` for `days`. Institutions and staff
    /// come from the network authority, cards from the card authority.
    pub fn issue(
        &self,
        holder: &Holder,
        now: OffsetDateTime,
        days: i64,
    ) -> Result<Issued, PkiError> {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "JP");
        let mut params = CertificateParams::default();
        let key = match (self.kind, holder) {
            (AuthorityKind::Network, Holder::Institution { code, name }) => {
                non_empty(name, "the institution's name")?;
                dn.push(DnType::CommonName, name.as_str());
                dn.push(
                    DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
                    code.as_str(),
                );
                dn.push(DnType::OrganizationalUnitName, "institution");
                params.extended_key_usages = vec![
                    ExtendedKeyUsagePurpose::ClientAuth,
                    ExtendedKeyUsagePurpose::ServerAuth,
                ];
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?
            }
            (
                AuthorityKind::Network,
                Holder::Staff {
                    institution,
                    staff_id,
                    name,
                },
            ) => {
                non_empty(name, "the staff member's name")?;
                non_empty(staff_id, "the staff id")?;
                dn.push(DnType::CommonName, name.as_str());
                dn.push(DnType::CustomDnType(OID_UID.to_vec()), staff_id.as_str());
                dn.push(
                    DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
                    institution.as_str(),
                );
                dn.push(DnType::OrganizationalUnitName, "staff");
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?
            }
            (AuthorityKind::Network, Holder::Server { hosts }) => {
                let Some(first) = hosts.first() else {
                    return Err(PkiError::Invalid(
                        "a server certificate needs at least one host name or IP address".into(),
                    ));
                };
                dn.push(DnType::CommonName, first.as_str());
                dn.push(DnType::OrganizationalUnitName, "server");
                params.subject_alt_names = hosts
                    .iter()
                    .map(|h| match h.parse::<std::net::IpAddr>() {
                        Ok(ip) => Ok(rcgen::SanType::IpAddress(ip)),
                        Err(_) => h
                            .as_str()
                            .try_into()
                            .map(rcgen::SanType::DnsName)
                            .map_err(|_| PkiError::Invalid(format!("'{h}' is not a host name"))),
                    })
                    .collect::<Result<_, _>>()?;
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?
            }
            (AuthorityKind::Card, Holder::Card { serial }) => {
                if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(PkiError::Invalid(format!(
                        "'{serial}' is not a card serial (letters and digits)"
                    )));
                }
                dn.push(DnType::CommonName, serial.as_str());
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)?
            }
            (AuthorityKind::Card, _) => {
                return Err(PkiError::Invalid(
                    "the card authority issues card certificates only".into(),
                ));
            }
            (AuthorityKind::Network, Holder::Card { .. }) => {
                return Err(PkiError::Invalid(
                    "card certificates come from the card authority".into(),
                ));
            }
        };
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(days);
        let serial = random_serial()?;
        let hex = crate::hex::encode(serial.as_ref());
        params.serial_number = Some(serial);
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            serial: hex,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_after: params.not_after,
        })
    }

    /// The CRL of `revoked`, number `number`, valid from `now` until `next_update`, PEM.
    pub fn crl(
        &self,
        revoked: &[Revocation],
        number: u64,
        now: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, PkiError> {
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&hex_bytes(&r.serial)?),
                    revocation_time: r.at,
                    reason_code: Some(r.reason),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

fn non_empty(s: &str, what: &str) -> Result<(), PkiError> {
    if s.trim().is_empty() {
        return Err(PkiError::Invalid(format!("{what} is empty")));
    }
    Ok(())
}

fn hex_bytes(hex: &str) -> Result<Vec<u8>, PkiError> {
    crate::hex::decode(hex)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| PkiError::Invalid(format!("'{hex}' is not a hex serial")))
}

/// The DER of the first PEM block labelled `label` in `text`.
pub fn pem_der(text: &str, label: &str) -> Result<Vec<u8>, PkiError> {
    let blocks = x509_parser::pem::Pem::iter_from_buffer(text.as_bytes());
    for block in blocks {
        let block = block.map_err(|e| PkiError::Malformed(format!("PEM: {e}")))?;
        if block.label == label {
            return Ok(block.contents);
        }
    }
    Err(PkiError::Malformed(format!("no {label} in the PEM text")))
}

/// Checks `cert` (DER) as issued by `authority` (its certificate, DER) at `now`, against the
/// authority's CRL (DER; required: an unknown revocation status is a refusal), for client
/// authentication, and says who holds it.
pub fn verify(
    cert: &[u8],
    authority: &[u8],
    kind: AuthorityKind,
    crl: &[u8],
    now: OffsetDateTime,
) -> Result<Holder, PkiError> {
    let which = match kind {
        AuthorityKind::Network => "network",
        AuthorityKind::Card => "card",
    };
    let authority_der = CertificateDer::from(authority);
    let anchor = webpki::anchor_from_trusted_cert(&authority_der)
        .map_err(|e| PkiError::Malformed(format!("the authority's certificate: {e}")))?;
    let cert_der = CertificateDer::from(cert);
    let ee = webpki::EndEntityCert::try_from(&cert_der)
        .map_err(|e| PkiError::Malformed(e.to_string()))?;
    let crl_der = CertificateRevocationListDer::from(crl);
    let crl = webpki::BorrowedCertRevocationList::from_der(&crl_der)
        .map_err(|e| PkiError::Malformed(format!("the CRL: {e}")))?
        .into();
    let crls = [&crl];
    let revocation = webpki::RevocationOptionsBuilder::new(&crls)
        .map_err(|_| PkiError::Malformed("no CRL".into()))?
        .with_depth(webpki::RevocationCheckDepth::EndEntity)
        .with_status_policy(webpki::UnknownStatusPolicy::Deny)
        .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
        .build();
    let seconds = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        time,
        webpki::KeyUsage::client_auth(),
        Some(revocation),
        None,
    )
    .map_err(|e| match e {
        webpki::Error::UnknownIssuer
        | webpki::Error::InvalidSignatureForPublicKey
        | webpki::Error::UnknownRevocationStatus => PkiError::UnknownIssuer(which),
        webpki::Error::CertExpired { not_after, .. } => {
            PkiError::Expired(format_unix(not_after.as_secs()))
        }
        webpki::Error::CertNotValidYet { not_before, .. } => {
            PkiError::NotYetValid(format_unix(not_before.as_secs()))
        }
        webpki::Error::CertRevoked => PkiError::Revoked,
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            PkiError::WrongUse("client authentication".into())
        }
        other => PkiError::Malformed(format!("{other:?}")),
    })?;
    holder(cert, kind)
}

fn format_unix(secs: u64) -> String {
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}

/// Who holds `cert` (DER), read from its subject.
pub fn holder(cert: &[u8], kind: AuthorityKind) -> Result<Holder, PkiError> {
    let (_, x) = X509Certificate::from_der(cert).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let subject = x.subject();
    let attr = |oid: &[u64]| -> Option<String> {
        subject
            .iter_attributes()
            .find(|a| {
                a.attr_type()
                    .iter()
                    .is_some_and(|i| i.eq(oid.iter().copied()))
            })
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
    };
    let cn = attr(&[2, 5, 4, 3]);
    let ou = attr(&[2, 5, 4, 11]);
    let code = || {
        attr(OID_SERIAL_NUMBER)
            .ok_or_else(|| PkiError::Malformed("no institution code in the subject".into()))
            .and_then(|c| InstitutionCode::parse(&c).map_err(PkiError::Malformed))
    };
    match (kind, ou.as_deref()) {
        (AuthorityKind::Card, _) => Ok(Holder::Card {
            serial: cn.ok_or_else(|| PkiError::Malformed("no card serial".into()))?,
        }),
        (AuthorityKind::Network, Some("institution")) => Ok(Holder::Institution {
            code: code()?,
            name: cn.unwrap_or_default(),
        }),
        (AuthorityKind::Network, Some("staff")) => Ok(Holder::Staff {
            institution: code()?,
            staff_id: attr(OID_UID)
                .ok_or_else(|| PkiError::Malformed("no staff id in the subject".into()))?,
            name: cn.unwrap_or_default(),
        }),
        (AuthorityKind::Network, Some("server")) => Ok(Holder::Server {
            hosts: cn.into_iter().collect(),
        }),
        (AuthorityKind::Network, _) => Err(PkiError::WrongUse(
            "neither an institution nor a staff certificate".into(),
        )),
    }
}
