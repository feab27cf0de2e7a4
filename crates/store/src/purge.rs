//! Removing resources whole: every version, index row and text row, as if they had never been
//! written. Only retention does this (`kizuna retention`, for documents past their term);
//! every other change keeps history. The audit log, which names resources by id only, keeps
//! its entries.

use crate::StoreError;

/// The statements that remove one resource's rows, by its `res_key` (the resource row last).
const TABLES: &[&str] = &[
    "search_index",
    "composite_index",
    "resource_text",
    "history",
    "resource",
];

/// Removes `targets` (type, id) in one transaction; answers how many existed.
pub(crate) fn purge_sqlite(
    c: &mut rusqlite::Connection,
    targets: &[(String, String)],
) -> Result<usize, StoreError> {
    use rusqlite::OptionalExtension;
    let tx = c.transaction()?;
    let mut n = 0;
    for (rtype, id) in targets {
        let key: Option<i64> = tx
            .query_row(
                "SELECT res_key FROM resource WHERE type = ?1 AND id = ?2",
                [rtype, id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(key) = key else { continue };
        for t in TABLES {
            tx.execute(&format!("DELETE FROM {t} WHERE res_key = ?1"), [key])?;
        }
        n += 1;
    }
    tx.commit()?;
    Ok(n)
}

/// [`purge_sqlite`] on PostgreSQL.
pub(crate) async fn purge_postgres(
    c: &mut tokio_postgres::Client,
    targets: &[(String, String)],
) -> Result<usize, StoreError> {
    let tx = c.transaction().await?;
    let mut n = 0;
    for (rtype, id) in targets {
        let row = tx
            .query_opt(
                "SELECT res_key FROM resource WHERE type = $1 AND id = $2 FOR UPDATE",
                &[rtype, id],
            )
            .await?;
        let Some(row) = row else { continue };
        let key: i64 = row.get(0);
        for t in TABLES {
            tx.execute(&format!("DELETE FROM {t} WHERE res_key = $1"), &[&key])
                .await?;
        }
        n += 1;
    }
    tx.commit().await?;
    Ok(n)
}
