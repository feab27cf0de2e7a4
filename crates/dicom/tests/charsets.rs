//! Japanese names as Japanese modalities write them: ISO 2022 with JIS X 0208 (ISO 2022 IR 87)
//! and JIS X 0201 katakana (ISO 2022 IR 13), read from PS3.5 Annex H's examples H.3.1 and
//! H.3.2 as pydicom ships them (the Python peers' environment that scripts/test.sh makes).

use kizuna_dicom::Instance;
use std::path::PathBuf;
use std::process::Command;

/// pydicom's character set examples, or None (a failure under CI) if pydicom is missing.
fn charset_files() -> Option<PathBuf> {
    let python = std::env::var("KIZUNA_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([
            "-c",
            "import os, pydicom; print(os.path.join(os.path.dirname(pydicom.__file__), 'data', 'charset_files'))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        }
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "pydicom is not installed for {python}; scripts/test.sh installs it"
            );
            eprintln!("skipped: pydicom not installed for {python}");
            None
        }
    }
}

#[test]
fn japanese_names_in_iso_2022_are_read_as_written() {
    let Some(dir) = charset_files() else { return };
    for (file, name) in [
        ("chrH31.dcm", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("chrH32.dcm", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let instance = Instance::parse(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let keys = instance.keys().unwrap();
        assert_eq!(keys.patient_name.as_deref(), Some(name), "{file}");
        // DICOM JSON gives the three forms apart.
        let meta = instance.metadata(&|t| t.to_string()).unwrap();
        let pn = &meta["00100010"]["Value"][0];
        let forms: Vec<&str> = name.split('=').collect();
        assert_eq!(pn["Alphabetic"], forms[0], "{file}");
        assert_eq!(pn["Ideographic"], forms[1], "{file}");
        assert_eq!(pn["Phonetic"], forms[2], "{file}");
        // A de-identified copy is written (as UTF-8) and reads back, its name a pseudonym.
        let copy = kizuna_dicom::deid::deidentify(
            &bytes,
            b"a sender key of 32 bytes, test..",
            "CASE-0001",
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        let again = Instance::parse(&copy.bytes).unwrap();
        assert_eq!(
            again.keys().unwrap().patient_name.as_deref(),
            Some("CASE-0001")
        );
    }
}
