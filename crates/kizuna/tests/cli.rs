//! The `kizuna` binary end to end: real processes, real HTTP on loopback, real signals.

mod common;

use common::{Running, fixtures, http, kizuna};
use std::time::Duration;

#[test]
fn serve_prints_its_url_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kizuna();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path());
    let mut server = Running::start(cmd);
    assert!(server.base.starts_with("http://127.0.0.1:") && server.base.ends_with("/fhir"));
    let (status, body) = http("GET", &format!("{}/metadata", server.base), None);
    assert_eq!(status, 200);
    assert!(body.contains("CapabilityStatement"));
    let (status, _) = http(
        "POST",
        &format!("{}/Patient", server.base),
        Some(r#"{"resourceType":"Patient","gender":"male"}"#),
    );
    assert_eq!(status, 201);
    server.signal("TERM");
    assert!(
        server.wait().success(),
        "SIGTERM stops the server with status 0"
    );
}

#[test]
fn acknowledged_writes_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kizuna();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path());
    let mut server = Running::start(cmd);
    // Writers keep creating while the server is killed; every 201 they saw must be there after.
    let base = server.base.clone();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let base = base.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..10_000 {
                    let body = format!(r#"{{"resourceType":"Basic","id":"w{w}-{i}","code":{{"text":"crash test"}}}}"#);
                    let (status, _) = http("PUT", &format!("{base}/Basic/w{w}-{i}"), Some(&body));
                    if status != 201 {
                        break;
                    }
                    acknowledged.push(format!("w{w}-{i}"));
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.signal("KILL");
    let _ = server.wait();
    let acknowledged: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() > 10,
        "the writers got going ({} writes)",
        acknowledged.len()
    );

    let mut cmd = kizuna();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path());
    let mut server = Running::start(cmd);
    for id in &acknowledged {
        let (status, _) = http("GET", &format!("{}/Basic/{id}", server.base), None);
        assert_eq!(status, 200, "acknowledged Basic/{id} lost in the crash");
    }
    server.signal("TERM");
    assert!(server.wait().success());
}

#[test]
fn imports_synthea_completely_and_twice_without_duplicates() {
    let Some(fx) = fixtures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = kizuna()
            .args(["import", "--data"])
            .arg(dir.path())
            .arg(fx.join("synthea-10"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = run();
    assert!(
        first
            .contains("7160 resources accepted (7160 created, 0 updated, 0 unchanged), 4 rejected"),
        "{first}"
    );
    // The only rejections are the export's log, which holds no resources, each with its reason.
    let rejected: Vec<&str> = first
        .lines()
        .filter(|l| l.contains("log.ndjson:"))
        .collect();
    assert_eq!(rejected.len(), 4, "{first}");
    assert!(
        rejected
            .iter()
            .all(|l| l.contains("not a FHIR resource (it has no resourceType)"))
    );
    let second = run();
    assert!(
        second.contains("7160 resources accepted (0 created, 0 updated, 7160 unchanged)"),
        "{second}"
    );
}

#[test]
fn import_reports_bad_lines_and_loads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.ndjson");
    let mut text = concat!(
        "{\"resourceType\":\"Patient\",\"id\":\"ok-1\",\"gender\":\"female\"}\n",
        "{not json\n",
        "{\"resourceType\":\"Patient\",\"id\":\"bad-1\",\"birthDate\":\"1999-02-30\"}\n",
        "\n",
        "{\"resourceType\":\"Starship\",\"id\":\"x\"}\n",
        "{\"resourceType\":\"Observation\",\"id\":\"ok-2\",\"status\":\"final\",\"code\":{\"text\":\"t\"}}\n",
    )
    .as_bytes()
    .to_vec();
    // Line 7 is Latin-1, not UTF-8; line 8, right after it, must still load.
    text.extend_from_slice(b"{\"resourceType\":\"Basic\",\"code\":{\"text\":\"caf\xe9\"}}\n");
    text.extend_from_slice(
        b"{\"resourceType\":\"Basic\",\"id\":\"ok-3\",\"code\":{\"text\":\"cafe\"}}\n",
    );
    std::fs::write(&file, text).unwrap();
    let out = kizuna()
        .args(["import", "--data"])
        .arg(dir.path().join("store"))
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("3 resources accepted (3 created, 0 updated, 0 unchanged), 4 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mixed.ndjson:7: not UTF-8 text"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mixed.ndjson:2: not valid JSON"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mixed.ndjson:3: Patient.birthDate:"),
        "{stdout}"
    );
    assert!(stdout.contains("mixed.ndjson:5:"), "{stdout}");
    let strict = kizuna()
        .args(["import", "--strict", "--data"])
        .arg(dir.path().join("store"))
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        strict.status.code(),
        Some(1),
        "--strict fails when anything was rejected"
    );
    let missing = kizuna()
        .args(["import", "--data"])
        .arg(dir.path().join("store"))
        .arg("/nonexistent/x.ndjson")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.ndjson"));
}

#[test]
fn synth_is_reproducible_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let generate = |name: &str, seed: &str| {
        let path = dir.path().join(name);
        let out = kizuna()
            .args(["synth", "--patients", "15", "--seed", seed, "--out"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(path).unwrap()
    };
    let a = generate("a.ndjson", "7");
    let b = generate("b.ndjson", "7");
    let c = generate("c.ndjson", "8");
    assert_eq!(a, b, "same seed, same bytes");
    assert_ne!(a, c);
    // Every line the generator writes is accepted by the store's validation.
    let out = kizuna()
        .args(["import", "--strict", "--data"])
        .arg(dir.path().join("s"))
        .arg(dir.path().join("a.ndjson"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = kizuna()
        .args(["synth", "--patients", "5", "--data"])
        .arg(dir.path().join("t"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 patients"));
    // Reindexing the store rewrites every live resource's rows.
    let out = kizuna()
        .args(["reindex", "--data"])
        .arg(dir.path().join("t"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n: u64 = stdout
        .strip_prefix("reindexed ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(n > 5, "{stdout}");
}

#[test]
fn demo_serves_synthetic_patients() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kizuna();
    cmd.args([
        "demo",
        "--patients",
        "10",
        "--addr",
        "127.0.0.1:0",
        "--data",
    ])
    .arg(dir.path());
    let mut server = Running::start(cmd);
    let (status, body) = http(
        "GET",
        &format!("{}/Patient/_history?_count=100", server.base),
        None,
    );
    assert_eq!(status, 200);
    let bundle: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["id"].as_str())
        .collect();
    // Ten patients, each kept by every institution that saw them (a Patient each).
    let people: std::collections::BTreeSet<&str> = ids
        .iter()
        .map(|id| id.split("-jp-org-").next().unwrap())
        .collect();
    assert_eq!(people.len(), 10, "ten patients: {ids:?}");
    assert!(
        ids.len() > 10,
        "some seen at more than one institution: {ids:?}"
    );
    assert!(
        body.contains("\"JP\"") || body.contains("kana") || body.contains("SYL"),
        "Japanese patients"
    );
    server.signal("INT");
    assert!(server.wait().success(), "Ctrl-C stops the demo cleanly");
}

#[test]
fn every_subcommand_has_help_and_bad_arguments_say_how_to_fix_them() {
    for sub in [
        "serve", "import", "synth", "demo", "bench", "reindex", "pki", "card", "audit", "ig",
    ] {
        let out = kizuna().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: kizuna"),
            "{sub} --help"
        );
    }
    let out = kizuna()
        .args(["serve", "--addr", "not-an-address"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--addr"));
    let out = kizuna()
        .args(["bench", "--workloads", "nonsense"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("choose from upload, read, transaction"));
    let out = kizuna()
        .args(["synth", "--patients", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--out FILE.ndjson, --data DIR or --database URL")
    );
}

#[test]
fn bench_runs_against_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = kizuna();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path());
    let mut server = Running::start(cmd);
    let out = kizuna()
        .args([
            "bench",
            "--url",
            &server.base,
            "--patients",
            "5",
            "--seconds",
            "1",
            "--read-connections",
            "4",
            "--transaction-clients",
            "4",
            "--workloads",
            "upload,read,transaction,search",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json_start = stdout.find('[').unwrap();
    let figures: serde_json::Value = serde_json::from_str(&stdout[json_start..]).unwrap();
    let names: Vec<&str> = figures
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "upload",
            "read",
            "transaction",
            "search-code",
            "search-count",
            "search-patient",
            "search-chain",
            "search-has",
            "everything",
            "summary"
        ]
    );
    for f in figures.as_array().unwrap() {
        assert_eq!(f["errors"], 0, "{f}");
        assert!(f["operations"].as_u64().unwrap() > 0, "{f}");
        // Every search finds something in the uploaded data.
        assert!(f["resources"].as_u64().unwrap() > 0, "{f}");
    }
    // Personal health records: Kizuna's operations, then the same readings the standard way
    // (as against another server), the trend skipped there.
    for (standard, expected) in [
        (false, vec!["phr-ingest", "phr-trend"]),
        (true, vec!["phr-ingest (as a transaction)"]),
    ] {
        let mut cmd = kizuna();
        cmd.args([
            "bench",
            "--url",
            &server.base,
            "--seconds",
            "1",
            "--upload-clients",
            "2",
            "--workloads",
            "phr-ingest,phr-trend",
            "--json",
        ]);
        if standard {
            cmd.arg("--standard-only");
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let figures: serde_json::Value =
            serde_json::from_str(&stdout[stdout.find('[').unwrap()..]).unwrap();
        let names: Vec<&str> = figures
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["workload"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected);
        for f in figures.as_array().unwrap() {
            assert_eq!(f["errors"], 0, "{f}");
            assert!(f["operations"].as_u64().unwrap() > 0, "{f}");
        }
        assert_eq!(standard, stderr.contains("phr-trend skipped"), "{stderr}");
    }
    server.signal("TERM");
    assert!(server.wait().success());
}

#[test]
fn phr_import_and_the_streaming_benchmark_from_the_command_line() {
    let Some(fixtures) = fixtures() else { return };
    let phr = fixtures.join("phr");
    let dir = tempfile::tempdir().unwrap();
    // The benchmark writes its Patient, streams a small synthetic Apple export, and checks
    // every record was accounted for.
    let out = kizuna()
        .args(["phr", "bench", "--apple-gb", "0.002", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("refused as not kept") && stdout.contains("peak resident memory"),
        "{stdout}"
    );
    // A real Fitbit weight log, an Open mHealth point that fails its schema and a physical
    // activity: a summary per file and in all, each refusal with where and why.
    let out = kizuna()
        .args(["phr", "import", "--patient", "bench-phr", "--data"])
        .arg(dir.path())
        .arg(phr.join("fitbit/weightLogInfo_merged.csv"))
        .arg(phr.join("openmhealth/blood-pressure/4.0/shouldFail/invalid-pa-value.json"))
        .arg(phr.join("openmhealth/physical-activity/1.2/shouldPass/with-calories-burned.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all 3 files:"), "{stdout}");
    assert!(stdout.contains("101 measurements taken"), "{stdout}");
    assert!(
        stdout.contains("1 invalid against its schema")
            && stdout.contains("/temporal_relationship_to_physical_activity"),
        "{stdout}"
    );
    // An unknown Patient: a failing exit that says so.
    let out = kizuna()
        .args(["phr", "import", "--patient", "nobody", "--data"])
        .arg(dir.path())
        .arg(phr.join("fitbit/weightLogInfo_merged.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Patient/nobody is not known"));
}
