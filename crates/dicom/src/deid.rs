//! De-identification to DICOM PS3.15's Basic Application Level Confidentiality Profile (Annex
//! E), for sharing images outside the care team or abroad.
//!
//! Every attribute of Table E.1-1 ([`crate::deid_table`]) is removed, emptied, replaced by a
//! dummy or, for UIDs, replaced by a UID derived from the original with the sender's secret
//! key (HMAC-SHA-256, as `2.25.` and 128 bits): the same study sent twice by the same sender
//! stays one study, and nobody without the key can go back. Private attributes, curves and
//! overlays are removed; sequences the table does not name are cleaned item by item. The
//! patient is named by a pseudonym the caller gives. The object records that it was
//! de-identified, and how (Patient Identity Removed, De-identification Method and its code
//! 113100). An object that says its pixels carry burned-in annotation is refused: the Basic
//! Profile does not clean pixels.
//!
//! What it returns beside the bytes, the map from each replacement UID to its original, is the
//! re-identification map: the caller keeps it at the sending institution only.

use crate::deid_table::{Action, BASIC_PROFILE, BASIC_PROFILE_REPEATING};
use crate::{Error, Instance, guarded};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value as DicomValue};
use dicom_core::{DataElement, Length, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::collections::BTreeMap;

/// A de-identified object.
#[derive(Debug, Clone)]
pub struct Deidentified {
    /// The Part 10 file, in the original's transfer syntax.
    pub bytes: Vec<u8>,
    /// Replacement UID → original UID (the re-identification map; keep it at the sender).
    pub uids: BTreeMap<String, String>,
}

/// De-identifies a Part 10 object: `key` is the sender's secret (at least 16 bytes), and
/// `pseudonym` names the patient in the copy (Patient Name and Patient ID).
pub fn deidentify(bytes: &[u8], key: &[u8], pseudonym: &str) -> Result<Deidentified, Error> {
    if key.len() < 16 {
        return Err(Error::Encode(
            "a de-identification key has at least 16 bytes".into(),
        ));
    }
    let instance = Instance::parse(bytes)?;
    guarded(
        Error::Encode("the object could not be de-identified".into()),
        || {
            let mut object = instance.object().clone();
            if object
                .element_opt(tags::BURNED_IN_ANNOTATION)
                .ok()
                .flatten()
                .and_then(|e| e.to_str().ok().map(|s| s.trim().to_ascii_uppercase()))
                .as_deref()
                == Some("YES")
            {
                return Err(Error::Encode(
                "the object's pixels carry burned-in annotation (which may name the patient); the Basic Profile does not clean pixels, so it is not shared de-identified".into(),
            ));
            }
            let mut cx = Cx {
                key,
                pseudonym,
                uids: BTreeMap::new(),
            };
            clean(&mut object, &mut cx, true);
            let new_sop = cx.uid(
                object
                    .meta()
                    .media_storage_sop_instance_uid
                    .trim_end_matches('\0'),
            );
            object.meta_mut().media_storage_sop_instance_uid = new_sop;
            object.put(DataElement::new(
                tags::PATIENT_IDENTITY_REMOVED,
                VR::CS,
                PrimitiveValue::from("YES"),
            ));
            object.put(DataElement::new(
                tags::DEIDENTIFICATION_METHOD,
                VR::LO,
                PrimitiveValue::from("DICOM PS3.15 E.1 Basic Profile (Kizuna)"),
            ));
            let mut code = InMemDicomObject::new_empty();
            code.put(DataElement::new(
                tags::CODE_VALUE,
                VR::SH,
                PrimitiveValue::from("113100"),
            ));
            code.put(DataElement::new(
                tags::CODING_SCHEME_DESIGNATOR,
                VR::SH,
                PrimitiveValue::from("DCM"),
            ));
            code.put(DataElement::new(
                tags::CODE_MEANING,
                VR::LO,
                PrimitiveValue::from("Basic Application Confidentiality Profile"),
            ));
            object.put(DataElement::new(
                tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
                VR::SQ,
                DataSetSequence::new(vec![code], Length::UNDEFINED),
            ));
            object.meta_mut().update_information_group_length();
            let mut out = Vec::with_capacity(bytes.len());
            object
                .write_all(&mut out)
                .map_err(|e| Error::Encode(e.to_string()))?;
            // `uid` maps original → replacement; the map kept is the other way round.
            let uids = cx
                .uids
                .into_iter()
                .map(|(original, new)| (new, original))
                .collect();
            Ok(Deidentified { bytes: out, uids })
        },
    )
}

struct Cx<'a> {
    key: &'a [u8],
    pseudonym: &'a str,
    /// Original → replacement.
    uids: BTreeMap<String, String>,
}

impl Cx<'_> {
    /// The replacement of `original`: `2.25.` and the first 128 bits of HMAC-SHA-256(key, UID).
    fn uid(&mut self, original: &str) -> String {
        let original = original.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        if original.is_empty() {
            return String::new();
        }
        if let Some(u) = self.uids.get(original) {
            return u.clone();
        }
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.key);
        let tag = aws_lc_rs::hmac::sign(&key, original.as_bytes());
        let mut n = [0u8; 16];
        n.copy_from_slice(&tag.as_ref()[..16]);
        let new = format!("2.25.{}", u128::from_be_bytes(n));
        self.uids.insert(original.to_string(), new.clone());
        new
    }
}

fn action(tag: Tag) -> Option<Action> {
    if let Ok(i) =
        BASIC_PROFILE.binary_search_by(|(g, e, _)| (*g, *e).cmp(&(tag.group(), tag.element())))
    {
        return Some(BASIC_PROFILE[i].2);
    }
    BASIC_PROFILE_REPEATING
        .iter()
        .find(|(mask, group, element, _)| {
            tag.group() & mask == *group && (*element == 0xFFFF || *element == tag.element())
        })
        .map(|r| r.3)
}

/// Applies the profile to every attribute of `object`, and to the items of its sequences.
fn clean(object: &mut InMemDicomObject, cx: &mut Cx, top: bool) {
    let present: Vec<(Tag, VR)> = object.iter().map(|e| (e.tag(), e.vr())).collect();
    for (tag, vr) in present {
        if tag.group() % 2 == 1 {
            object.remove_element(tag);
            continue;
        }
        if top && (tag == tags::PATIENT_NAME || tag == tags::PATIENT_ID) {
            object.put(DataElement::new(
                tag,
                vr,
                PrimitiveValue::from(cx.pseudonym),
            ));
            continue;
        }
        match action(tag) {
            Some(Action::Remove) => {
                object.remove_element(tag);
            }
            Some(Action::Zero) if vr == VR::SQ => {
                object.put(DataElement::new(
                    tag,
                    VR::SQ,
                    DataSetSequence::<InMemDicomObject>::empty(),
                ));
            }
            Some(Action::Zero) => {
                object.put(DataElement::empty(tag, vr));
            }
            Some(Action::Uid) => {
                let values: Vec<String> = object
                    .element(tag)
                    .ok()
                    .and_then(|e| e.to_multi_str().ok().map(|v| v.to_vec()))
                    .unwrap_or_default();
                let mapped: Vec<String> = values.iter().map(|v| cx.uid(v)).collect();
                object.put(DataElement::new(
                    tag,
                    VR::UI,
                    PrimitiveValue::Strs(mapped.into()),
                ));
            }
            Some(Action::Dummy) if vr == VR::SQ => clean_items(object, tag, cx),
            Some(Action::Dummy) => {
                object.put(dummy(tag, vr));
            }
            Some(Action::Keep | Action::Clean) | None => {
                if vr == VR::SQ {
                    clean_items(object, tag, cx);
                }
            }
        }
    }
}

fn clean_items(object: &mut InMemDicomObject, tag: Tag, cx: &mut Cx) {
    object.update_value(tag, |v| {
        if let DicomValue::Sequence(seq) = v {
            for item in seq.items_mut() {
                clean(item, cx, false);
            }
        }
    });
}

/// A value that names nobody, valid for its VR.
fn dummy(tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    let text = |s: &str| DataElement::new(tag, vr, PrimitiveValue::from(s));
    match vr {
        VR::DA => text("19000101"),
        VR::TM => text("000000"),
        VR::DT => text("19000101000000"),
        VR::PN => text("ANONYMOUS"),
        VR::AS => text("000Y"),
        VR::AE | VR::CS => text("ANONYMOUS"),
        VR::IS | VR::DS => text("0"),
        VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC => text("ANONYMIZED"),
        VR::US => DataElement::new(tag, vr, PrimitiveValue::from(0u16)),
        VR::SS => DataElement::new(tag, vr, PrimitiveValue::from(0i16)),
        VR::UL => DataElement::new(tag, vr, PrimitiveValue::from(0u32)),
        VR::SL => DataElement::new(tag, vr, PrimitiveValue::from(0i32)),
        VR::FL => DataElement::new(tag, vr, PrimitiveValue::from(0f32)),
        VR::FD => DataElement::new(tag, vr, PrimitiveValue::from(0f64)),
        _ => DataElement::empty(tag, vr),
    }
}
