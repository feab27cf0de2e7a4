//! The PostgreSQL backend, for national scale.
//!
//! Each batch is one transaction, committed with PostgreSQL's synchronous commit (its own WAL
//! group commit does the rest). Writes are applied in set-based statements (`unnest` arrays), a
//! handful of round trips per batch whatever its size; rows are locked `FOR UPDATE`, and batches
//! with match conditions run SERIALIZABLE. Serialization failures and deadlocks are retried.

use crate::search::{self, Arg, Dialect, Hit, SearchResult, SearchSpec, SortValue, Sql};
use crate::{
    Batch, Condition, HistoryPage, HistoryQuery, Method, Micros, Stats, StoreError, Version, Write,
    WriteOutcome, Written, next_timestamp, stamp,
};
use deadpool_postgres::Transaction;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls, Row, Statement};

mod write;

const MIGRATIONS: &[&str] = &[
    // 1: resources, their versions, token index.
    "CREATE TABLE resource (
        res_key BIGSERIAL PRIMARY KEY,
        type TEXT NOT NULL,
        id TEXT NOT NULL,
        version BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        deleted BOOLEAN NOT NULL,
        last_updated BIGINT NOT NULL,
        UNIQUE (type, id)
    );
    CREATE TABLE history (
        seq BIGSERIAL PRIMARY KEY,
        res_key BIGINT NOT NULL,
        type TEXT NOT NULL,
        version BIGINT NOT NULL,
        last_updated BIGINT NOT NULL,
        ended BIGINT,
        method TEXT NOT NULL,
        hash BYTEA,
        body TEXT
    );
    CREATE UNIQUE INDEX history_version ON history (res_key, version);
    CREATE INDEX history_type ON history (type, seq);
    CREATE INDEX history_time ON history (last_updated);
    CREATE TABLE token_index (
        res_key BIGINT NOT NULL,
        type TEXT NOT NULL,
        param TEXT NOT NULL,
        system TEXT,
        code TEXT NOT NULL
    );
    CREATE INDEX token_lookup ON token_index (type, param, code);
    CREATE INDEX token_res ON token_index (res_key);",
    // 2: typed search indexes (see `index.rs`) in place of the token index; bytewise text
    // order ("C") everywhere index values meet resource types and ids.
    r#"DROP TABLE token_index;
    ALTER TABLE resource ALTER COLUMN type TYPE TEXT COLLATE "C", ALTER COLUMN id TYPE TEXT COLLATE "C";
    CREATE TABLE search_index (
        param INTEGER NOT NULL,
        c1 TEXT COLLATE "C" NOT NULL,
        c2 TEXT COLLATE "C" NOT NULL,
        c3 TEXT COLLATE "C" NOT NULL,
        lo BIGINT NOT NULL,
        hi BIGINT NOT NULL,
        res_key BIGINT NOT NULL
    );
    CREATE INDEX search_index_lookup ON search_index (param, c1, c2, c3, lo, hi, res_key);
    CREATE INDEX search_index_res ON search_index (res_key, param);
    CREATE TABLE composite_index (
        param INTEGER NOT NULL,
        a1 TEXT COLLATE "C" NOT NULL,
        a2 TEXT COLLATE "C" NOT NULL,
        b1 TEXT COLLATE "C" NOT NULL,
        b2 TEXT COLLATE "C" NOT NULL,
        b3 TEXT COLLATE "C" NOT NULL,
        blo BIGINT NOT NULL,
        bhi BIGINT NOT NULL,
        c3 TEXT COLLATE "C" NOT NULL,
        res_key BIGINT NOT NULL
    );
    CREATE INDEX composite_lookup ON composite_index (param, a1, a2, b1, res_key);
    CREATE INDEX composite_res ON composite_index (res_key);"#,
    // 3: the resources of one type in key order (unsorted pages of a type read off it).
    "CREATE INDEX resource_type_key ON resource (type, res_key);",
    // 4: the format of the index rows (`index::INDEX_FORMAT`); 0 for rows written before it
    // was recorded.
    "CREATE TABLE index_format (version INTEGER NOT NULL);
    INSERT INTO index_format (version) VALUES (0);",
    // 5: what `_text` and `_content` search (`kizuna_search::text`), for live resources.
    "CREATE TABLE resource_text (
        res_key BIGINT PRIMARY KEY,
        narrative TEXT NOT NULL,
        content TEXT NOT NULL
    );",
    // 6: the hash-chained, append-only audit log (`audit.rs`).
    r#"CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        recorded BIGINT NOT NULL,
        entry TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
    CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();"#,
    // 7: the audit log's keys (who an entry concerns), appended with the entry (`keys`, one per
    // line, outside the chain) and indexed later in bulk into `audit_key` (see `audit.rs`);
    // entries before `keyed_from` have none (they were written before this version).
    r#"ALTER TABLE audit_log ADD COLUMN keys TEXT;
    CREATE TABLE audit_key (
        key TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (key, seq)
    );
    CREATE TABLE audit_key_state (keyed_from BIGINT NOT NULL, indexed_upto BIGINT NOT NULL);
    INSERT INTO audit_key_state SELECT coalesce(max(seq), 0) + 1, coalesce(max(seq), 0) FROM audit_log;
    CREATE TRIGGER audit_key_no_change BEFORE UPDATE OR DELETE ON audit_key
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TRIGGER audit_key_no_truncate BEFORE TRUNCATE ON audit_key
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();"#,
    // 8: installed implementation-guide packages, kept whole (`packages.rs`).
    "CREATE TABLE ig_package (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        digest TEXT NOT NULL,
        body BYTEA NOT NULL,
        installed BIGINT NOT NULL
    );",
    // 9: personal health records as time series (`series.rs`): series, their points keyed by
    // start, and rollups per day, week and month.
    "CREATE TABLE phr_series (
        series_key BIGSERIAL PRIMARY KEY,
        patient TEXT NOT NULL,
        code TEXT NOT NULL,
        unit TEXT NOT NULL,
        source TEXT NOT NULL,
        UNIQUE (patient, code, source)
    );
    CREATE TABLE phr_sample (
        series_key BIGINT NOT NULL,
        start_us BIGINT NOT NULL,
        end_us BIGINT,
        offset_s INTEGER NOT NULL,
        day INTEGER NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (series_key, start_us)
    );
    CREATE TABLE phr_rollup (
        series_key BIGINT NOT NULL,
        period SMALLINT NOT NULL,
        bucket BIGINT NOT NULL,
        n BIGINT NOT NULL,
        total DOUBLE PRECISION NOT NULL,
        low DOUBLE PRECISION NOT NULL,
        high DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (series_key, period, bucket)
    );",
    // 10: the image index (`imaging.rs`): studies, series and instances of the DICOM objects
    // kept in object storage.
    crate::imaging::MIGRATION_POSTGRES,
];

const RETRIES: usize = 20;

/// The PostgreSQL store. Cloning shares its connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    last_ts: Arc<AtomicI64>,
    /// The audit appender (see [`audit_appender`]).
    audit: tokio::sync::mpsc::Sender<AuditJob>,
    changes: Arc<crate::Changes>,
}

/// Audit entries to append, and where to answer their sequence numbers.
struct AuditJob {
    entries: Vec<crate::audit::AuditEntry>,
    recorded: i64,
    reply: tokio::sync::oneshot::Sender<Result<Vec<i64>, StoreError>>,
}

/// Appends the audit entries of every request waiting together in one transaction (one
/// commit, one table lock), in arrival order: every answered request appends one entry, and
/// one commit each would cap requests at the disk's commit rate.
async fn audit_appender(pool: Pool, mut rx: tokio::sync::mpsc::Receiver<AuditJob>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < 512 {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let result = async {
            let mut client = pool
                .get()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let tx = client.transaction().await?;
            let batch: Vec<(&[crate::audit::AuditEntry], i64)> = jobs
                .iter()
                .map(|j| (j.entries.as_slice(), j.recorded))
                .collect();
            let seqs = crate::audit::append_postgres_many(&tx, &batch).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(seqs)
        }
        .await;
        match result {
            Ok(seqs) => {
                for (j, s) in jobs.into_iter().zip(seqs) {
                    let _ = j.reply.send(Ok(s));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(StoreError::Backend(format!(
                        "audit append failed: {message}"
                    ))));
                }
            }
        }
    }
}

impl PostgresStore {
    /// Connects to `url` and migrates the schema (serialized by an advisory lock, so several
    /// nodes may start at once).
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        // No JIT: searches are short, and compiling one took longer than running it.
        let options = format!("{} -c jit=off", config.get_options().unwrap_or_default());
        config.options(options.trim());
        let mgr = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // A request waits at most 30 s for a connection, then is answered 503 (never hangs).
        let pool = Pool::builder(mgr)
            .max_size(32)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(30)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build connection pool: {e}")))?;
        let (audit, rx) = tokio::sync::mpsc::channel(4096);
        tokio::spawn(audit_appender(pool.clone(), rx));
        let store = PostgresStore {
            pool,
            last_ts: Arc::new(AtomicI64::new(0)),
            audit,
            changes: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub(crate) fn changes(&self) -> &crate::Changes {
        &self.changes
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL: {e}")))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(7420001)", &[])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let current: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        if current as usize > MIGRATIONS.len() {
            return Err(StoreError::Unavailable(format!(
                "the database's schema is version {current}, newer than this kizuna ({}); upgrade kizuna",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&((i + 1) as i32), &jiff::Timestamp::now().as_second()],
            )
            .await?;
        }
        // An empty store has nothing indexed in an older format.
        tx.execute(
            "UPDATE index_format SET version = $1 WHERE NOT EXISTS (SELECT 1 FROM resource)",
            &[&(crate::index::INDEX_FORMAT as i32)],
        )
        .await?;
        let max_ts: i64 = tx
            .query_one("SELECT coalesce(max(last_updated), 0) FROM history", &[])
            .await?
            .get(0);
        self.last_ts.fetch_max(max_ts, Ordering::SeqCst);
        tx.commit().await?;
        Ok(())
    }

    fn next_ts(&self) -> Micros {
        let mut prev = self.last_ts.load(Ordering::SeqCst);
        loop {
            let ts = next_timestamp(prev);
            match self
                .last_ts
                .compare_exchange(prev, ts, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return ts,
                Err(p) => prev = p,
            }
        }
    }

    pub async fn read(&self, rtype: &str, id: &str) -> Result<Option<Version>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "SELECT h.version, h.last_updated, h.method, h.body FROM resource r
                 JOIN history h ON h.seq = r.seq WHERE r.type = $1 AND r.id = $2",
            )
            .await?;
        Ok(client
            .query_opt(&st, &[&rtype, &id])
            .await?
            .map(|r| version_row(rtype, id, &r)))
    }

    pub async fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Version>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "SELECT h.version, h.last_updated, h.method, h.body FROM resource r
                 JOIN history h ON h.res_key = r.res_key AND h.version = $3 WHERE r.type = $1 AND r.id = $2",
            )
            .await?;
        Ok(client
            .query_opt(&st, &[&rtype, &id, &(version as i64)])
            .await?
            .map(|r| version_row(rtype, id, &r)))
    }

    pub async fn search(&self, spec: SearchSpec) -> Result<SearchResult, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let ms = spec.budget.as_millis().max(1);
        tx.batch_execute(&format!("SET LOCAL statement_timeout = {ms}"))
            .await?;
        let result = run_search(&*tx, &spec).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// See [`crate::Store::index_format`].
    pub async fn index_format(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let v: i32 = client
            .query_one("SELECT version FROM index_format", &[])
            .await?
            .get(0);
        Ok(i64::from(v))
    }

    /// See [`crate::Store::packages`].
    pub async fn packages(&self) -> Result<Vec<crate::packages::StoredPackage>, StoreError> {
        let client = self.client().await?;
        crate::packages::list_postgres(&client).await
    }

    /// See [`crate::Store::packages_stamp`].
    pub async fn packages_stamp(&self) -> Result<(i64, i64), StoreError> {
        let client = self.client().await?;
        crate::packages::stamp_postgres(&client).await
    }

    pub(crate) async fn change_packages(
        &self,
        op: crate::packages::Op,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        crate::packages::apply_postgres(&mut client, op).await
    }

    /// See [`crate::Store::ingest_series`].
    pub(crate) async fn ingest_series(
        &self,
        writes: Vec<crate::series::SeriesWrite>,
    ) -> Result<crate::series::Ingested, StoreError> {
        let mut client = self.client().await?;
        crate::series::ingest_postgres(&mut client, writes).await
    }

    /// See [`crate::Store::series`].
    pub(crate) async fn series(
        &self,
        patients: Vec<String>,
        code: Option<String>,
    ) -> Result<Vec<crate::series::Series>, StoreError> {
        let client = self.client().await?;
        crate::series::series_postgres(&client, &patients, code.as_deref()).await
    }

    /// See [`crate::Store::image_hash`].
    pub(crate) async fn image_hash(&self, sop: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        crate::imaging::stored_postgres(&**client, sop).await
    }

    /// See [`crate::Store::images`].
    pub(crate) async fn images(
        &self,
        query: &crate::imaging::ImageQuery,
    ) -> Result<Vec<crate::imaging::Found>, StoreError> {
        let client = self.client().await?;
        crate::imaging::query_postgres(&**client, query).await
    }

    /// See [`crate::Store::series_owner`].
    pub(crate) async fn series_owner(&self, key: i64) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        crate::series::series_owner_postgres(&client, key).await
    }

    /// See [`crate::Store::rollups`].
    pub(crate) async fn rollups(
        &self,
        series: Vec<i64>,
        period: crate::series::Period,
        buckets: (i64, i64),
    ) -> Result<Vec<crate::series::Rollup>, StoreError> {
        let client = self.client().await?;
        crate::series::rollups_postgres(&client, &series, period, buckets).await
    }

    /// See [`crate::Store::points`].
    pub(crate) async fn points(
        &self,
        series: Vec<i64>,
        range: (crate::Micros, crate::Micros),
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<(i64, crate::series::Point)>, StoreError> {
        let client = self.client().await?;
        crate::series::points_postgres(&client, &series, range, limit, newest_first).await
    }

    /// See [`crate::Store::purge`].
    pub(crate) async fn purge(&self, targets: Vec<(String, String)>) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        crate::purge::purge_postgres(&mut client, &targets).await
    }

    /// See [`crate::Store::set_index_format`].
    pub async fn set_index_format(&self, version: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("UPDATE index_format SET version = $1", &[&(version as i32)])
            .await?;
        Ok(())
    }

    /// See [`crate::Store::append_audit`].
    pub async fn append_audit(
        &self,
        entries: Vec<crate::audit::AuditEntry>,
        recorded: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let stopped = || StoreError::Unavailable("the audit appender has stopped".into());
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.audit
            .send(AuditJob {
                entries,
                recorded,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The last audit entry, if any.
    pub async fn audit_last(&self) -> Result<Option<crate::audit::AuditRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM audit_log ORDER BY seq DESC LIMIT 1",
            crate::audit::COLUMNS
        );
        let row = client.query_opt(&sql, &[]).await?;
        Ok(row.as_ref().map(crate::audit::from_postgres))
    }

    /// See [`crate::Store::audit_after`].
    pub async fn audit_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<crate::audit::AuditRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
            crate::audit::COLUMNS
        );
        let rows = client.query(&sql, &[&after, &(limit as i64)]).await?;
        Ok(rows.iter().map(crate::audit::from_postgres).collect())
    }

    /// See [`crate::Store::index_audit_keys`].
    pub async fn index_audit_keys(&self) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        crate::audit::index_keys_postgres(&mut client).await
    }

    /// See [`crate::Store::audit_by_keys`].
    pub async fn audit_by_keys(
        &self,
        keys: &[String],
        limit: usize,
    ) -> Result<(Vec<crate::audit::AuditRecord>, i64), StoreError> {
        self.index_audit_keys().await?;
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM audit_log WHERE seq IN (
                 SELECT DISTINCT seq FROM audit_key WHERE key = ANY($1) ORDER BY seq DESC LIMIT $2)
             ORDER BY seq DESC",
            crate::audit::COLUMNS
        );
        let rows = client.query(&sql, &[&keys, &(limit as i64)]).await?;
        let from: i64 = client
            .query_one("SELECT keyed_from FROM audit_key_state", &[])
            .await?
            .get(0);
        Ok((rows.iter().map(crate::audit::from_postgres).collect(), from))
    }

    /// See [`crate::Store::after_reindex`].
    pub async fn after_reindex(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .batch_execute("VACUUM (ANALYZE) search_index, composite_index, resource_text")
            .await?;
        Ok(())
    }

    /// See [`crate::Store::live_after`].
    pub async fn live_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<crate::Live>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "SELECT r.res_key, r.seq, h.body FROM resource r JOIN history h ON h.seq = r.seq \
                 WHERE NOT r.deleted AND r.res_key > $1 ORDER BY r.res_key LIMIT $2",
            )
            .await?;
        let rows = client.query(&st, &[&after, &(limit as i64)]).await?;
        Ok(rows
            .iter()
            .map(|r| crate::Live {
                res_key: r.get(0),
                seq: r.get(1),
                body: r.get::<_, Option<String>>(2).unwrap_or_default(),
            })
            .collect())
    }

    pub async fn hits(&self, sql: Sql) -> Result<Vec<Hit>, StoreError> {
        let client = self.client().await?;
        query_hits(&**client, &sql, 0).await
    }

    /// How many rows `sql` answers.
    pub async fn count_rows(&self, sql: Sql) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let args = bind(&sql.args);
        let refs: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| &**a as &(dyn ToSql + Sync)).collect();
        let row = client
            .query_one(
                &format!("SELECT count(*) FROM ({}) x", sql.numbered()),
                &refs,
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    pub async fn history(&self, q: HistoryQuery) -> Result<HistoryPage, StoreError> {
        let client = self.client().await?;
        let sql = q.sql();
        let args = bind(&sql.args);
        let refs: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| &**a as &(dyn ToSql + Sync)).collect();
        let rows = client.query(&sql.numbered(), &refs).await?;
        let page = rows
            .into_iter()
            .map(|row| {
                let body: Option<String> = row.get(6);
                let v = Version {
                    rtype: row.get(1),
                    id: row.get(2),
                    version: row.get::<_, i64>(3) as u64,
                    last_updated: row.get(4),
                    method: Method::parse(row.get(5)),
                    body: body.map(Arc::from),
                };
                (row.get::<_, i64>(0), v)
            })
            .collect();
        Ok(HistoryPage::from_rows(page, q.count))
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let client = self.client().await?;
        let resources: i64 = client
            .query_one("SELECT count(*) FROM resource WHERE NOT deleted", &[])
            .await?
            .get(0);
        let versions: i64 = client
            .query_one("SELECT count(*) FROM history", &[])
            .await?
            .get(0);
        Ok(Stats {
            resources: resources as u64,
            versions: versions as u64,
        })
    }
}

/// A statement prepared once per connection (tokio-postgres would otherwise prepare an unnamed
/// statement on every call: a second round trip).
async fn prep(tx: &Transaction<'_>, sql: &str) -> Result<Statement, StoreError> {
    tx.prepare_cached(sql).await.map_err(StoreError::from_pg)
}

/// Prefix of backend errors worth retrying (serialization failure, deadlock).
const RETRYABLE: &str = "retryable: ";

impl StoreError {
    pub(crate) fn from_pg(e: tokio_postgres::Error) -> StoreError {
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                StoreError::Backend(format!("{RETRYABLE}{e}"))
            }
            Some(c) if *c == SqlState::QUERY_CANCELED => StoreError::TooCostly(
                "the search ran past its time budget and was cancelled".into(),
            ),
            // SQLSTATE and PostgreSQL's message name the problem; its DETAIL, which may quote
            // row values, is left out so no patient data reaches the logs.
            _ => match e.as_db_error() {
                Some(db) => StoreError::Backend(format!(
                    "PostgreSQL {}: {}",
                    db.code().code(),
                    db.message()
                )),
                None => StoreError::Backend(e.to_string()),
            },
        }
    }
}

struct Current {
    res_key: i64,
    last_updated: Micros,
    version: u64,
    seq: i64,
    deleted: bool,
    hash: Option<Vec<u8>>,
}

async fn lock_current(
    tx: &Transaction<'_>,
    keys: &[(String, String)],
) -> Result<HashMap<(String, String), Current>, StoreError> {
    let (t, d): (Vec<&str>, Vec<&str>) = keys.iter().map(|(a, b)| (a.as_str(), b.as_str())).unzip();
    let rows = tx.query(
                &prep(tx, "SELECT r.type, r.id, r.res_key, r.version, r.seq, r.deleted, h.hash, r.last_updated FROM resource r
             JOIN unnest($1::text[], $2::text[]) AS k(t, i) ON r.type = k.t AND r.id = k.i
             LEFT JOIN history h ON h.seq = r.seq
             ORDER BY r.res_key FOR UPDATE OF r").await?,
            &[&t, &d],
        )
        .await
        .map_err(StoreError::from_pg)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                (r.get(0), r.get(1)),
                Current {
                    res_key: r.get(2),
                    version: r.get::<_, i64>(3) as u64,
                    seq: r.get(4),
                    deleted: r.get(5),
                    hash: r.get(6),
                    last_updated: r.get(7),
                },
            )
        })
        .collect())
}

async fn load_seq(
    tx: &Transaction<'_>,
    seq: i64,
    rtype: &str,
    id: &str,
) -> Result<Version, StoreError> {
    let row = tx
        .query_one(
            &prep(
                tx,
                "SELECT version, last_updated, method, body FROM history WHERE seq = $1",
            )
            .await?,
            &[&seq],
        )
        .await
        .map_err(StoreError::from_pg)?;
    Ok(version_row(rtype, id, &row))
}

fn version_row(rtype: &str, id: &str, row: &Row) -> Version {
    let body: Option<String> = row.get(3);
    Version {
        rtype: rtype.to_string(),
        id: id.to_string(),
        version: row.get::<_, i64>(0) as u64,
        last_updated: row.get(1),
        method: Method::parse(row.get(2)),
        body: body.map(Arc::from),
    }
}

/// Binds generated arguments.
pub(crate) fn bind_args(args: &[Arg]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    bind(args)
}

fn bind(args: &[Arg]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    args.iter()
        .map(|a| -> Box<dyn ToSql + Sync + Send> {
            match a {
                Arg::I32(i) => Box::new(*i),
                Arg::I64(i) => Box::new(*i),
                Arg::Text(t) => Box::new(t.clone()),
            }
        })
        .collect()
}

fn hit_row(row: &Row, keys: usize) -> Hit {
    let rtype: String = row.get(1);
    let id: String = row.get(2);
    let body: Option<String> = row.get(6);
    let sort = (0..keys)
        .map(|i| {
            let at = search::PAGE_COLUMNS + i;
            if let Ok(Some(n)) = row.try_get::<_, Option<i64>>(at) {
                SortValue::Int(n)
            } else if let Ok(Some(t)) = row.try_get::<_, Option<String>>(at) {
                SortValue::Text(t)
            } else {
                SortValue::Null
            }
        })
        .collect();
    Hit {
        res_key: row.get(0),
        keys: sort,
        version: Version {
            rtype,
            id,
            version: row.get::<_, i64>(3) as u64,
            last_updated: row.get(4),
            method: Method::parse(row.get(5)),
            body: body.map(Arc::from),
        },
    }
}

async fn query_hits<C: tokio_postgres::GenericClient>(
    c: &C,
    sql: &Sql,
    keys: usize,
) -> Result<Vec<Hit>, StoreError> {
    let args = bind(&sql.args);
    let refs: Vec<&(dyn ToSql + Sync)> = args
        .iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = c
        .query(&sql.numbered(), &refs)
        .await
        .map_err(StoreError::from_pg)?;
    Ok(rows.iter().map(|r| hit_row(r, keys)).collect())
}

/// Runs a search on `c` (inside the caller's transaction, whose statement timeout bounds it).
async fn run_search<C: tokio_postgres::GenericClient>(
    c: &C,
    spec: &SearchSpec,
) -> Result<SearchResult, StoreError> {
    let plan = search::plan(spec, Dialect::Postgres)?;
    let hits = if search::wants_page(spec) {
        query_hits(c, &plan.page, plan.keys).await?
    } else {
        Vec::new()
    };
    let total = match &plan.count {
        Some(sql) => {
            let args = bind(&sql.args);
            let refs: Vec<&(dyn ToSql + Sync)> = args
                .iter()
                .map(|a| a.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let n: i64 = c
                .query_one(&sql.numbered(), &refs)
                .await
                .map_err(StoreError::from_pg)?
                .get(0);
            Some(n as u64)
        }
        None => None,
    };
    Ok(SearchResult::from_rows(hits, spec, total))
}
