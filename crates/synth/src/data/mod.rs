//! Reference tables (no logic): names, places, clinical vocabulary.

pub(crate) mod clinical;
pub(crate) mod names;
pub(crate) mod places;
