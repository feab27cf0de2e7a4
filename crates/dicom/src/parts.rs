//! The parts of an object DICOMweb serves apart from the whole: its attributes as DICOM JSON
//! (PS3.18 F.2, bulk data by reference), a bulk data value's bytes, and a frame's pixels as
//! stored (compressed or not) or decoded.

use crate::{Error, Instance, guarded};
use dicom_core::header::Header;
use dicom_core::value::Value as DicomValue;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use serde_json::{Map, Value};

/// Binary values longer than this are given by reference (`BulkDataURI`), not inline.
const INLINE_LIMIT: usize = 1024;

/// A frame as stored or decoded, with its media type (PS3.18 Table 8.7.3-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
}

/// The media type of pixel data in transfer syntax `ts` (`application/octet-stream` for
/// uncompressed ones).
pub fn media_type_of(ts: &str) -> &'static str {
    match ts.trim_end_matches('\0') {
        "1.2.840.10008.1.2.4.50"
        | "1.2.840.10008.1.2.4.51"
        | "1.2.840.10008.1.2.4.57"
        | "1.2.840.10008.1.2.4.70" => "image/jpeg",
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "image/jls",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "image/jp2",
        "1.2.840.10008.1.2.4.92" | "1.2.840.10008.1.2.4.93" => "image/jpx",
        "1.2.840.10008.1.2.5" => "image/dicom-rle",
        _ => "application/octet-stream",
    }
}

impl Instance {
    /// The data set as DICOM JSON (the file meta group left out). Binary values over 1 kB,
    /// and pixel data always, are given as `BulkDataURI`s made by `bulk_uri` from the tag
    /// (`7FE00010`); nested sequences are given whole.
    pub fn metadata(&self, bulk_uri: &dyn Fn(&str) -> String) -> Result<Value, Error> {
        guarded(
            Error::NotDicom("the attributes could not be read".into()),
            || {
                let mut out = Map::new();
                for elem in self.object().iter() {
                    let tag = elem.tag();
                    let key = format!("{:04X}{:04X}", tag.group(), tag.element());
                    let vr = elem.vr();
                    let by_reference = match elem.value() {
                        DicomValue::PixelSequence(_) => true,
                        DicomValue::Primitive(p) => {
                            tag == tags::PIXEL_DATA
                                || (is_binary(vr) && p.calculate_byte_len() > INLINE_LIMIT)
                        }
                        DicomValue::Sequence(_) => false,
                    };
                    let v = if by_reference {
                        serde_json::json!({"vr": vr.to_string(), "BulkDataURI": bulk_uri(&key)})
                    } else {
                        dicom_json::to_value(elem).map_err(|e| Error::NotDicom(e.to_string()))?
                    };
                    out.insert(key, v);
                }
                Ok(Value::Object(out))
            },
        )
    }

    /// The bytes of the binary value `tag` (`7FE00010` …), little endian; for encapsulated
    /// pixel data, its fragments one after another. None if the object has no such binary
    /// value (text and numbers are in the metadata, not bulk data).
    pub fn bulk(&self, tag: &str) -> Option<(Vec<u8>, &'static str)> {
        let tag = parse_tag(tag)?;
        guarded(Error::Pixels(String::new()), || {
            let elem = self
                .object()
                .element_opt(tag)
                .ok()
                .flatten()
                .ok_or(Error::Missing("value"))?;
            match elem.value() {
                DicomValue::Primitive(p) if is_binary(elem.vr()) || tag == tags::PIXEL_DATA => {
                    Ok((p.to_bytes().into_owned(), "application/octet-stream"))
                }
                DicomValue::Primitive(_) => Err(Error::Missing("binary value")),
                DicomValue::PixelSequence(seq) => Ok((
                    seq.fragments().concat(),
                    media_type_of(self.object().meta().transfer_syntax()),
                )),
                DicomValue::Sequence(_) => Err(Error::Missing("binary value")),
            }
        })
        .ok()
    }

    /// Frame `n` (from 1) as stored: uncompressed, its bytes; compressed, its fragments.
    pub fn stored_frame(&self, n: u32) -> Result<Frame, Error> {
        let frames = self.frames();
        if n == 0 || n > frames {
            return Err(Error::NoFrame { asked: n, frames });
        }
        guarded(Error::Pixels("the frame could not be read".into()), || {
            let o = self.object();
            let elem = o
                .element_opt(tags::PIXEL_DATA)
                .ok()
                .flatten()
                .ok_or(Error::Pixels("the object has no pixel data".into()))?;
            let index = (n - 1) as usize;
            match elem.value() {
                DicomValue::Primitive(p) => {
                    let bytes = p.to_bytes();
                    let size = bytes.len() / frames as usize;
                    let part = bytes
                        .get(index * size..(index + 1) * size)
                        .ok_or(Error::Pixels(
                            "the pixel data is shorter than its frames".into(),
                        ))?;
                    Ok(Frame {
                        bytes: part.to_vec(),
                        media_type: "application/octet-stream",
                    })
                }
                DicomValue::PixelSequence(seq) => {
                    let fragments = seq.fragments();
                    let table = seq.offset_table();
                    let bytes = if frames == 1 {
                        fragments.concat()
                    } else if fragments.len() == frames as usize {
                        fragments[index].clone()
                    } else if table.len() == frames as usize {
                        // Fragments of frame n begin at its offset (item headers count 8 bytes).
                        let mut at = 0u64;
                        let begin = u64::from(table[index]);
                        let end = table.get(index + 1).map(|e| u64::from(*e));
                        let mut out = Vec::new();
                        for f in fragments {
                            if at >= begin && end.is_none_or(|e| at < e) {
                                out.extend_from_slice(f);
                            }
                            at += 8 + f.len() as u64;
                        }
                        out
                    } else {
                        return Err(Error::Pixels(
                            "the frames of the pixel data cannot be told apart".into(),
                        ));
                    };
                    Ok(Frame {
                        bytes,
                        media_type: media_type_of(o.meta().transfer_syntax()),
                    })
                }
                DicomValue::Sequence(_) => {
                    Err(Error::Pixels("the pixel data is a sequence".into()))
                }
            }
        })
    }

    /// Frame `n` (from 1) decoded to uncompressed samples, little endian, as an uncompressed
    /// transfer syntax would hold them.
    pub fn decoded_frame(&self, n: u32) -> Result<Frame, Error> {
        let ts = self
            .object()
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0');
        if media_type_of(ts) == "application/octet-stream" {
            return self.stored_frame(n);
        }
        let frames = self.frames();
        if n == 0 || n > frames {
            return Err(Error::NoFrame { asked: n, frames });
        }
        guarded(
            Error::Pixels("the frame could not be decoded".into()),
            || {
                use dicom_pixeldata::PixelDecoder;
                let decoded = self
                    .object()
                    .decode_pixel_data_frame(n - 1)
                    .map_err(|e| Error::Pixels(crate::render::codec_message(&e.to_string(), ts)))?;
                Ok(Frame {
                    bytes: decoded.data().to_vec(),
                    media_type: "application/octet-stream",
                })
            },
        )
    }
}

fn is_binary(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN
    )
}

/// `7FE00010` → the tag.
fn parse_tag(s: &str) -> Option<Tag> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let group = u16::from_str_radix(&s[..4], 16).ok()?;
    let element = u16::from_str_radix(&s[4..], 16).ok()?;
    Some(Tag(group, element))
}
