//! Writing one patient's planned contacts with care as FHIR resources:
//! encounters with their observations and prescriptions, then conditions
//! and allergies.

mod visits;

use visits::ADMISSION_LABS;

use serde_json::Value;

use crate::acute::Acute;
use crate::data::clinical::{self as c, Drug, Lab};
use crate::emit::{self, AllergySpec, ConditionSpec, EncounterSpec, MedSpec, ObsSpec};
use crate::model::{Allergy, Condition, Person};
use crate::physio::{Illness, Physio};
use crate::registry::Registry;
use crate::rng::Rng;
use crate::time::{Moment, date, years_between};
use crate::timeline::{self, Event, Plan, Purpose, Visit};

/// The clinical record being written for one patient.
pub(crate) struct Record<'a> {
    reg: &'a Registry,
    pid: &'a str,
    index: usize,
    cluster: usize,
    p: &'a Person,
    conds: &'a [Condition],
    allergies: &'a [Allergy],
    physio: &'a Physio,
    plan: &'a Plan,
    enc_ids: Vec<String>,
    cond_ids: Vec<String>,
    episode_ids: Vec<String>,
    encounters: Vec<Value>,
    conditions: Vec<Value>,
    allergy_resources: Vec<Value>,
    meds: Vec<Value>,
    observations: Vec<Value>,
    /// Last draw day per (site index, condition index, lab-plan entry).
    last_draw: Vec<((usize, usize), i32)>,
    seen_sites: Vec<timeline::Site>,
    height_measured: bool,
}

impl<'a> Record<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        reg: &'a Registry,
        pid: &'a str,
        (index, cluster): (usize, usize),
        p: &'a Person,
        conds: &'a [Condition],
        allergies: &'a [Allergy],
        physio: &'a Physio,
        plan: &'a Plan,
    ) -> Record<'a> {
        let enc_ids = (1..=plan.visits.len())
            .map(|n| format!("{pid}-enc-{n:04}"))
            .collect();
        let cond_ids = (1..=conds.len())
            .map(|n| format!("{pid}-cond-{n:02}"))
            .collect();
        let episode_ids = (1..=plan.episodes.len())
            .map(|n| format!("{pid}-cond-{:02}", conds.len() + n))
            .collect();
        Record {
            reg,
            pid,
            index,
            cluster,
            p,
            conds,
            allergies,
            physio,
            plan,
            enc_ids,
            cond_ids,
            episode_ids,
            encounters: Vec::new(),
            conditions: Vec::new(),
            allergy_resources: Vec::new(),
            meds: Vec::new(),
            observations: Vec::new(),
            last_draw: Vec::new(),
            seen_sites: Vec::new(),
            height_measured: false,
        }
    }

    /// Moves the written resources out, in output order.
    pub(crate) fn append_to(&mut self, out: &mut Vec<Value>) {
        out.append(&mut self.encounters);
        out.append(&mut self.conditions);
        out.append(&mut self.allergy_resources);
        out.append(&mut self.meds);
        out.append(&mut self.observations);
    }

    pub(crate) fn total(&self) -> usize {
        self.encounters.len()
            + self.conditions.len()
            + self.allergy_resources.len()
            + self.meds.len()
            + self.observations.len()
    }

    fn doctor_id(&self, v: &Visit) -> &'a str {
        let inst = &self.reg.institutions[v.site.inst];
        // The same doctor sees the patient at a given department.
        let matching: Vec<&crate::registry::Doctor> = inst
            .doctors
            .iter()
            .filter(|d| d.dept == v.site.dept)
            .collect();
        let pool: Vec<&crate::registry::Doctor> = if matching.is_empty() {
            inst.doctors.iter().collect()
        } else {
            matching
        };
        let pick = (crate::rng::mix64(self.index as u64 ^ ((v.site.inst as u64) << 40))
            % pool.len() as u64) as usize;
        &pool[pick].id
    }

    pub(crate) fn write(&mut self, rng: &mut Rng) {
        for vi in 0..self.plan.visits.len() {
            self.write_visit(rng, vi);
        }
        self.write_conditions();
        self.write_allergies();
    }

    fn write_visit(&mut self, rng: &mut Rng, vi: usize) {
        let v = &self.plan.visits[vi];
        let mut first_here = !self.seen_sites.contains(&v.site);
        if first_here {
            self.seen_sites.push(v.site);
            // Long-standing conditions were already followed here before the history window.
            let known = (0..self.conds.len()).any(|i| {
                self.plan.cond_sites[i] == v.site && self.conds[i].onset < self.p.window_start
            });
            first_here = !known;
        }
        let inst = &self.reg.institutions[v.site.inst];
        let (kind, reason) = match v.purpose {
            Purpose::Checkup => ("健康診断", None),
            Purpose::Emergency { event } => ("救急外来", Some(self.event_dx(event))),
            Purpose::Admission { event } => ("入院", Some(self.event_dx(event))),
            Purpose::Acute { episode } => (
                if first_here { "初診" } else { "再診" },
                Some(self.plan.episodes[episode].kind.dx()),
            ),
            Purpose::Workup { cond } => (
                if first_here { "初診" } else { "再診" },
                Some(self.conds[cond].dx),
            ),
            Purpose::FollowUp { .. } => (if first_here { "初診" } else { "再診" }, None),
        };
        let doctor = self.doctor_id(v);
        self.encounters.push(emit::encounter(&EncounterSpec {
            id: &self.enc_ids[vi],
            patient: self.pid,
            class: v.class,
            kind,
            dept: v.site.dept.name(),
            start: v.start,
            end: v.end,
            doctor,
            org: &inst.id,
            reason,
        }));
        match v.purpose {
            Purpose::FollowUp { rx_days } => self.follow_up(rng, vi, rx_days),
            Purpose::Acute { episode } => self.acute(rng, vi, episode),
            Purpose::Checkup => self.checkup(rng, vi),
            Purpose::Emergency { event } => {
                let ill = self.illness(event);
                self.vitals(rng, vi, v.start.plus_minutes(10), true, true, ill);
                self.labs(rng, vi, v.start.plus_minutes(30), &ADMISSION_LABS, ill);
            }
            Purpose::Admission { event } => self.admission(rng, vi, event),
            Purpose::Workup { .. } => {
                self.vitals(
                    rng,
                    vi,
                    v.start.plus_minutes(5),
                    true,
                    false,
                    Illness::default(),
                );
                self.labs(
                    rng,
                    vi,
                    v.start.plus_minutes(20),
                    &[&c::HEMOGLOBIN, &c::CEA, &c::AST, &c::ALT],
                    Illness::default(),
                );
            }
        }
    }

    fn event_dx(&self, e: Event) -> &'static c::Dx {
        match e {
            Event::Episode(i) => self.plan.episodes[i].kind.dx(),
            Event::Onset(i) => self.conds[i].dx,
        }
    }

    fn illness(&self, e: Event) -> Illness {
        match e {
            Event::Episode(i) => {
                let k = self.plan.episodes[i].kind;
                Illness {
                    febrile: k.febrile(),
                    bacterial: k == Acute::Pneumonia || k == Acute::Uti,
                }
            }
            Event::Onset(_) => Illness::default(),
        }
    }

    fn obs_spec<'b>(&'b self, id: &'b str, vi: usize, when: Moment) -> ObsSpec<'b> {
        let v = &self.plan.visits[vi];
        let when = when.not_after_day(self.p.today);
        ObsSpec {
            id,
            patient: self.pid,
            encounter: &self.enc_ids[vi],
            org: &self.reg.institutions[v.site.inst].id,
            when,
            female: self.p.female,
            ranges: years_between(self.p.birth, when.day) >= 15,
        }
    }

    fn next_obs_id(&self) -> String {
        format!("{}-obs-{:05}", self.pid, self.observations.len() + 1)
    }

    fn push_obs(&mut self, vi: usize, when: Moment, lab: &Lab, value: f64, vital: bool) {
        let id = self.next_obs_id();
        let r = emit::observation(&self.obs_spec(&id, vi, when), lab, value, vital);
        self.observations.push(r);
    }

    /// Vital signs: blood pressure (+ pulse), optionally temperature and body size.
    fn vitals(
        &mut self,
        rng: &mut Rng,
        vi: usize,
        when: Moment,
        bp: bool,
        temp: bool,
        ill: Illness,
    ) {
        let day = when.day;
        let child = years_between(self.p.birth, day) < 15;
        if bp && !child {
            let (sbp, dbp) = self.physio.blood_pressure(rng, day);
            let id = self.next_obs_id();
            let r = emit::blood_pressure(&self.obs_spec(&id, vi, when), sbp, dbp);
            self.observations.push(r);
            let hr = self.physio.heart_rate(rng, day);
            self.push_obs(vi, when, &c::HEART_RATE, hr, true);
        }
        if temp {
            let t = self.physio.temperature(rng, ill, child);
            self.push_obs(vi, when, &c::BODY_TEMP, t, true);
        }
    }

    fn body_size(&mut self, rng: &mut Rng, vi: usize, when: Moment, height: bool) -> f64 {
        let weight = crate::fhir::round(self.physio.weight(rng, when.day), 1);
        let h = crate::fhir::round(self.physio.height(when.day), 1);
        if height {
            self.height_measured = true;
            self.push_obs(vi, when, &c::BODY_HEIGHT, h, true);
        }
        self.push_obs(vi, when, &c::BODY_WEIGHT, weight, true);
        if self.physio.adult(when.day) {
            self.push_obs(vi, when, &c::BMI, weight / (h / 100.0 * h / 100.0), true);
        }
        weight
    }

    fn labs(&mut self, rng: &mut Rng, vi: usize, when: Moment, labs: &[&Lab], ill: Illness) {
        let mut creatinine = None;
        for lab in labs {
            let adult = self.physio.adult(when.day);
            if std::ptr::eq(*lab, &c::EGFR) {
                if !adult {
                    continue;
                }
                let cr = creatinine
                    .unwrap_or_else(|| self.physio.lab(rng, &c::CREATININE, when.day, ill));
                let egfr = self
                    .physio
                    .egfr_from_creatinine(when.day, crate::fhir::round(cr, 2));
                self.push_obs(vi, when, lab, egfr, false);
                continue;
            }
            let value = self.physio.lab(rng, lab, when.day, ill);
            if std::ptr::eq(*lab, &c::CREATININE) {
                creatinine = Some(value);
            }
            self.push_obs(vi, when, lab, value, false);
        }
    }

    /// A MedicationRequest of `(drug, dose per intake, days)` at visit `vi`.
    fn prescribe(
        &mut self,
        vi: usize,
        (drug, dose, days): (&'static Drug, f64, u32),
        reasons: &[String],
        category: &str,
        at: Moment,
    ) {
        let id = format!("{}-med-{:05}", self.pid, self.meds.len() + 1);
        let at = at.not_after_day(self.p.today);
        let doctor = self.doctor_id(&self.plan.visits[vi]);
        let active = category != "inpatient" && at.day + days as i32 > self.p.today;
        let pharmacy =
            (category != "inpatient").then(|| self.reg.pharmacies[self.cluster].id.as_str());
        let r = emit::medication_request(&MedSpec {
            id: &id,
            patient: self.pid,
            encounter: &self.enc_ids[vi],
            doctor,
            authored: at,
            drug,
            dose,
            days,
            reasons,
            active,
            category,
            pharmacy,
        });
        self.meds.push(r);
    }

    fn drugs_on(&self, i: usize, day: i32) -> impl Iterator<Item = &'static Drug> + use<'a> {
        let cond = &self.conds[i];
        let added = cond.added.filter(|a| a.0 <= day).map(|a| a.1);
        cond.drugs.iter().copied().chain(added)
    }

    /// Drugs of the conditions managed at the visit's site (deduplicated, with
    /// all reasons). A drug indicated by conditions managed at two sites is
    /// prescribed only by the site of the first such condition.
    fn regimen(&self, vi: usize, only: Option<usize>) -> Vec<(&'static Drug, Vec<String>)> {
        let v = &self.plan.visits[vi];
        let day = v.start.day;
        let prescribing =
            |i: usize| timeline::prescribing(&self.conds[i], self.plan.rx_start[i], day);
        let mut out: Vec<(&'static Drug, Vec<String>)> = Vec::new();
        for i in 0..self.conds.len() {
            let here = match only {
                Some(o) => o == i,
                None => self.plan.cond_sites[i] == v.site && prescribing(i),
            };
            if !here {
                continue;
            }
            for d in self.drugs_on(i, day) {
                let owner = (0..self.conds.len())
                    .find(|&j| prescribing(j) && self.drugs_on(j, day).any(|x| std::ptr::eq(x, d)));
                if only.is_none() && owner.is_some_and(|j| self.plan.cond_sites[j] != v.site) {
                    continue;
                }
                match out.iter_mut().find(|(x, _)| std::ptr::eq(*x, d)) {
                    Some((_, reasons)) => reasons.push(self.cond_ids[i].clone()),
                    None => out.push((d, vec![self.cond_ids[i].clone()])),
                }
            }
        }
        out
    }

    /// The visit where a chronic condition was diagnosed or first recorded.
    fn diagnosis_visit(&self, i: usize) -> Option<usize> {
        let cond = &self.conds[i];
        let site = self.plan.cond_sites[i];
        self.plan.visits.iter().position(|v| {
            v.start.day >= cond.onset.max(self.p.window_start)
                && match v.purpose {
                    Purpose::Emergency { event } | Purpose::Admission { event } => {
                        event == Event::Onset(i)
                    }
                    Purpose::Workup { cond } => cond == i,
                    _ => v.site == site,
                }
        })
    }

    fn write_conditions(&mut self) {
        for i in 0..self.conds.len() {
            let cond = &self.conds[i];
            let dv = self.diagnosis_visit(i);
            let incident = cond.onset >= self.p.window_start;
            let onset = match dv {
                Some(v) if incident => self.plan.visits[v].start.fhir(),
                _ => date(cond.onset),
            };
            let doctor = dv.map(|v| self.doctor_id(&self.plan.visits[v]));
            self.conditions.push(emit::condition(&ConditionSpec {
                id: &self.cond_ids[i],
                patient: self.pid,
                dx: cond.dx,
                problem_list: true,
                onset,
                abatement: None,
                recorded: dv.map(|v| self.plan.visits[v].start.fhir()),
                encounter: dv.map(|v| self.enc_ids[v].as_str()),
                doctor,
            }));
        }
        for (k, e) in self.plan.episodes.iter().enumerate() {
            let vi = self.plan.visits.iter().position(|v| match v.purpose {
                Purpose::Acute { episode } => episode == k,
                Purpose::Emergency { event } | Purpose::Admission { event } => {
                    event == Event::Episode(k)
                }
                _ => false,
            });
            let symptom_onset = (e.day - 2).max(self.p.birth);
            let doctor = vi.map(|v| self.doctor_id(&self.plan.visits[v]));
            self.conditions.push(emit::condition(&ConditionSpec {
                id: &self.episode_ids[k],
                patient: self.pid,
                dx: e.kind.dx(),
                problem_list: false,
                onset: date(symptom_onset),
                abatement: (e.resolved <= self.p.today).then(|| date(e.resolved)),
                recorded: vi.map(|v| self.plan.visits[v].start.fhir()),
                encounter: vi.map(|v| self.enc_ids[v].as_str()),
                doctor,
            }));
        }
    }

    fn write_allergies(&mut self) {
        let first = self.plan.visits.first();
        for (k, a) in self.allergies.iter().enumerate() {
            let id = format!("{}-alg-{:02}", self.pid, k + 1);
            let recorded_at = first.filter(|v| v.start.day >= a.onset);
            self.allergy_resources.push(emit::allergy(&AllergySpec {
                id: &id,
                patient: self.pid,
                name: a.allergen.name,
                kind: a.allergen.kind,
                category: a.allergen.category,
                high: a.high,
                resolved: a.resolved,
                onset: date(a.onset),
                recorded: recorded_at.map(|v| v.start.fhir()),
                doctor: recorded_at.map(|v| self.doctor_id(v)),
                encounter: recorded_at.map(|_| self.enc_ids[0].as_str()),
                reaction: a.reaction,
                severe: a.severe,
            }));
        }
    }
}
