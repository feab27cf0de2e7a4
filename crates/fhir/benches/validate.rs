//! Validation throughput over the Synthea export (about 7,000 resources of 10 patients).
//!
//! `cargo bench -p kizuna-fhir --bench validate` (figures go to BENCHMARKS.md; nothing here
//! asserts on time).

#[path = "../tests/common/mod.rs"]
mod common;

use kizuna_fhir::validate_resource;
use std::time::Instant;

fn main() {
    let Some(resources) = common::synthea() else {
        return;
    };
    let bytes: usize = resources
        .iter()
        .map(|(_, _, v)| serde_json::to_string(v).unwrap().len())
        .sum();
    // Warm up (compiles the schema and the regexes once).
    assert!(validate_resource(&resources[0].2).is_empty());
    let rounds = if cfg!(debug_assertions) { 1 } else { 5 };
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        let mut issues = 0;
        for (_, _, v) in &resources {
            issues += validate_resource(v).len();
        }
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(issues, 0);
    }
    let per_sec = resources.len() as f64 / best;
    println!(
        "validated {} Synthea resources ({:.1} MB) in {:.1} ms on one thread: {:.0} resources/s, {:.0} MB/s{}",
        resources.len(),
        bytes as f64 / 1e6,
        best * 1e3,
        per_sec,
        bytes as f64 / 1e6 / best,
        if cfg!(debug_assertions) {
            " (debug build: run with --release for a meaningful figure)"
        } else {
            ""
        }
    );
}
