//! Validation against the real JP Core 1.1.2 and JP-CLINS 1.5.2 packages, on their real
//! examples (`../shared/fixtures/jp`), and on changed copies of those examples that break one
//! rule each.

use kizuna_profiles::{Conformance, Membership, Package, PackageError, package};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;

fn fixtures() -> Option<PathBuf> {
    let base = match std::env::var_os("KIZUNA_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    let dir = base.join("jp");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!! FIXTURES MISSING: {} does not exist; skipping this test.\n!!! Set KIZUNA_FIXTURES to the shared fixtures folder to run it.\n",
            dir.display()
        );
        None
    }
}

fn read_package(file: &str) -> Package {
    let dir = fixtures().expect("fixtures");
    package::read(&std::fs::read(dir.join("packages").join(file)).expect("package file"))
        .expect("a package")
}

/// JP Core and JP-CLINS, read and compiled once for every test here.
fn jp() -> Option<&'static (Vec<Package>, Conformance)> {
    static JP: OnceLock<(Vec<Package>, Conformance)> = OnceLock::new();
    fixtures()?;
    Some(JP.get_or_init(|| {
        let pkgs = vec![
            read_package("jp-core.r4-1.1.2.tgz"),
            read_package("jp-clins.r4-1.5.2.tgz"),
        ];
        let conf = Conformance::new(&pkgs).expect("JP Core and JP-CLINS compile");
        (pkgs, conf)
    }))
}

fn example(name: &str) -> Value {
    let dir = fixtures().expect("fixtures");
    serde_json::from_slice(&std::fs::read(dir.join(name)).expect("example")).expect("json")
}

fn errors(conf: &Conformance, v: &Value) -> Vec<String> {
    conf.validate(v)
        .issues
        .into_iter()
        .filter(|i| i.is_error())
        .map(|i| format!("{}: {}", i.expression.unwrap_or_default(), i.message))
        .collect()
}

#[test]
fn the_packages_read_as_what_they_are() {
    let Some((pkgs, conf)) = jp() else { return };
    assert_eq!(pkgs[0].name, "jp-core.r4");
    assert_eq!(pkgs[0].version, "1.1.2");
    assert_eq!(
        pkgs[0].canonical.as_deref(),
        Some("http://jpfhir.jp/fhir/core")
    );
    assert_eq!(pkgs[1].name, "jp-eCSCLINS.r4");
    let infos = conf.packages();
    assert_eq!(infos[0].profiles, 89);
    assert_eq!(infos[1].profiles, 49);
    assert_eq!(infos[1].value_sets, 222);
    assert_eq!(pkgs[0].digest.len(), 64);
    let p = conf
        .profile_info("http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_MedicationRequest_eCS|1")
        .expect("versioned canonical resolves");
    assert_eq!(p.type_name, "MedicationRequest");
    assert!(
        conf.profile_info(
            "http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_MedicationRequest_eCS|2"
        )
        .is_none(),
        "a version that is not installed does not resolve"
    );
    assert!(conf.derives_from(
        "http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Patient_eCS",
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"
    ));
    // Terminology of the packages: a hierarchical CodeSystem through a descendent-of filter.
    assert_eq!(
        conf.member_of(
            "http://jpfhir.jp/fhir/core/ValueSet/JP_SimpleObservationCategory_VS",
            Some("http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"),
            "laboratory"
        ),
        Membership::Yes
    );
}

/// JP-CLINS 1.5.2's examples that write the medical-institution code with the system
/// JP-CLINS documents (`http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicalOrganizationID`),
/// while the extension that carries it, JP Core 1.1.2's JP_Organization_InsuranceOrganizationNo,
/// fixes its system to `urn:oid:1.2.392.100495.20.3.23`: JP-CLINS 1.5.2 was written against a
/// later JP Core than the 1.1.2 package in the fixtures. That fixed value is the only error.
const JP_CORE_1_1_2_CONFLICT: [(&str, usize); 4] = [
    ("Bundle-Bundle-CLINS-Referral-Example-01.json", 2),
    ("Bundle-Bundle-CLINS-Referral-NoEntry-Example-01.json", 2),
    ("Organization-Example-JP-Org-eCS-Inst-Referral01.json", 1),
    ("Organization-Example-JP-Org-eCS-ReferralTo01.json", 1),
];

#[test]
fn every_valid_jp_clins_example_passes() {
    let Some((_, conf)) = jp() else { return };
    let dir = fixtures().unwrap().join("clins");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("ErrorExample") {
            continue;
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let found = errors(conf, &v);
        match JP_CORE_1_1_2_CONFLICT.iter().find(|(n, _)| *n == name) {
            Some((_, n)) => {
                assert_eq!(found.len(), *n, "{name}: {found:#?}");
                assert!(found.iter().all(|e| e.ends_with(
                    "extension[2].valueIdentifier.system: must be exactly \"urn:oid:1.2.392.100495.20.3.23\" (the profile fixes it)"
                )), "{name}: {found:#?}");
            }
            None => assert!(found.is_empty(), "{name}: {found:#?}"),
        }
        let base = kizuna_fhir::validate_resource(&v);
        assert!(base.is_empty(), "{name} (base rules): {base:#?}");
        checked += 1;
    }
    assert_eq!(checked, 58);
}

#[test]
fn every_example_inside_jp_core_passes() {
    let Some((pkgs, conf)) = jp() else { return };
    let mut checked = 0;
    for v in &pkgs[0].examples {
        if v["resourceType"] == "ImplementationGuide" || v["resourceType"] == "CapabilityStatement"
        {
            continue;
        }
        let found = errors(conf, v);
        assert!(
            found.is_empty(),
            "{}/{}: {found:#?}",
            v["resourceType"],
            v["id"]
        );
        checked += 1;
    }
    assert!(checked >= 50, "{checked}");
}

#[test]
fn error_example_without_a_standard_drug_code_fails_for_that_reason() {
    let Some((_, conf)) = jp() else { return };
    let v = example("clins/MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json");
    let found = errors(conf, &v);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("MedicationRequest: needs-anyOfStandardCode-medication:"),
        "{found:#?}"
    );
}

#[test]
fn error_example_with_a_wrong_general_name_code_needs_the_mhlw_master() {
    let Some((_, conf)) = jp() else { return };
    let v = example("clins/MedicationRequest-ErrorExample-JP-MedReq-PO-SID-28days.json");
    // The profile binds the code to JP_MedicationCodeCommon_VS, which neither package holds
    // (it is MHLW's 一般名処方マスタ): the code cannot be told wrong, and the report says so.
    let report = conf.validate(&v);
    assert!(!report.has_errors(), "{:#?}", report.issues);
    assert!(
        report.issues.iter().any(|i| {
            i.expression.as_deref()
                == Some("MedicationRequest.medicationCodeableConcept.coding[0].code")
                && i.message.contains("JP_MedicationCodeCommon_VS")
                && i.message.contains("not in any installed package")
        }),
        "{:#?}",
        report.issues
    );

    // With a package that holds the value set, the wrong code is an error and the right one
    // passes.
    let (pkgs, _) = jp().unwrap();
    let master = package::read(&tarball(
        json!({"name": "test.mhlw.general-name", "version": "0.0.1", "fhirVersions": ["4.0.1"]}),
        &[json!({
            "resourceType": "ValueSet",
            "id": "JP-MedicationCodeCommon-VS",
            "url": "http://jpfhir.jp/fhir/core/ValueSet/JP_MedicationCodeCommon_VS",
            "status": "active",
            "compose": {"include": [{
                "system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationGeneralOrderCode",
                "concept": [{"code": "1124030F2ZZZ", "display": "【般】クアゼパム錠２０ｍｇ"}]
            }]}
        })],
    ))
    .unwrap();
    let mut all = pkgs.clone();
    all.push(master);
    let with_master = Conformance::new(&all).unwrap();
    let found = errors(&with_master, &v);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("2124030F2ZZZ is not in value set"),
        "{found:#?}"
    );
    let good = example("clins/MedicationRequest-Example-JP-MedReq-PO-SID-28days.json");
    assert!(errors(&with_master, &good).is_empty());
}

#[test]
fn the_ereferral_ig_example_does_not_meet_jp_clins_1_5_2() {
    let Some((_, conf)) = jp() else { return };
    // Written in 2021 for the eReferral IG, whose profiles JP-CLINS 1.5.2 (2024) redefines at
    // the same URLs: the document's Bundle profile is not installed (a warning), and its
    // entries break the newer rules (uncoded diagnoses and allergies; section codes from the
    // eReferral code system instead of JP-CLINS's).
    let v = example("ereferral/Bundle-BundleReferralExample01.json");
    let report = conf.validate(&v);
    assert!(report.issues.iter().any(|i| {
        !i.is_error()
            && i.message
                .contains("eReferral/StructureDefinition/JP_Bundle_eReferral is not defined")
    }));
    let found = errors(conf, &v);
    assert!(
        found.iter().any(|e| e.starts_with(
            "Bundle.entry[8].resource.code.coding: the profile JP_Condition_eCS requires at least 1"
        )),
        "{found:#?}"
    );
    assert!(found.iter().any(|e| e.contains("section[0].code.coding[0].system: must be exactly \"http://jpfhir.jp/fhir/clins/CodeSystem/document-section\"")), "{found:#?}");
    assert!(
        found
            .iter()
            .any(|e| e.contains("valid-system-insurance-patientIdentifier"))
    );
}

/// A valid example changed by `f` must fail with an error at `path` whose message contains
/// `says`.
fn breaks(file: &str, f: impl FnOnce(&mut Value), path: &str, says: &str) {
    let Some((_, conf)) = jp() else { return };
    let mut v = example(file);
    assert!(errors(conf, &v).is_empty(), "{file} is valid to begin with");
    f(&mut v);
    let found = errors(conf, &v);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(says)),
        "expected an error at {path} saying {says:?}; got {found:#?}"
    );
}

const LAB: &str = "clins/Observation-Example-JP-Obs-LabResult-eCS-eGFR.json";
const PCS: &str = "clins/Bundle-Bundle-CLINS-PCS-Example-01.json";
const MEDREQ: &str = "clins/MedicationRequest-Example-JP-MedReq-PO-SID-28days.json";

#[test]
fn cardinality_of_the_profile_is_enforced() {
    breaks(
        LAB,
        |v| {
            v["code"].as_object_mut().unwrap().remove("text");
        },
        "Observation.code.text",
        "requires at least 1",
    );
    breaks(
        LAB,
        |v| {
            v.as_object_mut().unwrap().remove("effectiveDateTime");
        },
        "Observation.effective[x]",
        "requires at least 1",
    );
    breaks(
        LAB,
        |v| {
            v["specimen"] = Value::Null;
            v.as_object_mut().unwrap().remove("specimen");
        },
        "Observation.specimen",
        "requires at least 1",
    );
}

#[test]
fn fixed_and_pattern_values_are_enforced() {
    // The lab category slice fixes its code.
    breaks(
        LAB,
        |v| {
            v["category"][0]["coding"][0]["code"] = json!("vital-signs");
        },
        "Observation.category[0].coding[0].code",
        "must be exactly \"laboratory\"",
    );
    // The RP number identifier slice is matched by its fixed system; renaming it loses the slice.
    breaks(
        MEDREQ,
        |v| {
            v["identifier"][0]["system"] = json!("urn:example:other");
        },
        "MedicationRequest.identifier",
        "slice \"rpNumber\"",
    );
    // The profile's pattern on status.
    breaks(
        MEDREQ,
        |v| {
            v["status"] = json!("active");
        },
        "MedicationRequest.status",
        "pattern",
    );
}

#[test]
fn closed_slicing_refuses_what_matches_no_slice() {
    breaks(
        MEDREQ,
        |v| {
            v["meta"]["tag"] = json!([{"system": "http://example.org/tags", "code": "other"}]);
        },
        "MedicationRequest.meta.tag[0]",
        "matches none of the slices",
    );
}

#[test]
fn bindings_to_package_value_sets_are_enforced() {
    // Composition.type is bound (required) to JP-CLINS's doc-typecodes value set.
    breaks(
        PCS,
        |v| {
            v["entry"][0]["resource"]["type"]["coding"][0]["code"] = json!("99999-9");
        },
        "Bundle.entry[0].resource.type",
        "99999-9 is not in value set http://jpfhir.jp/fhir/Common/ValueSet/doc-typecodes",
    );
}

#[test]
fn choice_types_and_reference_targets_are_enforced() {
    breaks(
        LAB,
        |v| {
            let o = v.as_object_mut().unwrap();
            o.remove("valueQuantity");
            o.insert("valueBoolean".into(), json!(true));
        },
        "Observation.valueBoolean",
        "boolean is not allowed here",
    );
    breaks(
        LAB,
        |v| {
            v["performer"][0]["reference"] = json!("Device/d1");
        },
        "Observation.performer[0].reference",
        "refers to a Device",
    );
}

#[test]
fn invariants_of_the_profile_and_of_its_extensions_are_evaluated() {
    // JP_eCS_InstitutionNumber's own invariant: ten digits of a given shape.
    breaks(
        LAB,
        |v| {
            let ext = v["extension"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|e| {
                    e["url"]
                        .as_str()
                        .unwrap()
                        .ends_with("JP_eCS_InstitutionNumber")
                })
                .unwrap();
            ext["valueIdentifier"]["value"] = json!("99");
        },
        "Observation.extension[0]",
        "valid-value-institutionNumberExtension",
    );
    // The profile's root invariant.
    breaks(
        LAB,
        |v| {
            v.as_object_mut().unwrap().remove("extension");
        },
        "Observation",
        "resource-needs-extension-of-institutionNumber",
    );
}

#[test]
fn documents_are_checked_down_to_their_entries() {
    let Some((_, conf)) = jp() else { return };
    let mut v = example(PCS);
    assert!(errors(conf, &v).is_empty());
    // An entry that conforms to no slice's profile: a Patient that is not JP_Patient_eCS.
    v["entry"][1]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("identifier");
    let found = errors(conf, &v);
    assert!(
        found
            .iter()
            .any(|e| e
                .starts_with("Bundle.entry[1].resource: valid-system-insurance-patientIdentifier")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|e| e.starts_with(
            "Bundle.entry[1].resource.identifier: the profile JP_Patient_eCS requires at least 1"
        )),
        "{found:#?}"
    );
    // The document profile's own rules: one Composition.
    let mut v = example(PCS);
    let comp = v["entry"][0].clone();
    v["entry"].as_array_mut().unwrap().push(comp);
    let found = errors(conf, &v);
    assert!(
        found
            .iter()
            .any(|e| e.contains("at most 1 Bundle.entry of slice \"composition\"")),
        "{found:#?}"
    );
}

#[test]
fn packages_that_are_not_fhir_packages_are_refused_clearly() {
    let err = package::read(b"PK\x03\x04 a zip file").unwrap_err();
    assert!(err.to_string().contains("not gzip"), "{err}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b"not a tar").unwrap();
    let err = package::read(&gz.finish().unwrap()).unwrap_err();
    assert!(matches!(err, PackageError::NotAPackage(_)), "{err}");
    let err = package::read(&tarball_raw(&[("package/readme.md", b"hello".to_vec())])).unwrap_err();
    assert!(err.to_string().contains("no package/package.json"), "{err}");
    let err = package::read(&tarball(json!({"name": "x"}), &[])).unwrap_err();
    assert!(err.to_string().contains("has no \"version\""), "{err}");
    let err = package::read(&tarball(
        json!({"name": "x", "version": "1", "fhirVersions": ["5.0.0"]}),
        &[],
    ))
    .unwrap_err();
    assert!(matches!(err, PackageError::FhirVersion { .. }), "{err}");
    let err = package::read(&tarball_raw(&[
        (
            "package/package.json",
            br#"{"name":"x","version":"1"}"#.to_vec(),
        ),
        (
            "package/StructureDefinition-x.json",
            b"{\"resourceType\": ".to_vec(),
        ),
    ]))
    .unwrap_err();
    assert!(
        err.to_string().contains("StructureDefinition-x.json"),
        "{err}"
    );
}

#[test]
fn a_package_that_needs_another_names_what_is_missing() {
    if fixtures().is_none() {
        return;
    }
    // JP-CLINS derives its profiles from JP Core's, though its manifest only names the core.
    let clins = read_package("jp-clins.r4-1.5.2.tgz");
    let err = Conformance::new(&[clins]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("package jp-eCSCLINS.r4#1.x.x-temp needs "),
        "{text}"
    );
    assert!(
        text.contains("http://jpfhir.jp/fhir/core/StructureDefinition/JP_"),
        "{text}"
    );
    // A manifest dependency that is not installed.
    let needy = package::read(&tarball(
        json!({"name": "needy", "version": "1.0.0", "dependencies": {"hl7.fhir.r4.core": "4.0.1", "jp-core.r4": "1.1.2"}}),
        &[],
    ))
    .unwrap();
    let err = Conformance::new(&[needy]).unwrap_err();
    assert!(
        err.to_string().contains("install jp-core.r4#1.1.2 first"),
        "{err}"
    );
}

fn tarball(manifest: Value, resources: &[Value]) -> Vec<u8> {
    let mut files = vec![(
        "package/package.json".to_string(),
        manifest.to_string().into_bytes(),
    )];
    for r in resources {
        files.push((
            format!(
                "package/{}-{}.json",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            ),
            r.to_string().into_bytes(),
        ));
    }
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    tarball_raw(&files)
}

fn tarball_raw(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}
