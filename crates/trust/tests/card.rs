//! The software card: PIN-gated signatures that the card certificate verifies, and the lock
//! after three wrong PINs.

use kizuna_trust::card::{Card, CardError, SoftwareCard, signature_is_valid};
use kizuna_trust::pki::{Authority, AuthorityKind, Holder};
use time::OffsetDateTime;

fn new_card(dir: &std::path::Path) -> SoftwareCard {
    let ca =
        Authority::create(AuthorityKind::Card, "Kizuna", OffsetDateTime::now_utc(), 10).unwrap();
    let issued = ca
        .issue(
            &Holder::Card {
                serial: "JPKI0001".into(),
            },
            OffsetDateTime::now_utc(),
            365,
        )
        .unwrap();
    SoftwareCard::create(
        &dir.join("card.json"),
        "JPKI0001",
        &issued.cert_pem,
        &issued.key_pem,
        "1234",
    )
    .unwrap()
}

#[test]
fn signs_with_the_right_pin_and_the_certificate_verifies_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut card = new_card(tmp.path());
    let challenge = b"kizuna challenge 0001";
    let sig = card.sign("1234", challenge).unwrap();
    let cert = card.certificate().unwrap();
    assert!(signature_is_valid(&cert, challenge, &sig));
    // A signature over another challenge, or another message, does not verify.
    assert!(!signature_is_valid(&cert, b"kizuna challenge 0002", &sig));
    let mut tampered = sig.clone();
    tampered[10] ^= 1;
    assert!(!signature_is_valid(&cert, challenge, &tampered));
    assert!(!signature_is_valid(b"garbage", challenge, &sig));
    // Reopened from its file, the card still works.
    let mut again = SoftwareCard::open(&tmp.path().join("card.json")).unwrap();
    assert_eq!(again.serial(), "JPKI0001");
    assert!(signature_is_valid(
        &cert,
        b"x",
        &again.sign("1234", b"x").unwrap()
    ));
    // The file does not hold the key in clear.
    let text = std::fs::read_to_string(tmp.path().join("card.json")).unwrap();
    assert!(!text.contains("PRIVATE KEY"));
}

#[test]
fn three_wrong_pins_lock_the_card_and_a_right_one_in_between_resets_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    let mut card = new_card(tmp.path());
    assert_eq!(
        card.sign("0000", b"m"),
        Err(CardError::WrongPin { remaining: 2 })
    );
    assert!(card.sign("1234", b"m").is_ok());
    assert_eq!(card.tries_left(), 3);
    assert_eq!(
        card.sign("0000", b"m"),
        Err(CardError::WrongPin { remaining: 2 })
    );
    // The count survives reopening the file.
    let mut card = SoftwareCard::open(&tmp.path().join("card.json")).unwrap();
    assert_eq!(
        card.sign("1111", b"m"),
        Err(CardError::WrongPin { remaining: 1 })
    );
    assert_eq!(card.sign("2222", b"m"), Err(CardError::Locked));
    // Locked: even the right PIN is refused.
    assert_eq!(card.sign("1234", b"m"), Err(CardError::Locked));
    let mut reopened = SoftwareCard::open(&tmp.path().join("card.json")).unwrap();
    assert_eq!(reopened.sign("1234", b"m"), Err(CardError::Locked));
    // A PIN that is not 4 digits is refused without counting.
    let tmp2 = tempfile::tempdir().unwrap();
    let mut fresh = new_card(tmp2.path());
    assert_eq!(fresh.sign("12a4", b"m"), Err(CardError::BadPin));
    assert_eq!(fresh.tries_left(), 3);
}
