//! Open mHealth data points (the body of a data point: `body_weight`, `step_count`,
//! `systolic_blood_pressure` and `diastolic_blood_pressure`, `heart_rate`, `body_temperature`,
//! `oxygen_saturation`, and a physical activity's `kcal_burned`, each with its
//! `effective_time_frame`) as samples. A blood-pressure data point is two samples. A data
//! point that is a descriptive statistic (a minimum, maximum or average over an interval) is
//! not a measurement: it is [`Reason::NotKept`], as are kinds Kizuna does not keep (a physical
//! activity without the energy it burned). [`data_point`] first checks a data point against
//! its Open mHealth schema ([`schema`]).

pub mod schema;

use crate::{Measure, Reason, Sample, check, instant, to_unit};
use serde_json::Value;

/// The samples of one data point, `{header, body}` or a bare body, after checking it against
/// the schema its header names (else the one its body's fields say): the source is `source`,
/// followed by the header's `acquisition_provenance.source_name` when there is one.
pub fn data_point(
    point: &Value,
    source: &str,
    now: jiff::Timestamp,
) -> Result<Vec<Sample>, Reason> {
    let (header, body) = match (point.get("header"), point.get("body")) {
        (Some(h), Some(b)) => (Some(h), b),
        _ => (None, point),
    };
    if !body.is_object() {
        return Err(Reason::Malformed(
            "a data point's body is a JSON object".into(),
        ));
    }
    let Some((name, version)) = schema::kind_of(header, body)? else {
        // Nothing says which schema: a measurement without the field that marks its kind is
        // refused rather than read unchecked.
        return Err(
            match FIELDS.iter().find(|(_, f, _)| body.get(*f).is_some()) {
                Some((kind, field, _)) => Reason::Invalid(format!(
                    "a data point with {field} but not the field that marks a {kind} data point; name its schema in header.schema_id"
                )),
                None => Reason::NotKept("a kind of data point Kizuna does not keep".into()),
            },
        );
    };
    schema::check(name, version, body)?;
    // One kind of measurement a data point: another kind's field would go unchecked.
    if let Some((_, field, _)) = FIELDS
        .iter()
        .find(|(kind, f, _)| *kind != name && body.get(*f).is_some())
    {
        return Err(Reason::Invalid(format!(
            "a {name} data point also holds {field}; send each kind of measurement as its own data point"
        )));
    }
    let named = header
        .and_then(|h| h.pointer("/acquisition_provenance/source_name"))
        .and_then(Value::as_str);
    let src = named.map_or_else(|| source.to_string(), |n| format!("{source}:{n}"));
    samples(name, body, &src, now)
}

/// The fields of a data point that are measurements, by the schema (kind) they belong to.
const FIELDS: &[(&str, &str, Measure)] = &[
    ("body-weight", "body_weight", Measure::BodyWeight),
    ("step-count", "step_count", Measure::Steps),
    (
        "blood-pressure",
        "systolic_blood_pressure",
        Measure::SystolicBloodPressure,
    ),
    (
        "blood-pressure",
        "diastolic_blood_pressure",
        Measure::DiastolicBloodPressure,
    ),
    ("heart-rate", "heart_rate", Measure::HeartRate),
    (
        "body-temperature",
        "body_temperature",
        Measure::BodyTemperature,
    ),
    (
        "oxygen-saturation",
        "oxygen_saturation",
        Measure::OxygenSaturation,
    ),
    // A physical activity: the energy it burned.
    ("physical-activity", "kcal_burned", Measure::ActiveEnergy),
];

/// The samples of data point `body` of schema `kind` (already checked against it), from
/// `source`, checked against `now`.
fn samples(
    kind: &str,
    body: &Value,
    source: &str,
    now: jiff::Timestamp,
) -> Result<Vec<Sample>, Reason> {
    if body.get("descriptive_statistic").is_some() {
        return Err(Reason::NotKept(
            "a descriptive statistic over an interval, not a measurement".into(),
        ));
    }
    let (start, end, offset) = time_frame(body.get("effective_time_frame"))?;
    let mut out = Vec::new();
    for (_, field, measure) in FIELDS.iter().filter(|(k, _, _)| *k == kind) {
        let Some(v) = body.get(*field) else { continue };
        let raw = match v.get("value") {
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(Reason::Malformed(format!("{field}.value is not a number"))),
        };
        let unit = v.get("unit").and_then(Value::as_str).unwrap_or("");
        let value = to_unit(&raw, unit, *measure)
            .ok_or_else(|| Reason::UnknownUnit(format!("'{unit}' for {}", measure.name())))?;
        let s = Sample {
            measure: *measure,
            start,
            end,
            offset_seconds: offset,
            value,
            source: source.to_string(),
        };
        check(&s, now)?;
        out.push(s);
    }
    if out.is_empty() {
        return Err(Reason::NotKept(
            "a physical activity without kcal_burned (of an activity, Kizuna keeps the energy it burned)".into(),
        ));
    }
    Ok(out)
}

/// `{date_time}` or `{time_interval: {start_date_time, end_date_time | duration}}`.
fn time_frame(
    frame: Option<&Value>,
) -> Result<(jiff::Timestamp, Option<jiff::Timestamp>, i32), Reason> {
    let frame = frame.ok_or_else(|| Reason::Malformed("no effective_time_frame".into()))?;
    if let Some(t) = frame.get("date_time").and_then(Value::as_str) {
        let (ts, off) = instant(t)?;
        return Ok((ts, None, off));
    }
    let Some(i) = frame.get("time_interval") else {
        return Err(Reason::Malformed(
            "effective_time_frame has neither date_time nor time_interval".into(),
        ));
    };
    let start = i.get("start_date_time").and_then(Value::as_str);
    let end = i.get("end_date_time").and_then(Value::as_str);
    let duration = i.get("duration").map(duration_seconds).transpose()?;
    match (start, end, duration) {
        (Some(s), Some(e), _) => {
            let (s, off) = instant(s)?;
            Ok((s, Some(instant(e)?.0), off))
        }
        (Some(s), None, Some(d)) => {
            let (s, off) = instant(s)?;
            Ok((s, Some(add(s, d)?), off))
        }
        (None, Some(e), Some(d)) => {
            let (e, off) = instant(e)?;
            Ok((add(e, -d)?, Some(e), off))
        }
        _ => Err(Reason::Malformed(
            "a time_interval needs a start and an end, or one of them and a duration (a date with part_of_day has no time zone)".into(),
        )),
    }
}

fn add(t: jiff::Timestamp, seconds: i64) -> Result<jiff::Timestamp, Reason> {
    t.checked_add(jiff::SignedDuration::from_secs(seconds))
        .map_err(|_| Reason::Malformed("the interval is out of range".into()))
}

fn duration_seconds(d: &Value) -> Result<i64, Reason> {
    let bad = || Reason::Malformed("duration is not a number with a unit of ps…wk".into());
    let n: f64 = match d.get("value") {
        Some(Value::Number(n)) => n.to_string().parse().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    let per = match d.get("unit").and_then(Value::as_str) {
        Some("sec") => 1.0,
        Some("min") => 60.0,
        Some("h") => 3600.0,
        Some("d") => 86_400.0,
        Some("wk") => 604_800.0,
        Some("ms") => 0.001,
        _ => return Err(bad()),
    };
    let secs = n * per;
    if !secs.is_finite() || secs.abs() > 1e11 {
        return Err(bad());
    }
    Ok(secs.round() as i64)
}
