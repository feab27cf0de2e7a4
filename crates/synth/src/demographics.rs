//! People and places: names, addresses, telephone numbers, the age pyramid.

use serde_json::Value;

use crate::data::names::{FAMILY, GIVEN_FEMALE, GIVEN_MALE, era};
use crate::data::places::{City, PREFECTURES, Prefecture};
use crate::fhir::{arr, human_name, katakana, obj};
use crate::rng::Rng;

/// A Japanese personal name with its katakana reading.
pub(crate) struct PersonName {
    pub family: &'static str,
    pub given: &'static str,
    pub family_kana: String,
    pub given_kana: String,
}

impl PersonName {
    pub(crate) fn random(rng: &mut Rng, female: bool, birth_year: i32) -> PersonName {
        let f = rng.pick_by(FAMILY, |n| n.2);
        let table = if female { &GIVEN_FEMALE } else { &GIVEN_MALE };
        let g = rng.pick_by(table[era(birth_year)], |n| n.2);
        PersonName {
            family: f.0,
            given: g.0,
            family_kana: katakana(f.1),
            given_kana: katakana(g.1),
        }
    }

    /// The two HumanNames of JP Core: kanji (`IDE`) then katakana (`SYL`).
    pub(crate) fn fhir(&self) -> Value {
        arr![
            human_name("IDE", self.family, self.given),
            human_name("SYL", &self.family_kana, &self.given_kana),
        ]
    }
}

/// A postal address in Japan.
pub(crate) struct Address {
    pub pref: usize,
    pub city: usize,
    pub postal: String,
    pub line: String,
}

impl Address {
    /// A random street address in the given municipality.
    pub(crate) fn random(rng: &mut Rng, pref: usize, city: usize) -> Address {
        let c = &PREFECTURES[pref].cities[city];
        let (town, postal3) = rng.pick(c.towns);
        // Urban postal codes mostly read NNN-00NN.
        let tail = if rng.chance(0.8) {
            rng.below(100)
        } else {
            rng.below(1000)
        };
        let postal = format!("{postal3}-{tail:04}");
        let line = format!(
            "{town}{}-{}-{}",
            rng.int(1, 5),
            rng.int(1, 30),
            rng.int(1, 25)
        );
        Address {
            pref,
            city,
            postal,
            line,
        }
    }

    pub(crate) fn prefecture(&self) -> &'static Prefecture {
        &PREFECTURES[self.pref]
    }

    pub(crate) fn municipality(&self) -> &'static City {
        &PREFECTURES[self.pref].cities[self.city]
    }

    pub(crate) fn fhir(&self, use_: &str, kind: &str) -> Value {
        let state = self.prefecture().name;
        let city = self.municipality().name;
        obj! {
            "use": use_,
            "type": kind,
            "text": format!("〒{} {state}{city}{}", self.postal, self.line),
            "line": arr![self.line.as_str()],
            "city": city,
            "state": state,
            "postalCode": self.postal.as_str(),
            "country": "JP",
        }
    }
}

/// A fixed-line number in the municipality's area code: `03-1234-5678`,
/// `011-123-4567`, `0166-12-3456` (10 digits in all; local exchange numbers
/// never start with 0 or 1).
pub(crate) fn landline(rng: &mut Rng, area: &str) -> String {
    let exchange_len = 10 - area.len() - 4;
    let mut exchange = String::with_capacity(exchange_len);
    exchange.push(char::from(b'2' + rng.below(8) as u8));
    for _ in 1..exchange_len {
        exchange.push(char::from(b'0' + rng.below(10) as u8));
    }
    format!("{area}-{exchange}-{:04}", rng.below(10_000))
}

/// A mobile number: `090-1234-5678` (also 080, 070).
pub(crate) fn mobile(rng: &mut Rng) -> String {
    let prefix = ["090", "080", "070"][rng.weighted(&[5, 4, 1])];
    format!(
        "{prefix}-{}{:03}-{:04}",
        1 + rng.below(9),
        rng.below(1000),
        rng.below(10_000)
    )
}

/// Population of Japan by 5-year age band (0–4, 5–9, ..., 95–99, 100+), in
/// 100,000s, approximately as of the mid-2020s: a top-heavy pyramid.
const AGE_BANDS: [u32; 21] = [
    40, 47, 52, 54, 61, 63, 63, 70, 76, 89, 96, 83, 74, 74, 90, 74, 58, 39, 20, 6, 1,
];

/// Female share per age band, in percent (women live longer).
const FEMALE_PERCENT: [u32; 21] = [
    49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 50, 50, 50, 51, 52, 55, 58, 63, 70, 80, 88,
];

/// Age in years and sex (true = female), drawn from the Japanese pyramid.
pub(crate) fn age_and_sex(rng: &mut Rng) -> (i32, bool) {
    let band = rng.weighted(&AGE_BANDS);
    let age = if band == 20 {
        100 + rng.below(5) as i32
    } else {
        band as i32 * 5 + rng.below(5) as i32
    };
    let female = rng.below(100) < u64::from(FEMALE_PERCENT[band]);
    (age, female)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::DOMAIN_PATIENT;

    #[test]
    fn phone_formats() {
        let mut rng = Rng::new(3, DOMAIN_PATIENT, 0);
        for area in ["03", "011", "0166", "04"] {
            let n = landline(&mut rng, area);
            let digits: String = n.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(digits.len(), 10, "{n}");
            assert!(n.starts_with(area));
            let parts: Vec<&str> = n.split('-').collect();
            assert_eq!(parts.len(), 3);
            assert!(!parts[1].starts_with(['0', '1']));
        }
        let m = mobile(&mut rng);
        assert_eq!(m.len(), 13, "{m}");
    }

    #[test]
    fn pyramid_is_old_and_female_leaning() {
        let mut rng = Rng::new(5, DOMAIN_PATIENT, 1);
        let (mut old, mut female, n) = (0, 0, 20_000);
        for _ in 0..n {
            let (age, f) = age_and_sex(&mut rng);
            assert!((0..=104).contains(&age));
            old += i32::from(age >= 65);
            female += i32::from(f);
        }
        let old_share = f64::from(old) / f64::from(n);
        let female_share = f64::from(female) / f64::from(n);
        assert!((0.26..0.33).contains(&old_share), "65+ share {old_share}");
        assert!(
            (0.49..0.54).contains(&female_share),
            "female share {female_share}"
        );
    }
}
