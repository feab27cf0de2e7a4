//! Physiology: per-patient latent parameters and the measured value of each
//! laboratory test or vital sign on a given day. Values follow the patient's
//! conditions (a diabetic's HbA1c is high before treatment, falls toward a
//! personal target after it, drifts up over the years and falls again when a
//! second drug is added) and carry measurement noise.

use crate::data::clinical::{self as c, Lab};
use crate::model::{Chronic, Condition};
use crate::rng::{Rng, exp, pow};
use crate::time::years_between;

/// Fraction of a treatment's full effect reached `days` after it started.
fn response(day: i32, start: i32, tau_days: f64) -> f64 {
    if day < start {
        0.0
    } else {
        1.0 - exp(-f64::from(day - start) / tau_days)
    }
}

/// Years from `day` until `today` (positive in the past).
fn years_before(day: i32, today: i32) -> f64 {
    f64::from(today - day) / 365.25
}

/// Mean height (cm) of Japanese children by age in years (male, female).
const CHILD_HEIGHT: [(f64, f64); 18] = [
    (66.0, 65.0),
    (76.0, 74.5),
    (86.0, 85.0),
    (94.5, 93.5),
    (101.5, 101.0),
    (108.5, 107.5),
    (115.5, 115.0),
    (122.0, 121.0),
    (128.0, 127.0),
    (133.5, 133.0),
    (139.0, 140.0),
    (145.5, 146.5),
    (153.0, 152.0),
    (160.0, 155.0),
    (165.0, 156.5),
    (168.5, 157.0),
    (170.0, 157.5),
    (170.5, 158.0),
];

/// Infection context of a measurement.
#[derive(Clone, Copy, Default)]
pub(crate) struct Illness {
    pub febrile: bool,
    pub bacterial: bool,
}

struct Dm {
    onset: i32,
    untreated: f64,
    target: f64,
    drift: f64,
    added: Option<i32>,
    sglt2: Option<i32>,
}

pub(crate) struct Physio {
    female: bool,
    birth: i32,
    today: i32,
    height_z: f64,
    adult_height: f64,
    bmi: f64,
    bmi_slope: f64,
    sbp_normal: f64,
    ht: Option<(i32, f64, f64)>,
    hba1c: f64,
    dm: Option<Dm>,
    ldl: f64,
    dl: Option<(i32, f64, f64, Option<i32>)>,
    hdl: f64,
    tg: f64,
    egfr_today: f64,
    egfr_slope: f64,
    ua: f64,
    hu: Option<(i32, f64, f64)>,
    alt: f64,
    ast: f64,
    ggt: f64,
    hb: f64,
    wbc: f64,
    plt: f64,
    potassium: f64,
    hr: f64,
    af: bool,
    beta_blocker: Option<i32>,
    hypothyroid: Option<i32>,
    cancer: Option<i32>,
}

impl Physio {
    pub(crate) fn new(
        rng: &mut Rng,
        female: bool,
        birth: i32,
        today: i32,
        conds: &[Condition],
    ) -> Physio {
        let age = years_between(birth, today);
        let find = |k: Chronic| conds.iter().find(|c| c.kind == k);
        let has = |k: Chronic| find(k).is_some();
        let birth_year = crate::time::civil_from_days(birth).0;
        // Secular trend: people born later are taller.
        let trend = f64::from((birth_year - 1930).clamp(0, 50)) / 50.0;
        let adult_height = if female {
            148.0 + 10.0 * trend
        } else {
            160.0 + 11.0 * trend
        };
        let height_z = rng.normal();
        let mut bmi = rng.gauss(if female { 21.8 } else { 23.6 }, 2.8);
        if has(Chronic::Diabetes) || has(Chronic::Hypertension) {
            bmi += 1.6;
        }
        if age >= 85 {
            bmi -= 1.5;
        }
        let sev = |k: Chronic| find(k).map_or(0.0, |c| c.severity);

        let ht = find(Chronic::Hypertension).map(|h| {
            (
                h.onset,
                145.0 + 25.0 * h.severity + rng.gauss(0.0, 4.0),
                124.0 + 16.0 * h.severity,
            )
        });
        let dm = find(Chronic::Diabetes).map(|d| Dm {
            onset: d.onset,
            untreated: 7.0 + 3.0 * d.severity + rng.gauss(0.0, 0.3),
            target: 6.4 + 1.3 * d.severity,
            drift: 0.05 + 0.25 * d.severity,
            added: d.added.map(|a| a.0),
            sglt2: d
                .added
                .filter(|a| std::ptr::eq(a.1, &c::DAPAGLIFLOZIN))
                .map(|a| a.0),
        });
        let dl = find(Chronic::Dyslipidemia).map(|d| {
            (
                d.onset,
                160.0 + 55.0 * d.severity,
                rng.range(0.55, 0.7),
                d.added.map(|a| a.0),
            )
        });
        let mut ldl = rng.gauss(112.0, 22.0);
        if female && age >= 55 {
            ldl += 12.0;
        }
        let ckd = find(Chronic::Ckd);
        let ckd4 = ckd.is_some_and(|c| std::ptr::eq(c.dx, &c::CKD4));
        let (egfr_today, egfr_slope) = match ckd {
            Some(_) if ckd4 => (rng.range(16.0, 29.0), rng.range(2.0, 4.0)),
            Some(k) => (
                rng.range(31.0, 58.0) - 10.0 * k.severity,
                rng.range(0.8, 2.5),
            ),
            None => (
                (rng.gauss(108.0 - 0.75 * f64::from(age), 11.0)).clamp(61.0, 125.0),
                0.5,
            ),
        };
        let hu = find(Chronic::Hyperuricemia)
            .map(|h| (h.onset, 7.9 + 1.5 * h.severity, rng.range(5.2, 6.6)));
        let beta_blocker = conds
            .iter()
            .filter(|c| c.drugs.iter().any(|d| std::ptr::eq(*d, &c::BISOPROLOL)))
            .map(|c| c.onset)
            .min();
        Physio {
            female,
            birth,
            today,
            height_z,
            adult_height,
            bmi,
            bmi_slope: rng.gauss(0.05, 0.15),
            sbp_normal: (104.0 + 0.42 * f64::from(age.max(15)) + rng.gauss(0.0, 7.0)).min(136.0),
            ht,
            hba1c: rng.gauss(5.5, 0.25) + 0.006 * f64::from(age),
            dm,
            ldl,
            dl,
            hdl: (if female {
                rng.gauss(66.0, 12.0)
            } else {
                rng.gauss(55.0, 11.0)
            } - 5.0 * f64::from(u8::from(has(Chronic::Diabetes)))
                - (bmi - 22.0))
                .clamp(28.0, 120.0),
            tg: rng.lognormal(
                (if female { 82.0 } else { 112.0 })
                    + 35.0 * sev(Chronic::Diabetes)
                    + 8.0 * (bmi - 22.0).max(0.0),
                0.3,
            ),
            egfr_today,
            egfr_slope,
            ua: if female {
                rng.gauss(4.5, 0.8)
            } else {
                rng.gauss(5.9, 0.9)
            },
            hu,
            alt: rng.lognormal(if female { 14.0 } else { 20.0 }, 0.3) + 2.0 * (bmi - 22.0).max(0.0),
            ast: rng.lognormal(20.0, 0.2),
            ggt: rng.lognormal(if female { 18.0 } else { 30.0 }, 0.45),
            hb: if female {
                rng.gauss(13.0, 0.8)
            } else {
                rng.gauss(14.8, 0.9)
            } - 0.03 * f64::from((age - 60).max(0)),
            wbc: rng.gauss(6.0, 1.1).clamp(3.6, 9.5),
            plt: rng.gauss(255.0, 45.0) - 0.5 * f64::from((age - 50).max(0)),
            potassium: rng.gauss(4.2, 0.2)
                + if ckd4 {
                    0.6
                } else if ckd.is_some() {
                    0.3
                } else {
                    0.0
                },
            hr: rng.gauss(72.0, 7.0),
            af: has(Chronic::AtrialFibrillation),
            beta_blocker,
            hypothyroid: find(Chronic::Hypothyroidism).map(|h| h.onset),
            cancer: find(Chronic::GastricCancer).map(|g| g.onset),
        }
    }

    fn age_years(&self, day: i32) -> f64 {
        f64::from(day - self.birth) / 365.25
    }

    /// Height in cm on `day` (children grow; adults are constant).
    pub(crate) fn height(&self, day: i32) -> f64 {
        let age = self.age_years(day);
        let adult = self.adult_height + 5.5 * self.height_z;
        if age >= 18.0 {
            return adult;
        }
        let i = (age.max(0.0) as usize).min(16);
        let frac = age.max(0.0) - i as f64;
        let pick = |h: (f64, f64)| if self.female { h.1 } else { h.0 };
        let mean =
            pick(CHILD_HEIGHT[i]) + (pick(CHILD_HEIGHT[i + 1]) - pick(CHILD_HEIGHT[i])) * frac;
        mean * (1.0 + 0.04 * self.height_z)
    }

    fn bmi_on(&self, day: i32) -> f64 {
        let age = self.age_years(day);
        if age < 18.0 {
            // Children: BMI dips after infancy and rises in adolescence.
            let base = if age < 1.0 {
                17.0
            } else if age < 6.0 {
                15.8
            } else {
                15.8 + (age - 6.0) * 0.45
            };
            return base + 0.25 * (self.bmi - 22.5);
        }
        let mut b = self.bmi - self.bmi_slope * years_before(day, self.today);
        if let Some(s) = self.dm.as_ref().and_then(|d| d.sglt2) {
            b -= 0.8 * response(day, s, 120.0);
        }
        b.clamp(14.0, 45.0)
    }

    /// Body weight in kg on `day`.
    pub(crate) fn weight(&self, rng: &mut Rng, day: i32) -> f64 {
        let h = self.height(day) / 100.0;
        (self.bmi_on(day) * h * h + rng.gauss(0.0, 0.3)).clamp(2.5, 180.0)
    }

    fn egfr(&self, day: i32) -> f64 {
        (self.egfr_today + self.egfr_slope * years_before(day, self.today)).clamp(6.0, 140.0)
    }

    /// Serum creatinine from eGFR by the Japanese equation
    /// eGFR = 194 × Cr^-1.094 × age^-0.287 (× 0.739 for women).
    fn creatinine(&self, rng: &mut Rng, day: i32) -> f64 {
        let age = self.age_years(day);
        if age < 18.0 {
            // Bedside Schwartz (eGFR = 0.413 × height / Cr) with a normal eGFR.
            return (0.413 * self.height(day) / rng.gauss(120.0, 10.0)).clamp(0.15, 1.0);
        }
        let egfr = self.egfr(day) + rng.gauss(0.0, 2.5);
        let sex = if self.female { 0.739 } else { 1.0 };
        let factor = 194.0 * pow(age, -0.287) * sex;
        pow(egfr.max(4.0) / factor, -1.0 / 1.094).clamp(0.3, 9.0)
    }

    /// eGFR from a (rounded) creatinine, as a laboratory reports it.
    pub(crate) fn egfr_from_creatinine(&self, day: i32, cr: f64) -> f64 {
        let sex = if self.female { 0.739 } else { 1.0 };
        194.0 * pow(cr, -1.094) * pow(self.age_years(day).max(18.0), -0.287) * sex
    }

    /// Whether eGFR (adult formula) should be reported on `day`.
    pub(crate) fn adult(&self, day: i32) -> bool {
        self.age_years(day) >= 18.0
    }

    fn hba1c_on(&self, day: i32) -> f64 {
        let Some(d) = &self.dm else { return self.hba1c };
        if day < d.onset {
            let lead = (1.0 - f64::from(d.onset - day) / 730.0).max(0.0);
            return self.hba1c + (d.untreated - self.hba1c) * lead;
        }
        let mut v = d.untreated - (d.untreated - d.target) * response(day, d.onset, 80.0);
        // Control slowly deteriorates (from diagnosis, or from the start of
        // the observed history for long-standing disease), until a second
        // drug is added.
        let drift_from = d.onset.max(self.today - 6 * 365);
        v += (d.drift * f64::from(day - drift_from) / 365.25).clamp(0.0, 1.2);
        if let Some(a) = d.added {
            v -= 0.7 * response(day, a.max(drift_from), 80.0);
        }
        v
    }

    /// Systolic and diastolic blood pressure on `day`.
    pub(crate) fn blood_pressure(&self, rng: &mut Rng, day: i32) -> (f64, f64) {
        let age = self.age_years(day);
        let mut sbp = if age < 15.0 {
            92.0 + age * 1.2
        } else {
            self.sbp_normal
        };
        if let Some((onset, untreated, target)) = self.ht {
            let lead = (1.0 - f64::from(onset - day) / 540.0).clamp(0.0, 1.0);
            sbp = if day < onset {
                sbp + (untreated - sbp) * lead
            } else {
                untreated - (untreated - target) * response(day, onset, 60.0)
            };
        }
        let sbp = (sbp + rng.gauss(0.0, 7.0)).clamp(78.0, 220.0);
        let elderly = (age - 65.0).max(0.0) * 0.2;
        let dbp = (0.55 * sbp + 12.0 - elderly + rng.gauss(0.0, 4.5))
            .clamp(42.0, 130.0)
            .min(sbp - 20.0);
        (sbp, dbp)
    }

    pub(crate) fn heart_rate(&self, rng: &mut Rng, day: i32) -> f64 {
        let mut hr = if self.age_years(day) < 6.0 {
            105.0
        } else {
            self.hr
        };
        if self.af {
            hr += rng.range(5.0, 25.0);
        }
        if let Some(b) = self.beta_blocker {
            hr -= 8.0 * response(day, b, 30.0);
        }
        (hr + rng.gauss(0.0, 5.0)).clamp(40.0, 170.0)
    }

    pub(crate) fn temperature(&self, rng: &mut Rng, illness: Illness, child: bool) -> f64 {
        if illness.febrile {
            rng.range(37.5, if child { 39.9 } else { 39.3 })
        } else {
            rng.gauss(36.5, 0.2).clamp(35.8, 37.2)
        }
    }

    /// The measured value of a laboratory test on `day`.
    pub(crate) fn lab(&self, rng: &mut Rng, lab: &Lab, day: i32, ill: Illness) -> f64 {
        let noise = |rng: &mut Rng, sd: f64| rng.gauss(0.0, sd);
        let v = match lab.loinc {
            l if l == c::HBA1C.loinc => self.hba1c_on(day) + noise(rng, 0.15),
            l if l == c::GLUCOSE.loinc => {
                let a = self.hba1c_on(day);
                let postprandial = if rng.chance(0.3) {
                    rng.range(10.0, 45.0)
                } else {
                    0.0
                };
                90.0 + (a - 5.4) * 32.0 + postprandial + noise(rng, 7.0)
            }
            l if l == c::LDL.loinc => {
                let mut v = self.ldl;
                if let Some((onset, untreated, statin, added)) = self.dl {
                    let lead = (1.0 - f64::from(onset - day) / 720.0).clamp(0.0, 1.0);
                    v = if day < onset {
                        v + (untreated - v) * lead
                    } else {
                        untreated
                    };
                    v *= 1.0 - (1.0 - statin) * response(day, onset, 40.0);
                    if let Some(a) = added {
                        v *= 1.0 - 0.2 * response(day, a, 40.0);
                    }
                }
                v * (1.0 + noise(rng, 0.06))
            }
            l if l == c::HDL.loinc => self.hdl + noise(rng, 3.5),
            l if l == c::TG.loinc => self.tg * exp(noise(rng, 0.25)),
            l if l == c::CREATININE.loinc => self.creatinine(rng, day),
            l if l == c::EGFR.loinc => self.egfr(day) + noise(rng, 2.5),
            l if l == c::AST.loinc => self.ast * exp(noise(rng, 0.12)),
            l if l == c::ALT.loinc => self.alt * exp(noise(rng, 0.15)),
            l if l == c::GGT.loinc => self.ggt * exp(noise(rng, 0.15)),
            l if l == c::HEMOGLOBIN.loinc => {
                let mut v = self.hb - 0.04 * (60.0 - self.egfr(day)).max(0.0);
                if let Some(onset) = self.cancer {
                    v -= 1.2 * response(day, onset, 60.0);
                }
                v + noise(rng, 0.3)
            }
            l if l == c::WBC.loinc => {
                if ill.bacterial {
                    rng.range(9.5, 17.0)
                } else if ill.febrile {
                    rng.range(3.5, 8.5)
                } else {
                    self.wbc + noise(rng, 0.5)
                }
            }
            l if l == c::PLATELETS.loinc => self.plt + noise(rng, 15.0),
            l if l == c::POTASSIUM.loinc => self.potassium + noise(rng, 0.2),
            l if l == c::BUN.loinc => {
                let cr = self.creatinine(rng, day);
                8.0 + 9.0 * cr + noise(rng, 1.8)
            }
            l if l == c::CRP.loinc => {
                if ill.bacterial {
                    rng.range(3.0, 16.0)
                } else if ill.febrile {
                    rng.range(0.3, 3.0)
                } else {
                    rng.lognormal(0.05, 0.6)
                }
            }
            l if l == c::URIC_ACID.loinc => {
                let mut v = self.ua;
                if let Some((onset, untreated, treated)) = self.hu {
                    v = if day < onset {
                        untreated
                    } else {
                        untreated - (untreated - treated) * response(day, onset, 50.0)
                    };
                }
                v + noise(rng, 0.35)
            }
            l if l == c::CEA.loinc => match self.cancer {
                Some(onset) if day - onset < 40 => rng.range(3.0, 14.0),
                _ => rng.lognormal(2.0, 0.35),
            },
            l if l == c::TSH.loinc => match self.hypothyroid {
                Some(onset) => {
                    let untreated = 14.0;
                    (untreated - (untreated - 2.0) * response(day, onset, 50.0))
                        * exp(noise(rng, 0.25))
                }
                None => rng.lognormal(1.6, 0.35),
            },
            l if l == c::FT4.loinc => match self.hypothyroid {
                Some(onset) => 0.6 + 0.55 * response(day, onset, 50.0) + noise(rng, 0.06),
                None => rng.gauss(1.1, 0.1),
            },
            _ => 0.0,
        };
        let (lo, hi) = physiologic_range(lab);
        v.clamp(lo, hi)
    }
}

/// Hard physiologic bounds of every generated measurement (also used by tests).
pub(crate) fn physiologic_range(lab: &Lab) -> (f64, f64) {
    match lab.loinc {
        "4548-4" => (4.0, 14.0),
        "2345-7" => (50.0, 450.0),
        "13457-7" => (30.0, 350.0),
        "2085-9" => (15.0, 140.0),
        "2571-8" => (20.0, 1200.0),
        "2160-0" => (0.15, 9.0),
        "33914-3" => (4.0, 200.0),
        "1920-8" | "1742-6" | "2324-2" => (3.0, 400.0),
        "718-7" => (6.0, 19.0),
        "6690-2" => (1.5, 30.0),
        "777-3" => (40.0, 700.0),
        "2823-3" => (2.8, 6.8),
        "3094-0" => (4.0, 120.0),
        "1988-5" => (0.0, 35.0),
        "3084-1" => (1.5, 13.0),
        "2039-6" => (0.3, 200.0),
        "3016-3" => (0.05, 80.0),
        "3024-7" => (0.3, 3.0),
        "29463-7" => (2.0, 200.0),
        "8302-2" => (40.0, 210.0),
        "39156-5" => (10.0, 60.0),
        "8480-6" => (60.0, 250.0),
        "8462-4" => (30.0, 150.0),
        "8867-4" => (30.0, 200.0),
        "8310-5" => (34.0, 42.0),
        _ => (f64::MIN, f64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Care, Condition};
    use crate::rng::DOMAIN_PATIENT;
    use crate::time::days_from_civil;

    #[test]
    fn diabetic_hba1c_falls_with_treatment() {
        let today = days_from_civil(2026, 11, 1);
        let onset = today - 4 * 365;
        let dm = Condition {
            kind: Chronic::Diabetes,
            dx: &c::DIABETES,
            onset,
            care: Care::Primary,
            drugs: vec![&c::METFORMIN],
            added: None,
            severity: 0.7,
        };
        let mut rng = Rng::new(1, DOMAIN_PATIENT, 0);
        let p = Physio::new(
            &mut rng,
            false,
            today - 60 * 365,
            today,
            std::slice::from_ref(&dm),
        );
        let mean = |rng: &mut Rng, day: i32| {
            (0..50)
                .map(|_| p.lab(rng, &c::HBA1C, day, Illness::default()))
                .sum::<f64>()
                / 50.0
        };
        let before = mean(&mut rng, onset - 5);
        let after = mean(&mut rng, onset + 200);
        assert!(before > 8.5, "untreated {before}");
        assert!(after < before - 1.0, "treated {after} vs {before}");
        assert!((6.0..9.0).contains(&after));
    }

    #[test]
    fn creatinine_and_egfr_agree() {
        let today = days_from_civil(2026, 11, 1);
        let mut rng = Rng::new(3, DOMAIN_PATIENT, 0);
        let p = Physio::new(&mut rng, true, today - 70 * 365, today, &[]);
        let cr = p.creatinine(&mut rng, today);
        let egfr = p.egfr_from_creatinine(today, cr);
        assert!(
            (egfr - p.egfr(today)).abs() < 12.0,
            "{cr} -> {egfr} vs {}",
            p.egfr(today)
        );
        assert!((0.4..1.2).contains(&cr), "{cr}");
    }

    #[test]
    fn children_grow() {
        let today = days_from_civil(2026, 11, 1);
        let mut rng = Rng::new(3, DOMAIN_PATIENT, 9);
        let p = Physio::new(&mut rng, false, today - 8 * 365, today, &[]);
        assert!(p.height(today) > p.height(today - 3 * 365) + 10.0);
        let w = p.weight(&mut rng, today);
        assert!((15.0..45.0).contains(&w), "{w}");
    }
}
