//! The audit log's storage: an append-only table in which every entry carries the hash of the
//! one before it, so that any change to a stored entry, or a removal, breaks the chain at that
//! entry ([`verify`] names the first one).
//!
//! `audit_log (seq, recorded, entry, prev_hash, hash)`: `entry` is the entry as given (an
//! AuditEvent's JSON; this module does not read it), `hash` = SHA-256 of `prev_hash`, `seq`,
//! `recorded` and `entry` ([`chain_hash`]), `prev_hash` the previous entry's `hash` ([`GENESIS`]
//! for the first). Both backends refuse `UPDATE` and `DELETE` on the table (triggers); the
//! chain is what shows an edit made around them. Appends are serialized (SQLite: the single
//! writer; PostgreSQL: a table lock), so the chain has no forks.

use aws_lc_rs::digest;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append, with the keys it is found by ([`crate::Store::audit_by_keys`]: e.g. the
/// patients it concerns). The keys are stored beside the chain, not in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub entry: String,
    pub keys: Vec<String>,
}

impl From<String> for AuditEntry {
    fn from(entry: String) -> AuditEntry {
        AuditEntry {
            entry,
            keys: Vec::new(),
        }
    }
}

/// One stored entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub recorded: i64,
    pub entry: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The columns of an [`AuditRecord`], in the order [`from_sqlite`] and [`from_postgres`] read.
pub(crate) const COLUMNS: &str = "seq, recorded, entry, prev_hash, hash";

pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get(0)?,
        recorded: r.get(1)?,
        entry: r.get(2)?,
        prev_hash: r.get(3)?,
        hash: r.get(4)?,
    })
}

pub(crate) fn from_postgres(r: &tokio_postgres::Row) -> AuditRecord {
    AuditRecord {
        seq: r.get(0),
        recorded: r.get(1),
        entry: r.get(2),
        prev_hash: r.get(3),
        hash: r.get(4),
    }
}

/// The hash of an entry chained to `prev` (hex SHA-256).
pub fn chain_hash(prev: &str, seq: i64, recorded: i64, entry: &str) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(b"\n");
    ctx.update(seq.to_string().as_bytes());
    ctx.update(b"\n");
    ctx.update(recorded.to_string().as_bytes());
    ctx.update(b"\n");
    ctx.update(entry.as_bytes());
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why the chain is broken, at the first entry where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The entry's content does not give its hash (the entry was edited).
    Altered { seq: i64 },
    /// The entry does not follow the one before (an entry before it was removed, inserted or
    /// reordered).
    Unlinked { seq: i64 },
}

/// Checks `records` (in `seq` order, following the entry whose hash is `prev`), and answers the
/// hash of the last one, or the first break.
pub fn verify<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    mut prev: String,
    mut prev_seq: i64,
) -> Result<(String, i64), Break> {
    for r in records {
        if r.prev_hash != prev || r.seq != prev_seq + 1 {
            return Err(Break::Unlinked { seq: r.seq });
        }
        if chain_hash(&r.prev_hash, r.seq, r.recorded, &r.entry) != r.hash {
            return Err(Break::Altered { seq: r.seq });
        }
        prev = r.hash.clone();
        prev_seq = r.seq;
    }
    Ok((prev, prev_seq))
}

/// An entry's keys as stored beside it: one per line (keys hold no line breaks), or NULL.
fn joined_keys(e: &AuditEntry) -> Option<String> {
    let mut keys: Vec<&str> = e
        .keys
        .iter()
        .map(String::as_str)
        .filter(|k| !k.is_empty() && !k.contains('\n'))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    (!keys.is_empty()).then(|| keys.join("\n"))
}

/// Entries whose keys one indexing step moves into `audit_key`.
const INDEX_STEP: i64 = 20_000;

/// Indexes the keys of entries appended since the last call (`audit_key_state.indexed_upto`)
/// into `audit_key`, sorted, in steps of [`INDEX_STEP`] entries; answers how many keys. Keys
/// are indexed in bulk rather than on append: one random B-tree insert per key on every
/// append cost a third of the embedded store's audited read throughput.
pub(crate) fn index_keys_sqlite(
    conn: &mut rusqlite::Connection,
) -> Result<usize, crate::StoreError> {
    let mut total = 0;
    loop {
        let tx = conn.transaction()?;
        let upto: i64 =
            tx.query_row("SELECT indexed_upto FROM audit_key_state", [], |r| r.get(0))?;
        let rows: Vec<(i64, Option<String>)> = {
            let mut st = tx.prepare_cached(
                "SELECT seq, keys FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = st.query_map(rusqlite::params![upto, INDEX_STEP], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let Some(last) = rows.last().map(|r| r.0) else {
            return Ok(total);
        };
        let pairs = key_pairs(&rows);
        {
            let mut ins =
                tx.prepare_cached("INSERT OR IGNORE INTO audit_key (key, seq) VALUES (?1, ?2)")?;
            for (k, seq) in &pairs {
                ins.execute(rusqlite::params![k, seq])?;
            }
        }
        tx.execute(
            "UPDATE audit_key_state SET indexed_upto = ?1",
            rusqlite::params![last],
        )?;
        tx.commit()?;
        total += pairs.len();
    }
}

/// [`index_keys_sqlite`] on PostgreSQL; concurrent callers (other nodes too) take turns.
pub(crate) async fn index_keys_postgres(
    client: &mut tokio_postgres::Client,
) -> Result<usize, crate::StoreError> {
    let mut total = 0;
    loop {
        let tx = client.transaction().await?;
        let upto: i64 = tx
            .query_one("SELECT indexed_upto FROM audit_key_state FOR UPDATE", &[])
            .await?
            .get(0);
        let rows: Vec<(i64, Option<String>)> = tx
            .query(
                "SELECT seq, keys FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&upto, &INDEX_STEP],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let Some(last) = rows.last().map(|r| r.0) else {
            return Ok(total);
        };
        let pairs = key_pairs(&rows);
        let (keys, seqs): (Vec<&str>, Vec<i64>) = pairs.iter().map(|(k, s)| (*k, *s)).unzip();
        tx.execute(
            "INSERT INTO audit_key (key, seq) SELECT k, s FROM unnest($1::text[], $2::bigint[]) AS x(k, s)
             ON CONFLICT DO NOTHING",
            &[&keys, &seqs],
        )
        .await?;
        tx.execute("UPDATE audit_key_state SET indexed_upto = $1", &[&last])
            .await?;
        tx.commit().await?;
        total += pairs.len();
    }
}

/// The (key, seq) pairs of stored rows, sorted (the order the index is written in).
fn key_pairs(rows: &[(i64, Option<String>)]) -> Vec<(&str, i64)> {
    let mut pairs: Vec<(&str, i64)> = rows
        .iter()
        .flat_map(|(seq, keys)| keys.iter().flat_map(|k| k.lines()).map(|k| (k, *seq)))
        .collect();
    pairs.sort_unstable();
    pairs
}

/// Appends `entries` in order at `recorded` on SQLite (inside the writer's transaction);
/// answers their `seq`s.
pub(crate) fn append_sqlite(
    tx: &rusqlite::Connection,
    entries: &[AuditEntry],
    recorded: i64,
) -> Result<Vec<i64>, crate::StoreError> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    let (mut seq, mut prev) = last.unwrap_or((0, GENESIS.to_string()));
    let mut ins = tx.prepare_cached(
        "INSERT INTO audit_log (seq, recorded, entry, prev_hash, hash, keys) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        seq += 1;
        let hash = chain_hash(&prev, seq, recorded, &e.entry);
        ins.execute(rusqlite::params![
            seq,
            recorded,
            e.entry,
            prev,
            hash,
            joined_keys(e)
        ])?;
        out.push(seq);
        prev = hash;
    }
    Ok(out)
}

/// Appends several callers' entries (each with its time) in order, with one lock, one read of
/// the head and one insert; answers each caller's sequence numbers.
pub(crate) async fn append_postgres_many(
    tx: &tokio_postgres::Transaction<'_>,
    jobs: &[(&[AuditEntry], i64)],
) -> Result<Vec<Vec<i64>>, crate::StoreError> {
    tx.batch_execute("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    let last = tx
        .query_opt(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    let (mut seq, mut prev): (i64, String) = match last {
        Some(r) => (r.get(0), r.get(1)),
        None => (0, GENESIS.to_string()),
    };
    let (mut seqs, mut times, mut texts, mut hashes, mut prevs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut keys: Vec<Option<String>> = Vec::new();
    let mut per_job = Vec::with_capacity(jobs.len());
    for (entries, recorded) in jobs {
        let mut mine = Vec::with_capacity(entries.len());
        for e in entries.iter() {
            seq += 1;
            let hash = chain_hash(&prev, seq, *recorded, &e.entry);
            seqs.push(seq);
            times.push(*recorded);
            texts.push(e.entry.as_str());
            keys.push(joined_keys(e));
            prevs.push(prev);
            prev = hash.clone();
            hashes.push(hash);
            mine.push(seq);
        }
        per_job.push(mine);
    }
    tx.execute(
        "INSERT INTO audit_log (seq, recorded, entry, prev_hash, hash, keys)
         SELECT s, r, e, p, h, k FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(s, r, e, p, h, k)",
        &[&seqs, &times, &texts, &prevs, &hashes, &keys],
    )
    .await?;
    Ok(per_job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let entry = format!("{{\"n\":{seq}}}");
                let hash = chain_hash(&prev, seq, 1000 + seq, &entry);
                let r = AuditRecord {
                    seq,
                    recorded: 1000 + seq,
                    entry,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                r
            })
            .collect()
    }

    #[test]
    fn a_chain_verifies_and_every_edit_is_named() {
        let c = chain(5);
        assert_eq!(verify(&c, GENESIS.into(), 0).unwrap().1, 5);
        let mut edited = c.clone();
        edited[2].entry = "{\"n\":99}".into();
        assert_eq!(
            verify(&edited, GENESIS.into(), 0),
            Err(Break::Altered { seq: 3 })
        );
        // Rehashing the edited entry does not help: the next one no longer links.
        edited[2].hash = chain_hash(
            &edited[2].prev_hash,
            3,
            edited[2].recorded,
            &edited[2].entry,
        );
        assert_eq!(
            verify(&edited, GENESIS.into(), 0),
            Err(Break::Unlinked { seq: 4 })
        );
        let mut removed = c.clone();
        removed.remove(1);
        assert_eq!(
            verify(&removed, GENESIS.into(), 0),
            Err(Break::Unlinked { seq: 3 })
        );
        let mut retimed = c;
        retimed[0].recorded += 1;
        assert_eq!(
            verify(&retimed, GENESIS.into(), 0),
            Err(Break::Altered { seq: 1 })
        );
    }
}
