//! `kizuna person`: the patient index as the network's operator keeps it: register a person
//! (insured-member id, cards, My Number as a keyed hash only), show one, list the persons a
//! Patient may be, link or unlink a Patient once a person confirmed it, merge and unmerge
//! persons registered twice, and record a person's sharing choices (`kizuna_access::index`).

use crate::cli::StoreArgs;
use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use kizuna_access::index::{self, Privacy, Registration};
use kizuna_records::Records;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct PersonArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: PersonCommand,
}

#[derive(Subcommand)]
enum PersonCommand {
    /// Register a person, or add identifiers to the person one of them names; prints the
    /// network id. A My Number is read from KIZUNA_MY_NUMBER (never from the command line)
    /// and stored only as a keyed hash
    Register {
        /// The individualized insured-member id, insurer:symbol:number:branch
        #[arg(long)]
        insured_member_id: Option<String>,
        /// The serial of a card certificate (repeatable)
        #[arg(long = "card-serial")]
        card_serials: Vec<String>,
        /// The key My Numbers are hashed under (created, owner-only, if missing)
        #[arg(long, value_name = "FILE", default_value = "my-number.key")]
        my_number_key: PathBuf,
        /// The name in kana
        #[arg(long)]
        kana: Option<String>,
        /// Birth date, YYYY-MM-DD
        #[arg(long)]
        birth_date: Option<String>,
        /// male, female, other or unknown
        #[arg(long)]
        gender: Option<String>,
    },
    /// Show a person (identifiers, linked Patients, sharing choices)
    Show { id: String },
    /// The persons a Patient may be (same kana reading, birth date and sex), for a person to
    /// confirm with `link`
    Candidates { patient: String },
    /// Link a Patient to a person (after confirming it is the same patient)
    Link { person: String, patient: String },
    /// Remove a Patient's link
    Unlink { person: String, patient: String },
    /// Merge person ABSORBED into KEPT (the same patient registered twice)
    Merge { kept: String, absorbed: String },
    /// Undo a merge
    Unmerge { kept: String, absorbed: String },
    /// Record the person's sharing choices (replacing the previous ones)
    Privacy {
        id: String,
        /// Share nothing with other institutions, even in an emergency
        #[arg(long)]
        opt_out: bool,
        /// Hide records with this label or tag from others: SYSTEM|CODE (repeatable)
        #[arg(long = "hide-label", value_name = "SYSTEM|CODE")]
        hide_labels: Vec<String>,
        /// Hide this record from others: Type/id (repeatable)
        #[arg(long = "hide-record", value_name = "TYPE/ID")]
        hide_records: Vec<String>,
    },
}

/// A refusal of the access layer as a CLI error (its messages, which say what to fix).
pub(crate) fn refused(f: kizuna_records::Failure) -> anyhow::Error {
    let text: Vec<String> = f.issues.iter().map(|i| i.message.clone()).collect();
    anyhow!("{}", text.join("; "))
}

pub async fn run(a: PersonArgs) -> Result<ExitCode> {
    let records = Records::new(a.store.open().await?);
    match a.command {
        PersonCommand::Register {
            insured_member_id,
            card_serials,
            my_number_key,
            kana,
            birth_date,
            gender,
        } => {
            let my_number_hash = match std::env::var("KIZUNA_MY_NUMBER") {
                Ok(typed) if !typed.trim().is_empty() => {
                    let key = kizuna_trust::my_number::MyNumberKey::load_or_create(&my_number_key)
                        .map_err(|e| anyhow!(e))?;
                    Some(
                        key.hash(&typed)
                            .map_err(|e| anyhow!("KIZUNA_MY_NUMBER: {e}"))?,
                    )
                }
                _ => None,
            };
            let id = index::register(
                &records,
                &Registration {
                    insured_member_id,
                    card_serials,
                    my_number_hash,
                    kana_name: kana,
                    birth_date,
                    gender,
                },
            )
            .await
            .map_err(refused)?;
            println!("{id}");
        }
        PersonCommand::Show { id } => {
            let (_, person) = index::read_json(&records, "Person", &id)
                .await
                .map_err(refused)?
                .with_context(|| format!("no person {id} in the patient index"))?;
            println!("{}", serde_json::to_string_pretty(&person)?);
            let patients = index::patients_of(&records, &person)
                .await
                .map_err(refused)?;
            println!("Patients: {}", patients.join(", "));
        }
        PersonCommand::Candidates { patient } => {
            let found = index::candidates(&records, &patient)
                .await
                .map_err(refused)?;
            if found.is_empty() {
                println!("no candidates for Patient/{patient}");
            }
            for c in found {
                println!("person {} (via Patient/{})", c.person, c.via);
            }
        }
        PersonCommand::Link { person, patient } => {
            index::link(&records, &person, &patient)
                .await
                .map_err(refused)?;
            println!("linked Patient/{patient} to person {person}");
        }
        PersonCommand::Unlink { person, patient } => {
            index::unlink(&records, &person, &patient)
                .await
                .map_err(refused)?;
            println!("unlinked Patient/{patient} from person {person}");
        }
        PersonCommand::Merge { kept, absorbed } => {
            index::merge(&records, &kept, &absorbed)
                .await
                .map_err(refused)?;
            println!("merged {absorbed} into {kept}");
        }
        PersonCommand::Unmerge { kept, absorbed } => {
            index::unmerge(&records, &kept, &absorbed)
                .await
                .map_err(refused)?;
            println!("unmerged {absorbed} from {kept}");
        }
        PersonCommand::Privacy {
            id,
            opt_out,
            hide_labels,
            hide_records,
        } => {
            let pair = |s: &str, sep: char, what: &str| {
                s.split_once(sep)
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .with_context(|| format!("'{s}' is not {what}"))
            };
            let privacy = Privacy {
                opted_out: opt_out,
                hidden_labels: hide_labels
                    .iter()
                    .map(|l| pair(l, '|', "SYSTEM|CODE"))
                    .collect::<Result<_>>()?,
                hidden_records: hide_records
                    .iter()
                    .map(|r| pair(r, '/', "Type/id"))
                    .collect::<Result<_>>()?,
            };
            index::set_privacy(&records, &id, &privacy)
                .await
                .map_err(refused)?;
            println!("sharing choices of {id} recorded");
        }
    }
    Ok(ExitCode::SUCCESS)
}
