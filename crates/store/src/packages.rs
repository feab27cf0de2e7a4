//! Installed implementation-guide packages: each kept whole, byte for byte as installed (the
//! `.tgz`), one version per package name. The store does not read them; `kizuna-profiles`
//! does.

use crate::{Micros, StoreError};

/// A package as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPackage {
    pub name: String,
    pub version: String,
    /// SHA-256 of `body`, hex.
    pub digest: String,
    /// The tarball.
    pub body: Vec<u8>,
    pub installed: Micros,
}

/// A change to the installed packages.
pub(crate) enum Op {
    /// Install, replacing any version of the same name.
    Put(StoredPackage),
    Remove(String),
}

pub(crate) const LIST: &str =
    "SELECT name, version, digest, body, installed FROM ig_package ORDER BY installed, name";
/// Changes whenever a package is installed, replaced or removed.
pub(crate) const STAMP: &str = "SELECT count(*), coalesce(sum(installed), 0) FROM ig_package";

pub(crate) fn list_sqlite(c: &rusqlite::Connection) -> Result<Vec<StoredPackage>, StoreError> {
    let mut st = c.prepare(LIST)?;
    let rows = st.query_map([], |r| {
        Ok(StoredPackage {
            name: r.get(0)?,
            version: r.get(1)?,
            digest: r.get(2)?,
            body: r.get(3)?,
            installed: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn stamp_sqlite(c: &rusqlite::Connection) -> Result<(i64, i64), StoreError> {
    Ok(c.query_row(STAMP, [], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Applies `op` in one transaction; answers whether it changed anything.
pub(crate) fn apply_sqlite(c: &mut rusqlite::Connection, op: Op) -> Result<bool, StoreError> {
    let tx = c.transaction()?;
    let n = match op {
        Op::Put(p) => {
            tx.execute("DELETE FROM ig_package WHERE name = ?1", [&p.name])?;
            tx.execute(
                "INSERT INTO ig_package (name, version, digest, body, installed) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![p.name, p.version, p.digest, p.body, p.installed],
            )?
        }
        Op::Remove(name) => tx.execute("DELETE FROM ig_package WHERE name = ?1", [&name])?,
    };
    tx.commit()?;
    Ok(n > 0)
}

pub(crate) async fn list_postgres(
    c: &tokio_postgres::Client,
) -> Result<Vec<StoredPackage>, StoreError> {
    Ok(c.query(LIST, &[])
        .await?
        .iter()
        .map(|r| StoredPackage {
            name: r.get(0),
            version: r.get(1),
            digest: r.get(2),
            body: r.get(3),
            installed: r.get(4),
        })
        .collect())
}

pub(crate) async fn stamp_postgres(c: &tokio_postgres::Client) -> Result<(i64, i64), StoreError> {
    // sum(bigint) is numeric in PostgreSQL: cast back.
    let r = c
        .query_one(
            "SELECT count(*), coalesce(sum(installed), 0)::bigint FROM ig_package",
            &[],
        )
        .await?;
    Ok((r.get(0), r.get(1)))
}

pub(crate) async fn apply_postgres(
    c: &mut tokio_postgres::Client,
    op: Op,
) -> Result<bool, StoreError> {
    let tx = c.transaction().await?;
    let n = match op {
        Op::Put(p) => {
            tx.execute("DELETE FROM ig_package WHERE name = $1", &[&p.name])
                .await?;
            tx.execute(
                "INSERT INTO ig_package (name, version, digest, body, installed) VALUES ($1, $2, $3, $4, $5)",
                &[&p.name, &p.version, &p.digest, &p.body, &p.installed],
            )
            .await?
        }
        Op::Remove(name) => {
            tx.execute("DELETE FROM ig_package WHERE name = $1", &[&name])
                .await?
        }
    };
    tx.commit().await?;
    Ok(n > 0)
}
