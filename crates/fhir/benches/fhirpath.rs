//! FHIRPath throughput: every applicable R4 search-parameter expression (and composite
//! component) evaluated on every resource of the Synthea export (about 7,000 resources of 10
//! patients), expressions parsed once beforehand.
//!
//! `cargo bench -p kizuna-fhir --bench fhirpath` (figures go to BENCHMARKS.md; nothing here
//! asserts on time).

#[path = "../tests/common/mod.rs"]
mod common;

use kizuna_fhir::fhirpath::{self, Expr};
use std::collections::HashMap;
use std::time::Instant;

/// A search parameter's expression and its composite components.
struct Param {
    expr: Expr,
    components: Vec<Expr>,
}

fn main() {
    let Some(resources) = common::synthea() else {
        return;
    };
    let defs = kizuna_fhir::r4();
    let start = Instant::now();
    let mut params: Vec<(Vec<String>, Param)> = Vec::new();
    for p in defs.search_parameters() {
        let Some(e) = &p.expression else { continue };
        let expr = fhirpath::parse(e).expect("parses");
        let components = p
            .components
            .iter()
            .map(|(_, c)| fhirpath::parse(c).expect("parses"))
            .collect();
        params.push((p.base.clone(), Param { expr, components }));
    }
    let parse_time = start.elapsed();

    // The parameters of each resource type (as an indexer would keep them).
    let mut by_type: HashMap<&str, Vec<&Param>> = HashMap::new();
    for (_, _, r) in &resources {
        let rt = r["resourceType"].as_str().unwrap_or_default();
        by_type.entry(rt).or_insert_with(|| {
            params
                .iter()
                .filter(|(base, _)| {
                    base.iter().any(|b| {
                        b == rt
                            || b == "Resource"
                            || (b == "DomainResource"
                                && !matches!(rt, "Bundle" | "Binary" | "Parameters"))
                    })
                })
                .map(|(_, p)| p)
                .collect()
        });
    }

    let run = || {
        let (mut evaluations, mut items) = (0usize, 0usize);
        for (_, _, r) in &resources {
            let rt = r["resourceType"].as_str().unwrap_or_default();
            for p in &by_type[rt] {
                let found = fhirpath::evaluate(&p.expr, r).expect("evaluates");
                evaluations += 1;
                items += found.len();
                for c in &p.components {
                    for item in &found {
                        let v = fhirpath::evaluate_on(c, r, std::slice::from_ref(item))
                            .expect("evaluates");
                        evaluations += 1;
                        items += v.len();
                    }
                }
            }
        }
        (evaluations, items)
    };
    run(); // warm up (compiles the type model once)
    let rounds = if cfg!(debug_assertions) { 1 } else { 5 };
    let mut best = f64::MAX;
    let mut counts = (0, 0);
    for _ in 0..rounds {
        let start = Instant::now();
        counts = run();
        best = best.min(start.elapsed().as_secs_f64());
    }
    let (evaluations, items) = counts;
    println!(
        "parsed {} search-parameter expressions in {:.1} ms",
        params.len(),
        parse_time.as_secs_f64() * 1e3
    );
    println!(
        "evaluated {evaluations} expressions ({:.1} per resource, {items} items found) on {} \
         Synthea resources in {:.1} ms on one thread: {:.0} expressions/s, {:.1} µs per \
         resource{}",
        evaluations as f64 / resources.len() as f64,
        resources.len(),
        best * 1e3,
        evaluations as f64 / best,
        best * 1e6 / resources.len() as f64,
        if cfg!(debug_assertions) {
            " (debug build: run with --release for a meaningful figure)"
        } else {
            ""
        }
    );
}
