//! The measures Kizuna keeps, with their LOINC codes, canonical UCUM units and plausible
//! ranges, and the conversion of the units devices write into them (exact, through
//! `kizuna_search::ucum`).

use kizuna_search::decimal::Decimal;
use kizuna_search::ucum;

/// What a sample measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    BodyWeight,
    /// Steps over an interval (a day for daily totals).
    Steps,
    SystolicBloodPressure,
    DiastolicBloodPressure,
    HeartRate,
    BodyTemperature,
    OxygenSaturation,
    /// Food energy taken in (a meal, or a day's total): how diet records are kept.
    DietaryEnergy,
    /// Energy burned in physical activity (LOINC 41981-2, kcal): Apple's active energy, an Open
    /// mHealth physical activity's `kcal_burned`.
    ActiveEnergy,
}

impl Measure {
    /// Its LOINC code.
    pub fn loinc(self) -> &'static str {
        match self {
            Measure::BodyWeight => "29463-7",
            Measure::Steps => "41950-7",
            Measure::SystolicBloodPressure => "8480-6",
            Measure::DiastolicBloodPressure => "8462-4",
            Measure::HeartRate => "8867-4",
            Measure::BodyTemperature => "8310-5",
            Measure::OxygenSaturation => "59408-5",
            Measure::DietaryEnergy => "9052-2",
            Measure::ActiveEnergy => "41981-2",
        }
    }

    /// Its English name.
    pub fn name(self) -> &'static str {
        match self {
            Measure::BodyWeight => "body weight",
            Measure::Steps => "steps",
            Measure::SystolicBloodPressure => "systolic blood pressure",
            Measure::DiastolicBloodPressure => "diastolic blood pressure",
            Measure::HeartRate => "heart rate",
            Measure::BodyTemperature => "body temperature",
            Measure::OxygenSaturation => "oxygen saturation",
            Measure::DietaryEnergy => "energy intake",
            Measure::ActiveEnergy => "energy burned in activity",
        }
    }

    /// The UCUM unit its values are kept in.
    pub fn unit(self) -> &'static str {
        match self {
            Measure::BodyWeight => "kg",
            Measure::Steps => "{steps}",
            Measure::SystolicBloodPressure | Measure::DiastolicBloodPressure => "mm[Hg]",
            Measure::HeartRate => "/min",
            Measure::BodyTemperature => "Cel",
            Measure::OxygenSaturation => "%",
            Measure::DietaryEnergy | Measure::ActiveEnergy => "kcal",
        }
    }

    /// The values a living person can have, in [`Measure::unit`] (wide: a flag, not a
    /// diagnosis).
    pub fn plausible(self) -> (f64, f64) {
        match self {
            Measure::BodyWeight => (0.2, 650.0),
            Measure::Steps => (0.0, 200_000.0),
            Measure::SystolicBloodPressure => (30.0, 300.0),
            Measure::DiastolicBloodPressure => (10.0, 250.0),
            Measure::HeartRate => (10.0, 350.0),
            Measure::BodyTemperature => (25.0, 46.0),
            Measure::OxygenSaturation => (30.0, 100.0),
            Measure::DietaryEnergy | Measure::ActiveEnergy => (0.0, 20_000.0),
        }
    }

    /// Every measure.
    pub const ALL: [Measure; 9] = [
        Measure::BodyWeight,
        Measure::Steps,
        Measure::SystolicBloodPressure,
        Measure::DiastolicBloodPressure,
        Measure::HeartRate,
        Measure::BodyTemperature,
        Measure::OxygenSaturation,
        Measure::DietaryEnergy,
        Measure::ActiveEnergy,
    ];

    /// The measure of LOINC code `code`.
    pub fn from_loinc(code: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.loinc() == code)
    }

    /// Its Japanese name.
    pub fn name_ja(self) -> &'static str {
        match self {
            Measure::BodyWeight => "体重",
            Measure::Steps => "歩数",
            Measure::SystolicBloodPressure => "収縮期血圧",
            Measure::DiastolicBloodPressure => "拡張期血圧",
            Measure::HeartRate => "心拍数",
            Measure::BodyTemperature => "体温",
            Measure::OxygenSaturation => "酸素飽和度",
            Measure::DietaryEnergy => "摂取エネルギー",
            Measure::ActiveEnergy => "活動消費エネルギー",
        }
    }

    /// Whether its values add up over time (steps, energy taken in): a day's figure is their
    /// sum; otherwise it is their mean (with the lowest and highest).
    pub fn cumulative(self) -> bool {
        matches!(
            self,
            Measure::Steps | Measure::DietaryEnergy | Measure::ActiveEnergy
        )
    }

    /// The code of its Observation category (`observation-category`): vital signs, physical
    /// activity, or, for energy intake, what the patient reports (`survey`).
    pub fn category(self) -> &'static str {
        match self {
            Measure::Steps | Measure::ActiveEnergy => "activity",
            Measure::DietaryEnergy => "survey",
            _ => "vital-signs",
        }
    }
}

/// `value` written in `unit` (as devices write it: UCUM, or `lb`, `F`, `C`, `count`,
/// `count/min`, `beats/min`, `mmHg`, `%`) as a number in `measure`'s unit; None for a unit
/// Kizuna does not know for that measure.
pub fn to_unit(value: &str, unit: &str, measure: Measure) -> Option<f64> {
    let value = Decimal::parse(value.trim()).ok()?;
    let unit = match unit.trim() {
        "lb" | "lbs" | "[lb_av]" => "[lb_av]",
        "F" | "degF" | "°F" | "[degF]" => "[degF]",
        "C" | "degC" | "°C" | "Cel" => "Cel",
        "mmHg" | "mm[Hg]" => "mm[Hg]",
        "count" | "{steps}" | "steps" | "{count}" => "{steps}",
        "count/min" | "beats/min" | "bpm" | "/min" | "{beats}/min" => "/min",
        "%" => "%",
        "kg" => "kg",
        "g" => "g",
        "st" | "[stone_av]" => "[stone_av]",
        "kcal" | "Cal" | "[Cal]" => "kcal",
        "kJ" => "kJ",
        _ => return None,
    };
    let target = measure.unit();
    let converted = if unit == target {
        value
    } else if target == "Cel" {
        // Temperatures have offsets: to kelvin, then from kelvin.
        let kelvin = ucum::canonical(&value, unit)?;
        if kelvin.unit != "K" {
            return None;
        }
        kelvin.value.checked_add(&Decimal::parse("-273.15").ok()?)?
    } else {
        let from = ucum::canonical(&value, unit)?;
        let one = ucum::canonical(&Decimal::parse("1").ok()?, target)?;
        if from.unit != one.unit {
            return None;
        }
        from.value.checked_div(&one.value)?
    };
    converted.to_string().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_units_convert_exactly_into_the_measure_unit() {
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(to_unit("150", "lb", Measure::BodyWeight), 68.0388555));
        assert!(close(to_unit("98.6", "F", Measure::BodyTemperature), 37.0));
        assert!(close(to_unit("36.5", "C", Measure::BodyTemperature), 36.5));
        assert!(close(to_unit("72000", "g", Measure::BodyWeight), 72.0));
        assert!(close(
            to_unit("120", "mmHg", Measure::SystolicBloodPressure),
            120.0
        ));
        assert!(close(to_unit("62", "count/min", Measure::HeartRate), 62.0));
        assert_eq!(
            to_unit("120", "km", Measure::BodyWeight),
            None,
            "not a mass"
        );
        assert_eq!(
            to_unit("37", "K", Measure::BodyTemperature),
            None,
            "unknown here"
        );
        assert_eq!(to_unit("x", "kg", Measure::BodyWeight), None);
    }
}
