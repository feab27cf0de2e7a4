//! Time series: the measurements of patients' own devices and apps (personal health records),
//! kept as compact rows rather than one FHIR resource per minute of steps.
//!
//! A series is one patient's one code from one source (`Patient/1`, LOINC `41950-7`,
//! `apple:iPhone`), all in one unit. A point is keyed by its start time within its series, so a
//! point sent twice is stored once, and one sent again with another value replaces it (a device
//! re-syncing a day whose total grew). Each point keeps the UTC offset it was taken at and the
//! local day that offset puts it on.
//!
//! Rollups per local day, ISO week (Monday first) and calendar month (count, sum, min, max) are
//! kept up to date in the transaction that changes points: the days touched are recomputed from
//! their points, then the weeks and months holding them from their days. The store does not
//! know what a code measures; whether a sum or a mean fits is the caller's business.

use crate::{Micros, StoreError};
use std::collections::{BTreeMap, BTreeSet};

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// When it was taken, or when its interval began (microseconds since the epoch).
    pub start: Micros,
    /// When its interval ended, if it has one.
    pub end: Option<Micros>,
    /// The UTC offset it was taken at, in seconds.
    pub offset: i32,
    pub value: f64,
}

impl Point {
    /// The local day it was taken on, as days since 1970-01-01.
    pub fn day(&self) -> i64 {
        (self.start.div_euclid(1_000_000) + i64::from(self.offset)).div_euclid(86_400)
    }
}

/// Points of one series, to add (or replace).
#[derive(Debug, Clone)]
pub struct SeriesWrite {
    /// The id of the Patient resource the series belongs to.
    pub patient: String,
    /// The code measured (`http://loinc.org|29463-7`).
    pub code: String,
    /// The unit of every value (UCUM).
    pub unit: String,
    /// Where the points came from (`apple:iPhone`, `fitbit:1503960366` …).
    pub source: String,
    pub points: Vec<Point>,
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Points not stored before.
    pub added: u64,
    /// Points stored before (or earlier in the same ingest) with another value, end or offset,
    /// now replaced.
    pub replaced: u64,
    /// Points stored before exactly so (sent twice), or repeated the same within one ingest.
    pub unchanged: u64,
}

impl Ingested {
    fn add(&mut self, other: Ingested) {
        self.added += other.added;
        self.replaced += other.replaced;
        self.unchanged += other.unchanged;
    }
}

/// A stored series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub key: i64,
    pub patient: String,
    pub code: String,
    pub unit: String,
    pub source: String,
    /// How many points it holds.
    pub count: u64,
    /// The start of its first and last points.
    pub first: Option<Micros>,
    pub last: Option<Micros>,
}

/// The length of a rollup's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// A local day; the bucket is days since 1970-01-01.
    Day,
    /// An ISO week; the bucket is its Monday, as days since 1970-01-01.
    Week,
    /// A calendar month; the bucket is `year * 12 + month - 1`.
    Month,
}

impl Period {
    fn code(self) -> i16 {
        match self {
            Period::Day => 0,
            Period::Week => 1,
            Period::Month => 2,
        }
    }

    /// The bucket holding local day `day`.
    pub fn bucket_of(self, day: i64) -> i64 {
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday (three days after a Monday).
            Period::Week => day - (day + 3).rem_euclid(7),
            Period::Month => {
                let d = date_of(day);
                i64::from(d.year()) * 12 + i64::from(d.month()) - 1
            }
        }
    }

    /// The first and last local days of `bucket`.
    pub fn days_of(self, bucket: i64) -> (i64, i64) {
        match self {
            Period::Day => (bucket, bucket),
            Period::Week => (bucket, bucket + 6),
            Period::Month => {
                let (year, month) = (bucket.div_euclid(12), bucket.rem_euclid(12) + 1);
                let first = jiff::civil::Date::new(year as i16, month as i8, 1)
                    .unwrap_or(jiff::civil::Date::MIN);
                let start = day_number(first);
                (start, start + i64::from(first.days_in_month()) - 1)
            }
        }
    }
}

/// The civil date of local day `day` (days since 1970-01-01), clamped to what dates can be.
pub fn date_of(day: i64) -> jiff::civil::Date {
    let epoch = jiff::civil::date(1970, 1, 1);
    epoch
        .checked_add(jiff::Span::new().days(day.clamp(-7_000_000, 7_000_000)))
        .unwrap_or(if day < 0 {
            jiff::civil::Date::MIN
        } else {
            jiff::civil::Date::MAX
        })
}

/// Days since 1970-01-01 of `date`.
pub fn day_number(date: jiff::civil::Date) -> i64 {
    let epoch = jiff::civil::date(1970, 1, 1);
    epoch
        .until((jiff::Unit::Day, date))
        .map(|s| i64::from(s.get_days()))
        .unwrap_or(0)
}

/// One bucket of a series' rollup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    pub series: i64,
    pub bucket: i64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// A day, in microseconds.
const DAY: i64 = 86_400_000_000;
/// How far a point's offset can move its local day from its UTC one (±26 hours is beyond
/// every offset in use).
const SLACK: i64 = 26 * 3_600_000_000;

/// The range of starts that can hold local day `day`: offsets are within ±26 hours.
pub(crate) fn starts_of_day(day: i64) -> (Micros, Micros) {
    (
        day.saturating_mul(DAY).saturating_sub(SLACK),
        day.saturating_add(1)
            .saturating_mul(DAY)
            .saturating_add(SLACK),
    )
}

/// Keeps the last of the points sharing a start (in the order given), sorted by start; answers
/// how many of those dropped were the same as the one kept and how many differed from it (the
/// later one replaces them).
fn last_per_start(points: &mut Vec<Point>) -> Ingested {
    // A stable sort keeps the order given among equal starts: the last of each run wins.
    points.sort_by_key(|p| p.start);
    let mut kept: Vec<Point> = Vec::with_capacity(points.len());
    let mut dropped: Vec<Point> = Vec::new();
    for p in points.drain(..) {
        match kept.last_mut() {
            Some(last) if last.start == p.start => dropped.push(std::mem::replace(last, p)),
            _ => kept.push(p),
        }
    }
    let mut out = Ingested::default();
    for d in dropped {
        // The winner of its start: the kept point with the same start.
        let same = kept
            .binary_search_by_key(&d.start, |k| k.start)
            .is_ok_and(|i| !differs((kept[i].value, kept[i].end, kept[i].offset), &d));
        if same {
            out.unchanged += 1;
        } else {
            out.replaced += 1;
        }
    }
    *points = kept;
    out
}

/// The weeks and months holding `days` (series, day), as (series, period, bucket, first day,
/// last day) to recompute from their days.
fn containing(days: &BTreeSet<(i64, i64)>) -> Vec<(i64, Period, i64, i64, i64)> {
    let mut out = BTreeSet::new();
    for &(series, day) in days {
        for period in [Period::Week, Period::Month] {
            let bucket = period.bucket_of(day);
            let (lo, hi) = period.days_of(bucket);
            out.insert((series, period, bucket, lo, hi));
        }
    }
    out.into_iter().collect()
}

/// Whether a stored point differs from `p` (its value, end or offset).
fn differs(stored: (f64, Option<Micros>, i32), p: &Point) -> bool {
    stored.0.to_bits() != p.value.to_bits() || stored.1 != p.end || stored.2 != p.offset
}

// --- SQLite -------------------------------------------------------------------------------

/// Applies `writes` in one transaction (run by the writer).
pub(crate) fn ingest_sqlite(
    c: &mut rusqlite::Connection,
    writes: Vec<SeriesWrite>,
) -> Result<Ingested, StoreError> {
    use rusqlite::{OptionalExtension, params};
    let tx = c.transaction()?;
    let mut done = Ingested::default();
    let mut touched: BTreeSet<(i64, i64)> = BTreeSet::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO phr_sample (series_key, start_us, end_us, offset_s, day, value) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut stored = tx.prepare_cached(
            "SELECT value, end_us, offset_s, day FROM phr_sample WHERE series_key = ?1 AND start_us = ?2",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE phr_sample SET end_us = ?3, offset_s = ?4, day = ?5, value = ?6 \
             WHERE series_key = ?1 AND start_us = ?2",
        )?;
        for mut w in writes {
            done.add(last_per_start(&mut w.points));
            if w.points.is_empty() {
                continue;
            }
            let key = series_key_sqlite(&tx, &w)?;
            for p in &w.points {
                let day = p.day();
                if insert.execute(params![key, p.start, p.end, p.offset, day, p.value])? == 1 {
                    done.added += 1;
                    touched.insert((key, day));
                    continue;
                }
                let old: Option<(f64, Option<i64>, i32, i64)> = stored
                    .query_row(params![key, p.start], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()?;
                match old {
                    Some((v, e, o, old_day)) if differs((v, e, o), p) => {
                        update.execute(params![key, p.start, p.end, p.offset, day, p.value])?;
                        done.replaced += 1;
                        touched.insert((key, day));
                        touched.insert((key, old_day));
                    }
                    _ => done.unchanged += 1,
                }
            }
        }
        roll_up_sqlite(&tx, &touched)?;
    }
    tx.commit()?;
    Ok(done)
}

fn series_key_sqlite(tx: &rusqlite::Transaction, w: &SeriesWrite) -> Result<i64, StoreError> {
    use rusqlite::{OptionalExtension, params};
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT series_key FROM phr_series WHERE patient = ?1 AND code = ?2 AND source = ?3",
        )?
        .query_row(params![w.patient, w.code, w.source], |r| r.get(0))
        .optional()?;
    if let Some(k) = found {
        return Ok(k);
    }
    tx.execute(
        "INSERT INTO phr_series (patient, code, unit, source) VALUES (?1, ?2, ?3, ?4)",
        params![w.patient, w.code, w.unit, w.source],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Recomputes the rollups of the `touched` days and of the weeks and months holding them.
fn roll_up_sqlite(
    tx: &rusqlite::Transaction,
    touched: &BTreeSet<(i64, i64)>,
) -> Result<(), StoreError> {
    use rusqlite::params;
    let mut day = tx.prepare_cached(
        "SELECT count(*), coalesce(sum(value), 0), min(value), max(value) FROM phr_sample \
         WHERE series_key = ?1 AND start_us >= ?2 AND start_us < ?3 AND day = ?4",
    )?;
    let mut from_days = tx.prepare_cached(
        "SELECT coalesce(sum(n), 0), coalesce(sum(total), 0), min(low), max(high) FROM phr_rollup \
         WHERE series_key = ?1 AND period = 0 AND bucket BETWEEN ?2 AND ?3",
    )?;
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO phr_rollup (series_key, period, bucket, n, total, low, high) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut remove = tx.prepare_cached(
        "DELETE FROM phr_rollup WHERE series_key = ?1 AND period = ?2 AND bucket = ?3",
    )?;
    type Agg = (i64, f64, Option<f64>, Option<f64>);
    let mut store = |series: i64, period: Period, bucket: i64, agg: Agg| -> rusqlite::Result<()> {
        match agg {
            (n, total, Some(low), Some(high)) if n > 0 => {
                put.execute(params![series, period.code(), bucket, n, total, low, high])?;
            }
            _ => {
                remove.execute(params![series, period.code(), bucket])?;
            }
        }
        Ok(())
    };
    let agg = |r: &rusqlite::Row| -> rusqlite::Result<Agg> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    };
    for &(series, d) in touched {
        let (lo, hi) = starts_of_day(d);
        let a = day.query_row(params![series, lo, hi, d], agg)?;
        store(series, Period::Day, d, a)?;
    }
    for (series, period, bucket, lo, hi) in containing(touched) {
        let a = from_days.query_row(params![series, lo, hi], agg)?;
        store(series, period, bucket, a)?;
    }
    Ok(())
}

/// The series of `patients` (of `code`, if given).
pub(crate) fn series_sqlite(
    c: &rusqlite::Connection,
    patients: &[String],
    code: Option<&str>,
) -> Result<Vec<Series>, StoreError> {
    let mut out = Vec::new();
    let mut st = c.prepare_cached(
        "SELECT s.series_key, s.patient, s.code, s.unit, s.source, \
           (SELECT coalesce(sum(n), 0) FROM phr_rollup r WHERE r.series_key = s.series_key AND r.period = 2), \
           (SELECT min(start_us) FROM phr_sample p WHERE p.series_key = s.series_key), \
           (SELECT max(start_us) FROM phr_sample p WHERE p.series_key = s.series_key) \
         FROM phr_series s WHERE s.patient = ?1 AND (?2 IS NULL OR s.code = ?2) ORDER BY s.code, s.source",
    )?;
    for patient in patients {
        let rows = st.query_map(rusqlite::params![patient, code], |r| {
            Ok(Series {
                key: r.get(0)?,
                patient: r.get(1)?,
                code: r.get(2)?,
                unit: r.get(3)?,
                source: r.get(4)?,
                count: r.get::<_, i64>(5)? as u64,
                first: r.get(6)?,
                last: r.get(7)?,
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

/// The Patient series `key` belongs to, if it exists.
pub(crate) fn series_owner_sqlite(
    c: &rusqlite::Connection,
    key: i64,
) -> Result<Option<String>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(
        c.prepare_cached("SELECT patient FROM phr_series WHERE series_key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?,
    )
}

/// The rollups of `series` over `period` for buckets in `[from, to]`, by series then bucket.
pub(crate) fn rollups_sqlite(
    c: &rusqlite::Connection,
    series: &[i64],
    period: Period,
    (from, to): (i64, i64),
) -> Result<Vec<Rollup>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT bucket, n, total, low, high FROM phr_rollup \
         WHERE series_key = ?1 AND period = ?2 AND bucket BETWEEN ?3 AND ?4 ORDER BY bucket",
    )?;
    let mut out = Vec::new();
    for &s in series {
        let rows = st.query_map(rusqlite::params![s, period.code(), from, to], |r| {
            Ok(Rollup {
                series: s,
                bucket: r.get(0)?,
                count: r.get::<_, i64>(1)? as u64,
                sum: r.get(2)?,
                min: r.get(3)?,
                max: r.get(4)?,
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

/// The points of `series` starting in `[from, to)`, at most `limit` per series, in start order
/// (newest first if `newest_first`), by series.
pub(crate) fn points_sqlite(
    c: &rusqlite::Connection,
    series: &[i64],
    (from, to): (Micros, Micros),
    limit: usize,
    newest_first: bool,
) -> Result<Vec<(i64, Point)>, StoreError> {
    let order = if newest_first { "DESC" } else { "ASC" };
    let mut st = c.prepare_cached(&format!(
        "SELECT start_us, end_us, offset_s, value FROM phr_sample \
         WHERE series_key = ?1 AND start_us >= ?2 AND start_us < ?3 ORDER BY start_us {order} LIMIT ?4"
    ))?;
    let mut out = Vec::new();
    for &s in series {
        let rows = st.query_map(
            rusqlite::params![s, from, to, limit.min(i64::MAX as usize) as i64],
            |r| {
                Ok((
                    s,
                    Point {
                        start: r.get(0)?,
                        end: r.get(1)?,
                        offset: r.get(2)?,
                        value: r.get(3)?,
                    },
                ))
            },
        )?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

// --- PostgreSQL ---------------------------------------------------------------------------

/// [`ingest_sqlite`] on PostgreSQL: the points go in through binary `COPY` into a staging table,
/// then one upsert moves them, and the touched days are recomputed in SQL.
pub(crate) async fn ingest_postgres(
    c: &mut tokio_postgres::Client,
    writes: Vec<SeriesWrite>,
) -> Result<Ingested, StoreError> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::Type;
    let tx = c.transaction().await?;
    let mut done = Ingested::default();
    let mut staged: Vec<(i64, Vec<Point>)> = Vec::new();
    for mut w in writes {
        done.add(last_per_start(&mut w.points));
        if w.points.is_empty() {
            continue;
        }
        let row = tx
            .query_one(
                "INSERT INTO phr_series (patient, code, unit, source) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (patient, code, source) DO UPDATE SET unit = phr_series.unit \
                 RETURNING series_key",
                &[&w.patient, &w.code, &w.unit, &w.source],
            )
            .await?;
        staged.push((row.get(0), w.points));
    }
    // A series may come in several writes of one ingest: their points merge, the last wins.
    let mut merged: BTreeMap<i64, Vec<Point>> = BTreeMap::new();
    for (k, pts) in staged {
        merged.entry(k).or_default().extend(pts);
    }
    let mut total = 0u64;
    // Created once per connection (quietly: no notice when it exists), emptied at each commit.
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning;
         CREATE TEMP TABLE IF NOT EXISTS phr_stage (series_key BIGINT, start_us BIGINT, end_us BIGINT, \
           offset_s INTEGER, day INTEGER, value DOUBLE PRECISION) ON COMMIT DELETE ROWS;
         CREATE TEMP TABLE IF NOT EXISTS phr_touched (series_key BIGINT, day INTEGER) ON COMMIT DELETE ROWS;",
    )
    .await?;
    {
        let sink = tx
            .copy_in(
                "COPY phr_stage (series_key, start_us, end_us, offset_s, day, value) FROM STDIN BINARY",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(
            sink,
            &[
                Type::INT8,
                Type::INT8,
                Type::INT8,
                Type::INT4,
                Type::INT4,
                Type::FLOAT8,
            ],
        );
        futures::pin_mut!(writer);
        for (k, mut pts) in merged {
            done.add(last_per_start(&mut pts));
            for p in pts {
                let day = i32::try_from(p.day())
                    .map_err(|_| StoreError::Backend("a point's day is out of range".into()))?;
                writer
                    .as_mut()
                    .write(&[&k, &p.start, &p.end, &p.offset, &day, &p.value])
                    .await?;
                total += 1;
            }
        }
        writer.finish().await?;
    }
    // The common case first: points never seen. They are inserted and their days' rollups
    // merged with what they add (count, sum, least, greatest), reading nothing else.
    let row = tx
        .query_one(
            "WITH ins AS (
               INSERT INTO phr_sample (series_key, start_us, end_us, offset_s, day, value)
               SELECT series_key, start_us, end_us, offset_s, day, value FROM phr_stage
               ON CONFLICT (series_key, start_us) DO NOTHING
               RETURNING series_key, day, value),
             merged AS (
               INSERT INTO phr_rollup (series_key, period, bucket, n, total, low, high)
               SELECT series_key, 0, day, count(*), sum(value), min(value), max(value)
               FROM ins GROUP BY series_key, day
               ON CONFLICT (series_key, period, bucket) DO UPDATE SET
                 n = phr_rollup.n + EXCLUDED.n, total = phr_rollup.total + EXCLUDED.total,
                 low = least(phr_rollup.low, EXCLUDED.low),
                 high = greatest(phr_rollup.high, EXCLUDED.high)),
             t AS (INSERT INTO phr_touched SELECT DISTINCT series_key, day FROM ins)
             SELECT count(*) FROM ins",
            &[],
        )
        .await?;
    let added = row.get::<_, i64>(0) as u64;
    let mut replaced = 0u64;
    if added < total {
        // Some were kept before: those with another value, end or offset replace them, and
        // the days touched are recomputed from their points. The planner must know the staged
        // rows are few, or it scans every stored point to join them.
        tx.batch_execute("ANALYZE phr_stage").await?;
        // Days a replaced point leaves (its offset changed) are touched too.
        tx.execute(
            "INSERT INTO phr_touched SELECT s.series_key, s.day FROM phr_sample s \
             JOIN phr_stage t ON t.series_key = s.series_key AND t.start_us = s.start_us WHERE t.day <> s.day",
            &[],
        )
        .await?;
        let row = tx
            .query_one(
                "WITH up AS (
                   UPDATE phr_sample s SET end_us = t.end_us, offset_s = t.offset_s, day = t.day,
                     value = t.value
                   FROM phr_stage t
                   WHERE s.series_key = t.series_key AND s.start_us = t.start_us
                     AND (s.value, s.end_us, s.offset_s) IS DISTINCT FROM (t.value, t.end_us, t.offset_s)
                   RETURNING s.series_key, s.day),
                 t AS (INSERT INTO phr_touched SELECT DISTINCT series_key, day FROM up)
                 SELECT count(*) FROM up",
                &[],
            )
            .await?;
        replaced = row.get::<_, i64>(0) as u64;
        tx.batch_execute(&format!(
            "INSERT INTO phr_rollup (series_key, period, bucket, n, total, low, high)
               SELECT t.series_key, 0, t.day, count(*), sum(s.value), min(s.value), max(s.value)
               FROM (SELECT DISTINCT series_key, day FROM phr_touched) t
               JOIN phr_sample s ON s.series_key = t.series_key
                 AND s.start_us >= t.day::bigint * {DAY} - {SLACK}
                 AND s.start_us < (t.day::bigint + 1) * {DAY} + {SLACK}
                 AND s.day = t.day
               GROUP BY t.series_key, t.day
             ON CONFLICT (series_key, period, bucket) DO UPDATE SET n = EXCLUDED.n,
               total = EXCLUDED.total, low = EXCLUDED.low, high = EXCLUDED.high;
             DELETE FROM phr_rollup r USING phr_touched t
               WHERE r.series_key = t.series_key AND r.period = 0 AND r.bucket = t.day
                 AND NOT EXISTS (SELECT 1 FROM phr_sample s WHERE s.series_key = t.series_key
                   AND s.start_us >= t.day::bigint * {DAY} - {SLACK}
                   AND s.start_us < (t.day::bigint + 1) * {DAY} + {SLACK}
                   AND s.day = t.day);"
        ))
        .await?;
    }
    done.add(Ingested {
        added,
        replaced,
        unchanged: total - added - replaced,
    });
    // The weeks and months holding them: from their days.
    let mut touched = BTreeSet::new();
    for r in tx
        .query("SELECT DISTINCT series_key, day FROM phr_touched", &[])
        .await?
    {
        touched.insert((r.get::<_, i64>(0), i64::from(r.get::<_, i32>(1))));
    }
    let buckets = containing(&touched);
    let col = |f: fn(&(i64, Period, i64, i64, i64)) -> i64| -> Vec<i64> {
        buckets.iter().map(f).collect()
    };
    let (series, periods, bucket, lo, hi) = (
        col(|b| b.0),
        buckets.iter().map(|b| b.1.code()).collect::<Vec<i16>>(),
        col(|b| b.2),
        col(|b| b.3),
        col(|b| b.4),
    );
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&series, &periods, &bucket, &lo, &hi];
    tx.execute(
        "INSERT INTO phr_rollup (series_key, period, bucket, n, total, low, high)
           SELECT b.series_key, b.period, b.bucket, sum(r.n), sum(r.total), min(r.low), max(r.high)
           FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[], $5::bigint[])
             AS b(series_key, period, bucket, lo, hi)
           JOIN phr_rollup r ON r.series_key = b.series_key AND r.period = 0
             AND r.bucket BETWEEN b.lo AND b.hi
           GROUP BY b.series_key, b.period, b.bucket
         ON CONFLICT (series_key, period, bucket) DO UPDATE SET n = EXCLUDED.n,
           total = EXCLUDED.total, low = EXCLUDED.low, high = EXCLUDED.high",
        &args,
    )
    .await?;
    tx.execute(
        "DELETE FROM phr_rollup r USING
           unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[], $5::bigint[])
             AS b(series_key, period, bucket, lo, hi)
         WHERE r.series_key = b.series_key AND r.period = b.period AND r.bucket = b.bucket
           AND NOT EXISTS (SELECT 1 FROM phr_rollup d WHERE d.series_key = b.series_key
             AND d.period = 0 AND d.bucket BETWEEN b.lo AND b.hi)",
        &args,
    )
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// [`series_sqlite`] on PostgreSQL.
pub(crate) async fn series_postgres(
    c: &tokio_postgres::Client,
    patients: &[String],
    code: Option<&str>,
) -> Result<Vec<Series>, StoreError> {
    let rows = c
        .query(
            "SELECT s.series_key, s.patient, s.code, s.unit, s.source,
               (SELECT coalesce(sum(n), 0)::bigint FROM phr_rollup r WHERE r.series_key = s.series_key AND r.period = 2),
               (SELECT min(start_us) FROM phr_sample p WHERE p.series_key = s.series_key),
               (SELECT max(start_us) FROM phr_sample p WHERE p.series_key = s.series_key)
             FROM phr_series s WHERE s.patient = ANY($1) AND ($2::text IS NULL OR s.code = $2)
             ORDER BY s.patient, s.code, s.source",
            &[&patients, &code],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Series {
            key: r.get(0),
            patient: r.get(1),
            code: r.get(2),
            unit: r.get(3),
            source: r.get(4),
            count: r.get::<_, i64>(5) as u64,
            first: r.get(6),
            last: r.get(7),
        })
        .collect())
}

/// [`series_owner_sqlite`] on PostgreSQL.
pub(crate) async fn series_owner_postgres(
    c: &tokio_postgres::Client,
    key: i64,
) -> Result<Option<String>, StoreError> {
    Ok(c.query_opt(
        "SELECT patient FROM phr_series WHERE series_key = $1",
        &[&key],
    )
    .await?
    .map(|r| r.get(0)))
}

/// [`rollups_sqlite`] on PostgreSQL.
pub(crate) async fn rollups_postgres(
    c: &tokio_postgres::Client,
    series: &[i64],
    period: Period,
    (from, to): (i64, i64),
) -> Result<Vec<Rollup>, StoreError> {
    let rows = c
        .query(
            "SELECT series_key, bucket, n, total, low, high FROM phr_rollup
             WHERE series_key = ANY($1) AND period = $2 AND bucket BETWEEN $3 AND $4
             ORDER BY series_key, bucket",
            &[&series, &period.code(), &from, &to],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Rollup {
            series: r.get(0),
            bucket: r.get(1),
            count: r.get::<_, i64>(2) as u64,
            sum: r.get(3),
            min: r.get(4),
            max: r.get(5),
        })
        .collect())
}

/// [`points_sqlite`] on PostgreSQL.
pub(crate) async fn points_postgres(
    c: &tokio_postgres::Client,
    series: &[i64],
    (from, to): (Micros, Micros),
    limit: usize,
    newest_first: bool,
) -> Result<Vec<(i64, Point)>, StoreError> {
    let order = if newest_first { "DESC" } else { "ASC" };
    let st = c
        .prepare(&format!(
            "SELECT start_us, end_us, offset_s, value FROM phr_sample
             WHERE series_key = $1 AND start_us >= $2 AND start_us < $3 ORDER BY start_us {order} LIMIT $4"
        ))
        .await?;
    let mut out = Vec::new();
    let limit = limit.min(i64::MAX as usize) as i64;
    for &s in series {
        for r in c.query(&st, &[&s, &from, &to, &limit]).await? {
            out.push((
                s,
                Point {
                    start: r.get(0),
                    end: r.get(1),
                    offset: r.get(2),
                    value: r.get(3),
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_calendar() {
        let day = day_number(jiff::civil::date(2024, 2, 29));
        assert_eq!(date_of(day), jiff::civil::date(2024, 2, 29));
        // 2024-02-29 was a Thursday; its week began on Monday the 26th.
        assert_eq!(
            date_of(Period::Week.bucket_of(day)),
            jiff::civil::date(2024, 2, 26)
        );
        let month = Period::Month.bucket_of(day);
        assert_eq!(month, 2024 * 12 + 1);
        let (lo, hi) = Period::Month.days_of(month);
        assert_eq!(date_of(lo), jiff::civil::date(2024, 2, 1));
        assert_eq!(date_of(hi), jiff::civil::date(2024, 2, 29));
        // Before the epoch too.
        let old = day_number(jiff::civil::date(1969, 12, 31));
        assert_eq!(old, -1);
        assert_eq!(
            date_of(Period::Week.bucket_of(old)),
            jiff::civil::date(1969, 12, 29)
        );
    }

    #[test]
    fn a_point_is_on_its_local_day() {
        // 2024-01-01T23:30:00+09:00 is 14:30 UTC: the first of January in Tokyo.
        let start = jiff::Timestamp::from_second(1_704_119_400).unwrap();
        let p = Point {
            start: start.as_microsecond(),
            end: None,
            offset: 9 * 3600,
            value: 1.0,
        };
        assert_eq!(date_of(p.day()), jiff::civil::date(2024, 1, 1));
        let utc = Point {
            offset: -10 * 3600,
            ..p
        };
        assert_eq!(date_of(utc.day()), jiff::civil::date(2024, 1, 1));
        let (lo, hi) = starts_of_day(p.day());
        assert!(lo <= p.start && p.start < hi);
    }

    #[test]
    fn the_last_of_points_sharing_a_start_wins() {
        let p = |start, value| Point {
            start,
            end: None,
            offset: 0,
            value,
        };
        let mut pts = vec![p(2, 1.0), p(1, 5.0), p(2, 4.0), p(2, 4.0)];
        assert_eq!(
            last_per_start(&mut pts),
            Ingested {
                added: 0,
                replaced: 1,
                unchanged: 1
            }
        );
        assert_eq!(pts, vec![p(1, 5.0), p(2, 4.0)]);
    }
}
