//! Part 10 files and the data sets inside them: DIMSE carries a data set alone, in the transfer
//! syntax of its presentation context; a kept object is a whole file. A receiver builds the
//! file meta information around the data set it got, byte for byte; a sender takes the data
//! set out of the file it keeps.

use crate::{Error, guarded};
use dicom_object::FileMetaTable;
use dicom_object::meta::FileMetaTableBuilder;

/// Kizuna's implementation class UID and version name, in the files it builds.
pub const IMPLEMENTATION_CLASS_UID: &str = "1.2.826.0.1.3680043.10.1435.1";
pub const IMPLEMENTATION_VERSION: &str = "KIZUNA_0_1";

/// What the file meta information says of a file's data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub sop_class: String,
    pub sop_instance: String,
    pub transfer_syntax: String,
    /// Where the data set begins in the file.
    pub offset: usize,
}

/// The file holding `data_set` (bytes in `transfer_syntax`, as received), with a preamble and
/// file meta information naming it.
pub fn file_of(
    sop_class: &str,
    sop_instance: &str,
    transfer_syntax: &str,
    data_set: &[u8],
) -> Result<Vec<u8>, Error> {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(transfer_syntax)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION)
        .build()
        .map_err(|e| Error::NotDicom(e.to_string()))?;
    // The preamble (unused: zeros), the prefix, then the meta information group.
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    meta.write(&mut out)
        .map_err(|e| Error::NotDicom(e.to_string()))?;
    out.extend_from_slice(data_set);
    Ok(out)
}

/// Where a file's data set is, and what its meta information says.
pub fn data_set_of(file: &[u8]) -> Result<Placed, Error> {
    guarded(
        Error::NotDicom("the file meta information could not be read".into()),
        || {
            let start = if file.get(128..132) == Some(b"DICM") {
                128
            } else if file.get(..4) == Some(b"DICM") {
                0
            } else {
                return Err(Error::NotDicom("no DICM prefix".into()));
            };
            let meta = FileMetaTable::from_reader(&file[start..])
                .map_err(|e| Error::NotDicom(e.to_string()))?;
            // "DICM", then the group length element (12 bytes), then the group it counts.
            let offset = start + 4 + 12 + meta.information_group_length as usize;
            if offset > file.len() {
                return Err(Error::NotDicom(
                    "the file meta information runs past the end".into(),
                ));
            }
            let trim = |s: &str| s.trim_end_matches(['\0', ' ']).to_string();
            Ok(Placed {
                sop_class: trim(&meta.media_storage_sop_class_uid),
                sop_instance: trim(&meta.media_storage_sop_instance_uid),
                transfer_syntax: trim(&meta.transfer_syntax),
                offset,
            })
        },
    )
}
