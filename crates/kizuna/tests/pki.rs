//! `kizuna pki` end to end: the binary creates authorities, issues and revokes, and an
//! independent verifier (OpenSSL) agrees with Kizuna's own check on every certificate.

use std::path::Path;
use std::process::{Command, Output};

fn kizuna(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["pki", "--dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(&all)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The serial `issue` printed.
fn serial(o: &Output) -> String {
    let out = text(o);
    assert!(o.status.success(), "{out}");
    out.split_whitespace()
        .skip_while(|w| *w != "serial")
        .nth(1)
        .unwrap()
        .to_string()
}

/// OpenSSL's verdict on `cert` against `ca` and its CRL.
fn openssl_accepts(dir: &Path, ca: &str, crl: &str, cert: &Path) -> bool {
    let o = Command::new("openssl")
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(dir.join(ca))
        .arg("-CRLfile")
        .arg(dir.join("crl").join(crl))
        .arg(cert)
        .output()
        .expect("openssl (scripts/test.sh installs it)");
    o.status.success()
}

#[test]
fn authorities_issue_revoke_and_publish_crls_that_openssl_agrees_with() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let o = kizuna(&dir, &["init"]);
    assert!(o.status.success(), "{}", text(&o));
    // Twice is refused, and says why.
    let o = kizuna(&dir, &["init"]);
    assert!(!o.status.success() && text(&o).contains("already holds"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["network-ca.key", "card-ca.key"] {
            let mode = std::fs::metadata(dir.join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{key} is owner-only");
        }
    }
    // Full-width digits are read; a wrong check digit is refused with the right one.
    let inst = serial(&kizuna(
        &dir,
        &[
            "issue",
            "institution",
            "--code",
            "０１１０１１３７１９",
            "--name",
            "絆クリニック",
        ],
    ));
    let o = kizuna(
        &dir,
        &[
            "issue",
            "institution",
            "--code",
            "0110113718",
            "--name",
            "X",
        ],
    );
    assert!(!o.status.success() && text(&o).contains("check digit should be 9"));
    let staff = serial(&kizuna(
        &dir,
        &[
            "issue",
            "staff",
            "--institution",
            "0110113719",
            "--staff-id",
            "dr-1",
            "--name",
            "山田 花子",
        ],
    ));
    let card = serial(&kizuna(&dir, &["issue", "card", "--serial", "JPKI0001"]));
    let server = serial(&kizuna(
        &dir,
        &[
            "issue",
            "server",
            "--host",
            "localhost",
            "--host",
            "127.0.0.1",
        ],
    ));
    let o = Command::new("openssl")
        .args([
            "verify",
            "-purpose",
            "sslserver",
            "-verify_ip",
            "127.0.0.1",
            "-CAfile",
        ])
        .arg(dir.join("network-ca.pem"))
        .arg(dir.join("issued").join(format!("{server}.pem")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let pem = |s: &str| dir.join("issued").join(format!("{s}.pem"));
    for (s, ca, crl) in [
        (&inst, "network-ca.pem", "network.crl.pem"),
        (&staff, "network-ca.pem", "network.crl.pem"),
        (&card, "card-ca.pem", "card.crl.pem"),
    ] {
        assert!(openssl_accepts(&dir, ca, crl, &pem(s)), "{s}");
        let o = kizuna(&dir, &["verify", pem(s).to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
    }
    assert!(
        text(&kizuna(&dir, &["verify", pem(&card).to_str().unwrap()])).contains("card JPKI0001")
    );
    // A card certificate is not an institution's: the network CA does not vouch for it.
    assert!(!openssl_accepts(
        &dir,
        "network-ca.pem",
        "network.crl.pem",
        &pem(&card)
    ));
    // Revocation reaches the CRL: both verifiers now refuse.
    let o = kizuna(&dir, &["revoke", &card, "--reason", "key-compromise"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!openssl_accepts(
        &dir,
        "card-ca.pem",
        "card.crl.pem",
        &pem(&card)
    ));
    let o = kizuna(&dir, &["verify", pem(&card).to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("revoked"));
    // The others stay valid, the ledger says so.
    assert!(openssl_accepts(
        &dir,
        "network-ca.pem",
        "network.crl.pem",
        &pem(&inst)
    ));
    let list = text(&kizuna(&dir, &["list"]));
    assert!(list.contains(&format!("{card}  card")) && list.contains("revoked"));
    assert_eq!(
        list.lines().filter(|l| l.ends_with("valid")).count(),
        3,
        "{list}"
    );
    // Mistakes say what to do.
    let o = kizuna(&dir, &["revoke", &card]);
    assert!(!o.status.success() && text(&o).contains("revoked already"));
    let o = kizuna(&dir, &["revoke", "00ff", "--reason", "because"]);
    assert!(!o.status.success() && text(&o).contains("not a revocation reason"));
    let o = kizuna(&tmp.path().join("nowhere"), &["list"]);
    assert!(!o.status.success() && text(&o).contains("kizuna pki init"));

    // `kizuna serve` with these: HTTPS, and only certificates of the network CA get in.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(tmp.path().join("data"))
        .arg("--tls-cert")
        .arg(pem(&server))
        .arg("--tls-key")
        .arg(dir.join("issued").join(format!("{server}.key")))
        .arg("--client-ca")
        .arg(dir.join("network-ca.pem"))
        .arg("--client-crl")
        .arg(dir.join("crl").join("network.crl.pem"))
        .args(["--checkpoint-seconds", "1"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("https://127.0.0.1:"), "{line}");
    let curl = |cert: Option<&str>| {
        let mut c = Command::new("curl");
        c.args(["-s", "-w", "\n%{http_code}", "--cacert"])
            .arg(dir.join("network-ca.pem"));
        if let Some(s) = cert {
            c.arg("--cert")
                .arg(pem(s))
                .arg("--key")
                .arg(dir.join("issued").join(format!("{s}.key")));
        }
        let out = c.arg(format!("{base}/Patient")).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(curl(Some(&inst)).ends_with("\n200"));
    let refused = curl(None);
    assert!(
        refused.ends_with("\n401") && refused.contains("no client certificate"),
        "{refused}"
    );
    // The node signs checkpoints of its audit log by itself (here every second).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let _ = child.kill();
    let _ = child.wait();
    let o = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["audit", "verify", "--data"])
        .arg(tmp.path().join("data"))
        .arg("--ca")
        .arg(dir.join("network-ca.pem"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let verified = text(&o);
    assert!(
        o.status.success() && verified.contains("signed checkpoints verified"),
        "{verified}"
    );

    // A software card: it signs a challenge with the right PIN (OpenSSL verifies the signature
    // with the card certificate's key), and locks after three wrong PINs.
    let card_file = tmp.path().join("card.json");
    let run_card = |args: &[&str], pin: &str| {
        Command::new(env!("CARGO_BIN_EXE_kizuna"))
            .arg("card")
            .args(args)
            .env("KIZUNA_CARD_PIN", pin)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let o = run_card(
        &[
            "create",
            "--pki",
            dir.to_str().unwrap(),
            "--serial",
            "JPKI0002",
            "--out",
            card_file.to_str().unwrap(),
        ],
        "2468",
    );
    assert!(o.status.success(), "{}", text(&o));
    let card_serial = text(&o)
        .split_whitespace()
        .last()
        .unwrap()
        .trim_end_matches(')')
        .to_string();
    let o = run_card(
        &[
            "sign",
            "--card",
            card_file.to_str().unwrap(),
            "--challenge",
            "c-123",
        ],
        "2468",
    );
    assert!(o.status.success(), "{}", text(&o));
    let hex = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let sig: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(sig.len(), 256, "RSA-2048");
    std::fs::write(tmp.path().join("sig.bin"), &sig).unwrap();
    std::fs::write(tmp.path().join("challenge.txt"), "c-123").unwrap();
    let pubkey = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(dir.join("issued").join(format!("{card_serial}.pem")))
        .output()
        .unwrap();
    std::fs::write(tmp.path().join("card-pub.pem"), &pubkey.stdout).unwrap();
    let verified = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(tmp.path().join("card-pub.pem"))
        .arg("-signature")
        .arg(tmp.path().join("sig.bin"))
        .arg(tmp.path().join("challenge.txt"))
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        !dir.join("issued")
            .join(format!("{card_serial}.key"))
            .exists(),
        "the card holds the key"
    );
    for (pin, expect) in [
        ("0000", "2 tries left"),
        ("0000", "1 tries left"),
        ("0000", "locked"),
        ("2468", "locked"),
    ] {
        let o = run_card(
            &[
                "sign",
                "--card",
                card_file.to_str().unwrap(),
                "--challenge",
                "c",
            ],
            pin,
        );
        assert!(
            !o.status.success() && text(&o).contains(expect),
            "{pin}: {}",
            text(&o)
        );
    }
    let info = text(&run_card(
        &["info", "--card", card_file.to_str().unwrap()],
        "",
    ));
    assert!(info.contains("0 PIN tries left"), "{info}");
}
