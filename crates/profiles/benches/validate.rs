//! Profile validation throughput: every valid JP-CLINS example (resources and document
//! Bundles) against JP Core 1.1.2 and JP-CLINS 1.5.2, on one thread.
//!
//! `cargo bench -p kizuna-profiles --bench validate` (figures go to BENCHMARKS.md; nothing here
//! asserts on time).

use kizuna_profiles::{Conformance, package};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let base = std::env::var_os("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("jp");
    if !base.is_dir() {
        eprintln!("fixtures missing at {}: skipped", base.display());
        return;
    }
    let t = Instant::now();
    let pkgs: Vec<_> = ["jp-core.r4-1.1.2.tgz", "jp-clins.r4-1.5.2.tgz"]
        .iter()
        .map(|f| package::read(&std::fs::read(base.join("packages").join(f)).unwrap()).unwrap())
        .collect();
    let read = t.elapsed();
    let conf = Conformance::new(&pkgs).unwrap();
    let compiled = t.elapsed() - read;
    let mut examples: Vec<(String, Value)> = std::fs::read_dir(base.join("clins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains("ErrorExample"))
        .map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    examples.sort_by(|a, b| a.0.cmp(&b.0));
    let resources: usize = examples
        .iter()
        .map(|(_, v)| {
            1 + v["entry"].as_array().map_or(0, Vec::len)
                + v["contained"].as_array().map_or(0, Vec::len)
        })
        .sum();
    let rounds = if cfg!(debug_assertions) { 1 } else { 20 };
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for (_, v) in &examples {
            std::hint::black_box(conf.validate(v));
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let doc = examples
        .iter()
        .find(|(n, _)| n == "Bundle-Bundle-CLINS-Referral-Example-01.json")
        .map(|(_, v)| v)
        .unwrap();
    let mut doc_best = f64::MAX;
    for _ in 0..rounds * 5 {
        let start = Instant::now();
        std::hint::black_box(conf.validate(doc));
        doc_best = doc_best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "packages read in {:.0} ms, compiled in {:.0} ms; {} examples ({} resources counting Bundle entries and contained) validated in {:.1} ms on one thread: {:.0} resources/s; one referral document (18 entries): {:.2} ms{}",
        read.as_secs_f64() * 1e3,
        compiled.as_secs_f64() * 1e3,
        examples.len(),
        resources,
        best * 1e3,
        resources as f64 / best,
        doc_best * 1e3,
        if cfg!(debug_assertions) {
            " (debug build: run with --release for a meaningful figure)"
        } else {
            ""
        }
    );
}
