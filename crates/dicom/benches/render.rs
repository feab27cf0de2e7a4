//! Rendered-frame latency: a 512×512 slice of the real head CT, from its bytes (parse, decode,
//! window, encode) to a PNG, a full-size JPEG and a 128×128 JPEG thumbnail; and the nine
//! transfer syntaxes of the MR image to PNG, one thread.
//!
//! `cargo bench -p kizuna-dicom --bench render [--features jpeg-ls]` (figures go to
//! BENCHMARKS.md; nothing here asserts on time).

use kizuna_dicom::{Format, Instance, Render, render};
use std::path::PathBuf;
use std::time::Instant;

/// Milliseconds per call of `f` over `runs` runs: (p50, p99).
fn time(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn main() {
    let dir = std::env::var_os("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("dicom");
    if !dir.is_dir() {
        eprintln!("fixtures missing at {}: skipped", dir.display());
        return;
    }
    let ct = std::fs::read(dir.join("head-ct/14.dcm")).unwrap();
    let cases = [
        ("PNG, its window", Render::default()),
        (
            "JPEG q90, full size",
            Render {
                format: Format::Jpeg { quality: 90 },
                ..Render::default()
            },
        ),
        (
            "JPEG q80, 128×128 thumbnail",
            Render {
                viewport: Some((128, 128)),
                format: Format::Jpeg { quality: 80 },
                ..Render::default()
            },
        ),
    ];
    println!("head CT slice, 512×512, 16-bit, from its bytes:");
    for (name, r) in cases {
        let mut size = 0;
        let (p50, p99) = time(200, || {
            let i = Instance::parse(&ct).unwrap();
            size = render(&i, &r).unwrap().len();
        });
        println!("  {name:<28} p50 {p50:6.2} ms  p99 {p99:6.2} ms  ({size} bytes)");
    }
    println!("MR image, 384×384, to PNG, by transfer syntax:");
    for n in 1..=9 {
        let bytes = std::fs::read(dir.join(format!("transfer-syntaxes/{n}.dcm"))).unwrap();
        let i = Instance::parse(&bytes).unwrap();
        let syntax = i.keys().unwrap().transfer_syntax;
        if render(&i, &Render::default()).is_err() {
            println!("  {n}.dcm {syntax:<24} not decoded by this build");
            continue;
        }
        let (p50, p99) = time(100, || {
            let i = Instance::parse(&bytes).unwrap();
            render(&i, &Render::default()).unwrap();
        });
        println!("  {n}.dcm {syntax:<24} p50 {p50:6.2} ms  p99 {p99:6.2} ms");
    }
}
