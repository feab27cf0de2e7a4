//! `kizuna smart`: register the EHR systems that reach the network with SMART Backend
//! Services (their public keys and the most they may be granted), list and remove them
//! (`kizuna_trust::smart::Registry` checks and keeps the file).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kizuna_trust::smart::{Client, Registry};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SmartArgs {
    /// The registered clients' file (`kizuna serve --smart-clients` reads it)
    #[arg(long, value_name = "FILE", default_value = "smart-clients.json")]
    clients: PathBuf,
    #[command(subcommand)]
    command: SmartCommand,
}

#[derive(Subcommand)]
enum SmartCommand {
    /// Register a client (again, to rotate its keys or change its scopes)
    Register {
        /// The client's id (the `iss` and `sub` of its assertions)
        #[arg(long)]
        client_id: String,
        /// The 10-digit medical institution code it acts for
        #[arg(long)]
        institution: String,
        /// A name people recognize (shown in audit entries and listings)
        #[arg(long)]
        name: String,
        /// Its public keys: a JWK Set file (RSA >= 2048 bits or EC P-384, each with a kid)
        #[arg(long, value_name = "JWKS.json")]
        jwks: PathBuf,
        /// The most it may be granted, e.g. "system/Observation.rs system/Patient.r"
        #[arg(long)]
        scope: String,
    },
    /// List the registered clients
    List,
    /// Remove a client (its tokens end within 5 minutes)
    Remove {
        #[arg(long)]
        client_id: String,
    },
}

pub fn run(a: SmartArgs) -> Result<ExitCode> {
    let mut registry = Registry::load(&a.clients)
        .with_context(|| format!("cannot read {}", a.clients.display()))?;
    match a.command {
        SmartCommand::Register {
            client_id,
            institution,
            name,
            jwks,
            scope,
        } => {
            let text = std::fs::read_to_string(&jwks)
                .with_context(|| format!("cannot read {}", jwks.display()))?;
            let jwks: serde_json::Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not JSON (a JWK Set: {{\"keys\": [...]}})",
                    jwks.display()
                )
            })?;
            let replaced = registry
                .register(Client {
                    client_id: client_id.clone(),
                    institution,
                    name,
                    jwks,
                    scope,
                })
                .context("the client cannot be registered")?;
            registry.save(&a.clients)?;
            println!(
                "{} {client_id} in {}",
                if replaced.is_some() {
                    "updated"
                } else {
                    "registered"
                },
                a.clients.display()
            );
        }
        SmartCommand::List => {
            for c in registry.clients() {
                println!(
                    "{}\t{}\t{}\t{}",
                    c.client_id, c.institution, c.name, c.scope
                );
            }
        }
        SmartCommand::Remove { client_id } => {
            if registry.remove(&client_id).is_none() {
                anyhow::bail!(
                    "no client {client_id} in {} (see kizuna smart list)",
                    a.clients.display()
                );
            }
            registry.save(&a.clients)?;
            println!("removed {client_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
