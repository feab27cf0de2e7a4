//! Japanese text written with ISO 2022 code extensions (PS3.5 6.1.2.5, Annex H): a Specific
//! Character Set such as `\ISO 2022 IR 87` or `ISO 2022 IR 13\ISO 2022 IR 87`, which is how
//! Japanese modalities name patients (`Yamada^Tarou=山田^太郎=やまだ^たろう`).
//!
//! dicom-rs decodes text with the first value of Specific Character Set only, so escape
//! sequences and JIS X 0208 bytes arrive as Latin-1 (or, after `ISO 2022 IR 13`, Windows-31J)
//! characters. [`decode_object`] takes those characters back to the bytes they were, follows
//! the escape sequences, and decodes JIS X 0208 and 0212 through encoding_rs's EUC-JP tables,
//! half-width katakana (JIS X 0201) directly. The object in memory then holds Unicode text
//! and says `ISO_IR 192`, so anything written from it is UTF-8; the object as received is kept
//! and served unchanged.

use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// The character sets of a Specific Character Set value that need this module: ISO 2022 code
/// extensions with a Japanese set. None for anything dicom-rs decodes itself.
fn extensions(values: &[String]) -> Option<bool> {
    let japanese = values.iter().any(|v| {
        matches!(
            v.trim(),
            "ISO 2022 IR 87" | "ISO 2022 IR 159" | "ISO 2022 IR 13"
        )
    });
    if !japanese || values.len() < 2 {
        return None;
    }
    // Whether G0 starts as JIS X 0201 (ISO 2022 IR 13 first), whose text dicom-rs decoded as
    // Windows-31J; otherwise it was decoded as Latin-1.
    Some(values[0].trim() == "ISO 2022 IR 13")
}

/// Decodes the text of `object` (and its sequences' items) written with Japanese ISO 2022 code
/// extensions; an object in any other character set is left as it is.
pub(crate) fn decode_object(object: &mut InMemDicomObject) {
    let declared: Vec<String> = object
        .element_opt(tags::SPECIFIC_CHARACTER_SET)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_str().ok().map(|v| v.to_vec()))
        .unwrap_or_default();
    let Some(windows_31j) = extensions(&declared) else {
        return;
    };
    decode_items(object, windows_31j);
    object.put(DataElement::new(
        tags::SPECIFIC_CHARACTER_SET,
        VR::CS,
        PrimitiveValue::from("ISO_IR 192"),
    ));
}

fn decode_items(object: &mut InMemDicomObject, windows_31j: bool) {
    let mut changed: Vec<DataElement<InMemDicomObject>> = Vec::new();
    for elem in object.iter() {
        let vr = elem.vr();
        match elem.value() {
            Value::Primitive(p @ (PrimitiveValue::Str(_) | PrimitiveValue::Strs(_)))
                if matches!(
                    vr,
                    VR::PN | VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC
                ) =>
            {
                let parts = p.to_multi_str();
                let mut d: Vec<String> = parts.iter().map(|s| decode(s, windows_31j)).collect();
                if d[..] != parts[..] {
                    let value = if d.len() == 1 {
                        PrimitiveValue::from(d.remove(0))
                    } else {
                        PrimitiveValue::Strs(d.into())
                    };
                    changed.push(DataElement::new(elem.tag(), vr, value));
                }
            }
            Value::Sequence(seq) => {
                let mut items: Vec<InMemDicomObject> = seq.items().to_vec();
                for item in &mut items {
                    // An item declaring its own character set is decoded by its own.
                    if item
                        .element_opt(tags::SPECIFIC_CHARACTER_SET)
                        .ok()
                        .flatten()
                        .is_some()
                    {
                        decode_object(item);
                    } else {
                        decode_items(item, windows_31j);
                    }
                }
                if items.as_slice() != seq.items() {
                    changed.push(DataElement::new(
                        elem.tag(),
                        VR::SQ,
                        dicom_core::value::DataSetSequence::from(items),
                    ));
                }
            }
            _ => {}
        }
    }
    for e in changed {
        object.put(e);
    }
}

/// The bytes `text` was decoded from: Latin-1 characters are their code; after ISO 2022 IR 13,
/// half-width katakana are JIS X 0201's upper half.
fn bytes_of(text: &str, windows_31j: bool) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| match c as u32 {
            n @ 0..=0x7F => Some(n as u8),
            n @ 0x80..=0xFF if !windows_31j => Some(n as u8),
            n @ 0xFF61..=0xFF9F if windows_31j => Some((n - 0xFF61 + 0xA1) as u8),
            _ => None,
        })
        .collect()
}

/// Which set G0 holds.
#[derive(Clone, Copy, PartialEq)]
enum G0 {
    Ascii,
    Roman,
    Jis0208,
    Jis0212,
}

/// `text` as dicom-rs gave it, decoded as the ISO 2022 bytes it was; unchanged if it is not
/// (it then holds characters no such byte could give).
fn decode(text: &str, windows_31j: bool) -> String {
    let katakana = windows_31j && !text.is_ascii();
    if !text.contains('\u{1b}') && !katakana {
        return text.to_string();
    }
    let Some(bytes) = bytes_of(text, windows_31j) else {
        return text.to_string();
    };
    let initial = if windows_31j { G0::Roman } else { G0::Ascii };
    let mut g0 = initial;
    // The text as EUC-JP, which encoding_rs decodes (JIS X 0208 and 0212 by its tables).
    let mut euc: Vec<u8> = Vec::with_capacity(bytes.len() * 2);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == 0x1b {
            let rest = &bytes[i + 1..];
            let (set, len) = if rest.starts_with(b"$B") || rest.starts_with(b"$@") {
                (Some(G0::Jis0208), 2)
            } else if rest.starts_with(b"$(D") {
                (Some(G0::Jis0212), 3)
            } else if rest.starts_with(b"(B") {
                (Some(G0::Ascii), 2)
            } else if rest.starts_with(b"(J") {
                (Some(G0::Roman), 2)
            } else if rest.starts_with(b")I") {
                // G1 is JIS X 0201 katakana: bytes A1-DF, as they already are.
                (None, 2)
            } else {
                return text.to_string();
            };
            if let Some(s) = set {
                g0 = s;
            }
            i += 1 + len;
            continue;
        }
        match b {
            // Delimiters of names and values return to the initial set (PS3.5 6.1.2.5.3).
            b'^' | b'=' | b'\\' | b'\r' | b'\n' | b'\t' | b'\x0c'
                if g0 != G0::Jis0208 && g0 != G0::Jis0212 =>
            {
                euc.push(b);
                g0 = initial;
                i += 1;
            }
            0x21..=0x7E if matches!(g0, G0::Jis0208 | G0::Jis0212) => {
                let Some(&second) = bytes.get(i + 1) else {
                    return text.to_string();
                };
                if g0 == G0::Jis0212 {
                    euc.push(0x8F);
                }
                euc.extend_from_slice(&[b | 0x80, second | 0x80]);
                i += 2;
            }
            0xA1..=0xDF => {
                euc.extend_from_slice(&[0x8E, b]);
                i += 1;
            }
            0x00..=0x7F => {
                euc.push(b);
                i += 1;
            }
            _ => return text.to_string(),
        }
    }
    let (decoded, _, errors) = encoding_rs::EUC_JP.decode(&euc);
    if errors {
        return text.to_string();
    }
    // JIS X 0201 Roman's two differences from ASCII (yen sign, overline) are read as ASCII,
    // as names and text use them in practice.
    decoded.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_2022_jp_text_is_decoded() {
        // PS3.5 H.3.1, as dicom-rs gives it (each byte a Latin-1 character).
        let raw =
            b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B";
        let latin1: String = raw.iter().map(|&b| b as char).collect();
        assert_eq!(
            decode(&latin1, false),
            "Yamada^Tarou=山田^太郎=やまだ^たろう"
        );
        // Plain ASCII, and text no ISO 2022 bytes could give, are left alone.
        assert_eq!(decode("Yamada^Tarou", false), "Yamada^Tarou");
        assert_eq!(decode("\u{1b}$B漢", false), "\u{1b}$B漢");
        // A truncated double-byte character, an unknown escape: left alone, no panic.
        assert_eq!(decode("\u{1b}$B;", false), "\u{1b}$B;");
        assert_eq!(decode("\u{1b}%G", false), "\u{1b}%G");
    }

    #[test]
    fn half_width_katakana_after_iso_2022_ir_13() {
        // PS3.5 H.3.2, as dicom-rs gives it (Windows-31J: katakana bytes as half-width).
        let text = "ﾔﾏﾀﾞ^ﾀﾛｳ=\u{1b}$B;3ED\u{1b}(J^\u{1b}$BB@O:\u{1b}(J=\u{1b}$B$d$^$@\u{1b}(J^\u{1b}$B$?$m$&\u{1b}(J";
        assert_eq!(decode(text, true), "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう");
    }

    #[test]
    fn only_japanese_code_extensions_are_handled_here() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(extensions(&v(&["", "ISO 2022 IR 87"])), Some(false));
        assert_eq!(
            extensions(&v(&["ISO 2022 IR 13", "ISO 2022 IR 87"])),
            Some(true)
        );
        assert_eq!(extensions(&v(&["ISO_IR 192"])), None);
        assert_eq!(extensions(&v(&["ISO 2022 IR 87"])), None);
        assert_eq!(extensions(&v(&["", "ISO 2022 IR 149"])), None);
    }
}
