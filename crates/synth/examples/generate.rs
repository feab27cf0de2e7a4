//! Generates NDJSON and reports counts and speed.
//!
//! `cargo run --release -p kizuna-synth --example generate -- [patients] [seed] [out.ndjson]`
//! (without an output path the NDJSON is discarded and only statistics are printed).

use std::collections::BTreeMap;
use std::time::Instant;

use kizuna_synth::{Config, Synth};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let patients = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let synth = Synth::new(Config {
        seed,
        patients,
        ..Config::default()
    });

    // Generation only (build the JSON values).
    let t = Instant::now();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    let shared = synth.institutions();
    for r in &shared {
        *counts
            .entry(r["resourceType"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    total += shared.len() as u64;
    for i in 0..patients {
        for r in synth.patient(i) {
            *counts
                .entry(r["resourceType"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
            total += 1;
        }
    }
    let gen_secs = t.elapsed().as_secs_f64();

    // Generation + NDJSON serialisation.
    let t = Instant::now();
    let written = match args.get(3) {
        Some(path) => synth.write_ndjson(&mut std::fs::File::create(path)?)?,
        None => synth.write_ndjson(&mut std::io::sink())?,
    };
    let ndjson_secs = t.elapsed().as_secs_f64();
    assert_eq!(written, total);

    for (k, v) in &counts {
        eprintln!("{k:>20} {v:>9}");
    }
    eprintln!(
        "{:>20} {total:>9} ({:.1} per patient)",
        "total",
        total as f64 / patients.max(1) as f64
    );
    eprintln!(
        "generate: {:.3}s, {:.0} resources/s",
        gen_secs,
        total as f64 / gen_secs
    );
    eprintln!(
        "generate + NDJSON: {:.3}s, {:.0} resources/s",
        ndjson_secs,
        total as f64 / ndjson_secs
    );
    Ok(())
}
