//! `kizuna ig` end to end with the real JP packages: install in any order, list, refuse what
//! is not a package or removes what another needs, validate files, and a server and an import
//! that hold writes to the installed profiles.

mod common;

use common::{Running, fixtures, http, kizuna};
use std::path::Path;

fn run(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = kizuna()
        .args(["ig", "--data"])
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

#[test]
fn install_list_validate_serve_and_import_with_the_jp_packages() {
    let Some(fx) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let core = fx.join("jp/packages/jp-core.r4-1.1.2.tgz");
    let clins = fx.join("jp/packages/jp-clins.r4-1.5.2.tgz");
    let core = core.to_str().unwrap();
    let clins = clins.to_str().unwrap();

    // JP-CLINS alone needs JP Core: refused, naming what is missing.
    let (code, _, err) = run(&data, &["install", clins]);
    assert_eq!(code, 1);
    assert!(
        err.contains("needs http://jpfhir.jp/fhir/core/StructureDefinition/JP_"),
        "{err}"
    );
    // Not a package at all.
    let (code, _, err) = run(&data, &["install", "/etc/hostname"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not a FHIR package: the file is not gzip-compressed"),
        "{err}"
    );
    // Both, in the wrong order: each goes in once what it needs is there.
    let (code, out, err) = run(&data, &["install", clins, core]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("installed jp-core.r4#1.1.2: 89 profiles"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("installed jp-eCSCLINS.r4#1.x.x-temp: 49 profiles, 222 value sets"),
        "{out}"
    );
    let (_, out, _) = run(&data, &["list"]);
    assert!(
        out.contains("jp-core.r4") && out.contains("jp-eCSCLINS.r4"),
        "{out}"
    );
    assert!(out.contains("+09:00"), "install times in JST: {out}");
    // JP Core is needed by JP-CLINS.
    let (code, _, err) = run(&data, &["remove", "jp-core.r4"]);
    assert_eq!(code, 1);
    assert!(err.contains("needed by jp-eCSCLINS.r4"), "{err}");

    // Files validate offline; an error exits 1.
    let clins_dir = fx.join("jp/clins");
    let good = clins_dir.join("Observation-Example-JP-Obs-LabResult-eCS-eGFR.json");
    let bad = clins_dir.join("MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json");
    let (code, out, _) = run(&data, &["validate", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(
        &data,
        &["validate", good.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("error MedicationRequest: needs-anyOfStandardCode-medication"),
        "{out}"
    );

    // An import holds every resource to the profiles it claims: the error example is
    // rejected, the others load.
    let load = tmp.path().join("load");
    std::fs::create_dir(&load).unwrap();
    for f in [&good, &bad] {
        std::fs::copy(f, load.join(f.file_name().unwrap())).unwrap();
    }
    let out = kizuna()
        .args(["import", "--data"])
        .arg(&data)
        .arg(&load)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("needs-anyOfStandardCode-medication"),
        "{text}"
    );

    // A server on the same data: writes meet the profiles.
    let mut cmd = kizuna();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data);
    let server = Running::start(cmd);
    let body = std::fs::read_to_string(&bad).unwrap();
    let (status, text) = http(
        "POST",
        &format!("{}/MedicationRequest", server.base),
        Some(&body),
    );
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("needs-anyOfStandardCode-medication"));
    let (status, text) = http(
        "POST",
        &format!("{}/MedicationRequest/$validate", server.base),
        Some(&body),
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"severity\":\"error\""));
}
