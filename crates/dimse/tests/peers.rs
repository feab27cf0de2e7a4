//! Kizuna's DIMSE side against real peers: dcmtk's echoscu, storescu, findscu, getscu and
//! movescu (with dcmtk's storescp as the move destination), with the real head CT of
//! `../shared/fixtures/dicom`, on both backends. What comes back out has the data set it went
//! in with, byte for byte.

use kizuna_access::Network;
use kizuna_blobs::Blobs;
use kizuna_dimse::{Peer, Setup};
use kizuna_records::Records;
use kizuna_store::Store;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("dicom/head-ct");
    if !dir.is_dir() {
        assert!(
            std::env::var("CI").is_err(),
            "fixtures not found at {}",
            dir.display()
        );
        eprintln!("skipped: fixtures not found at {}", dir.display());
        return None;
    }
    if Command::new("storescu").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "dcmtk is not installed; scripts/test.sh installs it"
        );
        eprintln!("skipped: dcmtk not installed");
        return None;
    }
    Some(dir)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The data set of a Part 10 file (what DIMSE carries), by its meta information.
fn data_set(file: &[u8]) -> Vec<u8> {
    let placed = kizuna_dicom::file::data_set_of(file).unwrap();
    file[placed.offset..].to_vec()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// A node that knows the head CT's patient and answers DIMSE on `bind` (port 0: any free one)
/// with `peers`, its images under `images`; the address it listens on.
async fn node(store: &Store, images: &Path, peers: Vec<Peer>, bind: &str) -> std::net::SocketAddr {
    let records = Records::new(store.clone());
    let patient = json!({"resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11310000001", "value": "QMNx85rKkkg"}]});
    records.create("Patient", patient, None).await.unwrap();
    let setup = Arc::new(Setup {
        ae_title: "KIZUNA".into(),
        blobs: Blobs::local(images).unwrap(),
        peers,
    });
    let net = Arc::new(Network::with_random_key(records, None).unwrap());
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(kizuna_dimse::serve(
        listener,
        net,
        setup,
        std::future::pending(),
    ));
    addr
}

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().expect("the dcmtk tool runs")
}

#[tokio::test]
async fn dcmtk_peers_on_the_embedded_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("data").to_str().unwrap())
        .await
        .unwrap();
    peers(store, tmp.path()).await;
}

#[tokio::test]
async fn dcmtk_peers_on_postgres() {
    let Some(url) = kizuna_store::conformance::fresh_postgres_database().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    peers(Store::open(&url).await.unwrap(), tmp.path()).await;
}

async fn peers(store: Store, tmp: &Path) {
    let Some(ct_dir) = fixtures() else { return };
    let dest_port = free_port();
    let addr = node(
        &store,
        &tmp.join("images"),
        vec![Peer {
            ae_title: "DEST".into(),
            address: format!("127.0.0.1:{dest_port}"),
        }],
        "127.0.0.1:0",
    )
    .await;
    let port = addr.port().to_string();
    let sent: Vec<PathBuf> = files_in(&ct_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    assert_eq!(sent.len(), 28);
    let tmp = tmp.to_path_buf();
    let originals: Vec<Vec<u8>> = sent
        .iter()
        .map(|p| data_set(&std::fs::read(p).unwrap()))
        .collect();

    tokio::task::spawn_blocking(move || {
        // C-ECHO, and an association calling another AE title, refused.
        let out = run(Command::new("echoscu").args(["-aec", "KIZUNA", "127.0.0.1", &port]));
        assert!(
            out.status.success(),
            "echoscu: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(Command::new("echoscu").args(["-aec", "SOMEONE", "127.0.0.1", &port]));
        assert!(!out.status.success(), "a wrong called AE title is rejected");

        // C-STORE: the whole CT.
        let out = run(Command::new("storescu")
            .args(["-aec", "KIZUNA", "127.0.0.1", &port])
            .args(&sent));
        assert!(
            out.status.success(),
            "storescu: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // C-FIND at study, series and image level.
        let find = |level: &str, keys: &[&str]| {
            let mut c = Command::new("findscu");
            c.args([
                "-S",
                "-v",
                "-aec",
                "KIZUNA",
                "-k",
                &format!("QueryRetrieveLevel={level}"),
            ]);
            for k in keys {
                c.args(["-k", k]);
            }
            let out = run(c.args(["127.0.0.1", &port]));
            assert!(
                out.status.success(),
                "findscu: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let log = String::from_utf8_lossy(&out.stderr).to_string()
                + &String::from_utf8_lossy(&out.stdout);
            assert!(log.contains("Final Find Response (Success)"), "{log}");
            log
        };
        let log = find(
            "STUDY",
            &[
                "PatientID=QMNx85rKkkg",
                "StudyInstanceUID",
                "NumberOfStudyRelatedInstances",
                "ModalitiesInStudy",
            ],
        );
        assert_eq!(
            log.matches("Find Response:").count(),
            1,
            "one match and the final response: {log}"
        );
        assert!(
            log.contains("1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668"),
            "{log}"
        );
        assert!(log.contains("[28]"), "28 instances: {log}");
        assert!(log.contains("[CT]"), "{log}");
        let log = find("STUDY", &["PatientID=nobody", "StudyInstanceUID"]);
        assert_eq!(
            log.matches("Find Response:").count(),
            0,
            "no match, the final response only: {log}"
        );
        let log = find(
            "IMAGE",
            &[
                "StudyInstanceUID=1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668",
                "SOPInstanceUID",
                "InstanceNumber",
            ],
        );
        assert_eq!(log.matches("Find Response:").count(), 28, "{log}");

        // C-GET: the series back on the same association, data sets byte-identical.
        let got = tmp.join("got");
        std::fs::create_dir_all(&got).unwrap();
        let out = run(Command::new("getscu").args([
            "-S",
            "-aec",
            "KIZUNA",
            "-od",
            got.to_str().unwrap(),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "StudyInstanceUID=1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668",
            "127.0.0.1",
            &port,
        ]));
        assert!(
            out.status.success(),
            "getscu: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut back: Vec<Vec<u8>> = files_in(&got)
            .iter()
            .map(|p| data_set(&std::fs::read(p).unwrap()))
            .collect();
        let mut want = originals.clone();
        back.sort();
        want.sort();
        assert_eq!(back.len(), 28);
        assert!(
            back == want,
            "C-GET gives the data sets back byte-identical"
        );

        // C-MOVE to a storescp, and to an AE nobody configured.
        let moved = tmp.join("moved");
        std::fs::create_dir_all(&moved).unwrap();
        let mut scp = Command::new("storescp")
            .args([
                "-aet",
                "DEST",
                "-od",
                moved.to_str().unwrap(),
                &dest_port.to_string(),
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let out = run(Command::new("movescu").args([
            "-S",
            "-aec",
            "KIZUNA",
            "-aem",
            "DEST",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "StudyInstanceUID=1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668",
            "127.0.0.1",
            &port,
        ]));
        assert!(
            out.status.success(),
            "movescu: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut back: Vec<Vec<u8>> = files_in(&moved)
            .iter()
            .map(|p| data_set(&std::fs::read(p).unwrap()))
            .collect();
        back.sort();
        let _ = scp.kill();
        let _ = scp.wait();
        assert_eq!(back.len(), 28);
        assert!(back == want, "C-MOVE delivers the data sets byte-identical");
        let out = run(Command::new("movescu").args([
            "-S",
            "-v",
            "-aec",
            "KIZUNA",
            "-aem",
            "NOBODY",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "StudyInstanceUID=1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668",
            "127.0.0.1",
            &port,
        ]));
        let log = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            log.contains("0xa801")
                || log.contains("a801")
                || log.contains("MoveDestinationUnknown"),
            "{log}"
        );
    })
    .await
    .unwrap();

    // The study is in the record, complete once the association ended.
    let found = store
        .read(
            "ImagingStudy",
            &kizuna_records::imaging::study_resource_id(
                "1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668",
            ),
        )
        .await
        .unwrap()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(found.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["numberOfInstances"], 28);
    // Every operation was audited.
    let log = store.audit_after(0, 100_000).await.unwrap();
    for kind in [
        "dimse:c-store",
        "dimse:c-find",
        "dimse:c-get",
        "dimse:c-move",
    ] {
        assert!(log.iter().any(|e| e.entry.contains(kind)), "{kind} audited");
    }
    // The association's stores were announced once, ahead; each object has its own outcome.
    let stores = |outcome: &str| {
        log.iter()
            .filter(|e| e.entry.contains("dimse:c-store") && e.entry.contains(outcome))
            .count()
    };
    assert_eq!(
        stores("-> started"),
        1,
        "one entry ahead of the association's stores"
    );
    assert_eq!(stores("-> 200"), 28, "an entry for each object kept");
    let first_store = log.iter().position(|e| e.entry.contains("dimse:c-store"));
    assert!(
        log[first_store.unwrap()].entry.contains("-> started"),
        "the entry ahead comes first"
    );
}

/// An association aborted in the middle of an object keeps nothing of it, and the service goes
/// on: the next association stores the object whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_association_aborted_mid_transfer_keeps_nothing() {
    use dicom_ul::association::AsyncAssociation;
    use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
    use kizuna_dimse::message::{Command, field};
    let Some(ct_dir) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("data").to_str().unwrap())
        .await
        .unwrap();
    let images = tmp.path().join("images");
    let addr = node(&store, &images, vec![], "127.0.0.1:0").await;
    let file = std::fs::read(ct_dir.join("01.dcm")).unwrap();
    let placed = kizuna_dicom::file::data_set_of(&file).unwrap();
    let data = &file[placed.offset..];

    let mut assoc = dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title("MODALITY")
        .called_ae_title("KIZUNA")
        .with_presentation_context(
            placed.sop_class.clone(),
            vec![placed.transfer_syntax.clone()],
        )
        .establish_async(addr)
        .await
        .unwrap();
    let pc = assoc.presentation_contexts()[0].id;
    let mut rq = Command::new(field::C_STORE_RQ, &placed.sop_class, true);
    rq.set_us(dicom_dictionary_std::tags::MESSAGE_ID, 1);
    rq.set_us(dicom_dictionary_std::tags::PRIORITY, 0);
    rq.set_text(
        dicom_dictionary_std::tags::AFFECTED_SOP_INSTANCE_UID,
        dicom_core::VR::UI,
        &placed.sop_instance,
    );
    let half = Pdu::PData {
        data: vec![
            PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: rq.encode().unwrap(),
            },
            PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Data,
                is_last: false,
                data: data[..8000].to_vec(),
            },
        ],
    };
    AsyncAssociation::send(&mut assoc, &half).await.unwrap();
    assoc.abort().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let kept = std::fs::read_dir(&images).map(|d| d.count()).unwrap_or(0);
    assert_eq!(kept, 0, "nothing of the aborted object is kept");
    let id = kizuna_records::imaging::study_resource_id(
        "1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668",
    );
    assert!(store.read("ImagingStudy", &id).await.unwrap().is_none());

    // The service goes on: the same object, whole, by storescu.
    let port = addr.port().to_string();
    let path = ct_dir.join("01.dcm");
    let out = tokio::task::spawn_blocking(move || {
        Command_::new("storescu")
            .args(["-aec", "KIZUNA", "127.0.0.1", &port])
            .arg(path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(store.read("ImagingStudy", &id).await.unwrap().is_some());
}

use std::process::Command as Command_;

/// pynetdicom, a second independent peer: C-ECHO, C-STORE, C-FIND at two levels, and C-GET with
/// the requester as a storage SCP on the same association.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pynetdicom_against_kizuna() {
    let Some(ct_dir) = fixtures() else { return };
    let python = std::env::var("KIZUNA_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command_::new(&python)
        .args(["-c", "import pynetdicom"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert!(
            std::env::var("CI").is_err(),
            "pynetdicom is not installed for {python}"
        );
        eprintln!("skipped: pynetdicom not installed for {python}; run scripts/test.sh");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("data").to_str().unwrap())
        .await
        .unwrap();
    let addr = node(&store, &tmp.path().join("images"), vec![], "127.0.0.1:0").await;
    let port = addr.port().to_string();
    let files: Vec<PathBuf> = ["01.dcm", "02.dcm", "03.dcm", "04.dcm"]
        .iter()
        .map(|f| ct_dir.join(f))
        .collect();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/python-peers/dimse_check.py");
    let out = tokio::task::spawn_blocking(move || {
        Command_::new(&python)
            .arg(script)
            .arg(&port)
            .args(&files)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!({
            "established": true, "echo": 0, "store": [0, 0, 0, 0],
            "studies": [["0xff00", true, 4]], "series": [[true, "CT"]],
            "get_final": 0, "got": 4, "got_equal": 4,
        })
    );
}

/// This machine's address on its network (not loopback), as other machines reach it; None
/// without a route off the machine.
fn network_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks the route and its source address.
    s.connect("198.51.100.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// From another machine, only a configured peer may associate: its AE title, calling from an
/// address its host resolves to; anyone else is rejected with "calling AE title not
/// recognized". This machine (the node's operator) may call as any AE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_machines_associate_only_as_configured_peers() {
    let Some(ct_dir) = fixtures() else { return };
    let Some(ip) = network_address() else {
        assert!(
            std::env::var("CI").is_err(),
            "this machine has no network address besides loopback"
        );
        eprintln!("skipped: no network address besides loopback");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("data").to_str().unwrap())
        .await
        .unwrap();
    let addr = node(
        &store,
        &tmp.path().join("images"),
        vec![Peer {
            ae_title: "CT_ROOM_1".into(),
            address: format!("{ip}:104"),
        }],
        "0.0.0.0:0",
    )
    .await;
    let port = addr.port().to_string();
    let slice = files_in(&ct_dir)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "dcm"))
        .unwrap();
    let host = ip.to_string();
    let (host2, port2) = (host.clone(), port.clone());
    tokio::task::spawn_blocking(move || {
        let (host, port) = (host2, port2);
        let echo = |calling: &str, to: &str| {
            run(Command::new("echoscu").args(["-aet", calling, "-aec", "KIZUNA", to, &port]))
        };
        // The configured modality, from its address.
        let out = echo("CT_ROOM_1", &host);
        assert!(
            out.status.success(),
            "a configured peer associates: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Another AE title from the same machine: rejected, and told why.
        let out = echo("STRANGER", &host);
        assert!(!out.status.success(), "an unconfigured AE is rejected");
        let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            said.contains("calling ae title not recognized"),
            "the rejection says why: {said}"
        );
        // The configured AE title from loopback is the operator; so is any other.
        assert!(echo("STRANGER", "127.0.0.1").status.success());
        // The modality stores a slice.
        let out = run(Command::new("storescu")
            .args(["-aet", "CT_ROOM_1", "-aec", "KIZUNA", &host, &port])
            .arg(&slice));
        assert!(
            out.status.success(),
            "storescu: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(Command::new("storescu")
            .args(["-aet", "STRANGER", "-aec", "KIZUNA", &host, &port])
            .arg(&slice));
        assert!(!out.status.success(), "an unconfigured AE stores nothing");
    })
    .await
    .unwrap();
    let log = store.audit_after(0, 100_000).await.unwrap();
    assert!(
        log.iter().any(|e| e
            .entry
            .contains(&format!("C-STORE from CT_ROOM_1 at {host} -> 200"))),
        "the store is audited with the modality's AE title and address"
    );
    assert!(
        !log.iter().any(|e| e.entry.contains("STRANGER at")),
        "a rejected association reaches nothing"
    );
}
