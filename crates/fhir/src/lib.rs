//! `kizuna-fhir`: what FHIR R4 itself says, as data and checks.
//!
//! Owns the compact definition tables generated from the official R4 definitions
//! (`definitions/r4.json`, made by `crates/defgen`), structural validation of resources against
//! them, issues and OperationOutcomes, and small JSON helpers every other crate shares.
//!
//! Must never: touch storage, HTTP, the clock or the network. It is pure functions over
//! `serde_json::Value`, so every other crate can call it from any context.

pub mod definitions;
pub mod fhirpath;
pub mod issue;
pub mod json;
pub mod validate;

pub use definitions::{Definitions, r4};
pub use issue::{Issue, IssueCode, Severity, operation_outcome};
pub use validate::validate_resource;
