//! Calendar arithmetic on plain day numbers (days since 1970-01-01), and
//! FHIR date / dateTime formatting in Japan Standard Time (`+09:00`).
//!
//! Integer-only, so portable and fast; `jiff` is used only at the API edge.

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i32 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// 0 = Monday ... 6 = Sunday.
pub(crate) fn weekday(day: i32) -> u32 {
    // 1970-01-01 was a Thursday (3).
    (day + 3).rem_euclid(7) as u32
}

/// Completed years between two days (age on `on` of someone born `birth`).
pub(crate) fn years_between(birth: i32, on: i32) -> i32 {
    let (by, bm, bd) = civil_from_days(birth);
    let (y, m, d) = civil_from_days(on);
    let mut age = y - by;
    if (m, d) < (bm, bd) {
        age -= 1;
    }
    age
}

/// Same month and day `years` later (29 Feb falls back to 28 Feb).
pub(crate) fn add_years(day: i32, years: i32) -> i32 {
    let (y, m, d) = civil_from_days(day);
    let y2 = y + years;
    let leap = (y2 % 4 == 0 && y2 % 100 != 0) || y2 % 400 == 0;
    let d2 = if m == 2 && d == 29 && !leap { 28 } else { d };
    days_from_civil(y2, m, d2)
}

/// `YYYY-MM-DD`.
pub(crate) fn date(day: i32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A point in time at minute precision, in JST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Moment {
    pub day: i32,
    /// Minutes after local midnight.
    pub minute: u32,
}

impl Moment {
    pub(crate) fn new(day: i32, minute: u32) -> Moment {
        Moment {
            day: day + (minute / 1440) as i32,
            minute: minute % 1440,
        }
    }

    pub(crate) fn plus_minutes(self, minutes: u32) -> Moment {
        Moment::new(self.day, self.minute + minutes)
    }

    /// The earlier of `self` and the last minute of `day`.
    pub(crate) fn not_after_day(self, day: i32) -> Moment {
        self.min(Moment {
            day,
            minute: 23 * 60 + 59,
        })
    }

    /// `YYYY-MM-DDThh:mm:00+09:00` (valid FHIR dateTime and instant).
    pub(crate) fn fhir(self) -> String {
        let (y, m, d) = civil_from_days(self.day);
        let (h, min) = (self.minute / 60, self.minute % 60);
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:00+09:00")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
        for z in -50_000..50_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn weekdays_and_ages() {
        // 2026-11-01 is a Sunday.
        assert_eq!(weekday(days_from_civil(2026, 11, 1)), 6);
        let b = days_from_civil(1950, 11, 2);
        assert_eq!(years_between(b, days_from_civil(2026, 11, 1)), 75);
        assert_eq!(years_between(b, days_from_civil(2026, 11, 2)), 76);
        assert_eq!(
            date(add_years(days_from_civil(2024, 2, 29), 1)),
            "2025-02-28"
        );
    }

    #[test]
    fn formats() {
        let m = Moment::new(days_from_civil(2024, 5, 13), 10 * 60 + 20);
        assert_eq!(m.fhir(), "2024-05-13T10:20:00+09:00");
        assert_eq!(m.plus_minutes(14 * 60).fhir(), "2024-05-14T00:20:00+09:00");
        assert_eq!(date(days_from_civil(1948, 1, 9)), "1948-01-09");
    }
}
