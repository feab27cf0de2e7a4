//! FHIR Observations both ways: a patient's Observation (one measure, or the blood-pressure
//! panel 85354-9 with its systolic and diastolic components) as samples, and a stored sample
//! as the Observation it reads as.
//!
//! The sample's source is the Observation's `device.display`, else its device reference,
//! else `meta.source`, else the source the caller names: with the code and time, what makes
//! the same Observation sent twice one sample.

use crate::{Measure, Reason, Sample, check, instant, to_unit};
use serde_json::{Value, json};

/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// UCUM.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// The blood-pressure panel.
pub const BLOOD_PRESSURE_PANEL: &str = "85354-9";
/// The tag on Observations read from the personal-health-record store.
pub const PHR_TAG: (&str, &str) = ("urn:kizuna:phr", "device");

/// The LOINC codes of a CodeableConcept.
fn loinc_codes(concept: Option<&Value>) -> impl Iterator<Item = &str> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("system").and_then(Value::as_str) == Some(LOINC))
        .filter_map(|c| c.get("code").and_then(Value::as_str))
}

/// The samples of Observation `obs`, checked against `now`; `source` when the Observation
/// names none.
pub fn samples(obs: &Value, source: &str, now: jiff::Timestamp) -> Result<Vec<Sample>, Reason> {
    if obs.get("resourceType").and_then(Value::as_str) != Some("Observation") {
        return Err(Reason::Malformed("not an Observation".into()));
    }
    match obs.get("status").and_then(Value::as_str) {
        Some("final" | "amended" | "corrected" | "preliminary") => {}
        Some(other) => {
            return Err(Reason::NotKept(format!(
                "an Observation with status '{other}' is not a measurement"
            )));
        }
        None => return Err(Reason::Malformed("Observation.status is missing".into())),
    }
    let (start, end, offset) = effective(obs)?;
    let source = obs
        .pointer("/device/display")
        .or_else(|| obs.pointer("/device/reference"))
        .or_else(|| obs.pointer("/meta/source"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(source)
        .to_string();
    let codes: Vec<&str> = loinc_codes(obs.get("code")).collect();
    let mut parts: Vec<(Measure, &Value, String)> = Vec::new();
    if codes.contains(&BLOOD_PRESSURE_PANEL) {
        for (i, c) in obs
            .get("component")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let measure = loinc_codes(c.get("code")).find_map(Measure::from_loinc);
            if let Some(m) = measure.filter(|m| {
                matches!(
                    m,
                    Measure::SystolicBloodPressure | Measure::DiastolicBloodPressure
                )
            }) {
                parts.push((m, c, format!("Observation.component[{i}]")));
            }
        }
        if parts.len() != 2 || parts[0].0 == parts[1].0 {
            return Err(Reason::Malformed(
                "a blood-pressure panel needs one systolic (8480-6) and one diastolic (8462-4) component".into(),
            ));
        }
    } else {
        let Some(m) = codes.iter().find_map(|c| Measure::from_loinc(c)) else {
            return Err(Reason::NotKept(
                "an Observation of a code Kizuna does not keep as a personal health record (body weight 29463-7, steps 41950-7, blood pressure 85354-9, heart rate 8867-4, body temperature 8310-5, SpO2 59408-5, energy intake 9052-2, energy burned in activity 41981-2)".into(),
            ));
        };
        parts.push((m, obs, "Observation".into()));
    }
    let mut out = Vec::new();
    for (measure, holder, path) in parts {
        let q = holder
            .get("valueQuantity")
            .ok_or_else(|| Reason::Malformed(format!("{path}.valueQuantity is missing")))?;
        let value = match q.get("value") {
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(Reason::Malformed(format!(
                    "{path}.valueQuantity.value is not a number"
                )));
            }
        };
        let unit = q
            .get("code")
            .or_else(|| q.get("unit"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let value = to_unit(&value, unit, measure).ok_or_else(|| {
            Reason::UnknownUnit(format!(
                "'{unit}' at {path}.valueQuantity for {}",
                measure.name()
            ))
        })?;
        let s = Sample {
            measure,
            start,
            end,
            offset_seconds: offset,
            value,
            source: source.clone(),
        };
        check(&s, now)?;
        out.push(s);
    }
    Ok(out)
}

/// `effectiveDateTime`, `effectiveInstant` or `effectivePeriod` (a start, and an end if any). A
/// date without a time is that day from midnight, in Japan's time.
fn effective(obs: &Value) -> Result<(jiff::Timestamp, Option<jiff::Timestamp>, i32), Reason> {
    let at = |text: &str| -> Result<(jiff::Timestamp, i32), Reason> {
        if text.len() == 10 {
            let date: jiff::civil::Date = text
                .parse()
                .map_err(|_| Reason::Malformed(format!("'{text}' is not a date")))?;
            let ts = date
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
                .map_err(|_| Reason::Malformed(format!("'{text}' is out of range")))?
                .timestamp();
            return Ok((ts, 9 * 3600));
        }
        instant(text)
    };
    if let Some(t) = obs
        .get("effectiveDateTime")
        .or_else(|| obs.get("effectiveInstant"))
        .and_then(Value::as_str)
    {
        let (ts, off) = at(t)?;
        return Ok((ts, None, off));
    }
    if let Some(p) = obs.get("effectivePeriod") {
        let Some(start) = p.get("start").and_then(Value::as_str) else {
            return Err(Reason::Malformed(
                "Observation.effectivePeriod.start is missing".into(),
            ));
        };
        let (s, off) = at(start)?;
        let e = match p.get("end").and_then(Value::as_str) {
            Some(end) => Some(at(end)?.0),
            None => None,
        };
        return Ok((s, e, off));
    }
    Err(Reason::Malformed(
        "Observation.effective[x] is missing: a measurement needs its time".into(),
    ))
}

/// A time as the device saw it: at its offset.
pub fn at_offset(t: jiff::Timestamp, offset_seconds: i32) -> String {
    let offset = jiff::tz::Offset::from_seconds(offset_seconds).unwrap_or(jiff::tz::Offset::UTC);
    let z = t.to_zoned(jiff::tz::TimeZone::fixed(offset));
    if t.subsec_nanosecond() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
    }
}

/// A stored measurement, as its Observation reads.
#[derive(Debug, Clone)]
pub struct Stored<'a> {
    /// The id it reads as.
    pub id: String,
    pub patient: &'a str,
    pub sample: &'a Sample,
    /// The diastolic reading taken with a systolic one, read as one panel.
    pub diastolic: Option<f64>,
}

fn quantity(value: f64, measure: Measure) -> Value {
    let unit = measure.unit();
    let display = match unit {
        "{steps}" => "steps",
        "/min" => "beats/minute",
        "Cel" => "°C",
        "mm[Hg]" => "mmHg",
        other => other,
    };
    json!({"value": value, "unit": display, "system": UCUM, "code": unit})
}

fn concept(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": LOINC, "code": code, "display": display}], "text": display})
}

/// The Observation stored measurement `m` reads as.
pub fn observation(m: &Stored) -> Value {
    let s = m.sample;
    let category = s.measure.category();
    let mut obs = json!({
        "resourceType": "Observation",
        "id": m.id,
        "meta": {"tag": [{"system": PHR_TAG.0, "code": PHR_TAG.1,
            "display": "measured by the patient's own device or app"}]},
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": category}]}],
        "subject": {"reference": format!("Patient/{}", m.patient)},
        "device": {"display": s.source},
    });
    match s.end {
        Some(end) => {
            obs["effectivePeriod"] = json!({
                "start": at_offset(s.start, s.offset_seconds),
                "end": at_offset(end, s.offset_seconds)});
        }
        None => obs["effectiveDateTime"] = json!(at_offset(s.start, s.offset_seconds)),
    }
    match (s.measure, m.diastolic) {
        (Measure::SystolicBloodPressure, Some(d)) => {
            obs["code"] = concept(BLOOD_PRESSURE_PANEL, "Blood pressure panel");
            obs["component"] = json!([
                {"code": concept(s.measure.loinc(), "Systolic blood pressure"),
                 "valueQuantity": quantity(s.value, s.measure)},
                {"code": concept(Measure::DiastolicBloodPressure.loinc(), "Diastolic blood pressure"),
                 "valueQuantity": quantity(d, Measure::DiastolicBloodPressure)}
            ]);
        }
        (measure, _) => {
            let mut name = measure.name().to_string();
            if let Some(first) = name.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            obs["code"] = concept(measure.loinc(), &name);
            obs["valueQuantity"] = quantity(s.value, measure);
        }
    }
    obs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_blood_pressure_panel_is_two_samples_and_reads_back_as_one() {
        let obs = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
            "effectiveDateTime": "2025-05-01T07:30:00+09:00",
            "device": {"display": "Omron HEM-7600T"},
            "component": [
                {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                 "valueQuantity": {"value": 128, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                 "valueQuantity": {"value": 82, "code": "mm[Hg]"}}]});
        let got = samples(&obs, "app", now()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].measure, Measure::SystolicBloodPressure);
        assert_eq!((got[1].value, got[1].offset_seconds), (82.0, 9 * 3600));
        assert_eq!(got[0].source, "Omron HEM-7600T");
        let back = observation(&Stored {
            id: "x".into(),
            patient: "p",
            sample: &got[0],
            diastolic: Some(got[1].value),
        });
        assert_eq!(back["code"]["coding"][0]["code"], "85354-9");
        assert_eq!(back["effectiveDateTime"], "2025-05-01T07:30:00+09:00");
        assert_eq!(back["component"][1]["valueQuantity"]["value"], 82.0);
        // One component missing: refused with the reason.
        let mut half = obs.clone();
        half["component"].as_array_mut().unwrap().pop();
        assert!(matches!(
            samples(&half, "app", now()),
            Err(Reason::Malformed(_))
        ));
    }

    #[test]
    fn units_are_converted_and_bad_ones_named() {
        let obs = |value: Value, unit: &str| {
            json!({"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
                "effectiveDateTime": "2025-05-01",
                "valueQuantity": {"value": value, "unit": unit}})
        };
        let got = samples(&obs(json!(154.3), "[lb_av]"), "app", now()).unwrap();
        assert!((got[0].value - 69.989_302_691).abs() < 1e-6);
        assert_eq!(got[0].offset_seconds, 9 * 3600, "a date is a day in Japan");
        assert_eq!(
            samples(&obs(json!(70), "stone-ish"), "app", now())
                .unwrap_err()
                .kind(),
            "unknown unit"
        );
        assert_eq!(
            samples(&obs(json!(2000), "kg"), "app", now())
                .unwrap_err()
                .kind(),
            "impossible value"
        );
        let mut later = obs(json!(70), "kg");
        later["effectiveDateTime"] = json!("2027-01-01T00:00:00Z");
        assert_eq!(samples(&later, "app", now()).unwrap_err(), Reason::Future);
    }
}
