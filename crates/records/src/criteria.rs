//! Criteria of conditional operations (`If-None-Exist`, conditional update and delete,
//! conditional references in transactions). Until the search engine exists they are exact
//! identifier matches: `identifier=[system|]value` and `_id=id`, combined with `&`.

use crate::{Failure, Result};
use kizuna_fhir::IssueCode;
use kizuna_store::{Condition, OnFail, TokenCriterion};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    pub tokens: Vec<TokenCriterion>,
}

impl Criteria {
    /// Parses a query string (`identifier=http://sys|123&_id=abc`, URL-encoded or not).
    pub fn parse(rtype: &str, query: &str) -> Result<Criteria> {
        let query = query.trim_start_matches('?');
        let mut tokens = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let (name, value) = (name.into_owned(), value.into_owned());
            if value.is_empty() {
                return Err(bad(format!("the criterion '{name}' has no value")));
            }
            match name.as_str() {
                "identifier" => {
                    let (system, code) = match value.split_once('|') {
                        Some((s, c)) => (Some(s.to_string()), c.to_string()),
                        None => (None, value.clone()),
                    };
                    if code.is_empty() {
                        return Err(bad(
                            "identifier=system| without a value cannot select one resource".into(),
                        ));
                    }
                    tokens.push(TokenCriterion {
                        param: "identifier".into(),
                        system,
                        code,
                    });
                }
                "_id" => tokens.push(TokenCriterion {
                    param: "_id".into(),
                    system: None,
                    code: value,
                }),
                other => {
                    return Err(bad(format!(
                        "conditional operations on {rtype} support the criteria 'identifier' and '_id'; '{other}' is not supported yet"
                    )));
                }
            }
        }
        if tokens.is_empty() {
            return Err(bad("the conditional operation has no criteria".into()));
        }
        Ok(Criteria { tokens })
    }

    /// The condition that the matches are still exactly `ids`.
    pub fn condition(&self, rtype: &str, ids: Vec<String>) -> Condition {
        Condition::Matches {
            rtype: rtype.into(),
            criteria: self.tokens.clone(),
            ids,
            on_fail: OnFail::Retry,
        }
    }
}

fn bad(message: String) -> Failure {
    Failure::new(400, IssueCode::Invalid, None, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_identifier_and_id() {
        let c = Criteria::parse("Patient", "identifier=urn%3Aoid%3A1.2%7C123&_id=x").unwrap();
        assert_eq!(c.tokens[0].system.as_deref(), Some("urn:oid:1.2"));
        assert_eq!(c.tokens[0].code, "123");
        assert_eq!(c.tokens[1].param, "_id");
        let c = Criteria::parse("Patient", "?identifier=abc").unwrap();
        assert_eq!(c.tokens[0].system, None);
        let c = Criteria::parse("Patient", "identifier=|abc").unwrap();
        assert_eq!(c.tokens[0].system.as_deref(), Some(""));
    }

    #[test]
    fn refuses_what_it_cannot_match() {
        assert_eq!(
            Criteria::parse("Patient", "name=x").unwrap_err().status,
            400
        );
        assert_eq!(Criteria::parse("Patient", "").unwrap_err().status, 400);
        assert_eq!(
            Criteria::parse("Patient", "identifier=")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            Criteria::parse("Patient", "identifier=sys|")
                .unwrap_err()
                .status,
            400
        );
    }
}
