//! Consent by card, spoken consent, emergency access and the access rules they feed, end to
//! end over a real store (SQLite; PostgreSQL too when KIZUNA_TEST_POSTGRES is set), with real
//! certificates from `kizuna pki`'s authorities and PIN-locked software cards.

use kizuna_access::consent::{Basis, CardAnswer, Setting};
use kizuna_access::index::{self, Privacy, Registration};
use kizuna_access::{Agent, Caller, CardTrust, Network};
use kizuna_records::{Records, SearchRequest};
use kizuna_store::Store;
use kizuna_trust::ca_dir::CaDir;
use kizuna_trust::card::{Card, CardError, SoftwareCard};
use kizuna_trust::pki::Holder;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// The card authority as `kizuna pki` keeps it (certificate and CRL files), read on each
/// check so that a revocation applies at once.
struct CardAuthorityFiles {
    certificate: std::path::PathBuf,
    crl: std::path::PathBuf,
}

impl CardTrust for CardAuthorityFiles {
    fn card_authority(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let read = |path: &Path, label: &str| {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            kizuna_trust::pki::pem_der(&text, label).map_err(|e| e.to_string())
        };
        Ok((
            read(&self.certificate, "CERTIFICATE")?,
            read(&self.crl, "X509 CRL")?,
        ))
    }
}

const INSURED: &str = "00012345:あいう:1234:01";
const PIN: &str = "1234";

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A card with serial `serial` from the card authority of `ca`, in `dir`.
fn new_card(ca: &mut CaDir, dir: &Path, serial: &str) -> (SoftwareCard, String) {
    let (issued, _, _) = ca
        .issue(
            &Holder::Card {
                serial: serial.into(),
            },
            now(),
            365,
        )
        .unwrap();
    let card = SoftwareCard::create(
        &dir.join(format!("{serial}.card")),
        serial,
        &issued.cert_pem,
        &issued.key_pem,
        PIN,
    )
    .unwrap();
    (card, issued.serial)
}

fn answer(card: &mut SoftwareCard, challenge: &str, signed: &str) -> CardAnswer {
    CardAnswer {
        challenge: challenge.into(),
        signature: card.sign(PIN, signed.as_bytes()).unwrap(),
        certificate: card.certificate().unwrap(),
        setting: Setting::Outpatient,
    }
}

async fn ids(records: &Records, rtype: &str, query: &str) -> Vec<String> {
    let pairs = form_pairs(query);
    let reply = records
        .search(SearchRequest {
            rtype: Some(rtype.into()),
            patient: None,
            pairs,
            handling: kizuna_records::Handling::Strict,
            base: "http://test/fhir".into(),
        })
        .await
        .unwrap();
    let text = match reply.payload {
        kizuna_records::Payload::Text(t) => t,
        kizuna_records::Payload::Json(v) => v.to_string(),
        _ => String::new(),
    };
    let bundle: Value = serde_json::from_str(&text).unwrap();
    let mut out: Vec<String> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

async fn create(records: &Records, body: Value) -> String {
    let rtype = body["resourceType"].as_str().unwrap().to_string();
    let reply = records.create(&rtype, body, None).await.unwrap();
    reply.stored().unwrap().id.clone()
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("data").to_str().unwrap())
        .await
        .unwrap();
    scenario(store, dir.path()).await;
}

#[tokio::test]
async fn postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&url).await.unwrap();
    scenario(store, dir.path()).await;
}

async fn scenario(store: Store, dir: &Path) {
    let ca_path = dir.join("ca");
    let mut ca = CaDir::init(&ca_path, "Test network", now()).unwrap();
    ca.publish_crls(now()).unwrap();
    let (mut card, _) = new_card(&mut ca, dir, "CARD0001");
    let trust = Arc::new(CardAuthorityFiles {
        certificate: ca_path.join("card-ca.pem"),
        crl: ca_path.join("crl/card.crl.pem"),
    });
    let mut net = Network::new(Records::new(store), &[9u8; 32], Some(trust)).unwrap();

    let hospital_b = Caller::institution("1310000011", "B病院");
    let clinic_a = Caller::institution("1310000029", "Aクリニック");
    let b = net.records_for(&hospital_b).await.unwrap();
    // B registers the patient and writes records about them.
    let patient = create(
        &b,
        json!({"resourceType": "Patient", "birthDate": "1970-05-01",
            "identifier": [{"system": kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, "value": INSURED}],
            "name": [{"family": "山田", "given": ["太郎"]}]}),
    )
    .await;
    let obs = |code: &str| {
        json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": format!("Patient/{patient}")}})
    };
    let bp = create(&b, obs("8480-6")).await;
    let mut psy_body = obs("44249-1");
    psy_body["meta"] = json!({"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]});
    let psy = create(&b, psy_body).await;
    let uninformed = create(
        &b,
        json!({"resourceType": "Condition",
            "meta": {"tag": [{"system": kizuna_access::UNINFORMED.0, "code": kizuna_access::UNINFORMED.1}]},
            "code": {"text": "未告知の診断"},
            "subject": {"reference": format!("Patient/{patient}")}}),
    )
    .await;
    // What B wrote carries B's custodian tag, whatever B sent.
    let stored = b.read("Observation", &bp).await.unwrap();
    let body: Value =
        serde_json::from_str(stored.stored().unwrap().body.as_deref().unwrap()).unwrap();
    assert_eq!(kizuna_records::custodian_of(&body), Some("1310000011"));

    let person = index::register(
        net.records(),
        &Registration {
            insured_member_id: Some("０００１２３４５:あいう:1234:01".into()),
            card_serials: vec!["CARD0001".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Before consent, A sees nothing of the patient, not even counts.
    let a = net.records_for(&clinic_a).await.unwrap();
    assert!(ids(&a, "Observation", "").await.is_empty());
    assert!(
        ids(&a, "Patient", &format!("_id={patient}"))
            .await
            .is_empty()
    );
    assert_eq!(a.read("Observation", &bp).await.unwrap_err().status, 404);

    // Consent by card.
    let challenge = net.challenge(&clinic_a).unwrap();
    let good = answer(&mut card, &challenge.text, &challenge.text);
    let granted = net.consent_by_card(&clinic_a, &good).await.unwrap();
    assert_eq!(granted.basis, Basis::Card);
    assert_eq!(granted.person, person);
    assert_eq!(
        granted.consent["provision"]["actor"][0]["reference"]["identifier"]["value"],
        "1310000029"
    );
    let a = net.records_for(&clinic_a).await.unwrap();
    assert_eq!(
        ids(&a, "Observation", "").await,
        sorted(vec![bp.clone(), psy.clone()])
    );
    assert!(a.read("Observation", &bp).await.is_ok());
    assert_eq!(ids(&a, "Patient", "").await, vec![patient.clone()]);
    // A cannot change B's records.
    assert_eq!(
        a.update("Observation", &bp, with_id(obs("8480-6"), &bp), None)
            .await
            .unwrap_err()
            .status,
        403
    );
    assert_eq!(
        a.delete("Observation", &bp, None).await.unwrap_err().status,
        403
    );
    // The same answer again grants nothing.
    let replay = net.consent_by_card(&clinic_a, &good).await.unwrap_err();
    assert_eq!(replay.status, 403, "{:?}", replay.issues);
    // A signature over another challenge.
    let other = net.challenge(&clinic_a).unwrap();
    let crossed = answer(&mut card, &other.text, &challenge.text);
    let e = net.consent_by_card(&clinic_a, &crossed).await.unwrap_err();
    assert_eq!(e.status, 403);
    assert!(message(&e).contains("signature"), "{}", message(&e));
    // A challenge issued to another institution.
    let for_b = net.challenge(&hospital_b).unwrap();
    let stolen = answer(&mut card, &for_b.text, &for_b.text);
    assert_eq!(
        net.consent_by_card(&clinic_a, &stolen)
            .await
            .unwrap_err()
            .status,
        403
    );
    // A forged challenge.
    let forged = format!("{}x", challenge.text);
    let e = net
        .consent_by_card(&clinic_a, &answer(&mut card, &forged, &forged))
        .await
        .unwrap_err();
    assert_eq!(e.status, 400);

    // Wrong PINs lock the card.
    let (mut locked, _) = new_card(&mut ca, dir, "CARD0002");
    assert!(matches!(
        locked.sign("0000", b"x"),
        Err(CardError::WrongPin { remaining: 2 })
    ));
    assert!(matches!(
        locked.sign("0000", b"x"),
        Err(CardError::WrongPin { remaining: 1 })
    ));
    assert!(matches!(locked.sign("0000", b"x"), Err(CardError::Locked)));
    assert!(matches!(locked.sign(PIN, b"x"), Err(CardError::Locked)));

    // A revoked card.
    let (mut revoked, cert_serial) = new_card(&mut ca, dir, "CARD0003");
    index::register(
        net.records(),
        &Registration {
            insured_member_id: Some(INSURED.into()),
            card_serials: vec!["CARD0003".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    ca.revoke(&cert_serial, "key-compromise", now()).unwrap();
    let c = net.challenge(&clinic_a).unwrap();
    let e = net
        .consent_by_card(&clinic_a, &answer(&mut revoked, &c.text, &c.text))
        .await
        .unwrap_err();
    assert_eq!(e.status, 403);
    assert!(message(&e).contains("revoked"), "{}", message(&e));
    // An expired card.
    let (issued, _, _) = ca
        .issue(
            &Holder::Card {
                serial: "CARD0004".into(),
            },
            now() - time::Duration::days(400),
            365,
        )
        .unwrap();
    let mut expired = SoftwareCard::create(
        &dir.join("CARD0004.card"),
        "CARD0004",
        &issued.cert_pem,
        &issued.key_pem,
        PIN,
    )
    .unwrap();
    let c = net.challenge(&clinic_a).unwrap();
    let e = net
        .consent_by_card(&clinic_a, &answer(&mut expired, &c.text, &c.text))
        .await
        .unwrap_err();
    assert_eq!(e.status, 403);
    assert!(message(&e).contains("expired"), "{}", message(&e));
    // A card from another network's card authority.
    let foreign_dir = dir.join("foreign");
    let mut foreign_ca = CaDir::init(&foreign_dir, "Other network", now()).unwrap();
    foreign_ca.publish_crls(now()).unwrap();
    let (mut foreign, _) = new_card(&mut foreign_ca, dir, "CARD0001");
    let c = net.challenge(&clinic_a).unwrap();
    let e = net
        .consent_by_card(&clinic_a, &answer(&mut foreign, &c.text, &c.text))
        .await
        .unwrap_err();
    assert_eq!(e.status, 403);
    assert!(
        message(&e).contains("not issued by this network"),
        "{}",
        message(&e)
    );

    // The patient hides mental-health records, then opts out entirely.
    index::set_privacy(
        net.records(),
        &person,
        &Privacy {
            hidden_labels: vec![(
                "http://terminology.hl7.org/CodeSystem/v3-ActCode".into(),
                "PSY".into(),
            )],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = net.records_for(&clinic_a).await.unwrap();
    assert_eq!(ids(&a, "Observation", "").await, vec![bp.clone()]);
    assert!(ids(&a, "Observation", "_security=PSY").await.is_empty());
    assert!(
        ids(&a, "Patient", "_has:Observation:subject:code=44249-1")
            .await
            .is_empty(),
        "_has reaches a hidden record"
    );
    // B, who wrote it, still sees it.
    assert_eq!(
        ids(&b, "Observation", &format!("_id={psy}")).await,
        vec![psy.clone()]
    );

    // Spoken consent (old insurance card): the birth date must match.
    let clinic_d = Caller::institution("1310000037", "D診療所");
    let e = net
        .consent_spoken(&clinic_d, INSURED, "1970-05-02", Setting::Outpatient)
        .await
        .unwrap_err();
    assert_eq!(e.status, 403);
    let spoken = net
        .consent_spoken(&clinic_d, INSURED, "1970-05-01", Setting::Outpatient)
        .await
        .unwrap();
    assert_eq!(spoken.basis, Basis::Spoken);
    assert_eq!(spoken.consent["verification"][0]["verified"], false);
    let d = net.records_for(&clinic_d).await.unwrap();
    assert_eq!(ids(&d, "Observation", "").await, vec![bp.clone()]);

    // Emergency access: a reason is required.
    let er = Caller::institution("1310000045", "E救急センター");
    assert_eq!(
        net.break_glass(&er, &person, " ").await.unwrap_err().status,
        400
    );
    let glass = net
        .break_glass(&er, INSURED, "意識障害で救急搬送、既往歴の確認")
        .await
        .unwrap();
    assert_eq!(glass.basis, Basis::Emergency);
    let e_records = net.records_for(&er).await.unwrap();
    assert_eq!(ids(&e_records, "Observation", "").await, vec![bp.clone()]);

    // The patient's own view: everything about them, except what they were not told.
    let me = Caller {
        agent: Agent::Patient {
            card_serial: "CARD0001".into(),
        },
        staff: None,
        purpose: "PATRQT".into(),
        client: None,
    };
    let mine = net.records_for(&me).await.unwrap();
    assert_eq!(
        ids(&mine, "Observation", "").await,
        sorted(vec![bp.clone(), psy.clone()])
    );
    assert!(
        ids(&mine, "Condition", "").await.is_empty(),
        "UNINFORMED shown"
    );
    assert_eq!(
        ids(&b, "Condition", "").await,
        vec![uninformed.clone()],
        "the writer sees it"
    );

    // Opting out: nobody else sees anything, and no new grant is possible, even in an
    // emergency.
    index::set_privacy(
        net.records(),
        &person,
        &Privacy {
            opted_out: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = net.records_for(&clinic_a).await.unwrap();
    assert!(ids(&a, "Observation", "").await.is_empty());
    assert_eq!(
        net.break_glass(&er, &person, "救急搬送")
            .await
            .unwrap_err()
            .status,
        403
    );
    index::set_privacy(net.records(), &person, &Privacy::default())
        .await
        .unwrap();

    // An expired consent grants nothing.
    net.policy.outpatient = std::time::Duration::from_millis(1500);
    let clinic_f = Caller::institution("1310000052", "F医院");
    let c = net.challenge(&clinic_f).unwrap();
    net.consent_by_card(&clinic_f, &answer(&mut card, &c.text, &c.text))
        .await
        .unwrap();
    let f = net.records_for(&clinic_f).await.unwrap();
    assert_eq!(
        ids(&f, "Observation", "").await,
        sorted(vec![bp.clone(), psy.clone()])
    );
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let f = net.records_for(&clinic_f).await.unwrap();
    assert!(
        ids(&f, "Observation", "").await.is_empty(),
        "expired consent"
    );

    // Scopes are cached, but never past the first grant's end, and a write of a Consent or
    // Person through this node ends the cached scope at once: a long cache changes nothing.
    net.policy.scope_cache = std::time::Duration::from_secs(3600);
    let c = net.challenge(&clinic_f).unwrap();
    net.consent_by_card(&clinic_f, &answer(&mut card, &c.text, &c.text))
        .await
        .unwrap();
    let f = net.records_for(&clinic_f).await.unwrap();
    assert_eq!(ids(&f, "Observation", "").await.len(), 2);
    index::set_privacy(
        net.records(),
        &person,
        &Privacy {
            opted_out: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let f = net.records_for(&clinic_f).await.unwrap();
    assert!(ids(&f, "Observation", "").await.is_empty(), "opted out");
    index::set_privacy(net.records(), &person, &Privacy::default())
        .await
        .unwrap();
    let f = net.records_for(&clinic_f).await.unwrap();
    assert_eq!(ids(&f, "Observation", "").await.len(), 2, "shared again");
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let f = net.records_for(&clinic_f).await.unwrap();
    assert!(
        ids(&f, "Observation", "").await.is_empty(),
        "a cached scope ends with its grant"
    );
    net.policy.scope_cache = kizuna_access::Policy::default().scope_cache;

    // The patient's access log shows who looked.
    net.audit(
        &clinic_a,
        &kizuna_access::audit::Event {
            action: "R",
            subtype: "read".into(),
            request: "GET /fhir/Observation/x".into(),
            status: 200,
            entities: vec![format!("Observation/{bp}")],
            patients: vec![format!("Patient/{patient}")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let log = net.access_log(&person, 100).await.unwrap();
    assert_eq!(log.len(), 1);
    let (ja, en) = kizuna_access::audit::plain_words(&log[0]);
    assert!(ja.contains("Aクリニック") && ja.contains("閲覧"), "{ja}");
    assert!(en.contains("looked at your records"), "{en}");
}

fn with_id(mut v: Value, id: &str) -> Value {
    v["id"] = json!(id);
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn message(f: &kizuna_records::Failure) -> String {
    f.issues
        .iter()
        .map(|i| format!("{i:?}"))
        .collect::<Vec<_>>()
        .join("; ")
}
