//! Kizuna as a service class user: sending studies to a peer (C-STORE) and getting studies from
//! one (C-GET, Kizuna acting as the storage SCP on the same association), each object received
//! kept like a C-STORE to Kizuna.

use crate::message::{self, Command};
use crate::{Incoming, Peer, Setup, field, keep, read_message, send, status, sub_store};
use dicom_core::{DataElement, VR, value::PrimitiveValue};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_ul::ClientAssociationOptions;
use kizuna_records::Records;
use kizuna_store::imaging::{Column, ImageQuery, Level, Test};
use std::collections::BTreeSet;

/// What a transfer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transferred {
    pub completed: usize,
    pub failed: usize,
}

/// Storage SOP classes offered when getting studies (what modalities send most).
const STORAGE: &[&str] = &[
    uids::CT_IMAGE_STORAGE,
    uids::ENHANCED_CT_IMAGE_STORAGE,
    uids::MR_IMAGE_STORAGE,
    uids::ENHANCED_MR_IMAGE_STORAGE,
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::ULTRASOUND_IMAGE_STORAGE,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
    uids::NUCLEAR_MEDICINE_IMAGE_STORAGE,
    uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
];

/// The transfer syntaxes taken when getting studies: as the peer keeps them.
const SYNTAXES: &[&str] = &[
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEG_LOSSLESS,
    uids::JPEGLS_LOSSLESS,
    uids::JPEGLS_NEAR_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
    uids::RLE_LOSSLESS,
    uids::JPEG_BASELINE8_BIT,
];

/// Sends every object of `studies` the caller of `records` may see to `peer`, one association,
/// each object in the transfer syntax it is kept in; `progress` gets (done, of).
pub async fn send_studies(
    records: &Records,
    setup: &Setup,
    peer: &Peer,
    studies: &[String],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Transferred, String> {
    let found = records
        .find_images(ImageQuery {
            level: Level::Instance,
            filters: vec![(Column::StudyUid, Test::AnyOf(studies.to_vec()))],
            offset: 0,
            limit: None,
            with_attrs: false,
            access: None,
        })
        .await
        .map_err(|f| format!("the studies could not be found ({})", f.status))?;
    if found.is_empty() {
        return Err("no such study is kept here (or shared with you)".into());
    }
    let mut assoc = open_for(
        &setup.ae_title,
        peer,
        found
            .iter()
            .map(|f| (f.sop_class.clone(), f.transfer_syntax.clone())),
    )
    .await?;
    let mut done = Transferred::default();
    for (n, f) in found.iter().enumerate() {
        let ok = match setup.blobs.get(&f.blob).await {
            Ok(file) => match kizuna_dicom::file::data_set_of(&file) {
                Ok(placed) => sub_store(&mut assoc, &file, &placed, 1 + n as u16, None).await?,
                Err(_) => false,
            },
            Err(e) => {
                tracing::error!(error = %e, "a kept image could not be read from object storage");
                false
            }
        };
        if ok {
            done.completed += 1;
        } else {
            done.failed += 1;
        }
        progress(n + 1, found.len());
    }
    let _ = dicom_ul::association::AsyncAssociation::release(assoc).await;
    Ok(done)
}

/// Sends Part 10 files to `peer` by C-STORE on one association (each in its own transfer
/// syntax): what the benchmark's DIMSE client does, the same for every server.
pub async fn store_files(
    calling_ae: &str,
    peer: &Peer,
    files: &[bytes::Bytes],
) -> Result<Transferred, String> {
    let mut placed = Vec::with_capacity(files.len());
    for f in files {
        placed.push(kizuna_dicom::file::data_set_of(f).map_err(|e| e.to_string())?);
    }
    let mut assoc = open_for(
        calling_ae,
        peer,
        placed
            .iter()
            .map(|p| (p.sop_class.clone(), p.transfer_syntax.clone())),
    )
    .await?;
    let mut done = Transferred::default();
    for (n, (file, p)) in files.iter().zip(&placed).enumerate() {
        if sub_store(&mut assoc, file, p, 1 + (n % 60000) as u16, None).await? {
            done.completed += 1;
        } else {
            done.failed += 1;
        }
    }
    let _ = dicom_ul::association::AsyncAssociation::release(assoc).await;
    Ok(done)
}

/// An association to `peer` for storing objects of these (SOP class, transfer syntax) pairs,
/// one presentation context each.
pub(crate) async fn open_for(
    calling_ae: &str,
    peer: &Peer,
    pairs: impl Iterator<Item = (String, String)>,
) -> Result<dicom_ul::association::AsyncClientAssociation<tokio::net::TcpStream>, String> {
    let mut pairs: Vec<(String, String)> = pairs.collect();
    pairs.sort();
    pairs.dedup();
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(calling_ae.to_string())
        .called_ae_title(peer.ae_title.clone());
    for (class, ts) in &pairs {
        options = options.with_presentation_context(class.clone(), vec![ts.clone()]);
    }
    establish(options, peer).await
}

/// An association with `peer` as `options` ask, or why it could not be had. Commands and data
/// sets are small writes each: they are sent at once (TCP_NODELAY), not held for the peer's
/// delayed acknowledgement.
async fn establish(
    options: ClientAssociationOptions<'_>,
    peer: &Peer,
) -> Result<dicom_ul::association::AsyncClientAssociation<tokio::net::TcpStream>, String> {
    let mut assoc = options
        .establish_async(peer.address.clone())
        .await
        .map_err(|e| {
            format!(
                "{} at {} could not be reached: {e}",
                peer.ae_title, peer.address
            )
        })?;
    let _ = assoc.inner_stream().set_nodelay(true);
    Ok(assoc)
}

/// Gets `study` from `peer` by C-GET, keeping each object received (as the caller of
/// `records`: its patient must be known, as for any object sent to Kizuna).
pub async fn get_study(
    records: &Records,
    setup: &Setup,
    peer: &Peer,
    study: &str,
) -> Result<Transferred, String> {
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(setup.ae_title.clone())
        .called_ae_title(peer.ae_title.clone())
        .with_presentation_context(
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            vec![
                uids::EXPLICIT_VR_LITTLE_ENDIAN,
                uids::IMPLICIT_VR_LITTLE_ENDIAN,
            ],
        );
    for class in STORAGE {
        options = options
            .with_presentation_context(*class, SYNTAXES.to_vec())
            .with_role_selection(*class, true, true);
    }
    let mut assoc = establish(options, peer).await?;
    let Some(get) = assoc
        .presentation_contexts()
        .iter()
        .find(|c| {
            c.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
                && c.abstract_syntax.trim_end_matches('\0')
                    == uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET
        })
        .map(|c| (c.id, c.transfer_syntax.trim_end_matches('\0').to_string()))
    else {
        return Err(format!(
            "{} does not offer C-GET (Study Root)",
            peer.ae_title
        ));
    };
    let mut identifier = InMemDicomObject::new_empty();
    identifier.put(DataElement::new(
        tags::QUERY_RETRIEVE_LEVEL,
        VR::CS,
        PrimitiveValue::from("STUDY"),
    ));
    identifier.put(DataElement::new(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(study),
    ));
    let mut rq = Command::new(
        field::C_GET_RQ,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
        true,
    );
    rq.set_us(tags::MESSAGE_ID, 1);
    rq.set_us(tags::PRIORITY, 0);
    let data = message::write_data_set(&identifier, &get.1)?;
    send(&mut assoc, get.0, &rq, Some(&data)).await?;
    let mut done = Transferred::default();
    let mut studies = BTreeSet::new();
    loop {
        let (pc, command, data) = match read_message(&mut assoc).await? {
            Incoming::Message(pc, c, d) => (pc, c, d),
            _ => {
                return Err(format!(
                    "{} ended the association before the C-GET finished",
                    peer.ae_title
                ));
            }
        };
        match command.field() {
            field::C_STORE_RQ => {
                let ts = crate::transfer_syntax(&assoc, pc);
                let kept = keep(records, setup, &command, &ts, data, None).await;
                let code = kept.code;
                if code == status::SUCCESS {
                    done.completed += 1;
                    if let Some(p) = kept.placed {
                        studies.insert(p.study_uid);
                    }
                } else {
                    done.failed += 1;
                    tracing::warn!(
                        comment = kept.comment.as_deref().unwrap_or(""),
                        "an object got was not kept"
                    );
                }
                let mut rsp = Command::response(&command, field::C_STORE_RSP, code, false);
                if let Some(sop) = command.text(tags::AFFECTED_SOP_INSTANCE_UID) {
                    rsp.set_text(tags::AFFECTED_SOP_INSTANCE_UID, VR::UI, &sop);
                }
                send(&mut assoc, pc, &rsp, None).await?;
            }
            field::C_GET_RSP => {
                let s = command.us(tags::STATUS).unwrap_or(0xFFFF);
                if s == status::PENDING {
                    continue;
                }
                if s != status::SUCCESS && s != status::SUB_FAILURES {
                    let _ = dicom_ul::association::AsyncAssociation::release(assoc).await;
                    return Err(format!(
                        "{} refused the C-GET (status 0x{s:04X})",
                        peer.ae_title
                    ));
                }
                break;
            }
            other => {
                return Err(format!(
                    "{} sent an unexpected command 0x{other:04X}",
                    peer.ae_title
                ));
            }
        }
    }
    let _ = dicom_ul::association::AsyncAssociation::release(assoc).await;
    let studies: Vec<String> = studies.into_iter().collect();
    records.refresh_studies(&studies).await.map_err(|f| {
        format!(
            "the studies got could not be brought up to date ({})",
            f.status
        )
    })?;
    Ok(done)
}
