//! What happens at each kind of visit: follow-up, acute, checkup, admission.

use super::Record;
use crate::acute::Acute;
use crate::data::clinical::{self as c, Drug, Form, Lab};
use crate::model::Chronic;
use crate::physio::Illness;
use crate::rng::Rng;
use crate::time::{Moment, years_between};
use crate::timeline::Event;

type LabPlan = [(&'static [&'static Lab], i32)];

static HT_LABS: [(&[&Lab], i32); 1] = [(&[&c::CREATININE, &c::EGFR, &c::POTASSIUM], 360)];
static DM_LABS: [(&[&Lab], i32); 2] = [
    (&[&c::HBA1C, &c::GLUCOSE], 56),
    (
        &[
            &c::CREATININE,
            &c::EGFR,
            &c::AST,
            &c::ALT,
            &c::LDL,
            &c::HDL,
            &c::TG,
        ],
        170,
    ),
];
static DL_LABS: [(&[&Lab], i32); 1] = [(&[&c::LDL, &c::HDL, &c::TG, &c::AST, &c::ALT], 110)];
static AF_LABS: [(&[&Lab], i32); 1] = [(&[&c::HEMOGLOBIN, &c::CREATININE, &c::EGFR], 170)];
static CKD_LABS: [(&[&Lab], i32); 1] = [(
    &[
        &c::CREATININE,
        &c::EGFR,
        &c::BUN,
        &c::POTASSIUM,
        &c::HEMOGLOBIN,
    ],
    80,
)];
static GC_LABS: [(&[&Lab], i32); 1] = [(&[&c::HEMOGLOBIN, &c::CEA, &c::AST, &c::ALT], 80)];
static HU_LABS: [(&[&Lab], i32); 1] = [(&[&c::URIC_ACID, &c::CREATININE, &c::EGFR], 110)];
static HF_LABS: [(&[&Lab], i32); 1] = [(&[&c::CREATININE, &c::EGFR, &c::BUN, &c::POTASSIUM], 80)];
static THYROID_LABS: [(&[&Lab], i32); 1] = [(&[&c::TSH, &c::FT4], 170)];
static LIPID_LABS: [(&[&Lab], i32); 1] = [(&[&c::LDL, &c::HDL, &c::TG], 170)];

/// Labs drawn for a chronic condition: (tests, minimum days between draws).
fn lab_plan(kind: Chronic) -> &'static LabPlan {
    match kind {
        Chronic::Hypertension => &HT_LABS,
        Chronic::Diabetes => &DM_LABS,
        Chronic::Dyslipidemia => &DL_LABS,
        Chronic::AtrialFibrillation => &AF_LABS,
        Chronic::Ckd => &CKD_LABS,
        Chronic::GastricCancer => &GC_LABS,
        Chronic::Hyperuricemia => &HU_LABS,
        Chronic::HeartFailure => &HF_LABS,
        Chronic::Hypothyroidism => &THYROID_LABS,
        Chronic::Stroke | Chronic::Angina => &LIPID_LABS,
        _ => &[],
    }
}

static CHECKUP_LABS: [&Lab; 12] = [
    &c::GLUCOSE,
    &c::HBA1C,
    &c::LDL,
    &c::HDL,
    &c::TG,
    &c::AST,
    &c::ALT,
    &c::GGT,
    &c::CREATININE,
    &c::EGFR,
    &c::URIC_ACID,
    &c::HEMOGLOBIN,
];
pub(super) static ADMISSION_LABS: [&Lab; 10] = [
    &c::HEMOGLOBIN,
    &c::WBC,
    &c::PLATELETS,
    &c::CRP,
    &c::CREATININE,
    &c::EGFR,
    &c::BUN,
    &c::POTASSIUM,
    &c::AST,
    &c::ALT,
];
static WEEKLY_LABS: [&Lab; 5] = [&c::WBC, &c::CRP, &c::HEMOGLOBIN, &c::CREATININE, &c::EGFR];

impl Record<'_> {
    pub(super) fn follow_up(&mut self, rng: &mut Rng, vi: usize, rx_days: u32) {
        let v = &self.plan.visits[vi];
        let (start, site, day) = (v.start, v.site, v.start.day);
        let active: Vec<usize> = (0..self.conds.len())
            .filter(|&i| self.plan.cond_sites[i] == site && self.conds[i].onset <= day)
            .collect();
        let has = |k: Chronic| active.iter().any(|&i| self.conds[i].kind == k);
        let cardio = [
            Chronic::Hypertension,
            Chronic::Diabetes,
            Chronic::Ckd,
            Chronic::AtrialFibrillation,
        ]
        .into_iter()
        .chain([
            Chronic::Stroke,
            Chronic::HeartFailure,
            Chronic::Angina,
            Chronic::Dyslipidemia,
        ])
        .any(has);
        let adult = years_between(self.p.birth, day) >= 15;
        let bp = cardio || (adult && rng.chance(0.35));
        self.vitals(
            rng,
            vi,
            start.plus_minutes(3),
            bp,
            false,
            Illness::default(),
        );
        if has(Chronic::Diabetes)
            || has(Chronic::HeartFailure)
            || has(Chronic::Ckd)
            || rng.chance(0.15)
        {
            let first = !self.height_measured;
            self.body_size(rng, vi, start.plus_minutes(3), first);
        }
        let mut due: Vec<&'static Lab> = Vec::new();
        for &i in &active {
            for (k, (labs, period)) in lab_plan(self.conds[i].kind).iter().enumerate() {
                let key = (site.inst * 64 + i, k);
                let last = self
                    .last_draw
                    .iter()
                    .find(|(kk, _)| *kk == key)
                    .map(|e| e.1);
                if last.is_none_or(|l| day - l >= *period) {
                    match self.last_draw.iter_mut().find(|(kk, _)| *kk == key) {
                        Some(e) => e.1 = day,
                        None => self.last_draw.push((key, day)),
                    }
                    for lab in labs.iter() {
                        if !due.iter().any(|d| std::ptr::eq(*d, *lab)) {
                            due.push(lab);
                        }
                    }
                }
            }
        }
        // Creatinine before eGFR so that eGFR derives from the reported value.
        due.sort_by_key(|l| !std::ptr::eq(*l, &c::CREATININE));
        self.labs(rng, vi, start.plus_minutes(10), &due, Illness::default());
        let at = start.plus_minutes(15);
        for (drug, reasons) in self.regimen(vi, None) {
            let dose = drug.dose;
            self.prescribe(
                vi,
                (drug, dose, rx_days.min(90)),
                &reasons,
                "outpatient",
                at,
            );
        }
    }

    pub(super) fn acute(&mut self, rng: &mut Rng, vi: usize, episode: usize) {
        let start = self.plan.visits[vi].start;
        let e = &self.plan.episodes[episode];
        let kind = e.kind;
        let ill = Illness {
            febrile: kind.febrile(),
            bacterial: kind == Acute::Uti || kind == Acute::Pneumonia,
        };
        let age = years_between(self.p.birth, start.day);
        let bp = age >= 40 && rng.chance(0.5);
        self.vitals(rng, vi, start.plus_minutes(3), bp, kind.febrile(), ill);
        if (ill.bacterial && age >= 15) || (kind.febrile() && age >= 65 && rng.chance(0.4)) {
            self.labs(rng, vi, start.plus_minutes(10), &[&c::WBC, &c::CRP], ill);
        }
        let nsaid = self
            .allergies
            .iter()
            .any(|a| a.allergen.nsaid && !a.resolved);
        let cephem = self
            .allergies
            .iter()
            .any(|a| a.allergen.cephem && !a.resolved);
        let reasons = vec![self.episode_ids[episode].clone()];
        let at = start.plus_minutes(15);
        if age < 12 {
            let penicillin = self
                .allergies
                .iter()
                .any(|a| a.allergen.penicillin && !a.resolved);
            let drugs = kind.child_drugs(penicillin);
            if drugs.is_empty() {
                return;
            }
            let weight = self.body_size(rng, vi, start.plus_minutes(2), false);
            for drug in drugs {
                let dose = crate::fhir::round((drug.dose * weight).min(drug.max_dose).max(0.1), 1);
                let days = if std::ptr::eq(drug, &c::OSELTAMIVIR_SYRUP)
                    || std::ptr::eq(drug, &c::AMOXICILLIN_GRANULE)
                    || std::ptr::eq(drug, &c::CLARITHROMYCIN_SYRUP)
                {
                    5
                } else {
                    3
                };
                self.prescribe(vi, (drug, dose, days), &reasons, "outpatient", at);
            }
            return;
        }
        for drug in kind.drugs(nsaid, cephem) {
            let days = match drug.form {
                Form::Tape => 7,
                _ if drug.nsaid || std::ptr::eq(drug, &c::REBAMIPIDE) => {
                    7 + 7 * u32::from(rng.chance(0.3))
                }
                _ if std::ptr::eq(drug, &c::DOMPERIDONE) => 3,
                _ => 5,
            };
            self.prescribe(vi, (drug, drug.dose, days), &reasons, "outpatient", at);
        }
    }

    pub(super) fn checkup(&mut self, rng: &mut Rng, vi: usize) {
        let start = self.plan.visits[vi].start;
        self.body_size(rng, vi, start.plus_minutes(5), true);
        self.vitals(
            rng,
            vi,
            start.plus_minutes(10),
            true,
            false,
            Illness::default(),
        );
        self.labs(
            rng,
            vi,
            start.plus_minutes(20),
            &CHECKUP_LABS,
            Illness::default(),
        );
    }

    pub(super) fn admission(&mut self, rng: &mut Rng, vi: usize, event: Event) {
        let v = &self.plan.visits[vi];
        let (start, end) = (v.start, v.end);
        let ill = self.illness(event);
        self.vitals(rng, vi, start.plus_minutes(30), true, true, ill);
        let mut labs: Vec<&Lab> = ADMISSION_LABS.to_vec();
        if self
            .conds
            .iter()
            .any(|c| c.kind == Chronic::Diabetes && c.onset <= start.day)
        {
            labs.extend([&c::GLUCOSE, &c::HBA1C]);
        }
        self.labs(rng, vi, start.plus_minutes(60), &labs, ill);
        let last_day = end.map_or(self.p.today, |e| e.day);
        let mut day = start.day + 7;
        while day < last_day {
            let when = Moment::new(day, 6 * 60 + 10 * rng.int(0, 5) as u32);
            let recovering = Illness {
                febrile: false,
                bacterial: ill.bacterial && day - start.day < 7,
            };
            self.labs(rng, vi, when, &WEEKLY_LABS, recovering);
            day += 7;
        }
        // Inpatient orders.
        let reasons: Vec<String> = match event {
            Event::Episode(i) => vec![self.episode_ids[i].clone()],
            Event::Onset(i) => vec![self.cond_ids[i].clone()],
        };
        let order_at = start.plus_minutes(90);
        let stay = (last_day - start.day).max(1) as u32;
        match event {
            Event::Episode(i) if self.plan.episodes[i].kind == Acute::Pneumonia => {
                let cephem = self
                    .allergies
                    .iter()
                    .any(|a| a.allergen.cephem && !a.resolved);
                let drug = if cephem && c::CEFTRIAXONE.cephem {
                    &c::LEVOFLOXACIN
                } else {
                    &c::CEFTRIAXONE
                };
                self.prescribe(
                    vi,
                    (drug, drug.dose, stay.min(7)),
                    &reasons,
                    "inpatient",
                    order_at,
                );
            }
            Event::Episode(_) => {
                self.prescribe(
                    vi,
                    (&c::ACETAMINOPHEN, c::ACETAMINOPHEN.dose, stay.min(14)),
                    &reasons,
                    "inpatient",
                    order_at,
                );
            }
            Event::Onset(i) => {
                for (drug, r) in self.regimen(vi, Some(i)) {
                    self.prescribe(
                        vi,
                        (drug, drug.dose, stay.min(14)),
                        &r,
                        "inpatient",
                        order_at,
                    );
                }
            }
        }
        let Some(end) = end else { return };
        self.vitals(
            rng,
            vi,
            Moment::new(end.day, 7 * 60),
            true,
            true,
            Illness::default(),
        );
        self.labs(
            rng,
            vi,
            Moment::new(end.day, 6 * 60 + 30),
            &[&c::WBC, &c::CRP, &c::HEMOGLOBIN],
            Illness::default(),
        );
        let discharge_at = end.plus_minutes(0);
        let discharge: Vec<(&'static Drug, Vec<String>)> = match event {
            Event::Onset(i) => self.regimen(vi, Some(i)),
            Event::Episode(i) if self.plan.episodes[i].kind == Acute::HipFracture => {
                vec![(&c::ACETAMINOPHEN, reasons.clone())]
            }
            Event::Episode(_) => vec![],
        };
        for (drug, r) in discharge {
            self.prescribe(vi, (drug, drug.dose, 14), &r, "discharge", discharge_at);
        }
    }
}
