//! `kizuna ig`: implementation-guide packages. Install the npm-style `.tgz` every FHIR tool
//! publishes (JP Core, JP-CLINS, IPS ...), list and remove them, and validate a resource file
//! against them without a server. A running server picks up a change within seconds (stop it
//! first on the embedded store, whose data directory one process holds).

use crate::cli::StoreArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kizuna_records::profiles::{self, Profiles, ProfilesError};
use kizuna_store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct IgArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: IgCommand,
}

#[derive(Subcommand)]
enum IgCommand {
    /// Install packages (.tgz), in whatever order: each goes in once what it needs is there.
    /// Installing another version of an installed package replaces it
    Install {
        #[arg(required = true, value_name = "PACKAGE.tgz")]
        packages: Vec<PathBuf>,
    },
    /// The installed packages
    List,
    /// Remove an installed package (refused while another one needs it)
    Remove {
        /// The package's name, as `list` shows it (jp-core.r4)
        name: String,
    },
    /// Validate resource files (JSON) against the base specification and the installed
    /// packages; exits 1 if any has an error
    Validate {
        #[arg(required = true, value_name = "FILE.json")]
        files: Vec<PathBuf>,
        /// Also validate against this profile (canonical URL), claimed or not
        #[arg(long, value_name = "URL")]
        profile: Option<String>,
    },
}

pub async fn run(args: IgArgs) -> Result<ExitCode> {
    let store = args.store.open().await?;
    match args.command {
        IgCommand::Install { packages } => install(&store, packages).await,
        IgCommand::List => list(&store).await,
        IgCommand::Remove { name } => {
            let removed = profiles::remove(&store, &name).await?;
            println!("removed {}#{}", removed.name, removed.version);
            Ok(ExitCode::SUCCESS)
        }
        IgCommand::Validate { files, profile } => validate(&store, files, profile).await,
    }
}

async fn install(store: &Store, files: Vec<PathBuf>) -> Result<ExitCode> {
    let mut waiting = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
        waiting.push((f, bytes));
    }
    // Each round installs what it can; a package that needs one given later waits for it.
    loop {
        let mut progress = false;
        let mut still = Vec::new();
        let mut last_missing = None;
        for (f, bytes) in waiting {
            match profiles::install(store, bytes.clone(), now_micros()).await {
                Ok(done) => {
                    progress = true;
                    let p = &done.package;
                    println!(
                        "installed {}#{}{}: {} profiles, {} value sets, {} code systems (sha256 {})",
                        p.name,
                        p.version,
                        done.replaced
                            .map(|v| format!(" (replacing {v})"))
                            .unwrap_or_default(),
                        p.count("StructureDefinition"),
                        p.count("ValueSet"),
                        p.count("CodeSystem"),
                        &p.digest[..16],
                    );
                }
                Err(ProfilesError::Package(e @ kizuna_profiles::PackageError::Missing { .. })) => {
                    last_missing = Some(format!("{}: {e}", f.display()));
                    still.push((f, bytes));
                }
                Err(e) => bail!("{}: {e}", f.display()),
            }
        }
        if still.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        if !progress {
            bail!("{}", last_missing.unwrap_or_default());
        }
        waiting = still;
    }
}

async fn list(store: &Store) -> Result<ExitCode> {
    let stored = store.packages().await?;
    if stored.is_empty() {
        println!("no packages installed (install one with `kizuna ig install PACKAGE.tgz`)");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<28} {:<14} {:>8} {:>10} {:>12}  {:<25} sha256",
        "package", "version", "profiles", "value sets", "code systems", "installed"
    );
    for s in &stored {
        let p = kizuna_profiles::package::read(&s.body)
            .with_context(|| format!("installed package {} is unreadable", s.name))?;
        println!(
            "{:<28} {:<14} {:>8} {:>10} {:>12}  {:<25} {}",
            s.name,
            s.version,
            p.count("StructureDefinition"),
            p.count("ValueSet"),
            p.count("CodeSystem"),
            kizuna_store::format_instant(s.installed),
            &s.digest[..16]
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn validate(store: &Store, files: Vec<PathBuf>, profile: Option<String>) -> Result<ExitCode> {
    let profiles = Profiles::default();
    profiles.refresh(store).await?;
    let conf = profiles.current();
    if let Some(p) = &profile
        && conf.profile_info(p).is_none()
    {
        bail!("profile {p} is not defined by any installed package (`kizuna ig list` shows them)");
    }
    let mut failed = false;
    for f in files {
        let bytes = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let v = match kizuna_fhir::json::parse(&bytes) {
            Ok(v) => v,
            Err(e) => {
                println!("{}: error: not JSON: {e}", f.display());
                failed = true;
                continue;
            }
        };
        let mut issues = kizuna_fhir::validate_resource(&v);
        let report = match &profile {
            Some(p) => conf.validate_against(&v, p).unwrap_or_default(),
            None => conf.validate(&v),
        };
        issues.extend(report.issues);
        let errors = issues.iter().filter(|i| i.is_error()).count();
        failed |= errors > 0;
        println!(
            "{}: {}",
            f.display(),
            if errors == 0 {
                format!("valid ({} warnings)", issues.len())
            } else {
                format!("{errors} errors")
            }
        );
        for i in &issues {
            println!(
                "  {} {}: {}",
                i.severity.code(),
                i.expression.as_deref().unwrap_or("-"),
                i.message
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
