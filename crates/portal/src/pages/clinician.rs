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
    let (_, records, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
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

/// The tabs of a patient's pages: (path below the patient, its name).
fn tabs(t: &Texts) -> [(&'static str, &'static str); 3] {
    [
        ("", t.summary),
        ("/timeline", t.timeline),
        ("/labs", t.labs_tab),
    ]
}

/// What every page of one patient shows at its top.
pub struct Head {
    pub p: PatientRow,
    /// (href, name, current) of each tab.
    pub tabs: Vec<(String, &'static str, bool)>,
}

/// The patient `id` as the caller sees them, the Patients the index links to them (whose
/// records the caller reads through their own scope), and the page's head; or the page
/// saying why not.
async fn patient_context(
    portal: &Portal,
    records: &Records,
    c: &Chrome,
    id: &str,
    tab: &str,
) -> Result<(Value, Vec<String>, Head), Response> {
    let again = || c.clone();
    let read = records
        .read("Patient", id)
        .await
        .map_err(|f| failure_page(again(), &f))?;
    let Some(body) = read_body(&read.payload) else {
        return Err(error_page(
            again(),
            StatusCode::NOT_FOUND,
            c.t.not_found,
            "/portal/patients",
        ));
    };
    let linked = portal
        .net
        .linked_patients(id)
        .await
        .map_err(|f| failure_page(again(), &f))?;
    let mut ids = vec![id.to_string()];
    ids.extend(linked);
    let head = Head {
        p: view::patient_row(&body, c.language),
        tabs: tabs(c.t)
            .iter()
            .map(|(path, name)| (format!("/portal/patients/{id}{path}"), *name, *path == tab))
            .collect(),
    };
    Ok((body, ids, head))
}

/// The resources of `rtype` in the compartments of the Patients `ids` the caller may see
/// (at most `limit` each).
async fn gather(
    records: &Records,
    ids: &[String],
    rtype: &str,
    extra: &[(&str, &str)],
    limit: usize,
) -> Result<Vec<Value>, Failure> {
    let mut out = Vec::new();
    for pid in ids {
        let mut pairs = vec![("patient".to_string(), format!("Patient/{pid}"))];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        out.extend(records.search_all(rtype, pairs, limit).await?.0);
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    c: Chrome,
    h: Head,
    sections: Vec<Section>,
}

pub async fn patient(
    State(portal): State<Arc<Portal>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (_, records, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (body, ids, h) = match patient_context(&portal, &records, &c, &id, "").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (items, _partial) = match records.summary_items(&id, &ids[1..]).await {
        Ok(x) => x,
        Err(f) => return failure_page(c, &f),
    };
    let sections = view::sections(&items, c.language);
    let mut shown = vec![body];
    shown.extend(items.into_iter().map(|i| i.resource));
    shows(
        html(StatusCode::OK, PatientPage { c, h, sections }.render()),
        shown,
    )
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePage {
    c: Chrome,
    h: Head,
    visits: Vec<view::Visit>,
}

/// Encounters shown at most (the most recent).
const VISITS: usize = 200;

pub async fn timeline(
    State(portal): State<Arc<Portal>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (_, records, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (body, ids, h) = match patient_context(&portal, &records, &c, &id, "/timeline").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (encounters, conditions) = match (
        gather(&records, &ids, "Encounter", &[], 1000).await,
        gather(&records, &ids, "Condition", &[], 1000).await,
    ) {
        (Ok(e), Ok(d)) => (e, d),
        (Err(f), _) | (_, Err(f)) => return failure_page(c, &f),
    };
    let visits = view::visits(&encounters, &conditions, c.language, VISITS);
    let mut shown = vec![body];
    shown.extend(encounters);
    shown.extend(conditions);
    shows(
        html(StatusCode::OK, TimelinePage { c, h, visits }.render()),
        shown,
    )
}

#[derive(Template)]
#[template(path = "labs.html")]
struct LabsPage {
    c: Chrome,
    h: Head,
    groups: Vec<(&'static str, Vec<view::Trend>)>,
}

pub async fn labs(
    State(portal): State<Arc<Portal>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (_, records, c) = match begin(&portal, &req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (body, ids, h) = match patient_context(&portal, &records, &c, &id, "/labs").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut shown = vec![body];
    let mut groups = Vec::new();
    for (category, heading) in [("laboratory", c.t.labs_tab), ("vital-signs", c.t.vitals)] {
        let found = match gather(
            &records,
            &ids,
            "Observation",
            &[("category", category)],
            2000,
        )
        .await
        {
            Ok(f) => f,
            Err(f) => return failure_page(c, &f),
        };
        groups.push((heading, view::trends(&found, c.language)));
        shown.extend(found);
    }
    shows(
        html(StatusCode::OK, LabsPage { c, h, groups }.render()),
        shown,
    )
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
