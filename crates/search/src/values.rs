//! The value syntax of the parameter types: escaping, prefixes, dates (with their precision
//! ranges), numbers, quantities, tokens, references and URIs. Each parser takes one value (one
//! item of an OR list, already split on unescaped `,`) and explains what is wrong with it.

use crate::decimal::Decimal;
use jiff::civil::{Date, DateTime};
use jiff::tz::Offset;

/// The offset of date values written without one: Japan Standard Time, +09:00.
pub const LOCAL_OFFSET_SECONDS: i32 = 9 * 3600;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// The comparison prefix of an ordered value (number, date, quantity). `eq` when none is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    /// Starts after.
    Sa,
    /// Ends before.
    Eb,
    /// Approximately.
    Ap,
}

impl Prefix {
    pub fn code(self) -> &'static str {
        match self {
            Prefix::Eq => "eq",
            Prefix::Ne => "ne",
            Prefix::Gt => "gt",
            Prefix::Lt => "lt",
            Prefix::Ge => "ge",
            Prefix::Le => "le",
            Prefix::Sa => "sa",
            Prefix::Eb => "eb",
            Prefix::Ap => "ap",
        }
    }

    fn from_code(code: &str) -> Option<Prefix> {
        Some(match code {
            "eq" => Prefix::Eq,
            "ne" => Prefix::Ne,
            "gt" => Prefix::Gt,
            "lt" => Prefix::Lt,
            "ge" => Prefix::Ge,
            "le" => Prefix::Le,
            "sa" => Prefix::Sa,
            "eb" => Prefix::Eb,
            "ap" => Prefix::Ap,
            _ => return None,
        })
    }

    /// Splits a leading prefix off `value` (`ge2024` → `ge`, `2024`). Two leading letters
    /// that are not a prefix are an error; no letters mean `eq`.
    pub fn split(value: &str) -> Result<(Prefix, &str), String> {
        let b = value.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic() {
            let code = &value[..2];
            return match Prefix::from_code(code) {
                Some(p) => Ok((p, &value[2..])),
                None => Err(format!(
                    "'{code}' is not a search prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)"
                )),
            };
        }
        Ok((Prefix::Eq, value))
    }

    /// The prefix as written in a canonical value (nothing for `eq`).
    pub(crate) fn render(self) -> &'static str {
        match self {
            Prefix::Eq => "",
            p => p.code(),
        }
    }
}

/// Splits `s` on every `sep` that is not escaped by `\`. Escapes are kept for the next level.
pub fn split_escaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Removes the search escapes `\,` `\$` `\|` `\\`. Any other use of `\` is illegal.
pub fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ (',' | '$' | '|' | '\\')) => out.push(e),
            Some(e) => {
                return Err(format!(
                    "'\\{e}' is not an escape: only \\, \\$ \\| and \\\\ are (write \\\\ for a backslash)"
                ));
            }
            None => return Err("a value cannot end with a lone '\\' (write \\\\)".into()),
        }
    }
    Ok(out)
}

/// Escapes `\` `,` `$` `|` so that `s` reads back as one literal value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '$' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The precision a date value was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatePrecision {
    Year,
    Month,
    Day,
    Minute,
    Second,
    /// Fractions of a second, with this many digits (ranges stop at microseconds).
    Fraction(u8),
}

/// The period `[start, end)` that a date, dateTime or instant covers at its precision, in
/// microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub start_micros: i64,
    pub end_micros: i64,
    pub precision: DatePrecision,
}

/// Reads `yyyy[-mm[-dd[Thh:mm[:ss[.f+]][Z|(+|-)hh:mm]]]]` as the period it covers: `2024` is the
/// whole year, `2024-05-01T10:00` one minute, `2024-05-01T10:00:00.5Z` a tenth of a second.
/// Values without an offset (dates always, times when none is given) are in Japan Standard
/// Time; values with one keep it. A space where the offset's `+` belongs is read as `+` (an
/// unencoded `+` in a query string arrives as a space).
pub fn parse_date_period(text: &str) -> Result<Period, String> {
    let shape = || {
        format!(
            "'{text}' is not a date: expected yyyy, yyyy-mm, yyyy-mm-dd or \
             yyyy-mm-ddThh:mm[:ss[.fff]][Z|(+|-)hh:mm]"
        )
    };
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = b.get(from..from + len)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0i64, |n, d| n * 10 + (d - b'0') as i64))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let year = num(0, 4).ok_or_else(shape)?;
    let (month, day) = match b.len() {
        4 => (1, 1),
        7 if at(4, b'-') => (num(5, 2).ok_or_else(shape)?, 1),
        _ if at(4, b'-') && at(7, b'-') => {
            (num(5, 2).ok_or_else(shape)?, num(8, 2).ok_or_else(shape)?)
        }
        _ => return Err(shape()),
    };
    let date = Date::new(year as i16, month as i8, day as i8)
        .map_err(|_| format!("'{text}' is not a date: there is no such day"))?;
    if b.len() <= 10 {
        let (precision, length) = match b.len() {
            4 => (
                DatePrecision::Year,
                date.days_in_year() as i64 * MICROS_PER_DAY,
            ),
            7 => (
                DatePrecision::Month,
                date.days_in_month() as i64 * MICROS_PER_DAY,
            ),
            10 => (DatePrecision::Day, MICROS_PER_DAY),
            _ => return Err(shape()),
        };
        let start = to_micros(text, date.to_datetime(jiff::civil::Time::midnight()), None)?;
        return Ok(Period {
            start_micros: start,
            end_micros: start + length,
            precision,
        });
    }
    if !at(10, b'T') || !at(13, b':') {
        return Err(shape());
    }
    let hour = num(11, 2).ok_or_else(shape)?;
    let minute = num(14, 2).ok_or_else(shape)?;
    let (mut pos, mut second, mut micros) = (16, 0, 0);
    let mut precision = DatePrecision::Minute;
    if at(16, b':') {
        second = num(17, 2).ok_or_else(shape)?;
        pos = 19;
        precision = DatePrecision::Second;
        if at(19, b'.') {
            let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(shape());
            }
            let kept = digits.min(6);
            micros = num(20, kept).ok_or_else(shape)? * 10i64.pow(6 - kept as u32);
            precision = DatePrecision::Fraction(digits.min(255) as u8);
            pos = 20 + digits;
        }
    }
    let offset = match &b[pos..] {
        [] => None,
        [b'Z'] => Some(0),
        [sign @ (b'+' | b'-' | b' '), _, _, b':', _, _] => {
            let (h, m) = (num(pos + 1, 2), num(pos + 4, 2));
            let (Some(h), Some(m)) = (h, m) else {
                return Err(shape());
            };
            if h > 14 || m > 59 || (h == 14 && m > 0) {
                return Err(format!(
                    "'{text}' is not a date: the offset must be within ±14:00"
                ));
            }
            let seconds = (h * 3600 + m * 60) as i32;
            Some(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => return Err(shape()),
    };
    let dt = DateTime::new(
        year as i16,
        month as i8,
        day as i8,
        hour as i8,
        minute as i8,
        second as i8,
        (micros * 1000) as i32,
    )
    .map_err(|_| format!("'{text}' is not a date: there is no such time"))?;
    let start = to_micros(text, dt, offset)?;
    let length = match precision {
        DatePrecision::Minute => 60 * MICROS_PER_SECOND,
        DatePrecision::Second => MICROS_PER_SECOND,
        DatePrecision::Fraction(n) => 10i64.pow(6 - (n as u32).min(6)),
        _ => unreachable!("time values have minute precision or finer"),
    };
    Ok(Period {
        start_micros: start,
        end_micros: start + length,
        precision,
    })
}

fn to_micros(text: &str, dt: DateTime, offset_seconds: Option<i32>) -> Result<i64, String> {
    let offset = Offset::from_seconds(offset_seconds.unwrap_or(LOCAL_OFFSET_SECONDS))
        .map_err(|_| format!("'{text}' has an impossible offset"))?;
    offset
        .to_timestamp(dt)
        .map(|t| t.as_microsecond())
        .map_err(|_| format!("'{text}' is outside the supported range of dates"))
}

/// A date search value: its prefix and the period `[start, end)` it covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub prefix: Prefix,
    pub start_micros: i64,
    pub end_micros: i64,
    pub precision: DatePrecision,
    /// The date as written (without prefix; a space read as `+` is written `+`).
    pub text: String,
}

/// `[prefix]date`, e.g. `ge2024-04`, `2024-05-01T10:00:00+02:00`.
pub fn parse_date(value: &str) -> Result<DateRange, String> {
    let (prefix, rest) = Prefix::split(value)?;
    let text = unescape(rest)?;
    let period = parse_date_period(&text)?;
    Ok(DateRange {
        prefix,
        start_micros: period.start_micros,
        end_micros: period.end_micros,
        precision: period.precision,
        text: text.replace(' ', "+"),
    })
}

/// A number search value. `value` is exact; `[low, high)` is its implicit range at the written
/// precision (`100` → `[99.5, 100.5)`), which `eq` and `ne` use; for `ap`, `[low, high]` is
/// `value` ± 10% ([`Decimal::approx_bounds`]). The other prefixes compare with `value` itself,
/// as if it had arbitrarily high precision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberValue {
    pub prefix: Prefix,
    pub value: Decimal,
    pub low: Decimal,
    pub high: Decimal,
}

/// `[prefix]number`, e.g. `100`, `gt0.8`, `1e2`, `ap5.40e-3`.
pub fn parse_number(value: &str) -> Result<NumberValue, String> {
    let (prefix, rest) = Prefix::split(value)?;
    let number = Decimal::parse(rest)?;
    let (low, high) = match prefix {
        Prefix::Ap => number.approx_bounds(),
        _ => number.precision_range(),
    };
    Ok(NumberValue {
        prefix,
        value: number,
        low,
        high,
    })
}

/// A quantity search value: a number with optional unit. `system: None` is any system;
/// `code: None` is any unit. Without a system the code matches `Quantity.code` or
/// `Quantity.unit`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuantityValue {
    pub number: NumberValue,
    pub system: Option<String>,
    pub code: Option<String>,
}

/// The system of UCUM units.
pub const UCUM: &str = "http://unitsofmeasure.org";

impl QuantityValue {
    /// For a UCUM quantity whose code [`crate::ucum`] understands: its canonical unit, and
    /// the number converted to it (value and implicit range, bound by bound: the conversion
    /// is increasing).
    pub fn canonical(&self) -> Option<(String, NumberValue)> {
        if self.system.as_deref() != Some(UCUM) {
            return None;
        }
        let conv = crate::ucum::conversion(self.code.as_deref()?)?;
        let n = &self.number;
        Some((
            conv.unit().to_string(),
            NumberValue {
                prefix: n.prefix,
                value: conv.apply(&n.value)?,
                low: conv.apply(&n.low)?,
                high: conv.apply(&n.high)?,
            },
        ))
    }
}

/// `[prefix]number`, `[prefix]number|system|code` or `[prefix]number||code`.
pub fn parse_quantity(value: &str) -> Result<QuantityValue, String> {
    let parts = split_escaped(value, '|');
    let (number, system, code) = match parts.as_slice() {
        [n] => (*n, "", ""),
        [n, s, c] => (*n, *s, *c),
        _ => {
            return Err(format!(
                "'{value}' is not a quantity: expected [prefix]number or [prefix]number|system|code"
            ));
        }
    };
    let optional = |s: &str| -> Result<Option<String>, String> {
        let s = unescape(s)?;
        Ok((!s.is_empty()).then_some(s))
    };
    Ok(QuantityValue {
        number: parse_number(number)?,
        system: optional(system)?,
        code: optional(code)?,
    })
}

/// A token search value. `system`: `None` is any system, `Some("")` is no system.
/// `code`: `None` is any code (the `system|` form).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    pub system: Option<String>,
    pub code: Option<String>,
}

/// `code`, `system|code`, `|code` or `system|`.
pub fn parse_token(value: &str) -> Result<Token, String> {
    match split_escaped(value, '|').as_slice() {
        [code] => Ok(Token {
            system: None,
            code: Some(unescape(code)?),
        }),
        [system, code] => {
            let code = unescape(code)?;
            Ok(Token {
                system: Some(unescape(system)?),
                code: (!code.is_empty()).then_some(code),
            })
        }
        _ => Err(format!(
            "'{value}' is not a token: expected code, system|code, |code or system| \
             (escape a literal | as \\|)"
        )),
    }
}

/// An `:of-type` value: the identifier type (`Identifier.type.coding` system and code) and the
/// identifier value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OfType {
    pub type_system: String,
    pub type_code: String,
    pub value: String,
}

/// `system|code|value`, all three present.
pub fn parse_of_type(value: &str) -> Result<OfType, String> {
    match split_escaped(value, '|').as_slice() {
        [s, c, v] if !s.is_empty() && !c.is_empty() && !v.is_empty() => Ok(OfType {
            type_system: unescape(s)?,
            type_code: unescape(c)?,
            value: unescape(v)?,
        }),
        _ => Err(format!(
            "'{value}' is not an :of-type value: expected type-system|type-code|value, all three present"
        )),
    }
}

/// A reference search value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A local reference: `id` (any type, unless the parameter or a `:Type` modifier fixes it),
    /// `Type/id` or `Type/id/_history/version`.
    Local {
        resource_type: Option<String>,
        id: String,
        version: Option<String>,
    },
    /// An absolute URL (`http://example.org/fhir/Patient/1`, `urn:uuid:…`) or a canonical URL,
    /// with the business version given after `|` (`http://x.org/ValueSet/vs|2.0`).
    Url {
        url: String,
        version: Option<String>,
    },
}

/// A FHIR logical id: 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether `s` starts with a URI scheme (`http:`, `urn:`), i.e. is an absolute reference.
fn has_scheme(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) => {
            let mut b = scheme.bytes();
            b.next().is_some_and(|c| c.is_ascii_alphabetic())
                && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        }
        None => false,
    }
}

/// Reads a reference value for a parameter that may point to `targets` (empty: any type).
/// `fixed_type` is the type given by a `:Type` modifier. A bare id gets the type of the
/// modifier, or the parameter's only target.
pub fn parse_reference(
    value: &str,
    targets: &[String],
    fixed_type: Option<&str>,
) -> Result<Reference, String> {
    if has_scheme(value) {
        if let Some(t) = fixed_type {
            return Err(format!(
                "'{value}' is an absolute URL; it cannot be combined with the :{t} modifier"
            ));
        }
        return match split_escaped(value, '|').as_slice() {
            [url] => Ok(Reference::Url {
                url: unescape(url)?,
                version: None,
            }),
            [url, version] if !version.is_empty() => Ok(Reference::Url {
                url: unescape(url)?,
                version: Some(unescape(version)?),
            }),
            _ => Err(format!(
                "'{value}' is not a reference: expected url or canonical|version"
            )),
        };
    }
    let text = unescape(value)?;
    let segments: Vec<&str> = text.split('/').collect();
    let (rtype, id, version) = match segments.as_slice() {
        [id] => (None, *id, None),
        [t, id] => (Some(*t), *id, None),
        [t, id, "_history", v] => (Some(*t), *id, Some(*v)),
        _ => {
            return Err(format!(
                "'{text}' is not a reference: expected id, Type/id, Type/id/_history/version or an absolute URL"
            ));
        }
    };
    if !is_valid_id(id) {
        return Err(format!("'{id}' is not a valid resource id in '{text}'"));
    }
    if let Some(v) = version
        && !is_valid_id(v)
    {
        return Err(format!("'{v}' is not a valid version id in '{text}'"));
    }
    let rtype = match (rtype, fixed_type) {
        (Some(t), Some(f)) if t != f => {
            return Err(format!(
                "'{text}' refers to a {t}, but the modifier :{f} asks for a {f}"
            ));
        }
        (Some(t), _) => Some(t.to_string()),
        (None, Some(f)) => Some(f.to_string()),
        (None, None) if targets.len() == 1 => Some(targets[0].clone()),
        (None, None) => None,
    };
    if let Some(t) = &rtype {
        if !kizuna_fhir::r4().is_resource_type(t) {
            return Err(format!("'{t}' in '{text}' is not a resource type"));
        }
        if !targets.is_empty() && !targets.contains(t) {
            return Err(format!(
                "this parameter refers to {}, never to {t}",
                targets.join(", ")
            ));
        }
    }
    Ok(Reference::Local {
        resource_type: rtype,
        id: id.to_string(),
        version: version.map(str::to_string),
    })
}

/// A URI search value, with the business version of a canonical URL given after `|`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UriValue {
    pub uri: String,
    pub version: Option<String>,
}

/// `uri` or `canonical|version`.
pub fn parse_uri(value: &str) -> Result<UriValue, String> {
    match split_escaped(value, '|').as_slice() {
        [uri] => Ok(UriValue {
            uri: unescape(uri)?,
            version: None,
        }),
        [uri, version] if !uri.is_empty() && !version.is_empty() => Ok(UriValue {
            uri: unescape(uri)?,
            version: Some(unescape(version)?),
        }),
        _ => Err(format!(
            "'{value}' is not a URI: expected uri or canonical|version (escape a literal | as \\|)"
        )),
    }
}
