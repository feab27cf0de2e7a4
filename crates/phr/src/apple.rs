//! Apple Health's `export.xml`, streamed (real exports run to gigabytes): every `Record` of a
//! kept measure becomes a sample; the readings inside a blood-pressure `Correlation` are the
//! same readings the export also gives on their own, so they are counted once (as
//! [`Reason::Duplicate`]); other record types, workouts and activity summaries are
//! [`Reason::NotKept`].

use crate::{Measure, Reason, Rejected, Sample, check, to_unit};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::io::BufRead;

/// What a whole file gave, for the caller's summary.
pub type Outcome = Result<Sample, Rejected>;

/// Reads an export from `input`, handing each sample (or why a record was not taken) to
/// `emit`; `now` bounds the times. An error only when the file is not XML at all past some
/// point (what came before was handed over).
pub fn read<R: BufRead>(
    input: R,
    now: jiff::Timestamp,
    mut emit: impl FnMut(Outcome),
) -> Result<(), String> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::with_capacity(4096);
    let mut record = 0usize;
    let mut in_correlation = 0usize;
    loop {
        buf.clear();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("the export is not well-formed XML after record {record}: {e}"))?;
        match event {
            // A Correlation's readings come as its children (an empty one has none).
            Event::Start(e) if AsRef::<str>::as_ref(&e.local_name()) == "Correlation" => {
                in_correlation += 1;
            }
            Event::End(e) if AsRef::<str>::as_ref(&e.local_name()) == "Correlation" => {
                in_correlation = in_correlation.saturating_sub(1);
            }
            Event::Start(e) | Event::Empty(e)
                if AsRef::<str>::as_ref(&e.local_name()) == "Record" =>
            {
                record += 1;
                let at = || format!("record {record}");
                if in_correlation > 0 {
                    emit(Err(Rejected {
                        at: at(),
                        reason: Reason::Duplicate,
                    }));
                    continue;
                }
                emit(sample(&e, now).map_err(|reason| Rejected { at: at(), reason }));
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The attributes of a `Record` Kizuna reads, in one pass over them.
#[derive(Default)]
struct Attrs {
    kind: Option<String>,
    source: Option<String>,
    unit: Option<String>,
    start: Option<String>,
    end: Option<String>,
    value: Option<String>,
}

/// Reads `e`'s attributes; stops early (with only `kind`) at a type Kizuna does not keep.
fn attrs(e: &BytesStart) -> Attrs {
    let mut out = Attrs::default();
    // Apple writes each attribute once; not checking for repeats halves the cost of a record.
    for a in e.attributes().with_checks(false).flatten() {
        let key: &str = a.key.as_ref();
        let slot = match key {
            "type" => &mut out.kind,
            "sourceName" => &mut out.source,
            "unit" => &mut out.unit,
            "startDate" => &mut out.start,
            "endDate" => &mut out.end,
            "value" => &mut out.value,
            _ => continue,
        };
        *slot = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .ok()
            .map(|v| v.into_owned());
        if key == "type" && out.kind.as_deref().and_then(measure_of).is_none() {
            break;
        }
    }
    out
}

fn measure_of(kind: &str) -> Option<Measure> {
    Some(match kind {
        "HKQuantityTypeIdentifierBodyMass" => Measure::BodyWeight,
        "HKQuantityTypeIdentifierStepCount" => Measure::Steps,
        "HKQuantityTypeIdentifierBloodPressureSystolic" => Measure::SystolicBloodPressure,
        "HKQuantityTypeIdentifierBloodPressureDiastolic" => Measure::DiastolicBloodPressure,
        "HKQuantityTypeIdentifierHeartRate" => Measure::HeartRate,
        "HKQuantityTypeIdentifierBodyTemperature" => Measure::BodyTemperature,
        "HKQuantityTypeIdentifierOxygenSaturation" => Measure::OxygenSaturation,
        "HKQuantityTypeIdentifierDietaryEnergyConsumed" => Measure::DietaryEnergy,
        "HKQuantityTypeIdentifierActiveEnergyBurned" => Measure::ActiveEnergy,
        _ => return None,
    })
}

fn sample(e: &BytesStart, now: jiff::Timestamp) -> Result<Sample, Reason> {
    let a = attrs(e);
    let kind = a
        .kind
        .ok_or_else(|| Reason::Malformed("a Record without type".into()))?;
    let Some(measure) = measure_of(&kind) else {
        return Err(Reason::NotKept(kind));
    };
    let field = |v: Option<String>, n: &str| v.ok_or_else(|| Reason::Malformed(format!("no {n}")));
    let start_text = field(a.start, "startDate")?;
    let end_text = field(a.end, "endDate")?;
    let (start, offset) = date(&start_text)?;
    let end = if end_text == start_text {
        start
    } else {
        date(&end_text)?.0
    };
    let unit = a.unit.unwrap_or_default();
    let raw = field(a.value, "value")?;
    let mut value = to_unit(&raw, &unit, measure).ok_or_else(|| {
        if raw.trim().parse::<f64>().is_err() {
            Reason::Malformed(format!("value '{raw}' is not a number"))
        } else {
            Reason::UnknownUnit(format!("'{unit}' for {}", measure.name()))
        }
    })?;
    // HealthKit writes oxygen saturation as a fraction with unit "%".
    if measure == Measure::OxygenSaturation && value <= 1.0 {
        value *= 100.0;
    }
    let s = Sample {
        measure,
        start,
        end: (end != start).then_some(end),
        offset_seconds: offset,
        value,
        source: format!("apple:{}", a.source.unwrap_or_default()),
    };
    check(&s, now)?;
    Ok(s)
}

/// `2014-09-13 10:27:54 +0100`: the instant and its offset in seconds.
pub fn date(text: &str) -> Result<(jiff::Timestamp, i32), Reason> {
    let bad = || {
        Reason::Malformed(format!(
            "'{text}' is not a date like 2014-09-13 10:27:54 +0100"
        ))
    };
    let tm = jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S %z", text.trim()).map_err(|_| bad())?;
    let offset = tm.offset().ok_or_else(bad)?;
    let ts = tm.to_timestamp().map_err(|_| bad())?;
    Ok((ts, offset.seconds()))
}
