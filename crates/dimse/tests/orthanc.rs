//! Kizuna with Orthanc (Debian's package), a real PACS: Kizuna sends the head CT to it by
//! C-STORE, and a second Kizuna node gets the study back from it by C-GET; the data sets that
//! come out are the ones that went in, byte for byte.

use kizuna_blobs::Blobs;
use kizuna_dimse::scu::{Transferred, get_study, send_studies};
use kizuna_dimse::{Peer, Setup};
use kizuna_records::Records;
use kizuna_store::Store;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const STUDY: &str = "1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668";

struct Orthanc {
    child: Child,
    http: String,
    dicom: u16,
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Orthanc on loopback ports of its own, with its storage under `dir`.
fn orthanc(dir: &Path) -> Option<Orthanc> {
    let binary = ["/usr/sbin/Orthanc", "/usr/bin/Orthanc"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(binary) = binary else {
        assert!(
            std::env::var("CI").is_err(),
            "Orthanc is not installed; scripts/test.sh installs it"
        );
        eprintln!("skipped: Orthanc not installed");
        return None;
    };
    let (dicom, http) = (free_port(), free_port());
    let config = json!({
        "Name": "kizuna-test",
        "StorageDirectory": dir.join("storage"),
        "IndexDirectory": dir.join("index"),
        "DicomAet": "ORTHANC",
        "DicomPort": dicom,
        "HttpPort": http,
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "DicomCheckCalledAet": false,
        "DicomAlwaysAllowStore": true,
        "DicomAlwaysAllowGet": true,
        "DicomAlwaysAllowFind": true,
        "Plugins": [],
    });
    let file = dir.join("orthanc.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let child = Command::new(binary)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Orthanc starts");
    let o = Orthanc {
        child,
        http: format!("http://127.0.0.1:{http}"),
        dicom,
    };
    for _ in 0..300 {
        let up = Command::new("curl")
            .args(["-sf", &format!("{}/system", o.http)])
            .output()
            .is_ok_and(|r| r.status.success());
        if up {
            return Some(o);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("Orthanc did not start");
}

fn curl(url: &str) -> Vec<u8> {
    let out = Command::new("curl").args(["-sf", url]).output().unwrap();
    assert!(out.status.success(), "GET {url}");
    out.stdout
}

fn data_set(file: &[u8]) -> Vec<u8> {
    let placed = kizuna_dicom::file::data_set_of(file).unwrap();
    file[placed.offset..].to_vec()
}

/// A Kizuna node (embedded store) knowing the CT's patient.
async fn node(dir: &Path) -> (Records, Setup) {
    let store = Store::open(dir.join("data").to_str().unwrap())
        .await
        .unwrap();
    let records = Records::new(store);
    let patient = json!({"resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11310000001", "value": "QMNx85rKkkg"}]});
    records.create("Patient", patient, None).await.unwrap();
    let setup = Setup {
        ae_title: "KIZUNA".into(),
        blobs: Blobs::local(&dir.join("images")).unwrap(),
        peers: vec![],
    };
    (records, setup)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kizuna_sends_to_orthanc_and_gets_back_from_it() {
    let fixtures = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("dicom/head-ct");
    if !fixtures.is_dir() {
        assert!(std::env::var("CI").is_err(), "fixtures not found");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(pacs) = orthanc(tmp.path()) else {
        return;
    };
    let peer = Peer {
        ae_title: "ORTHANC".into(),
        address: format!("127.0.0.1:{}", pacs.dicom),
    };
    let mut originals: Vec<Vec<u8>> = Vec::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "dcm") {
            let b = std::fs::read(&p).unwrap();
            originals.push(data_set(&b));
            files.push(bytes::Bytes::from(b));
        }
    }
    originals.sort();
    assert_eq!(originals.len(), 28);

    // Node A keeps the CT and sends it to Orthanc.
    std::fs::create_dir_all(tmp.path().join("a")).unwrap();
    let (a, a_setup) = node(&tmp.path().join("a")).await;
    let stored = a
        .store_images(&a_setup.blobs, files, None, true, None)
        .await
        .unwrap();
    assert_eq!(stored.len(), 28);
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let sent = send_studies(&a, &a_setup, &peer, &[STUDY.to_string()], &|done, of| {
        assert!(done <= of);
        seen.store(done, std::sync::atomic::Ordering::Relaxed);
    })
    .await
    .unwrap();
    assert_eq!(
        sent,
        Transferred {
            completed: 28,
            failed: 0
        }
    );
    assert_eq!(seen.into_inner(), 28, "progress reached the end");
    let ids: Vec<String> =
        serde_json::from_slice(&curl(&format!("{}/instances", pacs.http))).unwrap();
    assert_eq!(ids.len(), 28, "Orthanc has the 28 instances");
    let mut in_orthanc: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| data_set(&curl(&format!("{}/instances/{id}/file", pacs.http))))
        .collect();
    in_orthanc.sort();
    assert!(
        in_orthanc == originals,
        "Orthanc keeps the data sets Kizuna sent, byte for byte"
    );

    // Node B gets the study from Orthanc.
    std::fs::create_dir_all(tmp.path().join("b")).unwrap();
    let (b, b_setup) = node(&tmp.path().join("b")).await;
    let got = get_study(&b, &b_setup, &peer, STUDY).await.unwrap();
    assert_eq!(
        got,
        Transferred {
            completed: 28,
            failed: 0
        }
    );
    let found = b
        .find_images(kizuna_store::imaging::ImageQuery {
            level: kizuna_store::imaging::Level::Instance,
            filters: vec![],
            offset: 0,
            limit: None,
            with_attrs: false,
            access: None,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 28);
    let mut in_b = Vec::new();
    for f in &found {
        in_b.push(data_set(&b_setup.blobs.get(&f.blob).await.unwrap()));
    }
    in_b.sort();
    assert!(
        in_b == originals,
        "the study comes back from Orthanc byte-identical"
    );
    let study = b
        .store()
        .read(
            "ImagingStudy",
            &kizuna_records::imaging::study_resource_id(STUDY),
        )
        .await
        .unwrap()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(study.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["numberOfInstances"], 28);

    // An unreachable peer is an error that says so.
    let nobody = Peer {
        ae_title: "NOBODY".into(),
        address: format!("127.0.0.1:{}", free_port()),
    };
    let e = get_study(&b, &b_setup, &nobody, STUDY).await.unwrap_err();
    assert!(e.contains("could not be reached"), "{e}");
}
