//! `kizuna pki` and `kizuna card`: the network's certificate authorities and software patient
//! cards on the command line (`kizuna_trust::ca_dir` and `kizuna_trust::card` do the work).

use anyhow::Result;
use clap::{Args, Subcommand};
use kizuna_trust::ca_dir::{self, CaDir};
use kizuna_trust::card::{Card, SoftwareCard};
use kizuna_trust::pki::{AuthorityKind, Holder};
use std::path::PathBuf;
use std::process::ExitCode;
use time::OffsetDateTime;

#[derive(Args)]
pub struct PkiArgs {
    /// Directory of the authorities, their ledger and CRLs (keys are written owner-only)
    #[arg(long, value_name = "DIR", default_value = "kizuna-pki", global = true)]
    dir: PathBuf,
    #[command(subcommand)]
    command: PkiCommand,
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create the network CA (institutions, staff) and the card CA (patient cards)
    Init {
        /// The network's name, in the authorities' subjects
        #[arg(long, default_value = "Kizuna")]
        name: String,
    },
    /// Issue a certificate (and its key) to an institution, a staff member or a card
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Revoke a certificate by serial and republish the CRLs
    Revoke {
        /// Serial (hex), as `kizuna pki list` shows it
        serial: String,
        /// Why: unspecified, key-compromise, affiliation-changed, superseded,
        /// cessation-of-operation, certificate-hold
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Republish both CRLs (valid 7 days; run at least weekly)
    Crl,
    /// List every certificate issued, with its state
    List,
    /// Check a certificate (PEM file) against the authorities and their CRLs
    Verify {
        #[arg(value_name = "CERT.pem")]
        cert: PathBuf,
    },
}

#[derive(Subcommand)]
enum IssueCommand {
    /// An institution: its 10-digit medical institution code and name
    Institution {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 825)]
        days: i64,
    },
    /// A staff member acting for an institution
    Staff {
        /// The institution's 10-digit code
        #[arg(long)]
        institution: String,
        #[arg(long)]
        staff_id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// A Kizuna node's TLS server certificate (for `kizuna serve --tls-cert`)
    Server {
        /// Host names or IP addresses clients use (repeat for several)
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        #[arg(long, default_value_t = 397)]
        days: i64,
    },
    /// A patient card (the subject is the card serial, never the person)
    Card {
        #[arg(long)]
        serial: String,
        #[arg(long, default_value_t = 1826)]
        days: i64,
    },
}

pub fn run(a: PkiArgs) -> Result<ExitCode> {
    let now = OffsetDateTime::now_utc();
    let dir = a.dir.as_path();
    match a.command {
        PkiCommand::Init { name } => {
            CaDir::init(dir, &name, now)?;
            println!(
                "created the network CA ({0}/network-ca.pem) and the card CA ({0}/card-ca.pem); keys are owner-only .key files beside them",
                dir.display()
            );
        }
        PkiCommand::Issue(what) => {
            let (holder, days) = match what {
                IssueCommand::Institution { code, name, days } => (
                    Holder::Institution {
                        code: ca_dir::institution_code(&code)?,
                        name,
                    },
                    days,
                ),
                IssueCommand::Staff {
                    institution,
                    staff_id,
                    name,
                    days,
                } => (
                    Holder::Staff {
                        institution: ca_dir::institution_code(&institution)?,
                        staff_id,
                        name,
                    },
                    days,
                ),
                IssueCommand::Card { serial, days } => (Holder::Card { serial }, days),
                IssueCommand::Server { hosts, days } => (Holder::Server { hosts }, days),
            };
            let mut ca = CaDir::open(dir)?;
            let (issued, cert, key) = ca.issue(&holder, now, days)?;
            println!(
                "issued serial {} until {}: certificate {}, key {}",
                issued.serial,
                issued.not_after.date(),
                cert.display(),
                key.display()
            );
        }
        PkiCommand::Revoke { serial, reason } => {
            let mut ca = CaDir::open(dir)?;
            let e = ca.revoke(&serial, &reason, now)?;
            println!(
                "revoked {} ({} {}); CRLs republished in {}",
                e.serial,
                e.kind,
                e.id,
                dir.join("crl").display()
            );
        }
        PkiCommand::Crl => {
            let [a, b] = CaDir::open(dir)?.publish_crls(now)?;
            println!("published {} and {}", a.display(), b.display());
        }
        PkiCommand::List => {
            let ca = CaDir::open(dir)?;
            println!(
                "{:<32}  {:<11}  {:<24}  {:<10}  state",
                "serial", "kind", "id", "until"
            );
            for e in ca.entries() {
                let state = match &e.revoked {
                    Some(r) => {
                        format!("revoked {} ({})", r.at.get(..10).unwrap_or(&r.at), r.reason)
                    }
                    None => "valid".into(),
                };
                println!(
                    "{:<32}  {:<11}  {:<24}  {:<10}  {state}",
                    e.serial,
                    e.kind,
                    e.id,
                    e.not_after.get(..10).unwrap_or(&e.not_after)
                );
            }
        }
        PkiCommand::Verify { cert } => {
            let ca = CaDir::open(dir)?;
            let text = std::fs::read_to_string(&cert)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", cert.display()))?;
            match ca.verify(&text, now) {
                Ok(holder) => println!("valid: {}", describe(&holder)),
                Err(e) => {
                    println!("refused: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(h: &Holder) -> String {
    match h {
        Holder::Institution { code, name } => format!("institution {code} {name}"),
        Holder::Staff {
            institution,
            staff_id,
            name,
        } => format!("staff {staff_id} ({name}) of institution {institution}"),
        Holder::Card { serial } => format!("card {serial}"),
        Holder::Server { hosts } => format!("server {}", hosts.join(", ")),
    }
}

#[derive(Args)]
pub struct CardArgs {
    #[command(subcommand)]
    command: CardCommand,
}

#[derive(Subcommand)]
enum CardCommand {
    /// Make a software card (for tests and demos): a card certificate from the card CA, its
    /// key sealed under a 4-digit PIN, locked after 3 wrong PINs
    Create {
        /// Directory of the authorities (`kizuna pki init`)
        #[arg(long, value_name = "DIR", default_value = "kizuna-pki")]
        pki: PathBuf,
        /// The card serial (letters and digits), the only thing its certificate names
        #[arg(long)]
        serial: String,
        /// The card file to write
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The PIN (4 digits); from the environment so that it stays out of process lists
        #[arg(long, env = "KIZUNA_CARD_PIN", hide_env_values = true)]
        pin: String,
    },
    /// Sign a challenge with the card (prints the signature in hex)
    Sign {
        #[command(flatten)]
        which: WhichCard,
        /// The challenge, as the network gave it
        #[arg(long)]
        challenge: String,
        #[arg(long, env = "KIZUNA_CARD_PIN", hide_env_values = true)]
        pin: String,
    },
    /// Show a card's certificate subject and how many PIN tries it has left
    Info {
        #[command(flatten)]
        which: WhichCard,
    },
    /// List the PC/SC card readers (needs a build with `--features pcsc`)
    Readers,
}

/// A software card's file, or a My Number card in a PC/SC reader.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct WhichCard {
    /// A software card file (`kizuna card create`)
    #[arg(long, value_name = "FILE")]
    card: Option<PathBuf>,
    /// A My Number card in a PC/SC reader: the reader's name, or `auto` for the only one
    /// (needs a build with `--features pcsc`)
    #[arg(long, value_name = "NAME")]
    reader: Option<String>,
}

impl WhichCard {
    fn open(&self) -> Result<Box<dyn Card>> {
        match (&self.card, &self.reader) {
            (Some(file), _) => Ok(Box::new(SoftwareCard::open(file)?)),
            (None, Some(reader)) => open_reader(reader),
            (None, None) => anyhow::bail!("name a card: --card FILE or --reader NAME"),
        }
    }
}

#[cfg(feature = "pcsc")]
fn open_reader(reader: &str) -> Result<Box<dyn Card>> {
    let name = (reader != "auto").then_some(reader);
    Ok(Box::new(kizuna_trust::jpki::JpkiCard::connect(name)?))
}

#[cfg(not(feature = "pcsc"))]
fn open_reader(_: &str) -> Result<Box<dyn Card>> {
    anyhow::bail!(NO_PCSC)
}

#[cfg(not(feature = "pcsc"))]
const NO_PCSC: &str = "this kizuna was built without PC/SC card readers; build it with `cargo build --release --features pcsc` (Debian: apt install libpcsclite-dev pcscd)";

pub fn run_card(a: CardArgs) -> Result<ExitCode> {
    match a.command {
        CardCommand::Create {
            pki,
            serial,
            out,
            pin,
        } => {
            if out.exists() {
                anyhow::bail!("{} exists already; choose another --out", out.display());
            }
            let mut ca = CaDir::open(&pki)?;
            let (issued, _, key) = ca.issue(
                &Holder::Card {
                    serial: serial.clone(),
                },
                OffsetDateTime::now_utc(),
                1826,
            )?;
            SoftwareCard::create(&out, &serial, &issued.cert_pem, &issued.key_pem, &pin)?;
            // The card holds the key now; the issuer keeps none.
            let _ = std::fs::remove_file(&key);
            println!(
                "card {serial} written to {} (certificate serial {})",
                out.display(),
                issued.serial
            );
        }
        CardCommand::Sign {
            which,
            challenge,
            pin,
        } => {
            let sig = which.open()?.sign(&pin, challenge.as_bytes())?;
            println!("{}", kizuna_trust::hex::encode(&sig));
        }
        CardCommand::Info { which } => {
            let mut card = which.open()?;
            let cert = card.certificate()?;
            let serial = match kizuna_trust::pki::holder(&cert, AuthorityKind::Card)? {
                Holder::Card { serial } => serial,
                other => anyhow::bail!("the card holds a certificate for {other:?}, not a card"),
            };
            println!("card {serial}: {} PIN tries left", card.pin_tries()?);
        }
        CardCommand::Readers => {
            #[cfg(feature = "pcsc")]
            for name in kizuna_trust::jpki::readers()? {
                println!("{name}");
            }
            #[cfg(not(feature = "pcsc"))]
            anyhow::bail!(NO_PCSC);
        }
    }
    Ok(ExitCode::SUCCESS)
}
