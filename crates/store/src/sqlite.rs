//! The embedded backend: SQLite (bundled) in WAL mode in a data directory.
//!
//! One writer thread owns the only write connection and does group commit: it takes every batch
//! waiting in its queue, applies each under its own savepoint (a failing batch rolls back alone; a batch alone needs none),
//! commits once (`synchronous=FULL`: the WAL is fsynced before the commit returns) and only then
//! acknowledges all of them. Readers use a small pool of read-only connections.

use crate::search::{self, Arg, Dialect, Hit, SearchResult, SearchSpec, SortValue, Sql};
use crate::{
    Batch, Condition, HistoryPage, HistoryQuery, IndexRows, Live, Method, Micros, Reindexed, Stats,
    StoreError, Version, Write, WriteOutcome, Written, next_timestamp, sorted_ids, stamp,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Versioned schema migrations; each runs once, in order, in one transaction.
const MIGRATIONS: &[&str] = &[
    // 1: resources, their versions, token index.
    "CREATE TABLE resource (
        res_key INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        last_updated INTEGER NOT NULL,
        UNIQUE (type, id)
    );
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY,
        res_key INTEGER NOT NULL,
        type TEXT NOT NULL,
        version INTEGER NOT NULL,
        last_updated INTEGER NOT NULL,
        ended INTEGER,
        method TEXT NOT NULL,
        hash BLOB,
        body TEXT
    );
    CREATE UNIQUE INDEX history_version ON history (res_key, version);
    CREATE INDEX history_type ON history (type, seq);
    CREATE INDEX history_time ON history (last_updated);
    CREATE TABLE token_index (
        res_key INTEGER NOT NULL,
        type TEXT NOT NULL,
        param TEXT NOT NULL,
        system TEXT,
        code TEXT NOT NULL
    );
    CREATE INDEX token_lookup ON token_index (type, param, code);
    CREATE INDEX token_res ON token_index (res_key);",
    // 2: typed search indexes (see `index.rs`) in place of the token index.
    "DROP TABLE token_index;
    CREATE TABLE search_index (
        param INTEGER NOT NULL,
        c1 TEXT NOT NULL,
        c2 TEXT NOT NULL,
        c3 TEXT NOT NULL,
        lo INTEGER NOT NULL,
        hi INTEGER NOT NULL,
        res_key INTEGER NOT NULL,
        PRIMARY KEY (param, c1, c2, c3, lo, hi, res_key)
    ) WITHOUT ROWID;
    CREATE INDEX search_index_res ON search_index (res_key, param);
    CREATE TABLE composite_index (
        param INTEGER NOT NULL,
        a1 TEXT NOT NULL,
        a2 TEXT NOT NULL,
        b1 TEXT NOT NULL,
        b2 TEXT NOT NULL,
        b3 TEXT NOT NULL,
        blo INTEGER NOT NULL,
        bhi INTEGER NOT NULL,
        c3 TEXT NOT NULL,
        res_key INTEGER NOT NULL
    );
    CREATE INDEX composite_lookup ON composite_index (param, a1, a2, b1, res_key);
    CREATE INDEX composite_res ON composite_index (res_key);",
    // 3: the resources of one type in key order (unsorted pages of a type read off it).
    "CREATE INDEX resource_type_key ON resource (type, res_key);",
    // 4: the format of the index rows (`index::INDEX_FORMAT`); 0 for rows written before it
    // was recorded.
    "CREATE TABLE index_format (version INTEGER NOT NULL);
    INSERT INTO index_format (version) VALUES (0);",
    // 5: what `_text` and `_content` search (`kizuna_search::text`), for live resources.
    "CREATE TABLE resource_text (
        res_key INTEGER PRIMARY KEY,
        narrative TEXT NOT NULL,
        content TEXT NOT NULL
    );",
    // 6: the hash-chained, append-only audit log (`audit.rs`).
    "CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        recorded INTEGER NOT NULL,
        entry TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // 7: the audit log's keys (who an entry concerns), appended with the entry (`keys`, one per
    // line, outside the chain) and indexed later in bulk into `audit_key` (see `audit.rs`);
    // entries before `keyed_from` have none (they were written before this version).
    "ALTER TABLE audit_log ADD COLUMN keys TEXT;
    CREATE TABLE audit_key (
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (key, seq)
    ) WITHOUT ROWID;
    CREATE TABLE audit_key_state (keyed_from INTEGER NOT NULL, indexed_upto INTEGER NOT NULL);
    INSERT INTO audit_key_state SELECT coalesce(max(seq), 0) + 1, coalesce(max(seq), 0) FROM audit_log;
    CREATE TRIGGER audit_key_no_update BEFORE UPDATE ON audit_key
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_key_no_delete BEFORE DELETE ON audit_key
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // 8: installed implementation-guide packages, kept whole (`packages.rs`).
    "CREATE TABLE ig_package (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        digest TEXT NOT NULL,
        body BLOB NOT NULL,
        installed INTEGER NOT NULL
    );",
    // 9: personal health records as time series (`series.rs`): series, their points keyed by
    // start, and rollups per day, week and month.
    "CREATE TABLE phr_series (
        series_key INTEGER PRIMARY KEY,
        patient TEXT NOT NULL,
        code TEXT NOT NULL,
        unit TEXT NOT NULL,
        source TEXT NOT NULL,
        UNIQUE (patient, code, source)
    );
    CREATE TABLE phr_sample (
        series_key INTEGER NOT NULL,
        start_us INTEGER NOT NULL,
        end_us INTEGER,
        offset_s INTEGER NOT NULL,
        day INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (series_key, start_us)
    ) WITHOUT ROWID;
    CREATE TABLE phr_rollup (
        series_key INTEGER NOT NULL,
        period INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        n INTEGER NOT NULL,
        total REAL NOT NULL,
        low REAL NOT NULL,
        high REAL NOT NULL,
        PRIMARY KEY (series_key, period, bucket)
    ) WITHOUT ROWID;",
    // 10: the image index (`imaging.rs`): studies, series and instances of the DICOM objects
    // kept in object storage.
    crate::imaging::MIGRATION_SQLITE,
];

const READERS: usize = 8;
/// At most this many batches share one commit.
const GROUP_LIMIT: usize = 512;

/// A batch waiting for the writer.
struct Pending {
    batch: Batch,
    reply: oneshot::Sender<Result<Vec<Written>, StoreError>>,
}

enum Job {
    Batch(Pending),
    Reindex {
        items: Vec<Reindexed>,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    IndexAuditKeys {
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    SetIndexFormat {
        version: i64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Audit {
        entries: Vec<crate::audit::AuditEntry>,
        recorded: i64,
        reply: oneshot::Sender<Result<Vec<i64>, StoreError>>,
    },
    Package {
        op: crate::packages::Op,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    Purge {
        targets: Vec<(String, String)>,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    Series {
        writes: Vec<crate::series::SeriesWrite>,
        reply: oneshot::Sender<Result<crate::series::Ingested, StoreError>>,
    },
}

/// Runs a job that is not a batch (it never shares a commit).
fn run_alone(conn: &mut Connection, job: Job) {
    match job {
        Job::Batch(_) => {}
        Job::Reindex { items, reply } => {
            let _ = reply.send(reindex(conn, items));
        }
        // Audit appends join group commits (see `writer_loop`); alone, one transaction.
        Job::Audit {
            entries,
            recorded,
            reply,
        } => {
            let r = (|| {
                let tx = conn.transaction()?;
                let seqs = crate::audit::append_sqlite(&tx, &entries, recorded)?;
                tx.commit()?;
                Ok(seqs)
            })();
            let _ = reply.send(r);
        }
        Job::IndexAuditKeys { reply } => {
            let _ = reply.send(crate::audit::index_keys_sqlite(conn));
        }
        Job::Package { op, reply } => {
            let _ = reply.send(crate::packages::apply_sqlite(conn, op));
        }
        Job::Purge { targets, reply } => {
            let _ = reply.send(crate::purge::purge_sqlite(conn, &targets));
        }
        Job::Series { writes, reply } => {
            let _ = reply.send(crate::series::ingest_sqlite(conn, writes));
        }
        Job::SetIndexFormat { version, reply } => {
            let r = conn
                .execute("UPDATE index_format SET version = ?1", params![version])
                .map(|_| ())
                .map_err(StoreError::from);
            let _ = reply.send(r);
        }
    }
}

/// The embedded store. Cloning shares it.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Held (locked) for as long as the store is open.
    _lock: std::fs::File,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    writer: mpsc::Sender<Job>,
    changes: crate::Changes,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in directory `dir`, migrating its schema.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        // One process per data directory: its writer thread is the only writer.
        let lock_path = dir.join("kizuna.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot open {}: {e}", lock_path.display()))
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Unavailable(format!(
                    "another kizuna process is using the data directory {}; stop it first, or send the data through its API",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )));
            }
        }
        let path = dir.join("kizuna.db");
        let mut conn = Connection::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "busy_timeout", 10_000)?;
        conn.pragma_update(None, "cache_size", -262_144)?;
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        // Savepoints' sub-journals stay in memory rather than in a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        register_functions(&conn)?;
        migrate(&mut conn)?;
        // An empty store has nothing indexed in an older format.
        conn.execute(
            "UPDATE index_format SET version = ?1 WHERE NOT EXISTS (SELECT 1 FROM resource)",
            params![crate::index::INDEX_FORMAT],
        )?;
        let (tx, rx) = mpsc::channel(4096);
        std::thread::Builder::new()
            .name("kizuna-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                _lock: lock,
                path,
                readers: Mutex::new(Vec::new()),
                writer: tx,
                changes: Default::default(),
            }),
        })
    }

    pub(crate) fn changes(&self) -> &crate::Changes {
        &self.inner.changes
    }

    /// Runs `f` on a pooled read connection. Point reads run inline: they take microseconds.
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self
            .inner
            .readers
            .lock()
            .map_err(|_| StoreError::Backend("reader pool poisoned".into()))?
            .pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.pragma_update(None, "busy_timeout", 10_000)?;
                c.pragma_update(None, "cache_size", -16_384)?;
                register_functions(&c)?;
                c
            }
        };
        let result = f(&conn);
        if let Ok(mut pool) = self.inner.readers.lock()
            && pool.len() < READERS
        {
            pool.push(conn);
        }
        result
    }

    /// Runs a longer read on the blocking pool.
    pub(crate) async fn read_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.with_reader(f))
            .await
            .map_err(|e| StoreError::Backend(format!("reader task failed: {e}")))?
    }

    pub fn read(&self, rtype: &str, id: &str) -> Result<Option<Version>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT h.version, h.last_updated, h.method, h.body FROM resource r
                 JOIN history h ON h.seq = r.seq WHERE r.type = ?1 AND r.id = ?2",
            )?;
            Ok(st
                .query_row(params![rtype, id], |row| version_row(rtype, id, row))
                .optional()?)
        })
    }

    pub fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Version>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT h.version, h.last_updated, h.method, h.body FROM resource r
                 JOIN history h ON h.res_key = r.res_key AND h.version = ?3 WHERE r.type = ?1 AND r.id = ?2",
            )?;
            Ok(st.query_row(params![rtype, id, version as i64], |row| version_row(rtype, id, row)).optional()?)
        })
    }

    /// Hands the writer the job `job` makes around its reply channel, and waits for the reply.
    async fn ask<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let stopped = || StoreError::Unavailable("the writer has stopped".into());
        let (reply, rx) = oneshot::channel();
        self.inner
            .writer
            .send(job(reply))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    pub async fn commit(&self, batch: Batch) -> Result<Vec<Written>, StoreError> {
        self.ask(|reply| Job::Batch(Pending { batch, reply })).await
    }

    /// See [`crate::Store::reindex`].
    pub async fn reindex(&self, items: Vec<Reindexed>) -> Result<usize, StoreError> {
        self.ask(|reply| Job::Reindex { items, reply }).await
    }

    /// See [`crate::Store::live_after`].
    pub async fn live_after(&self, after: i64, limit: usize) -> Result<Vec<Live>, StoreError> {
        self.read_blocking(move |c| {
            let mut st = c.prepare_cached(
                "SELECT r.res_key, r.seq, h.body FROM resource r JOIN history h ON h.seq = r.seq \
                 WHERE r.deleted = 0 AND r.res_key > ?1 ORDER BY r.res_key LIMIT ?2",
            )?;
            let rows = st.query_map(params![after, limit as i64], |row| {
                Ok(Live {
                    res_key: row.get(0)?,
                    seq: row.get(1)?,
                    body: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub async fn search(&self, spec: SearchSpec) -> Result<SearchResult, StoreError> {
        self.read_blocking(move |c| run_search(c, &spec)).await
    }

    pub async fn hits(&self, sql: Sql) -> Result<Vec<Hit>, StoreError> {
        self.read_blocking(move |c| run_hits(c, &sql, 0, None))
            .await
    }

    /// How many rows `sql` answers.
    pub async fn count_rows(&self, sql: Sql) -> Result<u64, StoreError> {
        self.read_blocking(move |c| {
            let n: i64 = c.query_row(
                &format!("SELECT count(*) FROM ({}) x", sql.text),
                rusqlite::params_from_iter(bind(&sql.args)),
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
        .await
    }

    pub async fn history(&self, q: HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.read_blocking(move |c| history(c, &q)).await
    }

    /// See [`crate::Store::index_format`].
    pub async fn index_format(&self) -> Result<i64, StoreError> {
        self.read_blocking(|c| {
            Ok(c.query_row("SELECT version FROM index_format", [], |r| r.get(0))?)
        })
        .await
    }

    /// See [`crate::Store::set_index_format`]: a write, so it goes through the writer.
    pub async fn set_index_format(&self, version: i64) -> Result<(), StoreError> {
        self.ask(|reply| Job::SetIndexFormat { version, reply })
            .await
    }

    /// See [`crate::Store::packages`].
    pub async fn packages(&self) -> Result<Vec<crate::packages::StoredPackage>, StoreError> {
        self.read_blocking(crate::packages::list_sqlite).await
    }

    /// See [`crate::Store::packages_stamp`].
    pub async fn packages_stamp(&self) -> Result<(i64, i64), StoreError> {
        self.read_blocking(crate::packages::stamp_sqlite).await
    }

    /// A change to the installed packages, through the writer.
    pub(crate) async fn change_packages(
        &self,
        op: crate::packages::Op,
    ) -> Result<bool, StoreError> {
        self.ask(|reply| Job::Package { op, reply }).await
    }

    /// See [`crate::Store::purge`].
    pub(crate) async fn purge(&self, targets: Vec<(String, String)>) -> Result<usize, StoreError> {
        self.ask(|reply| Job::Purge { targets, reply }).await
    }

    /// See [`crate::Store::ingest_series`].
    pub(crate) async fn ingest_series(
        &self,
        writes: Vec<crate::series::SeriesWrite>,
    ) -> Result<crate::series::Ingested, StoreError> {
        self.ask(|reply| Job::Series { writes, reply }).await
    }

    /// See [`crate::Store::series`].
    pub(crate) async fn series(
        &self,
        patients: Vec<String>,
        code: Option<String>,
    ) -> Result<Vec<crate::series::Series>, StoreError> {
        self.read_blocking(move |c| crate::series::series_sqlite(c, &patients, code.as_deref()))
            .await
    }

    /// See [`crate::Store::series_owner`].
    pub(crate) async fn series_owner(&self, key: i64) -> Result<Option<String>, StoreError> {
        self.read_blocking(move |c| crate::series::series_owner_sqlite(c, key))
            .await
    }

    /// See [`crate::Store::rollups`].
    pub(crate) async fn rollups(
        &self,
        series: Vec<i64>,
        period: crate::series::Period,
        buckets: (i64, i64),
    ) -> Result<Vec<crate::series::Rollup>, StoreError> {
        self.read_blocking(move |c| crate::series::rollups_sqlite(c, &series, period, buckets))
            .await
    }

    /// See [`crate::Store::points`].
    pub(crate) async fn points(
        &self,
        series: Vec<i64>,
        range: (crate::Micros, crate::Micros),
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<(i64, crate::series::Point)>, StoreError> {
        self.read_blocking(move |c| {
            crate::series::points_sqlite(c, &series, range, limit, newest_first)
        })
        .await
    }

    /// See [`crate::Store::append_audit`].
    pub async fn append_audit(
        &self,
        entries: Vec<crate::audit::AuditEntry>,
        recorded: i64,
    ) -> Result<Vec<i64>, StoreError> {
        self.ask(|reply| Job::Audit {
            entries,
            recorded,
            reply,
        })
        .await
    }

    /// The last audit entry, if any.
    pub async fn audit_last(&self) -> Result<Option<crate::audit::AuditRecord>, StoreError> {
        use rusqlite::OptionalExtension;
        self.read_blocking(|c| {
            let sql = format!(
                "SELECT {} FROM audit_log ORDER BY seq DESC LIMIT 1",
                crate::audit::COLUMNS
            );
            Ok(c.query_row(&sql, [], crate::audit::from_sqlite)
                .optional()?)
        })
        .await
    }

    /// See [`crate::Store::audit_after`].
    pub async fn audit_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<crate::audit::AuditRecord>, StoreError> {
        self.read_blocking(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                crate::audit::COLUMNS
            ))?;
            let rows = st.query_map(params![after, limit as i64], crate::audit::from_sqlite)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// See [`crate::Store::index_audit_keys`]: a write, so it goes through the writer.
    pub async fn index_audit_keys(&self) -> Result<usize, StoreError> {
        self.ask(|reply| Job::IndexAuditKeys { reply }).await
    }

    /// See [`crate::Store::audit_by_keys`].
    pub async fn audit_by_keys(
        &self,
        keys: &[String],
        limit: usize,
    ) -> Result<(Vec<crate::audit::AuditRecord>, i64), StoreError> {
        self.index_audit_keys().await?;
        let keys = keys.to_vec();
        self.read_blocking(move |c| {
            let marks = vec!["?"; keys.len()].join(", ");
            let sql = format!(
                "SELECT {} FROM audit_log WHERE seq IN (
                     SELECT DISTINCT seq FROM audit_key WHERE key IN ({marks})
                     ORDER BY seq DESC LIMIT {limit})
                 ORDER BY seq DESC",
                crate::audit::COLUMNS
            );
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(
                rusqlite::params_from_iter(keys.iter()),
                crate::audit::from_sqlite,
            )?;
            let found = rows.collect::<Result<Vec<_>, _>>()?;
            let from: i64 =
                c.query_row("SELECT keyed_from FROM audit_key_state", [], |r| r.get(0))?;
            Ok((found, from))
        })
        .await
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        self.read_blocking(|c| {
            let resources: i64 =
                c.query_row("SELECT count(*) FROM resource WHERE deleted = 0", [], |r| {
                    r.get(0)
                })?;
            let versions: i64 = c.query_row("SELECT count(*) FROM history", [], |r| r.get(0))?;
            Ok(Stats {
                resources: resources as u64,
                versions: versions as u64,
            })
        })
        .await
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if current as usize > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "the data directory's schema is version {current}, newer than this kizuna ({}); upgrade kizuna",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![(i + 1) as i64, jiff::Timestamp::now().as_second()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

fn version_row(rtype: &str, id: &str, row: &rusqlite::Row) -> rusqlite::Result<Version> {
    let body: Option<String> = row.get(3)?;
    Ok(Version {
        rtype: rtype.to_string(),
        id: id.to_string(),
        version: row.get::<_, i64>(0)? as u64,
        last_updated: row.get(1)?,
        method: Method::parse(&row.get::<_, String>(2)?),
        body: body.map(Arc::from),
    })
}

pub(crate) fn bind_args(args: &[Arg]) -> Vec<rusqlite::types::Value> {
    bind(args)
}

fn bind(args: &[Arg]) -> Vec<rusqlite::types::Value> {
    args.iter()
        .map(|a| match a {
            Arg::I32(i) => rusqlite::types::Value::Integer(i64::from(*i)),
            Arg::I64(i) => rusqlite::types::Value::Integer(*i),
            Arg::Text(t) => rusqlite::types::Value::Text(t.clone()),
        })
        .collect()
}

/// Runs `f` with a progress handler that interrupts statements once `deadline` has passed.
fn within<T>(
    c: &Connection,
    deadline: std::time::Instant,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    c.progress_handler(10_000, Some(move || std::time::Instant::now() > deadline));
    let result = f();
    c.progress_handler(0, None::<fn() -> bool>);
    result.map_err(|e| match e {
        StoreError::Backend(m) if m.contains("interrupted") => {
            StoreError::TooCostly("the search ran past its time budget and was cancelled".into())
        }
        e => e,
    })
}

/// Rows of the hit columns (`res_key, type, id, version, last_updated, method, body`) followed
/// by `keys` sort keys.
fn run_hits(
    c: &Connection,
    sql: &Sql,
    keys: usize,
    deadline: Option<std::time::Instant>,
) -> Result<Vec<Hit>, StoreError> {
    let run = || -> Result<Vec<Hit>, StoreError> {
        let mut st = c.prepare_cached(&sql.text)?;
        let rows = st.query_map(rusqlite::params_from_iter(bind(&sql.args)), |row| {
            let rtype: String = row.get(1)?;
            let id: String = row.get(2)?;
            let body: Option<String> = row.get(6)?;
            let mut sort = Vec::with_capacity(keys);
            for i in 0..keys {
                sort.push(match row.get_ref(search::PAGE_COLUMNS + i)? {
                    rusqlite::types::ValueRef::Integer(n) => SortValue::Int(n),
                    rusqlite::types::ValueRef::Text(t) => {
                        SortValue::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    _ => SortValue::Null,
                });
            }
            Ok(Hit {
                res_key: row.get(0)?,
                keys: sort,
                version: Version {
                    rtype,
                    id,
                    version: row.get::<_, i64>(3)? as u64,
                    last_updated: row.get(4)?,
                    method: Method::parse(&row.get::<_, String>(5)?),
                    body: body.map(Arc::from),
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    match deadline {
        Some(d) => within(c, d, run),
        None => run(),
    }
}

fn run_search(c: &Connection, spec: &SearchSpec) -> Result<SearchResult, StoreError> {
    let deadline = std::time::Instant::now() + spec.budget;
    let plan = search::plan(spec, Dialect::Sqlite)?;
    let hits = if search::wants_page(spec) {
        run_hits(c, &plan.page, plan.keys, Some(deadline))?
    } else {
        Vec::new()
    };
    let total = match &plan.count {
        Some(sql) => Some(within(c, deadline, || {
            let n: i64 = c.query_row(
                &sql.text,
                rusqlite::params_from_iter(bind(&sql.args)),
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })?),
        None => None,
    };
    Ok(SearchResult::from_rows(hits, spec, total))
}

fn history(c: &Connection, q: &HistoryQuery) -> Result<HistoryPage, StoreError> {
    let sql = q.sql();
    let mut st = c.prepare_cached(&sql.text)?;
    let mut rows = st.query(rusqlite::params_from_iter(bind(&sql.args)))?;
    let mut page = Vec::new();
    while let Some(row) = rows.next()? {
        let body: Option<String> = row.get(6)?;
        page.push((
            row.get::<_, i64>(0)?,
            Version {
                rtype: row.get(1)?,
                id: row.get(2)?,
                version: row.get::<_, i64>(3)? as u64,
                last_updated: row.get(4)?,
                method: Method::parse(&row.get::<_, String>(5)?),
                body: body.map(Arc::from),
            },
        ));
    }
    Ok(HistoryPage::from_rows(page, q.count))
}

/// A job that joins a group commit: a batch, or audit entries to append.
enum Grouped {
    Batch(Pending),
    Audit(Vec<crate::audit::AuditEntry>, i64, AuditReply),
}

/// What a grouped job gave, before the commit says whether it holds.
enum Outcome {
    Batch(Result<Vec<Written>, StoreError>),
    Audit(Result<Vec<i64>, StoreError>),
}

fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut last_ts: Micros = conn
        .query_row(
            "SELECT coalesce(max(last_updated), 0) FROM history",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    let grouped = |job: Job| -> Result<Grouped, Job> {
        match job {
            Job::Batch(p) => Ok(Grouped::Batch(p)),
            Job::Audit {
                entries,
                recorded,
                reply,
            } => Ok(Grouped::Audit(entries, recorded, reply)),
            other => Err(other),
        }
    };
    // A job met while grouping others, to run next.
    let mut next: Option<Job> = None;
    while let Some(first) = next.take().or_else(|| rx.blocking_recv()) {
        // Batches and audit entries waiting together share one commit (one fsync): every
        // answered request appends an audit entry, every write is a batch.
        let mut jobs = match grouped(first) {
            Ok(g) => vec![g],
            Err(other) => {
                run_alone(&mut conn, other);
                continue;
            }
        };
        while jobs.len() < GROUP_LIMIT {
            match rx.try_recv() {
                Ok(job) => match grouped(job) {
                    Ok(g) => jobs.push(g),
                    Err(other) => {
                        next = Some(other);
                        break;
                    }
                },
                Err(_) => break,
            }
        }
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(jobs.len());
        let group_ts = last_ts;
        let group = (|| -> Result<(), StoreError> {
            let mut tx =
                conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let [Grouped::Batch(job)] = &mut jobs[..] {
                // Alone in its group, a batch needs no savepoint: the transaction is its own.
                let batch = std::mem::take(&mut job.batch);
                let applied = guarded(|| apply(&tx, batch, &mut last_ts));
                let failed = applied.is_err();
                outcomes.push(Outcome::Batch(applied));
                if failed {
                    last_ts = group_ts;
                    tx.rollback()?;
                } else {
                    tx.commit()?;
                }
                return Ok(());
            }
            for job in &mut jobs {
                let sp_ts = last_ts;
                let mut sp = tx.savepoint_with_name("job")?;
                let (outcome, failed) = match job {
                    Grouped::Batch(p) => {
                        let batch = std::mem::take(&mut p.batch);
                        let r = guarded(|| apply(&sp, batch, &mut last_ts));
                        let failed = r.is_err();
                        (Outcome::Batch(r), failed)
                    }
                    Grouped::Audit(entries, recorded, _) => {
                        let r = crate::audit::append_sqlite(&sp, entries, *recorded);
                        let failed = r.is_err();
                        (Outcome::Audit(r), failed)
                    }
                };
                if failed {
                    sp.rollback()?;
                    drop(sp);
                    last_ts = sp_ts;
                } else {
                    sp.commit()?;
                }
                outcomes.push(outcome);
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = &group {
            tracing::error!(error = %e, "group commit failed; every job in it is refused");
        }
        let failed = |e: &StoreError| StoreError::Backend(format!("commit failed: {e}"));
        let missing =
            || StoreError::Backend("internal error: a job of the group has no outcome".into());
        let mut outcomes = outcomes.into_iter();
        for job in jobs {
            let outcome = outcomes.next();
            match job {
                Grouped::Batch(p) => {
                    let _ = p.reply.send(match (&group, outcome) {
                        (Err(e), _) => Err(failed(e)),
                        (Ok(()), Some(Outcome::Batch(r))) => r,
                        _ => Err(missing()),
                    });
                }
                Grouped::Audit(_, _, reply) => {
                    let _ = reply.send(match (&group, outcome) {
                        (Err(e), _) => Err(failed(e)),
                        (Ok(()), Some(Outcome::Audit(r))) => r,
                        _ => Err(missing()),
                    });
                }
            }
        }
    }
}

type AuditReply = oneshot::Sender<Result<Vec<i64>, StoreError>>;

/// Replaces the index rows of the resources still at the version they were read at, in one
/// transaction; how many were replaced.
fn reindex(conn: &mut Connection, items: Vec<Reindexed>) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut done = 0;
    for item in &items {
        let seq: Option<(i64, bool)> = tx
            .prepare_cached("SELECT seq, deleted FROM resource WHERE res_key = ?1")?
            .query_row(params![item.res_key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if seq == Some((item.seq, false)) {
            write_index(&tx, item.res_key, &item.index, false)?;
            done += 1;
        }
    }
    tx.commit()?;
    Ok(done)
}

/// Runs `f`; a bug that panics refuses its own batch, and the writer, and every other batch,
/// carries on.
fn guarded(
    f: impl FnOnce() -> Result<Vec<Written>, StoreError>,
) -> Result<Vec<Written>, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!("applying a batch panicked; it is refused and rolled back");
        Err(StoreError::Backend(
            "internal error while applying the batch".into(),
        ))
    })
}

/// Applies one batch inside the writer's transaction.
fn apply(c: &Connection, batch: Batch, last_ts: &mut Micros) -> Result<Vec<Written>, StoreError> {
    for (index, cond) in batch.conditions.iter().enumerate() {
        let holds = match cond {
            Condition::Version {
                rtype, id, version, ..
            } => current(c, rtype, id)?.map(|cur| cur.version) == *version,
            Condition::Matches {
                rtype,
                filters,
                ids,
                ..
            } => {
                sorted_ids(
                    run_search(c, &SearchSpec::matching(rtype, filters, ids.len() + 1))?.hits,
                ) == *ids
            }
            Condition::NoImage { sop_uid, .. } => {
                crate::imaging::stored_sqlite(c, sop_uid)?.is_none()
            }
        };
        if !holds {
            return Err(StoreError::ConditionFailed {
                index,
                on_fail: cond.on_fail(),
            });
        }
    }
    let mut out = Vec::with_capacity(batch.writes.len());
    for write in batch.writes {
        out.push(match write {
            Write::Put {
                rtype,
                id,
                mut body,
                method,
                content_hash,
                skip_if_unchanged,
                index,
            } => {
                let cur = current(c, &rtype, &id)?;
                if skip_if_unchanged
                    && let Some(cur) = &cur
                    && !cur.deleted
                    && cur.hash.as_deref() == Some(&content_hash[..])
                {
                    let v = load_version(c, cur.seq, &rtype, &id)?;
                    out.push(Written {
                        outcome: WriteOutcome::Unchanged,
                        version: Some(v),
                    });
                    continue;
                }
                let ts = next_timestamp(*last_ts);
                *last_ts = ts;
                let version = cur.as_ref().map_or(1, |c| c.version + 1);
                let text = stamp(&mut body, version, ts);
                let res_key = put_version(
                    c,
                    cur.as_ref(),
                    &rtype,
                    &id,
                    version,
                    ts,
                    method,
                    Some(&content_hash),
                    Some(&text),
                )?;
                let fresh = cur.as_ref().is_none_or(|c| c.deleted);
                write_index(c, res_key, &index, fresh)?;
                let outcome = if cur.as_ref().is_none_or(|c| c.deleted) {
                    WriteOutcome::Created
                } else {
                    WriteOutcome::Updated
                };
                Written {
                    outcome,
                    version: Some(Version {
                        rtype,
                        id,
                        version,
                        last_updated: ts,
                        method,
                        body: Some(text),
                    }),
                }
            }
            Write::Delete { rtype, id } => match current(c, &rtype, &id)? {
                Some(cur) if !cur.deleted => {
                    let ts = next_timestamp(*last_ts);
                    *last_ts = ts;
                    let version = cur.version + 1;
                    put_version(
                        c,
                        Some(&cur),
                        &rtype,
                        &id,
                        version,
                        ts,
                        Method::Delete,
                        None,
                        None,
                    )?;
                    write_index(c, cur.res_key, &IndexRows::default(), false)?;
                    Written {
                        outcome: WriteOutcome::Deleted,
                        version: Some(Version {
                            rtype,
                            id,
                            version,
                            last_updated: ts,
                            method: Method::Delete,
                            body: None,
                        }),
                    }
                }
                Some(cur) => {
                    let v = load_version(c, cur.seq, &rtype, &id)?;
                    Written {
                        outcome: WriteOutcome::NothingToDelete,
                        version: Some(v),
                    }
                }
                None => Written {
                    outcome: WriteOutcome::NothingToDelete,
                    version: None,
                },
            },
        });
    }
    insert_images(c, &batch.conditions, &batch.images)?;
    if !batch.audit.is_empty() {
        let recorded = jiff::Timestamp::now().as_microsecond();
        crate::audit::append_sqlite(c, &batch.audit, recorded)?;
    }
    Ok(out)
}

/// The batch's image rows; a row already indexed fails the batch on its `NoImage` condition
/// (it was stored since the condition was checked).
fn insert_images(
    c: &Connection,
    conditions: &[Condition],
    rows: &[crate::imaging::ImageRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    match crate::imaging::insert_sqlite(c, rows)? {
        Ok(()) => Ok(()),
        Err(n) => Err(crate::imaging::conflict(conditions, &rows[n].sop_uid)),
    }
}

struct Current {
    res_key: i64,
    version: u64,
    seq: i64,
    deleted: bool,
    hash: Option<Vec<u8>>,
}

fn current(c: &Connection, rtype: &str, id: &str) -> Result<Option<Current>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT r.res_key, r.version, r.seq, r.deleted, h.hash FROM resource r JOIN history h ON h.seq = r.seq
         WHERE r.type = ?1 AND r.id = ?2",
    )?;
    Ok(st
        .query_row(params![rtype, id], |r| {
            Ok(Current {
                res_key: r.get(0)?,
                version: r.get::<_, i64>(1)? as u64,
                seq: r.get(2)?,
                deleted: r.get::<_, i64>(3)? != 0,
                hash: r.get(4)?,
            })
        })
        .optional()?)
}

fn load_version(c: &Connection, seq: i64, rtype: &str, id: &str) -> Result<Version, StoreError> {
    let mut st =
        c.prepare_cached("SELECT version, last_updated, method, body FROM history WHERE seq = ?1")?;
    Ok(st.query_row(params![seq], |row| version_row(rtype, id, row))?)
}

#[allow(clippy::too_many_arguments)]
fn put_version(
    c: &Connection,
    cur: Option<&Current>,
    rtype: &str,
    id: &str,
    version: u64,
    ts: Micros,
    method: Method,
    hash: Option<&[u8; 32]>,
    body: Option<&str>,
) -> Result<i64, StoreError> {
    let res_key = match cur {
        Some(cur) => {
            c.prepare_cached("UPDATE history SET ended = ?1 WHERE seq = ?2")?
                .execute(params![ts, cur.seq])?;
            cur.res_key
        }
        None => {
            c.prepare_cached(
                "INSERT INTO resource (type, id, version, seq, deleted, last_updated) VALUES (?1, ?2, 0, 0, 0, 0)",
            )?
            .execute(params![rtype, id])?;
            c.last_insert_rowid()
        }
    };
    c.prepare_cached(
        "INSERT INTO history (res_key, type, version, last_updated, method, hash, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![res_key, rtype, version as i64, ts, method.as_str(), hash.map(|h| &h[..]), body])?;
    let seq = c.last_insert_rowid();
    c.prepare_cached("UPDATE resource SET version = ?1, seq = ?2, deleted = ?3, last_updated = ?4 WHERE res_key = ?5")?
        .execute(params![version as i64, seq, body.is_none() as i64, ts, res_key])?;
    Ok(res_key)
}

const ROWS_PER_INSERT: usize = 8;

static MULTI_INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let one = "(?, ?, ?, ?, ?, ?, ?)";
    format!(
        "INSERT OR IGNORE INTO search_index (param, c1, c2, c3, lo, hi, res_key) VALUES {}",
        [one; ROWS_PER_INSERT].join(", ")
    )
});

/// Replaces the index rows of `res_key`; `fresh` says it has none (a new or deleted resource).
fn write_index(
    c: &Connection,
    res_key: i64,
    index: &IndexRows,
    fresh: bool,
) -> Result<(), StoreError> {
    if !fresh {
        c.prepare_cached("DELETE FROM search_index WHERE res_key = ?1")?
            .execute(params![res_key])?;
        c.prepare_cached("DELETE FROM composite_index WHERE res_key = ?1")?
            .execute(params![res_key])?;
        c.prepare_cached("DELETE FROM resource_text WHERE res_key = ?1")?
            .execute(params![res_key])?;
    }
    if let Some(t) = index.text() {
        c.prepare_cached(
            "INSERT INTO resource_text (res_key, narrative, content) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![res_key, t.narrative, t.content])?;
    }
    // Rows go in eight to a statement: one statement step per row cost a third of the writer's
    // time on an import.
    let mut chunks = index.rows.chunks_exact(ROWS_PER_INSERT);
    if index.rows.len() >= ROWS_PER_INSERT {
        let mut ins = c.prepare_cached(&MULTI_INSERT)?;
        for chunk in &mut chunks {
            let mut i = 1;
            for r in chunk {
                ins.raw_bind_parameter(i, r.param)?;
                ins.raw_bind_parameter(i + 1, &r.c1)?;
                ins.raw_bind_parameter(i + 2, &r.c2)?;
                ins.raw_bind_parameter(i + 3, &r.c3)?;
                ins.raw_bind_parameter(i + 4, r.lo)?;
                ins.raw_bind_parameter(i + 5, r.hi)?;
                ins.raw_bind_parameter(i + 6, res_key)?;
                i += 7;
            }
            ins.raw_execute()?;
        }
    }
    let mut ins = c.prepare_cached(
        "INSERT OR IGNORE INTO search_index (param, c1, c2, c3, lo, hi, res_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for r in chunks.remainder() {
        ins.execute(params![r.param, r.c1, r.c2, r.c3, r.lo, r.hi, res_key])?;
    }
    let mut ins = c.prepare_cached(
        "INSERT INTO composite_index (param, a1, a2, b1, b2, b3, blo, bhi, c3, res_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for r in &index.composites {
        ins.execute(params![
            r.param, r.a1, r.a2, r.b1, r.b2, r.b3, r.blo, r.bhi, r.c3, res_key
        ])?;
    }
    Ok(())
}

/// The SQL functions generated statements call: `kizuna_distance_km(lat1, lon1, lat2, lon2)`
/// (micro-degrees; [`kizuna_search::geo::distance_km`], for `near`).
fn register_functions(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "kizuna_distance_km",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(kizuna_search::geo::distance_km(
                ctx.get(0)?,
                ctx.get(1)?,
                ctx.get(2)?,
                ctx.get(3)?,
            ))
        },
    )?;
    Ok(())
}
