//! Which resources a caller may see, as the store applies it: one SQL condition on a resource
//! row, added to every statement that answers a caller (search pages and counts, the targets of
//! chains and the referrers of `_has`, includes, reads and history). What the rules are (who is
//! granted which patients) is decided above the store (`kizuna-access`); this module only turns
//! the decision into SQL, so that a resource a caller may not see is never counted, matched or
//! returned, by any path.
//!
//! A resource is visible when it is:
//! - the caller's own: it carries one of the `own` tags (the writer's custodian tag); or
//! - of a type about no patient (`shared_types`: practitioners, organizations, medications); or
//! - in the compartment of a patient of `patients` (or is that Patient), and not hidden by that
//!   patient (by one of the labels or tags in `hidden_labels`, or as one of the `hidden`
//!   resources);
//!
//! and it carries none of the `never` tags or labels (`UNINFORMED` conditions in patient-facing
//! views).

use crate::search::{Arg, Sql};

/// What a caller may see. `Access::default()` sees nothing.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Tags (system, code) that mark the caller's own resources.
    pub own: Vec<(String, String)>,
    /// Resource types anyone may see (shared: the same list serves every request).
    pub shared_types: std::sync::Arc<[String]>,
    /// Patients whose records are visible, with what each hides.
    pub patients: Vec<PatientScope>,
    /// Tags or security labels (system, code) that make a resource invisible whatever else.
    pub never: Vec<(String, String)>,
    /// The index keys the condition reads (see [`AccessKeys`]).
    pub keys: std::sync::Arc<AccessKeys>,
}

/// The index keys of the parameters the condition reads, for every resource type: computed
/// once from the definitions (by `kizuna-records`), as the store does not interpret FHIR.
#[derive(Debug, Clone, Default)]
pub struct AccessKeys {
    /// The reference parameters that put a resource in a patient's compartment.
    pub compartment: Vec<i32>,
    /// `_tag` and `_security`.
    pub labels: Vec<i32>,
}

/// One person's records: the Patient resources the patient index links, and what the person
/// hides from others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientScope {
    /// Ids of Patient resources.
    pub ids: Vec<String>,
    /// Labels or tags (system, code) of resources the person hides.
    pub hidden_labels: Vec<(String, String)>,
    /// Resources (type, id) the person hides.
    pub hidden: Vec<(String, String)>,
}

impl Access {
    /// The condition that the resource whose `res_key` is `{row}.res_key` is visible; `{row}`
    /// is replaced by the alias of the row tested (see `search::Narrowing`).
    pub fn condition(&self, out: &mut Sql) {
        let keys = |list: &[i32]| {
            if list.is_empty() {
                "NULL".to_string()
            } else {
                // Keys are integers computed here, never input: written inline, they keep the
                // statement's arguments few.
                list.iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let labels = keys(&self.keys.labels);
        let compartment = keys(&self.keys.compartment);
        out.push("((1 = 0");
        if !self.own.is_empty() {
            out.push(&format!(
                " OR EXISTS (SELECT 1 FROM search_index o WHERE o.res_key = {{row}}.res_key AND o.param IN ({labels}) AND ("
            ));
            tokens(out, "o", &self.own);
            out.push("))");
        }
        if !self.shared_types.is_empty() {
            out.push(" OR EXISTS (SELECT 1 FROM resource z WHERE z.res_key = {row}.res_key AND z.type IN (");
            for (i, t) in self.shared_types.iter().enumerate() {
                if i > 0 {
                    out.push(", ");
                }
                out.text_arg(t);
            }
            out.push("))");
        }
        // Patients who hide nothing share one condition.
        let (plain, hiding): (Vec<&PatientScope>, Vec<&PatientScope>) = self
            .patients
            .iter()
            .filter(|p| !p.ids.is_empty())
            .partition(|p| p.hidden_labels.is_empty() && p.hidden.is_empty());
        let plain_ids: Vec<&String> = plain.iter().flat_map(|p| &p.ids).collect();
        if !plain_ids.is_empty() {
            out.push(" OR ");
            in_compartment(out, &compartment, &plain_ids);
        }
        for p in hiding {
            out.push(" OR (");
            in_compartment(out, &compartment, &p.ids.iter().collect::<Vec<_>>());
            if !p.hidden_labels.is_empty() {
                out.push(&format!(
                    " AND NOT EXISTS (SELECT 1 FROM search_index hl WHERE hl.res_key = {{row}}.res_key AND hl.param IN ({labels}) AND ("
                ));
                tokens(out, "hl", &p.hidden_labels);
                out.push("))");
            }
            if !p.hidden.is_empty() {
                out.push(
                    " AND NOT EXISTS (SELECT 1 FROM resource hr WHERE hr.res_key = {row}.res_key AND (",
                );
                for (i, (t, id)) in p.hidden.iter().enumerate() {
                    if i > 0 {
                        out.push(" OR ");
                    }
                    out.push("(hr.type = ");
                    out.text_arg(t);
                    out.push(" AND hr.id = ");
                    out.text_arg(id);
                    out.push(")");
                }
                out.push("))");
            }
            out.push(")");
        }
        out.push(")");
        if !self.never.is_empty() {
            out.push(&format!(
                " AND NOT EXISTS (SELECT 1 FROM search_index nv WHERE nv.res_key = {{row}}.res_key AND nv.param IN ({labels}) AND ("
            ));
            tokens(out, "nv", &self.never);
            out.push("))");
        }
        out.push(")");
    }

    /// [`Access::condition`] on the row aliased `alias`.
    pub fn condition_on(&self, alias: &str, out: &mut Sql) {
        let mut c = Sql::default();
        self.condition(&mut c);
        out.text.push_str(&c.text.replace("{row}", alias));
        out.args.extend(c.args);
    }
}

/// `(a.c2 = system AND a.c1 = code) OR …` over token rows aliased `a`.
fn tokens(out: &mut Sql, a: &str, list: &[(String, String)]) {
    for (i, (system, code)) in list.iter().enumerate() {
        if i > 0 {
            out.push(" OR ");
        }
        out.push(&format!("({a}.c2 = "));
        out.text_arg(system);
        out.push(&format!(" AND {a}.c1 = "));
        out.text_arg(code);
        out.push(")");
    }
}

/// The row is one of the Patients `ids`, or in the compartment of one.
fn in_compartment(out: &mut Sql, keys: &str, ids: &[&String]) {
    let id_list = |out: &mut Sql| {
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                out.push(", ");
            }
            out.arg(Arg::Text((*id).clone()));
        }
    };
    out.push(&format!(
        "(EXISTS (SELECT 1 FROM search_index pc WHERE pc.res_key = {{row}}.res_key AND pc.param IN ({keys}) AND pc.c2 = 'Patient' AND pc.c1 IN ("
    ));
    id_list(out);
    out.push(
        ")) OR EXISTS (SELECT 1 FROM resource pr WHERE pr.res_key = {row}.res_key AND pr.type = 'Patient' AND pr.id IN (",
    );
    id_list(out);
    out.push(")))");
}
