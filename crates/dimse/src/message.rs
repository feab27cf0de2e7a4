//! DIMSE messages (PS3.7 §9, Annex E): command sets encoded in Implicit VR Little Endian with
//! their group length, data sets in the presentation context's transfer syntax, and the
//! P-DATA fragments they travel in. dicom-ul carries associations and PDUs; this module gives
//! them meaning.

use dicom_core::dictionary::DataDictionary;
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

/// Command Field values (PS3.7 E.1-1).
pub mod field {
    pub const C_STORE_RQ: u16 = 0x0001;
    pub const C_STORE_RSP: u16 = 0x8001;
    pub const C_GET_RQ: u16 = 0x0010;
    pub const C_GET_RSP: u16 = 0x8010;
    pub const C_FIND_RQ: u16 = 0x0020;
    pub const C_FIND_RSP: u16 = 0x8020;
    pub const C_MOVE_RQ: u16 = 0x0021;
    pub const C_MOVE_RSP: u16 = 0x8021;
    pub const C_ECHO_RQ: u16 = 0x0030;
    pub const C_ECHO_RSP: u16 = 0x8030;
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
}

/// Status codes (PS3.4, PS3.7 Annex C).
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    pub const PENDING: u16 = 0xFF00;
    pub const CANCEL: u16 = 0xFE00;
    /// Sub-operations complete, one or more failures or warnings.
    pub const SUB_FAILURES: u16 = 0xB000;
    pub const OUT_OF_RESOURCES_MATCHES: u16 = 0xA701;
    pub const OUT_OF_RESOURCES_SUBOPS: u16 = 0xA702;
    pub const MOVE_DESTINATION_UNKNOWN: u16 = 0xA801;
    pub const IDENTIFIER_DOES_NOT_MATCH: u16 = 0xA900;
    pub const UNABLE_TO_PROCESS: u16 = 0xC000;
    pub const REFUSED_NOT_AUTHORIZED: u16 = 0x0124;
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
}

/// "No data set follows" (Command Data Set Type).
const NO_DATA_SET: u16 = 0x0101;

/// A command set, read or to send.
#[derive(Debug, Clone)]
pub struct Command(pub InMemDicomObject);

impl Command {
    /// A new command: its field, SOP class, and whether a data set follows.
    pub fn new(command_field: u16, sop_class: &str, with_data: bool) -> Command {
        let mut o = InMemDicomObject::new_empty();
        o.put(DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            uid(sop_class),
        ));
        o.put(DataElement::new(
            tags::COMMAND_FIELD,
            VR::US,
            PrimitiveValue::from(command_field),
        ));
        o.put(DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(if with_data { 0x0000 } else { NO_DATA_SET }),
        ));
        Command(o)
    }

    /// The response to `rq` with `status`.
    pub fn response(rq: &Command, command_field: u16, status: u16, with_data: bool) -> Command {
        let mut c = Command::new(
            command_field,
            &rq.text(tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default(),
            with_data,
        );
        c.set_us(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            rq.us(tags::MESSAGE_ID).unwrap_or(0),
        );
        c.set_us(tags::STATUS, status);
        c
    }

    /// A failed response to `rq`, with why as its Error Comment (cut to the 64 characters an LO
    /// holds).
    pub fn failure(rq: &Command, command_field: u16, status: u16, why: &str) -> Command {
        let mut c = Command::response(rq, command_field, status, false);
        c.set_text(
            tags::ERROR_COMMENT,
            VR::LO,
            &why.chars().take(64).collect::<String>(),
        );
        c
    }

    pub fn set_us(&mut self, tag: Tag, v: u16) {
        self.0
            .put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }

    pub fn set_text(&mut self, tag: Tag, vr: VR, v: &str) {
        let value = if vr == VR::UI {
            uid(v)
        } else {
            PrimitiveValue::from(v)
        };
        self.0.put(DataElement::new(tag, vr, value));
    }

    pub fn us(&self, tag: Tag) -> Option<u16> {
        self.0.element_opt(tag).ok().flatten()?.to_int::<u16>().ok()
    }

    pub fn text(&self, tag: Tag) -> Option<String> {
        let v = self.0.element_opt(tag).ok().flatten()?.to_str().ok()?;
        let v = v.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        (!v.is_empty()).then(|| v.to_string())
    }

    pub fn field(&self) -> u16 {
        self.us(tags::COMMAND_FIELD).unwrap_or(0)
    }

    pub fn has_data(&self) -> bool {
        self.us(tags::COMMAND_DATA_SET_TYPE)
            .is_some_and(|t| t != NO_DATA_SET)
    }

    /// The command set's bytes, with its group length first.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let mut body = self.0.clone();
        body.remove_element(tags::COMMAND_GROUP_LENGTH);
        let mut bytes = Vec::new();
        body.write_dataset_with_ts(&mut bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| e.to_string())?;
        let mut with_length = InMemDicomObject::new_empty();
        with_length.put(DataElement::new(
            tags::COMMAND_GROUP_LENGTH,
            VR::UL,
            PrimitiveValue::from(bytes.len() as u32),
        ));
        let mut out = Vec::with_capacity(bytes.len() + 12);
        with_length
            .write_dataset_with_ts(&mut out, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&bytes);
        Ok(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Command, String> {
        InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
            .map(Command)
            .map_err(|e| e.to_string())
    }
}

/// A UID value, padded to even length with NUL as the standard asks.
fn uid(s: &str) -> PrimitiveValue {
    let mut v = s.to_string();
    if v.len() % 2 == 1 {
        v.push('\0');
    }
    PrimitiveValue::from(v)
}

/// A data set read from its bytes in transfer syntax `ts`.
pub fn read_data_set(bytes: &[u8], ts: &str) -> Result<InMemDicomObject, String> {
    let syntax = TransferSyntaxRegistry
        .get(ts.trim_end_matches('\0'))
        .ok_or_else(|| format!("unknown transfer syntax {ts}"))?;
    InMemDicomObject::read_dataset_with_ts(bytes, syntax).map_err(|e| e.to_string())
}

/// A data set's bytes in transfer syntax `ts`.
pub fn write_data_set(o: &InMemDicomObject, ts: &str) -> Result<Vec<u8>, String> {
    let syntax = TransferSyntaxRegistry
        .get(ts.trim_end_matches('\0'))
        .ok_or_else(|| format!("unknown transfer syntax {ts}"))?;
    let mut out = Vec::new();
    o.write_dataset_with_ts(&mut out, syntax)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The VR the dictionary gives a tag (UN if none).
pub fn vr_of(tag: Tag) -> VR {
    dicom_dictionary_std::StandardDataDictionary
        .by_tag(tag)
        .and_then(|e| e.vr.exact())
        .unwrap_or(VR::UN)
}
