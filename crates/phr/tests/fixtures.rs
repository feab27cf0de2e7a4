//! The real exports in `../shared/fixtures/phr`: Apple Health's sample export and Fitbit's
//! daily activity, weight log and sleep CSVs, every row accounted for; and an Apple export
//! with a blood-pressure correlation, whose readings are counted once.

use kizuna_phr::{Measure, Reason, Rejected, Sample, apple, fitbit, omh};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn phr() -> Option<PathBuf> {
    let dir = std::env::var("KIZUNA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
        .join("phr");
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "fixtures not found at {}",
            dir.display()
        );
        eprintln!("skipped: fixtures not found at {}", dir.display());
        None
    }
}

fn now() -> jiff::Timestamp {
    "2026-11-21T00:00:00Z".parse().unwrap()
}

/// Samples, and how many were rejected for each reason.
fn tally(outcomes: Vec<Result<Sample, Rejected>>) -> (Vec<Sample>, BTreeMap<&'static str, usize>) {
    let mut samples = Vec::new();
    let mut why = BTreeMap::new();
    for o in outcomes {
        match o {
            Ok(s) => samples.push(s),
            Err(r) => *why.entry(r.reason.kind()).or_insert(0) += 1,
        }
    }
    (samples, why)
}

#[test]
fn apple_health_sample_export() {
    let Some(dir) = phr() else { return };
    let file = std::fs::File::open(dir.join("apple-health/export6s3sample.xml")).unwrap();
    let mut out = Vec::new();
    apple::read(std::io::BufReader::new(file), now(), |o| out.push(o)).unwrap();
    let (samples, why) = tally(out);
    assert_eq!(samples.len(), 10, "the ten step counts");
    assert_eq!(
        why.get("not kept"),
        Some(&5),
        "distance walked is not kept: {why:?}"
    );
    let first = &samples[0];
    assert_eq!(first.measure, Measure::Steps);
    assert_eq!(first.value, 329.0);
    assert_eq!(first.offset_seconds, 3600, "+0100 kept");
    assert_eq!(first.start.to_string(), "2014-09-13T09:27:54Z");
    assert!(first.end.is_some());
    assert_eq!(first.source, "apple:Health");
}

#[test]
fn a_blood_pressure_correlation_is_counted_once() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<HealthData locale="ja_JP">
 <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" sourceName="Omron" unit="mmHg" startDate="2024-05-01 07:30:00 +0900" endDate="2024-05-01 07:30:00 +0900" value="128"/>
 <Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" sourceName="Omron" unit="mmHg" startDate="2024-05-01 07:30:00 +0900" endDate="2024-05-01 07:30:00 +0900" value="84"/>
 <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Omron" startDate="2024-05-01 07:30:00 +0900" endDate="2024-05-01 07:30:00 +0900">
  <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" sourceName="Omron" unit="mmHg" startDate="2024-05-01 07:30:00 +0900" endDate="2024-05-01 07:30:00 +0900" value="128"/>
  <Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" sourceName="Omron" unit="mmHg" startDate="2024-05-01 07:30:00 +0900" endDate="2024-05-01 07:30:00 +0900" value="84"/>
 </Correlation>
 <Record type="HKQuantityTypeIdentifierBodyMass" sourceName="Scale" unit="lb" startDate="2024-05-01 07:00:00 +0900" endDate="2024-05-01 07:00:00 +0900" value="150"/>
 <Record type="HKQuantityTypeIdentifierBodyTemperature" sourceName="Thermo" unit="degF" startDate="2024-05-01 07:00:00 +0900" endDate="2024-05-01 07:00:00 +0900" value="98.6"/>
 <Record type="HKQuantityTypeIdentifierOxygenSaturation" sourceName="Watch" unit="%" startDate="2024-05-01 07:00:00 +0900" endDate="2024-05-01 07:00:00 +0900" value="0.97"/>
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min" startDate="2024-05-01 07:00:00 +0900" endDate="2024-05-01 07:00:00 +0900" value="-3"/>
 <Record type="HKQuantityTypeIdentifierBodyMass" sourceName="Scale" unit="stone-ish" startDate="2024-05-01 07:00:00 +0900" endDate="2024-05-01 07:00:00 +0900" value="10"/>
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Watch" unit="count" startDate="2031-05-01 07:00:00 +0900" endDate="2031-05-01 08:00:00 +0900" value="100"/>
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Watch" unit="count" startDate="yesterday" endDate="2024-05-01 08:00:00 +0900" value="100"/>
 <Record type="HKQuantityTypeIdentifierActiveEnergyBurned" sourceName="Watch" unit="kJ" startDate="2024-05-01 07:00:00 +0900" endDate="2024-05-01 08:00:00 +0900" value="418.4"/>
</HealthData>"#;
    let mut out = Vec::new();
    apple::read(xml.as_bytes(), now(), |o| out.push(o)).unwrap();
    let reasons: Vec<String> = out
        .iter()
        .filter_map(|o| o.as_ref().err())
        .map(|r| format!("{} {}", r.at, r.reason.kind()))
        .collect();
    assert_eq!(
        reasons,
        [
            "record 3 duplicate",
            "record 4 duplicate",
            "record 8 impossible value",
            "record 9 unknown unit",
            "record 10 in the future",
            "record 11 malformed"
        ]
    );
    let (samples, _) = tally(out);
    let by: BTreeMap<Measure, f64> = samples.iter().map(|s| (s.measure, s.value)).collect();
    assert_eq!(by[&Measure::SystolicBloodPressure], 128.0);
    assert_eq!(by[&Measure::DiastolicBloodPressure], 84.0);
    assert!(
        (by[&Measure::BodyWeight] - 68.0388555).abs() < 1e-9,
        "lb to kg"
    );
    assert!(
        (by[&Measure::BodyTemperature] - 37.0).abs() < 1e-9,
        "°F to °C"
    );
    assert!(
        (by[&Measure::OxygenSaturation] - 97.0).abs() < 1e-9,
        "a fraction to %"
    );
    assert!(
        (by[&Measure::ActiveEnergy] - 100.0).abs() < 1e-9,
        "active energy, kJ to kcal"
    );
    assert!(matches!(
        apple::date("2024-05-01 07:30:00 +0900"),
        Ok((_, 32400))
    ));
    assert!(apple::read("<a><b></a>".as_bytes(), now(), |_| {}).is_err());
    let _ = Reason::Future;
}

#[test]
fn fitbit_exports() {
    let Some(dir) = phr() else { return };
    let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let read = |name: &str| {
        let mut out = Vec::new();
        let file = std::fs::File::open(dir.join("fitbit").join(name)).unwrap();
        let kind = fitbit::read(file, &tokyo, now(), |o| out.push(o)).unwrap();
        (kind, tally(out))
    };
    let (kind, (samples, why)) = read("dailyActivity_merged.csv");
    assert_eq!(kind, fitbit::Export::DailyActivity);
    assert_eq!(
        samples.len() + why.values().sum::<usize>(),
        1397,
        "every row accounted for"
    );
    assert_eq!(samples.len(), 1397, "{why:?}");
    let s = &samples[0];
    assert_eq!(
        (s.measure, s.value, s.offset_seconds),
        (Measure::Steps, 13162.0, 32400)
    );
    assert_eq!(
        s.start.to_string(),
        "2016-04-11T15:00:00Z",
        "4/12/2016 in Tokyo"
    );
    assert_eq!(s.source, "fitbit:1503960366");

    let (kind, (samples, why)) = read("weightLogInfo_merged.csv");
    assert_eq!(kind, fitbit::Export::WeightLog);
    assert_eq!(samples.len(), 100, "{why:?}");
    assert!(
        samples
            .iter()
            .all(|s| s.measure == Measure::BodyWeight && s.value > 40.0)
    );

    let (kind, (samples, why)) = read("sleepDay_merged.csv");
    assert_eq!(kind, fitbit::Export::Sleep);
    assert!(samples.is_empty());
    assert_eq!(why.get("not kept"), Some(&413));

    let mut out = Vec::new();
    let err = fitbit::read("a,b\n1,2\n".as_bytes(), &tokyo, now(), |o| out.push(o)).unwrap_err();
    assert!(err.contains("not a Fitbit export"), "{err}");
    let bad = "Id,ActivityDate,TotalSteps\n1,4/31/2016,100\n2,4/12/2016,-5\n3,4/12/2016,lots\n";
    fitbit::read(bad.as_bytes(), &tokyo, now(), |o| out.push(o)).unwrap();
    let reasons: Vec<&str> = out
        .iter()
        .filter_map(|o| o.as_ref().err())
        .map(|r| r.reason.kind())
        .collect();
    assert_eq!(reasons, ["malformed", "impossible value", "malformed"]);
}

/// Every Open mHealth test document in the fixtures, as (kind, version, should pass, path, body).
fn omh_documents(dir: &std::path::Path) -> Vec<(String, String, bool, PathBuf, serde_json::Value)> {
    let mut out = Vec::new();
    for kind in std::fs::read_dir(dir.join("openmhealth")).unwrap() {
        let kind = kind.unwrap().path();
        if !kind.is_dir() {
            continue;
        }
        for version in std::fs::read_dir(&kind).unwrap() {
            let version = version.unwrap().path();
            for (sub, pass) in [("shouldPass", true), ("shouldFail", false)] {
                for doc in std::fs::read_dir(version.join(sub)).into_iter().flatten() {
                    let path = doc.unwrap().path();
                    let body = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                    let name =
                        |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
                    out.push((name(&kind), name(&version), pass, path, body));
                }
            }
        }
    }
    out.sort_by(|a, b| a.3.cmp(&b.3));
    out
}

#[test]
fn open_mhealth_schemas_accept_every_passing_and_refuse_every_failing_document() {
    let Some(dir) = phr() else { return };
    let docs = omh_documents(&dir);
    let (mut passed, mut failed) = (0, 0);
    for (kind, version, pass, path, body) in &docs {
        let checked = omh::schema::check(kind, version, body);
        if *pass {
            assert_eq!(checked, Ok(()), "{}", path.display());
            passed += 1;
        } else {
            assert!(
                matches!(checked, Err(Reason::Invalid(_))),
                "{} should be invalid: {checked:?}",
                path.display()
            );
            // Read as an import reads it, it is refused too (an empty document is of no kind).
            assert!(
                omh::data_point(body, "omh:test", now()).is_err(),
                "{}",
                path.display()
            );
            failed += 1;
        }
    }
    assert_eq!((passed, failed), (19, 25), "every test document was read");

    // The refusal says where and which rule, without the value.
    let bad = dir.join("openmhealth/blood-pressure/4.0/shouldFail/invalid-pa-value.json");
    let body: serde_json::Value = serde_json::from_slice(&std::fs::read(bad).unwrap()).unwrap();
    let Err(Reason::Invalid(why)) = omh::data_point(&body, "omh:test", now()) else {
        panic!("invalid-pa-value accepted")
    };
    assert!(
        why.contains("/temporal_relationship_to_physical_activity"),
        "{why}"
    );
    assert!(
        why.contains("value is not one of") && !why.contains("\"rest\""),
        "{why}"
    );
}

#[test]
fn open_mhealth_data_points_that_pass_become_samples() {
    let Some(dir) = phr() else { return };
    let mut measured = BTreeMap::new();
    let mut statistics = 0;
    let mut other = 0;
    for (_, _, pass, path, body) in omh_documents(&dir) {
        if !pass {
            continue;
        }
        // With a header naming no schema and one naming the schema, the same.
        let header = serde_json::json!({"body": body, "header": {
            "acquisition_provenance": {"source_name": "Fixture"}}});
        for point in [&body, &header] {
            match omh::data_point(point, "omh:test", now()) {
                Ok(list) => {
                    for s in list {
                        *measured.entry(s.measure).or_insert(0) += 1;
                    }
                }
                Err(Reason::NotKept(why)) if why.contains("statistic") => statistics += 1,
                Err(Reason::NotKept(_)) => other += 1,
                Err(e) => panic!("{}: {e:?}", path.display()),
            }
        }
    }
    // Every measurement among the passing documents (twice), blood pressure as two samples, the
    // physical activity as the energy it burned; descriptive statistics are not measurements.
    assert_eq!(measured[&Measure::SystolicBloodPressure], 6);
    assert_eq!(measured[&Measure::DiastolicBloodPressure], 6);
    assert_eq!(measured[&Measure::BodyWeight], 2);
    assert_eq!(measured[&Measure::Steps], 2);
    assert_eq!(measured[&Measure::HeartRate], 2);
    assert_eq!(measured[&Measure::BodyTemperature], 4);
    assert_eq!(measured[&Measure::OxygenSaturation], 4);
    assert_eq!(
        measured[&Measure::ActiveEnergy],
        2,
        "the walk's kcal_burned"
    );
    assert_eq!((statistics, other), (16, 0));

    // The header's schema and source: a version Kizuna does not read is refused, the source
    // name is kept.
    let point = serde_json::json!({
        "header": {"schema_id": {"namespace": "omh", "name": "body-weight", "version": "3.0"},
                   "acquisition_provenance": {"source_name": "Tanita"}},
        "body": {"body_weight": {"value": 61.5, "unit": "kg"},
                 "effective_time_frame": {"date_time": "2023-02-05T07:25:00+09:00"}}});
    let s = &omh::data_point(&point, "omh", now()).unwrap()[0];
    assert_eq!((s.source.as_str(), s.value), ("omh:Tanita", 61.5));
    // What no schema would check is refused: a second kind of measurement in one data point,
    // or a measurement without the field that marks its kind.
    let frame = serde_json::json!({"date_time": "2023-02-05T07:25:00Z"});
    for body in [
        serde_json::json!({"body_weight": {"value": 61.5, "unit": "kg"},
            "heart_rate": {"value": 999, "unit": "beats/min"}, "effective_time_frame": frame}),
        serde_json::json!({"diastolic_blood_pressure": {"value": 80, "unit": "mmHg"},
            "effective_time_frame": frame}),
    ] {
        assert!(
            matches!(
                omh::data_point(&body, "omh", now()),
                Err(Reason::Invalid(_))
            ),
            "{body}"
        );
    }
    let mut old = point.clone();
    old["header"]["schema_id"]["version"] = "2.0".into();
    assert!(matches!(
        omh::data_point(&old, "omh", now()),
        Err(Reason::NotKept(_))
    ));

    // Units convert, offsets are kept.
    let body = serde_json::json!({"body_temperature": {"value": 98.6, "unit": "F"},
        "effective_time_frame": {"date_time": "2023-02-05T07:25:00+09:00"}});
    let s = &omh::data_point(&body, "omh:test", now()).unwrap()[0];
    assert!((s.value - 37.0).abs() < 1e-9);
    assert_eq!(s.offset_seconds, 32_400);
    let body = serde_json::json!({"step_count": {"value": 500, "unit": "steps"},
        "effective_time_frame": {"time_interval": {"start_date_time": "2023-02-05T07:00:00Z",
            "duration": {"value": 30, "unit": "min"}}}});
    let s = &omh::data_point(&body, "omh:test", now()).unwrap()[0];
    assert_eq!(s.end.unwrap().to_string(), "2023-02-05T07:30:00Z");
    let body = serde_json::json!({"body_weight": {"value": 2000, "unit": "kg"},
        "effective_time_frame": {"date_time": "2023-02-05T07:25:00Z"}});
    assert!(matches!(
        omh::data_point(&body, "omh:test", now()),
        Err(Reason::Impossible(_))
    ));
}
