//! The network's authorities: what they issue, and every reason a presented certificate is
//! refused (checked by rustls-webpki against real CRLs).

use kizuna_jpid::InstitutionCode;
use kizuna_trust::pki::{
    Authority, AuthorityKind, Holder, PkiError, Revocation, holder, pem_der, verify,
};
use rcgen::RevocationReason;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn der(pem: &str) -> Vec<u8> {
    pem_der(pem, "CERTIFICATE").unwrap()
}

fn crl_der(a: &Authority, revoked: &[Revocation], number: u64) -> Vec<u8> {
    let pem = a
        .crl(revoked, number, now(), now() + Duration::days(7))
        .unwrap();
    pem_der(&pem, "X509 CRL").unwrap()
}

fn clinic() -> Holder {
    Holder::Institution {
        code: InstitutionCode::parse("0110113719").unwrap(),
        name: "絆クリニック".into(),
    }
}

#[test]
fn institutions_staff_and_cards_are_issued_and_verified() {
    let network = Authority::create(AuthorityKind::Network, "Kizuna", now(), 10).unwrap();
    let cards = Authority::create(AuthorityKind::Card, "Kizuna", now(), 10).unwrap();
    let network_crl = crl_der(&network, &[], 1);
    let card_crl = crl_der(&cards, &[], 1);

    let inst = network.issue(&clinic(), now(), 365).unwrap();
    let who = verify(
        &der(&inst.cert_pem),
        &network.cert_der().unwrap(),
        AuthorityKind::Network,
        &network_crl,
        now(),
    )
    .unwrap();
    assert_eq!(who, clinic());

    let staff = Holder::Staff {
        institution: InstitutionCode::parse("0110113719").unwrap(),
        staff_id: "dr-0042".into(),
        name: "山田 花子".into(),
    };
    let s = network.issue(&staff, now(), 365).unwrap();
    let got = verify(
        &der(&s.cert_pem),
        &network.cert_der().unwrap(),
        AuthorityKind::Network,
        &network_crl,
        now(),
    )
    .unwrap();
    assert_eq!(got, staff);

    let card = cards
        .issue(
            &Holder::Card {
                serial: "JPKI0001".into(),
            },
            now(),
            365 * 5,
        )
        .unwrap();
    let got = verify(
        &der(&card.cert_pem),
        &cards.cert_der().unwrap(),
        AuthorityKind::Card,
        &card_crl,
        now(),
    )
    .unwrap();
    assert_eq!(
        got,
        Holder::Card {
            serial: "JPKI0001".into()
        }
    );
    // JPKI-like: RSA-2048 key, SHA-256 with RSA signature, subject only the serial.
    let card_der = der(&card.cert_pem);
    let (_, x) = X509Certificate::from_der(&card_der).unwrap();
    assert_eq!(
        x.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.11"
    );
    let key = x.public_key().parsed().unwrap();
    assert_eq!(key.key_size(), 2048);
    assert_eq!(x.subject().to_string(), "C=JP, CN=JPKI0001");
}

#[test]
fn refusals_say_why() {
    let network = Authority::create(AuthorityKind::Network, "Kizuna", now(), 10).unwrap();
    let cards = Authority::create(AuthorityKind::Card, "Kizuna", now(), 10).unwrap();
    let inst = network.issue(&clinic(), now(), 30).unwrap();
    let cert = der(&inst.cert_pem);
    let root = network.cert_der().unwrap();
    let empty = crl_der(&network, &[], 1);
    let check =
        |crl: &[u8], at: OffsetDateTime| verify(&cert, &root, AuthorityKind::Network, crl, at);
    assert!(check(&empty, now()).is_ok());
    // Expired, and not yet valid.
    assert!(matches!(
        check(&empty, now() + Duration::days(31)),
        Err(PkiError::Expired(_))
    ));
    assert!(matches!(
        check(&empty, now() - Duration::days(1)),
        Err(PkiError::NotYetValid(_))
    ));
    // Revoked: in the next CRL.
    let revoked = crl_der(
        &network,
        &[Revocation {
            serial: inst.serial.clone(),
            at: now(),
            reason: RevocationReason::KeyCompromise,
        }],
        2,
    );
    assert_eq!(check(&revoked, now()), Err(PkiError::Revoked));
    // Another authority's CRL says nothing about it: refused, not accepted.
    let other_crl = crl_der(&cards, &[], 1);
    assert!(check(&other_crl, now()).is_err());
    // A forged authority of the same name: its certificates are refused.
    let forger = Authority::create(AuthorityKind::Network, "Kizuna", now(), 10).unwrap();
    let forged = forger.issue(&clinic(), now(), 30).unwrap();
    assert_eq!(
        verify(
            &der(&forged.cert_pem),
            &root,
            AuthorityKind::Network,
            &empty,
            now()
        ),
        Err(PkiError::UnknownIssuer("network"))
    );
    // A card presented as an institution (wrong authority).
    let card = cards
        .issue(
            &Holder::Card {
                serial: "C1".into(),
            },
            now(),
            30,
        )
        .unwrap();
    assert_eq!(
        verify(
            &der(&card.cert_pem),
            &root,
            AuthorityKind::Network,
            &empty,
            now()
        ),
        Err(PkiError::UnknownIssuer("network"))
    );
    // Garbage.
    assert!(matches!(
        verify(
            b"not a certificate",
            &root,
            AuthorityKind::Network,
            &empty,
            now()
        ),
        Err(PkiError::Malformed(_))
    ));
}

#[test]
fn authorities_reload_and_refuse_what_is_not_theirs() {
    let network = Authority::create(AuthorityKind::Network, "Kizuna", now(), 10).unwrap();
    let again =
        Authority::load(AuthorityKind::Network, &network.cert_pem, network.key_pem()).unwrap();
    let inst = again.issue(&clinic(), now(), 30).unwrap();
    let crl = crl_der(&again, &[], 1);
    assert_eq!(
        verify(
            &der(&inst.cert_pem),
            &network.cert_der().unwrap(),
            AuthorityKind::Network,
            &crl,
            now()
        ),
        Ok(clinic())
    );
    assert!(matches!(
        network.issue(
            &Holder::Card {
                serial: "C1".into()
            },
            now(),
            30
        ),
        Err(PkiError::Invalid(_))
    ));
    let cards = Authority::create(AuthorityKind::Card, "Kizuna", now(), 10).unwrap();
    assert!(matches!(
        cards.issue(&clinic(), now(), 30),
        Err(PkiError::Invalid(_))
    ));
    assert!(matches!(
        cards.issue(
            &Holder::Card {
                serial: "no spaces".into()
            },
            now(),
            30
        ),
        Err(PkiError::Invalid(_))
    ));
    assert!(Authority::load(AuthorityKind::Network, "junk", "junk").is_err());
    assert_eq!(
        holder(&der(&inst.cert_pem), AuthorityKind::Network).unwrap(),
        clinic()
    );
}
