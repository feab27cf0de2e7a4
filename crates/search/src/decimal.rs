//! An exact decimal number, as search values need them: FHIR decimals are never rounded through
//! `f64`, and the implicit range of a search number (`100` is `[99.5, 100.5)`) is computed
//! exactly.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The most significant digits a search number may have (so that every bound derived from it
/// still fits the `i128` coefficient).
pub const MAX_DIGITS: usize = 34;

/// The largest magnitude of the exponent of the last written digit (`1e-1000` is accepted,
/// `1e-1001` is not). Far beyond any measured value, small enough to print in plain notation.
pub const MAX_EXPONENT: i32 = 1000;

/// `coefficient × 10^exponent`, exactly.
///
/// The representation keeps the precision it was written with: `100` is `100 × 10^0`,
/// `100.00` is `10000 × 10^-2` and `1e2` is `1 × 10^2`. Comparison (`==`, `<`) is by value
/// (`1.0 == 1.00`); [`Decimal::precision_range`] uses the written precision.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    coefficient: i128,
    exponent: i32,
}

impl Decimal {
    /// `coefficient × 10^exponent`; private so that every value respects [`MAX_DIGITS`].
    fn new(coefficient: i128, exponent: i32) -> Decimal {
        Decimal {
            coefficient,
            exponent,
        }
    }

    pub fn coefficient(&self) -> i128 {
        self.coefficient
    }

    /// The power of ten of the last written digit.
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    pub fn is_zero(&self) -> bool {
        self.coefficient == 0
    }

    /// Parses a FHIR decimal, optionally in exponential form: `-12.50`, `1e2`, `5.40e-3`.
    /// Leading zeros are accepted; `+`, a bare `.`, `NaN` and infinities are not.
    pub fn parse(text: &str) -> Result<Decimal, String> {
        let bad = || format!("'{text}' is not a number");
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (mantissa, exp_part) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty()
            || !all_digits(int_part)
            || !all_digits(frac_part)
            || (mantissa.contains('.') && frac_part.is_empty())
        {
            return Err(bad());
        }
        let mut exponent: i64 = 0;
        if let Some(e) = exp_part {
            let (sign, digits) = match e.as_bytes().first() {
                Some(b'-') => (-1, &e[1..]),
                Some(b'+') => (1, &e[1..]),
                _ => (1, e),
            };
            if digits.is_empty() || !all_digits(digits) {
                return Err(bad());
            }
            let trimmed = digits.trim_start_matches('0');
            if trimmed.len() > 6 {
                return Err(format!("the exponent of '{text}' is out of range"));
            }
            exponent = sign * trimmed.parse::<i64>().unwrap_or(0);
        }
        exponent -= frac_part.len() as i64;
        let digits: String = format!("{int_part}{frac_part}");
        let significant = digits.trim_start_matches('0');
        if significant.len() > MAX_DIGITS {
            return Err(format!(
                "'{text}' has more than {MAX_DIGITS} significant digits"
            ));
        }
        if exponent.abs() > MAX_EXPONENT as i64 {
            return Err(format!("the exponent of '{text}' is out of range"));
        }
        let magnitude: i128 = if significant.is_empty() {
            0
        } else {
            significant.parse().map_err(|_| bad())?
        };
        Ok(Decimal {
            coefficient: if negative { -magnitude } else { magnitude },
            exponent: exponent as i32,
        })
    }

    /// The range `[low, high)` this value stands for at the precision it was written with:
    /// half a unit of the last written digit either side. `100` gives `[99.5, 100.5)`, `100.00`
    /// gives `[99.995, 100.005)`, `1e2` gives `[50, 150)` and `1.00e2` gives `[99.5, 100.5)`.
    pub fn precision_range(&self) -> (Decimal, Decimal) {
        // c × 10^e ± 5 × 10^(e-1) = (10c ∓ 5) × 10^(e-1); |c| < 10^34 so this cannot overflow.
        let c = self.coefficient * 10;
        let e = self.exponent - 1;
        (Decimal::new(c - 5, e), Decimal::new(c + 5, e))
    }

    /// The bounds `[value - |value|/10, value + |value|/10]` of an approximate (`ap`) search,
    /// exactly: `100` gives `(90, 110)`, `-2.5` gives `(-2.75, -2.25)`, `0` gives `(0, 0)`.
    pub fn approx_bounds(&self) -> (Decimal, Decimal) {
        // c × 10^e ± |c| × 10^(e-1) = (10c ± |c|) × 10^(e-1); |c| < 10^34 so 11|c| fits (the
        // saturating operations only guard coefficients no parse can produce).
        let c = self.coefficient.saturating_mul(10);
        let tenth = self.coefficient.saturating_abs();
        let e = self.exponent.saturating_sub(1);
        (
            Decimal::new(c.saturating_sub(tenth), e),
            Decimal::new(c.saturating_add(tenth), e),
        )
    }

    /// The same value with trailing zeros of the coefficient removed (`100.00` → `1e2`).
    fn normalized(&self) -> Decimal {
        if self.coefficient == 0 {
            return Decimal::new(0, 0);
        }
        let (mut c, mut e) = (self.coefficient, self.exponent);
        while c % 10 == 0 {
            c /= 10;
            e += 1;
        }
        Decimal::new(c, e)
    }

    /// Plain notation without exponent: `1e2` → `100`, `5.40e-3` → `0.00540`.
    pub fn to_plain_string(&self) -> String {
        let sign = if self.coefficient < 0 { "-" } else { "" };
        let digits = self.coefficient.unsigned_abs().to_string();
        if self.exponent >= 0 {
            if self.coefficient == 0 {
                return "0".into();
            }
            return format!("{sign}{digits}{}", "0".repeat(self.exponent as usize));
        }
        let frac_len = (-self.exponent) as usize;
        let padded = if digits.len() <= frac_len {
            format!("{}{digits}", "0".repeat(frac_len - digits.len() + 1))
        } else {
            digits
        };
        let (int_part, frac_part) = padded.split_at(padded.len() - frac_len);
        format!("{sign}{int_part}.{frac_part}")
    }
}

/// The canonical text: plain notation for values written down to units or finer (`100`,
/// `99.5`, `100.00`), `{coefficient}e{exponent}` otherwise (`1e2`), so that printing and
/// parsing again keeps the precision.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exponent > 0 {
            write!(f, "{}e{}", self.coefficient, self.exponent)
        } else {
            f.write_str(&self.to_plain_string())
        }
    }
}

impl FromStr for Decimal {
    type Err = String;
    fn from_str(s: &str) -> Result<Decimal, String> {
        Decimal::parse(s)
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let (a, b) = (self.normalized(), other.normalized());
        let sign = a.coefficient.signum().cmp(&b.coefficient.signum());
        if sign != Ordering::Equal || a.coefficient == 0 {
            return sign;
        }
        // Same sign, both non-zero: compare the position of the leading digit, then the digits.
        let lead = |d: &Decimal| d.coefficient.unsigned_abs().ilog10() as i64 + d.exponent as i64;
        let magnitude = match lead(&a).cmp(&lead(&b)) {
            Ordering::Equal => {
                // Same leading position: aligning to the smaller exponent keeps both within the
                // digits of the longer coefficient, which fits.
                let e = a.exponent.min(b.exponent);
                let align = |d: &Decimal| {
                    d.coefficient.unsigned_abs() * 10u128.pow((d.exponent - e) as u32)
                };
                align(&a).cmp(&align(&b))
            }
            o => o,
        };
        if a.coefficient < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl Hash for Decimal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self.normalized();
        n.coefficient.hash(state);
        n.exponent.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        for (text, plain, canonical) in [
            ("100", "100", "100"),
            ("100.00", "100.00", "100.00"),
            ("1e2", "100", "1e2"),
            ("1.00e2", "100", "100"),
            ("1E+2", "100", "1e2"),
            ("5.40e-3", "0.00540", "0.00540"),
            ("-0.5", "-0.5", "-0.5"),
            ("0", "0", "0"),
            ("-0", "0", "0"),
            ("007", "7", "7"),
            (
                "12345678901234567890.123456789",
                "12345678901234567890.123456789",
                "12345678901234567890.123456789",
            ),
        ] {
            let v = d(text);
            assert_eq!(v.to_plain_string(), plain, "{text}");
            assert_eq!(v.to_string(), canonical, "{text}");
            assert_eq!(d(&v.to_string()), v, "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_decimal() {
        for bad in [
            "",
            "-",
            ".5",
            "5.",
            "1e",
            "1e+",
            "+1",
            "1.2.3",
            "abc",
            "NaN",
            "inf",
            "1,5",
            "1 ",
            "0x10",
            "1e9999999",
            "1e1001",
            "12345678901234567890123456789012345",
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad}");
        }
        assert!(Decimal::parse("0000000000000000000000000000000000000001").is_ok());
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(d("1.0"), d("1.00"));
        assert_eq!(d("1e2"), d("100"));
        assert!(d("99.5") < d("100"));
        assert!(d("-100.5") < d("-99.5"));
        assert!(d("-1") < d("0"));
        assert!(d("0.001") > d("1e-4"));
        assert!(d("1e30") > d("999999999999999999999999999999"));
        assert!(d("-1e30") < d("-999999999999999999999999999999"));
        assert_eq!(d("0").cmp(&d("-0.000")), Ordering::Equal);
    }

    #[test]
    fn approx_bounds_are_a_tenth_either_side() {
        for (text, low, high) in [
            ("100", "90", "110"),
            ("-2.5", "-2.75", "-2.25"),
            ("0", "0", "0"),
            ("1e2", "90", "110"),
            ("5.40e-3", "0.004860", "0.005940"),
            ("1e-999", "0.9e-999", "1.1e-999"),
        ] {
            let (l, h) = d(text).approx_bounds();
            assert_eq!((l, h), (d(low), d(high)), "{text}");
        }
    }

    #[test]
    fn precision_sets_the_implicit_range() {
        for (text, low, high) in [
            ("100", "99.5", "100.5"),
            ("100.00", "99.995", "100.005"),
            ("1e2", "50", "150"),
            ("1.0e2", "95", "105"),
            ("2.0", "1.95", "2.05"),
            ("-100", "-100.5", "-99.5"),
            ("0", "-0.5", "0.5"),
            ("5.40e-3", "0.005395", "0.005405"),
        ] {
            let (l, h) = d(text).precision_range();
            assert_eq!(
                (l.to_plain_string(), h.to_plain_string()),
                (low.into(), high.into()),
                "{text}"
            );
        }
    }
}
