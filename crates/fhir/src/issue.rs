//! Problems found in a request or resource, and their FHIR form (OperationOutcome).

use serde_json::{Value, json};

/// How bad an issue is (`OperationOutcome.issue.severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn code(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// The kind of problem (`OperationOutcome.issue.code`, value set `issue-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueCode {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    CodeInvalid,
    NotSupported,
    Duplicate,
    NotFound,
    Deleted,
    TooLong,
    Conflict,
    Processing,
    Exception,
    Informational,
    Security,
    /// The client could not be identified (no or a refused certificate or token).
    Login,
    Forbidden,
    Incomplete,
    TooCostly,
    BusinessRule,
}

impl IssueCode {
    pub fn code(self) -> &'static str {
        match self {
            IssueCode::Invalid => "invalid",
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::Invariant => "invariant",
            IssueCode::CodeInvalid => "code-invalid",
            IssueCode::NotSupported => "not-supported",
            IssueCode::Duplicate => "duplicate",
            IssueCode::NotFound => "not-found",
            IssueCode::Deleted => "deleted",
            IssueCode::TooLong => "too-long",
            IssueCode::Conflict => "conflict",
            IssueCode::Processing => "processing",
            IssueCode::Exception => "exception",
            IssueCode::Informational => "informational",
            IssueCode::Security => "security",
            IssueCode::Login => "login",
            IssueCode::Forbidden => "forbidden",
            IssueCode::Incomplete => "incomplete",
            IssueCode::TooCostly => "too-costly",
            IssueCode::BusinessRule => "business-rule",
        }
    }
}

/// One problem, with the FHIRPath-style location of the offending element
/// (`Patient.name[0].given[1]`), or none when it concerns the request as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    pub code: IssueCode,
    pub expression: Option<String>,
    pub message: String,
}

impl Issue {
    pub fn error(
        code: IssueCode,
        expression: impl Into<Option<String>>,
        message: impl Into<String>,
    ) -> Issue {
        Issue {
            severity: Severity::Error,
            code,
            expression: expression.into(),
            message: message.into(),
        }
    }

    pub fn warning(
        code: IssueCode,
        expression: impl Into<Option<String>>,
        message: impl Into<String>,
    ) -> Issue {
        Issue {
            severity: Severity::Warning,
            code,
            expression: expression.into(),
            message: message.into(),
        }
    }

    pub fn information(message: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Information,
            code: IssueCode::Informational,
            expression: None,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity <= Severity::Error
    }

    /// The same issue located inside an enclosing element: `Patient.name` under
    /// `Bundle.entry[3].resource` becomes `Bundle.entry[3].resource.name`.
    pub fn nested_under(mut self, prefix: &str) -> Issue {
        if let Some(e) = &self.expression {
            let rest = e.split_once('.').map(|(_, r)| r);
            self.expression = Some(match rest {
                Some(r) => format!("{prefix}.{r}"),
                None => prefix.to_string(),
            });
        }
        self
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "severity": self.severity.code(),
            "code": self.code.code(),
            "diagnostics": self.message,
        });
        if let Some(e) = &self.expression {
            v["expression"] = json!([e]);
            v["location"] = json!([e]);
        }
        v
    }
}

/// An OperationOutcome resource holding `issues` (at least one issue is always present, as the
/// specification requires: an empty list yields an informational "All OK").
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let list: Vec<Value> = if issues.is_empty() {
        vec![Issue::information("All OK").to_json()]
    } else {
        issues.iter().map(Issue::to_json).collect()
    };
    json!({ "resourceType": "OperationOutcome", "issue": list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_rewrites_the_root_of_the_path() {
        let i = Issue::error(
            IssueCode::Required,
            Some("Patient.name[0].family".into()),
            "x",
        );
        assert_eq!(
            i.nested_under("Bundle.entry[2].resource")
                .expression
                .as_deref(),
            Some("Bundle.entry[2].resource.name[0].family")
        );
        let j = Issue::error(IssueCode::Required, Some("Patient".into()), "x");
        assert_eq!(
            j.nested_under("Bundle.entry[0].resource")
                .expression
                .as_deref(),
            Some("Bundle.entry[0].resource")
        );
    }

    #[test]
    fn outcome_is_never_empty() {
        let oo = operation_outcome(&[]);
        assert_eq!(oo["issue"][0]["severity"], "information");
        let oo = operation_outcome(&[Issue::error(
            IssueCode::Value,
            Some("Patient.birthDate".into()),
            "bad date",
        )]);
        assert_eq!(oo["issue"][0]["expression"][0], "Patient.birthDate");
        assert_eq!(oo["issue"][0]["code"], "value");
    }
}
