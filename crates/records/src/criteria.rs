//! Criteria of conditional operations (`If-None-Exist`, conditional update and delete,
//! conditional references in transactions): full search criteria, parsed strictly (a criterion
//! that cannot be honoured is an error, never ignored, since ignoring one could select more).

use crate::{Failure, Result};
use kizuna_fhir::IssueCode;
use kizuna_search::{Filter, Handling};
use kizuna_store::{Condition, OnFail};

#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    pub filters: Vec<Filter>,
}

impl Criteria {
    /// Parses a query string (`identifier=http://sys|123&birthdate=1970`, URL-encoded or not).
    pub fn parse(rtype: &str, query: &str) -> Result<Criteria> {
        let query = query.trim_start_matches('?');
        let (parsed, _) = kizuna_search::parse_query_string(Some(rtype), query, Handling::Strict)
            .map_err(|issues| Failure::issues(400, issues))?;
        if parsed.filters.is_empty() {
            return Err(Failure::new(
                400,
                IssueCode::Invalid,
                None,
                "the conditional operation has no criteria",
            ));
        }
        Ok(Criteria {
            filters: parsed.filters,
        })
    }

    /// The condition that the matches are still exactly `ids`.
    pub fn condition(&self, rtype: &str, ids: Vec<String>) -> Condition {
        Condition::Matches {
            rtype: rtype.into(),
            filters: self.filters.clone(),
            ids,
            on_fail: OnFail::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_search_criteria() {
        let c = Criteria::parse("Patient", "identifier=urn%3Aoid%3A1.2%7C123&_id=x").unwrap();
        assert_eq!(c.filters.len(), 2);
        let c = Criteria::parse("Patient", "?family=山田&birthdate=ge1970").unwrap();
        assert_eq!(c.filters.len(), 2);
    }

    #[test]
    fn refuses_what_it_cannot_match() {
        assert_eq!(
            Criteria::parse("Patient", "nonsense=x").unwrap_err().status,
            400
        );
        assert_eq!(Criteria::parse("Patient", "").unwrap_err().status, 400);
        assert_eq!(
            Criteria::parse("Patient", "_count=5").unwrap_err().status,
            400
        );
        assert_eq!(
            Criteria::parse("Patient", "birthdate=notadate")
                .unwrap_err()
                .status,
            400
        );
    }
}
