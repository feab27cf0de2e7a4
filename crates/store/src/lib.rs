//! `kizuna-store`: durable, versioned storage of FHIR resources.
//!
//! Owns the one storage interface ([`Store`]) and its two backends: SQLite (embedded, default;
//! one writer thread doing group commit) and PostgreSQL (national scale). Both keep every version
//! of every resource, stamp `meta.versionId`/`meta.lastUpdated`, acknowledge a write only once it
//! is durable (fsync / synchronous commit), and apply versioned schema migrations on open.
//!
//! A write arrives as a [`Batch`]: conditions on the current state (the reads the caller relied
//! on) plus writes, applied atomically or not at all. Callers plan outside the store and the store
//! checks the plan still holds (optimistic concurrency); FHIR semantics (conditional operations,
//! bundles, patch) live in `kizuna-records`, not here.
//!
//! Index rows are computed by the caller and stored with the resource, so search extraction never
//! runs inside the single writer.
//!
//! Must never: interpret FHIR beyond `meta`, know HTTP, or log resource content (logs carry no
//! patient data).

pub mod access;
pub mod audit;
pub mod imaging;
pub mod index;
mod packages;
pub use packages::StoredPackage;
mod postgres;
mod purge;
pub mod search;
pub mod series;
mod sqlite;

use serde_json::Value;
use std::sync::Arc;

pub use access::{Access, AccessKeys, PatientScope};
pub use index::{CompositeRow, IndexRow, IndexRows};
pub use postgres::PostgresStore;
pub use search::{Compartment, Cursor, Hit, SearchResult, SearchSpec, SortValue};
pub use sqlite::SqliteStore;

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// What happened to a resource in one version (`Bundle.entry.request.method` in history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
    fn parse(s: &str) -> Method {
        match s {
            "POST" => Method::Post,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => Method::Put,
        }
    }
}

/// One stored version of a resource. `body` is the resource's JSON text with `meta` stamped,
/// or None for a deletion (tombstone).
#[derive(Debug, Clone)]
pub struct Version {
    pub rtype: String,
    pub id: String,
    pub version: u64,
    pub last_updated: Micros,
    pub method: Method,
    pub body: Option<Arc<str>>,
}

impl Version {
    pub fn is_deleted(&self) -> bool {
        self.body.is_none()
    }
}

/// Why a condition failed: a precondition the client asked for (HTTP 412), or a state the
/// caller read while planning that has since changed (re-plan and retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFail {
    PreconditionFailed,
    Retry,
}

/// A fact about the current state a batch relies on.
#[derive(Debug, Clone)]
pub enum Condition {
    /// The current version of `rtype/id` is `version` (None: no version at all; a deleted
    /// resource's current version is its tombstone's).
    Version {
        rtype: String,
        id: String,
        version: Option<u64>,
        on_fail: OnFail,
    },
    /// The ids of the live `rtype` resources matching all `filters` are exactly `ids` (sorted).
    Matches {
        rtype: String,
        filters: Vec<kizuna_search::Filter>,
        ids: Vec<String>,
        on_fail: OnFail,
    },
    /// No image is indexed under SOP Instance UID `sop_uid` (see [`imaging`]): the batch's
    /// image row of that UID goes in only if this holds.
    NoImage { sop_uid: String, on_fail: OnFail },
}

impl Condition {
    pub(crate) fn on_fail(&self) -> OnFail {
        match self {
            Condition::Version { on_fail, .. }
            | Condition::Matches { on_fail, .. }
            | Condition::NoImage { on_fail, .. } => *on_fail,
        }
    }
}

/// One write of a batch.
#[derive(Debug, Clone)]
pub enum Write {
    /// Create or update `rtype/id` with `body` (a resource object; the store sets
    /// `meta.versionId` and `meta.lastUpdated`). With `skip_if_unchanged`, a body whose
    /// `content_hash` equals the current version's creates no new version.
    Put {
        rtype: String,
        id: String,
        body: Value,
        method: Method,
        content_hash: [u8; 32],
        skip_if_unchanged: bool,
        index: IndexRows,
    },
    /// Delete `rtype/id` (a tombstone version; nothing happens if it does not exist or is
    /// already deleted).
    Delete { rtype: String, id: String },
}

impl Write {
    /// The resource type written.
    pub fn rtype(&self) -> &str {
        match self {
            Write::Put { rtype, .. } | Write::Delete { rtype, .. } => rtype,
        }
    }
}

/// How many batches this process has committed per resource type, counted after each commit.
/// A cache of something derived from resources of some types (e.g. a caller's grants) is
/// still current while [`Changes::of`] those types is what it was when the cache was filled,
/// read before filling it. Writes by another process sharing a PostgreSQL database are not
/// counted: such caches must also expire.
///
/// It also tells whoever listens ([`Changes::listen`]) which resources each commit created or
/// changed, as they commit (subscriptions are notified from it).
#[derive(Default)]
pub struct Changes {
    counts: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    committed: std::sync::OnceLock<tokio::sync::broadcast::Sender<Committed>>,
}

/// What one commit created, changed or deleted (unchanged writes left out): `(type, id,
/// version)` of each.
pub type Committed = std::sync::Arc<[(String, String, u64)]>;

/// How many commits a slow listener may fall behind before it misses some (and is told so).
const COMMITTED_BACKLOG: usize = 4096;

impl Changes {
    fn sender(&self) -> &tokio::sync::broadcast::Sender<Committed> {
        self.committed
            .get_or_init(|| tokio::sync::broadcast::channel(COMMITTED_BACKLOG).0)
    }

    /// Every later commit's created, changed and deleted resources, in commit order. A listener that
    /// falls more than 4,096 commits behind is told how many it missed
    /// (`RecvError::Lagged`).
    pub fn listen(&self) -> tokio::sync::broadcast::Receiver<Committed> {
        self.sender().subscribe()
    }

    fn publish(&self, written: &[Written]) {
        let sender = self.sender();
        if sender.receiver_count() == 0 {
            return;
        }
        let list: Vec<(String, String, u64)> = written
            .iter()
            .filter(|w| {
                matches!(
                    w.outcome,
                    WriteOutcome::Created | WriteOutcome::Updated | WriteOutcome::Deleted
                )
            })
            .filter_map(|w| w.version.as_ref())
            .map(|v| (v.rtype.clone(), v.id.clone(), v.version))
            .collect();
        if !list.is_empty() {
            let _ = sender.send(list.into());
        }
    }

    fn note<'a>(&self, types: impl Iterator<Item = &'a str>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for t in types {
            match counts.get_mut(t) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(t.to_string(), 1);
                }
            }
        }
    }

    /// The sum of the counts of `types`.
    pub fn of(&self, types: &[&str]) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        types.iter().filter_map(|t| counts.get(*t)).sum()
    }
}

/// A live resource's current version, as [`Store::live_after`] reads it.
#[derive(Debug, Clone)]
pub struct Live {
    pub res_key: i64,
    /// The current version's history sequence number.
    pub seq: i64,
    pub body: String,
}

/// New index rows for a resource at the version `seq` they were computed from.
#[derive(Debug, Clone)]
pub struct Reindexed {
    pub res_key: i64,
    pub seq: i64,
    pub index: IndexRows,
}

/// Conditions and writes applied atomically.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub conditions: Vec<Condition>,
    pub writes: Vec<Write>,
    /// Image index rows, inserted after the writes (see [`imaging`]); each must have its
    /// [`Condition::NoImage`] among the conditions.
    pub images: Vec<imaging::ImageRow>,
    /// Audit entries appended to the log in the batch's own transaction, after everything
    /// else: they are kept exactly when the batch is (one commit where an entry after the
    /// batch would take a second). Entries that must be kept whatever the batch's fate go
    /// through [`Store::append_audit`].
    pub audit: Vec<audit::AuditEntry>,
}

/// The result of one write, in batch order.
#[derive(Debug, Clone)]
pub struct Written {
    pub outcome: WriteOutcome,
    /// The version now current (for a delete of nothing: None).
    pub version: Option<Version>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    Updated,
    Unchanged,
    Deleted,
    NothingToDelete,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Condition `index` of the batch did not hold.
    #[error("condition {index} of the batch no longer holds")]
    ConditionFailed { index: usize, on_fail: OnFail },
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Backend(String),
    /// A search the engine cannot run (the message names what).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A search that ran past its time budget and was cancelled.
    #[error("{0}")]
    TooCostly(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::from_pg(e)
    }
}

/// Which versions a history request covers.
#[derive(Debug, Clone)]
pub enum HistoryScope {
    Instance { rtype: String, id: String },
    Type { rtype: String },
    System,
}

/// A history query: newest first, `count` per page, continuing below `before_seq`.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// Only versions with lastUpdated >= since.
    pub since: Option<Micros>,
    /// Only versions current at some point in [start, end).
    pub at: Option<(Micros, Micros)>,
    pub count: usize,
    pub before_seq: Option<i64>,
    /// Only versions of resources the caller may see now (None: all).
    pub access: Option<Arc<Access>>,
}

impl HistoryQuery {
    /// The statement of the page (rows: `seq, type, id, version, last_updated, method, body`),
    /// asking `count + 1` rows (see [`HistoryPage::from_rows`]).
    fn sql(&self) -> search::Sql {
        let mut sql = search::Sql::default();
        sql.push(
            "SELECT h.seq, r.type, r.id, h.version, h.last_updated, h.method, h.body FROM history h \
             JOIN resource r ON r.res_key = h.res_key WHERE 1 = 1",
        );
        match &self.scope {
            HistoryScope::Instance { rtype, id } => {
                sql.push(" AND h.res_key = (SELECT res_key FROM resource WHERE type = ");
                sql.text_arg(rtype);
                sql.push(" AND id = ");
                sql.text_arg(id);
                sql.push(")");
            }
            HistoryScope::Type { rtype } => {
                sql.push(" AND h.type = ");
                sql.text_arg(rtype);
            }
            HistoryScope::System => {}
        }
        if let Some(since) = self.since {
            sql.push(" AND h.last_updated >= ");
            sql.arg(search::Arg::I64(since));
        }
        if let Some((start, end)) = self.at {
            sql.push(" AND h.last_updated < ");
            sql.arg(search::Arg::I64(end));
            sql.push(" AND (h.ended IS NULL OR h.ended > ");
            sql.arg(search::Arg::I64(start));
            sql.push(")");
        }
        if let Some(before) = self.before_seq {
            sql.push(" AND h.seq < ");
            sql.arg(search::Arg::I64(before));
        }
        if let Some(a) = &self.access {
            sql.push(" AND ");
            a.condition_on("r", &mut sql);
        }
        sql.push(" ORDER BY h.seq DESC LIMIT ");
        sql.arg(search::Arg::I64((self.count + 1) as i64));
        sql
    }
}

#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub versions: Vec<Version>,
    /// Cursor for the next (older) page, if there is one.
    pub next_before_seq: Option<i64>,
}

impl HistoryPage {
    /// The page of a query that asked for `count + 1` rows (newest first, with their `seq`): the
    /// extra row only says there is a next page.
    fn from_rows(mut rows: Vec<(i64, Version)>, count: usize) -> HistoryPage {
        let more = rows.len() > count;
        rows.truncate(count);
        let next_before_seq = if more {
            rows.last().map(|(seq, _)| *seq)
        } else {
            None
        };
        HistoryPage {
            versions: rows.into_iter().map(|(_, v)| v).collect(),
            next_before_seq,
        }
    }
}

/// Counts for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub resources: u64,
    pub versions: u64,
}

/// The storage interface: one of the backends.
#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// Opens the store named by `location`: a `postgres://` URL, or a data directory for the
    /// embedded store (created if missing).
    pub async fn open(location: &str) -> Result<Store, StoreError> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Ok(Store::Postgres(PostgresStore::connect(location).await?))
        } else {
            Ok(Store::Sqlite(SqliteStore::open(std::path::Path::new(
                location,
            ))?))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgresql",
        }
    }

    /// The current version of a resource (a tombstone if deleted), if any.
    pub async fn read(&self, rtype: &str, id: &str) -> Result<Option<Version>, StoreError> {
        match self {
            Store::Sqlite(s) => s.read(rtype, id),
            Store::Postgres(s) => s.read(rtype, id).await,
        }
    }

    /// A specific version of a resource, if it exists.
    pub async fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Version>, StoreError> {
        match self {
            Store::Sqlite(s) => s.vread(rtype, id, version),
            Store::Postgres(s) => s.vread(rtype, id, version).await,
        }
    }

    /// Applies a batch atomically; returns one [`Written`] per write, in order.
    pub async fn commit(&self, batch: Batch) -> Result<Vec<Written>, StoreError> {
        let types: Vec<String> = batch.writes.iter().map(|w| w.rtype().to_string()).collect();
        let written = match self {
            Store::Sqlite(s) => s.commit(batch).await,
            Store::Postgres(s) => s.commit(batch).await,
        }?;
        self.changes().note(types.iter().map(String::as_str));
        self.changes().publish(&written);
        Ok(written)
    }

    /// This process's count of committed writes per resource type (see [`Changes`]).
    pub fn changes(&self) -> &Changes {
        match self {
            Store::Sqlite(s) => s.changes(),
            Store::Postgres(s) => s.changes(),
        }
    }

    /// Ids of the live resources of `rtype` matching all `filters`, sorted, at most `limit`.
    pub async fn find(
        &self,
        rtype: &str,
        filters: &[kizuna_search::Filter],
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.find_as(rtype, filters, limit, None).await
    }

    /// [`Store::find`] among the resources `access` may see.
    pub async fn find_as(
        &self,
        rtype: &str,
        filters: &[kizuna_search::Filter],
        limit: usize,
        access: Option<Arc<Access>>,
    ) -> Result<Vec<String>, StoreError> {
        let mut spec = SearchSpec::matching(rtype, filters, limit);
        spec.access = access;
        let result = self.search(spec).await?;
        Ok(sorted_ids(result.hits))
    }

    /// One page of a search, with the total when asked.
    pub async fn search(&self, spec: SearchSpec) -> Result<SearchResult, StoreError> {
        match self {
            Store::Sqlite(s) => s.search(spec).await,
            Store::Postgres(s) => s.search(spec).await,
        }
    }

    /// The live resources that the `params` (index keys) of the resources `from` refer to,
    /// only those of `target_type` if given; at most `limit`.
    pub async fn referenced(
        &self,
        from: &[i64],
        params: &[i32],
        target_type: Option<&str>,
        limit: usize,
        access: Option<&Access>,
    ) -> Result<Vec<Hit>, StoreError> {
        let sql = |dialect| search::referenced(from, params, target_type, limit, dialect, access);
        match self {
            Store::Sqlite(s) => s.hits(sql(search::Dialect::Sqlite)).await,
            Store::Postgres(s) => s.hits(sql(search::Dialect::Postgres)).await,
        }
    }

    /// Whether the caller `access` describes may see `rtype/id` (a live resource, or a deleted
    /// one of the caller's own).
    pub async fn visible(
        &self,
        rtype: &str,
        id: &str,
        access: &Access,
    ) -> Result<bool, StoreError> {
        let mut sql = search::Sql::default();
        sql.push("SELECT r.res_key FROM resource r WHERE r.type = ");
        sql.text_arg(rtype);
        sql.push(" AND r.id = ");
        sql.text_arg(id);
        sql.push(" AND ");
        access.condition_on("r", &mut sql);
        let n = match self {
            Store::Sqlite(s) => s.count_rows(sql).await?,
            Store::Postgres(s) => s.count_rows(sql).await?,
        };
        Ok(n > 0)
    }

    /// The format of the store's index rows ([`index::INDEX_FORMAT`] when current; older
    /// rows need `kizuna reindex`).
    pub async fn index_format(&self) -> Result<i64, StoreError> {
        match self {
            Store::Sqlite(s) => s.index_format().await,
            Store::Postgres(s) => s.index_format().await,
        }
    }

    /// Records the format of the store's index rows (after a complete reindex).
    pub async fn set_index_format(&self, version: i64) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.set_index_format(version).await,
            Store::Postgres(s) => s.set_index_format(version).await,
        }
    }

    /// The installed implementation-guide packages, oldest install first.
    pub async fn packages(&self) -> Result<Vec<StoredPackage>, StoreError> {
        match self {
            Store::Sqlite(s) => s.packages().await,
            Store::Postgres(s) => s.packages().await,
        }
    }

    /// A value that changes whenever a package is installed, replaced or removed (by any
    /// process sharing the database): cheap to poll.
    pub async fn packages_stamp(&self) -> Result<(i64, i64), StoreError> {
        match self {
            Store::Sqlite(s) => s.packages_stamp().await,
            Store::Postgres(s) => s.packages_stamp().await,
        }
    }

    /// Installs a package durably, replacing any installed version of the same name.
    pub async fn put_package(&self, package: StoredPackage) -> Result<(), StoreError> {
        let op = packages::Op::Put(package);
        match self {
            Store::Sqlite(s) => s.change_packages(op).await,
            Store::Postgres(s) => s.change_packages(op).await,
        }
        .map(|_| ())
    }

    /// Removes `targets` (type, id) whole, every version and index row, in one transaction;
    /// answers how many existed. Only retention does this: everything else keeps history.
    pub async fn purge(&self, targets: Vec<(String, String)>) -> Result<usize, StoreError> {
        let types: Vec<String> = targets.iter().map(|(t, _)| t.clone()).collect();
        let n = match self {
            Store::Sqlite(s) => s.purge(targets).await,
            Store::Postgres(s) => s.purge(targets).await,
        }?;
        self.changes().note(types.iter().map(String::as_str));
        Ok(n)
    }

    /// Adds (or replaces) points of time series in one transaction, with their rollups.
    pub async fn ingest_series(
        &self,
        writes: Vec<series::SeriesWrite>,
    ) -> Result<series::Ingested, StoreError> {
        match self {
            Store::Sqlite(s) => s.ingest_series(writes).await,
            Store::Postgres(s) => s.ingest_series(writes).await,
        }
    }

    /// The time series of `patients` (of `code`, if given).
    pub async fn series(
        &self,
        patients: Vec<String>,
        code: Option<String>,
    ) -> Result<Vec<series::Series>, StoreError> {
        match self {
            Store::Sqlite(s) => s.series(patients, code).await,
            Store::Postgres(s) => s.series(patients, code).await,
        }
    }

    /// The hash of the image indexed under SOP Instance UID `sop_uid`, if one is.
    pub async fn image_hash(&self, sop_uid: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Sqlite(s) => {
                let sop = sop_uid.to_string();
                s.read_blocking(move |c| imaging::stored_sqlite(c, &sop))
                    .await
            }
            Store::Postgres(s) => s.image_hash(sop_uid).await,
        }
    }

    /// The studies, series or instances of the image index matching `query`, among those
    /// whose `ImagingStudy` the query's access may see.
    pub async fn images(
        &self,
        query: imaging::ImageQuery,
    ) -> Result<Vec<imaging::Found>, StoreError> {
        match self {
            Store::Sqlite(s) => {
                s.read_blocking(move |c| imaging::query_sqlite(c, &query))
                    .await
            }
            Store::Postgres(s) => s.images(&query).await,
        }
    }

    /// The Patient (id) series `key` belongs to; None if there is no such series.
    pub async fn series_owner(&self, key: i64) -> Result<Option<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.series_owner(key).await,
            Store::Postgres(s) => s.series_owner(key).await,
        }
    }

    /// The rollups of `series` over `period`, for buckets in `[from, to]`, by series then bucket.
    pub async fn rollups(
        &self,
        series: Vec<i64>,
        period: series::Period,
        buckets: (i64, i64),
    ) -> Result<Vec<series::Rollup>, StoreError> {
        match self {
            Store::Sqlite(s) => s.rollups(series, period, buckets).await,
            Store::Postgres(s) => s.rollups(series, period, buckets).await,
        }
    }

    /// The points of `series` starting in `[from, to)`, at most `limit` per series, by series
    /// then start (newest first if asked).
    pub async fn points(
        &self,
        series: Vec<i64>,
        range: (Micros, Micros),
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<(i64, series::Point)>, StoreError> {
        match self {
            Store::Sqlite(s) => s.points(series, range, limit, newest_first).await,
            Store::Postgres(s) => s.points(series, range, limit, newest_first).await,
        }
    }

    /// Removes the package of this name; false if none was installed.
    pub async fn remove_package(&self, name: &str) -> Result<bool, StoreError> {
        let op = packages::Op::Remove(name.to_string());
        match self {
            Store::Sqlite(s) => s.change_packages(op).await,
            Store::Postgres(s) => s.change_packages(op).await,
        }
    }

    /// Appends `entries` (AuditEvent JSON, opaque here) to the hash-chained audit log, durably,
    /// in order; answers their sequence numbers.
    pub async fn append_audit(
        &self,
        entries: Vec<audit::AuditEntry>,
    ) -> Result<Vec<i64>, StoreError> {
        let recorded = jiff::Timestamp::now().as_microsecond();
        match self {
            Store::Sqlite(s) => s.append_audit(entries, recorded).await,
            Store::Postgres(s) => s.append_audit(entries, recorded).await,
        }
    }

    /// The last audit entry's sequence number and hash (`0` and [`audit::GENESIS`] when the log
    /// is empty).
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        let last = match self {
            Store::Sqlite(s) => s.audit_last().await?,
            Store::Postgres(s) => s.audit_last().await?,
        };
        Ok(last.map_or((0, audit::GENESIS.to_string()), |r| (r.seq, r.hash)))
    }

    /// Up to `limit` audit entries after sequence number `after`, in order.
    pub async fn audit_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<audit::AuditRecord>, StoreError> {
        match self {
            Store::Sqlite(s) => s.audit_after(after, limit).await,
            Store::Postgres(s) => s.audit_after(after, limit).await,
        }
    }

    /// Indexes the keys of the audit entries appended since the last call; answers how many.
    /// [`Store::audit_by_keys`] does it first; calling it now and then (the server does, every
    /// few seconds) keeps that catch-up short.
    pub async fn index_audit_keys(&self) -> Result<usize, StoreError> {
        match self {
            Store::Sqlite(s) => s.index_audit_keys().await,
            Store::Postgres(s) => s.index_audit_keys().await,
        }
    }

    /// The newest entries (newest first, at most `limit`) appended with any of `keys`, and the
    /// first sequence number appended with keys: entries before it (written by a version
    /// without keys) are found only by reading the log ([`Store::audit_after`]).
    pub async fn audit_by_keys(
        &self,
        keys: &[String],
        limit: usize,
    ) -> Result<(Vec<audit::AuditRecord>, i64), StoreError> {
        match self {
            Store::Sqlite(s) => s.audit_by_keys(keys, limit).await,
            Store::Postgres(s) => s.audit_by_keys(keys, limit).await,
        }
    }

    /// After every resource's rows were replaced (`kizuna reindex`): PostgreSQL vacuums the
    /// index tables (the old rows are dead tuples) and refreshes the planner's statistics, which
    /// no longer describe them; SQLite (which keeps no statistics) has nothing to do.
    pub async fn after_reindex(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(s) => s.after_reindex().await,
        }
    }

    /// Up to `limit` live resources after `res_key` `after`, in key order, with their current
    /// bodies: what `kizuna reindex` walks.
    pub async fn live_after(&self, after: i64, limit: usize) -> Result<Vec<Live>, StoreError> {
        match self {
            Store::Sqlite(s) => s.live_after(after, limit).await,
            Store::Postgres(s) => s.live_after(after, limit).await,
        }
    }

    /// Replaces the search index rows of resources, each only if it is still live at the
    /// version (`seq`) its rows were computed from (a resource written meanwhile already has
    /// fresh rows); returns how many were replaced. For index rows that predate a change of
    /// what is indexed (`kizuna reindex`).
    pub async fn reindex(&self, items: Vec<Reindexed>) -> Result<usize, StoreError> {
        match self {
            Store::Sqlite(s) => s.reindex(items).await,
            Store::Postgres(s) => s.reindex(items).await,
        }
    }

    /// The live resources whose `params` (index keys) refer to one of `targets` (type, id);
    /// at most `limit`.
    pub async fn referring(
        &self,
        targets: &[(String, String)],
        params: &[i32],
        limit: usize,
        access: Option<&Access>,
    ) -> Result<Vec<Hit>, StoreError> {
        let sql = search::referring(targets, params, limit, access);
        match self {
            Store::Sqlite(s) => s.hits(sql).await,
            Store::Postgres(s) => s.hits(sql).await,
        }
    }

    pub async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError> {
        match self {
            Store::Sqlite(s) => s.history(query).await,
            Store::Postgres(s) => s.history(query).await,
        }
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        match self {
            Store::Sqlite(s) => s.stats().await,
            Store::Postgres(s) => s.stats().await,
        }
    }
}

impl SearchSpec {
    /// A plain search of `rtype` for up to `limit` matches of `filters`, unsorted, without
    /// total, compartment or access condition: the search behind [`Store::find`], match
    /// conditions and the node's own lookups.
    pub fn matching(rtype: &str, filters: &[kizuna_search::Filter], limit: usize) -> SearchSpec {
        SearchSpec {
            types: vec![rtype.to_string()],
            filters: filters.to_vec(),
            sort: Vec::new(),
            count: limit,
            cursor: None,
            backward: false,
            total: false,
            budget: std::time::Duration::from_secs(30),
            compartment: None,
            access: None,
        }
    }
}

fn sorted_ids(hits: Vec<Hit>) -> Vec<String> {
    let mut ids: Vec<String> = hits.into_iter().map(|h| h.version.id).collect();
    ids.sort();
    ids
}

/// Sets `meta.versionId` and `meta.lastUpdated` and serializes: the stored form of a version.
fn stamp(body: &mut Value, version: u64, last_updated: Micros) -> Arc<str> {
    if !body.get("meta").is_some_and(Value::is_object)
        && let Some(obj) = body.as_object_mut()
    {
        // Conventional place: after resourceType and id.
        let at = obj
            .keys()
            .take_while(|k| *k == "resourceType" || *k == "id")
            .count();
        obj.shift_insert(at, "meta".into(), Value::Object(Default::default()));
    }
    if let Some(meta) = body.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("versionId".into(), Value::String(version.to_string()));
        meta.insert(
            "lastUpdated".into(),
            Value::String(format_instant(last_updated)),
        );
    }
    Arc::from(serde_json::to_string(body).unwrap_or_default())
}

/// An instant as FHIR text, in Japan Standard Time (+09:00), with microseconds.
pub fn format_instant(micros: Micros) -> String {
    let ts = jiff::Timestamp::from_microsecond(micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let offset = jiff::tz::Offset::constant(9);
    ts.to_zoned(jiff::tz::TimeZone::fixed(offset))
        .strftime("%Y-%m-%dT%H:%M:%S%.6f%:z")
        .to_string()
}

/// Now, in microseconds; strictly after `previous` (timestamps of one store never repeat).
fn next_timestamp(previous: Micros) -> Micros {
    let now = jiff::Timestamp::now().as_microsecond();
    now.max(previous + 1)
}

/// The shared behaviour every backend must show, run by each backend's tests.
#[doc(hidden)]
pub mod conformance;
