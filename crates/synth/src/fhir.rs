//! Small builders for FHIR R4 JSON datatypes.

/// Builds a JSON object by moving the values in. (`serde_json::json!`
/// re-serialises every embedded expression into a fresh `Value`, which
/// dominated generation time.)
macro_rules! obj {
    ($($k:literal : $v:expr),* $(,)?) => {{
        let mut m = serde_json::Map::with_capacity(0 $(+ { let _ = $k; 1 })*);
        $(m.insert(String::from($k), serde_json::Value::from($v));)*
        serde_json::Value::Object(m)
    }};
}
pub(crate) use obj;

/// Builds a JSON array by moving the values in.
macro_rules! arr {
    ($($v:expr),* $(,)?) => {
        serde_json::Value::Array(vec![$(serde_json::Value::from($v)),*])
    };
}
pub(crate) use arr;

use serde_json::{Number, Value};

pub(crate) const UCUM: &str = "http://unitsofmeasure.org";
pub(crate) const LOINC: &str = "http://loinc.org";
pub(crate) const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
pub(crate) const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
pub(crate) const EN_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
/// JP-CLINS individualised insured-member identifier.
pub(crate) const MEMBER_ID: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
/// JP Core 10-digit medical institution code.
pub(crate) const INSTITUTION_NO: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
/// JP Core insurer number (保険者番号).
pub(crate) const INSURER_NO: &str = "urn:oid:1.2.392.100495.20.3.61";
/// Institution-local patient id root: `+ "1" + 10-digit institution code`.
pub(crate) const LOCAL_PATIENT_ROOT: &str = "urn:oid:1.2.392.100495.20.3.51.1";
/// Institution-local practitioner id root: `+ "1" + 10-digit institution code`.
pub(crate) const LOCAL_DOCTOR_ROOT: &str = "urn:oid:1.2.392.100495.20.3.41.1";
/// YJ code (個別医薬品コード), as used by JP Core.
pub(crate) const YJ: &str = "urn:oid:1.2.392.100495.20.2.73";
/// MERIT-9 medication units (錠 = TAB, カプセル = CAP), as used by JP Core.
pub(crate) const MERIT9_UNIT: &str = "urn:oid:1.2.392.100495.20.2.101";

/// A JSON number with exactly `places` decimals, e.g. `dec(7.19999, 1)` is
/// `7.2`. With serde_json's `arbitrary_precision` the digits are kept as
/// written, so `dec(7.0, 1)` serialises as `7.0`.
pub(crate) fn dec(v: f64, places: usize) -> Value {
    let mut s = format!("{v:.places$}");
    if s.starts_with('-') && s[1..].bytes().all(|b| b == b'0' || b == b'.') {
        s.remove(0);
    }
    Value::Number(
        s.parse::<Number>()
            .expect("formatted decimal is a valid JSON number"),
    )
}

/// Rounds to `places` decimals (the value that [`dec`] would print).
pub(crate) fn round(v: f64, places: usize) -> f64 {
    format!("{v:.places$}").parse().unwrap_or(v)
}

pub(crate) fn reference(kind: &str, id: &str) -> Value {
    obj! { "reference": format!("{kind}/{id}") }
}

pub(crate) fn coding(system: &str, code: &str, display: &str) -> Value {
    obj! { "system": system, "code": code, "display": display }
}

/// CodeableConcept with one coding and `text` = display.
pub(crate) fn concept(system: &str, code: &str, display: &str) -> Value {
    obj! { "coding": arr![coding(system, code, display)], "text": display }
}

/// CodeableConcept with one coding and no text.
pub(crate) fn concept_code(system: &str, code: &str, display: &str) -> Value {
    obj! { "coding": arr![coding(system, code, display)] }
}

pub(crate) fn text_concept(text: &str) -> Value {
    obj! { "text": text }
}

/// Quantity with a UCUM unit.
pub(crate) fn ucum(value: Value, unit: &str, code: &str) -> Value {
    obj! { "value": value, "unit": unit, "system": UCUM, "code": code }
}

/// HumanName in the JP Core style: `IDE` (kanji) or `SYL` (katakana).
pub(crate) fn human_name(representation: &str, family: &str, given: &str) -> Value {
    obj! {
        "extension": arr![obj! { "url": EN_REPRESENTATION, "valueCode": representation }],
        "use": "official",
        "text": format!("{family} {given}"),
        "family": family,
        "given": arr![given],
    }
}

/// Converts hiragana to katakana (other characters unchanged).
pub(crate) fn katakana(hiragana: &str) -> String {
    hiragana
        .chars()
        .map(|c| match c {
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_precision() {
        assert_eq!(dec(7.199_999_999, 1).to_string(), "7.2");
        assert_eq!(dec(7.0, 1).to_string(), "7.0");
        assert_eq!(dec(0.849, 2).to_string(), "0.85");
        assert_eq!(dec(132.4, 0).to_string(), "132");
        assert_eq!(dec(-0.01, 1).to_string(), "0.0");
        assert_eq!(round(1.26, 1), 1.3);
    }

    #[test]
    fn kana_conversion() {
        assert_eq!(katakana("さとう たろう"), "サトウ タロウ");
        assert_eq!(katakana("ゔぁー"), "ヴァー");
    }
}
