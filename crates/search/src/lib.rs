//! `kizuna-search`: FHIR R4 search (<https://hl7.org/fhir/R4/search.html>).
//!
//! Owns what a search means: the search parameters of the specification ([`registry`]), the
//! syntax of their values ([`values`], with exact decimals in [`decimal`]), and the parsing of a
//! search request into a checked, typed query ([`parse()`] → [`Query`]) that the store's SQL
//! generators and the in-memory evaluator consume; and index extraction ([`extract`]: the
//! values a resource gives each parameter, by FHIRPath, with [`extract::normalize_string`] as
//! the one string normalization of both sides); and [`evaluate`], the brute-force in-memory
//! evaluator of a [`Query`] over a set of resources, which spells out what every criterion
//! means and is the oracle the store's SQL engines are tested against; UCUM units ([`ucum`])
//! and distances on the Earth ([`geo`], for `near`); full text ([`text`], for `_text` and
//! `_content`).
//!
//! Must never: know HTTP (it takes decoded query pairs and a [`Handling`], and answers with
//! [`kizuna_fhir::Issue`]s, never status codes or headers) or touch storage directly (the store
//! turns a [`Query`] into SQL; this crate does not call it).

pub mod decimal;
pub mod evaluate;
pub mod extract;
pub mod geo;
pub mod parse;
pub mod query;
pub mod registry;
pub mod text;
pub mod ucum;
pub mod values;

pub use decimal::Decimal;
pub use parse::{Handling, parse, parse_query_string};
pub use query::{
    DEFAULT_COUNT, Filter, Include, MAX_CHAIN_DEPTH, MAX_COUNT, MAX_OR_VALUES, Modifier, Query,
    SortKey, Summary, Total, Value,
};
pub use registry::{ParamKind, SearchParam};
