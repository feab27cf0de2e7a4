//! Helpers the binary's tests share: running `kizuna`, the fixtures, a served instance.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn kizuna() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kizuna"));
    c.env("RUST_LOG", "warn");
    c
}

pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "fixtures not found at {}",
            dir.display()
        );
        eprintln!(
            "\n*** SKIPPED: fixtures not found at {} (set KIZUNA_FIXTURES) ***\n",
            dir.display()
        );
        None
    }
}

/// A running `kizuna serve`/`demo` and its base URL (from the one line it prints when ready).
pub struct Running {
    pub child: Child,
    pub base: String,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kizuna starts");
        // From here on, Drop reaps the process whatever happens.
        let mut running = Running {
            child,
            base: String::new(),
        };
        let stdout = running.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("kizuna prints its base URL");
            if let Some(url) = line.strip_prefix("Kizuna FHIR R4 server ready at ") {
                running.base = url.trim().to_string();
                return running;
            }
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "kizuna did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    /// A failing test must not leave a server behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP/1.1 exchange over loopback, through curl (a real, independent client).
pub fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(b) = body {
        c.args([
            "-H",
            "content-type: application/fhir+json",
            "--data-binary",
            b,
        ]);
    }
    let out = c.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}
