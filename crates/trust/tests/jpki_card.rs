//! A My Number card through a real PC/SC stack: `JpkiCard` talks through libpcsclite to the
//! real `pcscd`, whose virtual reader driver (`vpcd`) passes the commands to
//! `jpki_card_emulator.py`, which answers as the card's JPKI application would (no card reader
//! exists on CI machines). Certificate read-out, the PIN retry counter and lock, and a signature
//! the network's card check accepts.
//!
//! Needs the `pcsc` feature and `KIZUNA_TEST_VPCD_PORT`: the port of a vpcd reader slot of a
//! running pcscd (`scripts/test.sh` starts one). Without them it says so and does nothing.
#![cfg(feature = "pcsc")]

use kizuna_trust::card::{Card, CardError, signature_is_valid};
use kizuna_trust::jpki::JpkiCard;
use kizuna_trust::pki::{Authority, AuthorityKind, Holder, pem_der};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// The emulated card on the reader; removed (its process killed) when dropped.
struct OnReader(Child);

impl Drop for OnReader {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vpcd_port() -> Option<u16> {
    match std::env::var("KIZUNA_TEST_VPCD_PORT") {
        Ok(p) => Some(p.parse().expect("KIZUNA_TEST_VPCD_PORT is a port number")),
        Err(_) => {
            eprintln!(
                "KIZUNA_TEST_VPCD_PORT is not set: no pcscd with a virtual reader, PC/SC card test not run (scripts/test.sh sets it up)"
            );
            None
        }
    }
}

/// Puts an emulated card holding a fresh card certificate on the reader at `port`; returns it
/// with the certificate (DER).
fn put_card(dir: &Path, port: u16, extra: &[&str]) -> (OnReader, Vec<u8>) {
    let ca =
        Authority::create(AuthorityKind::Card, "Kizuna", OffsetDateTime::now_utc(), 10).unwrap();
    let issued = ca
        .issue(
            &Holder::Card {
                serial: "MYNA0001".into(),
            },
            OffsetDateTime::now_utc(),
            365,
        )
        .unwrap();
    let der = pem_der(&issued.cert_pem, "CERTIFICATE").unwrap();
    std::fs::write(dir.join("card.der"), &der).unwrap();
    std::fs::write(dir.join("card.key"), &issued.key_pem).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jpki_card_emulator.py");
    // Debian's Python, where test.sh installs python3-cryptography (a PATH python may lack it).
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let child = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .arg(dir.join("card.der"))
        .arg(dir.join("card.key"))
        .arg("1234")
        .args(extra)
        .spawn()
        .expect("python3 runs the card emulator");
    (OnReader(child), der)
}

/// The test reader's slot `slot` (vpcd serves slot n on its configured port + n and names it
/// "Kizuna test reader 00 0n").
fn slot_name(slot: u16) -> String {
    format!("Kizuna test reader 00 {slot:02}")
}

/// Connects to the card on `reader` once the emulator has put it there.
fn connect(reader: &str, deadline: Duration) -> Result<JpkiCard, CardError> {
    let start = Instant::now();
    loop {
        match JpkiCard::connect(Some(reader)) {
            Ok(card) => return Ok(card),
            Err(CardError::Unusable(why))
                if why.contains("put the card on the reader") && start.elapsed() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn a_card_in_a_pcsc_reader_signs_as_the_network_expects_and_locks_after_three_wrong_pins() {
    let Some(port) = vpcd_port() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_on_reader, der) = put_card(tmp.path(), port, &[]);
    let mut card =
        connect(&slot_name(0), Duration::from_secs(30)).expect("the card is on a reader");
    assert_eq!(card.reader(), slot_name(0));

    // The certificate comes off the card exactly, without the file's padding.
    assert_eq!(card.certificate().unwrap(), der);

    // The card signs the challenge; the network's card check accepts the signature.
    let challenge = b"kizuna-consent.challenge-one";
    let sig = card.sign("1234", challenge).unwrap();
    assert_eq!(sig.len(), 256, "RSA-2048");
    assert!(signature_is_valid(&der, challenge, &sig));
    assert!(!signature_is_valid(&der, b"kizuna-consent.another", &sig));

    // A malformed PIN never reaches the card (it costs no try).
    assert_eq!(card.sign("12a4", challenge), Err(CardError::BadPin));
    assert_eq!(card.pin_tries().unwrap(), 3);

    // The card counts wrong PINs; a right one resets the count.
    assert_eq!(
        card.sign("0000", challenge),
        Err(CardError::WrongPin { remaining: 2 })
    );
    assert_eq!(card.pin_tries().unwrap(), 2);
    assert!(card.sign("1234", challenge).is_ok());
    assert_eq!(card.pin_tries().unwrap(), 3);

    // Three wrong PINs lock it: even the right PIN is refused afterwards.
    assert_eq!(
        card.sign("0000", challenge),
        Err(CardError::WrongPin { remaining: 2 })
    );
    assert_eq!(
        card.sign("0001", challenge),
        Err(CardError::WrongPin { remaining: 1 })
    );
    assert_eq!(card.sign("0002", challenge), Err(CardError::Locked));
    assert_eq!(card.sign("1234", challenge), Err(CardError::Locked));
    assert_eq!(card.pin_tries().unwrap(), 0);
}

#[test]
fn a_card_without_the_jpki_application_is_refused_with_a_reason() {
    let Some(port) = vpcd_port() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The second slot of the virtual reader, so that the two tests may run at once.
    let (_on_reader, _) = put_card(tmp.path(), port + 1, &["--not-jpki"]);
    let err = connect(&slot_name(1), Duration::from_secs(30)).err();
    let Some(CardError::Unusable(why)) = err else {
        panic!("a card without JPKI was accepted: {err:?}");
    };
    assert!(why.contains("no JPKI application"), "{why}");
    // A reader named but absent says which readers there are.
    let Err(CardError::Unusable(why)) = JpkiCard::connect(Some("no such reader")) else {
        panic!("an absent reader was accepted");
    };
    assert!(why.contains("no reader named"), "{why}");
    assert!(why.contains(&slot_name(0)), "the readers are listed: {why}");
}
