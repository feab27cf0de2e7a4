//! Trends: a measure's figures per day, week or month, from the rollups of its series (one per
//! source). For a measure that adds up (steps, energy taken in), a bucket's figure is the
//! largest of its sources' sums: a phone and a watch worn together count the same steps, so
//! adding them would count them twice. For the others it is the mean of every reading in the
//! bucket, with the lowest and the highest.

use crate::Measure;
use std::collections::BTreeMap;

/// How finely a trend is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Every measurement as taken.
    Sample,
    Day,
    Week,
    Month,
}

impl Resolution {
    /// `sample`, `day`, `week` or `month`.
    pub fn parse(text: &str) -> Option<Resolution> {
        Some(match text {
            "sample" | "raw" => Resolution::Sample,
            "day" => Resolution::Day,
            "week" => Resolution::Week,
            "month" => Resolution::Month,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Sample => "sample",
            Resolution::Day => "day",
            Resolution::Week => "week",
            Resolution::Month => "month",
        }
    }
}

/// One source's figures over one bucket (what a rollup row holds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part {
    /// Which source (series) it comes from.
    pub source: i64,
    pub bucket: i64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// A bucket's figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub bucket: i64,
    /// How many measurements it stands for.
    pub count: u64,
    /// The sum (measures that add up) or the mean.
    pub value: f64,
    /// The lowest and highest readings (measures that do not add up).
    pub range: Option<(f64, f64)>,
}

/// The figures of `measure` per bucket, from every source's parts, in bucket order.
pub fn combine(measure: Measure, parts: &[Part]) -> Vec<Figure> {
    let mut by_bucket: BTreeMap<i64, Vec<&Part>> = BTreeMap::new();
    for p in parts.iter().filter(|p| p.count > 0) {
        by_bucket.entry(p.bucket).or_default().push(p);
    }
    by_bucket
        .into_iter()
        .map(|(bucket, parts)| {
            if measure.cumulative() {
                // The source counting most (ties: the first).
                let best = parts
                    .iter()
                    .copied()
                    .fold(None::<&Part>, |best, p| match best {
                        Some(b) if b.sum >= p.sum => Some(b),
                        _ => Some(p),
                    })
                    .copied()
                    .unwrap_or(Part {
                        source: 0,
                        bucket,
                        count: 0,
                        sum: 0.0,
                        min: 0.0,
                        max: 0.0,
                    });
                Figure {
                    bucket,
                    count: best.count,
                    value: best.sum,
                    range: None,
                }
            } else {
                let count: u64 = parts.iter().map(|p| p.count).sum();
                let sum: f64 = parts.iter().map(|p| p.sum).sum();
                let min = parts.iter().map(|p| p.min).fold(f64::INFINITY, f64::min);
                let max = parts
                    .iter()
                    .map(|p| p.max)
                    .fold(f64::NEG_INFINITY, f64::max);
                Figure {
                    bucket,
                    count,
                    value: sum / count as f64,
                    range: Some((min, max)),
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(source: i64, bucket: i64, count: u64, sum: f64, min: f64, max: f64) -> Part {
        Part {
            source,
            bucket,
            count,
            sum,
            min,
            max,
        }
    }

    #[test]
    fn steps_from_two_devices_are_not_counted_twice() {
        let parts = [
            part(1, 10, 1440, 8000.0, 0.0, 120.0),
            part(2, 10, 1, 8500.0, 8500.0, 8500.0),
            part(1, 11, 1440, 3000.0, 0.0, 40.0),
        ];
        let got = combine(Measure::Steps, &parts);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].value, got[0].count, got[0].range),
            (8500.0, 1, None)
        );
        assert_eq!(got[1].value, 3000.0);
    }

    #[test]
    fn weights_from_two_scales_are_averaged_with_their_range() {
        let parts = [
            part(1, 10, 2, 140.0, 69.0, 71.0),
            part(2, 10, 1, 73.0, 73.0, 73.0),
        ];
        let got = combine(Measure::BodyWeight, &parts);
        assert_eq!(got[0].count, 3);
        assert!((got[0].value - 71.0).abs() < 1e-9);
        assert_eq!(got[0].range, Some((69.0, 73.0)));
    }
}
