//! Positions on the Earth, for the `near` parameter of Location
//! (`near=latitude|longitude|distance|units`, WGS84 degrees).
//!
//! A position is kept as integer micro-degrees (about 0.1 m: finer than any address), so that
//! both backends and the evaluator compare the same numbers; distances are great-circle
//! distances on a sphere of the Earth's mean radius (haversine), computed by [`distance_km`]
//! (the SQLite backend calls this very function; PostgreSQL evaluates the same formula).

use crate::decimal::Decimal;
use crate::ucum;

/// The Earth's mean radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The distance searched when `near` gives none: 10 km.
pub const DEFAULT_DISTANCE_MM: i64 = 10_000_000;

/// A `near` search value: a point and a distance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NearValue {
    /// Micro-degrees.
    pub latitude: i64,
    pub longitude: i64,
    /// Millimetres.
    pub distance_mm: i64,
    /// As written (for links).
    pub text: String,
}

impl NearValue {
    pub fn distance_km(&self) -> f64 {
        self.distance_mm as f64 / 1e6
    }

    /// Whether a position (micro-degrees) lies within the distance.
    pub fn contains(&self, latitude: i64, longitude: i64) -> bool {
        distance_km(self.latitude, self.longitude, latitude, longitude) <= self.distance_km()
    }

    /// Micro-degree bounds that hold every position within the distance (a box around the
    /// circle, a little larger): latitudes, and longitudes unless the box reaches a pole or
    /// crosses the 180th meridian (then every longitude may be near).
    pub fn bounding_box(&self) -> ((i64, i64), Option<(i64, i64)>) {
        let km = self.distance_km();
        let dlat = (km / EARTH_RADIUS_KM).to_degrees() * 1.000_001 + 1e-6;
        let dlat_micro = (dlat * 1e6).ceil() as i64;
        let lat = (
            self.latitude.saturating_sub(dlat_micro),
            self.latitude.saturating_add(dlat_micro),
        );
        if lat.0 <= -90_000_000 || lat.1 >= 90_000_000 {
            return (lat, None);
        }
        // The widest longitude span is at the latitude of the box nearest a pole.
        let widest = (self.latitude.abs() + dlat_micro) as f64 / 1e6;
        let ratio = (km / EARTH_RADIUS_KM).sin() / widest.to_radians().cos();
        if !(0.0..1.0).contains(&ratio) {
            return (lat, None);
        }
        let dlon_micro = ((ratio.asin().to_degrees() * 1.000_001 + 1e-6) * 1e6).ceil() as i64;
        let lon = (
            self.longitude.saturating_sub(dlon_micro),
            self.longitude.saturating_add(dlon_micro),
        );
        if lon.0 < -180_000_000 || lon.1 > 180_000_000 {
            return (lat, None);
        }
        (lat, Some(lon))
    }
}

/// A position's coordinate in micro-degrees (rounded half away from zero), if it is within
/// `limit` degrees of zero (90 for latitudes, 180 for longitudes).
pub fn micro_degrees(d: &Decimal, limit: i64) -> Option<i64> {
    let bound = Decimal::from_i128(i128::from(limit))?;
    let negative_bound = Decimal::from_i128(-i128::from(limit))?;
    if *d > bound || *d < negative_bound {
        return None;
    }
    let scaled = d.checked_mul_pow10(6)?;
    let plain = scaled.to_plain_string();
    let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
    let mut n: i64 = int.parse().ok()?;
    if frac.as_bytes().first().is_some_and(|b| *b >= b'5') {
        n += if plain.starts_with('-') { -1 } else { 1 };
    }
    (n.abs() <= limit * 1_000_000).then_some(n)
}

/// The great-circle distance in kilometres between two positions in micro-degrees.
pub fn distance_km(lat1: i64, lon1: i64, lat2: i64, lon2: i64) -> f64 {
    let rad = |micro: i64| (micro as f64 / 1e6).to_radians();
    let half_dlat = rad(lat2 - lat1) / 2.0;
    let half_dlon = rad(lon2 - lon1) / 2.0;
    let a = half_dlat.sin().powi(2) + rad(lat1).cos() * rad(lat2).cos() * half_dlon.sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// `latitude|longitude[|distance[|units]]`; units are UCUM lengths (`km` when omitted; `m`,
/// `[mi_i]` …), the distance [`DEFAULT_DISTANCE_MM`] when omitted.
pub fn parse_near(text: &str) -> Result<NearValue, String> {
    let shape = "near is written latitude|longitude|distance|units (e.g. 35.68|139.76|5|km)";
    let parts: Vec<&str> = text.split('|').collect();
    if parts.len() < 2 || parts.len() > 4 {
        return Err(format!("'{text}': {shape}"));
    }
    let number = |s: &str, what: &str| {
        Decimal::parse(s.trim()).map_err(|_| format!("'{s}' is not a {what} ({shape})"))
    };
    let latitude = micro_degrees(&number(parts[0], "latitude")?, 90)
        .ok_or_else(|| format!("latitude '{}' is not within ±90 degrees", parts[0]))?;
    let longitude = micro_degrees(&number(parts[1], "longitude")?, 180)
        .ok_or_else(|| format!("longitude '{}' is not within ±180 degrees", parts[1]))?;
    let distance_mm = match parts.get(2).filter(|s| !s.is_empty()) {
        None => DEFAULT_DISTANCE_MM,
        Some(d) => {
            let d = number(d, "distance")?;
            if d.coefficient() < 0 {
                return Err(format!("the distance '{}' is negative", parts[2]));
            }
            let unit = parts
                .get(3)
                .copied()
                .filter(|u| !u.is_empty())
                .unwrap_or("km");
            let metres = ucum::canonical(&d, unit)
                .filter(|c| c.unit == "m")
                .ok_or_else(|| {
                    format!("'{unit}' is not a UCUM unit of length (km, m, [mi_i] …)")
                })?;
            let mm = metres
                .value
                .checked_mul_pow10(3)
                .map(|v| v.to_plain_string())
                .ok_or_else(|| format!("the distance '{}' is too large", parts[2]))?;
            let whole = mm.split('.').next().unwrap_or("0");
            // Beyond half the Earth's circumference every position is near.
            whole.parse::<i64>().unwrap_or(i64::MAX).min(20_100_000_000)
        }
    };
    Ok(NearValue {
        latitude,
        longitude,
        distance_mm,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(text: &str) -> NearValue {
        parse_near(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_points_distances_and_units() {
        let n = near("35.681236|139.767125|2|km");
        assert_eq!(
            (n.latitude, n.longitude, n.distance_mm),
            (35_681_236, 139_767_125, 2_000_000)
        );
        assert_eq!(near("35.6|139.7|500|m").distance_mm, 500_000);
        assert_eq!(near("35.6|139.7|1|[mi_i]").distance_mm, 1_609_344);
        assert_eq!(near("35.6|139.7").distance_mm, DEFAULT_DISTANCE_MM);
        assert_eq!(near("35.6|139.7|3").distance_mm, 3_000_000);
        assert_eq!(near("-0.0000005|0.0000005|1").latitude, -1);
        // Beyond half the Earth's circumference: everywhere.
        assert_eq!(near("0|0|1e40|[mi_i]").distance_mm, 20_100_000_000);
        for bad in [
            "35.6",
            "91|0|1",
            "0|181|1",
            "a|0",
            "0|0|-1|km",
            "0|0|1|kg",
            "0|0|1|km|x",
            "-9223372036854.775808|0",
            "9223372036854.7758075|0",
        ] {
            assert!(parse_near(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn distances_are_great_circle() {
        // Tokyo station to Osaka station: about 403 km.
        let d = distance_km(35_681_236, 139_767_125, 34_702_485, 135_495_951);
        assert!((d - 403.0).abs() < 2.0, "{d}");
        assert_eq!(distance_km(1, 2, 1, 2), 0.0);
        // Across the 180th meridian.
        let d = distance_km(0, 179_999_000, 0, -179_999_000);
        assert!((d - 0.2224).abs() < 0.001, "{d}");
    }

    #[test]
    fn the_box_holds_the_circle() {
        for text in [
            "35.68|139.76|5|km",
            "-60|10|800|km",
            "0|0|0.001|km",
            "89|0|100|km",
        ] {
            let n = near(text);
            let ((lat_lo, lat_hi), lon) = n.bounding_box();
            // Points on the circle in every direction lie inside the box.
            for step in 0..360 {
                let bearing = f64::from(step).to_radians();
                let delta = n.distance_km() * 0.999_999 / EARTH_RADIUS_KM;
                let lat1 = (n.latitude as f64 / 1e6).to_radians();
                let lon1 = (n.longitude as f64 / 1e6).to_radians();
                let lat2 =
                    (lat1.sin() * delta.cos() + lat1.cos() * delta.sin() * bearing.cos()).asin();
                let lon2 = lon1
                    + (bearing.sin() * delta.sin() * lat1.cos())
                        .atan2(delta.cos() - lat1.sin() * lat2.sin());
                let (la, lo) = (
                    (lat2.to_degrees() * 1e6).round() as i64,
                    (lon2.to_degrees() * 1e6).round() as i64,
                );
                if !n.contains(la, lo) {
                    continue;
                }
                assert!(la >= lat_lo && la <= lat_hi, "{text} bearing {step}");
                if let Some((lon_lo, lon_hi)) = lon {
                    assert!(lo >= lon_lo && lo <= lon_hi, "{text} bearing {step}");
                }
            }
        }
    }
}
