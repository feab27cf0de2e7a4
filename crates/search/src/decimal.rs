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

    /// An integer, if it has at most [`MAX_DIGITS`] digits.
    pub fn from_i128(n: i128) -> Option<Decimal> {
        (digit_count(n) <= MAX_DIGITS as u32).then_some(Decimal::new(n, 0))
    }

    /// The same digits times `10^n` (`5.4` scaled by `-3` is `0.0054`): exact, and the written
    /// precision moves with the value. `None` only if the exponent overflows.
    pub fn checked_mul_pow10(&self, n: i32) -> Option<Decimal> {
        Some(Decimal::new(
            self.coefficient,
            self.exponent.checked_add(n)?,
        ))
    }

    /// The exact product, written with the exponent `a.exponent + b.exponent` (`5.4 × 0.001` is
    /// `0.0054`, `5.40 × 0.001` is `0.00540`), except that trailing zeros are dropped as far as
    /// needed to fit [`MAX_DIGITS`]. `None` when the product has more than [`MAX_DIGITS`]
    /// significant digits (never rounds) or the exponent overflows.
    pub fn checked_mul(&self, other: &Decimal) -> Option<Decimal> {
        let natural = self.exponent.checked_add(other.exponent)?;
        if let Some(c) = self.coefficient.checked_mul(other.coefficient) {
            return fit(c, natural, natural);
        }
        // The product overflows `i128`. Strip trailing zeros, then cancel each 2 of one operand
        // against a 5 of the other: what is left multiplies to a coefficient without trailing
        // zeros, so if that still overflows, the product has more than 38 significant digits.
        let (a, b) = (self.normalized(), other.normalized());
        let (mut x, mut y) = (a.coefficient.unsigned_abs(), b.coefficient.unsigned_abs());
        let mut exponent = a.exponent.checked_add(b.exponent)?;
        for (p, q) in [(2, 5), (5, 2)] {
            while x % p == 0 && y % q == 0 {
                (x, y) = (x / p, y / q);
                exponent = exponent.checked_add(1)?;
            }
        }
        let magnitude = i128::try_from(x.checked_mul(y)?).ok()?;
        let negative = (self.coefficient < 0) != (other.coefficient < 0);
        fit(
            if negative { -magnitude } else { magnitude },
            exponent,
            natural,
        )
    }

    /// The exact sum, written with the smaller of the two exponents (`37 + 273.15` is `310.15`),
    /// except that trailing zeros are dropped as far as needed to fit [`MAX_DIGITS`]. `None` when
    /// the sum has more than [`MAX_DIGITS`] significant digits (never rounds).
    pub fn checked_add(&self, other: &Decimal) -> Option<Decimal> {
        let natural = self.exponent.min(other.exponent);
        if self.is_zero() || other.is_zero() {
            let nonzero = if self.is_zero() { other } else { self };
            return fit(nonzero.coefficient, nonzero.exponent, natural);
        }
        let sum = aligned(self, natural)
            .zip(aligned(other, natural))
            .and_then(|(a, b)| a.checked_add(b));
        if let Some(sum) = sum {
            return fit(sum, natural, natural);
        }
        // Overflow: without trailing zeros, the lowest digit of the sum is the lowest digit of the
        // operand with the smaller exponent (or, with equal exponents, the coefficients are small
        // enough to add), so an overflow here means more than 38 significant digits.
        let (a, b) = (self.normalized(), other.normalized());
        let exponent = a.exponent.min(b.exponent);
        let sum = aligned(&a, exponent)?.checked_add(aligned(&b, exponent)?)?;
        fit(sum, exponent, natural)
    }

    /// The quotient. Exact when it terminates within [`MAX_DIGITS`] significant digits, written
    /// with the exponent `a.exponent - b.exponent` or as few more decimals as it needs
    /// (`1.0 / 4` is `0.25`, `6.0 / 6` is `1.0`); otherwise **rounded** to [`MAX_DIGITS`]
    /// significant digits, half to even (`1 / 3` is `0.333…3` with 34 threes). `None` when
    /// dividing by zero or the exponent overflows.
    pub fn checked_div(&self, divisor: &Decimal) -> Option<Decimal> {
        if divisor.is_zero() {
            return None;
        }
        let negative = (self.coefficient < 0) != (divisor.coefficient < 0);
        let (n, m) = (
            self.coefficient.unsigned_abs(),
            divisor.coefficient.unsigned_abs(),
        );
        let mut exponent = self.exponent.checked_sub(divisor.exponent)?;
        // Long division, one decimal at a time, until exact or MAX_DIGITS digits long.
        let (mut q, mut r) = (n / m, n % m);
        while r != 0 && q < 10u128.pow(MAX_DIGITS as u32 - 1) {
            r = r.checked_mul(10)?;
            q = q * 10 + r / m;
            r %= m;
            exponent = exponent.checked_sub(1)?;
        }
        // A dividend wider than MAX_DIGITS (the bounds of `precision_range` can be) may leave
        // digits to drop; the rest of the quotient is `(dropped + r / m) / scale`.
        let excess = q
            .checked_ilog10()
            .map_or(0, |l| (l + 1).saturating_sub(MAX_DIGITS as u32));
        let scale = 10u128.pow(excess);
        let (mut q, dropped) = (q / scale, q % scale);
        exponent = exponent.checked_add(excess as i32)?;
        let rest_vs_half = if excess == 0 {
            (2 * r).cmp(&m)
        } else {
            dropped.cmp(&(scale / 2)).then(if r == 0 {
                Ordering::Equal
            } else {
                Ordering::Greater
            })
        };
        let round_up = match rest_vs_half {
            Ordering::Greater => true,
            Ordering::Equal => q % 2 == 1,
            Ordering::Less => false,
        };
        if round_up {
            q += 1;
            if q == 10u128.pow(MAX_DIGITS as u32) {
                q /= 10;
                exponent = exponent.checked_add(1)?;
            }
        }
        let magnitude = i128::try_from(q).ok()?;
        Some(Decimal::new(
            if negative { -magnitude } else { magnitude },
            exponent,
        ))
    }
}

/// The number of decimal digits of `c` (`0` has one).
fn digit_count(c: i128) -> u32 {
    c.unsigned_abs().checked_ilog10().map_or(1, |l| l + 1)
}

/// `coefficient × 10^exponent` (exact, any number of digits) written as close to the exponent
/// `natural` as [`MAX_DIGITS`] allows: trailing zeros are dropped while there are too many
/// digits and added back while the exponent is above `natural`. `None` if it cannot fit.
fn fit(mut coefficient: i128, mut exponent: i32, natural: i32) -> Option<Decimal> {
    if coefficient == 0 {
        return Some(Decimal::new(0, natural));
    }
    while digit_count(coefficient) > MAX_DIGITS as u32 {
        if coefficient % 10 != 0 {
            return None;
        }
        coefficient /= 10;
        exponent = exponent.checked_add(1)?;
    }
    while exponent > natural && digit_count(coefficient) < MAX_DIGITS as u32 {
        coefficient *= 10;
        exponent -= 1;
    }
    Some(Decimal::new(coefficient, exponent))
}

/// The coefficient of `d` written with the exponent `exponent` (at most `d.exponent`), if it
/// fits `i128`.
fn aligned(d: &Decimal, exponent: i32) -> Option<i128> {
    let shift = u32::try_from(i64::from(d.exponent) - i64::from(exponent)).ok()?;
    10i128.checked_pow(shift)?.checked_mul(d.coefficient)
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

#[cfg(test)]
mod arithmetic_tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    /// The value and the written form (so that precision is checked too).
    fn shown(v: Option<Decimal>) -> Option<String> {
        v.map(|v| v.to_string())
    }

    #[test]
    fn multiplies_exactly_with_the_natural_precision() {
        for (a, b, product) in [
            ("5.4", "0.001", "0.0054"),
            ("5.40", "0.001", "0.00540"),
            ("2", "453.59237", "907.18474"),
            ("-1.5", "2", "-3.0"),
            ("-1.5", "-2", "3.0"),
            ("0", "1.5", "0.0"),
            ("1e2", "3", "3e2"),
            // 2^112 × 5^47 overflows i128, but is 2^65 × 10^47.
            (
                "5192296858534827628530496329220096",
                "710542735760100185871124267578125",
                "3689348814741910323200000000000000e33",
            ),
            (
                "1000000000000000000000000000000000",
                "1000000000000000000000000000000000",
                "1000000000000000000000000000000000e33",
            ),
        ] {
            assert_eq!(
                shown(d(a).checked_mul(&d(b))),
                Some(product.into()),
                "{a} × {b}"
            );
            assert_eq!(d(a).checked_mul(&d(b)), d(b).checked_mul(&d(a)));
        }
        assert_eq!(
            d("1234567890123456789").checked_mul(&d("1234567890123456789")),
            None
        );
        assert_eq!(
            d("1e-999").checked_mul(&d("1e-999")).map(|v| v.exponent()),
            Some(-1998)
        );
        let wide = Decimal::new(i128::MAX, 0);
        assert_eq!(wide.checked_mul(&wide), None);
    }

    #[test]
    fn adds_exactly_with_the_natural_precision() {
        for (a, b, sum) in [
            ("37", "273.15", "310.15"),
            ("0.00", "5", "5.00"),
            ("5", "0.00", "5.00"),
            ("-2.5", "2.5", "0.0"),
            ("1e30", "1", "1000000000000000000000000000001"),
            ("1e40", "1e39", "11e39"),
            ("-459.67", "98.6", "-361.07"),
        ] {
            assert_eq!(
                shown(d(a).checked_add(&d(b))),
                Some(sum.into()),
                "{a} + {b}"
            );
            assert_eq!(d(a).checked_add(&d(b)), d(b).checked_add(&d(a)));
        }
        assert_eq!(d("1e40").checked_add(&d("1")), None);
        assert_eq!(d("1e-1000").checked_add(&d("1e1000")), None);
    }

    #[test]
    fn divides_exactly_or_rounds_half_even_to_34_digits() {
        for (a, b, quotient) in [
            ("1.0", "4", "0.25"),
            ("6.0", "6", "1.0"),
            ("100", "4", "25"),
            ("2791.35", "9", "310.15"),
            ("-1", "8", "-0.125"),
            ("1", "3", "0.3333333333333333333333333333333333"),
            ("2", "3", "0.6666666666666666666666666666666667"),
            ("-2", "3", "-0.6666666666666666666666666666666667"),
            ("1", "7e5", "0.000001428571428571428571428571428571429"),
            // Ties go to the even neighbour.
            (
                "3000000000000000000000000000000001",
                "2",
                "1500000000000000000000000000000000",
            ),
            (
                "3000000000000000000000000000000003",
                "2",
                "1500000000000000000000000000000002",
            ),
        ] {
            assert_eq!(
                shown(d(a).checked_div(&d(b))),
                Some(quotient.into()),
                "{a} / {b}"
            );
        }
        assert_eq!(d("1").checked_div(&d("0")), None);
        assert_eq!(d("0").checked_div(&d("0.0")), None);
        // The bounds of a 34-digit value have 35 digits: the quotient is still cut to 34.
        let (low, high) = d("1234567890123456789012345678901234").precision_range();
        let one = d("1");
        for bound in [low, high] {
            assert_eq!(
                shown(bound.checked_div(&one)),
                Some("1234567890123456789012345678901234".into())
            );
        }
        // A tie rounding up to a power of ten.
        let (_, high) = d("9999999999999999999999999999999999").precision_range();
        assert_eq!(
            shown(high.checked_div(&one)),
            Some("1000000000000000000000000000000000e1".into())
        );
    }

    #[test]
    fn integers_and_powers_of_ten() {
        assert_eq!(shown(Decimal::from_i128(-42)), Some("-42".into()));
        assert_eq!(Decimal::from_i128(10i128.pow(34)), None);
        assert_eq!(shown(d("5.4").checked_mul_pow10(-3)), Some("0.0054".into()));
        assert_eq!(shown(d("5.4").checked_mul_pow10(3)), Some("54e2".into()));
        assert_eq!(d("1e1").checked_mul_pow10(i32::MAX), None);
    }

    /// At most 17 digits and a small exponent, so that products and sums fit 34 digits.
    fn small() -> impl Strategy<Value = Decimal> {
        let limit = 10i128.pow(17);
        (-limit + 1..limit, -8i32..8).prop_map(|(c, e)| Decimal::new(c, e))
    }

    proptest! {
        #[test]
        fn products_are_exact(a in small(), b in small()) {
            // Compare with plain arithmetic.
            let expected = Decimal::new(a.coefficient * b.coefficient, a.exponent + b.exponent);
            prop_assert_eq!(a.checked_mul(&b).unwrap(), expected);
        }

        #[test]
        fn sums_are_exact(a in small(), b in small()) {
            let sum = a.checked_add(&b).unwrap();
            prop_assert_eq!(sum.checked_add(&Decimal::new(-b.coefficient, b.exponent)), Some(a));
        }

        #[test]
        fn division_undoes_multiplication(a in small(), b in small()) {
            prop_assume!(!b.is_zero());
            let product = a.checked_mul(&b).unwrap();
            prop_assert_eq!(product.checked_div(&b), Some(a));
        }

        #[test]
        fn quotients_have_at_most_34_digits(a in any::<i128>(), b in any::<i128>(), e in -5i32..5) {
            let (a, b) = (Decimal::new(a, e), Decimal::new(b, -e));
            if let Some(q) = a.checked_div(&b) {
                prop_assert!(digit_count(q.coefficient) <= MAX_DIGITS as u32);
            }
            let _ = (a.checked_mul(&b), a.checked_add(&b));
        }
    }
}
