//! The portal over real HTTP on both backends: signing in (and every way it can go wrong),
//! finding a patient by kanji, kana, birth date and insured-member number, the summary with
//! each item's source; a clinic without the patient's consent sees nothing of a hospital's
//! records on any page, and does once the patient consents; every page is audited; sessions
//! end on sign-out and refuse forged cookies and forms from other sites.

use kizuna_access::consent::Setting;
use kizuna_access::index::{self, Registration};
use kizuna_access::{Caller, Network};
use kizuna_records::{Payload, Records};
use serde_json::{Value, json};

mod common;
use common::{Backend, Resp, TestServer};

const HOSPITAL: (&str, &str) = ("0110113719", "絆病院");
const CLINIC: (&str, &str) = ("1310000011", "絆クリニック");
const INSURED: &str = "00012345:あいう:1234:01";
const INSTITUTION_NO: &str = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
const REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The session cookie a sign-in answer sets (`name=value`).
fn session_cookie(r: &Resp) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find(|c| c.starts_with("kizuna-portal="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", r.headers))
        .to_string()
}

async fn create(records: &Records, body: Value) -> String {
    let rtype = body["resourceType"].as_str().unwrap().to_string();
    let reply = records
        .create(&rtype, body, None)
        .await
        .unwrap_or_else(|f| panic!("create refused: {f:?}"));
    match reply.payload {
        Payload::Version(v) => v.id,
        _ => panic!("no version"),
    }
}

/// The absolute URL of a portal path (the test server's base is its FHIR base).
fn at(server: &TestServer, path: &str) -> String {
    format!("{}{path}", server.base.trim_end_matches("/fhir"))
}

async fn get(server: &TestServer, path: &str) -> Resp {
    server.request("GET", &at(server, path), &[], None).await
}

struct Page<'a> {
    server: &'a TestServer,
    cookie: String,
}

impl Page<'_> {
    async fn get(&self, path: &str) -> Resp {
        self.server
            .request(
                "GET",
                &at(self.server, path),
                &[("cookie", self.cookie.as_str())],
                None,
            )
            .await
    }
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        post(self.server, path, &self.cookie, form).await
    }
}

async fn post(server: &TestServer, path: &str, cookie: &str, form: &[(&str, &str)]) -> Resp {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let origin = server.base.trim_end_matches("/fhir").to_string();
    server
        .request(
            "POST",
            &at(server, path),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", cookie),
                ("origin", origin.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
            Some(body.into_bytes()),
        )
        .await
}

async fn sign_in<'a>(server: &'a TestServer, who: (&str, &str), staff: &str) -> Page<'a> {
    let r = post(
        server,
        "/portal/signin",
        "",
        &[("institution", who.0), ("staff", staff)],
    )
    .await;
    assert_eq!(r.status, 303, "sign-in: {}", text(&r));
    assert_eq!(r.header("location").as_deref(), Some("/portal/patients"));
    let set = r.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    Page {
        server,
        cookie: session_cookie(&r),
    }
}

/// The CSRF token a page's forms carry.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"_csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 20;
    page[at..].split('"').next().unwrap().to_string()
}

/// The institutions, and the hospital's patient with a diagnosis, an allergy and a lab result
/// (registered in the patient index by her insured-member number); her Patient id.
async fn seed(server: &TestServer) -> (Network, String) {
    let net = Network::with_random_key(Records::new(server.store.clone()), None).unwrap();
    for (code, name) in [HOSPITAL, CLINIC] {
        create(
            net.records(),
            json!({"resourceType": "Organization", "name": name,
                "identifier": [{"system": INSTITUTION_NO, "value": code}]}),
        )
        .await;
    }
    let hospital = net
        .records_for(&Caller::institution(HOSPITAL.0, HOSPITAL.1))
        .await
        .unwrap();
    let name = |rep: &str, family: &str, given: &str| {
        json!({"extension": [{"url": REPRESENTATION, "valueCode": rep}],
            "family": family, "given": [given]})
    };
    let patient = create(
        &hospital,
        json!({"resourceType": "Patient", "birthDate": "1970-05-01", "gender": "female",
            "identifier": [{"system": kizuna_jpid::INSURED_MEMBER_ID_SYSTEM, "value": INSURED}],
            "name": [name("IDE", "山田", "花子"), name("SYL", "ヤマダ", "ハナコ")]}),
    )
    .await;
    let subject = json!({"reference": format!("Patient/{patient}")});
    create(
        &hospital,
        json!({"resourceType": "Condition", "subject": subject,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "code": {"text": "2型糖尿病"}, "onsetDateTime": "2019-04-01"}),
    )
    .await;
    create(
        &hospital,
        json!({"resourceType": "AllergyIntolerance", "patient": subject,
            "category": ["medication"],
            "code": {"text": "ペニシリン"}, "recordedDate": "2020-02-03"}),
    )
    .await;
    create(
        &hospital,
        json!({"resourceType": "Observation", "status": "final", "subject": subject,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}]},
            "valueQuantity": {"value": 7.2, "unit": "%"},
            "effectiveDateTime": "2026-11-20T23:30:00Z"}),
    )
    .await;
    index::register(
        net.records(),
        &Registration {
            insured_member_id: Some(INSURED.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    (net, patient)
}

async fn run(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let (net, patient) = seed(&server).await;
    // Not signed in: sent to sign in; the sign-in page lists the node's institutions.
    let r = get(&server, "/portal/").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/portal/signin"));
    let r = get(&server, "/portal/patients?name=山田").await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/portal/signin"))
    );
    let r = get(&server, "/portal/signin").await;
    assert_eq!(r.status, 200);
    let page = text(&r);
    assert!(
        page.contains("<html lang=\"ja\">") && page.contains("サインイン"),
        "{page}"
    );
    assert!(page.contains(HOSPITAL.1) && page.contains(CLINIC.0));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'self'"));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    // In English when the browser asks for it.
    let r = server
        .request(
            "GET",
            &at(&server, "/portal/signin"),
            &[("accept-language", "en-US,en;q=0.8")],
            None,
        )
        .await;
    assert!(text(&r).contains("<html lang=\"en\">") && text(&r).contains("Sign in"));

    // Signing in wrong: each said on the page, in plain words, and nothing signed in.
    for (form, says) in [
        (
            vec![("institution", HOSPITAL.0), ("staff", "  ")],
            "お名前（職員）を入力してください",
        ),
        (vec![("staff", "dr-sato")], "施設を選んでください"),
        (
            vec![("institution", "1319999999"), ("staff", "dr-sato")],
            "その施設はこのノードに登録されていません",
        ),
    ] {
        let r = post(&server, "/portal/signin", "", &form).await;
        assert_eq!(r.status, 400, "{form:?}");
        assert!(text(&r).contains(says), "{form:?}: {}", text(&r));
        assert!(r.header("set-cookie").is_none());
    }
    // A sign-in form sent from another site is refused.
    let r = server
        .request(
            "POST",
            &at(&server, "/portal/signin"),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("sec-fetch-site", "cross-site"),
            ],
            Some(format!("institution={}&staff=x", HOSPITAL.0).into_bytes()),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());
    // A forged cookie is not a session, and the sign-in page says why.
    let forged = Page {
        server: &server,
        cookie: "kizuna-portal=v1.eyJzaWQiOiJ4In0.AAAA".into(),
    };
    let r = forged.get("/portal/patients").await;
    assert_eq!(
        r.header("location").as_deref(),
        Some("/portal/signin?why=forged")
    );

    // The clinic, without the patient's consent, finds nothing and sees nothing.
    let clinic = sign_in(&server, CLINIC, "dr-sato").await;
    for q in [
        "name=山田",
        "name=ヤマダ",
        "birthdate=1970-05-01",
        &format!("identifier={INSURED}"),
    ] {
        let r = clinic.get(&format!("/portal/patients?{q}")).await;
        assert_eq!(r.status, 200, "{q}");
        let page = text(&r);
        assert!(page.contains("閲覧できる範囲にいません"), "{q}: {page}");
        assert!(!page.contains("花子") && !page.contains(&patient), "{q}");
    }
    let r = clinic.get(&format!("/portal/patients/{patient}")).await;
    assert_eq!(r.status, 404);
    let page = text(&r);
    assert!(!page.contains("2型糖尿病") && !page.contains("花子") && !page.contains("ペニシリン"));

    // The hospital finds her by each way in, and reads her summary with its sources.
    let doctor = sign_in(&server, HOSPITAL, "dr-tanaka").await;
    for q in [
        "name=山田",
        "name=ヤマダ",
        "name=やまだ",
        "birthdate=1970-05-01",
        &format!(
            "identifier={}",
            form_urlencoded::byte_serialize(INSURED.as_bytes()).collect::<String>()
        ),
    ] {
        let r = doctor.get(&format!("/portal/patients?{q}")).await;
        let page = text(&r);
        assert!(
            page.contains(&format!("/portal/patients/{patient}"))
                && page.contains("山田\u{3000}花子"),
            "{q}: {page}"
        );
        assert!(page.contains("ヤマダ\u{3000}ハナコ") && page.contains("1970年5月1日（昭和45年）"));
    }
    let r = doctor
        .get("/portal/patients?name=&birthdate=&identifier=")
        .await;
    assert!(text(&r).contains("検索する条件を1つ以上入力してください"));
    let r = doctor.get("/portal/patients?birthdate=1970-5-1").await;
    assert_eq!(r.status, 400);
    assert!(text(&r).contains("年-月-日"));
    let r = doctor.get(&format!("/portal/patients/{patient}")).await;
    assert_eq!(r.status, 200);
    let page = text(&r);
    for shown in [
        "2型糖尿病",
        "ペニシリン",
        "HbA1c",
        "7.2 %",
        "2019年4月1日",
        HOSPITAL.1,
        "dr-tanaka",
    ] {
        assert!(page.contains(shown), "{shown} in {page}");
    }
    // The lab result taken at 23:30 UTC on the 20th is the 21st in Japan.
    assert!(page.contains("2026年11月21日"), "{page}");
    let r = doctor.get("/portal/patients/no-such-patient").await;
    assert_eq!(r.status, 404);
    // English on request, kept by a cookie; the switch only goes back into the portal.
    let r = doctor
        .get("/portal/lang?to=en&back=/portal/patients%3Fname%3D%E5%B1%B1%E7%94%B0")
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/portal/patients?name=%E5%B1%B1%E7%94%B0")
    );
    assert!(
        r.header("set-cookie")
            .unwrap()
            .starts_with("kizuna-lang=en")
    );
    let r = doctor.get("/portal/lang?to=en&back=//evil.example/").await;
    assert_eq!(r.header("location").as_deref(), Some("/portal/"));
    let english = Page {
        server: &server,
        cookie: format!("{}; kizuna-lang=en", doctor.cookie),
    };
    let page = text(&english.get(&format!("/portal/patients/{patient}")).await);
    assert!(
        page.contains("Diagnoses") && page.contains("21 Nov 2026") && page.contains("1 May 1970")
    );
    // The language switch comes back to this very page.
    let back = format!("back=%2Fportal%2Fpatients%2F{patient}\"");
    assert!(page.contains(&back), "{back} in {page}");

    // Once she consents at the clinic (spoken, the fallback), the clinic sees her records.
    let clinic_caller = {
        let mut c = Caller::institution(CLINIC.0, CLINIC.1);
        c.staff = Some("dr-sato".into());
        c
    };
    net.consent_spoken(&clinic_caller, INSURED, "1970-05-01", Setting::Outpatient)
        .await
        .unwrap();
    let page = text(&clinic.get("/portal/patients?name=ヤマダ").await);
    assert!(
        page.contains(&format!("/portal/patients/{patient}")),
        "{page}"
    );
    let page = text(&clinic.get(&format!("/portal/patients/{patient}")).await);
    assert!(
        page.contains("2型糖尿病") && page.contains(HOSPITAL.1),
        "{page}"
    );

    // Every page was audited: who (institution and staff), which page, which patient.
    let (entries, _) = server
        .store
        .audit_by_keys(&[format!("Patient/{patient}")], 1000)
        .await
        .unwrap();
    let pages: Vec<&str> = entries
        .iter()
        .map(|e| e.entry.as_str())
        .filter(|e| e.contains("portal:patient\"") || e.contains("portal:patient\\\""))
        .collect();
    assert!(
        pages
            .iter()
            .any(|e| e.contains("dr-tanaka") && e.contains(HOSPITAL.0)),
        "the hospital's reads are audited: {entries:?}"
    );
    assert!(
        pages.iter().any(|e| e.contains("dr-sato")),
        "the clinic's too"
    );

    // Signing out needs the page's CSRF token; afterwards the old cookie is refused.
    let page = text(&doctor.get("/portal/patients").await);
    let token = csrf_of(&page);
    let r = doctor.post("/portal/signout", &[("_csrf", "wrong")]).await;
    assert_eq!(r.status, 403);
    assert!(text(&r).contains("何も保存していません"));
    assert_eq!(
        doctor.get("/portal/patients").await.status,
        200,
        "still signed in"
    );
    let r = doctor.post("/portal/signout", &[("_csrf", &token)]).await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/portal/signin"))
    );
    let r = doctor.get("/portal/patients").await;
    assert_eq!(
        r.header("location").as_deref(),
        Some("/portal/signin?why=expired")
    );
    let r = get(&server, "/portal/signin?why=expired").await;
    assert!(text(&r).contains("もう一度サインインしてください"));

    // The stylesheet is embedded and cached for good; an unknown page is a page, not a crash.
    let r = get(&server, "/portal/assets/portal.css").await;
    assert_eq!(r.status, 200);
    assert!(r.header("cache-control").unwrap().contains("immutable"));
    let r = get(&server, "/portal/nothing-here").await;
    assert_eq!(r.status, 404);
    assert!(text(&r).contains("見つかりません"));
}

/// The paragraph of a page's error message (role="alert"), or "".
fn alert(page: &str) -> String {
    page.split("role=\"alert\"")
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
        .to_string()
}

/// Reception over real HTTP: the patient's card and PIN on the machine's reader (software
/// cards in a directory, issued by a real card authority and checked against its CRL), every
/// way it fails said on the page with nothing recorded, the spoken fallback marked weaker, and
/// emergency access with a reason; the clinic sees the timeline and lab trends only after.
async fn reception_run(backend: Backend) {
    use kizuna_trust::ca_dir::CaDir;
    use kizuna_trust::card::{CardDir, SoftwareCard};
    use kizuna_trust::pki::Holder;
    let pki = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut ca = CaDir::init(&pki.path().join("ca"), "Kizuna test", now).unwrap();
    let cards = pki.path().join("cards");
    std::fs::create_dir_all(&cards).unwrap();
    for serial in ["CARD0001", "CARD0002"] {
        let (issued, _, _) = ca
            .issue(
                &Holder::Card {
                    serial: serial.into(),
                },
                now,
                365,
            )
            .unwrap();
        SoftwareCard::create(
            &cards.join(format!("{serial}.card")),
            serial,
            &issued.cert_pem,
            &issued.key_pem,
            "1234",
        )
        .unwrap();
    }
    let [_, card_crl] = ca.publish_crls(now).unwrap();
    let card_ca = std::fs::read_to_string(pki.path().join("ca").join("card-ca.pem")).unwrap();
    let trust =
        std::sync::Arc::new(kizuna_server::tls::CardAuthority::new(&card_ca, card_crl).unwrap());
    let Some(server) =
        TestServer::start_with_cards(backend, trust, std::sync::Arc::new(CardDir::new(&cards)))
            .await
    else {
        return;
    };
    let (net, patient) = seed(&server).await;
    // CARD0001 is hers; CARD0002 is nobody's.
    index::register(
        net.records(),
        &Registration {
            insured_member_id: Some(INSURED.into()),
            card_serials: vec!["CARD0001".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let clinic = sign_in(&server, CLINIC, "受付 鈴木").await;

    // Without consent the clinic sees none of the hospital's timeline or results.
    for tab in ["", "/timeline", "/labs"] {
        let r = clinic
            .get(&format!("/portal/patients/{patient}{tab}"))
            .await;
        assert_eq!(r.status, 404, "{tab}");
        assert!(!text(&r).contains("2型糖尿病") && !text(&r).contains("HbA1c"));
    }
    let page = text(&clinic.get("/portal/reception").await);
    assert!(
        page.contains("CARD0001") && page.contains("CARD0002"),
        "{page}"
    );
    let token = csrf_of(&page);
    let card = |card: &'static str, pin: &'static str| {
        let token = token.clone();
        let clinic = &clinic;
        async move {
            clinic
                .post(
                    "/portal/reception/card",
                    &[
                        ("_csrf", &token),
                        ("card", card),
                        ("pin", pin),
                        ("setting", "outpatient"),
                    ],
                )
                .await
        }
    };
    // Each wrong input is said on the page, and nothing is recorded.
    let r = card("CARD0001", "12").await;
    assert_eq!(r.status, 400);
    assert!(alert(&text(&r)).contains("4桁"), "{}", text(&r));
    let r = clinic
        .post(
            "/portal/reception/card",
            &[
                ("_csrf", &token),
                ("card", "CARD0001"),
                ("pin", "1234"),
                ("setting", "weekly"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "an unknown kind of visit is refused");
    let r = card("CARD0001", "9999").await;
    assert_eq!(r.status, 400);
    assert!(alert(&text(&r)).contains("あと2回"), "{}", text(&r));
    let r = card("CARD0002", "1234").await;
    assert_eq!(r.status, 404);
    assert!(
        alert(&text(&r)).contains("登録されていません"),
        "{}",
        text(&r)
    );
    let r = clinic
        .post(
            "/portal/reception/card",
            &[("_csrf", "forged"), ("card", "CARD0001"), ("pin", "1234")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(text(&r).contains("何も保存していません"));
    assert_eq!(
        clinic
            .get(&format!("/portal/patients/{patient}"))
            .await
            .status,
        404
    );
    // Three wrong PINs lock a card; the right PIN then does nothing either.
    let mut locked = false;
    for _ in 0..3 {
        let r = card("CARD0002", "0000").await;
        assert_eq!(r.status, 400);
        locked = alert(&text(&r)).contains("ロック");
    }
    assert!(locked, "the third wrong PIN locks the card");
    let r = card("CARD0002", "1234").await;
    assert!(
        alert(&text(&r)).contains("ロックされています"),
        "{}",
        text(&r)
    );

    // Her card and PIN: the consent, whose records, until when; then the clinic sees them.
    let r = card("CARD0001", "1234").await;
    let page = text(&r);
    assert_eq!(r.status, 200, "{page}");
    assert!(
        page.contains("同意を受け付けました") && page.contains("カードと暗証番号"),
        "{page}"
    );
    assert!(page.contains("山田") && page.contains(&format!("/portal/patients/{patient}\"")));
    let page = text(
        &clinic
            .get(&format!("/portal/patients/{patient}/labs"))
            .await,
    );
    assert!(
        page.contains("HbA1c") && page.contains("7.2 %") && page.contains(HOSPITAL.1),
        "{page}"
    );
    let r = clinic
        .get(&format!("/portal/patients/{patient}/timeline"))
        .await;
    assert_eq!(r.status, 200);

    // The spoken fallback, at the hospital's reception: checked, and marked weaker.
    let hospital = sign_in(&server, HOSPITAL, "受付 高橋").await;
    let token = csrf_of(&text(&hospital.get("/portal/reception").await));
    let spoken = |birth: &'static str, agreed: &'static str| {
        let token = token.clone();
        let hospital = &hospital;
        async move {
            hospital
                .post(
                    "/portal/reception/spoken",
                    &[
                        ("_csrf", &token),
                        ("insured", INSURED),
                        ("birthdate", birth),
                        ("agreed", agreed),
                    ],
                )
                .await
        }
    };
    let r = spoken("1970-05-01", "").await;
    assert_eq!(r.status, 400);
    assert!(alert(&text(&r)).contains("チェック"));
    let r = spoken("1971-05-01", "yes").await;
    assert_eq!(r.status, 400);
    assert!(alert(&text(&r)).contains("登録されていません"));
    let r = spoken("1970-5-1", "yes").await;
    assert!(alert(&text(&r)).contains("年-月-日"));
    let r = spoken("1970-05-01", "yes").await;
    let page = text(&r);
    assert_eq!(r.status, 200, "{page}");
    assert!(
        page.contains("口頭") && page.contains("本人確認が弱い方法"),
        "{page}"
    );

    // Emergency access: a reason is needed, the person must exist; then clearly marked.
    let token = csrf_of(&text(&hospital.get("/portal/emergency").await));
    let r = hospital
        .post(
            "/portal/emergency",
            &[("_csrf", &token), ("person", INSURED), ("reason", "急")],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = hospital
        .post(
            "/portal/emergency",
            &[
                ("_csrf", &token),
                ("person", "00012345:あいう:9999:01"),
                ("reason", "救急搬送、意識障害"),
            ],
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(alert(&text(&r)).contains("見つかりません"));
    let r = hospital
        .post(
            "/portal/emergency",
            &[
                ("_csrf", &token),
                ("person", INSURED),
                ("reason", "救急搬送、意識障害"),
            ],
        )
        .await;
    let page = text(&r);
    assert_eq!(r.status, 200, "{page}");
    assert!(page.contains("緊急アクセスを開始しました") && page.contains("救急搬送、意識障害"));

    // Reception is audited like the API: who, which patient.
    let (entries, _) = server
        .store
        .audit_by_keys(&[format!("Patient/{patient}")], 1000)
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.entry.contains("portal:reception") && e.entry.contains("受付 鈴木")),
        "{entries:?}"
    );
    assert!(entries.iter().any(|e| e.entry.contains("portal:emergency")));
}

#[tokio::test]
async fn reception_on_the_embedded_store() {
    reception_run(Backend::Sqlite).await;
}

#[tokio::test]
async fn reception_on_postgres() {
    reception_run(Backend::Postgres).await;
}

#[tokio::test]
async fn portal_on_the_embedded_store() {
    run(Backend::Sqlite).await;
}

#[tokio::test]
async fn portal_on_postgres() {
    run(Backend::Postgres).await;
}

/// The flows of `tools/portal-e2e` clicked through in Debian's chromium, with screenshots in
/// `target/portal-e2e` (or `KIZUNA_ARTEFACTS`). Without chromium or the test's npm packages
/// (`scripts/test.sh` installs both) it is skipped loudly, and under CI it fails.
#[tokio::test]
async fn portal_in_a_real_browser() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let e2e = root.join("tools/portal-e2e");
    let chromium = std::env::var("KIZUNA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing = [
        (!std::path::Path::new(&chromium).exists()).then_some("Debian's chromium"),
        (!e2e.join("node_modules/playwright-core").exists())
            .then_some("playwright-core (npm ci --prefix tools/portal-e2e)"),
    ];
    let missing: Vec<&str> = missing.into_iter().flatten().collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser tests need {missing:?}: scripts/test.sh installs them"
        );
        eprintln!(
            "*** SKIPPED: the browser tests need {missing:?} (scripts/test.sh installs them) ***"
        );
        return;
    }
    let Some(server) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    seed(&server).await;
    let artefacts = std::env::var("KIZUNA_ARTEFACTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target/portal-e2e"));
    let base = server.base.trim_end_matches("/fhir").to_string();
    // Blocking on a thread of its own: this runtime keeps serving the pages meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("--test")
            .arg("--test-reporter=spec")
            .arg("portal.test.mjs")
            .current_dir(&e2e)
            .env("KIZUNA_BASE", base)
            .env("KIZUNA_CHROMIUM", chromium)
            .env("KIZUNA_ARTEFACTS", &artefacts)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs (Debian's nodejs)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{report}");
    assert!(out.status.success(), "the browser flows failed:\n{report}");
    assert!(
        report.contains("pass 3") || report.contains("✔"),
        "{report}"
    );
}
