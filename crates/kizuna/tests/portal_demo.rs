//! The portal in a real browser against a running `kizuna demo`: this very binary starts the
//! demo (its own data directory, a free port), reads the patient with a card that it prints,
//! and runs `tools/portal-e2e/demo.test.mjs` (Debian's chromium, playwright-core) against it:
//! reception by card and PIN, the summary before and after consent, lab trends, the timeline,
//! a phone, emergency access. Screenshots go to `target/portal-e2e/` (or KIZUNA_ARTEFACTS).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Kills the demo when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_in_a_real_browser() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let e2e = root.join("tools/portal-e2e");
    let chromium = std::env::var("KIZUNA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<&str> = [
        (!std::path::Path::new(&chromium).exists()).then_some("Debian's chromium"),
        (!e2e.join("node_modules/playwright-core").exists())
            .then_some("playwright-core (npm ci --prefix tools/portal-e2e)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser tests need {missing:?}: scripts/test.sh installs them"
        );
        eprintln!(
            "*** SKIPPED: the browser tests need {missing:?} (scripts/test.sh installs them) ***"
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args([
            "demo",
            "--patients",
            "30",
            "--addr",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data.path().join("demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().unwrap();
    let demo = Running(child);
    // What the demo prints once it serves: its address, and the patients with a card.
    let (mut base, mut carded) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("the demo's output");
        eprintln!("demo: {line}");
        if let Some(url) = line.strip_prefix("Kizuna FHIR R4 server ready at ") {
            base = Some(url.trim_end_matches("/fhir").to_string());
        }
        // `    card DEMO0000: 山本 清 (seen at 病院, クリニック)`
        if carded.is_none()
            && let Some(rest) = line.trim().strip_prefix("card ")
            && let Some((card, rest)) = rest.split_once(": ")
            && let Some((name, seen)) = rest.split_once(" (seen at ")
        {
            let seen: Vec<String> = seen
                .trim_end_matches(')')
                .split(", ")
                .map(String::from)
                .collect();
            carded = Some((card.to_string(), name.to_string(), seen));
        }
        if line.contains("Stop with Ctrl-C") {
            break;
        }
    }
    let base = base.expect("the demo says where it serves");
    let (card, name, seen) = carded.expect("the demo prints a patient with a card");
    assert!(
        seen.len() >= 2,
        "the carded patient is seen at two institutions: {seen:?}"
    );
    let artefacts = std::env::var("KIZUNA_ARTEFACTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target/portal-e2e"));
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "demo.test.mjs"])
        .current_dir(&e2e)
        .env("KIZUNA_BASE", &base)
        .env("KIZUNA_CHROMIUM", &chromium)
        .env("KIZUNA_ARTEFACTS", &artefacts)
        .env("KIZUNA_DEMO_CARD", &card)
        .env("KIZUNA_DEMO_NAME", &name)
        .env("KIZUNA_DEMO_HOME", &seen[0])
        .env("KIZUNA_DEMO_OTHER", &seen[1])
        .output()
        .expect("node runs (Debian's nodejs)");
    drop(demo);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{report}");
    assert!(out.status.success(), "the browser flows failed:\n{report}");
    assert!(report.contains("pass 3"), "{report}");
}
