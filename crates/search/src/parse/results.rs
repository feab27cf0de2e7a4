//! The result parameters: `_include`/`_revinclude`, `_sort`, `_count`, `_total`, `_summary`,
//! `_elements`, `_contained`/`_containedType` and `_page`.

use super::{Parser, Problem, Scope};
use crate::query::{Include, MAX_COUNT, Query, SortKey, Summary, Total};
use crate::registry::{ParamKind, param};
use kizuna_fhir::{IssueCode, r4};

impl Parser {
    pub(super) fn parse_include(
        &mut self,
        scope: &Scope,
        name: &str,
        value: &str,
        iterate: bool,
        forward: bool,
    ) -> Option<Include> {
        if value == "*" {
            return Some(Include {
                source_type: None,
                param: None,
                target_type: None,
                iterate,
            });
        }
        if value.contains(',') {
            self.error(
                IssueCode::Invalid,
                name,
                format!(
                    "'{value}' lists several includes; give one per parameter (repeat {})",
                    if forward { "_include" } else { "_revinclude" }
                ),
            );
            return None;
        }
        let parts: Vec<&str> = value.split(':').collect();
        let (source, code, target) = match parts.as_slice() {
            [s, c] => (*s, *c, None),
            [s, c, t] => (*s, *c, Some(*t)),
            _ => {
                self.error(
                    IssueCode::Invalid,
                    name,
                    format!("'{value}' is not SourceType:parameter[:TargetType]"),
                );
                return None;
            }
        };
        if !r4().is_resource_type(source) {
            self.error(
                IssueCode::Value,
                name,
                format!("'{source}' in '{value}' is not a resource type"),
            );
            return None;
        }
        let p = if code == "*" {
            None
        } else {
            match param(source, code) {
                Some(p) if p.kind == ParamKind::Reference => Some(p),
                Some(p) => {
                    self.error(IssueCode::Invalid, name, format!(
                        "'{source}:{code}' is a {} parameter; includes follow reference parameters",
                        p.kind.code()
                    ));
                    return None;
                }
                None => {
                    self.ignorable(name, &format!("{source} has no search parameter '{code}'"));
                    return None;
                }
            }
        };
        if let Some(t) = target {
            let allowed =
                p.is_none_or(|p| p.targets.is_empty() || p.targets.iter().any(|x| x == t));
            if !r4().is_resource_type(t) || !allowed {
                self.error(
                    IssueCode::Value,
                    name,
                    format!("'{t}' in '{value}' is not a type that {source}:{code} refers to"),
                );
                return None;
            }
        }
        let searched: Vec<&str> = match scope {
            Scope::Type(t) => vec![t],
            Scope::Types(ts) => ts.iter().map(String::as_str).collect(),
            Scope::All => Vec::new(),
        };
        if !iterate && !searched.is_empty() {
            let useless = if forward {
                !searched.contains(&source)
            } else {
                p.is_some_and(|p| {
                    !p.targets.is_empty()
                        && !searched.iter().any(|s| p.targets.iter().any(|t| t == s))
                })
            };
            if useless {
                self.warning(IssueCode::Informational, name, format!(
                    "'{value}' can include nothing in a search of {} (use :iterate to follow included resources)",
                    searched.join(", ")
                ));
            }
        }
        Some(Include {
            source_type: Some(source.to_string()),
            param: p,
            target_type: target.map(str::to_string),
            iterate,
        })
    }

    pub(super) fn parse_result_param(
        &mut self,
        query: &mut Query,
        scope: &Scope,
        name: &str,
        value: &str,
    ) {
        let bad = |p: &mut Parser, expected: &str| {
            p.error(
                IssueCode::Value,
                name,
                format!("{name} must be {expected}, not '{value}'"),
            )
        };
        match name {
            "_count" => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return bad(self, "a whole number, 0 or more");
                }
                // All digits: beyond u64 is still a count, just a very large one.
                let n = value.parse::<u64>().unwrap_or(u64::MAX);
                if n > MAX_COUNT as u64 {
                    self.warning(
                        IssueCode::TooCostly,
                        name,
                        format!("_count={value} was lowered to the largest page size, {MAX_COUNT}"),
                    );
                }
                query.count = n.min(MAX_COUNT as u64) as u32;
            }
            "_total" => match value {
                "none" => query.total = Some(Total::None),
                "estimate" => query.total = Some(Total::Estimate),
                "accurate" => query.total = Some(Total::Accurate),
                _ => bad(self, "none, estimate or accurate"),
            },
            "_summary" => match value {
                "true" => query.summary = Some(Summary::True),
                "text" => query.summary = Some(Summary::Text),
                "data" => query.summary = Some(Summary::Data),
                "count" => query.summary = Some(Summary::Count),
                "false" => query.summary = Some(Summary::False),
                _ => bad(self, "true, text, data, count or false"),
            },
            "_contained" => match value {
                "false" => {}
                "true" | "both" => self.ignorable(
                    name,
                    "searching contained resources is not supported (only _contained=false)",
                ),
                _ => bad(self, "true, false or both"),
            },
            "_containedType" => match value {
                "container" => {}
                "contained" => {
                    self.ignorable(name, "returning contained resources alone is not supported")
                }
                _ => bad(self, "container or contained"),
            },
            "_page" => query.page = Some(value.to_string()),
            "_sort" => self.parse_sort(query, scope, value),
            "_elements" => self.parse_elements(query, scope, value),
            _ => unreachable!("only result parameters are passed here"),
        }
    }

    fn parse_sort(&mut self, query: &mut Query, scope: &Scope, value: &str) {
        for key in value.split(',') {
            let (descending, code) = match key.strip_prefix('-') {
                Some(c) => (true, c),
                None => (false, key),
            };
            if code.is_empty() {
                self.error(
                    IssueCode::Value,
                    "_sort",
                    format!("'{value}' has an empty sort key (write _sort=a,-b)"),
                );
                continue;
            }
            if code.contains(['.', ':']) {
                self.ignorable(
                    "_sort",
                    &format!("sorting by '{code}' (a chain or modifier) is not supported"),
                );
                continue;
            }
            match Self::resolve(scope, code) {
                Ok(ps) => {
                    let p = ps[0];
                    if matches!(p.kind, ParamKind::Composite | ParamKind::Special)
                        || p.expression.is_none()
                    {
                        self.ignorable(
                            "_sort",
                            &format!(
                                "results cannot be sorted by the {} parameter '{code}'",
                                p.kind.code()
                            ),
                        );
                    } else {
                        query.sort.push(SortKey {
                            param: p,
                            descending,
                        });
                    }
                }
                Err(Problem::Ignorable(why)) => self.ignorable("_sort", &why),
                Err(problem) => self.report("_sort", problem),
            }
        }
    }

    fn parse_elements(&mut self, query: &mut Query, scope: &Scope, value: &str) {
        for element in value.split(',') {
            let name = match scope {
                Scope::Type(t) => element
                    .strip_prefix(*t)
                    .and_then(|r| r.strip_prefix('.'))
                    .unwrap_or(element),
                _ => element,
            };
            let mut chars = name.chars();
            let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric());
            if !well_formed {
                self.error(IssueCode::Value, "_elements", format!(
                    "'{element}' is not an element name (a comma-separated list of top-level elements)"
                ));
                continue;
            }
            let has = |t: &str| {
                r4().type_def(t).is_some_and(|d| {
                    d.children(t)
                        .any(|e| e.name == name || e.name.strip_suffix("[x]") == Some(name))
                })
            };
            let known = match scope {
                Scope::Type(t) => has(t),
                Scope::Types(ts) => ts.iter().any(|t| has(t)),
                Scope::All => true,
            };
            if !known {
                self.ignorable(
                    "_elements",
                    &format!("there is no top-level element '{name}'"),
                );
            } else if !query.elements.iter().any(|e| e == name) {
                query.elements.push(name.to_string());
            }
        }
    }
}
