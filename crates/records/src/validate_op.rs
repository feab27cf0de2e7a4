//! `$validate` (https://hl7.org/fhir/R4/resource-operation-validate.html): a resource checked
//! against the base specification and the installed profiles, without storing it.

use crate::{Failure, Payload, Records, Reply, Result};
use kizuna_fhir::{Issue, IssueCode, Severity, operation_outcome};
use serde_json::Value;

impl Records {
    /// `POST [type]/$validate` (body: the resource, or Parameters with `resource` and
    /// optionally `profile` and `mode`) and `[type]/[id]/$validate` (the stored resource when
    /// no body is given). `profile` from the query string wins over the body's. The answer is
    /// an OperationOutcome with every issue, errors or not; 200 whenever the validation ran.
    pub async fn validate_op(
        &self,
        rtype: &str,
        id: Option<&str>,
        body: Option<Value>,
        query_profile: Option<String>,
    ) -> Result<Reply> {
        crate::incoming::check_type(rtype)?;
        let (mut resource, mut profile, mode) = match body {
            Some(Value::Object(o))
                if o.get("resourceType").and_then(Value::as_str) == Some("Parameters")
                    && rtype != "Parameters" =>
            {
                let params = o
                    .get("parameter")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let named = |n: &str| {
                    params
                        .iter()
                        .find(|p| p.get("name").and_then(Value::as_str) == Some(n))
                        .cloned()
                };
                let text = |p: Option<Value>| -> Option<String> {
                    let p = p?;
                    ["valueUri", "valueCanonical", "valueCode", "valueString"]
                        .iter()
                        .find_map(|k| p.get(*k).and_then(Value::as_str).map(str::to_string))
                };
                (
                    named("resource").and_then(|p| p.get("resource").cloned()),
                    text(named("profile")),
                    text(named("mode")),
                )
            }
            Some(v) => (Some(v), None, None),
            None => (None, None, None),
        };
        if query_profile.is_some() {
            profile = query_profile;
        }
        if mode.as_deref() == Some("delete") {
            // Whether a delete would be allowed: Kizuna refuses none for content reasons.
            return Ok(outcome(Vec::new()));
        }
        if resource.is_none()
            && let Some(id) = id
        {
            let stored = self.read(rtype, id).await?;
            if let Payload::Version(v) = stored.payload {
                resource = v.body.as_deref().and_then(|b| serde_json::from_str(b).ok());
            }
        }
        let Some(resource) = resource else {
            return Err(Failure::new(
                400,
                IssueCode::Required,
                None,
                "nothing to validate: send the resource (or Parameters with a `resource` parameter) as the body",
            ));
        };
        let found = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("");
        if found != rtype {
            return Err(Failure::new(
                400,
                IssueCode::Invalid,
                Some("resourceType".into()),
                format!(
                    "this is {rtype}/$validate, but the resource is a {}",
                    if found.is_empty() {
                        "JSON object without resourceType"
                    } else {
                        found
                    }
                ),
            ));
        }
        let conf = self.profiles.current();
        let mut issues = kizuna_fhir::validate_resource(&resource);
        // Profiles may require what the server stamps on a write (meta.versionId and
        // meta.lastUpdated).
        let resource = crate::incoming::as_stored(&resource);
        let report = match &profile {
            Some(p) => conf.validate_against(&resource, p).ok_or_else(|| {
                Failure::new(
                    400,
                    IssueCode::NotSupported,
                    Some("profile".into()),
                    format!("profile {p} is not defined by any installed package (install it with `kizuna ig install`)"),
                )
            })?,
            None => conf.validate(&resource),
        };
        issues.extend(report.issues);
        if report.unevaluated > 0 {
            issues.push(Issue {
                severity: Severity::Information,
                code: IssueCode::Informational,
                expression: None,
                message: format!(
                    "{} invariants could not be evaluated here and were not checked",
                    report.unevaluated
                ),
            });
        }
        Ok(outcome(issues))
    }
}

fn outcome(mut issues: Vec<Issue>) -> Reply {
    if issues.is_empty() {
        issues.push(Issue::information("validation found no problems"));
    }
    Reply {
        status: 200,
        payload: Payload::Json(operation_outcome(&issues)),
        location: None,
        issues: Vec::new(),
    }
}
