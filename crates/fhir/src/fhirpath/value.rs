//! Items as FHIRPath values: primitives read from JSON by their FHIR type, equality,
//! equivalence and ordering (numbers exactly, dates and times by precision), exact decimal
//! arithmetic.

use super::model::{MODEL, ValueKind};
use super::{EvalError, Item};
use serde_json::Value;
use std::cmp::Ordering;

/// A primitive value, borrowed from an item.
#[derive(Debug, Clone, Copy)]
pub(super) enum Prim<'x> {
    Bool(bool),
    Str(&'x str),
    Int(i64),
    /// Exact decimal text (also an integer-valued `decimal` element, `2`).
    Dec(&'x str),
    Date(&'x str),
    DateTime(&'x str),
    Time(&'x str),
    /// Value text and unit (a FHIR Quantity's `code`, else its `unit`).
    Quantity(&'x str, &'x str),
}

/// The item as a primitive value, if it is one (a FHIR primitive with a value, a Quantity with
/// a value, or a System value).
pub(super) fn prim<'x>(item: &'x Item<'_>) -> Option<Prim<'x>> {
    Some(match item {
        Item::Node(n) => {
            let kind = MODEL.info(n.fhir_type.0).value_kind;
            match n.value? {
                Value::Bool(b) => Prim::Bool(*b),
                Value::Number(num) => match (kind, num.as_i64()) {
                    (ValueKind::Decimal, _) | (_, None) => Prim::Dec(num.as_str()),
                    (_, Some(i)) => Prim::Int(i),
                },
                Value::String(s) => match kind {
                    ValueKind::Date => Prim::Date(s),
                    ValueKind::DateTime => Prim::DateTime(s),
                    ValueKind::Time => Prim::Time(s),
                    _ => Prim::Str(s),
                },
                Value::Object(o) if kind == ValueKind::Quantity => {
                    let Some(Value::Number(v)) = o.get("value") else {
                        return None;
                    };
                    let unit = o
                        .get("code")
                        .or_else(|| o.get("unit"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    Prim::Quantity(v.as_str(), unit)
                }
                _ => return None,
            }
        }
        Item::Resolved(_) => return None,
        Item::Bool(b) => Prim::Bool(*b),
        Item::Str(s) => Prim::Str(s),
        Item::Integer(i) => Prim::Int(*i),
        Item::Decimal(d) => Prim::Dec(d),
        Item::Date(d) => Prim::Date(d),
        Item::DateTime(d) => Prim::DateTime(d),
        Item::Time(t) => Prim::Time(t),
        Item::Quantity { value, unit } => Prim::Quantity(value, unit),
    })
}

/// The item converted to a System value (`getValue()`, results of conversions).
pub(super) fn to_system<'a>(p: Prim<'_>) -> Item<'a> {
    match p {
        Prim::Bool(b) => Item::Bool(b),
        Prim::Str(s) => Item::Str(s.to_string()),
        Prim::Int(i) => Item::Integer(i),
        Prim::Dec(d) => Item::Decimal(d.to_string()),
        Prim::Date(d) => Item::Date(d.to_string()),
        Prim::DateTime(d) => Item::DateTime(d.to_string()),
        Prim::Time(t) => Item::Time(t.to_string()),
        Prim::Quantity(v, u) => Item::Quantity {
            value: v.to_string(),
            unit: u.to_string(),
        },
    }
}

/// Text of a string-like primitive (strings and the text of dates and times).
pub(super) fn text<'x>(p: &Prim<'x>) -> Option<&'x str> {
    match *p {
        Prim::Str(s) | Prim::Date(s) | Prim::DateTime(s) | Prim::Time(s) => Some(s),
        _ => None,
    }
}

// ----- equality, equivalence, order ----------------------------------------------------------

/// `a = b` for two items: Some(bool), or None when it cannot be told (dates of different
/// precision).
pub(super) fn equal(a: &Item, b: &Item) -> Option<bool> {
    if let (Item::Node(x), Item::Node(y)) = (a, b)
        && !x.fhir_type.is_primitive()
        && !y.fhir_type.is_primitive()
    {
        // Complex values (a Quantity too) are equal when all their content is.
        return Some(match (x.value, y.value) {
            (Some(u), Some(v)) => json_equal(u, v),
            _ => false,
        });
    }
    match (prim(a), prim(b)) {
        (Some(x), Some(y)) => prim_equal(x, y),
        (None, None) => match (a, b) {
            (Item::Node(x), Item::Node(y)) => Some(match (x.value, y.value) {
                (Some(u), Some(v)) => json_equal(u, v),
                // Primitives with only extensions: equal only to themselves.
                (None, None) => match (x.extension, y.extension) {
                    (Some(u), Some(v)) => std::ptr::eq(u, v),
                    _ => false,
                },
                _ => false,
            }),
            (Item::Resolved(x), Item::Resolved(y)) => Some(x == y),
            _ => Some(false),
        },
        _ => Some(false),
    }
}

fn prim_equal(a: Prim, b: Prim) -> Option<bool> {
    use Prim::*;
    Some(match (a, b) {
        (Bool(x), Bool(y)) => x == y,
        (Int(_) | Dec(_), Int(_) | Dec(_)) => num_cmp(a, b) == Some(Ordering::Equal),
        (Quantity(v, u), Quantity(w, t)) => u == t && dec_cmp(v, w) == Some(Ordering::Equal),
        (Date(_) | DateTime(_), Date(_) | DateTime(_)) | (Time(_), Time(_)) => {
            return dt_cmp(a, b).map(|o| o == Ordering::Equal);
        }
        _ => match (text(&a), text(&b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    })
}

/// `a ~ b`: strings ignoring case and whitespace differences, decimals at the lesser
/// precision, dates only at the same precision.
pub(super) fn equivalent(a: &Item, b: &Item) -> bool {
    use Prim::*;
    match (prim(a), prim(b)) {
        (Some(Str(x)), Some(Str(y))) => normalize(x) == normalize(y),
        (Some(x @ (Int(_) | Dec(_))), Some(y @ (Int(_) | Dec(_)))) => {
            let (sx, sy) = (num_text(x), num_text(y));
            let scale = scale_of(&sx).min(scale_of(&sy));
            match (self::Dec::parse(&sx), self::Dec::parse(&sy)) {
                (Some(dx), Some(dy)) => dx.round(scale) == dy.round(scale),
                _ => false,
            }
        }
        (Some(x), Some(y)) => prim_equal(x, y).unwrap_or(false),
        (None, None) => equal(a, b).unwrap_or(false),
        _ => false,
    }
}

fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `a < b` and friends: Ok(None) when it cannot be told (dates of different precision).
pub(super) fn compare(a: &Item, b: &Item) -> Result<Option<Ordering>, EvalError> {
    use Prim::*;
    let (Some(x), Some(y)) = (prim(a), prim(b)) else {
        return Err(EvalError::new(format!(
            "cannot compare {} with {}",
            a.type_name(),
            b.type_name()
        )));
    };
    Ok(match (x, y) {
        (Int(_) | Dec(_), Int(_) | Dec(_)) => num_cmp(x, y),
        (Str(s), Str(t)) => Some(s.cmp(t)),
        (Date(_) | DateTime(_), Date(_) | DateTime(_)) | (Time(_), Time(_)) => dt_cmp(x, y),
        (Quantity(v, u), Quantity(w, t)) if u == t => dec_cmp(v, w),
        _ => {
            return Err(EvalError::new(format!(
                "cannot compare {} with {}",
                a.type_name(),
                b.type_name()
            )));
        }
    })
}

/// Deep equality of JSON, numbers by value (`1.50` = `1.5`).
pub(super) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            dec_cmp(x.as_str(), y.as_str()) == Some(Ordering::Equal)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(u, v)| json_equal(u, v))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, u)| y.get(k).is_some_and(|v| json_equal(u, v)))
        }
        _ => a == b,
    }
}

/// A text equal for items that are equal (`=`), for removing duplicates from large collections:
/// numbers normalized (`1.50` and `1.5` are one), objects with sorted keys.
pub(super) fn key(item: &Item) -> String {
    if let Item::Node(n) = item
        && !n.fhir_type.is_primitive()
    {
        let mut out = String::from("j:");
        if let Some(v) = n.value {
            json_key(v, &mut out);
        }
        return out;
    }
    match prim(item) {
        Some(Prim::Bool(b)) => format!("b:{b}"),
        Some(p @ (Prim::Int(_) | Prim::Dec(_))) => format!("n:{}", number_key(&num_text(p))),
        Some(Prim::Quantity(v, u)) => format!("q:{}:{u}", number_key(v)),
        Some(p) => format!("s:{}", text(&p).unwrap_or_default()),
        None => match item {
            Item::Resolved(t) => format!("r:{t}"),
            // A primitive without a value equals nothing: its place in the JSON.
            Item::Node(n) => {
                let place = n.extension.map_or(0, |v| v as *const Value as usize);
                format!("p:{place}")
            }
            _ => "-".to_string(),
        },
    }
}

fn number_key(s: &str) -> String {
    match decompose(s) {
        Some((neg, digits, e)) => {
            let d: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            format!("{}{d}e{e}", if neg { "-" } else { "" })
        }
        None => s.to_string(),
    }
}

fn json_key(v: &Value, out: &mut String) {
    match v {
        Value::Number(n) => out.push_str(&number_key(n.as_str())),
        Value::Array(a) => {
            out.push('[');
            for x in a {
                json_key(x, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                json_key(&o[k.as_str()], out);
                out.push(',');
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

// ----- numbers -------------------------------------------------------------------------------

fn num_text(p: Prim) -> String {
    match p {
        Prim::Int(i) => i.to_string(),
        Prim::Dec(d) => d.to_string(),
        _ => String::new(),
    }
}

fn num_cmp(a: Prim, b: Prim) -> Option<Ordering> {
    match (a, b) {
        (Prim::Int(x), Prim::Int(y)) => Some(x.cmp(&y)),
        _ => dec_cmp(&num_text(a), &num_text(b)),
    }
}

/// A decimal text as sign, significant digits (no leading or trailing zeros) and exponent `e`
/// with value = 0.d1d2... * 10^e. None if it is not a number.
fn decompose(s: &str) -> Option<(bool, Vec<u8>, i64)> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|c| c - b'0').collect();
    let lead = digits.iter().take_while(|d| **d == 0).count();
    let mut sig = digits[lead..].to_vec();
    while sig.last() == Some(&0) {
        sig.pop();
    }
    let e = (int.len() as i64 - lead as i64).checked_add(exp)?;
    Some((neg && !sig.is_empty(), sig, e))
}

/// Exact comparison of two decimal texts.
pub(super) fn dec_cmp(a: &str, b: &str) -> Option<Ordering> {
    let (na, da, ea) = decompose(a)?;
    let (nb, db, eb) = decompose(b)?;
    let mag = match (da.is_empty(), db.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => ea.cmp(&eb).then_with(|| da.cmp(&db)),
    };
    Some(match (na, nb) {
        (false, false) => mag,
        (true, true) => mag.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    })
}

fn scale_of(s: &str) -> u32 {
    s.split_once('.').map_or(0, |(_, f)| f.len() as u32)
}

/// An exact decimal: `mant / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dec {
    pub mant: i128,
    pub scale: u32,
}

const MAX_SCALE: u32 = 38;
const DIV_SCALE: u32 = 16;

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Dec {
    pub fn parse(s: &str) -> Option<Dec> {
        let (neg, digits, e) = decompose(s)?;
        // value = 0.digits * 10^e = digits * 10^(e - len)
        let mut mant: i128 = 0;
        for d in &digits {
            mant = mant.checked_mul(10)?.checked_add(*d as i128)?;
        }
        let shift = e - digits.len() as i64;
        let (mant, scale) = if shift >= 0 {
            (mant.checked_mul(pow10(u32::try_from(shift).ok()?)?)?, 0)
        } else {
            (mant, u32::try_from(-shift).ok()?)
        };
        if scale > MAX_SCALE {
            return None;
        }
        let mut d = Dec {
            mant: if neg { -mant } else { mant },
            scale,
        };
        // Keep the written precision (`1.50` has scale 2).
        let written = scale_of(s.split(['e', 'E']).next().unwrap_or(s));
        if written > d.scale && !s.contains(['e', 'E']) {
            d = d.rescale(written)?;
        }
        Some(d)
    }

    pub fn from_int(i: i64) -> Dec {
        Dec {
            mant: i as i128,
            scale: 0,
        }
    }

    fn rescale(self, scale: u32) -> Option<Dec> {
        if scale >= self.scale {
            Some(Dec {
                mant: self.mant.checked_mul(pow10(scale - self.scale)?)?,
                scale,
            })
        } else {
            Some(Dec {
                mant: self.mant / pow10(self.scale - scale)?,
                scale,
            })
        }
    }

    fn align(self, other: Dec) -> Option<(i128, i128, u32)> {
        let s = self.scale.max(other.scale);
        Some((self.rescale(s)?.mant, other.rescale(s)?.mant, s))
    }

    pub fn add(self, o: Dec) -> Option<Dec> {
        let (a, b, scale) = self.align(o)?;
        Some(Dec {
            mant: a.checked_add(b)?,
            scale,
        })
    }

    pub fn sub(self, o: Dec) -> Option<Dec> {
        self.add(Dec {
            mant: o.mant.checked_neg()?,
            scale: o.scale,
        })
    }

    pub fn mul(self, o: Dec) -> Option<Dec> {
        let scale = self.scale + o.scale;
        (scale <= MAX_SCALE).then_some(())?;
        Some(Dec {
            mant: self.mant.checked_mul(o.mant)?,
            scale,
        })
    }

    /// Division to 16 decimal places, trailing zeros removed; None on overflow or by zero.
    pub fn div(self, o: Dec) -> Option<Dec> {
        if o.mant == 0 {
            return None;
        }
        // a/10^sa / (b/10^sb) = a * 10^(sb - sa + DIV) / b / 10^DIV
        let exp = o.scale as i64 - self.scale as i64 + DIV_SCALE as i64;
        let num = if exp >= 0 {
            self.mant.checked_mul(pow10(exp as u32)?)?
        } else {
            self.mant / pow10((-exp) as u32)?
        };
        Some(
            Dec {
                mant: num / o.mant,
                scale: DIV_SCALE,
            }
            .trim(),
        )
    }

    /// Truncation toward zero to an integer.
    pub fn trunc(self) -> Option<Dec> {
        self.rescale(0)
    }

    /// Rounding half away from zero to `scale` places.
    pub fn round(self, scale: u32) -> Option<Dec> {
        if scale >= self.scale {
            return self.rescale(scale);
        }
        let p = pow10(self.scale - scale)?;
        let (q, r) = (self.mant / p, self.mant % p);
        let q = if r.abs() * 2 >= p {
            q + self.mant.signum()
        } else {
            q
        };
        Some(Dec { mant: q, scale })
    }

    pub fn floor(self) -> Option<Dec> {
        let t = self.trunc()?;
        if self.mant < 0 && t.rescale(self.scale)? != self {
            Some(Dec {
                mant: t.mant - 1,
                scale: 0,
            })
        } else {
            Some(t)
        }
    }

    pub fn ceil(self) -> Option<Dec> {
        let t = self.trunc()?;
        if self.mant > 0 && t.rescale(self.scale)? != self {
            Some(Dec {
                mant: t.mant + 1,
                scale: 0,
            })
        } else {
            Some(t)
        }
    }

    fn trim(mut self) -> Dec {
        while self.scale > 0 && self.mant % 10 == 0 {
            self.mant /= 10;
            self.scale -= 1;
        }
        self
    }

    pub fn to_i64(self) -> Option<i64> {
        let t = self.trim();
        (t.scale == 0).then(|| i64::try_from(t.mant).ok()).flatten()
    }

    pub fn text(self) -> String {
        let digits = self.mant.unsigned_abs().to_string();
        let sign = if self.mant < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return format!("{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{sign}{int}.{frac}")
    }
}

// ----- dates and times -----------------------------------------------------------------------

/// A date, date-time or time split into its parts: year, month, day, hour, minute, second
/// (with milliseconds), as many as were given; and the offset from UTC in minutes.
struct Dt {
    parts: [i64; 7],
    /// Number of levels given: 1 (year) ..= 6 (seconds, milliseconds included).
    levels: usize,
    offset: Option<i64>,
}

fn parse_dt(s: &str, time_only: bool) -> Option<Dt> {
    let d = parse_dt_parts(s, time_only)?;
    let ranges = [
        (0, 9999),
        (1, 12),
        (1, 31),
        (0, 23),
        (0, 59),
        (0, 60),
        (0, 999),
    ];
    let last = if d.levels == 6 { 7 } else { d.levels };
    let first = if time_only { 3 } else { 0 };
    let in_range = (first..last).all(|i| (ranges[i].0..=ranges[i].1).contains(&d.parts[i]));
    in_range.then_some(d)
}

fn parse_dt_parts(s: &str, time_only: bool) -> Option<Dt> {
    let mut parts = [0i64; 7];
    let mut levels;
    let mut rest = s;
    let num = |r: &str, n: usize| -> Option<i64> {
        let d = r.get(..n)?;
        d.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| d.parse().ok())?
    };
    if !time_only {
        parts[0] = num(rest, 4)?;
        rest = &rest[4..];
        levels = 1;
        for (i, part) in parts.iter_mut().enumerate().take(3).skip(1) {
            match rest.strip_prefix('-') {
                Some(r) => {
                    *part = num(r, 2)?;
                    rest = &r[2..];
                    levels = i + 1;
                }
                None => break,
            }
        }
        match rest.strip_prefix('T') {
            Some(r) => rest = r,
            None => {
                return rest.is_empty().then_some(Dt {
                    parts,
                    levels,
                    offset: None,
                });
            }
        }
        if rest.is_empty() {
            return Some(Dt {
                parts,
                levels,
                offset: None,
            });
        }
    }
    parts[3] = num(rest, 2)?;
    rest = &rest[2..];
    levels = 4;
    for (i, part) in parts.iter_mut().enumerate().take(6).skip(4) {
        match rest.strip_prefix(':') {
            Some(r) => {
                *part = num(r, 2)?;
                rest = &r[2..];
                levels = i + 1;
            }
            None => break,
        }
    }
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || levels != 6 {
            return None;
        }
        let ms = format!("{:0<3}", &r[..n.min(3)]);
        parts[6] = ms.parse().ok()?;
        rest = &r[n..];
    }
    let offset = match rest {
        "" => None,
        "Z" => Some(0),
        _ if !time_only && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let h = num(&rest[1..], 2)?;
            let m = num(rest.get(4..)?, 2)?;
            (rest.len() == 6 && &rest[3..4] == ":").then_some(())?;
            Some(sign * (h * 60 + m))
        }
        _ => return None,
    };
    Some(Dt {
        parts,
        levels,
        offset,
    })
}

/// Whether `s` is a valid date (`date`), date-time or time literal text.
pub(super) fn valid_dt(s: &str, kind: &str) -> bool {
    match kind {
        "Time" => parse_dt(s, true).is_some(),
        "Date" => parse_dt(s, false)
            .is_some_and(|d| d.levels <= 3 && d.offset.is_none() && !s.contains('T')),
        _ => parse_dt(s, false).is_some(),
    }
}

/// Normalizes a date-time with an offset to UTC (when it has at least hours).
fn to_utc(d: &mut Dt) -> Option<()> {
    let Some(off) = d.offset else { return Some(()) };
    if d.levels < 4 || off == 0 {
        return Some(());
    }
    let p = &d.parts;
    let dt = jiff::civil::DateTime::new(
        i16::try_from(p[0]).ok()?,
        i8::try_from(p[1].max(1)).ok()?,
        i8::try_from(p[2].max(1)).ok()?,
        i8::try_from(p[3]).ok()?,
        i8::try_from(p[4]).ok()?,
        i8::try_from(p[5].min(59)).ok()?,
        0,
    )
    .ok()?;
    let utc = dt.checked_sub(jiff::Span::new().minutes(off)).ok()?;
    d.parts[0] = utc.year() as i64;
    d.parts[1] = utc.month() as i64;
    d.parts[2] = utc.day() as i64;
    d.parts[3] = utc.hour() as i64;
    d.parts[4] = utc.minute() as i64;
    Some(())
}

/// Compares two dates/date-times (or two times) part by part; None when one is less precise
/// and equal as far as it goes, or when a text does not parse.
fn dt_cmp(a: Prim, b: Prim) -> Option<Ordering> {
    let (ta, tb) = (text(&a)?, text(&b)?);
    let time = matches!(a, Prim::Time(_));
    let mut x = parse_dt(ta, time)?;
    let mut y = parse_dt(tb, time)?;
    if x.offset.is_some() && y.offset.is_some() {
        to_utc(&mut x)?;
        to_utc(&mut y)?;
    }
    let common = x.levels.min(y.levels);
    for i in 0..common {
        let (u, v) = if i == 5 {
            (
                x.parts[5] * 1000 + x.parts[6],
                y.parts[5] * 1000 + y.parts[6],
            )
        } else {
            (x.parts[i], y.parts[i])
        };
        match u.cmp(&v) {
            Ordering::Equal => {}
            o => return Some(o),
        }
    }
    (x.levels == y.levels).then_some(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_compare_and_compute_exactly() {
        assert_eq!(dec_cmp("1.50", "1.5"), Some(Ordering::Equal));
        assert_eq!(dec_cmp("-0.0", "0"), Some(Ordering::Equal));
        assert_eq!(dec_cmp("1e2", "100.0"), Some(Ordering::Equal));
        assert_eq!(
            dec_cmp("0.1", "0.09999999999999999999"),
            Some(Ordering::Greater)
        );
        assert_eq!(dec_cmp("-2", "-10"), Some(Ordering::Greater));
        assert_eq!(dec_cmp("x", "1"), None);
        let d = |s| Dec::parse(s).unwrap();
        assert_eq!(d("0.1").add(d("0.2")).unwrap().text(), "0.3");
        assert_eq!(d("1.50").add(d("1")).unwrap().text(), "2.50");
        assert_eq!(d("1").div(d("3")).unwrap().text(), "0.3333333333333333");
        assert_eq!(d("-2.5").round(0).unwrap().text(), "-3");
        assert_eq!(d("-2.5").floor().unwrap().text(), "-3");
        assert_eq!(d("2.1").ceil().unwrap().text(), "3");
        assert_eq!(d("1e2").text(), "100");
        assert_eq!(d("-0.05").text(), "-0.05");
    }

    #[test]
    fn dates_compare_by_precision() {
        let c = |a, b| dt_cmp(Prim::DateTime(a), Prim::DateTime(b));
        assert_eq!(c("2020-01-01", "2020-01-01"), Some(Ordering::Equal));
        assert_eq!(c("2020-01", "2020-01-01"), None);
        assert_eq!(c("2020-01", "2020-02-01"), Some(Ordering::Less));
        assert_eq!(
            c("2020-01-01T10:00:00+01:00", "2020-01-01T09:00:00Z"),
            Some(Ordering::Equal)
        );
        assert_eq!(
            c("2020-01-01T10:00:00.5Z", "2020-01-01T10:00:00.50Z"),
            Some(Ordering::Equal)
        );
        assert!(valid_dt("2020-01-02", "Date"));
        assert!(!valid_dt("2020-1-02", "Date"));
        assert!(valid_dt("10:00:00.123", "Time"));
    }
}
