//! `kizuna-import`: bulk loading of NDJSON files and Bundles into a store.
//!
//! Owns reading files and directories (`.ndjson`: one resource per line; `.json`: a resource or a
//! Bundle whose entries are loaded), giving every resource a stable id (its own; else the
//! `urn:uuid:` of its Bundle entry, with references to it rewritten; else one derived from its
//! content), and the pipeline: a reader thread, validation on every core, and large store
//! batches. Loading the same files twice creates no duplicates and no new versions.
//!
//! Must never: stop at a bad line (it is reported with its reason and the rest still loads),
//! log resource content, or draw progress itself (the caller gets [`Progress`] events).

use kizuna_fhir::Issue;
use kizuna_records::prepare_import;
use kizuna_store::{Batch, Store, StoreError, Write, WriteOutcome};
use serde_json::Value;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Resources per store batch.
const CHUNK: usize = 1000;
/// Chunks validated or committed at once.
const IN_FLIGHT: usize = 8;
/// At most about this many resources in one commit.
const MAX_COMMIT: usize = 8 * CHUNK;
/// Rejections kept with their reasons (all are counted).
const MAX_LISTED: usize = 10_000;

/// Where a resource came from: file and line (NDJSON) or entry (Bundle).
#[derive(Debug, Clone)]
pub struct Source {
    pub file: Arc<PathBuf>,
    pub line: u64,
    /// Bundle entry index, for `.json` Bundles.
    pub entry: Option<usize>,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry {
            Some(e) => write!(f, "{}: entry[{e}]", self.file.display()),
            None => write!(f, "{}:{}", self.file.display(), self.line),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rejection {
    pub source: Source,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: usize,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// The first rejections with their reasons.
    pub rejections: Vec<Rejection>,
    pub by_type: HashMap<String, u64>,
}

impl Report {
    pub fn accepted(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }
}

/// Progress events for a progress bar.
pub trait Progress: Send + Sync {
    /// The total bytes of all input files, once known.
    fn start(&self, total_bytes: u64);
    /// Bytes of input read and resources stored since the last call.
    fn advance(&self, bytes: u64, resources: u64);
}

/// No progress display.
pub struct Quiet;
impl Progress for Quiet {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error(
        "the store refused a batch: {0} (everything before it is stored; importing again resumes safely)"
    )]
    Store(#[from] StoreError),
    #[error("the installed implementation guides cannot be loaded: {0}")]
    Profiles(String),
}

/// One unit of work from the reader: raw text of resources with their sources.
struct Chunk {
    items: Vec<(Source, Item)>,
    bytes: u64,
}

enum Item {
    Text(String),
    Parsed(Value),
    Bad(String),
}

/// Loads `paths` (files or directories) into `store`.
pub async fn import(
    store: &Store,
    paths: &[PathBuf],
    progress: Arc<dyn Progress>,
) -> Result<Report, ImportError> {
    let files = collect_files(paths)?;
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    progress.start(total);
    let count = files.len();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Chunk, ImportError>>(IN_FLIGHT);
    let reader = std::thread::spawn(move || {
        for f in files {
            if let Err(e) = read_file(&f, &tx) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    });
    let mut report = pipeline(store, rx, progress).await?;
    let _ = reader.join();
    report.files = count;
    Ok(report)
}

/// Loads resources made by `source` (e.g. a synthetic data generator) into `store`, through the
/// same validation and batching as files. `label` names the source in rejections; progress
/// counts one unit per item `source` yields (each item may hold several resources).
pub async fn load<I>(
    store: &Store,
    label: &str,
    source: I,
    progress: Arc<dyn Progress>,
) -> Result<Report, ImportError>
where
    I: Iterator<Item = Vec<Value>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Chunk, ImportError>>(IN_FLIGHT);
    let file = Arc::new(PathBuf::from(label));
    let producer = std::thread::spawn(move || {
        let mut out = Chunker::new(&tx);
        let mut n = 0u64;
        for group in source {
            out.add_bytes(1);
            for v in group {
                n += 1;
                let source = Source {
                    file: file.clone(),
                    line: n,
                    entry: None,
                };
                if !out.push(source, Item::Parsed(v)) {
                    return;
                }
            }
        }
        out.finish();
    });
    let report = pipeline(store, rx, progress).await?;
    let _ = producer.join();
    Ok(report)
}

/// Validation on the blocking pool (`IN_FLIGHT` chunks at once) and commits in arrival order.
async fn pipeline(
    store: &Store,
    mut rx: tokio::sync::mpsc::Receiver<Result<Chunk, ImportError>>,
    progress: Arc<dyn Progress>,
) -> Result<Report, ImportError> {
    let mut report = Report::default();
    let mut pending = std::collections::VecDeque::new();
    // Imported resources meet the installed profiles they claim, as any write does.
    let profiles = kizuna_records::profiles::Profiles::default();
    profiles
        .refresh(store)
        .await
        .map_err(|e| ImportError::Profiles(e.to_string()))?;
    let profiles = profiles.current();
    // Validation leaves one core to the store's writer, which is the slower stage: on two
    // cores, letting validation take both made the import about a fifth slower.
    let workers =
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
    let gate = Arc::new(tokio::sync::Semaphore::new(workers));
    loop {
        // Keep IN_FLIGHT chunks validating while the oldest commits.
        while pending.len() < IN_FLIGHT {
            match rx.recv().await {
                Some(Ok(chunk)) => {
                    let gate = gate.clone();
                    let profiles = profiles.clone();
                    pending.push_back(tokio::spawn(async move {
                        let _permit = gate.acquire_owned().await;
                        tokio::task::spawn_blocking(move || prepare(chunk, &profiles)).await
                    }))
                }
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        let Some(next) = pending.pop_front() else {
            break;
        };
        let (mut prepared, mut bytes) = joined(next).await?;
        // Chunks already validated join this commit: fewer, larger commits write each index
        // page fewer times.
        while prepared.len() < MAX_COMMIT && pending.front().is_some_and(|h| h.is_finished()) {
            let Some(h) = pending.pop_front() else { break };
            let (more, more_bytes) = joined(h).await?;
            prepared.extend(more);
            bytes += more_bytes;
        }
        let mut writes = Vec::with_capacity(prepared.len());
        let mut kinds = Vec::with_capacity(prepared.len());
        for (source, result) in prepared {
            match result {
                Ok((rtype, w)) => {
                    kinds.push(rtype);
                    writes.push(w);
                }
                Err(reason) => {
                    report.rejected += 1;
                    if report.rejections.len() < MAX_LISTED {
                        report.rejections.push(Rejection { source, reason });
                    }
                }
            }
        }
        let stored = writes.len() as u64;
        if !writes.is_empty() {
            let written = store
                .commit(Batch {
                    conditions: vec![],
                    writes,
                    ..Default::default()
                })
                .await?;
            for (w, rtype) in written.iter().zip(kinds) {
                match w.outcome {
                    WriteOutcome::Created => report.created += 1,
                    WriteOutcome::Unchanged => report.unchanged += 1,
                    _ => report.updated += 1,
                }
                *report.by_type.entry(rtype).or_default() += 1;
            }
        }
        progress.advance(bytes, stored);
    }
    Ok(report)
}

/// The result of a validation task (a panic in one is reported, not propagated).
async fn joined(
    h: tokio::task::JoinHandle<Result<(Prepared, u64), tokio::task::JoinError>>,
) -> Result<(Prepared, u64), ImportError> {
    h.await.and_then(|r| r).map_err(|e| ImportError::Input {
        path: PathBuf::new(),
        message: e.to_string(),
    })
}

/// Files to read, in a stable order: given files as they are, directories recursively.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| ImportError::Input {
            path: p.clone(),
            message: format!(
                "cannot read it ({e}); give NDJSON files, Bundle .json files or directories of them"
            ),
        })?;
        if meta.is_dir() {
            let mut stack = vec![p.clone()];
            let mut found = Vec::new();
            while let Some(dir) = stack.pop() {
                let rd = std::fs::read_dir(&dir).map_err(|e| ImportError::Input {
                    path: dir.clone(),
                    message: e.to_string(),
                })?;
                for entry in rd.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if is_loadable(&path) {
                        found.push(path);
                    }
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn is_loadable(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("ndjson" | "json" | "jsonl")
    )
}

fn read_file(path: &Path, tx: &Sender) -> Result<(), ImportError> {
    let file = Arc::new(path.to_path_buf());
    let input_err = |e: std::io::Error| ImportError::Input {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut out = Chunker::new(tx);
    if path.extension().and_then(|e| e.to_str()) == Some("json") {
        let bytes = std::fs::read(path).map_err(input_err)?;
        out.add_bytes(bytes.len() as u64);
        let items = match kizuna_fhir::json::parse(&bytes) {
            Ok(v) => bundle_items(&file, v),
            Err(e) => {
                vec![(
                    Source {
                        file: file.clone(),
                        line: 1,
                        entry: None,
                    },
                    Item::Bad(format!("not valid JSON: {e}")),
                )]
            }
        };
        for (source, item) in items {
            if !out.push(source, item) {
                return Ok(());
            }
        }
        out.finish();
        return Ok(());
    }
    let f = std::fs::File::open(path).map_err(input_err)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, f);
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(input_err)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        out.add_bytes(n as u64);
        let source = Source {
            file: file.clone(),
            line: line_no,
            entry: None,
        };
        let item = match std::str::from_utf8(&buf) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => Item::Text(line.trim().to_string()),
            Err(_) => Item::Bad("not UTF-8 text".into()),
        };
        if !out.push(source, item) {
            return Ok(());
        }
    }
    out.finish();
    Ok(())
}

type Sender = tokio::sync::mpsc::Sender<Result<Chunk, ImportError>>;

/// Fills chunks of `CHUNK` items and sends each when full (blocking: it runs on a reader thread).
struct Chunker<'a> {
    tx: &'a Sender,
    chunk: Chunk,
}

impl<'a> Chunker<'a> {
    fn new(tx: &'a Sender) -> Chunker<'a> {
        Chunker {
            tx,
            chunk: Chunk {
                items: Vec::with_capacity(CHUNK),
                bytes: 0,
            },
        }
    }

    fn add_bytes(&mut self, n: u64) {
        self.chunk.bytes += n;
    }

    /// Adds an item; false when the pipeline has stopped listening.
    fn push(&mut self, source: Source, item: Item) -> bool {
        self.chunk.items.push((source, item));
        if self.chunk.items.len() < CHUNK {
            return true;
        }
        let full = std::mem::replace(
            &mut self.chunk,
            Chunk {
                items: Vec::with_capacity(CHUNK),
                bytes: 0,
            },
        );
        self.tx.blocking_send(Ok(full)).is_ok()
    }

    fn finish(self) {
        if !self.chunk.items.is_empty() || self.chunk.bytes > 0 {
            let _ = self.tx.blocking_send(Ok(self.chunk));
        }
    }
}

/// The resources of a `.json` file: a Bundle's entries (ids from `urn:uuid:` fullUrls, and
/// references to them rewritten), or the single resource.
fn bundle_items(file: &Arc<PathBuf>, v: Value) -> Vec<(Source, Item)> {
    let src = |entry: Option<usize>| Source {
        file: file.clone(),
        line: 1,
        entry,
    };
    if v.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return vec![(src(None), Item::Parsed(v))];
    }
    let Some(entries) = v.get("entry").and_then(Value::as_array) else {
        return vec![];
    };
    let mut map = HashMap::new();
    let mut resources = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(mut r) = e.get("resource").cloned() else {
            resources.push((src(Some(i)), Item::Bad("the entry has no resource".into())));
            continue;
        };
        let rtype = r
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let full_url = e.get("fullUrl").and_then(Value::as_str);
        if r.get("id").is_none()
            && let Some(uuid) = full_url.and_then(|u| u.strip_prefix("urn:uuid:"))
            && let Some(o) = r.as_object_mut()
        {
            o.insert("id".into(), Value::String(uuid.to_string()));
        }
        if let (Some(full), Some(id)) = (full_url, r.get("id").and_then(Value::as_str))
            && full.starts_with("urn:")
        {
            map.insert(full.to_string(), format!("{rtype}/{id}"));
        }
        resources.push((src(Some(i)), Item::Parsed(r)));
    }
    for (_, item) in &mut resources {
        if let Item::Parsed(r) = item {
            kizuna_records::rewrite_references(r, &map);
        }
    }
    resources
}

type Prepared = Vec<(Source, Result<(String, Write), String>)>;

/// Parses and validates a chunk (runs on the blocking pool, one chunk per core).
fn prepare(chunk: Chunk, profiles: &kizuna_profiles::Conformance) -> (Prepared, u64) {
    let out = chunk
        .items
        .into_iter()
        .map(|(source, item)| {
            let value = match item {
                Item::Text(t) => kizuna_fhir::json::parse(t.as_bytes())
                    .map_err(|e| format!("not valid JSON: {e}")),
                Item::Parsed(v) => Ok(v),
                Item::Bad(b) => Err(b),
            };
            let result = value.and_then(|mut v| {
                let rtype = match v.get("resourceType").and_then(Value::as_str) {
                    Some(t) => t.to_string(),
                    None => return Err("not a FHIR resource (it has no resourceType)".to_string()),
                };
                if v.get("id").is_none() {
                    // A stable id from the content, so loading twice makes no duplicate.
                    let id = uuid::Uuid::new_v5(
                        &uuid::Uuid::NAMESPACE_URL,
                        serde_json::to_string(&v).unwrap_or_default().as_bytes(),
                    );
                    if let Some(o) = v.as_object_mut() {
                        o.insert("id".into(), Value::String(id.to_string()));
                    }
                }
                prepare_import(v, profiles)
                    .map(|w| (rtype, w))
                    .map_err(|f| describe(&f.issues))
            });
            (source, result)
        })
        .collect();
    (out, chunk.bytes)
}

fn describe(issues: &[Issue]) -> String {
    let errors: Vec<String> = issues
        .iter()
        .filter(|i| i.is_error())
        .map(|i| match &i.expression {
            Some(e) => format!("{e}: {}", i.message),
            None => i.message.clone(),
        })
        .collect();
    errors.join("; ")
}
