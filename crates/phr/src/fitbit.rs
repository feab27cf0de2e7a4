//! Fitbit's CSV exports, known by their header: daily activity (`dailyActivity_merged.csv`:
//! `TotalSteps` per `ActivityDate`, a day's steps) and the weight log
//! (`weightLogInfo_merged.csv`: `WeightKg` at `Date`). Their dates are month/day/year, with or
//! without zero padding, with or without a 24-hour or AM/PM time; they carry no time zone, so
//! the caller says which one the wearer lived in. Sleep logs are [`Reason::NotKept`].

use crate::{Measure, Reason, Rejected, Sample, check, to_unit};
use std::io::Read;

/// What one row gave.
pub type Outcome = Result<Sample, Rejected>;

/// The kinds of Fitbit export this reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    DailyActivity,
    WeightLog,
    Sleep,
}

/// Reads a Fitbit CSV export from `input`, handing each row's sample (or why it was not
/// taken) to `emit`; dates are in `zone`, times bounded by `now`. An error when the file is
/// not a Fitbit export this knows (by its header) or not CSV at all.
pub fn read<R: Read>(
    input: R,
    zone: &jiff::tz::TimeZone,
    now: jiff::Timestamp,
    mut emit: impl FnMut(Outcome),
) -> Result<Export, String> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header = csv
        .headers()
        .map_err(|e| format!("not a CSV file: {e}"))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let export = if col("ActivityDate").is_some() && col("TotalSteps").is_some() {
        Export::DailyActivity
    } else if col("WeightKg").is_some() && col("Date").is_some() {
        Export::WeightLog
    } else if col("SleepDay").is_some() {
        Export::Sleep
    } else {
        return Err(format!(
            "not a Fitbit export this reads (daily activity, weight log or sleep); its header is: {}",
            header.iter().collect::<Vec<_>>().join(",")
        ));
    };
    let id = col("Id");
    for (n, row) in csv.records().enumerate() {
        // Line 1 is the header.
        let at = format!("line {}", n + 2);
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                emit(Err(Rejected {
                    at,
                    reason: Reason::Malformed(e.to_string()),
                }));
                continue;
            }
        };
        let get = |c: Option<usize>| c.and_then(|i| row.get(i)).map(str::trim).unwrap_or("");
        let source = format!("fitbit:{}", get(id));
        let result = match export {
            Export::Sleep => Err(Reason::NotKept("sleep".into())),
            Export::DailyActivity => {
                day(get(col("ActivityDate")), zone).and_then(|(start, end)| {
                    let steps = get(col("TotalSteps"));
                    let value = to_unit(steps, "count", Measure::Steps).ok_or_else(|| {
                        Reason::Malformed(format!("TotalSteps '{steps}' is not a number"))
                    })?;
                    Ok(Sample {
                        measure: Measure::Steps,
                        start: start.timestamp(),
                        end: Some(end.timestamp()),
                        offset_seconds: start.offset().seconds(),
                        value,
                        source: source.clone(),
                    })
                })
            }
            Export::WeightLog => instant(get(col("Date")), zone).and_then(|at| {
                let kg = get(col("WeightKg"));
                let value = to_unit(kg, "kg", Measure::BodyWeight)
                    .ok_or_else(|| Reason::Malformed(format!("WeightKg '{kg}' is not a number")))?;
                Ok(Sample {
                    measure: Measure::BodyWeight,
                    start: at.timestamp(),
                    end: None,
                    offset_seconds: at.offset().seconds(),
                    value,
                    source: source.clone(),
                })
            }),
        };
        emit(
            result
                .and_then(|s| check(&s, now).map(|()| s))
                .map_err(|reason| Rejected { at, reason }),
        );
    }
    Ok(export)
}

/// `4/12/2016` or `04/12/2016`: the day, as midnight to midnight in `zone`.
fn day(text: &str, zone: &jiff::tz::TimeZone) -> Result<(jiff::Zoned, jiff::Zoned), Reason> {
    let d = civil_date(text.split_whitespace().next().unwrap_or(""), text)?;
    let start = d
        .to_zoned(zone.clone())
        .map_err(|_| Reason::Malformed(format!("'{text}' is out of range")))?;
    let end = start
        .tomorrow()
        .map_err(|_| Reason::Malformed(format!("'{text}' is out of range")))?;
    Ok((start, end))
}

/// `5/2/2016 11:59:59 PM`, `05/02/2016 23:59`, `04/11/2016 6:58`: that time in `zone`.
fn instant(text: &str, zone: &jiff::tz::TimeZone) -> Result<jiff::Zoned, Reason> {
    let bad = || Reason::Malformed(format!("'{text}' is not a date like 5/2/2016 11:59:59 PM"));
    let mut parts = text.split_whitespace();
    let date = civil_date(parts.next().unwrap_or(""), text)?;
    let time = parts.next().unwrap_or("0:00");
    let meridiem = parts.next();
    let mut hms = time.split(':').map(|p| p.parse::<i8>().map_err(|_| bad()));
    let mut h = hms.next().ok_or_else(bad)??;
    let m = hms.next().unwrap_or(Ok(0))?;
    let s = hms.next().unwrap_or(Ok(0))?;
    match meridiem {
        Some("AM") if h == 12 => h = 0,
        Some("PM") if h < 12 => h += 12,
        Some("AM" | "PM") | None => {}
        Some(_) => return Err(bad()),
    }
    let t = jiff::civil::Time::new(h, m, s, 0).map_err(|_| bad())?;
    date.to_datetime(t)
        .to_zoned(zone.clone())
        .map_err(|_| bad())
}

/// `M/D/YYYY`, with or without zero padding.
fn civil_date(part: &str, whole: &str) -> Result<jiff::civil::Date, Reason> {
    let bad = || Reason::Malformed(format!("'{whole}' is not a month/day/year date"));
    let mut it = part.split('/');
    let (Some(m), Some(d), Some(y), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let num = |s: &str| s.parse::<i16>().map_err(|_| bad());
    let (m, d, y) = (num(m)?, num(d)?, num(y)?);
    jiff::civil::Date::new(
        y,
        i8::try_from(m).map_err(|_| bad())?,
        i8::try_from(d).map_err(|_| bad())?,
    )
    .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fitbit_date_shape_reads() {
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        for (text, want) in [
            (
                "5/2/2016 11:59:59 PM",
                "2016-05-02T23:59:59+09:00[Asia/Tokyo]",
            ),
            ("05/02/2016 23:59", "2016-05-02T23:59:00+09:00[Asia/Tokyo]"),
            ("04/11/2016 6:58", "2016-04-11T06:58:00+09:00[Asia/Tokyo]"),
            (
                "4/13/2016 12:08:52 AM",
                "2016-04-13T00:08:52+09:00[Asia/Tokyo]",
            ),
            ("4/12/2016", "2016-04-12T00:00:00+09:00[Asia/Tokyo]"),
        ] {
            assert_eq!(instant(text, &tokyo).unwrap().to_string(), want, "{text}");
        }
        assert!(instant("2016-04-12", &tokyo).is_err());
        assert!(instant("13/40/2016", &tokyo).is_err());
        let (a, b) = day("4/12/2016", &tokyo).unwrap();
        assert_eq!(
            b.timestamp().as_second() - a.timestamp().as_second(),
            86_400
        );
    }
}
