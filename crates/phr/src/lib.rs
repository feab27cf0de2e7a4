//! `kizuna-phr`: personal health records, as pure functions.
//!
//! Owns what a sample from a patient's own devices and apps is ([`Sample`]: a [`Measure`] with
//! its LOINC code and canonical UCUM unit, a time or interval with the offset it was taken
//! at, a value, a source), the conversion of the units people's devices write (lb, °F,
//! `count/min` …) to the measure's unit, the checks of plausibility (no negative steps, no
//! 2,000 kg weight, nothing from the future), and the readers of the formats patients bring:
//! Apple Health's `export.xml` ([`apple`], streamed), Fitbit's CSV exports ([`fitbit`]) and
//! Open mHealth data points ([`omh`], each checked against its vendored Open mHealth schema).
//! Each reader yields every sample it can, and for everything else a [`Rejected`] saying
//! where and why, so one bad line never stops a file.
//!
//! Must never: store, read the clock (callers pass `now`), know HTTP, or log values.

pub mod apple;
pub mod chart;
pub mod fhir;
pub mod fitbit;
pub mod import;
mod measure;
pub mod omh;
pub mod trend;

pub use measure::{Measure, to_unit};

/// One measurement a patient's device or app took.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub measure: Measure,
    /// When it was taken (or when its interval started).
    pub start: jiff::Timestamp,
    /// When its interval ended (steps over a day, …); None for an instant.
    pub end: Option<jiff::Timestamp>,
    /// The UTC offset it was taken at, in seconds (kept, so it is shown as the device saw it).
    pub offset_seconds: i32,
    /// In the measure's unit ([`Measure::unit`]).
    pub value: f64,
    /// Where it came from (`apple:Health`, `fitbit:1503960366` …): with the measure and times,
    /// what makes a sample sent twice the same sample.
    pub source: String,
}

/// Why something read was not taken as a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Not readable as the format says (a broken line, a missing field, a bad date).
    Malformed(String),
    /// Readable, but not valid against the schema its format publishes (an Open mHealth data
    /// point against its Open mHealth schema): where, and which rule.
    Invalid(String),
    /// A unit Kizuna does not know for this measure.
    UnknownUnit(String),
    /// A value no body has (negative steps, a weight of 2,000 kg …).
    Impossible(String),
    /// Taken after `now`.
    Future,
    /// A kind of record Kizuna does not keep (distance walked, workouts …).
    NotKept(String),
    /// Already counted (a blood-pressure correlation's readings, also given on their own).
    Duplicate,
}

impl Reason {
    /// A short name for summaries: how many of each.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Malformed(_) => "malformed",
            Reason::Invalid(_) => "invalid against its schema",
            Reason::UnknownUnit(_) => "unknown unit",
            Reason::Impossible(_) => "impossible value",
            Reason::Future => "in the future",
            Reason::NotKept(_) => "not kept",
            Reason::Duplicate => "duplicate",
        }
    }

    /// What exactly was wrong, for people.
    pub fn detail(&self) -> String {
        match self {
            Reason::Malformed(s)
            | Reason::Invalid(s)
            | Reason::UnknownUnit(s)
            | Reason::Impossible(s)
            | Reason::NotKept(s) => s.clone(),
            Reason::Future => "taken after now".into(),
            Reason::Duplicate => {
                "already counted (a reading repeated inside a blood-pressure correlation)".into()
            }
        }
    }
}

/// Something not taken, where it was, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// `line 12`, `record 3` …
    pub at: String,
    pub reason: Reason,
}

/// Checks a sample's value and time: impossible values and future times are rejected.
pub fn check(sample: &Sample, now: jiff::Timestamp) -> Result<(), Reason> {
    let (lo, hi) = sample.measure.plausible();
    if !sample.value.is_finite() || sample.value < lo || sample.value > hi {
        return Err(Reason::Impossible(format!(
            "{} {} is outside {lo}–{hi} {}",
            sample.measure.name(),
            sample.value,
            sample.measure.unit()
        )));
    }
    if sample.start > now || sample.end.is_some_and(|e| e > now) {
        return Err(Reason::Future);
    }
    if sample.end.is_some_and(|e| e < sample.start) {
        return Err(Reason::Malformed(
            "the interval ends before it starts".into(),
        ));
    }
    Ok(())
}

/// An RFC 3339 date-time with the offset it was written at, in seconds (`Z` is 0).
pub(crate) fn instant(text: &str) -> Result<(jiff::Timestamp, i32), Reason> {
    use jiff::fmt::temporal::{Pieces, PiecesOffset};
    let bad = || {
        Reason::Malformed(format!(
            "'{text}' is not a date-time with an offset, like 2020-02-05T07:25:00-08:00"
        ))
    };
    let ts: jiff::Timestamp = text.parse().map_err(|_| bad())?;
    let offset = match Pieces::parse(text).map_err(|_| bad())?.offset() {
        Some(PiecesOffset::Numeric(n)) => n.offset().seconds(),
        Some(_) => 0,
        None => return Err(bad()),
    };
    Ok((ts, offset))
}
