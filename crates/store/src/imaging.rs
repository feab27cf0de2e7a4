//! Images: the index of the DICOM objects kept. The objects' bytes live in object storage
//! (`kizuna-blobs`); a row here names where, with the content's hash and size, and the
//! attributes studies, series and instances are found by (QIDO-RS, C-FIND) and shown with.
//!
//! Rows are written only inside a [`crate::Batch`] (`Batch::images`), in the same transaction
//! as the `ImagingStudy` resource that stands for the study in the record: a study is visible to
//! a caller exactly when its `ImagingStudy` is ([`crate::Access`] on that resource's row), so
//! images follow the record's access rules by construction. A batch carries, for each object,
//! a [`crate::Condition::Image`] on what is stored under its SOP Instance UID, so an object is
//! never stored twice, and one whose content differs from what is kept is never silently
//! replaced.
//!
//! The store does not interpret DICOM: which attribute maps to which column, and what a
//! matching key means, is decided by the caller (`kizuna-records`); here are only columns and
//! tests on them.

use crate::search::{Arg, Dialect, Sql};
use crate::{Access, Micros, StoreError};
use std::sync::Arc;

/// One object to index (and, with it, its series and study, made if new).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageRow {
    pub sop_uid: String,
    pub series_uid: String,
    pub study_uid: String,
    /// The id of the `ImagingStudy` resource standing for the study.
    pub study_res: String,
    /// The id of the Patient the study is about.
    pub patient: String,
    pub sop_class: String,
    pub instance_number: Option<i64>,
    pub transfer_syntax: String,
    pub frames: i64,
    /// Where the bytes are (the object storage key).
    pub blob: String,
    pub size: i64,
    /// SHA-256 of the bytes, hex.
    pub hash: String,
    pub received: Micros,
    /// The object's attributes as DICOM JSON, bulk data by reference.
    pub attrs: String,
    pub series: SeriesAttrs,
    pub study: StudyAttrs,
}

/// The attributes of a series, taken from its first object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesAttrs {
    pub modality: Option<String>,
    pub number: Option<i64>,
    pub description: Option<String>,
}

/// The attributes of a study, taken from its first object. `*_key` columns hold the caller's
/// normalized forms, which name matching compares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudyAttrs {
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    pub name_key: Option<String>,
    /// ` word word … ` (each normalized word between spaces), for matching by word prefix.
    pub name_words: Option<String>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    pub date: Option<String>,
    pub time: Option<String>,
    pub accession: Option<String>,
    pub study_id: Option<String>,
    pub referring: Option<String>,
    pub referring_key: Option<String>,
    pub description: Option<String>,
}

/// The level a query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Study,
    Series,
    Instance,
}

/// A column a query may test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    StudyUid,
    PatientId,
    /// The normalized name (`name_key`).
    PatientName,
    /// ` word … ` of the name.
    PatientNameWords,
    BirthDate,
    Sex,
    StudyDate,
    StudyTime,
    Accession,
    StudyId,
    Referring,
    StudyDescription,
    /// At study level: any of the study's series (ModalitiesInStudy).
    Modality,
    SeriesUid,
    SeriesNumber,
    SeriesDescription,
    SopUid,
    SopClass,
    InstanceNumber,
    /// The Patient resource (id) the study is about.
    Patient,
}

impl Column {
    fn sql(self) -> &'static str {
        match self {
            Column::StudyUid => "s.study_uid",
            Column::PatientId => "s.patient_id",
            Column::PatientName => "s.name_key",
            Column::PatientNameWords => "s.name_words",
            Column::BirthDate => "s.birth_date",
            Column::Sex => "s.sex",
            Column::StudyDate => "s.study_date",
            Column::StudyTime => "s.study_time",
            Column::Accession => "s.accession",
            Column::StudyId => "s.study_id",
            Column::Referring => "s.referring_key",
            Column::StudyDescription => "s.description",
            Column::Modality => "se.modality",
            Column::SeriesUid => "se.series_uid",
            Column::SeriesNumber => "se.series_number",
            Column::SeriesDescription => "se.description",
            Column::SopUid => "i.sop_uid",
            Column::SopClass => "i.sop_class",
            Column::InstanceNumber => "i.instance_number",
            Column::Patient => "s.patient",
        }
    }
}

/// A test on a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// Equal to one of these.
    AnyOf(Vec<String>),
    /// Matches a pattern of literal text and wildcards.
    Like(Vec<Piece>),
    /// Within `[low, high]` (text order; either end open).
    Between(Option<String>, Option<String>),
    /// An integer equal to this.
    Int(i64),
    /// Each of these begins a word (the column holds ` word word … `).
    WordPrefixes(Vec<String>),
}

/// A piece of a [`Test::Like`] pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// Any run of characters (`*`).
    Any,
    /// One character (`?`).
    One,
}

/// A query of the index.
#[derive(Debug, Clone)]
pub struct ImageQuery {
    pub level: Level,
    pub filters: Vec<(Column, Test)>,
    pub offset: usize,
    /// At most this many rows (None: all).
    pub limit: Option<usize>,
    /// Whether rows carry the attributes (DICOM JSON) of their object (at study and series
    /// level: the first object of the study or series).
    pub with_attrs: bool,
    /// What the caller may see; None: everything (the node).
    pub access: Option<Arc<Access>>,
}

/// One row a query found: a study, series or instance, with the study and series it is in;
/// at study and series level, the instance columns are those of its first object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub study_uid: String,
    pub study_res: String,
    pub patient: String,
    pub study: StudyAttrs,
    pub study_series: i64,
    pub study_instances: i64,
    /// The distinct modalities of the study's series.
    pub modalities: Vec<String>,
    pub series_uid: String,
    pub series: SeriesAttrs,
    pub series_instances: i64,
    pub sop_uid: String,
    pub sop_class: String,
    pub instance_number: Option<i64>,
    pub transfer_syntax: String,
    pub frames: i64,
    pub blob: String,
    pub size: i64,
    pub hash: String,
    /// Empty unless asked for (`with_attrs`).
    pub attrs: String,
}

const COLUMNS: &str = "s.study_uid, s.study_res, s.patient, s.patient_id, s.patient_name, \
    s.birth_date, s.sex, s.study_date, s.study_time, s.accession, s.study_id, s.referring, \
    s.description, s.n_series, s.n_instances, se.series_uid, se.modality, se.series_number, \
    se.description, se.n_instances, i.sop_uid, i.sop_class, i.instance_number, \
    i.transfer_syntax, i.frames, i.blob, i.size, i.hash";

impl ImageQuery {
    /// The statement answering the query.
    pub(crate) fn sql(&self, dialect: Dialect) -> Sql {
        let mut q = Sql::default();
        let modalities = match dialect {
            Dialect::Sqlite => {
                "(SELECT group_concat(m, ',') FROM (SELECT DISTINCT m.modality AS m FROM dicom_series m WHERE m.study_uid = s.study_uid AND m.modality IS NOT NULL ORDER BY 1))"
            }
            Dialect::Postgres => {
                "(SELECT string_agg(DISTINCT m.modality, ',' ORDER BY m.modality) FROM dicom_series m WHERE m.study_uid = s.study_uid)"
            }
        };
        let attrs = if self.with_attrs { "i.attrs" } else { "''" };
        q.push(&format!("SELECT {COLUMNS}, {modalities}, {attrs} FROM "));
        q.push(match self.level {
            Level::Study => {
                "dicom_study s JOIN dicom_instance i ON i.sop_uid = s.first_sop \
                 JOIN dicom_series se ON se.series_uid = i.series_uid"
            }
            Level::Series => {
                "dicom_series se JOIN dicom_study s ON s.study_uid = se.study_uid \
                 JOIN dicom_instance i ON i.sop_uid = se.first_sop"
            }
            Level::Instance => {
                "dicom_instance i JOIN dicom_series se ON se.series_uid = i.series_uid \
                 JOIN dicom_study s ON s.study_uid = i.study_uid"
            }
        });
        q.push(" JOIN resource r ON r.type = 'ImagingStudy' AND r.id = s.study_res WHERE NOT r.deleted");
        if let Some(access) = &self.access {
            q.push(" AND ");
            access.condition_on("r", &mut q);
        }
        for (column, test) in &self.filters {
            q.push(" AND ");
            if *column == Column::Modality && self.level == Level::Study {
                q.push(
                    "EXISTS (SELECT 1 FROM dicom_series se WHERE se.study_uid = s.study_uid AND ",
                );
                test_sql(&mut q, *column, test, dialect);
                q.push(")");
            } else {
                test_sql(&mut q, *column, test, dialect);
            }
        }
        q.push(match self.level {
            Level::Study => " ORDER BY s.study_key",
            Level::Series => " ORDER BY se.series_key",
            Level::Instance => " ORDER BY i.inst_key",
        });
        if let Some(limit) = self.limit {
            q.push(" LIMIT ");
            q.arg(Arg::I64(limit as i64));
        } else if dialect == Dialect::Sqlite && self.offset > 0 {
            q.push(" LIMIT -1");
        }
        if self.offset > 0 {
            q.push(" OFFSET ");
            q.arg(Arg::I64(self.offset as i64));
        }
        q
    }
}

fn test_sql(q: &mut Sql, column: Column, test: &Test, dialect: Dialect) {
    let c = column.sql();
    match test {
        Test::AnyOf(values) if values.is_empty() => q.push("1 = 0"),
        Test::AnyOf(values) => {
            q.push(&format!("{c} IN ("));
            for (n, v) in values.iter().enumerate() {
                if n > 0 {
                    q.push(", ");
                }
                q.text_arg(v);
            }
            q.push(")");
        }
        Test::Int(n) => {
            q.push(&format!("{c} = "));
            q.arg(Arg::I64(*n));
        }
        Test::Between(low, high) => {
            q.push("(1 = 1");
            if let Some(l) = low {
                q.push(&format!(" AND {c} >= "));
                q.text_arg(l);
            }
            if let Some(h) = high {
                q.push(&format!(" AND {c} <= "));
                q.text_arg(h);
            }
            q.push(&format!(" AND {c} IS NOT NULL)"));
        }
        Test::Like(pieces) => {
            q.push(&format!("{c} LIKE "));
            q.text_arg(&like_pattern(pieces));
            q.push(" ESCAPE '!'");
            if dialect == Dialect::Sqlite {
                // SQLite's LIKE folds ASCII case; the pattern must match exactly.
                q.push(&format!(" AND {c} GLOB "));
                q.text_arg(&glob_pattern(pieces));
            }
        }
        Test::WordPrefixes(words) => {
            q.push("(1 = 1");
            for w in words {
                q.push(&format!(" AND {c} LIKE "));
                let pieces = [Piece::Text(format!(" {w}")), Piece::Any];
                q.text_arg(&format!("%{}", like_pattern(&pieces)));
                q.push(" ESCAPE '!'");
            }
            q.push(")");
        }
    }
}

/// The pattern as SQL `LIKE` text with `!` as its escape.
fn like_pattern(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Any => out.push('%'),
            Piece::One => out.push('_'),
            Piece::Text(t) => {
                for ch in t.chars() {
                    if matches!(ch, '%' | '_' | '!') {
                        out.push('!');
                    }
                    out.push(ch);
                }
            }
        }
    }
    out
}

/// The pattern as SQLite `GLOB` text (case-sensitive).
fn glob_pattern(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Any => out.push('*'),
            Piece::One => out.push('?'),
            Piece::Text(t) => {
                for ch in t.chars() {
                    match ch {
                        '*' | '?' | '[' => {
                            out.push('[');
                            out.push(ch);
                            out.push(']');
                        }
                        _ => out.push(ch),
                    }
                }
            }
        }
    }
    out
}

/// The failure of a batch whose image row `sop_uid` was indexed meanwhile: its `NoImage`
/// condition no longer holds.
pub(crate) fn conflict(conditions: &[crate::Condition], sop_uid: &str) -> StoreError {
    conditions
        .iter()
        .position(|c| matches!(c, crate::Condition::NoImage { sop_uid: s, .. } if s == sop_uid))
        .map(|index| StoreError::ConditionFailed {
            index,
            on_fail: conditions[index].on_fail(),
        })
        .unwrap_or_else(|| {
            StoreError::Backend("internal error: an image row came without its condition".into())
        })
}

fn split_modalities(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

// --- SQLite -------------------------------------------------------------------------------

fn found_sqlite(r: &rusqlite::Row) -> rusqlite::Result<Found> {
    Ok(Found {
        study_uid: r.get(0)?,
        study_res: r.get(1)?,
        patient: r.get(2)?,
        study: StudyAttrs {
            patient_id: r.get(3)?,
            patient_name: r.get(4)?,
            birth_date: r.get(5)?,
            sex: r.get(6)?,
            date: r.get(7)?,
            time: r.get(8)?,
            accession: r.get(9)?,
            study_id: r.get(10)?,
            referring: r.get(11)?,
            description: r.get(12)?,
            ..Default::default()
        },
        study_series: r.get(13)?,
        study_instances: r.get(14)?,
        series_uid: r.get(15)?,
        series: SeriesAttrs {
            modality: r.get(16)?,
            number: r.get(17)?,
            description: r.get(18)?,
        },
        series_instances: r.get(19)?,
        sop_uid: r.get(20)?,
        sop_class: r.get(21)?,
        instance_number: r.get(22)?,
        transfer_syntax: r.get(23)?,
        frames: r.get(24)?,
        blob: r.get(25)?,
        size: r.get(26)?,
        hash: r.get(27)?,
        modalities: split_modalities(r.get(28)?),
        attrs: r.get(29)?,
    })
}

pub(crate) fn query_sqlite(
    c: &rusqlite::Connection,
    q: &ImageQuery,
) -> Result<Vec<Found>, StoreError> {
    let sql = q.sql(Dialect::Sqlite);
    let mut st = c.prepare_cached(&sql.text)?;
    let args = crate::sqlite::bind_args(&sql.args);
    let rows = st.query_map(rusqlite::params_from_iter(args), found_sqlite)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The stored hash of each of `sops` (None: not stored).
pub(crate) fn stored_sqlite(
    c: &rusqlite::Connection,
    sop: &str,
) -> Result<Option<String>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(
        c.prepare_cached("SELECT hash FROM dicom_instance WHERE sop_uid = ?1")?
            .query_row([sop], |r| r.get(0))
            .optional()?,
    )
}

/// Inserts `rows` inside the writer's transaction; Err(i) if the `i`-th is already stored.
pub(crate) fn insert_sqlite(
    c: &rusqlite::Connection,
    rows: &[ImageRow],
) -> Result<Result<(), usize>, StoreError> {
    for (n, row) in rows.iter().enumerate() {
        let added = c
            .prepare_cached(
                "INSERT INTO dicom_instance (sop_uid, series_uid, study_uid, sop_class, \
                 instance_number, transfer_syntax, frames, blob, size, hash, received, attrs) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (sop_uid) DO NOTHING",
            )?
            .execute(rusqlite::params![
                row.sop_uid,
                row.series_uid,
                row.study_uid,
                row.sop_class,
                row.instance_number,
                row.transfer_syntax,
                row.frames,
                row.blob,
                row.size,
                row.hash,
                row.received,
                row.attrs
            ])?;
        if added == 0 {
            return Ok(Err(n));
        }
        let s = &row.series;
        c.prepare_cached(
            "INSERT INTO dicom_series (series_uid, study_uid, modality, series_number, \
             description, n_instances, first_sop) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6) \
             ON CONFLICT (series_uid) DO NOTHING",
        )?
        .execute(rusqlite::params![
            row.series_uid,
            row.study_uid,
            s.modality,
            s.number,
            s.description,
            row.sop_uid
        ])?;
        c.prepare_cached(
            "UPDATE dicom_series SET n_instances = n_instances + 1 WHERE series_uid = ?1",
        )?
        .execute([&row.series_uid])?;
        let a = &row.study;
        c.prepare_cached(
            "INSERT INTO dicom_study (study_uid, study_res, patient, patient_id, patient_name, \
             name_key, name_words, birth_date, sex, study_date, study_time, accession, study_id, \
             referring, referring_key, description, n_series, n_instances, first_sop) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 0, 0, ?17) \
             ON CONFLICT (study_uid) DO NOTHING",
        )?
        .execute(rusqlite::params![
            row.study_uid,
            row.study_res,
            row.patient,
            a.patient_id,
            a.patient_name,
            a.name_key,
            a.name_words,
            a.birth_date,
            a.sex,
            a.date,
            a.time,
            a.accession,
            a.study_id,
            a.referring,
            a.referring_key,
            a.description,
            row.sop_uid
        ])?;
        c.prepare_cached(
            "UPDATE dicom_study SET n_instances = n_instances + 1, \
             n_series = (SELECT count(*) FROM dicom_series WHERE study_uid = ?1) WHERE study_uid = ?1",
        )?
        .execute([&row.study_uid])?;
    }
    Ok(Ok(()))
}

// --- PostgreSQL ---------------------------------------------------------------------------

fn found_pg(r: &tokio_postgres::Row) -> Found {
    Found {
        study_uid: r.get(0),
        study_res: r.get(1),
        patient: r.get(2),
        study: StudyAttrs {
            patient_id: r.get(3),
            patient_name: r.get(4),
            birth_date: r.get(5),
            sex: r.get(6),
            date: r.get(7),
            time: r.get(8),
            accession: r.get(9),
            study_id: r.get(10),
            referring: r.get(11),
            description: r.get(12),
            ..Default::default()
        },
        study_series: r.get(13),
        study_instances: r.get(14),
        series_uid: r.get(15),
        series: SeriesAttrs {
            modality: r.get(16),
            number: r.get(17),
            description: r.get(18),
        },
        series_instances: r.get(19),
        sop_uid: r.get(20),
        sop_class: r.get(21),
        instance_number: r.get(22),
        transfer_syntax: r.get(23),
        frames: r.get(24),
        blob: r.get(25),
        size: r.get(26),
        hash: r.get(27),
        modalities: split_modalities(r.get(28)),
        attrs: r.get(29),
    }
}

pub(crate) async fn query_postgres(
    c: &impl tokio_postgres::GenericClient,
    q: &ImageQuery,
) -> Result<Vec<Found>, StoreError> {
    let sql = q.sql(Dialect::Postgres);
    let args = crate::postgres::bind_args(&sql.args);
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|a| &**a as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let rows = c.query(&sql.numbered(), &refs).await?;
    Ok(rows.iter().map(found_pg).collect())
}

pub(crate) async fn stored_postgres(
    c: &impl tokio_postgres::GenericClient,
    sop: &str,
) -> Result<Option<String>, StoreError> {
    Ok(c.query_opt(
        "SELECT hash FROM dicom_instance WHERE sop_uid = $1",
        &[&sop],
    )
    .await?
    .map(|r| r.get(0)))
}

pub(crate) async fn insert_postgres(
    c: &impl tokio_postgres::GenericClient,
    rows: &[ImageRow],
) -> Result<Result<(), usize>, StoreError> {
    for (n, row) in rows.iter().enumerate() {
        let added = c
            .execute(
                "INSERT INTO dicom_instance (sop_uid, series_uid, study_uid, sop_class, \
                 instance_number, transfer_syntax, frames, blob, size, hash, received, attrs) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (sop_uid) DO NOTHING",
                &[
                    &row.sop_uid,
                    &row.series_uid,
                    &row.study_uid,
                    &row.sop_class,
                    &row.instance_number,
                    &row.transfer_syntax,
                    &row.frames,
                    &row.blob,
                    &row.size,
                    &row.hash,
                    &row.received,
                    &row.attrs,
                ],
            )
            .await?;
        if added == 0 {
            return Ok(Err(n));
        }
        let s = &row.series;
        c.execute(
            "INSERT INTO dicom_series (series_uid, study_uid, modality, series_number, \
             description, n_instances, first_sop) VALUES ($1, $2, $3, $4, $5, 0, $6) \
             ON CONFLICT (series_uid) DO NOTHING",
            &[
                &row.series_uid,
                &row.study_uid,
                &s.modality,
                &s.number,
                &s.description,
                &row.sop_uid,
            ],
        )
        .await?;
        c.execute(
            "UPDATE dicom_series SET n_instances = n_instances + 1 WHERE series_uid = $1",
            &[&row.series_uid],
        )
        .await?;
        let a = &row.study;
        c.execute(
            "INSERT INTO dicom_study (study_uid, study_res, patient, patient_id, patient_name, \
             name_key, name_words, birth_date, sex, study_date, study_time, accession, study_id, \
             referring, referring_key, description, n_series, n_instances, first_sop) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0, 0, $17) \
             ON CONFLICT (study_uid) DO NOTHING",
            &[
                &row.study_uid,
                &row.study_res,
                &row.patient,
                &a.patient_id,
                &a.patient_name,
                &a.name_key,
                &a.name_words,
                &a.birth_date,
                &a.sex,
                &a.date,
                &a.time,
                &a.accession,
                &a.study_id,
                &a.referring,
                &a.referring_key,
                &a.description,
                &row.sop_uid,
            ],
        )
        .await?;
        c.execute(
            "UPDATE dicom_study SET n_instances = n_instances + 1, \
             n_series = (SELECT count(*) FROM dicom_series WHERE study_uid = $1) WHERE study_uid = $1",
            &[&row.study_uid],
        )
        .await?;
    }
    Ok(Ok(()))
}

/// Migration 10, SQLite.
pub(crate) const MIGRATION_SQLITE: &str = "CREATE TABLE dicom_study (
        study_key INTEGER PRIMARY KEY,
        study_uid TEXT NOT NULL UNIQUE,
        study_res TEXT NOT NULL,
        patient TEXT NOT NULL,
        patient_id TEXT,
        patient_name TEXT,
        name_key TEXT,
        name_words TEXT,
        birth_date TEXT,
        sex TEXT,
        study_date TEXT,
        study_time TEXT,
        accession TEXT,
        study_id TEXT,
        referring TEXT,
        referring_key TEXT,
        description TEXT,
        n_series INTEGER NOT NULL,
        n_instances INTEGER NOT NULL,
        first_sop TEXT NOT NULL
    );
    CREATE INDEX dicom_study_patient_id ON dicom_study (patient_id);
    CREATE INDEX dicom_study_date ON dicom_study (study_date);
    CREATE INDEX dicom_study_accession ON dicom_study (accession);
    CREATE INDEX dicom_study_patient ON dicom_study (patient);
    CREATE TABLE dicom_series (
        series_key INTEGER PRIMARY KEY,
        series_uid TEXT NOT NULL UNIQUE,
        study_uid TEXT NOT NULL,
        modality TEXT,
        series_number INTEGER,
        description TEXT,
        n_instances INTEGER NOT NULL,
        first_sop TEXT NOT NULL
    );
    CREATE INDEX dicom_series_study ON dicom_series (study_uid);
    CREATE TABLE dicom_instance (
        inst_key INTEGER PRIMARY KEY,
        sop_uid TEXT NOT NULL UNIQUE,
        series_uid TEXT NOT NULL,
        study_uid TEXT NOT NULL,
        sop_class TEXT NOT NULL,
        instance_number INTEGER,
        transfer_syntax TEXT NOT NULL,
        frames INTEGER NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        hash TEXT NOT NULL,
        received INTEGER NOT NULL,
        attrs TEXT NOT NULL
    );
    CREATE INDEX dicom_instance_series ON dicom_instance (series_uid, inst_key);
    CREATE INDEX dicom_instance_study ON dicom_instance (study_uid, inst_key);";

/// Migration 10, PostgreSQL (text compares bytewise, as everywhere in this store).
pub(crate) const MIGRATION_POSTGRES: &str = "CREATE TABLE dicom_study (
        study_key BIGSERIAL PRIMARY KEY,
        study_uid TEXT COLLATE \"C\" NOT NULL UNIQUE,
        study_res TEXT COLLATE \"C\" NOT NULL,
        patient TEXT COLLATE \"C\" NOT NULL,
        patient_id TEXT COLLATE \"C\",
        patient_name TEXT COLLATE \"C\",
        name_key TEXT COLLATE \"C\",
        name_words TEXT COLLATE \"C\",
        birth_date TEXT COLLATE \"C\",
        sex TEXT COLLATE \"C\",
        study_date TEXT COLLATE \"C\",
        study_time TEXT COLLATE \"C\",
        accession TEXT COLLATE \"C\",
        study_id TEXT COLLATE \"C\",
        referring TEXT COLLATE \"C\",
        referring_key TEXT COLLATE \"C\",
        description TEXT COLLATE \"C\",
        n_series BIGINT NOT NULL,
        n_instances BIGINT NOT NULL,
        first_sop TEXT COLLATE \"C\" NOT NULL
    );
    CREATE INDEX dicom_study_patient_id ON dicom_study (patient_id);
    CREATE INDEX dicom_study_date ON dicom_study (study_date);
    CREATE INDEX dicom_study_accession ON dicom_study (accession);
    CREATE INDEX dicom_study_patient ON dicom_study (patient);
    CREATE TABLE dicom_series (
        series_key BIGSERIAL PRIMARY KEY,
        series_uid TEXT COLLATE \"C\" NOT NULL UNIQUE,
        study_uid TEXT COLLATE \"C\" NOT NULL,
        modality TEXT COLLATE \"C\",
        series_number BIGINT,
        description TEXT COLLATE \"C\",
        n_instances BIGINT NOT NULL,
        first_sop TEXT COLLATE \"C\" NOT NULL
    );
    CREATE INDEX dicom_series_study ON dicom_series (study_uid);
    CREATE TABLE dicom_instance (
        inst_key BIGSERIAL PRIMARY KEY,
        sop_uid TEXT COLLATE \"C\" NOT NULL UNIQUE,
        series_uid TEXT COLLATE \"C\" NOT NULL,
        study_uid TEXT COLLATE \"C\" NOT NULL,
        sop_class TEXT COLLATE \"C\" NOT NULL,
        instance_number BIGINT,
        transfer_syntax TEXT COLLATE \"C\" NOT NULL,
        frames BIGINT NOT NULL,
        blob TEXT COLLATE \"C\" NOT NULL,
        size BIGINT NOT NULL,
        hash TEXT COLLATE \"C\" NOT NULL,
        received BIGINT NOT NULL,
        attrs TEXT NOT NULL
    );
    CREATE INDEX dicom_instance_series ON dicom_instance (series_uid, inst_key);
    CREATE INDEX dicom_instance_study ON dicom_instance (study_uid, inst_key);";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_what_they_do_not_mean() {
        let p = [
            Piece::Text("a%_!".into()),
            Piece::Any,
            Piece::Text("b*?[".into()),
            Piece::One,
        ];
        assert_eq!(like_pattern(&p), "a!%!_!!%b*?[_");
        assert_eq!(glob_pattern(&p), "a%_!*b[*][?][[]?");
    }
}
