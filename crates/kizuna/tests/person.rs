//! `kizuna person`: a person registered from the command line, with a My Number given only in
//! the environment, is stored with its keyed hash and never the number (not in the database
//! files, not in the output); candidates, links, merges and sharing choices work end to end.

use std::path::Path;
use std::process::Command;

const MY_NUMBER: &str = "123456789018";

fn kizuna(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .arg("person")
        .arg("--data")
        .arg(dir.join("data"))
        .args(args)
        .env("KIZUNA_MY_NUMBER", MY_NUMBER)
        .current_dir(dir)
        .output()
        .expect("kizuna runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn files_contain(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_contain(&p, needle)
        } else {
            let bytes = std::fs::read(&p).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[test]
fn register_show_and_choose() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ok, out) = kizuna(
        dir,
        &[
            "register",
            "--insured-member-id",
            "00012345:あいう:1234:01",
            "--card-serial",
            "JPKI01",
            "--kana",
            "ヤマダ タロウ",
            "--birth-date",
            "1970-05-01",
            "--gender",
            "male",
        ],
    );
    assert!(ok, "{out}");
    let id = out.trim().to_string();
    assert!(!out.contains(MY_NUMBER));
    // The key was made, owner-only.
    let key = dir.join("my-number.key");
    assert!(key.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o077,
            0
        );
    }
    // Registering the same card again finds the same person.
    let (ok, again) = kizuna(dir, &["register", "--card-serial", "JPKI01"]);
    assert!(ok, "{again}");
    assert_eq!(again.trim(), id);
    let (ok, shown) = kizuna(dir, &["show", &id]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains("urn:kizuna:my-number-hmac") && !shown.contains(MY_NUMBER),
        "{shown}"
    );
    // The number is nowhere in the store's files.
    assert!(!files_contain(&dir.join("data"), MY_NUMBER.as_bytes()));
    // A wrong My Number is refused without being repeated.
    let out = Command::new(env!("CARGO_BIN_EXE_kizuna"))
        .args(["person", "--data"])
        .arg(dir.join("data"))
        .args(["register", "--card-serial", "JPKI02"])
        .env("KIZUNA_MY_NUMBER", "123456789011")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a My Number") && !err.contains("123456789011"),
        "{err}"
    );
    // Sharing choices, and what is wrong with a bad one.
    let (ok, out) = kizuna(
        dir,
        &[
            "privacy",
            &id,
            "--hide-label",
            "http://terminology.hl7.org/CodeSystem/v3-ActCode|PSY",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = kizuna(dir, &["privacy", &id, "--hide-record", "Observation"]);
    assert!(!ok && out.contains("is not Type/id"), "{out}");
    let (ok, out) = kizuna(dir, &["merge", &id, &id]);
    assert!(!ok && out.contains("cannot be merged into itself"), "{out}");
    let (ok, out) = kizuna(dir, &["candidates", "no-such-patient"]);
    assert!(!ok && out.contains("does not exist"), "{out}");
}
