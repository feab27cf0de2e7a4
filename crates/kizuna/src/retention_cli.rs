//! `kizuna retention`: the documents past their retention term, and their removal. Without
//! `--apply` it only reports; with it, each document past its term is removed whole, an audit
//! entry written before (the intent) and after (the outcome). A document still within its
//! term is never touched: the term is read again from the store just before each removal,
//! against the real clock (`--as-of` only previews).

use crate::cli::{StoreArgs, failure_message as message};
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use kizuna_access::{Caller, Network, audit::Event};
use kizuna_records::{Records, Retention};
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Years a document is kept after the network received it
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=200))]
    years: u32,
    /// Years a document tagged for long-term storage (LTS) is kept; without it, for ever
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    lts_years: Option<u32>,
    /// Remove the documents past their term (without it, only report)
    #[arg(long)]
    apply: bool,
    /// Report as of this date (YYYY-MM-DD, JST) instead of now: what will be due then. Only
    /// for reports; `--apply` always uses the real clock
    #[arg(long, value_name = "DATE", conflicts_with = "apply")]
    as_of: Option<String>,
}

pub async fn run(a: RetentionArgs) -> Result<ExitCode> {
    let store = a.store.open().await?;
    let records = Records::new(store);
    let policy = Retention {
        years: a.years,
        lts_years: a.lts_years,
    };
    let now = match &a.as_of {
        None => jiff::Timestamp::now().as_microsecond(),
        Some(d) => {
            let date: jiff::civil::Date = d
                .parse()
                .with_context(|| format!("--as-of '{d}' is not a date like 2031-04-01"))?;
            date.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
                .context("--as-of is out of range")?
                .timestamp()
                .as_microsecond()
        }
    };
    let terms = records
        .document_terms(&policy)
        .await
        .map_err(|f| anyhow::anyhow!("the documents could not be read: {}", message(&f)))?;
    let due: Vec<_> = terms.iter().filter(|t| t.ended(now)).collect();
    let forever = terms.iter().filter(|t| t.ends.is_none()).count();
    let when = a.as_of.as_deref().unwrap_or("now");
    println!(
        "{} documents kept; {} past their term as of {when}; {} kept for ever (LTS{})",
        terms.len(),
        due.len(),
        forever,
        if a.lts_years.is_some() {
            ": none"
        } else {
            ", no --lts-years"
        }
    );
    if !a.apply {
        for t in &due {
            println!(
                "  due: DocumentReference/{} (received {}, term ended {})",
                t.document,
                jst(t.received),
                t.ends.map(jst).unwrap_or_default()
            );
        }
        if !due.is_empty() && a.as_of.is_none() {
            println!("run again with --apply to remove them");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if due.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let net = Network::with_random_key(records.clone(), None)
        .map_err(|e| anyhow::anyhow!("the audit log cannot be written: {e}"))?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(due.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("removing [{bar:40}] {pos}/{len} documents ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let (mut removed, mut resources) = (0usize, 0usize);
    for t in due {
        let mut event = Event {
            action: "D",
            subtype: "retention".into(),
            request: format!("RETENTION DocumentReference/{}", t.document),
            status: 0,
            entities: t
                .parts
                .iter()
                .map(|(ty, id)| format!("{ty}/{id}"))
                .collect(),
            patients: t.patient.iter().cloned().collect(),
            detail: Some(format!(
                "retention term ended ({} years{})",
                if t.lts {
                    a.lts_years.unwrap_or(0)
                } else {
                    a.years
                },
                if t.lts { ", long-term storage" } else { "" }
            )),
            ..Default::default()
        };
        // The intent first: nothing is removed unaudited.
        net.audit(&Caller::node(), &event)
            .await
            .map_err(|f| anyhow::anyhow!("the audit log could not be written: {}", message(&f)))?;
        let now = jiff::Timestamp::now().as_microsecond();
        let outcome = records.purge_document(&t.document, &policy, now).await;
        event.status = match &outcome {
            Ok(_) => 200,
            Err(f) => f.status,
        };
        net.audit(&Caller::node(), &event)
            .await
            .map_err(|f| anyhow::anyhow!("the audit log could not be written: {}", message(&f)))?;
        match outcome {
            Ok(Some((_, n))) => {
                removed += 1;
                resources += n;
            }
            Ok(None) => {}
            Err(f) => bail!(
                "DocumentReference/{} was not removed: {}",
                t.document,
                message(&f)
            ),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("removed {removed} documents ({resources} resources), each audited");
    Ok(ExitCode::SUCCESS)
}

/// A time as a JST date and time.
fn jst(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
                .strftime("%Y-%m-%d %H:%M JST")
                .to_string()
        })
        .unwrap_or_default()
}
