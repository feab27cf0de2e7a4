//! `kizuna retention` end to end: a document submitted to a running server is reported within
//! its term, shown as due when previewed as of a later date, and left untouched by `--apply`
//! (its term has not ended); wrong arguments are refused with what to do. (Removal after the
//! term, the LTS rule and the refusal inside the term are tested on both backends in the
//! server's documents test, where the clock can be given.)

mod common;

use common::{Running, fixtures, http, kizuna};
use std::path::Path;

fn retention(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = kizuna()
        .args(["retention", "--data"])
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn serve(data: &Path) -> Running {
    let mut cmd = kizuna();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data);
    Running::start(cmd)
}

#[test]
fn retention_reports_previews_and_never_touches_what_is_in_term() {
    let Some(fx) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let mut server = serve(&data);
    let (status, text) = http(
        "POST",
        &format!("{}/Patient", server.base),
        Some(
            r#"{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.392.100495.20.3.51.11318814790","value":"000999739"}]}"#,
        ),
    );
    assert_eq!(status, 201, "{text}");
    let labs = std::fs::read_to_string(
        fx.join("jp/clins/Bundle-Bundle-CLINS-Observations-Example-01.json"),
    )
    .unwrap();
    let (status, text) = http("POST", &format!("{}/Bundle", server.base), Some(&labs));
    assert_eq!(status, 201, "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id = doc["id"].as_str().unwrap().to_string();
    server.signal("TERM");
    server.wait();

    let (code, out, err) = retention(&data, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("1 documents kept; 0 past their term as of now; 0 kept for ever"),
        "{out}"
    );

    let (code, out, _) = retention(&data, &["--as-of", "2040-01-01"]);
    assert_eq!(code, 0);
    assert!(out.contains("1 past their term as of 2040-01-01"), "{out}");
    assert!(
        out.contains(&format!("due: DocumentReference/{id} (received ")),
        "{out}"
    );
    assert!(out.contains("JST"), "{out}");

    let (code, out, err) = retention(&data, &["--apply"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 past their term"), "{out}");

    // Refusals say what to do.
    let (code, _, err) = retention(&data, &["--apply", "--as-of", "2040-01-01"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, _, err) = retention(&data, &["--years", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--years"), "{err}");
    let (code, _, err) = retention(&data, &["--as-of", "next year"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a date like 2031-04-01"), "{err}");

    // The document is there, byte for byte.
    let server = serve(&data);
    let (status, text) = http(
        "GET",
        &format!("{}/DocumentReference/{id}/$document", server.base),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(text, labs);
}
