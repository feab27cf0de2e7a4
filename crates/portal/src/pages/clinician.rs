//! The clinician's pages: finding a patient, the summary first, then the timeline of
//! encounters, lab results with their trends, documents, images and the patient's shared
//! wearable data. Each reads only through the request's scoped records, and says what it
//! showed.

use super::*;

#[derive(Template)]
#[template(path = "patients.html")]
struct Patients {
    c: Chrome,
    error: Option<&'static str>,
    name: String,
    birthdate: String,
    identifier: String,
    searched: bool,
    patients: Vec<PatientRow>,
    more: bool,
}

/// Whether `s` is a date as the search form sends it (`YYYY-MM-DD`), or a year or month.
pub(super) fn is_date(s: &str) -> bool {
    let ok = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y] => ok(y, 4),
        [y, m] => ok(y, 4) && ok(m, 2),
        [y, m, d] => ok(y, 4) && ok(m, 2) && ok(d, 2) && s.parse::<jiff::civil::Date>().is_ok(),
        _ => false,
    }
}

pub async fn patients(
    State(portal): State<Arc<Portal>>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let (caller, records) = match scoped(&req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let c = chrome(&portal, &req, Some(&caller));
    let lang = c.language;
    let field = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (name, birthdate, identifier) = (field("name"), field("birthdate"), field("identifier"));
    let searched =
        q.contains_key("name") || q.contains_key("birthdate") || q.contains_key("identifier");
    let mut page = Patients {
        error: None,
        name: name.clone(),
        birthdate: birthdate.clone(),
        identifier: identifier.clone(),
        searched: false,
        patients: Vec::new(),
        more: false,
        c,
    };
    let listed = |page: Patients, concerns: Value| {
        let mut r = html(StatusCode::OK, page.render());
        r.extensions_mut().insert(Concerns(concerns));
        r
    };
    let nothing = json!({"resourceType": "Bundle", "entry": []});
    if !searched {
        return listed(page, nothing);
    }
    if name.is_empty() && birthdate.is_empty() && identifier.is_empty() {
        page.error = Some(page.c.t.need_criteria);
        return listed(page, nothing);
    }
    if !birthdate.is_empty() && !is_date(&birthdate) {
        page.error = Some(page.c.t.bad_date);
        let mut r = listed(page, nothing);
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("name".into(), name));
    }
    if !birthdate.is_empty() {
        pairs.push(("birthdate".into(), birthdate));
    }
    if !identifier.is_empty() {
        pairs.push(("identifier".into(), identifier));
    }
    pairs.push(("_count".into(), PAGE.to_string()));
    let req = kizuna_records::SearchRequest {
        rtype: Some("Patient".into()),
        patient: None,
        pairs,
        handling: kizuna_records::Handling::Lenient,
        base: portal.base.clone(),
    };
    let reply = match records.search(req).await {
        Ok(r) => r,
        Err(f) => return failure_page(page.c, &f),
    };
    let (found, more) = matches(&reply.payload);
    page.searched = true;
    page.more = more;
    page.patients = found.iter().map(|p| view::patient_row(p, lang)).collect();
    let entries: Vec<Value> = found.into_iter().map(|r| json!({"resource": r})).collect();
    listed(page, json!({"resourceType": "Bundle", "entry": entries}))
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    c: Chrome,
    p: PatientRow,
    sections: Vec<Section>,
}

pub async fn patient(
    State(portal): State<Arc<Portal>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (caller, records) = match scoped(&req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let c = chrome(&portal, &req, Some(&caller));
    let lang = c.language;
    let read = match records.read("Patient", &id).await {
        Ok(r) => r,
        Err(f) => return failure_page(c, &f),
    };
    let body: Value = match &read.payload {
        Payload::Version(v) => v
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    if body.is_null() {
        return error_page(
            c,
            StatusCode::NOT_FOUND,
            lang.texts().not_found,
            "/portal/patients",
        );
    }
    let linked = match portal.net.linked_patients(&id).await {
        Ok(l) => l,
        Err(f) => return failure_page(c, &f),
    };
    let (items, _partial) = match records.summary_items(&id, &linked).await {
        Ok(x) => x,
        Err(f) => return failure_page(c, &f),
    };
    let mut entries = vec![json!({"resource": body.clone()})];
    entries.extend(
        items
            .iter()
            .map(|i| json!({"resource": i.resource.clone()})),
    );
    let page = PatientPage {
        c,
        p: view::patient_row(&body, lang),
        sections: view::sections(&items, lang),
    };
    let mut r = html(StatusCode::OK, page.render());
    r.extensions_mut().insert(Concerns(
        json!({"resourceType": "Bundle", "entry": entries}),
    ));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_the_search_takes() {
        for ok in ["1970", "1970-05", "1970-05-01"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "",
            "1970-5-1",
            "1970-13-01",
            "1970-02-30",
            "19700501",
            "abcd",
            "1970-05-01T00",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }
}
