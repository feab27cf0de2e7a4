//! Time series ([`crate::series`]): a point sent twice is stored once, a changed one replaces
//! it, arrival order does not matter, and the rollups of days, weeks and months always equal
//! what their points say.

use crate::Store;
use crate::series::{Ingested, Period, Point, SeriesWrite, date_of, day_number};

const STEPS: &str = "http://loinc.org|41950-7";
const MINUTE: i64 = 60_000_000;
const JST: i32 = 9 * 3600;

fn write(patient: &str, source: &str, points: Vec<Point>) -> SeriesWrite {
    SeriesWrite {
        patient: patient.into(),
        code: STEPS.into(),
        unit: "{steps}".into(),
        source: source.into(),
        points,
    }
}

/// Minute-level points over local days `days` (JST), valued by minute of the day.
fn minutes(days: std::ops::Range<i64>) -> Vec<Point> {
    days.flat_map(|day| {
        (0..1440).map(move |m| Point {
            start: (day * 86_400 - i64::from(JST)) * 1_000_000 + m * MINUTE,
            end: Some((day * 86_400 - i64::from(JST)) * 1_000_000 + (m + 1) * MINUTE),
            offset: JST,
            value: (m % 10) as f64,
        })
    })
    .collect()
}

async fn rollup(
    store: &Store,
    series: i64,
    period: Period,
    bucket: i64,
) -> Option<(u64, f64, f64, f64)> {
    let rows = store
        .rollups(vec![series], period, (bucket, bucket))
        .await
        .unwrap();
    rows.first().map(|r| (r.count, r.sum, r.min, r.max))
}

pub(super) async fn series_keep_points_once_with_their_rollups(store: &Store) {
    // 2024-02-26 (a Monday) to 2024-03-03: seven days across a month's end, sent newest first.
    let monday = day_number(jiff::civil::date(2024, 2, 26));
    let later = minutes(monday + 3..monday + 7);
    let earlier = minutes(monday..monday + 3);
    let got = store
        .ingest_series(vec![write("p1", "watch", later.clone())])
        .await
        .unwrap();
    assert_eq!(
        got,
        Ingested {
            added: 4 * 1440,
            replaced: 0,
            unchanged: 0
        }
    );
    let got = store
        .ingest_series(vec![write("p1", "watch", earlier.clone())])
        .await
        .unwrap();
    assert_eq!(got.added, 3 * 1440, "out-of-order arrival is accepted");
    let series = store
        .series(vec!["p1".into()], Some(STEPS.into()))
        .await
        .unwrap();
    assert_eq!(series.len(), 1);
    let s = &series[0];
    assert_eq!(
        (s.count, s.unit.as_str(), s.source.as_str()),
        (7 * 1440, "{steps}", "watch")
    );
    assert_eq!(s.first, Some(earlier[0].start));
    assert_eq!(s.last, Some(later.last().unwrap().start));
    // Each day: 1,440 minutes valued 0..9 repeating (144 of each): sum 6,480.
    for day in monday..monday + 7 {
        assert_eq!(
            rollup(store, s.key, Period::Day, day).await,
            Some((1440, 6480.0, 0.0, 9.0))
        );
    }
    assert_eq!(
        rollup(store, s.key, Period::Week, monday).await,
        Some((7 * 1440, 7.0 * 6480.0, 0.0, 9.0))
    );
    let feb = Period::Month.bucket_of(monday);
    assert_eq!(
        rollup(store, s.key, Period::Month, feb).await.map(|r| r.0),
        Some(4 * 1440)
    );
    assert_eq!(
        rollup(store, s.key, Period::Month, feb + 1)
            .await
            .map(|r| r.0),
        Some(3 * 1440)
    );

    // Sent again: stored once.
    let got = store
        .ingest_series(vec![write("p1", "watch", earlier.clone())])
        .await
        .unwrap();
    assert_eq!(
        got,
        Ingested {
            added: 0,
            replaced: 0,
            unchanged: 3 * 1440
        }
    );

    // One minute corrected, twice in one ingest (the last wins), and one moved to another day by
    // its offset (taken in UTC: 09:00 JST on the Tuesday is 00:00 on the Tuesday in UTC, so the
    // minute at 08:59 JST moves back to the Monday).
    let tuesday = monday + 1;
    let mut fix = earlier[1440 + 5];
    fix.value = 100.0;
    let mut first = fix;
    first.value = 50.0;
    let mut moved = earlier[1440 + 539];
    moved.offset = 0;
    let got = store
        .ingest_series(vec![write("p1", "watch", vec![first, fix, moved])])
        .await
        .unwrap();
    assert_eq!(
        got,
        Ingested {
            added: 0,
            replaced: 3,
            unchanged: 0
        }
    );
    // Tuesday: lost minute 539 (value 9), minute 5 went from 5 to 100.
    assert_eq!(
        rollup(store, s.key, Period::Day, tuesday).await,
        Some((1439, 6480.0 - 9.0 - 5.0 + 100.0, 0.0, 100.0))
    );
    assert_eq!(
        rollup(store, s.key, Period::Day, monday).await,
        Some((1441, 6489.0, 0.0, 9.0))
    );
    assert_eq!(
        rollup(store, s.key, Period::Week, monday).await,
        Some((7 * 1440, 7.0 * 6480.0 - 5.0 + 100.0, 0.0, 100.0))
    );

    // Another source is another series; another patient sees none of these.
    let daily = Point {
        start: (monday * 86_400 - i64::from(JST)) * 1_000_000,
        end: Some(((monday + 1) * 86_400 - i64::from(JST)) * 1_000_000),
        offset: JST,
        value: 8000.0,
    };
    store
        .ingest_series(vec![write("p1", "phone", vec![daily])])
        .await
        .unwrap();
    let all = store.series(vec!["p1".into()], None).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.source.as_str()).collect::<Vec<_>>(),
        ["phone", "watch"]
    );
    assert!(
        store
            .series(vec!["p2".into()], None)
            .await
            .unwrap()
            .is_empty()
    );
    let phone = all[0].key;
    // A series' owner, for reading one of its points by id.
    assert_eq!(
        store.series_owner(phone).await.unwrap().as_deref(),
        Some("p1")
    );
    assert_eq!(store.series_owner(i64::MAX).await.unwrap(), None);
    assert_eq!(
        rollup(store, phone, Period::Day, monday).await,
        Some((1, 8000.0, 8000.0, 8000.0))
    );
    assert_eq!(date_of(monday), jiff::civil::date(2024, 2, 26));

    // Points: a range, newest first, limited.
    let range = (earlier[0].start, earlier[0].start + 10 * MINUTE);
    let pts = store.points(vec![s.key], range, 3, true).await.unwrap();
    assert_eq!(
        pts.iter().map(|(_, p)| p.start).collect::<Vec<_>>(),
        [9, 8, 7].map(|m| earlier[0].start + m * MINUTE)
    );
    assert_eq!(pts[0].1, earlier[9]);
    let pts = store
        .points(vec![s.key, phone], range, 100, false)
        .await
        .unwrap();
    assert_eq!(pts.len(), 11);
    assert_eq!(pts[10], (phone, daily));
}
