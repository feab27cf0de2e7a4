//! Acute, self-limited problems: how often they happen at each age, where
//! they are seen, how long they last and how they are treated.

use crate::data::clinical::{self as c, Drug, Dx};
use crate::model::Care;
use crate::registry::Dept;
use crate::rng::Rng;

/// Acute, self-limited problems.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Acute {
    Urti,
    Influenza,
    Covid,
    Gastroenteritis,
    Uti,
    Bronchitis,
    Sinusitis,
    LowBackPain,
    AnkleSprain,
    Pneumonia,
    HipFracture,
}

const ACUTE: [Acute; 11] = [
    Acute::Urti,
    Acute::Influenza,
    Acute::Covid,
    Acute::Gastroenteritis,
    Acute::Uti,
    Acute::Bronchitis,
    Acute::Sinusitis,
    Acute::LowBackPain,
    Acute::AnkleSprain,
    Acute::Pneumonia,
    Acute::HipFracture,
];

impl Acute {
    pub(crate) fn dx(self) -> &'static Dx {
        match self {
            Acute::Urti => &c::URTI,
            Acute::Influenza => &c::INFLUENZA,
            Acute::Covid => &c::COVID19,
            Acute::Gastroenteritis => &c::GASTROENTERITIS,
            Acute::Uti => &c::UTI,
            Acute::Bronchitis => &c::BRONCHITIS,
            Acute::Sinusitis => &c::SINUSITIS,
            Acute::LowBackPain => &c::LOW_BACK_PAIN,
            Acute::AnkleSprain => &c::ANKLE_SPRAIN,
            Acute::Pneumonia => &c::PNEUMONIA,
            Acute::HipFracture => &c::HIP_FRACTURE,
        }
    }

    /// Relative frequency by age and sex.
    fn weight(self, age: i32, female: bool) -> u32 {
        let child = age < 15;
        let old = age >= 65;
        match self {
            Acute::Urti => {
                if child {
                    50
                } else {
                    30
                }
            }
            Acute::Influenza => 12,
            Acute::Covid => 6,
            Acute::Gastroenteritis => {
                if child {
                    18
                } else {
                    8
                }
            }
            Acute::Uti => {
                if female {
                    8 + 6 * u32::from(old)
                } else {
                    2 * u32::from(old)
                }
            }
            Acute::Bronchitis => {
                if child {
                    10
                } else {
                    6
                }
            }
            Acute::Sinusitis => {
                if child {
                    3
                } else {
                    5
                }
            }
            Acute::LowBackPain => {
                if child {
                    0
                } else {
                    10
                }
            }
            Acute::AnkleSprain => {
                if (10..50).contains(&age) {
                    5
                } else {
                    1
                }
            }
            Acute::Pneumonia => {
                if age >= 75 {
                    10
                } else if old || age < 6 {
                    3
                } else {
                    1
                }
            }
            Acute::HipFracture => {
                if age >= 75 {
                    3 + 3 * u32::from(female)
                } else {
                    0
                }
            }
        }
    }

    /// Whether the episode is seasonal (winter infections).
    pub(crate) fn winter(self) -> bool {
        matches!(
            self,
            Acute::Influenza | Acute::Urti | Acute::Bronchitis | Acute::Gastroenteritis
        )
    }

    pub(crate) fn care(self, age: i32) -> Care {
        match self {
            Acute::Pneumonia if age >= 65 => Care::Hospital(Dept::Internal),
            Acute::HipFracture => Care::Hospital(Dept::Orthopedics),
            Acute::LowBackPain | Acute::AnkleSprain => Care::Orthopedics,
            Acute::Sinusitis if age >= 15 => Care::Otolaryngology,
            _ => Care::Primary,
        }
    }

    /// Days until resolution.
    pub(crate) fn duration(self, rng: &mut Rng) -> i32 {
        let (lo, hi) = match self {
            Acute::Urti | Acute::Gastroenteritis => (3, 10),
            Acute::Influenza | Acute::Covid => (5, 10),
            Acute::Uti => (5, 14),
            Acute::Bronchitis | Acute::Sinusitis => (7, 21),
            Acute::LowBackPain | Acute::AnkleSprain => (14, 42),
            Acute::Pneumonia => (10, 28),
            Acute::HipFracture => (60, 120),
        };
        rng.int(lo, hi) as i32
    }

    pub(crate) fn febrile(self) -> bool {
        matches!(
            self,
            Acute::Urti
                | Acute::Influenza
                | Acute::Covid
                | Acute::Uti
                | Acute::Bronchitis
                | Acute::Pneumonia
        )
    }

    /// Adult drugs (children get weight-based powders, chosen by the caller).
    pub(crate) fn drugs(self, avoid_nsaid: bool, avoid_cephem: bool) -> Vec<&'static Drug> {
        let pain = if avoid_nsaid {
            &c::ACETAMINOPHEN
        } else {
            &c::LOXOPROFEN
        };
        let antibiotic = if avoid_cephem {
            &c::LEVOFLOXACIN
        } else {
            &c::CEFCAPENE
        };
        match self {
            Acute::Urti => vec![&c::ACETAMINOPHEN, &c::CARBOCISTEINE],
            Acute::Influenza => vec![&c::OSELTAMIVIR, &c::ACETAMINOPHEN],
            Acute::Covid => vec![&c::ACETAMINOPHEN],
            Acute::Gastroenteritis => vec![&c::DOMPERIDONE],
            Acute::Uti => vec![antibiotic],
            Acute::Bronchitis => vec![&c::CARBOCISTEINE],
            Acute::Sinusitis => vec![antibiotic, &c::CARBOCISTEINE],
            Acute::LowBackPain => vec![pain, &c::REBAMIPIDE],
            Acute::AnkleSprain => {
                if avoid_nsaid {
                    vec![&c::ACETAMINOPHEN]
                } else {
                    vec![&c::LOXOPROFEN_TAPE]
                }
            }
            Acute::Pneumonia => vec![&c::LEVOFLOXACIN],
            Acute::HipFracture => vec![&c::ACETAMINOPHEN],
        }
    }

    /// Paediatric (weight-based) drugs.
    pub(crate) fn child_drugs(self, avoid_penicillin: bool) -> Vec<&'static Drug> {
        let antibiotic = if avoid_penicillin {
            &c::CLARITHROMYCIN_SYRUP
        } else {
            &c::AMOXICILLIN_GRANULE
        };
        match self {
            Acute::Urti | Acute::Bronchitis => {
                vec![&c::ACETAMINOPHEN_GRANULE, &c::CARBOCISTEINE_SYRUP]
            }
            Acute::Sinusitis => vec![antibiotic, &c::CARBOCISTEINE_SYRUP],
            Acute::Influenza => vec![&c::OSELTAMIVIR_SYRUP, &c::ACETAMINOPHEN_GRANULE],
            Acute::Pneumonia | Acute::Uti => vec![antibiotic, &c::ACETAMINOPHEN_GRANULE],
            Acute::Covid => vec![&c::ACETAMINOPHEN_GRANULE],
            _ => vec![],
        }
    }
}

/// Mean number of acute episodes per year at a given age.
pub(crate) fn acute_rate(age: i32) -> f64 {
    match age {
        0..=5 => 3.0,
        6..=14 => 1.6,
        15..=64 => 0.5,
        65..=74 => 0.7,
        _ => 0.9,
    }
}

pub(crate) fn acute_kind(rng: &mut Rng, age: i32, female: bool) -> Acute {
    let weights: Vec<u32> = ACUTE.iter().map(|a| a.weight(age, female)).collect();
    ACUTE[rng.weighted(&weights)]
}
