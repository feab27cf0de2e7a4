//! FHIR date, dateTime and instant values as periods of time (`_since`, `_at`).

use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::{Span, Timestamp, ToSpan};
use kizuna_store::Micros;

/// Japan Standard Time: the zone of values given without an offset.
fn jst() -> TimeZone {
    TimeZone::fixed(Offset::constant(9))
}

/// The period `[start, end)` (microseconds since the epoch) that a FHIR date, dateTime or
/// instant covers at its precision: `2024` is the whole year, `2024-05-01T10:00:00+09:00` one
/// second. Values without an offset are read in Japan Standard Time. None if `s` is not one.
pub fn parse_instant_range(s: &str) -> Option<(Micros, Micros)> {
    let s = s.trim();
    let (start, span): (Timestamp, Span) = match s.len() {
        4 => (civil_start(&format!("{s}-01-01"))?, 1.year()),
        7 => (civil_start(&format!("{s}-01"))?, 1.month()),
        10 => (civil_start(s)?, 1.day()),
        _ => {
            let (time_part, has_offset) = match s.rfind(['+', '-', 'Z']) {
                Some(i) if i > 10 => (&s[..i], true),
                _ => (s, false),
            };
            let ts: Timestamp = if has_offset {
                s.parse().ok()?
            } else {
                time_part
                    .parse::<DateTime>()
                    .ok()?
                    .to_zoned(jst())
                    .ok()?
                    .timestamp()
            };
            let precision = match time_part.len() {
                16 => 1.minute(),
                19 => 1.second(),
                n if n > 20 => {
                    let digits = (n - 20).min(6) as u32;
                    Span::new().microseconds(10i64.pow(6 - digits))
                }
                _ => return None,
            };
            (ts, precision)
        }
    };
    let end = start.to_zoned(jst()).checked_add(span).ok()?.timestamp();
    Some((start.as_microsecond(), end.as_microsecond()))
}

fn civil_start(date: &str) -> Option<Timestamp> {
    let d: Date = date.parse().ok()?;
    d.to_zoned(jst()).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Micros {
        s.parse::<Timestamp>().unwrap().as_microsecond()
    }

    #[test]
    fn precision_sets_the_period() {
        assert_eq!(
            parse_instant_range("2024"),
            Some((ts("2023-12-31T15:00:00Z"), ts("2024-12-31T15:00:00Z")))
        );
        assert_eq!(
            parse_instant_range("2024-02"),
            Some((ts("2024-01-31T15:00:00Z"), ts("2024-02-29T15:00:00Z")))
        );
        assert_eq!(
            parse_instant_range("2024-05-01"),
            Some((ts("2024-04-30T15:00:00Z"), ts("2024-05-01T15:00:00Z")))
        );
        assert_eq!(
            parse_instant_range("2024-05-01T10:00:00Z"),
            Some((ts("2024-05-01T10:00:00Z"), ts("2024-05-01T10:00:01Z")))
        );
        assert_eq!(
            parse_instant_range("2024-05-01T10:00:00.5+02:00"),
            Some((ts("2024-05-01T08:00:00.5Z"), ts("2024-05-01T08:00:00.6Z")))
        );
        assert_eq!(
            parse_instant_range("2024-05-01T10:00"),
            Some((ts("2024-05-01T01:00:00Z"), ts("2024-05-01T01:01:00Z")))
        );
    }

    #[test]
    fn rejects_what_is_not_a_date() {
        for bad in [
            "",
            "20",
            "2024-13",
            "2024-02-30",
            "yesterday",
            "2024-05-01T25:00:00Z",
            "2024-05-01T10:00:00+99:00",
        ] {
            assert_eq!(parse_instant_range(bad), None, "{bad}");
        }
    }
}
