//! The search parameters of FHIR R4 (the 1,378 definitions of the specification), typed and
//! indexed by resource type, built once.

use kizuna_fhir::r4;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The type of a search parameter, which decides the syntax of its values and its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

impl ParamKind {
    pub fn code(self) -> &'static str {
        match self {
            ParamKind::Number => "number",
            ParamKind::Date => "date",
            ParamKind::String => "string",
            ParamKind::Token => "token",
            ParamKind::Reference => "reference",
            ParamKind::Composite => "composite",
            ParamKind::Quantity => "quantity",
            ParamKind::Uri => "uri",
            ParamKind::Special => "special",
        }
    }

    fn from_code(code: &str) -> ParamKind {
        match code {
            "number" => ParamKind::Number,
            "date" => ParamKind::Date,
            "string" => ParamKind::String,
            "token" => ParamKind::Token,
            "reference" => ParamKind::Reference,
            "composite" => ParamKind::Composite,
            "quantity" => ParamKind::Quantity,
            "uri" => ParamKind::Uri,
            _ => ParamKind::Special,
        }
    }
}

/// One component of a composite parameter: the parameter whose syntax its value follows, and
/// the expression (relative to the composite's own expression) that selects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub url: String,
    pub code: String,
    pub kind: ParamKind,
    pub expression: String,
}

/// A search parameter definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchParam {
    pub code: String,
    pub url: String,
    pub kind: ParamKind,
    /// The resource types it is defined on (`Resource` and `DomainResource` for the common ones).
    pub base: Vec<String>,
    /// The FHIRPath expression (for every base at once: `A.x | B.y`); none for `_text`,
    /// `_content` and `_query`.
    pub expression: Option<String>,
    /// For references: the resource types it can point to.
    pub targets: Vec<String>,
    /// For composites: the components, in the order their values are written.
    pub components: Vec<Component>,
    /// For tokens: whether it searches an `Identifier` (so `:of-type` applies).
    pub on_identifier: bool,
    /// For numbers: whether it can search a `Range` (`RiskAssessment.probability`), whose
    /// index rows hold two bounds.
    pub on_range: bool,
}

impl SearchParam {
    /// Whether the parameter is defined on `resource_type` (directly or as a common parameter).
    pub fn applies_to(&self, resource_type: &str) -> bool {
        param(resource_type, &self.code).is_some_and(|p| p.url == self.url)
    }
}

struct Registry {
    params: Vec<SearchParam>,
    /// resource type -> code -> index in `params`
    by_type: HashMap<String, HashMap<String, usize>>,
    /// Parameters of every resource type (system-level search without `_type`).
    common: HashMap<String, usize>,
    by_url: HashMap<String, usize>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(build);

fn is_domain_resource(resource_type: &str) -> bool {
    let defs = r4();
    let mut current = defs.type_def(resource_type).and_then(|t| t.base.clone());
    while let Some(name) = current {
        if name == "DomainResource" {
            return true;
        }
        current = defs.type_def(&name).and_then(|t| t.base.clone());
    }
    false
}

/// Whether one of the `|`-separated paths of an expression is an element of type `wanted`
/// (a choice element `x[x]` of which `wanted` is one type counts).
fn searches_type(expression: &str, wanted: &str) -> bool {
    expression.split('|').any(|member| {
        let path = member.trim().trim_start_matches('(').trim_end_matches(')');
        let Some((rtype, _)) = path.split_once('.') else {
            return false;
        };
        let Some(t) = r4().type_def(rtype) else {
            return false;
        };
        t.element(path)
            .or_else(|| t.element(&format!("{path}[x]")))
            .is_some_and(|e| e.types.iter().any(|t| t == wanted))
    })
}

fn build() -> Registry {
    let defs = r4();
    let mut params: Vec<SearchParam> = defs
        .search_parameters()
        .iter()
        .map(|d| {
            let kind = ParamKind::from_code(&d.kind);
            let mut targets = d.target.clone();
            targets.sort();
            SearchParam {
                code: d.code.clone(),
                url: d.url.clone(),
                kind,
                base: d.base.clone(),
                on_identifier: kind == ParamKind::Token
                    && d.expression
                        .as_deref()
                        .is_some_and(|e| searches_type(e, "Identifier")),
                on_range: kind == ParamKind::Number
                    && d.expression
                        .as_deref()
                        .is_some_and(|e| searches_type(e, "Range")),
                expression: d.expression.clone(),
                targets,
                components: Vec::new(),
            }
        })
        .collect();
    let by_url: HashMap<String, usize> = params
        .iter()
        .enumerate()
        .map(|(i, p)| (p.url.clone(), i))
        .collect();
    for (i, d) in defs.search_parameters().iter().enumerate() {
        params[i].components = d
            .components
            .iter()
            .filter_map(|(url, expression)| {
                let c = &params[*by_url.get(url)?];
                Some(Component {
                    url: url.clone(),
                    code: c.code.clone(),
                    kind: c.kind,
                    expression: expression.clone(),
                })
            })
            .collect();
    }
    let mut by_type: HashMap<String, HashMap<String, usize>> = HashMap::new();
    let mut common = HashMap::new();
    for rtype in defs.resource_types() {
        let domain = is_domain_resource(rtype);
        let map = by_type.entry(rtype.clone()).or_default();
        for (i, p) in params.iter().enumerate() {
            let applies = p
                .base
                .iter()
                .any(|b| b == rtype || b == "Resource" || (b == "DomainResource" && domain));
            if applies {
                map.insert(p.code.clone(), i);
            }
        }
    }
    for (i, p) in params.iter().enumerate() {
        // `_text` is defined on DomainResource, but the specification lets it apply to all.
        if p.base
            .iter()
            .any(|b| b == "Resource" || b == "DomainResource")
        {
            common.insert(p.code.clone(), i);
        }
    }
    Registry {
        params,
        by_type,
        common,
        by_url,
    }
}

/// The parameter `code` of `resource_type`, if the specification defines one.
pub fn param(resource_type: &str, code: &str) -> Option<&'static SearchParam> {
    let r = &*REGISTRY;
    r.by_type
        .get(resource_type)?
        .get(code)
        .map(|&i| &r.params[i])
}

/// A parameter every resource type has (`_id`, `_lastUpdated`, `_tag` …), for system-level
/// search without `_type`.
pub fn common_param(code: &str) -> Option<&'static SearchParam> {
    let r = &*REGISTRY;
    r.common.get(code).map(|&i| &r.params[i])
}

/// The parameters of `resource_type`, sorted by code (empty for an unknown type).
pub fn params_of(resource_type: &str) -> Vec<&'static SearchParam> {
    let r = &*REGISTRY;
    let mut list: Vec<&SearchParam> = r
        .by_type
        .get(resource_type)
        .into_iter()
        .flat_map(|m| m.values().map(|&i| &r.params[i]))
        .collect();
    list.sort_by(|a, b| a.code.cmp(&b.code));
    list
}

/// A parameter by its canonical URL.
pub fn by_url(url: &str) -> Option<&'static SearchParam> {
    let r = &*REGISTRY;
    r.by_url.get(url).map(|&i| &r.params[i])
}

/// Every definition, in the order of the specification's table.
pub fn all() -> &'static [SearchParam] {
    &REGISTRY.params
}

/// The members of `p`'s expression that can select something in a `resource_type`: a shared
/// definition (`AllergyIntolerance.code | Condition.code | …`) loses the members that start at
/// another resource type, which select nothing there. None if nothing is left or `p` has no
/// expression.
pub fn members_for(p: &'static SearchParam, resource_type: &str) -> Option<Vec<&'static str>> {
    let expression = p.expression.as_deref()?;
    let defs = r4();
    let kept: Vec<&'static str> = kizuna_fhir::fhirpath::union_members(expression)
        .into_iter()
        .filter(|m| {
            let path = m.trim_start_matches(['(', ' ']);
            let root: &str = path
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or_default();
            let other_type = root != resource_type
                && root != "Resource"
                && root != "DomainResource"
                && path[root.len()..].starts_with('.')
                && defs.resource_types().iter().any(|t| t == root);
            !other_type
        })
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// `p`'s expression as it applies to `resource_type` (see [`members_for`]).
pub fn expression_for(p: &'static SearchParam, resource_type: &str) -> Option<String> {
    let members = members_for(p, resource_type)?;
    let whole = kizuna_fhir::fhirpath::union_members(p.expression.as_deref()?).len();
    Some(match members.as_slice() {
        // `|` removes duplicates; a union narrowed to one member keeps doing so.
        [one] if whole > 1 => format!("{one} | {{}}"),
        _ => members.join(" | "),
    })
}

/// If parameter `code` of `resource_type` selects exactly the values of other parameters of
/// the same type and kind together (`combo-code` is `code | component-code` on Observation),
/// those parameters. Such a parameter needs no index rows of its own: a search on it is a
/// search on its parts. References are never parts (their targets may differ); nor are
/// composites and special parameters.
pub fn union_of(resource_type: &str, code: &str) -> Option<&'static [&'static SearchParam]> {
    type Unions = HashMap<&'static str, HashMap<&'static str, Vec<&'static SearchParam>>>;
    static UNIONS: LazyLock<Unions> = LazyLock::new(find_unions);
    UNIONS.get(resource_type)?.get(code).map(Vec::as_slice)
}

fn find_unions() -> HashMap<&'static str, HashMap<&'static str, Vec<&'static SearchParam>>> {
    let mut out: HashMap<&'static str, HashMap<&'static str, Vec<&'static SearchParam>>> =
        HashMap::new();
    for rtype in r4().resource_types() {
        let params: Vec<(&'static SearchParam, Vec<&'static str>)> = params_of(rtype)
            .into_iter()
            .filter(|p| {
                !matches!(
                    p.kind,
                    ParamKind::Reference | ParamKind::Composite | ParamKind::Special
                )
            })
            .filter_map(|p| Some((p, members_for(p, rtype)?)))
            .collect();
        for (p, members) in &params {
            if members.len() < 2 {
                continue;
            }
            // Candidate parts: same kind, every member one of `p`'s, fewer members; the
            // largest first, and they must cover `p` exactly without overlapping.
            let mut candidates: Vec<&(&SearchParam, Vec<&str>)> = params
                .iter()
                .filter(|(q, m)| {
                    q.url != p.url
                        && q.kind == p.kind
                        && m.len() < members.len()
                        && m.iter().all(|x| members.contains(x))
                })
                .collect();
            candidates.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.code.cmp(&b.0.code)));
            let mut covered: Vec<&str> = Vec::new();
            let mut parts = Vec::new();
            for (q, m) in candidates {
                if m.iter().any(|x| covered.contains(x)) {
                    continue;
                }
                covered.extend(m.iter().copied());
                parts.push(*q);
            }
            if covered.len() == members.len() {
                out.entry(rtype.as_str())
                    .or_default()
                    .insert(p.code.as_str(), parts);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_is_typed_and_placed() {
        assert_eq!(all().len(), 1378);
        for p in all() {
            assert!(!p.code.is_empty(), "{}", p.url);
            for c in &p.components {
                assert_ne!(c.kind, ParamKind::Composite, "{}", p.url);
            }
            if p.kind == ParamKind::Composite {
                assert!(p.components.len() >= 2, "{}", p.url);
            }
        }
        // Every concrete type has the Resource parameters; Bundle has no _text.
        for t in r4().resource_types() {
            assert!(param(t, "_id").is_some(), "{t}");
            assert!(param(t, "_lastUpdated").is_some(), "{t}");
        }
        assert!(param("Patient", "_text").is_some());
        let ranges: Vec<String> = REGISTRY
            .params
            .iter()
            .filter(|p| p.on_range)
            .map(|p| p.url.clone())
            .collect();
        assert_eq!(
            ranges,
            ["http://hl7.org/fhir/SearchParameter/RiskAssessment-probability"]
        );
        assert!(param("Bundle", "_text").is_none());
        assert!(param("Binary", "_id").is_some());
    }

    #[test]
    fn shared_expressions_narrow_to_the_type() {
        let code = param("Observation", "code").unwrap();
        assert_eq!(
            expression_for(code, "Observation").unwrap(),
            "Observation.code | {}"
        );
        let tag = param("Observation", "_tag").unwrap();
        assert_eq!(
            expression_for(tag, "Observation").unwrap(),
            "Resource.meta.tag"
        );
        let vq = param("Observation", "value-quantity").unwrap();
        assert_eq!(
            expression_for(vq, "Observation").unwrap(),
            "(Observation.value.ofType(Quantity)) | (Observation.value.ofType(SampledData))"
        );
    }

    #[test]
    fn parameters_that_are_unions_of_others_are_found() {
        let codes = |rtype: &str, code: &str| -> Option<Vec<&str>> {
            union_of(rtype, code).map(|ps| ps.iter().map(|p| p.code.as_str()).collect())
        };
        assert_eq!(
            codes("Observation", "combo-code").unwrap(),
            ["code", "component-code"]
        );
        assert_eq!(
            codes("Observation", "combo-value-quantity").unwrap(),
            ["component-value-quantity", "value-quantity"]
        );
        assert!(codes("Observation", "code").is_none());
        assert!(codes("Observation", "patient").is_none());
        let all: usize = r4()
            .resource_types()
            .iter()
            .flat_map(|t| params_of(t).into_iter().map(move |p| (t, p)))
            .filter(|(t, p)| union_of(t, &p.code).is_some())
            .count();
        assert!(all >= 4, "{all}");
    }

    #[test]
    fn identifier_tokens_are_recognized() {
        assert!(param("Patient", "identifier").unwrap().on_identifier);
        assert!(param("Observation", "identifier").unwrap().on_identifier);
        assert!(!param("Patient", "gender").unwrap().on_identifier);
        assert!(!param("Observation", "code").unwrap().on_identifier);
    }

    #[test]
    fn shared_definitions_serve_every_base() {
        let a = param("Observation", "patient").unwrap();
        let b = param("Condition", "patient").unwrap();
        assert_eq!(a.url, b.url);
        assert_eq!(a.targets, vec!["Patient".to_string()]);
        assert!(a.applies_to("Encounter"));
        assert!(!a.applies_to("Patient"));
        let cvq = param("Observation", "code-value-quantity").unwrap();
        let kinds: Vec<ParamKind> = cvq.components.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, vec![ParamKind::Token, ParamKind::Quantity]);
        assert_eq!(by_url(&cvq.url).unwrap().code, "code-value-quantity");
        assert!(common_param("_tag").is_some());
        assert!(common_param("name").is_none());
        let codes: Vec<&str> = params_of("Patient")
            .iter()
            .map(|p| p.code.as_str())
            .collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        assert!(codes.contains(&"birthdate") && codes.contains(&"_security"));
    }
}
