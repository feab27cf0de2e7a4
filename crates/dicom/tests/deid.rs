//! De-identification to PS3.15's Basic Profile on the real head CT and the transfer-syntax
//! samples of `../shared/fixtures/dicom`.

use kizuna_dicom::deid::deidentify;
use kizuna_dicom::deid_table::{Action, BASIC_PROFILE};
use kizuna_dicom::{Format, Instance, Render, render};
use std::collections::BTreeSet;
use std::path::PathBuf;

const KEY: &[u8] = b"the sending institution's secret key";

fn dicom() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("dicom");
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "fixtures not found at {}",
            dir.display()
        );
        None
    }
}

fn png(bytes: &[u8]) -> Result<Vec<u8>, kizuna_dicom::Error> {
    render(
        &Instance::parse(bytes).unwrap(),
        &Render {
            format: Format::Png,
            ..Render::default()
        },
    )
}

#[test]
fn the_head_ct_is_shared_without_who_it_is() {
    let Some(dir) = dicom() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("head-ct"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    let removed: BTreeSet<String> = BASIC_PROFILE
        .iter()
        .filter(|(_, _, a)| *a == Action::Remove)
        .map(|(g, e, _)| format!("{g:04X}{e:04X}"))
        .collect();
    let mut studies = BTreeSet::new();
    let mut series = BTreeSet::new();
    let mut sops = BTreeSet::new();
    for f in &files {
        let original = std::fs::read(f).unwrap();
        let before = Instance::parse(&original).unwrap().keys().unwrap();
        let d = deidentify(&original, KEY, "CASE-0001").unwrap();
        let copy = Instance::parse(&d.bytes).unwrap();
        let k = copy.keys().unwrap();
        assert_eq!(k.patient_id.as_deref(), Some("CASE-0001"));
        assert_eq!(k.patient_name.as_deref(), Some("CASE-0001"));
        assert!(k.study_uid.starts_with("2.25.") && k.study_uid != before.study_uid);
        assert_eq!(
            d.uids.get(&k.study_uid),
            Some(&before.study_uid),
            "the map leads back"
        );
        assert_eq!(
            d.uids.get(&k.sop_instance_uid),
            Some(&before.sop_instance_uid)
        );
        studies.insert(k.study_uid.clone());
        series.insert(k.series_uid.clone());
        sops.insert(k.sop_instance_uid.clone());
        let meta = copy.metadata(&|t| t.to_string()).unwrap();
        let present: Vec<&String> = meta.as_object().unwrap().keys().collect();
        for tag in &present {
            assert!(
                !removed.contains(*tag),
                "{tag} is removed by the Basic Profile"
            );
            let group = u16::from_str_radix(&tag[..4], 16).unwrap();
            assert!(group % 2 == 0, "private attribute {tag} removed");
        }
        assert_eq!(meta["00120062"]["Value"][0], "YES");
        assert_eq!(
            meta["00120064"]["Value"][0]["00080100"]["Value"][0],
            "113100"
        );
        assert_eq!(
            png(&d.bytes).unwrap(),
            png(&original).unwrap(),
            "the image is untouched"
        );
        // The same sender gets the same UIDs; another sender others.
        let again = deidentify(&original, KEY, "CASE-0001").unwrap();
        assert_eq!(again.bytes, d.bytes);
        let other = deidentify(&original, b"another institution's secret", "CASE-9").unwrap();
        assert_ne!(
            Instance::parse(&other.bytes)
                .unwrap()
                .keys()
                .unwrap()
                .study_uid,
            k.study_uid
        );
    }
    assert_eq!(
        (studies.len(), series.len(), sops.len()),
        (1, 1, 28),
        "still one study of one series"
    );
}

#[test]
fn every_transfer_syntax_is_de_identified_and_still_renders() {
    let Some(dir) = dicom() else { return };
    for n in 1..=9 {
        let original = std::fs::read(dir.join(format!("transfer-syntaxes/{n}.dcm"))).unwrap();
        let d = deidentify(&original, KEY, "CASE-0002").unwrap_or_else(|e| panic!("{n}.dcm: {e}"));
        let before = Instance::parse(&original).unwrap().keys().unwrap();
        let after = Instance::parse(&d.bytes).unwrap().keys().unwrap();
        assert_eq!(
            after.transfer_syntax, before.transfer_syntax,
            "{n}.dcm keeps its transfer syntax"
        );
        assert_eq!(
            after.patient_birth_date, None,
            "{n}.dcm: the birth date goes"
        );
        if let Ok(image) = png(&original) {
            assert_eq!(png(&d.bytes).unwrap(), image, "{n}.dcm renders the same");
        }
    }
}

#[test]
fn refusals() {
    let Some(dir) = dicom() else { return };
    let original = std::fs::read(dir.join("head-ct/01.dcm")).unwrap();
    assert!(
        deidentify(&original, b"short", "X").is_err(),
        "a short key is refused"
    );
    assert!(deidentify(b"not dicom", KEY, "X").is_err());
    // Burned-in annotation: the pixels may name the patient.
    let mut o = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Auto)
        .from_reader(&original[..])
        .unwrap();
    o.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::BURNED_IN_ANNOTATION,
        dicom_core::VR::CS,
        dicom_core::value::PrimitiveValue::from("YES"),
    ));
    let mut marked = Vec::new();
    o.write_all(&mut marked).unwrap();
    let e = deidentify(&marked, KEY, "X").unwrap_err().to_string();
    assert!(e.contains("burned-in"), "{e}");
}
