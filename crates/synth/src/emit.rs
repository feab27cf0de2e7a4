//! FHIR R4 JSON for the clinical resources: Encounter, Condition,
//! AllergyIntolerance, MedicationRequest and Observation.

use serde_json::{Map, Value};

use crate::data::clinical::{Drug, Dx, Form, Lab, Schedule};
use crate::fhir::{
    ACT_CODE, ICD10, LOINC, MERIT9_UNIT, UCUM, YJ, arr, coding, concept, concept_code, dec, obj,
    reference, text_concept, ucum,
};
use crate::time::Moment;

const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const ALLERGY_VERIFICATION: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const MEDREQ_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/medicationrequest-category";
const ROUTE: &str = "http://terminology.hl7.org/CodeSystem/v2-0162";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const DISCHARGE: &str = "http://terminology.hl7.org/CodeSystem/discharge-disposition";

/// Encounter class (v3 ActCode).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    Ambulatory,
    Inpatient,
    Emergency,
}

impl Class {
    fn coding(self) -> Value {
        match self {
            Class::Ambulatory => coding(ACT_CODE, "AMB", "ambulatory"),
            Class::Inpatient => coding(ACT_CODE, "IMP", "inpatient encounter"),
            Class::Emergency => coding(ACT_CODE, "EMER", "emergency"),
        }
    }
}

pub(crate) struct EncounterSpec<'a> {
    pub id: &'a str,
    pub patient: &'a str,
    pub class: Class,
    /// Kind of visit, e.g. 再診, 健康診断, 入院.
    pub kind: &'a str,
    pub dept: &'a str,
    pub start: Moment,
    /// `None` while still in progress (an admission lasting past today).
    pub end: Option<Moment>,
    pub doctor: &'a str,
    pub org: &'a str,
    pub reason: Option<&'a Dx>,
}

pub(crate) fn encounter(e: &EncounterSpec) -> Value {
    let mut period = Map::new();
    period.insert("start".into(), e.start.fhir().into());
    if let Some(end) = e.end {
        period.insert("end".into(), end.fhir().into());
    }
    let mut r = obj! {
        "resourceType": "Encounter",
        "id": e.id,
        "status": if e.end.is_some() { "finished" } else { "in-progress" },
        "class": e.class.coding(),
        "type": arr![text_concept(e.kind)],
        "serviceType": text_concept(e.dept),
        "subject": reference("Patient", e.patient),
        "participant": arr![obj! {
            "type": arr![concept_code(PARTICIPATION, "ATND", "attender")],
            "individual": reference("Practitioner", e.doctor),
        }],
        "period": period,
    };
    let o = r.as_object_mut().expect("object");
    if let Some(dx) = e.reason {
        o.insert("reasonCode".into(), arr![concept(ICD10, dx.icd10, dx.name)]);
    }
    if e.class == Class::Inpatient && e.end.is_some() {
        o.insert(
            "hospitalization".into(),
            obj! { "dischargeDisposition": concept_code(DISCHARGE, "home", "Home") },
        );
    }
    o.insert("serviceProvider".into(), reference("Organization", e.org));
    r
}

pub(crate) struct ConditionSpec<'a> {
    pub id: &'a str,
    pub patient: &'a str,
    pub dx: &'a Dx,
    /// problem-list-item (chronic) or encounter-diagnosis (acute).
    pub problem_list: bool,
    pub onset: String,
    pub abatement: Option<String>,
    pub recorded: Option<String>,
    pub encounter: Option<&'a str>,
    pub doctor: Option<&'a str>,
}

pub(crate) fn condition(c: &ConditionSpec) -> Value {
    let (cat_code, cat_display) = if c.problem_list {
        ("problem-list-item", "Problem List Item")
    } else {
        ("encounter-diagnosis", "Encounter Diagnosis")
    };
    let (status, status_display) = if c.abatement.is_some() {
        ("resolved", "Resolved")
    } else {
        ("active", "Active")
    };
    let mut r = obj! {
        "resourceType": "Condition",
        "id": c.id,
        "clinicalStatus": concept_code(CONDITION_CLINICAL, status, status_display),
        "verificationStatus": concept_code(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
        "category": arr![concept_code(CONDITION_CATEGORY, cat_code, cat_display)],
        "code": concept(ICD10, c.dx.icd10, c.dx.name),
        "subject": reference("Patient", c.patient),
    };
    let o = r.as_object_mut().expect("object");
    if let Some(enc) = c.encounter {
        o.insert("encounter".into(), reference("Encounter", enc));
    }
    o.insert("onsetDateTime".into(), c.onset.clone().into());
    if let Some(a) = &c.abatement {
        o.insert("abatementDateTime".into(), a.clone().into());
    }
    if let Some(rec) = &c.recorded {
        o.insert("recordedDate".into(), rec.clone().into());
    }
    if let Some(doc) = c.doctor {
        o.insert("recorder".into(), reference("Practitioner", doc));
        o.insert("asserter".into(), reference("Practitioner", doc));
    }
    r
}

pub(crate) struct AllergySpec<'a> {
    pub id: &'a str,
    pub patient: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub category: &'a str,
    pub high: bool,
    pub resolved: bool,
    pub onset: String,
    pub recorded: Option<String>,
    pub doctor: Option<&'a str>,
    pub encounter: Option<&'a str>,
    pub reaction: &'a str,
    pub severe: bool,
}

pub(crate) fn allergy(a: &AllergySpec) -> Value {
    let (status, status_display) = if a.resolved {
        ("resolved", "Resolved")
    } else {
        ("active", "Active")
    };
    let mut r = obj! {
        "resourceType": "AllergyIntolerance",
        "id": a.id,
        "clinicalStatus": concept_code(ALLERGY_CLINICAL, status, status_display),
        "verificationStatus": concept_code(ALLERGY_VERIFICATION, "confirmed", "Confirmed"),
        "type": a.kind,
        "category": arr![a.category],
        "criticality": if a.high { "high" } else { "low" },
        "code": text_concept(a.name),
        "patient": reference("Patient", a.patient),
    };
    let o = r.as_object_mut().expect("object");
    if let Some(enc) = a.encounter {
        o.insert("encounter".into(), reference("Encounter", enc));
    }
    o.insert("onsetDateTime".into(), a.onset.clone().into());
    if let Some(rec) = &a.recorded {
        o.insert("recordedDate".into(), rec.clone().into());
    }
    if let Some(doc) = a.doctor {
        o.insert("recorder".into(), reference("Practitioner", doc));
    }
    let severity = if a.severe {
        "severe"
    } else if a.high {
        "moderate"
    } else {
        "mild"
    };
    o.insert(
        "reaction".into(),
        arr![obj! { "manifestation": arr![text_concept(a.reaction)], "severity": severity }],
    );
    r
}

/// Unit of one dose of a drug, as a Quantity without the value.
fn unit(form: Form) -> Map<String, Value> {
    let mut m = Map::new();
    let (unit, system, code) = match form {
        Form::Tablet => ("錠", Some(MERIT9_UNIT), Some("TAB")),
        Form::Capsule => ("カプセル", Some(MERIT9_UNIT), Some("CAP")),
        Form::Powder | Form::Ointment | Form::Intravenous => ("g", Some(UCUM), Some("g")),
        Form::Sachet => ("包", None, None),
        Form::Tape => ("枚", None, None),
        Form::Inhaler => ("吸入", None, None),
    };
    m.insert("unit".into(), unit.into());
    if let (Some(s), Some(c)) = (system, code) {
        m.insert("system".into(), s.into());
        m.insert("code".into(), c.into());
    }
    m
}

fn quantity(form: Form, value: Value) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), value);
    m.extend(unit(form));
    Value::Object(m)
}

fn format_amount(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

/// (per-day intakes, timing text, EventTiming codes)
fn schedule(drug: &Drug) -> (f64, &'static str, &'static [&'static str]) {
    let topical = matches!(drug.form, Form::Ointment | Form::Tape);
    if drug.form == Form::Intravenous {
        return (1.0, "1日1回 点滴静注", &[]);
    }
    match drug.schedule {
        Schedule::Morning => (1.0, "1日1回 朝食後", &["PCM"]),
        Schedule::Evening => (1.0, "1日1回 夕食後", &["PCV"]),
        Schedule::Twice => (2.0, "1日2回 朝夕食後", &["PCM", "PCV"]),
        Schedule::Thrice => (3.0, "1日3回 毎食後", &["PCM", "PCD", "PCV"]),
        Schedule::ThriceBefore => (3.0, "1日3回 毎食前", &["ACM", "ACD", "ACV"]),
        Schedule::Bedtime => (1.0, "1日1回 就寝前", &["HS"]),
        Schedule::Weekly => (1.0 / 7.0, "週1回 起床時", &["WAKE"]),
        Schedule::AsNeeded => (0.0, "", &[]),
        Schedule::TwiceApply if topical => (2.0, "1日2回 患部に塗布", &[]),
        Schedule::TwiceApply => (2.0, "1日2回 吸入", &[]),
        Schedule::OnceApply if topical => (1.0, "1日1回 患部に貼付", &[]),
        Schedule::OnceApply => (1.0, "1日1回 吸入", &[]),
    }
}

pub(crate) struct MedSpec<'a> {
    pub id: &'a str,
    pub patient: &'a str,
    pub encounter: &'a str,
    pub doctor: &'a str,
    pub authored: Moment,
    pub drug: &'a Drug,
    /// Units per intake (already weight-adjusted for powders).
    pub dose: f64,
    pub days: u32,
    pub reasons: &'a [String],
    pub active: bool,
    /// outpatient | inpatient | discharge
    pub category: &'a str,
    /// Community pharmacy expected to dispense (院外処方).
    pub pharmacy: Option<&'a str>,
}

pub(crate) fn medication_request(m: &MedSpec) -> Value {
    let drug = m.drug;
    let (per_day, timing_text, when) = schedule(drug);
    let (route_code, route_display) = match drug.form {
        Form::Tablet if drug.schedule == Schedule::AsNeeded && drug.name.contains("舌下") => {
            ("SL", "舌下")
        }
        Form::Tablet | Form::Capsule | Form::Powder | Form::Sachet => ("PO", "口"),
        Form::Ointment => ("TP", "局所"),
        Form::Tape => ("TD", "経皮"),
        Form::Inhaler => ("IH", "吸入"),
        Form::Intravenous => ("IV", "静脈内"),
    };
    let u = unit(drug.form);
    let unit_text = u.get("unit").and_then(Value::as_str).unwrap_or("");
    let as_needed = drug.schedule == Schedule::AsNeeded;
    let mut dosage = Map::new();
    dosage.insert("sequence".into(), 1.into());
    let dose_text = if drug.form == Form::Ointment {
        "適量".to_string()
    } else {
        format!("1回{}{unit_text}", format_amount(m.dose))
    };
    let text = if as_needed {
        let when_text = if route_code == "SL" {
            "胸痛発作時 舌下"
        } else {
            "発熱時・疼痛時 頓用"
        };
        format!("{dose_text} {when_text} {}回分", as_needed_count(drug))
    } else {
        format!("{dose_text} {timing_text} {}日分", m.days)
    };
    dosage.insert("text".into(), text.into());
    if !as_needed {
        let mut repeat = Map::new();
        if drug.schedule == Schedule::Weekly {
            repeat.insert("frequency".into(), 1.into());
            repeat.insert("period".into(), 1.into());
            repeat.insert("periodUnit".into(), "wk".into());
        } else {
            repeat.insert("frequency".into(), (per_day as u32).into());
            repeat.insert("period".into(), 1.into());
            repeat.insert("periodUnit".into(), "d".into());
        }
        if !when.is_empty() {
            repeat.insert(
                "when".into(),
                Value::Array(when.iter().map(|w| Value::from(*w)).collect()),
            );
        }
        dosage.insert(
            "timing".into(),
            obj! { "repeat": repeat, "code": text_concept(timing_text) },
        );
    } else {
        dosage.insert("asNeededBoolean".into(), true.into());
    }
    dosage.insert("route".into(), concept(ROUTE, route_code, route_display));
    if drug.form != Form::Ointment {
        let places = if drug.form == Form::Powder { 1 } else { 0 };
        dosage.insert(
            "doseAndRate".into(),
            arr![obj! { "doseQuantity": quantity(drug.form, dec(m.dose, places)) }],
        );
    }

    let mut r = obj! {
        "resourceType": "MedicationRequest",
        "id": m.id,
        "status": if m.active { "active" } else { "completed" },
        "intent": "order",
        "category": arr![concept_code(MEDREQ_CATEGORY, m.category, category_display(m.category))],
        "medicationCodeableConcept": concept(YJ, drug.yj, drug.name),
        "subject": reference("Patient", m.patient),
        "encounter": reference("Encounter", m.encounter),
        "authoredOn": m.authored.fhir(),
        "requester": reference("Practitioner", m.doctor),
    };
    let o = r.as_object_mut().expect("object");
    if !m.reasons.is_empty() {
        let refs: Vec<Value> = m
            .reasons
            .iter()
            .map(|id| reference("Condition", id))
            .collect();
        o.insert("reasonReference".into(), Value::Array(refs));
    }
    o.insert("dosageInstruction".into(), arr![dosage]);
    if drug.form != Form::Intravenous {
        let mut dispense = Map::new();
        let (amount, form) = dispensed(drug, m.dose, per_day, m.days);
        let dispense_qty = match form {
            Some(f) => quantity(f, amount),
            None => obj! { "value": amount, "unit": "本" },
        };
        dispense.insert("quantity".into(), dispense_qty);
        if !as_needed {
            dispense.insert(
                "expectedSupplyDuration".into(),
                ucum(m.days.into(), "日", "d"),
            );
        }
        if let Some(ph) = m.pharmacy {
            dispense.insert("performer".into(), reference("Organization", ph));
        }
        o.insert("dispenseRequest".into(), Value::Object(dispense));
    }
    r
}

fn category_display(code: &str) -> &'static str {
    match code {
        "inpatient" => "Inpatient",
        "discharge" => "Discharge",
        _ => "Outpatient",
    }
}

fn as_needed_count(drug: &Drug) -> u32 {
    if drug.form == Form::Powder { 5 } else { 10 }
}

/// Dispensed amount and its unit form (`None` = inhaler devices, 本).
fn dispensed(drug: &Drug, dose: f64, per_day: f64, days: u32) -> (Value, Option<Form>) {
    let days_f = f64::from(days);
    match drug.form {
        _ if drug.schedule == Schedule::AsNeeded => {
            let n = f64::from(as_needed_count(drug)) * dose;
            let places = if drug.form == Form::Powder { 1 } else { 0 };
            (dec(n, places), Some(drug.form))
        }
        Form::Tablet | Form::Capsule | Form::Sachet | Form::Tape => {
            let n = if drug.schedule == Schedule::Weekly {
                (days_f / 7.0).ceil() * dose
            } else {
                dose * per_day * days_f
            };
            (dec(n, 0), Some(drug.form))
        }
        Form::Powder => (dec(dose * per_day * days_f, 1), Some(Form::Powder)),
        Form::Ointment => (dec(25.0 * (days_f / 14.0).ceil(), 0), Some(Form::Ointment)),
        Form::Inhaler => (dec((days_f / 30.0).ceil(), 0), None),
        Form::Intravenous => (dec(dose * days_f, 0), Some(Form::Intravenous)),
    }
}

pub(crate) struct ObsSpec<'a> {
    pub id: &'a str,
    pub patient: &'a str,
    pub encounter: &'a str,
    pub org: &'a str,
    pub when: Moment,
    pub female: bool,
    /// Attach reference range and H/L interpretation.
    pub ranges: bool,
}

fn category(vital: bool) -> Value {
    if vital {
        arr![concept_code(
            OBSERVATION_CATEGORY,
            "vital-signs",
            "Vital Signs"
        )]
    } else {
        arr![concept_code(
            OBSERVATION_CATEGORY,
            "laboratory",
            "Laboratory"
        )]
    }
}

fn interpretation(value: f64, range: (Option<f64>, Option<f64>)) -> Option<Value> {
    match range {
        (_, Some(hi)) if value > hi => Some(arr![concept_code(INTERPRETATION, "H", "High")]),
        (Some(lo), _) if value < lo => Some(arr![concept_code(INTERPRETATION, "L", "Low")]),
        _ => None,
    }
}

fn reference_range(lab: &Lab, range: (Option<f64>, Option<f64>)) -> Value {
    let mut m = Map::new();
    if let Some(lo) = range.0 {
        m.insert(
            "low".into(),
            ucum(dec(lo, lab.places.max(decimals(lo))), lab.unit, lab.ucum),
        );
    }
    if let Some(hi) = range.1 {
        m.insert(
            "high".into(),
            ucum(dec(hi, lab.places.max(decimals(hi))), lab.unit, lab.ucum),
        );
    }
    arr![m]
}

/// Decimals needed to print a reference limit exactly (0.14 → 2).
fn decimals(v: f64) -> usize {
    (0..4)
        .find(|&p| (v * 10f64.powi(p as i32) - (v * 10f64.powi(p as i32)).round()).abs() < 1e-6)
        .unwrap_or(4)
}

/// A laboratory result or simple vital sign with a quantity value.
pub(crate) fn observation(o: &ObsSpec, lab: &Lab, value: f64, vital: bool) -> Value {
    let value = crate::fhir::round(value, lab.places);
    let mut r = obj! {
        "resourceType": "Observation",
        "id": o.id,
        "status": "final",
        "category": category(vital),
        "code": concept(LOINC, lab.loinc, lab.name),
        "subject": reference("Patient", o.patient),
        "encounter": reference("Encounter", o.encounter),
        "effectiveDateTime": o.when.fhir(),
    };
    let obj = r.as_object_mut().expect("object");
    if !vital {
        let issued = o.when.plus_minutes(90).not_after_day(o.when.day);
        obj.insert("issued".into(), issued.fhir().into());
        obj.insert("performer".into(), arr![reference("Organization", o.org)]);
    }
    obj.insert(
        "valueQuantity".into(),
        ucum(dec(value, lab.places), lab.unit, lab.ucum),
    );
    let range = lab.range(o.female);
    if o.ranges && (range.0.is_some() || range.1.is_some()) {
        if let Some(i) = interpretation(value, range) {
            obj.insert("interpretation".into(), i);
        }
        obj.insert("referenceRange".into(), reference_range(lab, range));
    }
    r
}

/// Blood pressure panel (85354-9) with systolic and diastolic components.
pub(crate) fn blood_pressure(o: &ObsSpec, sbp: f64, dbp: f64) -> Value {
    use crate::data::clinical::{BP_PANEL, DIASTOLIC, SYSTOLIC};
    let component = |lab: &Lab, v: f64| {
        let v = v.round();
        let mut c = obj! {
            "code": concept(LOINC, lab.loinc, lab.name),
            "valueQuantity": ucum(dec(v, 0), lab.unit, lab.ucum),
        };
        if let Some(i) = interpretation(v, lab.male).filter(|_| o.ranges) {
            c.as_object_mut()
                .expect("object")
                .insert("interpretation".into(), i);
        }
        c
    };
    obj! {
        "resourceType": "Observation",
        "id": o.id,
        "status": "final",
        "category": category(true),
        "code": concept(LOINC, BP_PANEL.loinc, BP_PANEL.name),
        "subject": reference("Patient", o.patient),
        "encounter": reference("Encounter", o.encounter),
        "effectiveDateTime": o.when.fhir(),
        "component": arr![component(&SYSTOLIC, sbp), component(&DIASTOLIC, dbp)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::clinical as c;

    #[test]
    fn reference_limits_print_exactly() {
        assert_eq!(decimals(0.14), 2);
        assert_eq!(decimals(4.9), 1);
        assert_eq!(decimals(65.0), 0);
        let r = reference_range(&c::CRP, c::CRP.male);
        assert_eq!(r[0]["high"]["value"].to_string(), "0.14");
    }

    #[test]
    fn tablet_prescription_amounts() {
        let reasons = vec!["c1".to_string()];
        let m = MedSpec {
            id: "m1",
            patient: "p",
            encounter: "e",
            doctor: "d",
            authored: Moment::new(20_000, 600),
            drug: &c::METFORMIN,
            dose: 2.0,
            days: 28,
            reasons: &reasons,
            active: false,
            category: "outpatient",
            pharmacy: None,
        };
        let v = medication_request(&m);
        assert_eq!(v["dispenseRequest"]["quantity"]["value"].to_string(), "112");
        assert_eq!(
            v["dosageInstruction"][0]["timing"]["repeat"]["frequency"],
            2
        );
        assert_eq!(
            v["dosageInstruction"][0]["text"],
            "1回2錠 1日2回 朝夕食後 28日分"
        );
        let weekly = MedSpec {
            drug: &c::ALENDRONATE,
            dose: 1.0,
            ..m
        };
        let v = medication_request(&weekly);
        assert_eq!(v["dispenseRequest"]["quantity"]["value"].to_string(), "4");
        assert_eq!(
            v["dosageInstruction"][0]["timing"]["repeat"]["periodUnit"],
            "wk"
        );
    }
}
