//! The R4 definition tables (types, elements, required value sets, search parameters), parsed
//! once from the generated `definitions/r4.json`.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

static R4_JSON: &str = include_str!("../definitions/r4.json");
static R4: LazyLock<Definitions> = LazyLock::new(|| Definitions::parse(R4_JSON));

/// The FHIR R4 (4.0.1) definitions.
pub fn r4() -> &'static Definitions {
    &R4
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    Resource,
    ComplexType,
    PrimitiveType,
}

/// One element of a type's snapshot, e.g. `Patient.contact.name` or `Observation.value[x]`.
#[derive(Debug, Clone)]
pub struct ElementDef {
    /// Full path, `Patient.contact.name`.
    pub path: String,
    /// Last path segment as in the definition: `name`, `value[x]`.
    pub name: String,
    pub min: u32,
    /// None for `*`.
    pub max: Option<u32>,
    /// Type codes: `HumanName`, `string`, `BackboneElement`, `Reference` ... (several for `[x]`).
    pub types: Vec<String>,
    /// `Questionnaire.item` for `Questionnaire.item.item`: the element whose definition repeats.
    pub content_reference: Option<String>,
    /// URL of the value set of a required binding, without version.
    pub required_binding: Option<String>,
    /// Part of the summary (`_summary=true`).
    pub is_summary: bool,
}

impl ElementDef {
    pub fn is_choice(&self) -> bool {
        self.name.ends_with("[x]")
    }
    pub fn is_array(&self) -> bool {
        self.max != Some(1) && self.max != Some(0)
    }
}

/// A resource, complex or primitive type.
#[derive(Debug)]
pub struct TypeDef {
    pub name: String,
    pub kind: TypeKind,
    pub is_abstract: bool,
    pub base: Option<String>,
    pub elements: Vec<ElementDef>,
    by_path: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
}

impl TypeDef {
    /// The element at a full path (`Patient.contact.name`).
    pub fn element(&self, path: &str) -> Option<&ElementDef> {
        self.by_path.get(path).map(|&i| &self.elements[i])
    }

    /// The direct children of the element at `path` (the type's own name for the root).
    pub fn children(&self, path: &str) -> impl Iterator<Item = &ElementDef> {
        self.children
            .get(path)
            .into_iter()
            .flatten()
            .map(|&i| &self.elements[i])
    }
}

/// JSON representation and lexical rule of a primitive type.
#[derive(Debug)]
pub struct PrimitiveDef {
    pub name: String,
    /// "string", "number" or "boolean".
    pub json: String,
    /// The specification's regular expression for the value, if any (anchored by the caller).
    pub regex: Option<String>,
}

/// A search parameter as defined by the specification.
#[derive(Debug, Clone)]
pub struct SearchParamDef {
    pub code: String,
    pub url: String,
    pub base: Vec<String>,
    pub kind: String,
    pub expression: Option<String>,
    pub target: Vec<String>,
    /// For composite parameters: (definition URL, expression) of each component.
    pub components: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Definitions {
    pub fhir_version: String,
    types: HashMap<String, TypeDef>,
    primitives: HashMap<String, PrimitiveDef>,
    /// value set URL -> system -> codes
    value_sets: HashMap<String, BTreeMap<String, HashSet<String>>>,
    search_parameters: Vec<SearchParamDef>,
    /// resource type → the search parameters that place it in a patient's compartment.
    patient_compartment: HashMap<String, Vec<String>>,
    resource_types: Vec<String>,
}

impl Definitions {
    fn parse(text: &str) -> Definitions {
        // The table is generated and committed; failing to parse it is a build defect caught by
        // every test, never something input can cause.
        let root: Value = serde_json::from_str(text).expect("definitions/r4.json is valid JSON");
        let mut types = HashMap::new();
        for (name, t) in root["types"].as_object().into_iter().flatten() {
            let kind = match t["kind"].as_str() {
                Some("resource") => TypeKind::Resource,
                Some("primitive-type") => TypeKind::PrimitiveType,
                _ => TypeKind::ComplexType,
            };
            let mut elements = Vec::new();
            for row in t["elements"].as_array().into_iter().flatten() {
                let path = row[0].as_str().unwrap_or_default().to_string();
                let name = path.rsplit('.').next().unwrap_or_default().to_string();
                elements.push(ElementDef {
                    name,
                    min: row[1].as_u64().unwrap_or(0) as u32,
                    max: row[2].as_str().and_then(|m| m.parse().ok()),
                    types: row[3]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect(),
                    content_reference: row[4].as_str().map(str::to_string),
                    required_binding: row[5].as_str().map(str::to_string),
                    is_summary: row[6].as_bool().unwrap_or(false),
                    path,
                });
            }
            let mut by_path = HashMap::new();
            let mut children: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, e) in elements.iter().enumerate() {
                by_path.insert(e.path.clone(), i);
                if let Some((parent, _)) = e.path.rsplit_once('.') {
                    children.entry(parent.to_string()).or_default().push(i);
                }
            }
            types.insert(
                name.clone(),
                TypeDef {
                    name: name.clone(),
                    kind,
                    is_abstract: t["abstract"].as_bool().unwrap_or(false),
                    base: t["base"].as_str().map(str::to_string),
                    elements,
                    by_path,
                    children,
                },
            );
        }
        let primitives = root["primitives"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, p)| {
                (
                    name.clone(),
                    PrimitiveDef {
                        name: name.clone(),
                        json: p["json"].as_str().unwrap_or("string").to_string(),
                        regex: p["regex"].as_str().map(str::to_string),
                    },
                )
            })
            .collect();
        let value_sets = root["valueSets"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(url, systems)| {
                let m = systems
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(s, codes)| {
                        let set = codes
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c.as_str().map(str::to_string))
                            .collect();
                        (s.clone(), set)
                    })
                    .collect();
                (url.clone(), m)
            })
            .collect();
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let search_parameters = root["searchParameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| SearchParamDef {
                code: p["code"].as_str().unwrap_or_default().to_string(),
                url: p["url"].as_str().unwrap_or_default().to_string(),
                base: strings(&p["base"]),
                kind: p["type"].as_str().unwrap_or_default().to_string(),
                expression: p["expression"].as_str().map(str::to_string),
                target: strings(&p["target"]),
                components: p["component"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        (
                            c["definition"].as_str().unwrap_or_default().to_string(),
                            c["expression"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            })
            .collect();
        let patient_compartment = root["patientCompartment"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), strings(v)))
            .collect();
        let mut resource_types: Vec<String> = types
            .values()
            .filter(|t: &&TypeDef| t.kind == TypeKind::Resource && !t.is_abstract)
            .map(|t| t.name.clone())
            .collect();
        resource_types.sort();
        Definitions {
            fhir_version: "4.0.1".to_string(),
            types,
            primitives,
            value_sets,
            search_parameters,
            resource_types,
            patient_compartment,
        }
    }

    /// A resource, complex or primitive type by name.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    pub fn primitive(&self, name: &str) -> Option<&PrimitiveDef> {
        self.primitives.get(name)
    }

    /// Concrete (non-abstract) resource types, sorted.
    pub fn resource_types(&self) -> &[String] {
        &self.resource_types
    }

    pub fn is_resource_type(&self, name: &str) -> bool {
        self.resource_types
            .binary_search_by(|t| t.as_str().cmp(name))
            .is_ok()
    }

    /// The codes of a required value set by system, or None if the specification alone cannot
    /// expand it (UCUM units, MIME types, currencies ...).
    pub fn value_set(&self, url: &str) -> Option<&BTreeMap<String, HashSet<String>>> {
        self.value_sets.get(url)
    }

    pub fn search_parameters(&self) -> &[SearchParamDef] {
        &self.search_parameters
    }

    /// The search parameters of `resource_type` that place a resource in a patient's
    /// compartment (the official CompartmentDefinition `patient`); empty if it never is.
    pub fn patient_compartment(&self, resource_type: &str) -> &[String] {
        self.patient_compartment
            .get(resource_type)
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_the_r4_specification() {
        let d = r4();
        assert_eq!(d.resource_types().len(), 146);
        assert!(d.is_resource_type("Patient"));
        assert!(!d.is_resource_type("DomainResource"));
        assert!(!d.is_resource_type("patient"));
        let q = d.type_def("Questionnaire").unwrap();
        let item_item = q.element("Questionnaire.item.item").unwrap();
        assert_eq!(
            item_item.content_reference.as_deref(),
            Some("Questionnaire.item")
        );
        let link_id = q.element("Questionnaire.item.linkId").unwrap();
        assert_eq!((link_id.min, link_id.max), (1, Some(1)));
        let obs = d.type_def("Observation").unwrap();
        let value = obs.element("Observation.value[x]").unwrap();
        assert!(value.is_choice());
        assert!(value.types.iter().any(|t| t == "Quantity"));
        let gender = d
            .type_def("Patient")
            .unwrap()
            .element("Patient.gender")
            .unwrap();
        let vs = d
            .value_set(gender.required_binding.as_deref().unwrap())
            .unwrap();
        assert!(vs["http://hl7.org/fhir/administrative-gender"].contains("female"));
        assert_eq!(d.search_parameters().len(), 1378);
        assert!(d.primitive("dateTime").unwrap().regex.is_some());
    }
}
