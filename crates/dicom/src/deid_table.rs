//! DICOM PS3.15 Table E.1-1, the Basic Application Level Confidentiality Profile's action for
//! each attribute (generated from KitwareMedical/dicom-anonymizer, file
//! `dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py` as shipped in its PyPI
//! release `dicom-anonymizer` 2.1.0 (file sha256
//! a6b68dc888ab4b1ebfc9979796df194d9f1d836bc88ece7793dee93b1c98e1c2), which the project's
//! `scripts/scrap_DICOM_fields.py` scrapes from the "Basic Prof." column of Table E.1-1 of the
//! DICOM standard, edition 2026c; that file is Copyright 2020, Kitware Europe, BSD-3-Clause.
//! The table itself is the DICOM standard's, free to use).
//!
//! Taken row for row; the table's compound action codes are kept in brackets after the name.
//! Only the order (by tag) and one name (a stray "(see Note 11)" glued to "Icon Image Sequence")
//! were touched. Cross-checked: every tag's name agrees with pydicom 3.0.2's data dictionary,
//! apart from 25 attributes newer than that dictionary ((0008,1301)-(0008,1304) diagnosis code
//! sequences; (0010,0011)-(0010,0016) names to use and pronouns; (0010,0041)-(0010,0047) gender
//! identity and sex parameters for clinical use; (0010,2162) Ethnic Groups; (0040,A034),
//! (0040,A035) Effective Start/Stop DateTime; (0040,B034), (0040,B036), (0040,B03B), (0040,B03F)
//! waveform annotation and montage; (0040,E012) Display URI). Every row of the 2020 edition's
//! table (Innolitics `dicom-standard` 0.1.0, `confidentiality_profile_attributes.json`, MIT) is
//! here, with the same action except four the standard has changed since: Patient ID (Z -> Z/D),
//! Source Serial Number (X -> X/Z), Treatment Machine Name (X -> X/Z), Treatment Site (D -> X/D).
//!
//! 652 rows with a concrete tag are in [`BASIC_PROFILE`] (by code: X 412, D 93, U 55, Z 42, X/D 23,
//! X/Z 11, X/Z/D 8, Z/D 6, X/Z/U* 2); the 3 rows over repeating groups are in
//! [`BASIC_PROFILE_REPEATING`]. The table's remaining row, "Private Attributes" ((gggg,eeee) with
//! gggg odd: X), is a rule, not a tag, and is in neither table. The Basic Profile column uses no
//! K or C in the editions compared (the scraper would have dropped such a row silently, as it
//! keeps only D, Z, X, U and the compound codes): [`Action::Keep`] and [`Action::Clean`] serve
//! the profile's options (the other columns of Table E.1-1), which are not tabulated here.

/// What the Basic Profile does to an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// D: replace with a non-zero-length dummy value consistent with the VR.
    Dummy,
    /// Z: replace with a zero-length value (or a dummy).
    Zero,
    /// X: remove.
    Remove,
    /// K: keep.
    Keep,
    /// C: clean (replace with values of similar meaning known not to identify).
    Clean,
    /// U: replace with a non-zero-length UID that is internally consistent within a set of instances.
    Uid,
}

/// (group, element, action). For the compound actions of the table (Z/D, X/Z, X/D, X/Z/D,
/// X/Z/U*), the strongest that keeps the object valid is given: Z/D -> Zero, X/Z -> Zero,
/// X/D -> Dummy, X/Z/D -> Zero, X/Z/U* -> Uid. Sorted by tag.
pub const BASIC_PROFILE: &[(u16, u16, Action)] = &[
    (0x0000, 0x1000, Action::Remove), // Affected SOP Instance UID
    (0x0000, 0x1001, Action::Uid),    // Requested SOP Instance UID
    (0x0002, 0x0003, Action::Uid),    // Media Storage SOP Instance UID
    (0x0004, 0x1511, Action::Uid),    // Referenced SOP Instance UID in File
    (0x0008, 0x0012, Action::Dummy),  // Instance Creation Date [X/D]
    (0x0008, 0x0013, Action::Zero),   // Instance Creation Time [X/Z/D]
    (0x0008, 0x0014, Action::Uid),    // Instance Creator UID
    (0x0008, 0x0015, Action::Remove), // Instance Coercion DateTime
    (0x0008, 0x0017, Action::Uid),    // Acquisition UID
    (0x0008, 0x0018, Action::Uid),    // SOP Instance UID
    (0x0008, 0x0019, Action::Uid),    // Pyramid UID
    (0x0008, 0x0020, Action::Zero),   // Study Date
    (0x0008, 0x0021, Action::Dummy),  // Series Date [X/D]
    (0x0008, 0x0022, Action::Zero),   // Acquisition Date [X/Z]
    (0x0008, 0x0023, Action::Zero),   // Content Date [Z/D]
    (0x0008, 0x0024, Action::Remove), // Overlay Date
    (0x0008, 0x0025, Action::Remove), // Curve Date
    (0x0008, 0x002A, Action::Zero),   // Acquisition DateTime [X/Z/D]
    (0x0008, 0x0030, Action::Zero),   // Study Time
    (0x0008, 0x0031, Action::Dummy),  // Series Time [X/D]
    (0x0008, 0x0032, Action::Zero),   // Acquisition Time [X/Z]
    (0x0008, 0x0033, Action::Zero),   // Content Time [Z/D]
    (0x0008, 0x0034, Action::Remove), // Overlay Time
    (0x0008, 0x0035, Action::Remove), // Curve Time
    (0x0008, 0x0050, Action::Zero),   // Accession Number
    (0x0008, 0x0054, Action::Remove), // Retrieve AE Title
    (0x0008, 0x0055, Action::Remove), // Station AE Title
    (0x0008, 0x0058, Action::Uid),    // Failed SOP Instance UID List
    (0x0008, 0x0080, Action::Zero),   // Institution Name [X/Z/D]
    (0x0008, 0x0081, Action::Remove), // Institution Address
    (0x0008, 0x0082, Action::Zero),   // Institution Code Sequence [X/Z/D]
    (0x0008, 0x0090, Action::Zero),   // Referring Physician's Name
    (0x0008, 0x0092, Action::Remove), // Referring Physician's Address
    (0x0008, 0x0094, Action::Remove), // Referring Physician's Telephone Numbers
    (0x0008, 0x0096, Action::Remove), // Referring Physician Identification Sequence
    (0x0008, 0x009C, Action::Zero),   // Consulting Physician's Name
    (0x0008, 0x009D, Action::Remove), // Consulting Physician Identification Sequence
    (0x0008, 0x0106, Action::Dummy),  // Context Group Version
    (0x0008, 0x0107, Action::Dummy),  // Context Group Local Version
    (0x0008, 0x0201, Action::Remove), // Timezone Offset From UTC
    (0x0008, 0x1000, Action::Remove), // Network ID
    (0x0008, 0x1010, Action::Zero),   // Station Name [X/Z/D]
    (0x0008, 0x1030, Action::Remove), // Study Description
    (0x0008, 0x103E, Action::Remove), // Series Description
    (0x0008, 0x1040, Action::Remove), // Institutional Department Name
    (0x0008, 0x1041, Action::Remove), // Institutional Department Type Code Sequence
    (0x0008, 0x1048, Action::Remove), // Physician(s) of Record
    (0x0008, 0x1049, Action::Remove), // Physician(s) of Record Identification Sequence
    (0x0008, 0x1050, Action::Remove), // Performing Physician's Name
    (0x0008, 0x1052, Action::Remove), // Performing Physician Identification Sequence
    (0x0008, 0x1060, Action::Remove), // Name of Physician(s) Reading Study
    (0x0008, 0x1062, Action::Remove), // Physician(s) Reading Study Identification Sequence
    (0x0008, 0x1070, Action::Zero),   // Operators' Name [X/Z/D]
    (0x0008, 0x1072, Action::Dummy),  // Operator Identification Sequence [X/D]
    (0x0008, 0x1080, Action::Remove), // Admitting Diagnoses Description
    (0x0008, 0x1084, Action::Remove), // Admitting Diagnoses Code Sequence
    (0x0008, 0x1088, Action::Remove), // Pyramid Description
    (0x0008, 0x1110, Action::Zero),   // Referenced Study Sequence [X/Z]
    (0x0008, 0x1111, Action::Zero),   // Referenced Performed Procedure Step Sequence [X/Z/D]
    (0x0008, 0x1120, Action::Remove), // Referenced Patient Sequence
    (0x0008, 0x1140, Action::Uid),    // Referenced Image Sequence [X/Z/U*]
    (0x0008, 0x1155, Action::Uid),    // Referenced SOP Instance UID
    (0x0008, 0x1195, Action::Uid),    // Transaction UID
    (0x0008, 0x1301, Action::Remove), // Principal Diagnosis Code Sequence
    (0x0008, 0x1302, Action::Remove), // Primary Diagnosis Code Sequence
    (0x0008, 0x1303, Action::Remove), // Secondary Diagnoses Code Sequence
    (0x0008, 0x1304, Action::Remove), // Histological Diagnoses Code Sequence
    (0x0008, 0x2111, Action::Remove), // Derivation Description
    (0x0008, 0x2112, Action::Uid),    // Source Image Sequence [X/Z/U*]
    (0x0008, 0x3010, Action::Uid),    // Irradiation Event UID
    (0x0008, 0x4000, Action::Remove), // Identifying Comments
    (0x0010, 0x0010, Action::Zero),   // Patient's Name
    (0x0010, 0x0011, Action::Remove), // Person Names to Use Sequence
    (0x0010, 0x0012, Action::Remove), // Name to Use
    (0x0010, 0x0013, Action::Remove), // Name to Use Comment
    (0x0010, 0x0014, Action::Remove), // Third Person Pronouns Sequence
    (0x0010, 0x0015, Action::Remove), // Pronoun Code Sequence
    (0x0010, 0x0016, Action::Remove), // Pronoun Comment
    (0x0010, 0x0020, Action::Zero),   // Patient ID [Z/D]
    (0x0010, 0x0021, Action::Remove), // Issuer of Patient ID
    (0x0010, 0x0030, Action::Zero),   // Patient's Birth Date
    (0x0010, 0x0032, Action::Remove), // Patient's Birth Time
    (0x0010, 0x0040, Action::Zero),   // Patient's Sex
    (0x0010, 0x0041, Action::Remove), // Gender Identity Sequence
    (0x0010, 0x0042, Action::Remove), // Sex Parameters for Clinical Use Category Comment
    (0x0010, 0x0043, Action::Remove), // Sex Parameters for Clinical Use Category Sequence
    (0x0010, 0x0044, Action::Remove), // Gender Identity Code Sequence
    (0x0010, 0x0045, Action::Remove), // Gender Identity Comment
    (0x0010, 0x0046, Action::Remove), // Sex Parameters for Clinical Use Category Code Sequence
    (0x0010, 0x0047, Action::Remove), // Sex Parameters for Clinical Use Category Reference
    (0x0010, 0x0050, Action::Remove), // Patient's Insurance Plan Code Sequence
    (0x0010, 0x0101, Action::Remove), // Patient's Primary Language Code Sequence
    (0x0010, 0x0102, Action::Remove), // Patient's Primary Language Modifier Code Sequence
    (0x0010, 0x1000, Action::Remove), // Other Patient IDs
    (0x0010, 0x1001, Action::Remove), // Other Patient Names
    (0x0010, 0x1002, Action::Remove), // Other Patient IDs Sequence
    (0x0010, 0x1005, Action::Remove), // Patient's Birth Name
    (0x0010, 0x1010, Action::Remove), // Patient's Age
    (0x0010, 0x1020, Action::Remove), // Patient's Size
    (0x0010, 0x1030, Action::Remove), // Patient's Weight
    (0x0010, 0x1040, Action::Remove), // Patient's Address
    (0x0010, 0x1050, Action::Remove), // Insurance Plan Identification
    (0x0010, 0x1060, Action::Remove), // Patient's Mother's Birth Name
    (0x0010, 0x1080, Action::Remove), // Military Rank
    (0x0010, 0x1081, Action::Remove), // Branch of Service
    (0x0010, 0x1090, Action::Remove), // Medical Record Locator
    (0x0010, 0x1100, Action::Remove), // Referenced Patient Photo Sequence
    (0x0010, 0x2000, Action::Remove), // Medical Alerts
    (0x0010, 0x2110, Action::Remove), // Allergies
    (0x0010, 0x2150, Action::Remove), // Country of Residence
    (0x0010, 0x2152, Action::Remove), // Region of Residence
    (0x0010, 0x2154, Action::Remove), // Patient's Telephone Numbers
    (0x0010, 0x2155, Action::Remove), // Patient's Telecom Information
    (0x0010, 0x2160, Action::Remove), // Ethnic Group
    (0x0010, 0x2161, Action::Remove), // Ethnic Group Code Sequence
    (0x0010, 0x2162, Action::Remove), // Ethnic Groups
    (0x0010, 0x2180, Action::Remove), // Occupation
    (0x0010, 0x21A0, Action::Remove), // Smoking Status
    (0x0010, 0x21B0, Action::Remove), // Additional Patient History
    (0x0010, 0x21C0, Action::Remove), // Pregnancy Status
    (0x0010, 0x21D0, Action::Remove), // Last Menstrual Date
    (0x0010, 0x21F0, Action::Remove), // Patient's Religious Preference
    (0x0010, 0x2203, Action::Zero),   // Patient's Sex Neutered [X/Z]
    (0x0010, 0x2297, Action::Remove), // Responsible Person
    (0x0010, 0x2299, Action::Remove), // Responsible Organization
    (0x0010, 0x4000, Action::Remove), // Patient Comments
    (0x0012, 0x0010, Action::Dummy),  // Clinical Trial Sponsor Name
    (0x0012, 0x0020, Action::Dummy),  // Clinical Trial Protocol ID
    (0x0012, 0x0021, Action::Zero),   // Clinical Trial Protocol Name
    (0x0012, 0x0022, Action::Remove), // Issuer of Clinical Trial Protocol ID
    (0x0012, 0x0023, Action::Remove), // Other Clinical Trial Protocol IDs Sequence
    (0x0012, 0x0030, Action::Zero),   // Clinical Trial Site ID
    (0x0012, 0x0031, Action::Zero),   // Clinical Trial Site Name
    (0x0012, 0x0032, Action::Remove), // Issuer of Clinical Trial Site ID
    (0x0012, 0x0040, Action::Dummy),  // Clinical Trial Subject ID
    (0x0012, 0x0041, Action::Remove), // Issuer of Clinical Trial Subject ID
    (0x0012, 0x0042, Action::Dummy),  // Clinical Trial Subject Reading ID
    (0x0012, 0x0043, Action::Remove), // Issuer of Clinical Trial Subject Reading ID
    (0x0012, 0x0050, Action::Zero),   // Clinical Trial Time Point ID
    (0x0012, 0x0051, Action::Remove), // Clinical Trial Time Point Description
    (0x0012, 0x0055, Action::Remove), // Issuer of Clinical Trial Time Point ID
    (0x0012, 0x0060, Action::Zero),   // Clinical Trial Coordinating Center Name
    (0x0012, 0x0071, Action::Remove), // Clinical Trial Series ID
    (0x0012, 0x0072, Action::Remove), // Clinical Trial Series Description
    (0x0012, 0x0073, Action::Remove), // Issuer of Clinical Trial Series ID
    (0x0012, 0x0081, Action::Dummy),  // Clinical Trial Protocol Ethics Committee Name
    (0x0012, 0x0082, Action::Remove), // Clinical Trial Protocol Ethics Committee Approval Number
    (0x0012, 0x0086, Action::Remove), // Ethics Committee Approval Effectiveness Start Date
    (0x0012, 0x0087, Action::Remove), // Ethics Committee Approval Effectiveness End Date
    (0x0014, 0x407C, Action::Remove), // Calibration Time
    (0x0014, 0x407E, Action::Remove), // Calibration Date
    (0x0016, 0x002B, Action::Remove), // Maker Note
    (0x0016, 0x004B, Action::Remove), // Device Setting Description
    (0x0016, 0x004D, Action::Remove), // Camera Owner Name
    (0x0016, 0x004E, Action::Remove), // Lens Specification
    (0x0016, 0x004F, Action::Remove), // Lens Make
    (0x0016, 0x0050, Action::Remove), // Lens Model
    (0x0016, 0x0051, Action::Remove), // Lens Serial Number
    (0x0016, 0x0070, Action::Remove), // GPS Version ID
    (0x0016, 0x0071, Action::Remove), // GPS Latitude Ref
    (0x0016, 0x0072, Action::Remove), // GPS Latitude
    (0x0016, 0x0073, Action::Remove), // GPS Longitude Ref
    (0x0016, 0x0074, Action::Remove), // GPS Longitude
    (0x0016, 0x0075, Action::Remove), // GPS Altitude Ref
    (0x0016, 0x0076, Action::Remove), // GPS Altitude
    (0x0016, 0x0077, Action::Remove), // GPS Time Stamp
    (0x0016, 0x0078, Action::Remove), // GPS Satellites
    (0x0016, 0x0079, Action::Remove), // GPS Status
    (0x0016, 0x007A, Action::Remove), // GPS Measure Mode
    (0x0016, 0x007B, Action::Remove), // GPS DOP
    (0x0016, 0x007C, Action::Remove), // GPS Speed Ref
    (0x0016, 0x007D, Action::Remove), // GPS Speed
    (0x0016, 0x007E, Action::Remove), // GPS Track Ref
    (0x0016, 0x007F, Action::Remove), // GPS Track
    (0x0016, 0x0080, Action::Remove), // GPS Img Direction Ref
    (0x0016, 0x0081, Action::Remove), // GPS Img Direction
    (0x0016, 0x0082, Action::Remove), // GPS Map Datum
    (0x0016, 0x0083, Action::Remove), // GPS Dest Latitude Ref
    (0x0016, 0x0084, Action::Remove), // GPS Dest Latitude
    (0x0016, 0x0085, Action::Remove), // GPS Dest Longitude Ref
    (0x0016, 0x0086, Action::Remove), // GPS Dest Longitude
    (0x0016, 0x0087, Action::Remove), // GPS Dest Bearing Ref
    (0x0016, 0x0088, Action::Remove), // GPS Dest Bearing
    (0x0016, 0x0089, Action::Remove), // GPS Dest Distance Ref
    (0x0016, 0x008A, Action::Remove), // GPS Dest Distance
    (0x0016, 0x008B, Action::Remove), // GPS Processing Method
    (0x0016, 0x008C, Action::Remove), // GPS Area Information
    (0x0016, 0x008D, Action::Remove), // GPS Date Stamp
    (0x0016, 0x008E, Action::Remove), // GPS Differential
    (0x0018, 0x0010, Action::Zero),   // Contrast/Bolus Agent [Z/D]
    (0x0018, 0x0027, Action::Remove), // Intervention Drug Stop Time
    (0x0018, 0x0035, Action::Remove), // Intervention Drug Start Time
    (0x0018, 0x1000, Action::Zero),   // Device Serial Number [X/Z/D]
    (0x0018, 0x1002, Action::Uid),    // Device UID
    (0x0018, 0x1004, Action::Remove), // Plate ID
    (0x0018, 0x1005, Action::Remove), // Generator ID
    (0x0018, 0x1007, Action::Remove), // Cassette ID
    (0x0018, 0x1008, Action::Remove), // Gantry ID
    (0x0018, 0x1009, Action::Remove), // Unique Device Identifier
    (0x0018, 0x100A, Action::Remove), // UDI Sequence
    (0x0018, 0x100B, Action::Uid),    // Manufacturer's Device Class UID
    (0x0018, 0x1010, Action::Remove), // Secondary Capture Device ID
    (0x0018, 0x1011, Action::Remove), // Hardcopy Creation Device ID
    (0x0018, 0x1012, Action::Remove), // Date of Secondary Capture
    (0x0018, 0x1014, Action::Remove), // Time of Secondary Capture
    (0x0018, 0x1030, Action::Dummy),  // Protocol Name [X/D]
    (0x0018, 0x1042, Action::Remove), // Contrast/Bolus Start Time
    (0x0018, 0x1043, Action::Remove), // Contrast/Bolus Stop Time
    (0x0018, 0x1072, Action::Remove), // Radiopharmaceutical Start Time
    (0x0018, 0x1073, Action::Remove), // Radiopharmaceutical Stop Time
    (0x0018, 0x1078, Action::Remove), // Radiopharmaceutical Start DateTime
    (0x0018, 0x1079, Action::Remove), // Radiopharmaceutical Stop DateTime
    (0x0018, 0x11BB, Action::Dummy),  // Acquisition Field Of View Label
    (0x0018, 0x1200, Action::Remove), // Date of Last Calibration
    (0x0018, 0x1201, Action::Remove), // Time of Last Calibration
    (0x0018, 0x1202, Action::Remove), // DateTime of Last Calibration
    (0x0018, 0x1203, Action::Zero),   // Calibration DateTime
    (0x0018, 0x1204, Action::Remove), // Date of Manufacture
    (0x0018, 0x1205, Action::Remove), // Date of Installation
    (0x0018, 0x1400, Action::Dummy),  // Acquisition Device Processing Description [X/D]
    (0x0018, 0x2042, Action::Uid),    // Target UID
    (0x0018, 0x4000, Action::Remove), // Acquisition Comments
    (0x0018, 0x5011, Action::Remove), // Transducer Identification Sequence
    (0x0018, 0x700A, Action::Dummy),  // Detector ID [X/D]
    (0x0018, 0x700C, Action::Dummy),  // Date of Last Detector Calibration [X/D]
    (0x0018, 0x700E, Action::Dummy),  // Time of Last Detector Calibration [X/D]
    (0x0018, 0x9074, Action::Dummy),  // Frame Acquisition DateTime
    (0x0018, 0x9151, Action::Dummy),  // Frame Reference DateTime
    (0x0018, 0x9185, Action::Remove), // Respiratory Motion Compensation Technique Description
    (0x0018, 0x9367, Action::Dummy),  // X-Ray Source ID
    (0x0018, 0x9369, Action::Dummy),  // Source Start DateTime
    (0x0018, 0x936A, Action::Dummy),  // Source End DateTime
    (0x0018, 0x9371, Action::Dummy),  // X-Ray Detector ID
    (0x0018, 0x9373, Action::Remove), // X-Ray Detector Label
    (0x0018, 0x937B, Action::Remove), // Multi-energy Acquisition Description
    (0x0018, 0x937F, Action::Remove), // Decomposition Description
    (0x0018, 0x9424, Action::Remove), // Acquisition Protocol Description
    (0x0018, 0x9516, Action::Dummy),  // Start Acquisition DateTime [X/D]
    (0x0018, 0x9517, Action::Dummy),  // End Acquisition DateTime [X/D]
    (0x0018, 0x9623, Action::Dummy),  // Functional Sync Pulse
    (0x0018, 0x9701, Action::Dummy),  // Decay Correction DateTime
    (0x0018, 0x9804, Action::Dummy),  // Exclusion Start DateTime
    (0x0018, 0x9919, Action::Zero),   // Instruction Performed DateTime [Z/D]
    (0x0018, 0x9937, Action::Remove), // Requested Series Description
    (0x0018, 0xA002, Action::Remove), // Contribution DateTime
    (0x0018, 0xA003, Action::Remove), // Contribution Description
    (0x0020, 0x000D, Action::Uid),    // Study Instance UID
    (0x0020, 0x000E, Action::Uid),    // Series Instance UID
    (0x0020, 0x0010, Action::Zero),   // Study ID
    (0x0020, 0x0027, Action::Remove), // Pyramid Label
    (0x0020, 0x0052, Action::Uid),    // Frame of Reference UID
    (0x0020, 0x0200, Action::Uid),    // Synchronization Frame of Reference UID
    (0x0020, 0x3401, Action::Remove), // Modifying Device ID
    (0x0020, 0x3403, Action::Remove), // Modified Image Date
    (0x0020, 0x3405, Action::Remove), // Modified Image Time
    (0x0020, 0x3406, Action::Remove), // Modified Image Description
    (0x0020, 0x4000, Action::Remove), // Image Comments
    (0x0020, 0x9158, Action::Remove), // Frame Comments
    (0x0020, 0x9161, Action::Uid),    // Concatenation UID
    (0x0020, 0x9164, Action::Uid),    // Dimension Organization UID
    (0x0028, 0x1199, Action::Uid),    // Palette Color Lookup Table UID
    (0x0028, 0x1214, Action::Uid),    // Large Palette Color Lookup Table UID
    (0x0028, 0x4000, Action::Remove), // Image Presentation Comments
    (0x0032, 0x0012, Action::Remove), // Study ID Issuer
    (0x0032, 0x0032, Action::Remove), // Study Verified Date
    (0x0032, 0x0033, Action::Remove), // Study Verified Time
    (0x0032, 0x0034, Action::Remove), // Study Read Date
    (0x0032, 0x0035, Action::Remove), // Study Read Time
    (0x0032, 0x1000, Action::Remove), // Scheduled Study Start Date
    (0x0032, 0x1001, Action::Remove), // Scheduled Study Start Time
    (0x0032, 0x1010, Action::Remove), // Scheduled Study Stop Date
    (0x0032, 0x1011, Action::Remove), // Scheduled Study Stop Time
    (0x0032, 0x1020, Action::Remove), // Scheduled Study Location
    (0x0032, 0x1021, Action::Remove), // Scheduled Study Location AE Title
    (0x0032, 0x1030, Action::Remove), // Reason for Study
    (0x0032, 0x1032, Action::Remove), // Requesting Physician
    (0x0032, 0x1033, Action::Remove), // Requesting Service
    (0x0032, 0x1040, Action::Remove), // Study Arrival Date
    (0x0032, 0x1041, Action::Remove), // Study Arrival Time
    (0x0032, 0x1050, Action::Remove), // Study Completion Date
    (0x0032, 0x1051, Action::Remove), // Study Completion Time
    (0x0032, 0x1060, Action::Zero),   // Requested Procedure Description [X/Z]
    (0x0032, 0x1066, Action::Remove), // Reason for Visit
    (0x0032, 0x1067, Action::Remove), // Reason for Visit Code Sequence
    (0x0032, 0x1070, Action::Remove), // Requested Contrast Agent
    (0x0032, 0x4000, Action::Remove), // Study Comments
    (0x0034, 0x0001, Action::Dummy),  // Flow Identifier Sequence
    (0x0034, 0x0002, Action::Dummy),  // Flow Identifier
    (0x0034, 0x0005, Action::Dummy),  // Source Identifier
    (0x0034, 0x0007, Action::Dummy),  // Frame Origin Timestamp
    (0x0038, 0x0004, Action::Remove), // Referenced Patient Alias Sequence
    (0x0038, 0x0010, Action::Remove), // Admission ID
    (0x0038, 0x0011, Action::Remove), // Issuer of Admission ID
    (0x0038, 0x0014, Action::Remove), // Issuer of Admission ID Sequence
    (0x0038, 0x001A, Action::Remove), // Scheduled Admission Date
    (0x0038, 0x001B, Action::Remove), // Scheduled Admission Time
    (0x0038, 0x001C, Action::Remove), // Scheduled Discharge Date
    (0x0038, 0x001D, Action::Remove), // Scheduled Discharge Time
    (0x0038, 0x001E, Action::Remove), // Scheduled Patient Institution Residence
    (0x0038, 0x0020, Action::Remove), // Admitting Date
    (0x0038, 0x0021, Action::Remove), // Admitting Time
    (0x0038, 0x0030, Action::Remove), // Discharge Date
    (0x0038, 0x0032, Action::Remove), // Discharge Time
    (0x0038, 0x0040, Action::Remove), // Discharge Diagnosis Description
    (0x0038, 0x0050, Action::Remove), // Special Needs
    (0x0038, 0x0060, Action::Remove), // Service Episode ID
    (0x0038, 0x0061, Action::Remove), // Issuer of Service Episode ID
    (0x0038, 0x0062, Action::Remove), // Service Episode Description
    (0x0038, 0x0064, Action::Remove), // Issuer of Service Episode ID Sequence
    (0x0038, 0x0300, Action::Remove), // Current Patient Location
    (0x0038, 0x0400, Action::Remove), // Patient's Institution Residence
    (0x0038, 0x0500, Action::Remove), // Patient State
    (0x0038, 0x4000, Action::Remove), // Visit Comments
    (0x003A, 0x0020, Action::Remove), // Multiplex Group Label
    (0x003A, 0x0203, Action::Remove), // Channel Label
    (0x003A, 0x020C, Action::Remove), // Channel Derivation Description
    (0x003A, 0x0310, Action::Uid),    // Multiplex Group UID
    (0x003A, 0x0314, Action::Dummy),  // Impedance Measurement DateTime
    (0x003A, 0x0329, Action::Remove), // Waveform Filter Description
    (0x003A, 0x032B, Action::Remove), // Filter Lookup Table Description
    (0x0040, 0x0001, Action::Remove), // Scheduled Station AE Title
    (0x0040, 0x0002, Action::Remove), // Scheduled Procedure Step Start Date
    (0x0040, 0x0003, Action::Remove), // Scheduled Procedure Step Start Time
    (0x0040, 0x0004, Action::Remove), // Scheduled Procedure Step End Date
    (0x0040, 0x0005, Action::Remove), // Scheduled Procedure Step End Time
    (0x0040, 0x0006, Action::Remove), // Scheduled Performing Physician's Name
    (0x0040, 0x0007, Action::Remove), // Scheduled Procedure Step Description
    (0x0040, 0x0009, Action::Remove), // Scheduled Procedure Step ID
    (0x0040, 0x000B, Action::Remove), // Scheduled Performing Physician Identification Sequence
    (0x0040, 0x0010, Action::Remove), // Scheduled Station Name
    (0x0040, 0x0011, Action::Remove), // Scheduled Procedure Step Location
    (0x0040, 0x0012, Action::Remove), // Pre-Medication
    (0x0040, 0x0241, Action::Remove), // Performed Station AE Title
    (0x0040, 0x0242, Action::Remove), // Performed Station Name
    (0x0040, 0x0243, Action::Remove), // Performed Location
    (0x0040, 0x0244, Action::Remove), // Performed Procedure Step Start Date
    (0x0040, 0x0245, Action::Remove), // Performed Procedure Step Start Time
    (0x0040, 0x0250, Action::Remove), // Performed Procedure Step End Date
    (0x0040, 0x0251, Action::Remove), // Performed Procedure Step End Time
    (0x0040, 0x0253, Action::Remove), // Performed Procedure Step ID
    (0x0040, 0x0254, Action::Remove), // Performed Procedure Step Description
    (0x0040, 0x0275, Action::Remove), // Request Attributes Sequence
    (0x0040, 0x0280, Action::Remove), // Comments on the Performed Procedure Step
    (0x0040, 0x0310, Action::Remove), // Comments on Radiation Dose
    (0x0040, 0x050A, Action::Remove), // Specimen Accession Number
    (0x0040, 0x0512, Action::Dummy),  // Container Identifier
    (0x0040, 0x0513, Action::Zero),   // Issuer of the Container Identifier Sequence
    (0x0040, 0x051A, Action::Remove), // Container Description
    (0x0040, 0x0551, Action::Dummy),  // Specimen Identifier
    (0x0040, 0x0554, Action::Uid),    // Specimen UID
    (0x0040, 0x0555, Action::Zero),   // Acquisition Context Sequence [X/Z]
    (0x0040, 0x0556, Action::Remove), // Acquisition Context Description
    (0x0040, 0x0562, Action::Zero),   // Issuer of the Specimen Identifier Sequence
    (0x0040, 0x0600, Action::Remove), // Specimen Short Description
    (0x0040, 0x0602, Action::Remove), // Specimen Detailed Description
    (0x0040, 0x0610, Action::Zero),   // Specimen Preparation Sequence
    (0x0040, 0x06FA, Action::Remove), // Slide Identifier
    (0x0040, 0x1001, Action::Remove), // Requested Procedure ID
    (0x0040, 0x1002, Action::Remove), // Reason for the Requested Procedure
    (0x0040, 0x1004, Action::Remove), // Patient Transport Arrangements
    (0x0040, 0x1005, Action::Remove), // Requested Procedure Location
    (0x0040, 0x100A, Action::Remove), // Reason for Requested Procedure Code Sequence
    (0x0040, 0x1010, Action::Remove), // Names of Intended Recipients of Results
    (0x0040, 0x1011, Action::Remove), // Intended Recipients of Results Identification Sequence
    (0x0040, 0x1101, Action::Dummy),  // Person Identification Code Sequence
    (0x0040, 0x1102, Action::Remove), // Person's Address
    (0x0040, 0x1103, Action::Remove), // Person's Telephone Numbers
    (0x0040, 0x1104, Action::Remove), // Person's Telecom Information
    (0x0040, 0x1400, Action::Remove), // Requested Procedure Comments
    (0x0040, 0x2001, Action::Remove), // Reason for the Imaging Service Request
    (0x0040, 0x2004, Action::Remove), // Issue Date of Imaging Service Request
    (0x0040, 0x2005, Action::Remove), // Issue Time of Imaging Service Request
    (0x0040, 0x2008, Action::Remove), // Order Entered By
    (0x0040, 0x2009, Action::Remove), // Order Enterer's Location
    (0x0040, 0x2010, Action::Remove), // Order Callback Phone Number
    (0x0040, 0x2011, Action::Remove), // Order Callback Telecom Information
    (0x0040, 0x2016, Action::Zero),   // Placer Order Number / Imaging Service Request
    (0x0040, 0x2017, Action::Zero),   // Filler Order Number / Imaging Service Request
    (0x0040, 0x2400, Action::Remove), // Imaging Service Request Comments
    (0x0040, 0x3001, Action::Remove), // Confidentiality Constraint on Patient Data Description
    (0x0040, 0x4005, Action::Remove), // Scheduled Procedure Step Start DateTime
    (0x0040, 0x4008, Action::Remove), // Scheduled Procedure Step Expiration DateTime
    (0x0040, 0x4010, Action::Remove), // Scheduled Procedure Step Modification DateTime
    (0x0040, 0x4011, Action::Remove), // Expected Completion DateTime
    (0x0040, 0x4023, Action::Uid), // Referenced General Purpose Scheduled Procedure Step Transaction UID
    (0x0040, 0x4025, Action::Remove), // Scheduled Station Name Code Sequence
    (0x0040, 0x4027, Action::Remove), // Scheduled Station Geographic Location Code Sequence
    (0x0040, 0x4028, Action::Remove), // Performed Station Name Code Sequence
    (0x0040, 0x4030, Action::Remove), // Performed Station Geographic Location Code Sequence
    (0x0040, 0x4034, Action::Remove), // Scheduled Human Performers Sequence
    (0x0040, 0x4035, Action::Remove), // Actual Human Performers Sequence
    (0x0040, 0x4036, Action::Remove), // Human Performer's Organization
    (0x0040, 0x4037, Action::Remove), // Human Performer's Name
    (0x0040, 0x4050, Action::Remove), // Performed Procedure Step Start DateTime
    (0x0040, 0x4051, Action::Remove), // Performed Procedure Step End DateTime
    (0x0040, 0x4052, Action::Remove), // Procedure Step Cancellation DateTime
    (0x0040, 0xA023, Action::Remove), // Findings Group Recording Date (Trial)
    (0x0040, 0xA024, Action::Remove), // Findings Group Recording Time (Trial)
    (0x0040, 0xA027, Action::Dummy), // Verifying Organization
    (0x0040, 0xA030, Action::Dummy), // Verification DateTime
    (0x0040, 0xA032, Action::Dummy), // Observation DateTime [X/D]
    (0x0040, 0xA033, Action::Remove), // Observation Start DateTime
    (0x0040, 0xA034, Action::Remove), // Effective Start DateTime
    (0x0040, 0xA035, Action::Remove), // Effective Stop DateTime
    (0x0040, 0xA073, Action::Dummy), // Verifying Observer Sequence
    (0x0040, 0xA075, Action::Dummy), // Verifying Observer Name
    (0x0040, 0xA078, Action::Remove), // Author Observer Sequence
    (0x0040, 0xA07A, Action::Remove), // Participant Sequence
    (0x0040, 0xA07C, Action::Remove), // Custodial Organization Sequence
    (0x0040, 0xA082, Action::Zero), // Participation DateTime
    (0x0040, 0xA088, Action::Zero), // Verifying Observer Identification Code Sequence
    (0x0040, 0xA110, Action::Remove), // Date of Document or Verbal Transaction (Trial)
    (0x0040, 0xA112, Action::Remove), // Time of Document Creation or Verbal Transaction (Trial)
    (0x0040, 0xA120, Action::Dummy), // DateTime
    (0x0040, 0xA121, Action::Dummy), // Date
    (0x0040, 0xA122, Action::Dummy), // Time
    (0x0040, 0xA123, Action::Dummy), // Person Name
    (0x0040, 0xA124, Action::Uid), // UID
    (0x0040, 0xA13A, Action::Dummy), // Referenced DateTime
    (0x0040, 0xA171, Action::Uid), // Observation UID
    (0x0040, 0xA172, Action::Uid), // Referenced Observation UID (Trial)
    (0x0040, 0xA192, Action::Remove), // Observation Date (Trial)
    (0x0040, 0xA193, Action::Remove), // Observation Time (Trial)
    (0x0040, 0xA307, Action::Remove), // Current Observer (Trial)
    (0x0040, 0xA352, Action::Remove), // Verbal Source (Trial)
    (0x0040, 0xA353, Action::Remove), // Address (Trial)
    (0x0040, 0xA354, Action::Remove), // Telephone Number (Trial)
    (0x0040, 0xA358, Action::Remove), // Verbal Source Identifier Code Sequence (Trial)
    (0x0040, 0xA402, Action::Uid), // Observation Subject UID (Trial)
    (0x0040, 0xA730, Action::Dummy), // Content Sequence
    (0x0040, 0xB020, Action::Dummy), // Waveform Annotation Sequence [X/D]
    (0x0040, 0xB034, Action::Remove), // Annotation DateTime
    (0x0040, 0xB036, Action::Remove), // Segment Definition DateTime
    (0x0040, 0xB03B, Action::Remove), // Montage Name
    (0x0040, 0xB03F, Action::Remove), // Montage Channel Label
    (0x0040, 0xDB06, Action::Remove), // Template Version
    (0x0040, 0xDB07, Action::Remove), // Template Local Version
    (0x0040, 0xDB0C, Action::Uid), // Template Extension Organization UID
    (0x0040, 0xDB0D, Action::Uid), // Template Extension Creator UID
    (0x0040, 0xE004, Action::Remove), // HL7 Document Effective Time
    (0x0040, 0xE012, Action::Remove), // Display URI
    (0x0042, 0x0011, Action::Dummy), // Encapsulated Document
    (0x0044, 0x0004, Action::Remove), // Approval Status DateTime
    (0x0044, 0x000B, Action::Remove), // Product Expiration DateTime
    (0x0044, 0x0010, Action::Remove), // Substance Administration DateTime
    (0x0044, 0x0104, Action::Dummy), // Assertion DateTime
    (0x0044, 0x0105, Action::Remove), // Assertion Expiration DateTime
    (0x0050, 0x001B, Action::Remove), // Container Component ID
    (0x0050, 0x0020, Action::Remove), // Device Description
    (0x0050, 0x0021, Action::Remove), // Long Device Description
    (0x0062, 0x0021, Action::Uid), // Tracking UID
    (0x0064, 0x0003, Action::Uid), // Source Frame of Reference UID
    (0x0068, 0x6226, Action::Dummy), // Effective DateTime
    (0x0068, 0x6270, Action::Dummy), // Information Issue DateTime
    (0x006A, 0x0003, Action::Dummy), // Annotation Group UID
    (0x006A, 0x0005, Action::Dummy), // Annotation Group Label
    (0x006A, 0x0006, Action::Remove), // Annotation Group Description
    (0x0070, 0x0001, Action::Dummy), // Graphic Annotation Sequence
    (0x0070, 0x0006, Action::Dummy), // Unformatted Text Value
    (0x0070, 0x0082, Action::Remove), // Presentation Creation Date
    (0x0070, 0x0083, Action::Remove), // Presentation Creation Time
    (0x0070, 0x0084, Action::Zero), // Content Creator's Name [Z/D]
    (0x0070, 0x0086, Action::Remove), // Content Creator's Identification Code Sequence
    (0x0070, 0x031A, Action::Uid), // Fiducial UID
    (0x0070, 0x1101, Action::Uid), // Presentation Display Collection UID
    (0x0070, 0x1102, Action::Uid), // Presentation Sequence Collection UID
    (0x0072, 0x000A, Action::Dummy), // Hanging Protocol Creation DateTime
    (0x0072, 0x005E, Action::Dummy), // Selector AE Value
    (0x0072, 0x005F, Action::Dummy), // Selector AS Value
    (0x0072, 0x0061, Action::Dummy), // Selector DA Value
    (0x0072, 0x0063, Action::Dummy), // Selector DT Value
    (0x0072, 0x0065, Action::Dummy), // Selector OB Value
    (0x0072, 0x0066, Action::Dummy), // Selector LO Value
    (0x0072, 0x0068, Action::Dummy), // Selector LT Value
    (0x0072, 0x006A, Action::Dummy), // Selector PN Value
    (0x0072, 0x006B, Action::Dummy), // Selector TM Value
    (0x0072, 0x006C, Action::Dummy), // Selector SH Value
    (0x0072, 0x006D, Action::Dummy), // Selector UN Value
    (0x0072, 0x006E, Action::Dummy), // Selector ST Value
    (0x0072, 0x0070, Action::Dummy), // Selector UT Value
    (0x0072, 0x0071, Action::Dummy), // Selector UR Value
    (0x0074, 0x1234, Action::Remove), // Receiving AE
    (0x0074, 0x1236, Action::Remove), // Requesting AE
    (0x0088, 0x0140, Action::Uid), // Storage Media File-set UID
    (0x0088, 0x0200, Action::Remove), // Icon Image Sequence (see Note 11)
    (0x0088, 0x0904, Action::Remove), // Topic Title
    (0x0088, 0x0906, Action::Remove), // Topic Subject
    (0x0088, 0x0910, Action::Remove), // Topic Author
    (0x0088, 0x0912, Action::Remove), // Topic Keywords
    (0x0100, 0x0420, Action::Remove), // SOP Authorization DateTime
    (0x0400, 0x0100, Action::Uid), // Digital Signature UID
    (0x0400, 0x0105, Action::Dummy), // Digital Signature DateTime
    (0x0400, 0x0115, Action::Dummy), // Certificate of Signer
    (0x0400, 0x0310, Action::Remove), // Certified Timestamp
    (0x0400, 0x0402, Action::Remove), // Referenced Digital Signature Sequence
    (0x0400, 0x0403, Action::Remove), // Referenced SOP Instance MAC Sequence
    (0x0400, 0x0404, Action::Remove), // MAC
    (0x0400, 0x0550, Action::Remove), // Modified Attributes Sequence
    (0x0400, 0x0551, Action::Remove), // Nonconforming Modified Attributes Sequence
    (0x0400, 0x0552, Action::Remove), // Nonconforming Data Element Value
    (0x0400, 0x0561, Action::Remove), // Original Attributes Sequence
    (0x0400, 0x0562, Action::Dummy), // Attribute Modification DateTime
    (0x0400, 0x0563, Action::Dummy), // Modifying System
    (0x0400, 0x0564, Action::Zero), // Source of Previous Values
    (0x0400, 0x0565, Action::Dummy), // Reason for the Attribute Modification
    (0x0400, 0x0600, Action::Remove), // Instance Origin Status
    (0x2030, 0x0020, Action::Remove), // Text String
    (0x2100, 0x0040, Action::Remove), // Creation Date
    (0x2100, 0x0050, Action::Remove), // Creation Time
    (0x2100, 0x0070, Action::Remove), // Originator
    (0x2100, 0x0140, Action::Dummy), // Destination AE
    (0x2200, 0x0002, Action::Zero), // Label Text [X/Z]
    (0x2200, 0x0005, Action::Zero), // Barcode Value [X/Z]
    (0x3002, 0x0121, Action::Remove), // Position Acquisition Template Name
    (0x3002, 0x0123, Action::Remove), // Position Acquisition Template Description
    (0x3006, 0x0002, Action::Dummy), // Structure Set Label
    (0x3006, 0x0004, Action::Remove), // Structure Set Name
    (0x3006, 0x0006, Action::Remove), // Structure Set Description
    (0x3006, 0x0008, Action::Zero), // Structure Set Date
    (0x3006, 0x0009, Action::Zero), // Structure Set Time
    (0x3006, 0x0024, Action::Uid), // Referenced Frame of Reference UID
    (0x3006, 0x0026, Action::Zero), // ROI Name
    (0x3006, 0x0028, Action::Remove), // ROI Description
    (0x3006, 0x002D, Action::Remove), // ROI DateTime
    (0x3006, 0x002E, Action::Remove), // ROI Observation DateTime
    (0x3006, 0x0038, Action::Remove), // ROI Generation Description
    (0x3006, 0x004D, Action::Remove), // ROI Creator Sequence
    (0x3006, 0x004E, Action::Remove), // ROI Interpreter Sequence
    (0x3006, 0x0085, Action::Remove), // ROI Observation Label
    (0x3006, 0x0088, Action::Remove), // ROI Observation Description
    (0x3006, 0x00A6, Action::Zero), // ROI Interpreter
    (0x3006, 0x00C2, Action::Uid), // Related Frame of Reference UID
    (0x3008, 0x0024, Action::Dummy), // Treatment Control Point Date
    (0x3008, 0x0025, Action::Dummy), // Treatment Control Point Time
    (0x3008, 0x0054, Action::Dummy), // First Treatment Date [X/D]
    (0x3008, 0x0056, Action::Dummy), // Most Recent Treatment Date [X/D]
    (0x3008, 0x0105, Action::Zero), // Source Serial Number [X/Z]
    (0x3008, 0x0162, Action::Dummy), // Safe Position Exit Date
    (0x3008, 0x0164, Action::Dummy), // Safe Position Exit Time
    (0x3008, 0x0166, Action::Dummy), // Safe Position Return Date
    (0x3008, 0x0168, Action::Dummy), // Safe Position Return Time
    (0x3008, 0x0250, Action::Dummy), // Treatment Date [X/D]
    (0x3008, 0x0251, Action::Dummy), // Treatment Time [X/D]
    (0x300A, 0x0002, Action::Dummy), // RT Plan Label
    (0x300A, 0x0003, Action::Remove), // RT Plan Name
    (0x300A, 0x0004, Action::Remove), // RT Plan Description
    (0x300A, 0x0006, Action::Dummy), // RT Plan Date [X/D]
    (0x300A, 0x0007, Action::Dummy), // RT Plan Time [X/D]
    (0x300A, 0x000B, Action::Remove), // Treatment Sites
    (0x300A, 0x000E, Action::Remove), // Prescription Description
    (0x300A, 0x0013, Action::Uid), // Dose Reference UID
    (0x300A, 0x0016, Action::Remove), // Dose Reference Description
    (0x300A, 0x0054, Action::Uid), // Table Top Position Alignment UID
    (0x300A, 0x0072, Action::Remove), // Fraction Group Description
    (0x300A, 0x0083, Action::Uid), // Referenced Dose Reference UID
    (0x300A, 0x00B2, Action::Zero), // Treatment Machine Name [X/Z]
    (0x300A, 0x00C3, Action::Remove), // Beam Description
    (0x300A, 0x00DD, Action::Remove), // Bolus Description
    (0x300A, 0x0196, Action::Remove), // Fixation Device Description
    (0x300A, 0x01A6, Action::Remove), // Shielding Device Description
    (0x300A, 0x01B2, Action::Remove), // Setup Technique Description
    (0x300A, 0x0216, Action::Remove), // Source Manufacturer
    (0x300A, 0x022C, Action::Dummy), // Source Strength Reference Date
    (0x300A, 0x022E, Action::Dummy), // Source Strength Reference Time
    (0x300A, 0x02EB, Action::Remove), // Compensator Description
    (0x300A, 0x0608, Action::Dummy), // Treatment Position Group Label
    (0x300A, 0x0609, Action::Uid), // Treatment Position Group UID
    (0x300A, 0x0611, Action::Zero), // RT Accessory Holder Slot ID
    (0x300A, 0x0615, Action::Zero), // RT Accessory Device Slot ID
    (0x300A, 0x0619, Action::Dummy), // Radiation Dose Identification Label
    (0x300A, 0x0623, Action::Dummy), // Radiation Dose In-Vivo Measurement Label
    (0x300A, 0x062A, Action::Dummy), // RT Tolerance Set Label
    (0x300A, 0x0650, Action::Uid), // Patient Setup UID
    (0x300A, 0x0676, Action::Remove), // Equipment Frame of Reference Description
    (0x300A, 0x067C, Action::Dummy), // Radiation Generation Mode Label
    (0x300A, 0x067D, Action::Zero), // Radiation Generation Mode Description
    (0x300A, 0x0700, Action::Uid), // Treatment Session UID
    (0x300A, 0x0734, Action::Dummy), // Treatment Tolerance Violation Description
    (0x300A, 0x0736, Action::Dummy), // Treatment Tolerance Violation DateTime
    (0x300A, 0x073A, Action::Dummy), // Recorded RT Control Point DateTime
    (0x300A, 0x0741, Action::Dummy), // Interlock DateTime
    (0x300A, 0x0742, Action::Dummy), // Interlock Description
    (0x300A, 0x0760, Action::Dummy), // Override DateTime
    (0x300A, 0x0783, Action::Dummy), // Interlock Origin Description
    (0x300A, 0x0785, Action::Uid), // Referenced Treatment Position Group UID
    (0x300A, 0x078E, Action::Remove), // Patient Treatment Preparation Procedure Parameter Description
    (0x300A, 0x0792, Action::Remove), // Patient Treatment Preparation Method Description
    (0x300A, 0x0794, Action::Remove), // Patient Setup Photo Description
    (0x300A, 0x079A, Action::Remove), // Displacement Reference Label
    (0x300C, 0x0113, Action::Remove), // Reason for Omission Description
    (0x300C, 0x0127, Action::Dummy),  // Beam Hold Transition DateTime
    (0x300E, 0x0004, Action::Zero),   // Review Date
    (0x300E, 0x0005, Action::Zero),   // Review Time
    (0x300E, 0x0008, Action::Zero),   // Reviewer Name [X/Z]
    (0x3010, 0x0006, Action::Uid),    // Conceptual Volume UID
    (0x3010, 0x000B, Action::Uid),    // Referenced Conceptual Volume UID
    (0x3010, 0x000F, Action::Zero),   // Conceptual Volume Combination Description
    (0x3010, 0x0013, Action::Uid),    // Constituent Conceptual Volume UID
    (0x3010, 0x0015, Action::Uid),    // Source Conceptual Volume UID
    (0x3010, 0x0017, Action::Zero),   // Conceptual Volume Description
    (0x3010, 0x001B, Action::Zero),   // Device Alternate Identifier
    (0x3010, 0x002D, Action::Dummy),  // Device Label
    (0x3010, 0x0031, Action::Uid),    // Referenced Fiducials UID
    (0x3010, 0x0033, Action::Dummy),  // User Content Label
    (0x3010, 0x0034, Action::Dummy),  // User Content Long Label
    (0x3010, 0x0035, Action::Dummy),  // Entity Label
    (0x3010, 0x0036, Action::Remove), // Entity Name
    (0x3010, 0x0037, Action::Remove), // Entity Description
    (0x3010, 0x0038, Action::Dummy),  // Entity Long Label
    (0x3010, 0x003B, Action::Uid),    // RT Treatment Phase UID
    (0x3010, 0x0043, Action::Zero),   // Manufacturer's Device Identifier
    (0x3010, 0x004C, Action::Dummy),  // Intended Phase Start Date [X/D]
    (0x3010, 0x004D, Action::Dummy),  // Intended Phase End Date [X/D]
    (0x3010, 0x0054, Action::Dummy),  // RT Prescription Label
    (0x3010, 0x0056, Action::Dummy),  // RT Treatment Approach Label [X/D]
    (0x3010, 0x005A, Action::Zero),   // RT Physician Intent Narrative
    (0x3010, 0x005C, Action::Zero),   // Reason for Superseding
    (0x3010, 0x0061, Action::Remove), // Prior Treatment Dose Description
    (0x3010, 0x006E, Action::Uid),    // Dosimetric Objective UID
    (0x3010, 0x006F, Action::Uid),    // Referenced Dosimetric Objective UID
    (0x3010, 0x0077, Action::Dummy),  // Treatment Site [X/D]
    (0x3010, 0x007A, Action::Zero),   // Treatment Technique Notes
    (0x3010, 0x007B, Action::Zero),   // Prescription Notes
    (0x3010, 0x007F, Action::Zero),   // Fractionation Notes
    (0x3010, 0x0081, Action::Zero),   // Prescription Notes Sequence
    (0x3010, 0x0085, Action::Remove), // Intended Fraction Start Time
    (0x4000, 0x0010, Action::Remove), // Arbitrary
    (0x4000, 0x4000, Action::Remove), // Text Comments
    (0x4008, 0x0040, Action::Remove), // Results ID
    (0x4008, 0x0042, Action::Remove), // Results ID Issuer
    (0x4008, 0x0100, Action::Remove), // Interpretation Recorded Date
    (0x4008, 0x0101, Action::Remove), // Interpretation Recorded Time
    (0x4008, 0x0102, Action::Remove), // Interpretation Recorder
    (0x4008, 0x0108, Action::Remove), // Interpretation Transcription Date
    (0x4008, 0x0109, Action::Remove), // Interpretation Transcription Time
    (0x4008, 0x010A, Action::Remove), // Interpretation Transcriber
    (0x4008, 0x010B, Action::Remove), // Interpretation Text
    (0x4008, 0x010C, Action::Remove), // Interpretation Author
    (0x4008, 0x0111, Action::Remove), // Interpretation Approver Sequence
    (0x4008, 0x0112, Action::Remove), // Interpretation Approval Date
    (0x4008, 0x0113, Action::Remove), // Interpretation Approval Time
    (0x4008, 0x0114, Action::Remove), // Physician Approving Interpretation
    (0x4008, 0x0115, Action::Remove), // Interpretation Diagnosis Description
    (0x4008, 0x0118, Action::Remove), // Results Distribution List Sequence
    (0x4008, 0x0119, Action::Remove), // Distribution Name
    (0x4008, 0x011A, Action::Remove), // Distribution Address
    (0x4008, 0x0200, Action::Remove), // Interpretation ID
    (0x4008, 0x0202, Action::Remove), // Interpretation ID Issuer
    (0x4008, 0x0300, Action::Remove), // Impressions
    (0x4008, 0x4000, Action::Remove), // Results Comments
    (0xFFFA, 0xFFFA, Action::Remove), // Digital Signatures Sequence
    (0xFFFC, 0xFFFC, Action::Remove), // Data Set Trailing Padding
];

/// Repeating groups: (group mask, group value, element, action) for tags like (50xx,xxxx)
/// curve data and (60xx,3000) overlay data, (60xx,4000) overlay comments. A tag (g,e) matches
/// a row when `g & mask == value` and the element equals the row's, or the row's element is
/// `0xFFFF`, which here means any element (the table's (50xx,xxxx)).
pub const BASIC_PROFILE_REPEATING: &[(u16, u16, u16, Action)] = &[
    (0xFF00, 0x5000, 0xFFFF, Action::Remove), // Curve Data (50xx,xxxx)
    (0xFF00, 0x6000, 0x3000, Action::Remove), // Overlay Data (60xx,3000)
    (0xFF00, 0x6000, 0x4000, Action::Remove), // Overlay Comments (60xx,4000)
];
