//! Reception and emergency access: the patient's card and PIN give consent (the card on this
//! machine's reader signs the network's one-time challenge); a card without a chip gives the
//! weaker spoken consent; a clinician may break the glass with a reason. Each answers with the
//! grant (whose records, until when, how) or why it failed, in plain words; nothing half-done.

use super::*;
use kizuna_access::consent::{Basis, CardAnswer, Granted, Setting};
use kizuna_trust::card::CardError;

#[derive(Template)]
#[template(path = "reception.html")]
struct Reception {
    c: Chrome,
    /// The card reader, in words (None: none on this machine).
    reader: Option<String>,
    cards: Vec<String>,
    /// Why the reader could not be read.
    reader_trouble: Option<String>,
    /// The form that failed, and why.
    error: Option<(&'static str, String)>,
    card: String,
    insured: String,
    birthdate: String,
    inpatient: bool,
}

#[derive(Template)]
#[template(path = "granted.html")]
struct GrantedPage {
    c: Chrome,
    basis: Basis,
    until: String,
    inpatient: bool,
    patients: Vec<PatientRow>,
    /// The reason given, for an emergency access.
    reason: String,
}

#[derive(Template)]
#[template(path = "emergency.html")]
struct Emergency {
    c: Chrome,
    error: Option<String>,
    person: String,
    reason: String,
}

/// The kind of visit a form gives (outpatient when not given); None: not one of them.
fn setting_in(f: &HashMap<String, String>) -> Option<Setting> {
    match f.get("setting").map(String::as_str) {
        Some("inpatient") => Some(Setting::Inpatient),
        None | Some("outpatient") => Some(Setting::Outpatient),
        Some(_) => None,
    }
}

fn setting_of(f: &HashMap<String, String>) -> Setting {
    setting_in(f).unwrap_or(Setting::Outpatient)
}

/// Reception and emergency access are an institution's: anyone else (a patient's card, say) is
/// told so on the page.
fn institution_only(c: Chrome, caller: &Caller) -> Result<Chrome, Response> {
    if caller.institution_code().is_some() {
        return Ok(c);
    }
    let message = c.t.refused;
    Err(error_page(c, StatusCode::FORBIDDEN, message, "/portal/"))
}

/// The reception page as it stands, with `error` said on the form it concerns.
fn reception_form(
    portal: &Portal,
    c: Chrome,
    status: StatusCode,
    error: Option<(&'static str, String)>,
    f: &HashMap<String, String>,
) -> Response {
    let (reader, cards, reader_trouble) = match &portal.reader {
        None => (None, Vec::new(), None),
        Some(r) => match r.present() {
            Ok(cards) => (Some(r.describe()), cards, None),
            Err(e) => {
                tracing::warn!(error = %e, "reception: the card reader cannot be read");
                (Some(r.describe()), Vec::new(), Some(String::new()))
            }
        },
    };
    let field = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    shows_nothing(html(
        status,
        Reception {
            c,
            reader,
            cards,
            reader_trouble,
            error,
            card: field("card"),
            insured: field("insured"),
            birthdate: field("birthdate"),
            inpatient: setting_of(f) == Setting::Inpatient,
        }
        .render(),
    ))
}

pub async fn reception(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let (caller, _, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let c = match institution_only(c, &caller) {
        Ok(c) => c,
        Err(r) => return r,
    };
    reception_form(&portal, c, StatusCode::OK, None, &HashMap::new())
}

/// What a card said when asked to sign, in the reader's words.
fn card_trouble(t: &Texts, e: &CardError) -> String {
    match e {
        CardError::WrongPin { remaining: 0 } | CardError::Locked => t.card_locked.to_string(),
        CardError::WrongPin { remaining } => t.wrong_pin.replace("{n}", &remaining.to_string()),
        CardError::BadPin => t.pin_format.to_string(),
        CardError::Unusable(why) => {
            // The detail (a file, a reader) is for the operator's log, not the page.
            tracing::debug!(%why, "reception: the card could not be used");
            t.card_unreadable.to_string()
        }
    }
}

/// A refused consent in plain words (the network's reason kept as a detail).
fn consent_trouble(t: &Texts, f: &Failure) -> String {
    let plain = match f.status {
        404 => t.card_unregistered,
        403 => t.card_refused,
        503 => t.no_card_authority,
        _ => t.unavailable,
    };
    match f.issues.first().map(|i| i.message.as_str()) {
        Some(why) if !why.is_empty() => format!("{plain} ({why})"),
        _ => plain.to_string(),
    }
}

pub async fn by_card(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let (caller, _, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let c = match institution_only(c, &caller) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = c.t;
    let Some(f) = posted(&portal, req).await else {
        return error_page(
            c,
            StatusCode::FORBIDDEN,
            t.form_expired,
            "/portal/reception",
        );
    };
    let fail = |c, status, why: String| reception_form(&portal, c, status, Some(("card", why)), &f);
    let Some(reader) = portal.reader.clone() else {
        return fail(c, StatusCode::BAD_REQUEST, t.no_reader.to_string());
    };
    let card = f
        .get("card")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let pin = f.get("pin").cloned().unwrap_or_default();
    if card.is_empty() {
        return fail(c, StatusCode::BAD_REQUEST, t.choose_card.to_string());
    }
    if setting_in(&f).is_none() {
        return fail(c, StatusCode::BAD_REQUEST, t.missing_field.to_string());
    }
    if pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return fail(c, StatusCode::BAD_REQUEST, t.pin_format.to_string());
    }
    let challenge = match portal.net.challenge(&caller) {
        Ok(ch) => ch,
        Err(e) => return fail(c, StatusCode::SERVICE_UNAVAILABLE, consent_trouble(t, &e)),
    };
    // The card works slowly (a PIN check, a signature): off the async workers.
    let text = challenge.text.clone();
    let portal_for_card = portal.clone();
    let signed = tokio::task::spawn_blocking(move || {
        let _one_at_a_time = portal_for_card
            .card_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut card = reader.open(&card)?;
        let certificate = card.certificate()?;
        let signature = card.sign(&pin, text.as_bytes())?;
        Ok::<_, CardError>((certificate, signature))
    })
    .await;
    let (certificate, signature) = match signed {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!("reception: the card did not sign");
            return fail(c, StatusCode::BAD_REQUEST, card_trouble(t, &e));
        }
        Err(_) => {
            return fail(
                c,
                StatusCode::INTERNAL_SERVER_ERROR,
                t.unavailable.to_string(),
            );
        }
    };
    let answer = CardAnswer {
        challenge: challenge.text,
        signature,
        certificate,
        setting: setting_of(&f),
    };
    match portal.net.consent_by_card(&caller, &answer).await {
        Ok(g) => granted(&portal, c, &caller, g, answer.setting, "").await,
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::FORBIDDEN);
            fail(c, status, consent_trouble(t, &e))
        }
    }
}

pub async fn spoken(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let (caller, _, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let c = match institution_only(c, &caller) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = c.t;
    let Some(f) = posted(&portal, req).await else {
        return error_page(
            c,
            StatusCode::FORBIDDEN,
            t.form_expired,
            "/portal/reception",
        );
    };
    let fail = |c, why: &str| {
        reception_form(
            &portal,
            c,
            StatusCode::BAD_REQUEST,
            Some(("spoken", why.to_string())),
            &f,
        )
    };
    let insured = f.get("insured").map(|s| s.trim()).unwrap_or("");
    let birthdate = f.get("birthdate").map(|s| s.trim()).unwrap_or("");
    if insured.is_empty() || birthdate.is_empty() {
        return fail(c, t.spoken_missing);
    }
    if birthdate.len() != 10 || !clinician::is_date(birthdate) {
        return fail(c, t.bad_date);
    }
    if setting_in(&f).is_none() {
        return fail(c, t.missing_field);
    }
    if f.get("agreed").map(String::as_str) != Some("yes") {
        return fail(c, t.spoken_unconfirmed);
    }
    let setting = setting_of(&f);
    match portal
        .net
        .consent_spoken(&caller, insured, birthdate, setting)
        .await
    {
        Ok(g) => granted(&portal, c, &caller, g, setting, "").await,
        Err(e) if e.status == 400 => fail(c, t.bad_insured),
        Err(e) if e.status == 403 => fail(c, t.spoken_mismatch),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let mut r = fail(c, t.unavailable);
            *r.status_mut() = status;
            r
        }
    }
}

pub async fn emergency_page(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let (caller, _, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let c = match institution_only(c, &caller) {
        Ok(c) => c,
        Err(r) => return r,
    };
    shows_nothing(html(
        StatusCode::OK,
        Emergency {
            c,
            error: None,
            person: String::new(),
            reason: String::new(),
        }
        .render(),
    ))
}

pub async fn emergency(State(portal): State<Arc<Portal>>, req: Request) -> Response {
    let (caller, _, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let c = match institution_only(c, &caller) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = c.t;
    let Some(f) = posted(&portal, req).await else {
        return error_page(
            c,
            StatusCode::FORBIDDEN,
            t.form_expired,
            "/portal/emergency",
        );
    };
    let person = f.get("person").map(|s| s.trim()).unwrap_or("").to_string();
    let reason: String = f
        .get("reason")
        .map(|s| s.trim())
        .unwrap_or("")
        .chars()
        .take(500)
        .collect();
    let again = |c, status, error: &str| {
        shows_nothing(html(
            status,
            Emergency {
                c,
                error: Some(error.to_string()),
                person: person.clone(),
                reason: reason.clone(),
            }
            .render(),
        ))
    };
    if person.is_empty() {
        return again(c, StatusCode::BAD_REQUEST, t.emergency_who);
    }
    if reason.chars().count() < 4 {
        return again(c, StatusCode::BAD_REQUEST, t.emergency_reason);
    }
    match portal.net.break_glass(&caller, &person, &reason).await {
        Ok(g) => granted(&portal, c, &caller, g, Setting::Outpatient, &reason).await,
        Err(e) if e.status == 404 => again(c, StatusCode::NOT_FOUND, t.emergency_nobody),
        Err(e) if e.status == 400 => again(c, StatusCode::BAD_REQUEST, t.emergency_reason),
        Err(_) => again(c, StatusCode::SERVICE_UNAVAILABLE, t.unavailable),
    }
}

/// The page saying what was granted: whose records (the person's Patients as the caller now
/// sees them, its own first), until when, and how.
async fn granted(
    portal: &Portal,
    c: Chrome,
    caller: &Caller,
    g: Granted,
    setting: Setting,
    reason: &str,
) -> Response {
    let lang = c.language;
    tracing::info!(
        basis = g.basis.code(),
        "portal: access granted at reception"
    );
    // The request's records were scoped before the grant: the caller's scope now.
    let records = match portal.net.records_for(caller).await {
        Ok(r) => r,
        Err(f) => return failure_page(c, &f),
    };
    let ids = match portal.net.patients_of_person(&g.person).await {
        Ok(ids) => ids,
        Err(f) => return failure_page(c, &f),
    };
    let own = caller.institution_code().unwrap_or_default().to_string();
    let mut shown: Vec<Value> = Vec::new();
    for id in ids {
        if let Ok(r) = records.read("Patient", &id).await
            && let Some(p) = read_body(&r.payload)
        {
            shown.push(p);
        }
    }
    shown.sort_by_key(|p| !kizuna_records::written_by(p, &own));
    let page = GrantedPage {
        basis: g.basis,
        until: lang.instant(g.until),
        inpatient: setting == Setting::Inpatient,
        patients: shown.iter().map(|p| view::patient_row(p, lang)).collect(),
        reason: reason.to_string(),
        c,
    };
    let mut concerns = shown;
    concerns.push(g.consent);
    shows(html(StatusCode::OK, page.render()), concerns)
}
