//! A StructureDefinition's snapshot, compiled into a tree the checker walks: each element with
//! its children and its slices, cardinality, allowed types, fixed and pattern values, binding
//! and parsed invariants.

use kizuna_fhir::fhirpath::{self, Expr};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) const CORE_PREFIX: &str = "http://hl7.org/fhir/StructureDefinition/";

#[derive(Debug)]
pub(crate) struct Profile {
    pub url: String,
    pub version: Option<String>,
    pub name: String,
    /// The type it constrains (`Observation`, `Extension`, `Dosage`).
    pub type_name: String,
    pub base: Option<String>,
    pub package: String,
    /// `elems[0]` is the root.
    pub elems: Vec<Elem>,
    /// Element-level invariants whose expression does not parse here (key, reason).
    pub unparsed: Vec<(String, String)>,
}

#[derive(Debug)]
pub(crate) struct Elem {
    pub path: String,
    /// The last segment of the path (`coding`, `value[x]`).
    pub name: String,
    /// The JSON name of its primitive's extensions (`_birthDate`), computed once.
    pub ext_key: String,
    pub slice_name: Option<String>,
    pub min: u32,
    /// None: unbounded.
    pub max: Option<u32>,
    /// Whether `min` and `max` say more than the base definition does (the base checker
    /// already reports those).
    pub check_min: bool,
    pub check_max: bool,
    pub types: Vec<ElemType>,
    pub fixed: Option<Value>,
    pub pattern: Option<Value>,
    pub binding: Option<Binding>,
    pub constraints: Vec<Arc<Constraint>>,
    pub slicing: Option<Slicing>,
    pub children: Vec<usize>,
    pub slices: Vec<usize>,
}

#[derive(Debug)]
pub(crate) struct ElemType {
    /// `Coding`, `Reference`, `string`, `Patient` ... (FHIRPath system types mapped to
    /// `string`).
    pub code: String,
    pub profiles: Vec<String>,
    pub target_profiles: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Binding {
    pub required: bool,
    pub value_set: String,
}

#[derive(Debug)]
pub(crate) struct Constraint {
    pub key: String,
    pub error: bool,
    pub human: String,
    pub expr: Expr,
}

#[derive(Debug)]
pub(crate) struct Slicing {
    pub discriminators: Vec<(DiscKind, String)>,
    pub closed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiscKind {
    Value,
    Exists,
    Type,
    Profile,
}

/// Invariants the base checker covers structurally (cheaper and with better messages).
const COVERED: [&str; 2] = ["ele-1", "ext-1"];

/// Parsed expressions, shared by every element that repeats one (dom-2 .. dom-6 are in every
/// resource profile).
#[derive(Default)]
pub(crate) struct ExprCache {
    parsed: HashMap<(String, String), Option<Arc<Constraint>>>,
}

pub(crate) fn compile(sd: &Value, package: &str, cache: &mut ExprCache) -> Option<Profile> {
    let url = sd["url"].as_str()?.to_string();
    let type_name = sd["type"].as_str()?.to_string();
    let snapshot = sd["snapshot"]["element"].as_array()?;
    let mut elems: Vec<Elem> = Vec::with_capacity(snapshot.len());
    let mut by_id: HashMap<String, usize> = HashMap::with_capacity(snapshot.len());
    let mut unparsed = Vec::new();
    for (i, e) in snapshot.iter().enumerate() {
        let Some(path) = e["path"].as_str() else {
            continue;
        };
        let slice_name = e["sliceName"].as_str().map(str::to_string);
        let id = match e["id"].as_str() {
            Some(id) => id.to_string(),
            None => match &slice_name {
                Some(s) => format!("{path}:{s}"),
                None => path.to_string(),
            },
        };
        let name = path.rsplit('.').next().unwrap_or(path).to_string();
        let min = e["min"].as_u64().unwrap_or(0) as u32;
        let max = match e["max"].as_str() {
            Some("*") | None => None,
            Some(m) => m.parse().ok(),
        };
        let (base_min, base_max) = base_cardinality(e, i == 0);
        let types = e["type"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let code = t["code"].as_str()?;
                let code = if code.starts_with("http://hl7.org/fhirpath/System.") {
                    "string"
                } else {
                    code
                };
                let list = |k: &str| -> Vec<String> {
                    t[k].as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                };
                Some(ElemType {
                    code: code.to_string(),
                    profiles: list("profile"),
                    target_profiles: list("targetProfile"),
                })
            })
            .collect();
        let typed = |prefix: &str| {
            e.as_object()?
                .iter()
                .find(|(k, _)| k.starts_with(prefix) && k.len() > prefix.len())
                .map(|(_, v)| v.clone())
        };
        let binding = match e["binding"]["strength"].as_str() {
            Some(s @ ("required" | "extensible")) => {
                e["binding"]["valueSet"].as_str().map(|vs| Binding {
                    required: s == "required",
                    value_set: vs.to_string(),
                })
            }
            _ => None,
        };
        let mut constraints = Vec::new();
        for c in e["constraint"].as_array().into_iter().flatten() {
            let (Some(key), Some(expr)) = (c["key"].as_str(), c["expression"].as_str()) else {
                continue;
            };
            if COVERED.contains(&key) {
                continue;
            }
            let entry = cache
                .parsed
                .entry((key.to_string(), expr.to_string()))
                .or_insert_with(|| match fhirpath::parse(expr) {
                    Ok(parsed) => Some(Arc::new(Constraint {
                        key: key.to_string(),
                        error: c["severity"].as_str() != Some("warning"),
                        human: c["human"].as_str().unwrap_or(key).to_string(),
                        expr: parsed,
                    })),
                    Err(err) => {
                        unparsed.push((key.to_string(), err.to_string()));
                        None
                    }
                });
            if let Some(c) = entry {
                constraints.push(Arc::clone(c));
            }
        }
        let slicing = e.get("slicing").map(|s| Slicing {
            discriminators: s["discriminator"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    let kind = match d["type"].as_str()? {
                        "value" | "pattern" => DiscKind::Value,
                        "exists" => DiscKind::Exists,
                        "type" => DiscKind::Type,
                        "profile" => DiscKind::Profile,
                        _ => return None,
                    };
                    Some((kind, d["path"].as_str()?.to_string()))
                })
                .collect(),
            closed: s["rules"].as_str() == Some("closed"),
        });
        let index = elems.len();
        elems.push(Elem {
            path: path.to_string(),
            ext_key: format!("_{name}"),
            name,
            slice_name: slice_name.clone(),
            min,
            max,
            check_min: base_min.is_none_or(|b| min > b),
            check_max: match (max, base_max) {
                (Some(m), Some(b)) => m < b,
                (Some(_), None) => true,
                (None, _) => false,
            },
            types,
            fixed: typed("fixed"),
            pattern: typed("pattern"),
            binding,
            constraints,
            slicing,
            children: Vec::new(),
            slices: Vec::new(),
        });
        // Attach to the parent: a slice to the element it slices (`a:s1/s2` reslices
        // `a:s1` when that exists, else it is a slice of `a` whose name has a slash), anything
        // else to the element one segment up.
        let last_dot = id.rfind('.');
        let last_seg = &id[last_dot.map_or(0, |d| d + 1)..];
        if let (Some(colon), Some(_)) = (last_seg.rfind(':'), &slice_name) {
            let head = &id[..last_dot.map_or(0, |d| d + 1)];
            let base_name = &last_seg[..colon];
            let slice = &last_seg[colon + 1..];
            let mut parent = None;
            if let Some((outer, _)) = slice.rsplit_once('/') {
                parent = by_id.get(&format!("{head}{base_name}:{outer}")).copied();
            }
            let parent = parent.or_else(|| by_id.get(&format!("{head}{base_name}")).copied());
            if let Some(p) = parent {
                elems[p].slices.push(index);
            }
        } else if let Some(d) = last_dot
            && let Some(&p) = by_id.get(&id[..d])
        {
            elems[p].children.push(index);
        }
        by_id.insert(id, index);
    }
    if elems.is_empty() {
        return None;
    }
    Some(Profile {
        url,
        version: sd["version"].as_str().map(str::to_string),
        name: sd["name"].as_str().unwrap_or("").to_string(),
        type_name,
        base: sd["baseDefinition"].as_str().map(str::to_string),
        package: package.to_string(),
        elems,
        unparsed,
    })
}

/// The base definition's cardinality of an element, as its snapshot records it
/// (`ElementDefinition.base`); None where it does not say.
fn base_cardinality(e: &Value, root: bool) -> (Option<u32>, Option<u32>) {
    if root {
        return (Some(u32::MAX), None);
    }
    let base = &e["base"];
    let min = base["min"].as_u64().map(|m| m as u32);
    let max = match base["max"].as_str() {
        Some("*") => None,
        Some(m) => m.parse().ok().or(Some(u32::MAX)),
        None => Some(u32::MAX),
    };
    (min, max)
}
