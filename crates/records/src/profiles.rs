//! The implementation guides installed in the store, compiled for validation, and kept up to
//! date: every process sharing the store sees an install or removal at its next
//! [`Profiles::refresh`].

use kizuna_profiles::{Conformance, Package, PackageError, package};
use kizuna_store::{Store, StoreError, StoredPackage};
use std::sync::{Arc, Mutex, RwLock};

/// Why the installed packages could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum ProfilesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Package(#[from] PackageError),
    #[error("installed package {name}#{version} is unreadable: {why}")]
    Corrupt {
        name: String,
        version: String,
        why: String,
    },
    #[error("package {0} is not installed (`kizuna ig list` shows what is)")]
    NotInstalled(String),
    #[error("package {package} is needed by {needed_by}: remove that first")]
    Needed { package: String, needed_by: String },
}

/// The compiled profiles of the installed packages.
#[derive(Default)]
pub struct Profiles {
    current: RwLock<Arc<Conformance>>,
    /// The store's package stamp `current` was built from.
    stamp: Mutex<Option<(i64, i64)>>,
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiles").finish_non_exhaustive()
    }
}

impl Profiles {
    /// The profiles in use now.
    pub fn current(&self) -> Arc<Conformance> {
        // A poisoned lock still holds the last set installed: never validate against none.
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Rebuilds from the store if its packages changed since the last look; answers whether it
    /// did. On failure the profiles in use stay.
    pub async fn refresh(&self, store: &Store) -> Result<bool, ProfilesError> {
        let stamp = store.packages_stamp().await?;
        if *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) == Some(stamp) {
            return Ok(false);
        }
        let stored = store.packages().await?;
        let conf = compile(&stored)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(conf);
        *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) = Some(stamp);
        Ok(true)
    }
}

/// Reads and compiles stored packages.
fn compile(stored: &[StoredPackage]) -> Result<Conformance, ProfilesError> {
    let packages = read_all(stored)?;
    Ok(Conformance::new(&packages)?)
}

fn read_all(stored: &[StoredPackage]) -> Result<Vec<Package>, ProfilesError> {
    stored
        .iter()
        .map(|s| {
            package::read(&s.body).map_err(|e| ProfilesError::Corrupt {
                name: s.name.clone(),
                version: s.version.clone(),
                why: e.to_string(),
            })
        })
        .collect()
}

/// What an install did.
#[derive(Debug)]
pub struct Installed {
    pub package: Package,
    /// The version of the same package it replaced.
    pub replaced: Option<String>,
}

/// Installs a package tarball into `store` after checking that it is a FHIR R4 package and
/// that, with the packages already installed, everything it needs is there. `installed` is the
/// install time (microseconds since the epoch).
pub async fn install(
    store: &Store,
    tarball: Vec<u8>,
    installed: i64,
) -> Result<Installed, ProfilesError> {
    let package = package::read(&tarball)?;
    let stored = store.packages().await?;
    let replaced = stored
        .iter()
        .find(|s| s.name == package.name)
        .map(|s| s.version.clone());
    let mut all = read_all(
        &stored
            .into_iter()
            .filter(|s| s.name != package.name)
            .collect::<Vec<_>>(),
    )?;
    all.push(package.clone());
    // Refused unless everything it needs is installed (or comes with it).
    Conformance::new(&all)?;
    store
        .put_package(StoredPackage {
            name: package.name.clone(),
            version: package.version.clone(),
            digest: package.digest.clone(),
            body: tarball,
            installed,
        })
        .await?;
    Ok(Installed { package, replaced })
}

/// Removes an installed package, unless another one needs it.
pub async fn remove(store: &Store, name: &str) -> Result<StoredPackage, ProfilesError> {
    let stored = store.packages().await?;
    let Some(target) = stored.iter().find(|s| s.name == name).cloned() else {
        return Err(ProfilesError::NotInstalled(name.to_string()));
    };
    let rest: Vec<StoredPackage> = stored.into_iter().filter(|s| s.name != name).collect();
    if let Err(ProfilesError::Package(PackageError::Missing { package, .. })) = compile(&rest) {
        return Err(ProfilesError::Needed {
            package: format!("{}#{}", target.name, target.version),
            needed_by: package,
        });
    }
    store.remove_package(name).await?;
    Ok(target)
}
