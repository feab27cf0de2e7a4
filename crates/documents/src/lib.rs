//! `kizuna-documents`: what is submitted to a sharing service as clinical documents, as pure
//! functions.
//!
//! Owns the reading of a submission: which kind a Bundle is (one of Japan's three documents,
//! the referral letter 診療情報提供書, the discharge summary 退院時サマリー and the checkup report
//! 健康診断結果報告書; another FHIR document; or a JP-CLINS collection of the six information), the
//! rules the specifications state beyond what profiles check ([`read`]), the entries kept as
//! searchable resources ([`entries`]), and a readable HTML rendering ([`render`]).
//!
//! Must never: store or read records, read the clock, know HTTP, or decide who may see what
//! (the caller checks that the submitting institution is the author, and that the patient is
//! known).

mod read;
mod render;
pub mod summary;

pub use read::{Relation, Submission, entries, read};
pub use render::{render, sanitize_xhtml};

/// The system of the 10-digit medical institution code (JP Core).
pub const INSTITUTION_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
/// The code system of document types (JP-CLINS).
pub const DOC_TYPE_SYSTEM: &str = "http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes";
/// The code system of document sections (JP-CLINS).
pub const SECTION_SYSTEM: &str = "http://jpfhir.jp/fhir/clins/CodeSystem/document-section";
/// The code system of the sharing service's indications: `LTS` (long-term storage),
/// `UNINFORMED` (not yet disclosed to the patient), `UNDELIVERED`.
pub const INDICATION_SYSTEM: &str = "http://jpfhir.jp/fhir/clins/CodeSystem/JP_ehrshrs_indication";
/// The tag system linking a stored entry (and the stored document and its index) to the
/// `DocumentReference` of the document it came from; the code is that DocumentReference's id.
pub const DOCUMENT_TAG: &str = "urn:kizuna:document";
/// The tag system naming the institution (10-digit code) a document is addressed to.
pub const ADDRESSEE_TAG: &str = "urn:kizuna:addressee";
/// The media type a document is kept and returned as.
pub const DOCUMENT_MEDIA_TYPE: &str = "application/fhir+json";

/// The kind of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 診療情報提供書 (document type 57133-1): routed to its addressee.
    Referral,
    /// 退院時サマリー (18842-5): shared only with a referral letter it appends to.
    DischargeSummary,
    /// 健康診断結果報告書 (JPGCHKUP01).
    CheckupReport,
    /// Another FHIR document (a Composition first): kept and rendered the same way.
    Document,
    /// A JP-CLINS collection of the six information (a Patient first).
    ClinicalInformation,
}

impl Kind {
    /// The document type code (JP-CLINS `doc-typecodes`) of the three documents.
    pub fn type_code(self) -> Option<&'static str> {
        match self {
            Kind::Referral => Some("57133-1"),
            Kind::DischargeSummary => Some("18842-5"),
            Kind::CheckupReport => Some("JPGCHKUP01"),
            Kind::Document | Kind::ClinicalInformation => None,
        }
    }

    /// The kind of a document of type `code`.
    pub fn of_type_code(code: &str) -> Kind {
        match code {
            "57133-1" => Kind::Referral,
            "18842-5" => Kind::DischargeSummary,
            "JPGCHKUP01" => Kind::CheckupReport,
            _ => Kind::Document,
        }
    }

    /// Its name in Japanese and in English.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Referral => ("診療情報提供書", "Referral letter"),
            Kind::DischargeSummary => ("退院時サマリー", "Discharge summary"),
            Kind::CheckupReport => ("健康診断結果報告書", "Health checkup report"),
            Kind::Document => ("臨床文書", "Clinical document"),
            Kind::ClinicalInformation => ("6情報", "Clinical information"),
        }
    }
}
