//! DICOMweb over real HTTP on both backends, with the real head CT and MR files of
//! `../shared/fixtures/dicom`: STOW-RS, QIDO-RS, WADO-RS (files byte-identical, metadata,
//! frames, bulk data, rendered images and thumbnails), the `ImagingStudy` in the record, and
//! the refusals of bad input.

mod common;

use common::{Backend, TestServer};
use serde_json::{Value, json};
use std::path::PathBuf;

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
        eprintln!("skipped: fixtures not found at {}", dir.display());
        None
    }
}

fn head_ct(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("head-ct"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

const BOUNDARY: &str = "kizuna-test-boundary";

fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (ctype, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Type: {ctype}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The parts of a multipart body: (headers, bytes).
fn parts_of(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("a boundary")
        .trim_matches('"')
        .to_string();
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, delim.as_bytes()) {
        rest = &rest[at + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("parts say their length")
            .trim()
            .parse()
            .unwrap();
        let data = &rest[head_end + 4..head_end + 4 + len];
        out.push((head, data.to_vec()));
        rest = &rest[head_end + 4 + len..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn stow_type() -> String {
    format!("multipart/related; type=\"application/dicom\"; boundary={BOUNDARY}")
}

fn tag<'a>(v: &'a Value, t: &str) -> &'a Value {
    &v[t]["Value"][0]
}

async fn patient(s: &TestServer, number: &str, birth: Option<&str>) -> String {
    let mut p = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11310000001", "value": number}],
        "name": [{"family": "山田", "given": ["太郎"]}],
    });
    if let Some(b) = birth {
        p["birthDate"] = json!(b);
    }
    let r = s
        .request(
            "POST",
            "/Patient",
            &[("content-type", "application/fhir+json")],
            Some(p.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn dicomweb_on_the_embedded_store() {
    dicomweb(Backend::Sqlite).await;
}

#[tokio::test]
async fn dicomweb_on_postgres() {
    dicomweb(Backend::Postgres).await;
}

async fn dicomweb(backend: Backend) {
    let Some(dir) = dicom() else { return };
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let web = s.base.replace("/fhir", "/dicomweb");
    let ct = head_ct(&dir);
    assert_eq!(ct.len(), 28);

    // Objects of a patient nobody registered are refused, nothing kept.
    let body = multipart(&[("application/dicom", &ct[0])]);
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let failed = &r.json()["00081198"]["Value"][0];
    assert_eq!(tag(failed, "00081197"), &json!(0xC000));
    assert!(
        r.header("warning")
            .unwrap()
            .contains("register the patient"),
        "{:?}",
        r.header("warning")
    );
    let r = s.request("GET", &format!("{web}/studies"), &[], None).await;
    assert_eq!(r.json(), json!([]));

    // The whole CT in one request, after its patient is registered.
    let ct_patient = patient(&s, "QMNx85rKkkg", None).await;
    let parts: Vec<(&str, &[u8])> = ct.iter().map(|b| ("application/dicom", &b[..])).collect();
    let body = multipart(&parts);
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let kept = r.json()["00081199"]["Value"].as_array().unwrap().clone();
    assert_eq!(kept.len(), 28);
    let first_url = tag(&kept[0], "00081190").as_str().unwrap().to_string();
    assert!(first_url.starts_with(&format!(
        "{web}/studies/1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668/series/"
    )));
    // Sent again: acknowledged again, kept once.
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200);
    let stored_files = walk(s.images.path());
    assert_eq!(stored_files, 28, "one file per object in object storage");

    // QIDO-RS.
    let r = s.request("GET", &format!("{web}/studies"), &[], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/dicom+json")
    );
    let studies = r.json();
    assert_eq!(studies.as_array().unwrap().len(), 1);
    let st = &studies[0];
    let study_uid = tag(st, "0020000D").as_str().unwrap().to_string();
    assert_eq!(tag(st, "00201208"), &json!(28));
    assert_eq!(tag(st, "00201206"), &json!(1));
    assert_eq!(st["00080061"]["Value"], json!(["CT"]));
    assert_eq!(tag(st, "00100020"), &json!("QMNx85rKkkg"));
    assert_eq!(
        tag(st, "00081190"),
        &json!(format!("{web}/studies/{study_uid}"))
    );
    for (query, n) in [
        ("PatientID=QMNx85rKkkg", 1),
        ("PatientID=qmnx85rkkkg", 0),
        ("PatientID=QMN*", 1),
        ("PatientID=QMN?85rKkkg", 1),
        ("PatientName=rem*", 1),
        ("PatientName=REMOVED", 1),
        ("PatientName=rem&fuzzymatching=true", 1),
        ("PatientName=xyz&fuzzymatching=true", 0),
        ("ModalitiesInStudy=CT", 1),
        ("ModalitiesInStudy=MR", 0),
        ("StudyDate=20000101-", 0),
        (&format!("StudyInstanceUID={study_uid}"), 1),
        ("StudyInstanceUID=1.2.3", 0),
    ] {
        let r = s
            .request("GET", &format!("{web}/studies?{query}"), &[], None)
            .await;
        assert_eq!(
            r.status,
            200,
            "{query}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json().as_array().unwrap().len(), n, "{query}");
    }
    let r = s
        .request(
            "GET",
            &format!("{web}/studies/{study_uid}/series"),
            &[],
            None,
        )
        .await;
    let series = r.json();
    assert_eq!(series.as_array().unwrap().len(), 1);
    let series_uid = tag(&series[0], "0020000E").as_str().unwrap().to_string();
    assert_eq!(tag(&series[0], "00201209"), &json!(28));
    // Paging instances: limit and offset cover all 28, each once.
    let mut seen = std::collections::BTreeSet::new();
    for offset in [0, 10, 20] {
        let r = s
            .request("GET", &format!("{web}/studies/{study_uid}/series/{series_uid}/instances?limit=10&offset={offset}&includefield=00280030"), &[], None)
            .await;
        // Pages before the last say that more can be asked for (PS3.18 8.3.4.2).
        let more = r.header("warning").is_some_and(|w| {
            w.starts_with("299") && w.contains("additional results that can be requested")
        });
        assert_eq!(more, offset < 20, "the Warning at offset {offset}");
        for i in r.json().as_array().unwrap() {
            assert!(
                i["00280030"].is_object(),
                "includefield gives Pixel Spacing"
            );
            assert_eq!(tag(i, "00280010"), &json!(512));
            seen.insert(tag(i, "00080018").as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen.len(), 28);
    let r = s
        .request(
            "GET",
            &format!(
                "{web}/instances?SOPInstanceUID=1.2.3,{}",
                seen.iter().next().unwrap()
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    for bad in [
        "studies?limit=x",
        "studies?Nonsense=1",
        "studies?SOPInstanceUID=1.2",
        "studies?StudyDate=today",
    ] {
        let r = s.request("GET", &format!("{web}/{bad}"), &[], None).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
    }
    let r = s
        .request(
            "GET",
            &format!("{web}/studies?BodyPartExamined=HEAD"),
            &[],
            None,
        )
        .await;
    assert!(r.header("warning").unwrap().contains("BodyPartExamined"));

    // WADO-RS: the files as received, byte for byte.
    let sop = tag(&kept[5], "00081155").as_str().unwrap().to_string();
    let sent = ct
        .iter()
        .find(|b| find(b, sop.as_bytes()).is_some())
        .unwrap();
    let url = format!("{web}/studies/{study_uid}/series/{series_uid}/instances/{sop}");
    let r = s.request("GET", &url, &[], None).await;
    assert_eq!(r.status, 200);
    let parts = parts_of(&r.header("content-type").unwrap(), &r.body);
    assert_eq!(parts.len(), 1);
    assert!(parts[0].0.contains("application/dicom"));
    assert_eq!(&parts[0].1, sent, "the instance comes back byte-identical");
    let r = s
        .request("GET", &format!("{web}/studies/{study_uid}"), &[], None)
        .await;
    let parts = parts_of(&r.header("content-type").unwrap(), &r.body);
    assert_eq!(parts.len(), 28);
    let mut got: Vec<Vec<u8>> = parts.into_iter().map(|p| p.1).collect();
    let mut want = ct.clone();
    got.sort();
    want.sort();
    assert!(got == want, "the study comes back byte-identical");
    let r = s
        .request("GET", &url, &[("accept", "application/json")], None)
        .await;
    assert_eq!(r.status, 406);

    // Metadata, with the pixel data by reference, and the reference served.
    let r = s
        .request("GET", &format!("{url}/metadata"), &[], None)
        .await;
    let meta = r.json();
    let pixel = &meta[0]["7FE00010"];
    let bulk = pixel["BulkDataURI"].as_str().unwrap();
    assert_eq!(bulk, format!("{url}/bulkdata/7FE00010"));
    assert_eq!(tag(&meta[0], "00080060"), &json!("CT"));
    let r = s.request("GET", bulk, &[], None).await;
    let parts = parts_of(&r.header("content-type").unwrap(), &r.body);
    assert_eq!(parts[0].1.len(), 512 * 512 * 2);
    let r = s
        .request(
            "GET",
            &format!("{web}/studies/{study_uid}/metadata"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 28);
    let r = s
        .request("GET", &format!("{url}/bulkdata/00100010"), &[], None)
        .await;
    assert_eq!(r.status, 404, "a name is not bulk data");

    // Frames, and frames that are not there.
    let r = s
        .request("GET", &format!("{url}/frames/1"), &[], None)
        .await;
    assert_eq!(r.status, 200);
    let parts = parts_of(&r.header("content-type").unwrap(), &r.body);
    assert_eq!(parts[0].1.len(), 512 * 512 * 2);
    for bad in ["frames/2", "frames/0", "frames/x"] {
        let r = s.request("GET", &format!("{url}/{bad}"), &[], None).await;
        assert!(matches!(r.status, 400 | 404), "{bad}: {}", r.status);
    }

    // Rendered: JPEG by default, PNG when asked, windowed and fitted.
    let r = s
        .request("GET", &format!("{url}/rendered"), &[], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("image/jpeg"));
    assert_eq!(&r.body[..2], &[0xFF, 0xD8]);
    let r = s
        .request(
            "GET",
            &format!("{url}/frames/1/rendered?window=400,2000&viewport=256,256"),
            &[("accept", "image/png")],
            None,
        )
        .await;
    assert_eq!(r.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(&r.body[1..4], b"PNG");
    assert_eq!(
        u32::from_be_bytes(r.body[16..20].try_into().unwrap()),
        256,
        "width fitted to the viewport"
    );
    for level in [
        format!("{web}/studies/{study_uid}"),
        format!("{web}/studies/{study_uid}/series/{series_uid}"),
        url.clone(),
    ] {
        let r = s
            .request("GET", &format!("{level}/thumbnail"), &[], None)
            .await;
        assert_eq!(r.status, 200, "{level}");
        assert!(r.body.len() < 16 * 1024);
    }
    for bad in [
        "rendered?window=40",
        "rendered?quality=0",
        "rendered?viewport=0,10",
        "rendered?foo=1",
    ] {
        let r = s.request("GET", &format!("{url}/{bad}"), &[], None).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = s
        .request("GET", &format!("{web}/studies/1.2.3/rendered"), &[], None)
        .await;
    assert_eq!(r.status, 404);

    // The study in the record: one ImagingStudy, searchable by patient.
    let r = s
        .request(
            "GET",
            &format!("/ImagingStudy?patient={ct_patient}"),
            &[],
            None,
        )
        .await;
    let bundle = r.json();
    assert_eq!(bundle["total"], 1, "{bundle}");
    let is = &bundle["entry"][0]["resource"];
    assert_eq!(is["numberOfInstances"], 28);
    assert_eq!(is["numberOfSeries"], 1);
    assert_eq!(is["identifier"][0]["value"], format!("urn:oid:{study_uid}"));
    assert_eq!(is["series"][0]["instance"].as_array().unwrap().len(), 28);
    assert_eq!(is["series"][0]["modality"]["code"], "CT");

    // An MR image in JPEG 2000, for a patient with a birth date: kept, decoded for rendering.
    let ts = dir.join("transfer-syntaxes");
    let j2k = std::fs::read(ts.join("9.dcm")).unwrap();
    let wrong = patient(&s, "crlab", Some("1990-01-01")).await;
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(multipart(&[("application/dicom", &j2k)])),
        )
        .await;
    assert_eq!(r.status, 409, "the birth date disagrees");
    assert!(r.header("warning").unwrap().contains("Birth Date"));
    let r = s
        .request("DELETE", &format!("/Patient/{wrong}"), &[], None)
        .await;
    assert_eq!(r.status, 200);
    patient(&s, "crlab", Some("1980-07-07")).await;
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(multipart(&[("application/dicom", &j2k)])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mr = tag(&r.json()["00081199"]["Value"][0], "00081190")
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .request(
            "GET",
            &format!("{mr}/rendered"),
            &[("accept", "image/png")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s.request("GET", &format!("{mr}/frames/1"), &[], None).await;
    let parts = parts_of(&r.header("content-type").unwrap(), &r.body);
    assert!(parts[0].0.contains("application/octet-stream"));
    assert_eq!(
        parts[0].1.len(),
        384 * 384 * 2,
        "decoded for a client that asks for samples"
    );
    let r = s
        .request(
            "GET",
            &format!("{mr}/frames/1"),
            &[("accept", "multipart/related; type=\"image/jp2\"")],
            None,
        )
        .await;
    let parts = parts_of(&r.header("content-type").unwrap(), &r.body);
    assert!(parts[0].0.contains("image/jp2"));
    assert!(parts[0].1.len() < 384 * 384 * 2, "as stored, compressed");
    // The same SOP Instance UID with other content (a byte of its pixels changed): never
    // replaced.
    let mut altered = j2k.clone();
    let n = altered.len();
    altered[n - 12] ^= 0xFF;
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(multipart(&[("application/dicom", &altered)])),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        tag(&r.json()["00081198"]["Value"][0], "00081197"),
        &json!(0x0111)
    );
    let r = s
        .request(
            "GET",
            &format!("{web}/studies?ModalitiesInStudy=MR&PatientID=crlab"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);

    // Bad input: clear refusals, nothing half-kept, the server keeps serving.
    let no_boundary = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[(
                "content-type",
                "multipart/related; type=\"application/dicom\"",
            )],
            Some(b"x".to_vec()),
        )
        .await;
    assert_eq!(no_boundary.status, 400);
    assert!(String::from_utf8_lossy(&no_boundary.body).contains("boundary"));
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", "application/dicom")],
            Some(ct[0].clone()),
        )
        .await;
    assert_eq!(r.status, 415);
    let mut truncated = ct[1].clone();
    truncated.truncate(3000);
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(multipart(&[
                ("application/dicom", b"not dicom at all"),
                ("application/dicom", &truncated),
                ("text/plain", b"hello"),
            ])),
        )
        .await;
    assert_eq!(r.status, 409);
    let failed = r.json()["00081198"]["Value"].as_array().unwrap().clone();
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|f| tag(f, "00081197") == &json!(0xC000)));
    let r = s
        .request(
            "POST",
            &format!("{web}/studies/1.2.3"),
            &[("content-type", &stow_type())],
            Some(multipart(&[("application/dicom", &ct[2])])),
        )
        .await;
    assert_eq!(
        r.status, 409,
        "an object of another study than the path names"
    );
    assert_eq!(
        tag(&r.json()["00081198"]["Value"][0], "00081197"),
        &json!(0xA900)
    );
    let cut = multipart(&[("application/dicom", &ct[3])]);
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(cut[..cut.len() / 2].to_vec()),
        )
        .await;
    assert_eq!(r.status, 400, "a body cut short");
    assert_eq!(walk(s.images.path()), 29, "nothing half-kept");
    let r = s.request("GET", &format!("{web}/studies"), &[], None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 2);

    // Every answer was audited as concerning the study's patient.
    let log = s.store.audit_after(0, 100_000).await.unwrap();
    for kind in ["dicomweb:stow", "dicomweb:qido", "dicomweb:wado"] {
        assert!(
            log.iter()
                .any(|e| e.entry.contains(kind)
                    && e.entry.contains(&format!("Patient/{ct_patient}"))),
            "{kind} audited as concerning the patient"
        );
    }
    assert!(
        log.iter()
            .any(|e| e.entry.contains("dicomweb:stow") && e.entry.contains("\"outcome\":\"4\""))
            || log
                .iter()
                .any(|e| e.entry.contains("dicomweb:stow") && e.entry.contains("409")),
        "refused stores audited too"
    );
}

/// The national hub's way: images in an S3-compatible bucket (moto's server), through the
/// same DICOMweb, byte for byte.
#[tokio::test]
async fn images_in_an_s3_bucket() {
    let Some(dir) = dicom() else { return };
    let Some(s3) = kizuna_blobs::s3_test_server::S3Server::start("hub-images") else {
        return;
    };
    let blobs = kizuna_blobs::Blobs::open_with("s3://hub-images/tokyo", &s3.settings()).unwrap();
    let Some(s) = TestServer::start_with_images(Backend::Sqlite, blobs).await else {
        return;
    };
    let web = s.base.replace("/fhir", "/dicomweb");
    patient(&s, "QMNx85rKkkg", None).await;
    let ct = head_ct(&dir);
    let parts: Vec<(&str, &[u8])> = ct[..4]
        .iter()
        .map(|b| ("application/dicom", &b[..]))
        .collect();
    let r = s
        .request(
            "POST",
            &format!("{web}/studies"),
            &[("content-type", &stow_type())],
            Some(multipart(&parts)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let study = tag(&r.json()["00081199"]["Value"][0], "00081190")
        .as_str()
        .unwrap()
        .split("/series/")
        .next()
        .unwrap()
        .to_string();
    let r = s.request("GET", &study, &[], None).await;
    let mut got: Vec<Vec<u8>> = parts_of(&r.header("content-type").unwrap(), &r.body)
        .into_iter()
        .map(|p| p.1)
        .collect();
    let mut want = ct[..4].to_vec();
    got.sort();
    want.sort();
    assert!(
        got == want,
        "the files come back from the bucket byte-identical"
    );
    let r = s
        .request("GET", &format!("{study}/thumbnail"), &[], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(walk(s.images.path()), 0, "nothing on the local disk");
}

/// dicomweb-client (Python), an independent client: stores the CT, finds it, and gets the
/// same data set back, with its metadata, a frame and a rendered image.
#[tokio::test]
async fn dicomweb_client_against_kizuna() {
    let Some(dir) = dicom() else { return };
    let python = std::env::var("KIZUNA_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_client = std::process::Command::new(&python)
        .args(["-c", "import dicomweb_client, pydicom"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_client {
        assert!(
            std::env::var("CI").is_err(),
            "dicomweb-client is not installed for {python}"
        );
        eprintln!("skipped: dicomweb-client not installed for {python}; run scripts/test.sh");
        return;
    }
    let Some(s) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    patient(&s, "QMNx85rKkkg", None).await;
    let web = s.base.replace("/fhir", "/dicomweb");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("head-ct"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    files.truncate(10);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/python-peers/dicomweb_check.py");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(script)
            .arg(&web)
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
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!({
            "referenced": 10, "studies": 1, "series": 1, "instances_page": 5, "fuzzy": 1,
            "retrieved_equal": 10, "series_retrieved": 10, "metadata_modality": "CT",
            "frame_bytes": 512 * 512 * 2, "frame_equal": true, "rendered_png": true,
        })
    );
}

const INSURED: &str = "00012345:あいう:1234:01";
const HOSPITAL: &str = "0110113719";
const CLINIC: &str = "1310000011";

#[tokio::test]
async fn images_follow_the_record_s_access_rules_embedded() {
    access_rules(Backend::Sqlite).await;
}

#[tokio::test]
async fn images_follow_the_record_s_access_rules_postgres() {
    access_rules(Backend::Postgres).await;
}

/// Over real mutual TLS: a hospital's CT is its own; a clinic sees neither the study nor its
/// images until the patient consents there, and never adds to the hospital's study.
async fn access_rules(backend: Backend) {
    use common::mtls::{Cred, institution, issue, network, serve};
    use kizuna_access::index::{self, Registration};
    let Some(dir) = dicom() else { return };
    let store = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match kizuna_store::conformance::fresh_postgres_database().await {
            Some(url) => Some(kizuna_store::Store::open(&url).await.unwrap()),
            None => return,
        },
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = match store {
        Some(s) => s,
        None => kizuna_store::Store::open(tmp.path().join("data").to_str().unwrap())
            .await
            .unwrap(),
    };
    let pki = tmp.path().join("pki");
    let (mut ca, server) = network(&pki);
    let (hospital, _, _) = issue(&mut ca, institution(HOSPITAL, "絆病院"));
    let (clinic, _, _) = issue(&mut ca, institution(CLINIC, "絆クリニック"));
    let (client, records) = serve(store, &pki, &server, tmp.path()).await;
    index::register(
        &records,
        &Registration {
            insured_member_id: Some(INSURED.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let web = client.base.replace("/fhir", "/dicomweb");
    let call = |who: &Cred,
                method: &'static str,
                url: String,
                headers: Vec<String>,
                body: Option<Vec<u8>>| {
        let (client, who) = (client.clone(), who.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let h: Vec<&str> = headers.iter().map(String::as_str).collect();
                client.raw(Some(&who), method, &url, &h, body.as_deref())
            })
            .await
            .unwrap()
        }
    };
    for (who, code) in [(&hospital, HOSPITAL), (&clinic, CLINIC)] {
        let p = json!({"resourceType": "Patient", "birthDate": "1970-05-01",
            "identifier": [
                {"system": kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, "value": INSURED},
                {"system": format!("urn:oid:1.2.392.100495.20.3.51.1{code}"), "value": "QMNx85rKkkg"}]});
        let r = call(
            who,
            "POST",
            format!("{}/Patient", client.base),
            vec![],
            Some(p.to_string().into_bytes()),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let ct = head_ct(&dir);
    let ctype = format!("Content-Type: {}", stow_type());
    let body = multipart(&[
        ("application/dicom", &ct[0]),
        ("application/dicom", &ct[1]),
        ("application/dicom", &ct[2]),
    ]);
    let r = call(
        &hospital,
        "POST",
        format!("{web}/studies"),
        vec![ctype.clone()],
        Some(body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let kept = r.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();
    let study = kept.split("/series/").next().unwrap().to_string();
    let study_uid = study.rsplit('/').next().unwrap().to_string();

    // The hospital sees its study; the clinic nothing of it.
    let r = call(&hospital, "GET", format!("{web}/studies"), vec![], None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = call(&clinic, "GET", format!("{web}/studies"), vec![], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([]));
    for url in [
        study.clone(),
        kept.clone(),
        format!("{kept}/rendered"),
        format!("{kept}/metadata"),
        format!("{study}/thumbnail"),
    ] {
        let r = call(&clinic, "GET", url.clone(), vec![], None).await;
        assert_eq!(r.status, 404, "{url}");
    }
    let r = call(
        &clinic,
        "GET",
        format!("{}/ImagingStudy", client.base),
        vec![],
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 0);
    // The clinic cannot add to the hospital's study, even for its own record of the patient.
    let r = call(
        &clinic,
        "POST",
        format!("{web}/studies"),
        vec![ctype.clone()],
        Some(multipart(&[("application/dicom", &ct[3])])),
    )
    .await;
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["00081198"]["Value"][0]["00081197"]["Value"][0],
        json!(0xA900)
    );

    // The patient consents at the clinic: the study and its images are part of what it sees.
    let consent = json!({"resourceType": "Parameters", "parameter": [
        {"name": "insuredMemberId", "valueString": INSURED}, {"name": "birthDate", "valueDate": "1970-05-01"},
        {"name": "setting", "valueCode": "outpatient"}]});
    let r = call(
        &clinic,
        "POST",
        format!("{}/Consent/$spoken", client.base),
        vec![],
        Some(consent.to_string().into_bytes()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = call(
        &clinic,
        "GET",
        format!("{web}/studies?PatientID=QMNx85rKkkg"),
        vec![],
        None,
    )
    .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["0020000D"]["Value"][0], json!(study_uid));
    let r = call(&clinic, "GET", kept.clone(), vec![], None).await;
    assert_eq!(r.status, 200);
    let parts = parts_of(r.header("content-type").unwrap(), &r.body);
    assert!(
        ct.contains(&parts[0].1),
        "the clinic gets the file as the hospital sent it"
    );
    let r = call(&clinic, "GET", format!("{kept}/rendered"), vec![], None).await;
    assert_eq!(r.status, 200);
    let r = call(
        &clinic,
        "GET",
        format!("{}/ImagingStudy", client.base),
        vec![],
        None,
    )
    .await;
    assert_eq!(r.json()["total"], 1);
}

/// How many files are under `dir`.
fn walk(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += walk(&p);
        } else {
            n += 1;
        }
    }
    n
}
