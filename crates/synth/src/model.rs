//! The disease model: which chronic conditions a person has (age- and
//! sex-specific prevalence with comorbidity effects, roughly following
//! Japanese survey figures for diagnosed / treated disease), when they began,
//! where they are managed and how they are treated; acute episodes; allergies.

use crate::data::clinical::{self as c, Allergen, Drug, Dx};
use crate::registry::Dept;
use crate::rng::Rng;

/// Where a condition is followed up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Care {
    /// Family doctor: internal medicine clinic (paediatrics for children).
    Primary,
    Dermatology,
    Orthopedics,
    Otolaryngology,
    /// A hospital department.
    Hospital(Dept),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Chronic {
    Hypertension,
    Diabetes,
    Dyslipidemia,
    AtrialFibrillation,
    Ckd,
    Asthma,
    AtopicDermatitis,
    GastricCancer,
    Stroke,
    Osteoporosis,
    Gerd,
    Hyperuricemia,
    Dementia,
    Pollinosis,
    KneeOa,
    Hypothyroidism,
    Insomnia,
    Constipation,
    Bph,
    HeartFailure,
    Copd,
    Angina,
}

/// Evaluation order: risk factors before the diseases they raise.
const ORDER: [Chronic; 22] = [
    Chronic::Hypertension,
    Chronic::Diabetes,
    Chronic::Dyslipidemia,
    Chronic::AtrialFibrillation,
    Chronic::Ckd,
    Chronic::Asthma,
    Chronic::AtopicDermatitis,
    Chronic::GastricCancer,
    Chronic::Stroke,
    Chronic::Osteoporosis,
    Chronic::Gerd,
    Chronic::Hyperuricemia,
    Chronic::Dementia,
    Chronic::Pollinosis,
    Chronic::KneeOa,
    Chronic::Hypothyroidism,
    Chronic::Insomnia,
    Chronic::Constipation,
    Chronic::Bph,
    Chronic::HeartFailure,
    Chronic::Copd,
    Chronic::Angina,
];

/// Piecewise prevalence by age: `[(from_age, p)]`, last matching band wins.
fn band(age: i32, bands: &[(i32, f64)]) -> f64 {
    bands
        .iter()
        .rev()
        .find(|(from, _)| age >= *from)
        .map_or(0.0, |b| b.1)
}

impl Chronic {
    /// Earliest plausible age at onset.
    fn min_onset_age(self) -> i32 {
        use Chronic::*;
        match self {
            AtopicDermatitis => 0,
            Asthma => 1,
            Pollinosis => 4,
            Gerd | Hypothyroidism => 20,
            Dyslipidemia | Hyperuricemia => 25,
            Hypertension | Diabetes | Insomnia => 30,
            GastricCancer => 40,
            Ckd | Stroke | AtrialFibrillation | KneeOa | Angina => 45,
            Osteoporosis | Constipation | Bph | Copd => 50,
            HeartFailure => 60,
            Dementia => 65,
        }
    }

    /// Probability that the onset falls inside the history window rather than before it.
    fn incident_share(self) -> f64 {
        use Chronic::*;
        match self {
            GastricCancer => 0.6,
            Stroke => 0.45,
            HeartFailure | Dementia => 0.4,
            _ => 0.22,
        }
    }

    /// Prevalence at `age` given sex and the conditions already present.
    fn prevalence(self, age: i32, female: bool, has: &dyn Fn(Chronic) -> bool) -> f64 {
        use Chronic::*;
        let sex = |m: f64, f: f64| if female { f } else { m };
        let p = match self {
            Hypertension => {
                band(
                    age,
                    &[
                        (20, 0.005),
                        (30, 0.03),
                        (40, 0.10),
                        (50, 0.22),
                        (60, 0.38),
                        (70, 0.50),
                        (80, 0.58),
                    ],
                ) * if age < 70 { sex(1.15, 0.85) } else { 1.0 }
            }
            Diabetes => {
                band(
                    age,
                    &[
                        (20, 0.002),
                        (30, 0.01),
                        (40, 0.04),
                        (50, 0.09),
                        (60, 0.14),
                        (70, 0.16),
                    ],
                ) * sex(1.45, 0.6)
                    * if has(Hypertension) { 1.5 } else { 1.0 }
            }
            Dyslipidemia => {
                band(
                    age,
                    &[(20, 0.005), (30, 0.03), (40, 0.08), (50, 0.17), (60, 0.25)],
                ) * if female && age >= 55 {
                    1.25
                } else if female {
                    0.7
                } else {
                    1.0
                } * if has(Diabetes) { 1.8 } else { 1.0 }
            }
            AtrialFibrillation => {
                band(age, &[(50, 0.005), (60, 0.015), (70, 0.03), (80, 0.05)]) * sex(1.5, 0.7)
            }
            Ckd => {
                band(
                    age,
                    &[(40, 0.005), (50, 0.02), (60, 0.05), (70, 0.10), (80, 0.18)],
                ) * if has(Diabetes) { 2.0 } else { 1.0 }
                    * if has(Hypertension) { 1.5 } else { 1.0 }
            }
            Asthma => band(age, &[(1, 0.07), (15, 0.04), (65, 0.05)]),
            AtopicDermatitis => band(
                age,
                &[(0, 0.12), (6, 0.10), (16, 0.08), (31, 0.04), (50, 0.01)],
            ),
            GastricCancer => band(age, &[(40, 0.004), (60, 0.012), (70, 0.018)]) * sex(1.6, 0.5),
            Stroke => {
                band(
                    age,
                    &[
                        (45, 0.002),
                        (50, 0.006),
                        (60, 0.015),
                        (70, 0.035),
                        (80, 0.06),
                    ],
                ) * if has(Hypertension) { 1.5 } else { 1.0 }
                    * if has(AtrialFibrillation) { 2.5 } else { 1.0 }
            }
            Osteoporosis => {
                if female {
                    band(age, &[(50, 0.05), (60, 0.15), (70, 0.25), (80, 0.35)])
                } else {
                    band(age, &[(70, 0.04), (80, 0.08)])
                }
            }
            Gerd => band(age, &[(20, 0.04), (50, 0.07)]),
            Hyperuricemia => {
                if female {
                    band(age, &[(60, 0.015)])
                } else {
                    band(age, &[(30, 0.08)])
                }
            }
            Dementia => band(age, &[(70, 0.03), (80, 0.08), (85, 0.15), (90, 0.25)]),
            Pollinosis => band(age, &[(5, 0.15), (60, 0.07)]),
            KneeOa => band(age, &[(50, 0.04), (60, 0.10), (70, 0.15)]) * sex(0.5, 1.0),
            Hypothyroidism => sex(0.004, band(age, &[(30, 0.02), (50, 0.03)])),
            Insomnia => band(age, &[(40, 0.03), (60, 0.06), (75, 0.10)]),
            Constipation => band(age, &[(65, 0.05), (75, 0.12)]) * sex(0.8, 1.3),
            Bph => sex(band(age, &[(50, 0.04), (60, 0.10), (70, 0.18)]), 0.0),
            HeartFailure => {
                band(age, &[(70, 0.02), (80, 0.05)])
                    * if has(Hypertension) { 1.5 } else { 1.0 }
                    * if has(AtrialFibrillation) { 2.0 } else { 1.0 }
            }
            Copd => band(age, &[(60, 0.03)]) * sex(1.0, 0.27),
            Angina => {
                band(age, &[(50, 0.01), (60, 0.025), (70, 0.04)])
                    * sex(1.5, 0.6)
                    * if has(Diabetes) { 1.5 } else { 1.0 }
            }
        };
        p.min(0.9)
    }

    fn care(self, age: i32, rng: &mut Rng) -> Care {
        use Chronic::*;
        match self {
            GastricCancer => Care::Hospital(Dept::Gastroenterology),
            HeartFailure | Angina => Care::Hospital(Dept::Cardiology),
            AtrialFibrillation if rng.chance(0.4) => Care::Hospital(Dept::Cardiology),
            Stroke if rng.chance(0.5) => Care::Hospital(Dept::Neurology),
            Dementia if rng.chance(0.3) => Care::Hospital(Dept::Neurology),
            AtopicDermatitis => Care::Dermatology,
            Osteoporosis | KneeOa => Care::Orthopedics,
            Pollinosis if age >= 15 && rng.chance(0.5) => Care::Otolaryngology,
            _ => Care::Primary,
        }
    }
}

/// A chronic condition of one patient.
pub(crate) struct Condition {
    pub kind: Chronic,
    pub dx: &'static Dx,
    pub onset: i32,
    pub care: Care,
    /// Drugs started at diagnosis.
    pub drugs: Vec<&'static Drug>,
    /// A drug added later (treatment escalation): (day, drug).
    pub added: Option<(i32, &'static Drug)>,
    /// 0..1, disease-specific severity / poor control.
    pub severity: f64,
}

/// An allergy of one patient.
pub(crate) struct Allergy {
    pub allergen: &'static Allergen,
    pub onset: i32,
    pub high: bool,
    pub reaction: &'static str,
    pub severe: bool,
    pub resolved: bool,
}

/// Person-level facts the model needs.
pub(crate) struct Person {
    pub female: bool,
    pub birth: i32,
    pub age: i32,
    pub today: i32,
    pub window_start: i32,
}

impl Person {
    fn day_at_age(&self, age: i32) -> i32 {
        crate::time::add_years(self.birth, age)
    }
}

pub(crate) fn allergies(rng: &mut Rng, p: &Person) -> Vec<Allergy> {
    let child = p.age < 15;
    let rate = match p.age {
        0..=5 => 0.12,
        6..=14 => 0.10,
        _ => 0.12,
    };
    let mut out: Vec<Allergy> = Vec::new();
    let mut n = usize::from(rng.chance(rate));
    if n == 1 && rng.chance(0.2) {
        n = 2;
    }
    for _ in 0..n {
        let a = rng.pick_by(c::ALLERGENS, |a| {
            if child {
                a.child_weight
            } else {
                a.adult_weight
            }
        });
        if out.iter().any(|x| std::ptr::eq(x.allergen, a)) {
            continue;
        }
        let onset_age = if a.category == "food" && a.child_weight > 10 {
            rng.int(0, 2.min(i64::from(p.age))) as i32
        } else {
            rng.int(0, i64::from(p.age)) as i32
        };
        let onset = p.day_at_age(onset_age) + rng.int(0, 300) as i32;
        let onset = onset.min(p.today - 1);
        let high = rng.chance(a.high_risk);
        // Most infant egg / milk allergies are outgrown by school age.
        let outgrown =
            a.category == "food" && a.child_weight >= 20 && p.age >= 6 && rng.chance(0.6);
        out.push(Allergy {
            allergen: a,
            onset,
            high,
            reaction: a.reactions[rng.index(a.reactions.len())],
            severe: high && rng.chance(0.5),
            resolved: outgrown,
        });
    }
    out
}

fn pick_drug(
    rng: &mut Rng,
    options: &[(&'static Drug, u32)],
    avoid: &dyn Fn(&Drug) -> bool,
) -> &'static Drug {
    let allowed: Vec<(&'static Drug, u32)> =
        options.iter().copied().filter(|(d, _)| !avoid(d)).collect();
    let pool = if allowed.is_empty() {
        options.to_vec()
    } else {
        allowed
    };
    let weights: Vec<u32> = pool.iter().map(|o| o.1).collect();
    pool[rng.weighted(&weights)].0
}

/// The chronic conditions of a person, in evaluation order.
pub(crate) fn chronic_conditions(
    rng: &mut Rng,
    p: &Person,
    allergies: &[Allergy],
) -> Vec<Condition> {
    let nsaid_allergy = allergies.iter().any(|a| a.allergen.nsaid && !a.resolved);
    let avoid = |d: &Drug| d.nsaid && nsaid_allergy;
    let years = crate::time::years_between(p.window_start, p.today).max(1);
    let mut out: Vec<Condition> = Vec::new();
    for kind in ORDER {
        let present = |k: Chronic| out.iter().any(|c| c.kind == k);
        if p.age < kind.min_onset_age() || !rng.chance(kind.prevalence(p.age, p.female, &present)) {
            continue;
        }
        let earliest = p.day_at_age(kind.min_onset_age());
        let incident = p.age - years < kind.min_onset_age() || rng.chance(kind.incident_share());
        let onset = if incident {
            let lo = earliest.max(p.window_start);
            rng.int(i64::from(lo), i64::from(p.today - 30).max(i64::from(lo))) as i32
        } else {
            let span_years = i64::from((p.age - years - kind.min_onset_age()).clamp(0, 20));
            let lo = (p.window_start - (span_years as i32) * 365).max(earliest);
            rng.int(
                i64::from(lo),
                i64::from(p.window_start - 1).max(i64::from(lo)),
            ) as i32
        };
        let severity = rng.f64();
        let (dx, drugs, added) = treatment(rng, kind, p, &out, onset, severity, &avoid);
        out.push(Condition {
            kind,
            dx,
            onset,
            care: kind.care(p.age, rng),
            drugs,
            added,
            severity,
        });
    }
    out
}

type Treatment = (
    &'static Dx,
    Vec<&'static Drug>,
    Option<(i32, &'static Drug)>,
);

fn treatment(
    rng: &mut Rng,
    kind: Chronic,
    p: &Person,
    others: &[Condition],
    onset: i32,
    severity: f64,
    avoid: &dyn Fn(&Drug) -> bool,
) -> Treatment {
    use Chronic::*;
    let has = |k: Chronic| others.iter().any(|c| c.kind == k);
    // Escalation happens some months after diagnosis; for long-standing
    // disease, at some point in the last years (often inside the history).
    let later = |rng: &mut Rng, lo: i64, hi: i64| {
        let from = if onset < p.window_start {
            p.window_start - 730
        } else {
            onset
        };
        (from + rng.int(lo, hi) as i32)
            .min(p.today - 1)
            .max(onset + 1)
    };
    let child = p.age < 15;
    match kind {
        Hypertension => {
            let first = pick_drug(
                rng,
                &[
                    (&c::AMLODIPINE, 55),
                    (&c::CANDESARTAN, 25),
                    (&c::OLMESARTAN, 20),
                ],
                avoid,
            );
            let mut drugs = vec![first];
            if severity > 0.8 {
                drugs.push(if std::ptr::eq(first, &c::AMLODIPINE) {
                    &c::OLMESARTAN
                } else {
                    &c::AMLODIPINE
                });
            }
            (&c::HYPERTENSION, drugs, None)
        }
        Diabetes => {
            let first = if p.age >= 75 || rng.chance(0.35) {
                &c::SITAGLIPTIN
            } else {
                &c::METFORMIN
            };
            let added = (severity > 0.55).then(|| {
                let second = if std::ptr::eq(first, &c::METFORMIN) {
                    pick_drug(
                        rng,
                        &[
                            (&c::SITAGLIPTIN, 50),
                            (&c::DAPAGLIFLOZIN, 35),
                            (&c::GLIMEPIRIDE, 15),
                        ],
                        avoid,
                    )
                } else {
                    pick_drug(
                        rng,
                        &[
                            (&c::DAPAGLIFLOZIN, 50),
                            (&c::GLIMEPIRIDE, 30),
                            (&c::METFORMIN, 20),
                        ],
                        avoid,
                    )
                };
                (later(rng, 180, 900), second)
            });
            (&c::DIABETES, vec![first], added)
        }
        Dyslipidemia => {
            let statin = pick_drug(
                rng,
                &[
                    (&c::ROSUVASTATIN, 40),
                    (&c::ATORVASTATIN, 35),
                    (&c::PITAVASTATIN, 25),
                ],
                avoid,
            );
            let added = (severity > 0.85).then(|| (later(rng, 120, 720), &c::EZETIMIBE));
            (&c::DYSLIPIDEMIA, vec![statin], added)
        }
        AtrialFibrillation => (
            &c::ATRIAL_FIBRILLATION,
            vec![&c::APIXABAN, &c::BISOPROLOL],
            None,
        ),
        Ckd => {
            let dx = if severity > 0.85 { &c::CKD4 } else { &c::CKD3 };
            let on_arb = others.iter().any(|o| {
                o.drugs
                    .iter()
                    .any(|d| std::ptr::eq(*d, &c::CANDESARTAN) || std::ptr::eq(*d, &c::OLMESARTAN))
            });
            let drugs = if on_arb {
                vec![]
            } else {
                vec![&c::CANDESARTAN]
            };
            (dx, drugs, None)
        }
        Asthma => {
            let drugs = match p.age {
                ..=5 => vec![&c::MONTELUKAST_GRANULE],
                6..=14 => vec![&c::MONTELUKAST_GRANULE, &c::BUDESONIDE_FORMOTEROL],
                _ => vec![&c::BUDESONIDE_FORMOTEROL, &c::MONTELUKAST],
            };
            (&c::ASTHMA, drugs, None)
        }
        AtopicDermatitis => {
            let steroid = if child || rng.chance(0.3) {
                &c::HYDROCORTISONE_OINT
            } else {
                &c::BETAMETHASONE_OINT
            };
            let mut drugs = vec![&c::HEPARINOID, steroid];
            if p.age >= 15 && rng.chance(0.6) {
                drugs.push(&c::OLOPATADINE);
            }
            (&c::ATOPIC_DERMATITIS, drugs, None)
        }
        GastricCancer => (&c::GASTRIC_CANCER, vec![], None),
        Stroke => {
            let drugs = if has(AtrialFibrillation) {
                vec![]
            } else if rng.chance(0.6) {
                vec![&c::CLOPIDOGREL]
            } else {
                vec![&c::ASPIRIN]
            };
            (&c::CEREBRAL_INFARCTION, drugs, None)
        }
        Osteoporosis => {
            let dx = if p.female {
                &c::OSTEOPOROSIS_PM
            } else {
                &c::OSTEOPOROSIS
            };
            (dx, vec![&c::ALENDRONATE, &c::ELDECALCITOL], None)
        }
        Gerd => {
            let d = pick_drug(rng, &[(&c::VONOPRAZAN, 60), (&c::FAMOTIDINE, 40)], avoid);
            (&c::REFLUX_ESOPHAGITIS, vec![d], None)
        }
        Hyperuricemia => {
            let d = pick_drug(rng, &[(&c::FEBUXOSTAT, 70), (&c::ALLOPURINOL, 30)], avoid);
            (&c::HYPERURICEMIA, vec![d], None)
        }
        Dementia => (&c::ALZHEIMER, vec![&c::DONEPEZIL], None),
        Pollinosis => {
            let d = pick_drug(rng, &[(&c::FEXOFENADINE, 60), (&c::OLOPATADINE, 40)], avoid);
            (&c::POLLINOSIS, vec![d], None)
        }
        KneeOa => {
            let nsaid = pick_drug(
                rng,
                &[
                    (&c::CELECOXIB, 45),
                    (&c::LOXOPROFEN, 35),
                    (&c::ACETAMINOPHEN, 20),
                ],
                avoid,
            );
            let mut drugs = vec![nsaid];
            if std::ptr::eq(nsaid, &c::LOXOPROFEN) {
                drugs.push(&c::REBAMIPIDE);
            }
            if !avoid(&c::LOXOPROFEN_TAPE) && rng.chance(0.6) {
                drugs.push(&c::LOXOPROFEN_TAPE);
            }
            (&c::KNEE_OA, drugs, None)
        }
        Hypothyroidism => (&c::HYPOTHYROIDISM, vec![&c::LEVOTHYROXINE], None),
        Insomnia => {
            let d = pick_drug(rng, &[(&c::ZOLPIDEM, 55), (&c::BROTIZOLAM, 45)], avoid);
            (&c::INSOMNIA, vec![d], None)
        }
        Constipation => (&c::CONSTIPATION, vec![&c::MAGNESIUM_OXIDE], None),
        Bph => (&c::BPH, vec![&c::TAMSULOSIN], None),
        HeartFailure => (
            &c::HEART_FAILURE,
            vec![&c::FUROSEMIDE, &c::BISOPROLOL],
            None,
        ),
        Copd => (&c::COPD, vec![&c::TIOTROPIUM], None),
        Angina => (
            &c::ANGINA,
            vec![&c::ASPIRIN, &c::BISOPROLOL, &c::NITROGLYCERIN],
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::DOMAIN_PATIENT;
    use crate::time::days_from_civil;

    fn person(age: i32, female: bool) -> Person {
        let today = days_from_civil(2026, 11, 1);
        Person {
            female,
            birth: crate::time::add_years(today, -age) - 100,
            age,
            today,
            window_start: crate::time::add_years(today, -5),
        }
    }

    #[test]
    fn prevalence_rises_with_age() {
        let count = |age: i32, kind: Chronic| {
            let mut n = 0;
            for i in 0..4000 {
                let mut rng = Rng::new(11, DOMAIN_PATIENT, i);
                let p = person(age, i % 2 == 0);
                n += chronic_conditions(&mut rng, &p, &[])
                    .iter()
                    .filter(|c| c.kind == kind)
                    .count();
            }
            n
        };
        assert!(count(75, Chronic::Hypertension) > 3 * count(40, Chronic::Hypertension));
        assert_eq!(count(8, Chronic::Hypertension), 0);
        assert!(count(3, Chronic::AtopicDermatitis) > count(70, Chronic::AtopicDermatitis));
    }

    #[test]
    fn onsets_are_plausible() {
        for i in 0..3000 {
            let mut rng = Rng::new(2, DOMAIN_PATIENT, i);
            let age = (i % 100) as i32;
            let p = person(age, i % 3 == 0);
            for c in chronic_conditions(&mut rng, &p, &[]) {
                assert!(c.onset <= p.today, "{:?}", c.kind);
                assert!(c.onset >= p.birth, "{:?}", c.kind);
                assert!(crate::time::years_between(p.birth, c.onset) >= c.kind.min_onset_age() - 1);
                if let Some((day, _)) = c.added {
                    assert!(day > c.onset);
                }
            }
        }
    }

    #[test]
    fn nsaid_allergy_avoids_nsaids() {
        let nsaid = c::ALLERGENS
            .iter()
            .find(|a| a.nsaid)
            .expect("NSAID allergen");
        let allergy = Allergy {
            allergen: nsaid,
            onset: 0,
            high: true,
            reaction: "喘息発作",
            severe: false,
            resolved: false,
        };
        for i in 0..3000 {
            let mut rng = Rng::new(4, DOMAIN_PATIENT, i);
            let p = person(72, true);
            for c in chronic_conditions(&mut rng, &p, std::slice::from_ref(&allergy)) {
                assert!(c.drugs.iter().all(|d| !d.nsaid), "{:?}", c.kind);
            }
        }
    }
}
