//! `kizuna demo`: a working network in one command, on the embedded store. Synthetic patients
//! as their clinics and hospitals keep them (each institution its own records, none seeing
//! another's without consent), the patient index, a demo PKI with software patient cards on
//! a "reader" directory, and the portal to sign in to.

use crate::cli::{load_synthetic, synthetic};
use anyhow::{Context, Result};
use clap::Args;
use kizuna_access::index::{self, Registration};
use kizuna_records::Records;
use kizuna_store::Store;
use kizuna_trust::ca_dir::CaDir;
use kizuna_trust::card::SoftwareCard;
use kizuna_trust::pki::Holder;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use time::OffsetDateTime;

/// The demo cards' PIN (printed when the demo starts).
const DEMO_PIN: &str = "1234";
/// How many demo patients get a card.
const CARDS: usize = 3;
const MEMBER_ID: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
const REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

#[derive(Args)]
pub struct DemoArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Data directory of the demo's embedded store, PKI and cards (kept between runs)
    #[arg(long, value_name = "DIR", default_value = "kizuna-demo")]
    data: PathBuf,
    /// How many synthetic patients
    #[arg(long, default_value_t = 200)]
    patients: usize,
    /// Seed of the synthetic data
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A demo patient with a card: who, where seen, and the card's name on the reader.
struct Carded {
    name: String,
    card: String,
    /// The institutions that keep the patient's records (name), the patient's own first.
    seen_at: Vec<String>,
}

pub async fn demo(a: DemoArgs) -> Result<ExitCode> {
    let dir = a
        .data
        .to_str()
        .context("the --data path must be valid UTF-8")?
        .to_string();
    let store = Store::open(&dir)
        .await
        .with_context(|| format!("cannot open the demo store in {dir}"))?;
    eprintln!(
        "Kizuna demo: {} synthetic patients (seed {}) in {dir} ...",
        a.patients, a.seed
    );
    let report = load_synthetic(&store, a.patients, a.seed, true).await?;
    eprintln!(
        "  {} resources ready ({} new)",
        report.accepted(),
        report.created
    );
    let carded = index_and_cards(&store, &a.data, a.patients, a.seed).await?;
    let pki = a.data.join("pki");
    let card_ca = std::fs::read_to_string(pki.join("card-ca.pem"))
        .context("cannot read the demo's card authority")?;
    let crl = pki.join("crl").join("card.crl.pem");
    let images = kizuna_blobs::Blobs::local(&a.data.join("images"))
        .context("cannot keep the demo's images")?;
    let cards_dir = a.data.join("cards");
    let reception = crate::serve_cli::Reception {
        card_authority: Some((card_ca, crl)),
        reader: Some(std::sync::Arc::new(kizuna_trust::card::CardDir::new(
            &cards_dir,
        ))),
    };
    let patients = a.patients;
    crate::serve_cli::serve_store(
        store,
        a.addr,
        None,
        (64, Some(images), None),
        (None, None, reception),
        move |base| {
            let site = base.trim_end_matches("/fhir");
            println!();
            println!(
                "  Kizuna is running on the embedded store with {patients} synthetic patients."
            );
            println!("  The portal: {site}/portal/  (sign in as any institution; give your name)");
            println!(
                "  Reception: the card reader is {} (PIN {DEMO_PIN} for every demo card):",
                cards_dir.display()
            );
            for c in &carded {
                println!(
                    "    card {}: {} (seen at {})",
                    c.card,
                    c.name,
                    c.seen_at.join(", ")
                );
            }
            println!("  The FHIR API: {base}   e.g. curl {base}/metadata");
            println!("  Benchmark it: kizuna bench --url {base}");
            println!("  Stop with Ctrl-C.");
        },
    )
    .await
}

/// Registers every patient in the patient index (by insured-member id), and gives the first
/// few patients seen at more than one institution a software card on the demo's reader (with
/// the demo PKI, made on the first run; its CRLs republished on every run).
async fn index_and_cards(
    store: &Store,
    data: &Path,
    patients: usize,
    seed: u64,
) -> Result<Vec<Carded>> {
    let pki = data.join("pki");
    let now = OffsetDateTime::now_utc();
    let mut ca = if pki.join("network-ca.pem").exists() {
        CaDir::open(&pki)?
    } else {
        CaDir::init(&pki, "Kizuna demo", now)?
    };
    ca.publish_crls(now)?;
    let cards_dir = data.join("cards");
    std::fs::create_dir_all(&cards_dir)
        .with_context(|| format!("cannot create {}", cards_dir.display()))?;
    let records = Records::new(store.clone());
    let (synth, _) = synthetic(patients, seed, true);
    let bar = crate::cli::patient_bar("indexing patients", patients);
    let mut carded = Vec::new();
    for i in 0..patients {
        bar.inc(1);
        let kept = synth.patient_as_kept(i, kizuna_records::CUSTODIAN_SYSTEM);
        let kept_patients: Vec<&Value> = kept
            .iter()
            .filter(|r| r["resourceType"] == "Patient")
            .collect();
        let Some(patient) = kept_patients.first() else {
            continue;
        };
        let Some(member) = patient["identifier"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["system"] == MEMBER_ID)
            .and_then(|x| x["value"].as_str())
        else {
            continue;
        };
        let card = (kept_patients.len() > 1 && carded.len() < CARDS).then(|| format!("DEMO{i:04}"));
        // Without a branch number (an old card) the index cannot key the person: left out.
        let Ok(value) = index::insured_member_value(member) else {
            continue;
        };
        let have = index::person_by(&records, kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, &value)
            .await
            .map_err(|f| anyhow::anyhow!("the patient index cannot be read: {f:?}"))?;
        let has_card = |p: &Value| {
            card.as_ref()
                .is_none_or(|serial| index::identifiers(p, index::CARD_SYSTEM).any(|s| s == serial))
        };
        if have.as_ref().is_none_or(|(_, p)| !has_card(p)) {
            index::register(
                &records,
                &Registration {
                    insured_member_id: Some(member.to_string()),
                    card_serials: card.iter().cloned().collect(),
                    my_number_hash: None,
                    kana_name: name_of(patient, "SYL"),
                    birth_date: patient["birthDate"].as_str().map(String::from),
                    gender: patient["gender"].as_str().map(String::from),
                },
            )
            .await
            .map_err(|f| anyhow::anyhow!("the patient index refused a demo patient: {f:?}"))?;
        }
        if let Some(serial) = card {
            let file = cards_dir.join(format!("{serial}.card"));
            if !file.exists() {
                let (issued, _, key) = ca.issue(
                    &Holder::Card {
                        serial: serial.clone(),
                    },
                    now,
                    1826,
                )?;
                SoftwareCard::create(&file, &serial, &issued.cert_pem, &issued.key_pem, DEMO_PIN)?;
                let _ = std::fs::remove_file(&key);
            }
            carded.push(Carded {
                name: name_of(patient, "IDE").unwrap_or_default(),
                card: serial,
                seen_at: kept_patients
                    .iter()
                    .filter_map(|p| p["meta"]["tag"][0]["display"].as_str())
                    .map(String::from)
                    .collect(),
            });
        }
    }
    bar.finish_and_clear();
    Ok(carded)
}

/// The text of a Patient's name in representation `rep` (`IDE` kanji, `SYL` kana).
fn name_of(p: &Value, rep: &str) -> Option<String> {
    let n = p["name"].as_array()?.iter().find(|n| {
        n["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["url"] == REPRESENTATION && e["valueCode"] == rep)
    })?;
    if let Some(t) = n["text"].as_str() {
        return Some(t.to_string());
    }
    let given: Vec<&str> = n["given"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    Some(format!(
        "{} {}",
        n["family"].as_str().unwrap_or(""),
        given.join(" ")
    ))
}
