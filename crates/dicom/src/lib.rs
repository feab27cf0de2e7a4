//! `kizuna-dicom`: DICOM objects as Kizuna reads them.
//!
//! Owns the parsing of a Part 10 object ([`Instance::parse`]: bytes in, kept as received), the
//! attributes that identify and index it ([`Keys`]: patient, study, series, instance, modality,
//! dates, geometry), and the decoding of its frames for people to look at ([`render`]: any
//! transfer syntax the codecs built in know, windowed, scaled to a viewport, encoded as PNG or
//! JPEG), its de-identification for sharing ([`deid`]: PS3.15's Basic Profile), and the Part 10
//! file around a data set received over the network ([`file`]). Text in Japanese ISO 2022 code
//! extensions (`\ISO 2022 IR 87`, as Japanese modalities write names) is decoded here, which
//! dicom-rs does not do.
//!
//! Must never: store, know HTTP or DIMSE, change the object it was given (objects are kept and
//! served byte for byte), log attribute values (they are patient data), or panic on any input.

pub mod deid;
pub mod deid_table;
pub mod file;
mod japanese;
mod parts;
mod render;

pub use parts::{Frame, media_type_of};
pub use render::{Format, Render, Window, render};

use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

/// Why an object could not be read or rendered.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not a DICOM Part 10 object (or cut short): what the reader said.
    #[error("not a DICOM Part 10 object: {0}")]
    NotDicom(String),
    /// A required attribute is missing or empty.
    #[error("the object has no {0}")]
    Missing(&'static str),
    /// The object has no pixel data, or pixel data Kizuna cannot decode.
    #[error("the pixel data cannot be decoded: {0}")]
    Pixels(String),
    /// A frame number beyond the object's frames (frames count from 1).
    #[error("there is no frame {asked}; the object has {frames}")]
    NoFrame { asked: u32, frames: u32 },
    /// The image could not be encoded.
    #[error("the image could not be encoded: {0}")]
    Encode(String),
}

/// The attributes of an object that identify it and its place in the record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    pub study_uid: String,
    pub series_uid: String,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub transfer_syntax: String,
    pub patient_id: Option<String>,
    /// As written (`^`-separated components; may carry ideographic and phonetic groups).
    pub patient_name: Option<String>,
    pub patient_birth_date: Option<String>,
    pub patient_sex: Option<String>,
    /// Issuer of Patient ID: whose patient number `patient_id` is.
    pub patient_issuer: Option<String>,
    pub study_date: Option<String>,
    pub study_time: Option<String>,
    pub accession_number: Option<String>,
    pub study_description: Option<String>,
    pub study_id: Option<String>,
    pub referring_physician: Option<String>,
    /// Timezone Offset From UTC (`+0900`), which the object's dates and times are in.
    pub timezone_offset: Option<String>,
    pub modality: Option<String>,
    pub series_description: Option<String>,
    pub series_number: Option<i32>,
    pub instance_number: Option<i32>,
    pub rows: Option<u16>,
    pub columns: Option<u16>,
    pub frames: u32,
}

/// A parsed DICOM object.
pub struct Instance {
    object: DefaultDicomObject,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Attribute values are patient data: never printed.
        f.debug_struct("Instance").finish_non_exhaustive()
    }
}

impl Instance {
    /// Parses a Part 10 object (with or without its 128-byte preamble).
    pub fn parse(bytes: &[u8]) -> Result<Instance, Error> {
        guarded(
            Error::NotDicom("the object could not be read".into()),
            || {
                let mut object = OpenFileOptions::new()
                    .read_preamble(ReadPreamble::Auto)
                    .from_reader(bytes)
                    .map_err(|e| Error::NotDicom(e.to_string()))?;
                japanese::decode_object(&mut object);
                Ok(Instance { object })
            },
        )
    }

    /// Its identifying attributes; an error if a UID that places it is missing.
    pub fn keys(&self) -> Result<Keys, Error> {
        let o = &self.object;
        let text = |tag| -> Option<String> {
            let v = o.element_opt(tag).ok().flatten()?.to_str().ok()?;
            let v = v.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            (!v.is_empty()).then(|| v.to_string())
        };
        let int = |tag| -> Option<i32> { text(tag)?.parse().ok() };
        let small =
            |tag| -> Option<u16> { o.element_opt(tag).ok().flatten()?.to_int::<u16>().ok() };
        let required = |tag, name| text(tag).ok_or(Error::Missing(name));
        Ok(Keys {
            study_uid: required(tags::STUDY_INSTANCE_UID, "Study Instance UID")?,
            series_uid: required(tags::SERIES_INSTANCE_UID, "Series Instance UID")?,
            sop_instance_uid: required(tags::SOP_INSTANCE_UID, "SOP Instance UID")?,
            sop_class_uid: required(tags::SOP_CLASS_UID, "SOP Class UID")?,
            transfer_syntax: o
                .meta()
                .transfer_syntax()
                .trim_end_matches('\0')
                .to_string(),
            patient_id: text(tags::PATIENT_ID),
            patient_name: text(tags::PATIENT_NAME),
            patient_birth_date: text(tags::PATIENT_BIRTH_DATE),
            patient_sex: text(tags::PATIENT_SEX),
            patient_issuer: text(tags::ISSUER_OF_PATIENT_ID),
            study_date: text(tags::STUDY_DATE),
            study_time: text(tags::STUDY_TIME),
            accession_number: text(tags::ACCESSION_NUMBER),
            study_description: text(tags::STUDY_DESCRIPTION),
            study_id: text(tags::STUDY_ID),
            referring_physician: text(tags::REFERRING_PHYSICIAN_NAME),
            timezone_offset: text(tags::TIMEZONE_OFFSET_FROM_UTC),
            modality: text(tags::MODALITY),
            series_description: text(tags::SERIES_DESCRIPTION),
            series_number: int(tags::SERIES_NUMBER),
            instance_number: int(tags::INSTANCE_NUMBER),
            rows: small(tags::ROWS),
            columns: small(tags::COLUMNS),
            frames: self.frames(),
        })
    }

    /// Its frames: Number of Frames, else one if it has pixel data, else none.
    pub fn frames(&self) -> u32 {
        let o = &self.object;
        let given = o
            .element_opt(tags::NUMBER_OF_FRAMES)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok()?.trim().parse::<u32>().ok());
        given.unwrap_or_else(|| u32::from(o.element_opt(tags::PIXEL_DATA).ok().flatten().is_some()))
    }

    pub(crate) fn object(&self) -> &DefaultDicomObject {
        &self.object
    }
}

/// Runs `f`, answering `on_panic` if a panic inside the DICOM libraries (on input they did
/// not expect) cuts it short: no input may bring the server down.
pub(crate) fn guarded<T>(
    on_panic: Error,
    f: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(Err(on_panic))
}
