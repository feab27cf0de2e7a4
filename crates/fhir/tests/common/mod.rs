//! Locating the shared fixtures (`../shared/fixtures` beside the checkout, or `KIZUNA_FIXTURES`).

#![allow(dead_code)]

use std::path::PathBuf;

/// The fixtures folder, or None (after saying so loudly) when it is missing.
pub fn fixtures(sub: &str) -> Option<PathBuf> {
    let base = match std::env::var_os("KIZUNA_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    let dir = base.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! FIXTURES MISSING: {} does not exist; skipping this test.\n\
             !!! Set KIZUNA_FIXTURES to the shared fixtures folder to run it.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
            dir.display()
        );
        None
    }
}

/// Every resource of the Synthea NDJSON files (not log.ndjson), with file name and line number.
pub fn synthea() -> Option<Vec<(String, usize, serde_json::Value)>> {
    let dir = fixtures("synthea-10")?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read synthea dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "ndjson")
                && p.file_name().is_some_and(|n| n != "log.ndjson")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).expect("read ndjson");
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
            out.push((name.clone(), i + 1, v));
        }
    }
    Some(out)
}

/// Issues as lines for assertion messages.
pub fn show(issues: &[kizuna_fhir::Issue]) -> String {
    issues
        .iter()
        .map(|i| {
            format!(
                "    {} [{}] {}",
                i.expression.as_deref().unwrap_or("-"),
                i.code.code(),
                i.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
