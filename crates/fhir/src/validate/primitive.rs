//! The value rules of FHIR's primitive types in JSON (https://hl7.org/fhir/R4/datatypes.html).

use super::schema::{JsonKind, Prim, PrimRule};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{DecodeError, Engine as _};
use serde_json::Value;

/// Standard alphabet, padding required (the specification's regex takes groups of four), and
/// lenient about non-zero trailing bits, as Java decoders are.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// FHIR strings are limited to 1 MiB (1024 * 1024 characters).
const MAX_STRING_CHARS: usize = 1024 * 1024;

const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";
const XMLNS_DOUBLE: &str = "xmlns=\"http://www.w3.org/1999/xhtml\"";
const XMLNS_SINGLE: &str = "xmlns='http://www.w3.org/1999/xhtml'";

/// Why a primitive value is wrong.
pub(super) enum Problem {
    /// A JSON value of the wrong kind (string for a number ...): the message.
    WrongKind(String),
    /// A value of the right kind that breaks the type's rules: the message.
    Invalid(String),
}

/// Checks `v`, a JSON string, number or boolean (never null, array or object), against `prim`.
/// `scratch` is reused between calls (base64 decoding).
pub(super) fn check(prim: &Prim, v: &Value, scratch: &mut Vec<u8>) -> Result<(), Problem> {
    match (prim.json, v) {
        (JsonKind::String, Value::String(s)) => check_string(prim, s, scratch),
        (JsonKind::Number, Value::Number(n)) => check_number(prim, n.as_str()),
        (JsonKind::Boolean, Value::Bool(_)) => Ok(()),
        (expected, found) => Err(Problem::WrongKind(format!(
            "{} is not a valid {}: expected {}",
            describe(found),
            prim.name,
            match expected {
                JsonKind::String => "a JSON string",
                JsonKind::Number => "a JSON number (not a string)",
                JsonKind::Boolean => "a JSON boolean (true or false)",
            }
        ))),
    }
}

/// `the string "1.5"`, `the number 3`, `true`, for messages.
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string \"{}\"", shorten(s)),
        Value::Number(n) => format!("the number {}", shorten(n.as_str())),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Null => "null".to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// A value as quoted in a message: at most 60 characters.
pub(super) fn shorten(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(57).collect();
        t.push_str("...");
        t
    }
}

fn invalid(s: &str, prim: &Prim, expected: &str) -> Problem {
    Problem::Invalid(format!(
        "'{}' is not a valid {} (expected {expected})",
        shorten(s),
        prim.name
    ))
}

fn expected_format(prim: &Prim) -> &'static str {
    match prim.name {
        "date" => "YYYY, YYYY-MM or YYYY-MM-DD",
        "dateTime" => {
            "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm)"
        }
        "instant" => "YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm)",
        "time" => "hh:mm:ss[.fff]",
        "code" => "no leading, trailing or repeated whitespace",
        "id" => "1 to 64 characters from A-Z, a-z, 0-9, '-' and '.'",
        "oid" => "urn:oid: followed by a dotted number such as urn:oid:1.2.3",
        "uuid" => "urn:uuid: followed by a lower-case UUID",
        "decimal" => "a decimal number",
        "integer" => "a whole number without fraction or exponent",
        "positiveInt" => "a whole number of at least 1, without fraction or exponent",
        "unsignedInt" => "a whole number of at least 0, without fraction or exponent",
        _ => "a value matching the type's format",
    }
}

fn check_string(prim: &Prim, s: &str, scratch: &mut Vec<u8>) -> Result<(), Problem> {
    if s.is_empty() {
        return Err(Problem::Invalid(format!(
            "empty string is not a valid {} (FHIR JSON omits absent values instead)",
            prim.name
        )));
    }
    match prim.rule {
        PrimRule::Text => {
            // "Strings SHALL NOT contain Unicode character points below 32, except for u0009
            // (horizontal tab), u0010 (carriage return) and u0013 (line feed)" (R4 datatypes).
            if let Some(b) = s
                .bytes()
                .find(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
            {
                return Err(Problem::Invalid(format!(
                    "{} contains the control character U+{b:04X}, which FHIR strings do not allow (only tab, carriage return and line feed)",
                    prim.name
                )));
            }
            if s.len() > MAX_STRING_CHARS && s.chars().count() > MAX_STRING_CHARS {
                return Err(Problem::Invalid(format!(
                    "{} is longer than the 1 MiB (1,048,576 characters) FHIR allows",
                    prim.name
                )));
            }
            Ok(())
        }
        PrimRule::NoSpace => {
            if s.bytes()
                .any(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r'))
            {
                return Err(Problem::Invalid(format!(
                    "'{}' is not a valid {} (expected no whitespace)",
                    shorten(s),
                    prim.name
                )));
            }
            Ok(())
        }
        PrimRule::Base64 => check_base64(s, scratch),
        PrimRule::Xhtml => check_xhtml(s),
        _ => {
            if let Some(re) = &prim.regex
                && !re.is_match(s)
            {
                return Err(invalid(s, prim, expected_format(prim)));
            }
            match prim.rule {
                PrimRule::Date | PrimRule::DateTime | PrimRule::Instant => check_calendar(prim, s),
                _ => Ok(()),
            }
        }
    }
}

/// After the regex: the day exists in its month (no 2023-02-29 or 04-31).
fn check_calendar(prim: &Prim, s: &str) -> Result<(), Problem> {
    let b = s.as_bytes();
    if b.len() < 10 {
        return Ok(());
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i16>().unwrap_or(0);
    let (y, m, d) = (num(0..4), num(5..7) as i8, num(8..10) as i8);
    if jiff::civil::Date::new(y, m, d).is_err() {
        return Err(Problem::Invalid(format!(
            "'{}' is not a valid {}: {:04}-{:02} has no day {}",
            shorten(s),
            prim.name,
            y,
            m,
            d
        )));
    }
    Ok(())
}

fn check_number(prim: &Prim, text: &str) -> Result<(), Problem> {
    if let Some(re) = &prim.regex
        && !re.is_match(text)
    {
        return Err(invalid(text, prim, expected_format(prim)));
    }
    let (min, max): (i64, i64) = match prim.rule {
        PrimRule::Integer => (i32::MIN as i64, i32::MAX as i64),
        PrimRule::PositiveInt => (1, i32::MAX as i64),
        PrimRule::UnsignedInt => (0, i32::MAX as i64),
        _ => return Ok(()),
    };
    match text.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(Problem::Invalid(format!(
            "{} is out of range for {} (expected {min} to {max})",
            shorten(text),
            prim.name
        ))),
    }
}

fn check_base64(s: &str, scratch: &mut Vec<u8>) -> Result<(), Problem> {
    let bytes = s.as_bytes();
    let compact: std::borrow::Cow<[u8]> = if bytes.iter().any(u8::is_ascii_whitespace) {
        bytes
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect::<Vec<u8>>()
            .into()
    } else {
        bytes.into()
    };
    let fail = |why: &str| Problem::Invalid(format!("not valid base64Binary: {why}"));
    if compact.is_empty() {
        return Err(fail("no data"));
    }
    if !compact.len().is_multiple_of(4) {
        return Err(fail(
            "the length (without whitespace) is not a multiple of 4",
        ));
    }
    scratch.clear();
    BASE64.decode_vec(&*compact, scratch).map_err(|e| match e {
        DecodeError::InvalidByte(offset, byte) => fail(&format!(
            "character '{}' at offset {offset} is not in the base64 alphabet",
            char::from(byte).escape_default()
        )),
        DecodeError::InvalidLastSymbol(offset, byte) => fail(&format!(
            "character '{}' at offset {offset} cannot end the data",
            char::from(byte).escape_default()
        )),
        DecodeError::InvalidPadding => fail("misplaced '=' padding"),
        DecodeError::InvalidLength(_) => fail("the length is not valid"),
    })?;
    Ok(())
}

/// The narrative rules that need no XML parser: an XHTML `div` in the XHTML namespace.
fn check_xhtml(s: &str) -> Result<(), Problem> {
    let t = s.trim();
    let rest = t
        .strip_prefix("<div")
        .filter(|r| r.starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/'));
    let Some(rest) = rest else {
        return Err(Problem::Invalid(format!(
            "narrative xhtml must be a <div> element, found '{}'",
            shorten(t)
        )));
    };
    let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
    let has_ns = tag.contains(XMLNS_DOUBLE) || tag.contains(XMLNS_SINGLE);
    if !has_ns {
        return Err(Problem::Invalid(format!(
            "narrative <div> must declare xmlns=\"{XHTML_NS}\""
        )));
    }
    if !(t.ends_with("</div>") || (tag.ends_with('/') && t.len() == 4 + tag.len() + 1)) {
        return Err(Problem::Invalid(
            "narrative xhtml must be a single <div> element ending with </div>".to_string(),
        ));
    }
    Ok(())
}
