//! `kizuna audit`: verify the hash-chained audit log and its signed checkpoints, and sign new
//! checkpoints (`kizuna_store::audit` and `kizuna_trust::checkpoint` do the work).

use crate::cli::StoreArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain of the whole audit log and check its signed checkpoints (exit
    /// status 1 if anything is wrong)
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// The network CA (network-ca.pem), to check the checkpoints' signers
        #[arg(long, value_name = "CA.pem")]
        ca: Option<PathBuf>,
    },
    /// Sign the log's last entry with this node's server key and append the signature
    /// (run periodically, e.g. hourly from cron)
    Checkpoint {
        #[command(flatten)]
        store: StoreArgs,
        /// The node's server certificate (`kizuna pki issue server`)
        #[arg(long, value_name = "CERT.pem")]
        cert: PathBuf,
        /// Its key
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
    },
    /// List emergency accesses ("break the glass"), newest first, for review
    Emergencies {
        #[command(flatten)]
        store: StoreArgs,
        /// Only those of this institution (10-digit code)
        #[arg(long)]
        institution: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// Appends a checkpoint signing the log's head with the node's key, unless the log is empty or
/// its head is a checkpoint already (`certified`: the last one made here); answers the new
/// checkpoint's sequence number and the head it certifies.
pub async fn certify_head(
    store: &kizuna_store::Store,
    key_pem: &str,
    cert_pem: &str,
    certified: i64,
) -> Result<Option<(i64, (i64, String))>> {
    let (seq, hash) = store.audit_head().await?;
    if seq == 0 || seq == certified {
        return Ok(None);
    }
    // Nothing new since the last checkpoint (this node's, or another's on the same database).
    let head = store.audit_after(seq - 1, 1).await?;
    if head
        .first()
        .is_some_and(|h| kizuna_trust::checkpoint::read(&h.entry).is_some())
    {
        return Ok(None);
    }
    let entry = kizuna_trust::checkpoint::sign(seq, &hash, key_pem, cert_pem)?;
    let at = store.append_audit(vec![entry.into()]).await?;
    Ok(at.first().map(|at| (*at, (seq, hash))))
}

pub async fn run(a: AuditArgs) -> Result<ExitCode> {
    use kizuna_store::audit::{Break, GENESIS, verify};
    use kizuna_trust::checkpoint;
    let (store, ca) = match a.command {
        AuditCommand::Checkpoint { store, cert, key } => {
            let store = store.open().await?;
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let Some((at, (seq, hash))) =
                certify_head(&store, &read(&key)?, &read(&cert)?, 0).await?
            else {
                bail!("the audit log is empty: nothing to certify yet");
            };
            println!("checkpoint {at} certifies entry {seq} (hash {hash})");
            return Ok(ExitCode::SUCCESS);
        }
        AuditCommand::Verify { store, ca } => (store.open().await?, ca),
        AuditCommand::Emergencies {
            store,
            institution,
            limit,
        } => {
            let store = store.open().await?;
            let found = kizuna_access::audit::emergencies(&store, institution.as_deref(), limit)
                .await
                .map_err(|f| {
                    anyhow::anyhow!(
                        "{}",
                        f.issues
                            .iter()
                            .map(|i| i.message.clone())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                })?;
            if found.is_empty() {
                println!("no emergency accesses");
            }
            for ev in found {
                let who = ev
                    .pointer("/agent/0/who/display")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                let code = ev
                    .pointer("/agent/0/who/identifier/value")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                let staff = ev
                    .pointer("/agent/1/altId")
                    .and_then(|v| v.as_str())
                    .unwrap_or("-");
                let when = ev.get("recorded").and_then(|v| v.as_str()).unwrap_or("?");
                let patients: Vec<&str> = ev
                    .get("entity")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.pointer("/what/reference").and_then(|v| v.as_str()))
                    .filter(|r| r.starts_with("Patient/"))
                    .collect();
                println!(
                    "{when}\t{code} {who}\tstaff {staff}\t{}",
                    patients.join(",")
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let ca_der = match &ca {
        Some(p) => Some(kizuna_trust::pki::pem_der(
            &std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
            "CERTIFICATE",
        )?),
        None => None,
    };
    // Pass 1: the chain, and the checkpoints (entry, certified entry, hash).
    let (mut prev, mut seq) = (GENESIS.to_string(), 0i64);
    let mut checkpoints: Vec<(i64, i64, String)> = Vec::new();
    loop {
        let page = store.audit_after(seq, 10_000).await?;
        if page.is_empty() {
            break;
        }
        match verify(&page, prev.clone(), seq) {
            Ok((hash, last)) => (prev, seq) = (hash, last),
            Err(b) => {
                let (at, what) = match b {
                    Break::Altered { seq } => (seq, "its content does not match its hash (edited)"),
                    Break::Unlinked { seq } => (
                        seq,
                        "it does not follow the entry before it (an entry was removed, inserted or reordered)",
                    ),
                };
                println!(
                    "audit log BROKEN at entry {at}: {what}; the {} entries before it are intact",
                    at - 1
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        for r in &page {
            let Some(c) = checkpoint::read(&r.entry) else {
                continue;
            };
            if c.seq >= r.seq {
                println!(
                    "audit log BROKEN at entry {}: a checkpoint certifies a later entry",
                    r.seq
                );
                return Ok(ExitCode::FAILURE);
            }
            if let Some(ca) = &ca_der
                && let Err(e) = checkpoint::check(&c, ca)
            {
                println!(
                    "audit log BROKEN at entry {}: checkpoint refused: {e}",
                    r.seq
                );
                return Ok(ExitCode::FAILURE);
            }
            checkpoints.push((r.seq, c.seq, c.hash));
        }
    }
    // Pass 2: each certified entry still has the hash that was signed.
    checkpoints.sort_by_key(|c| c.1);
    let mut pending = checkpoints.iter().peekable();
    let mut after = 0;
    while pending.peek().is_some() {
        let page = store.audit_after(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            while let Some((at, certified, hash)) = pending.peek() {
                if *certified != r.seq {
                    break;
                }
                if *hash != r.hash {
                    println!(
                        "audit log BROKEN at entry {certified}: its hash is not the one checkpoint {at} signed (the log was rewritten)"
                    );
                    return Ok(ExitCode::FAILURE);
                }
                pending.next();
            }
        }
    }
    let signed = match (&ca_der, checkpoints.len()) {
        (_, 0) => "no signed checkpoints yet".to_string(),
        (Some(_), n) => format!("{n} signed checkpoints verified"),
        (None, n) => format!("{n} checkpoints, signatures not checked (give --ca network-ca.pem)"),
    };
    println!("audit log intact: {seq} entries, last hash {prev}; {signed}");
    Ok(ExitCode::SUCCESS)
}
