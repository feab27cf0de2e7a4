//! Code systems and value sets from the installed packages, expanded once, and the membership
//! test bindings and slice discriminators use.
//!
//! A value set is expanded when the packages are loaded: its `compose` (concepts listed, whole
//! code systems, `is-a` / `descendent-of` / `is-not-a` / `=` filters on a loaded code system's
//! hierarchy and properties, other value sets, exclusions) or its `expansion`. What cannot be
//! enumerated here (a whole external code system such as LOINC, a filter this code does not
//! know) is remembered as such, so a code of it is accepted unverified rather than refused.
//! Value sets of the base specification come from `kizuna_fhir`'s tables.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// What a value set holds, as far as it can be enumerated.
#[derive(Debug, Default)]
pub(crate) struct Expansion {
    /// Enumerated codes, by system.
    codes: HashMap<String, HashSet<String>>,
    /// Systems whose every code is in (or some of whose codes are, by a filter this code cannot
    /// evaluate): a code of them is accepted unverified.
    open_systems: HashSet<String>,
    /// Why the expansion may miss codes (a value set it includes is not loaded).
    incomplete: Option<String>,
}

/// The answer to "is this code in that value set".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    Yes,
    No,
    /// It cannot be told here; the text says why.
    Unknown(String),
}

struct CodeSystem {
    complete: bool,
    /// code -> display
    concepts: HashMap<String, Option<String>>,
    /// code -> its children
    children: HashMap<String, Vec<String>>,
    /// code -> property code -> values (as text)
    properties: HashMap<String, Vec<(String, String)>>,
}

pub(crate) struct Terminology {
    code_systems: HashMap<String, CodeSystem>,
    expansions: HashMap<String, Expansion>,
}

fn strip_version(url: &str) -> &str {
    url.split('|').next().unwrap_or(url)
}

impl Terminology {
    pub fn build<'a>(resources: impl Iterator<Item = &'a Value> + Clone) -> Terminology {
        let mut code_systems = HashMap::new();
        for r in resources.clone() {
            if r["resourceType"] == "CodeSystem"
                && let Some(url) = r["url"].as_str()
            {
                code_systems.insert(url.to_string(), code_system(r));
            }
        }
        let value_sets: HashMap<&str, &Value> = resources
            .filter(|r| r["resourceType"] == "ValueSet")
            .filter_map(|r| Some((r["url"].as_str()?, r)))
            .collect();
        let mut t = Terminology {
            code_systems,
            expansions: HashMap::new(),
        };
        for url in value_sets.keys() {
            let mut stack = Vec::new();
            t.expand(url, &value_sets, &mut stack);
        }
        t
    }

    /// Expands `url` (and what it includes) into `self.expansions`, unless already done or
    /// in progress (a cycle).
    fn expand(&mut self, url: &str, sets: &HashMap<&str, &Value>, stack: &mut Vec<String>) {
        if self.expansions.contains_key(url) || stack.iter().any(|s| s == url) {
            return;
        }
        let Some(vs) = sets.get(url) else { return };
        stack.push(url.to_string());
        let mut exp = Expansion::default();
        let compose = &vs["compose"];
        if let Some(includes) = compose["include"].as_array() {
            for inc in includes {
                self.include(inc, sets, stack, &mut exp);
            }
            for exc in compose["exclude"].as_array().into_iter().flatten() {
                let mut removed = Expansion::default();
                self.include(exc, sets, stack, &mut removed);
                for (system, codes) in removed.codes {
                    if let Some(have) = exp.codes.get_mut(&system) {
                        have.retain(|c| !codes.contains(c));
                    }
                }
            }
        } else if let Some(contains) = vs["expansion"]["contains"].as_array() {
            add_contains(contains, &mut exp);
        } else {
            exp.incomplete = Some(format!("value set {url} has neither compose nor expansion"));
        }
        stack.pop();
        self.expansions.insert(url.to_string(), exp);
    }

    fn include(
        &mut self,
        inc: &Value,
        sets: &HashMap<&str, &Value>,
        stack: &mut Vec<String>,
        exp: &mut Expansion,
    ) {
        // Included value sets (all of them must hold a code: their intersection, approximated
        // by their union when a system is also given).
        for other in inc["valueSet"].as_array().into_iter().flatten() {
            let Some(other) = other.as_str().map(strip_version) else {
                continue;
            };
            self.expand(other, sets, stack);
            match self.expansions.get(other) {
                Some(o) => {
                    for (s, c) in &o.codes {
                        exp.codes
                            .entry(s.clone())
                            .or_default()
                            .extend(c.iter().cloned());
                    }
                    exp.open_systems.extend(o.open_systems.iter().cloned());
                    if o.incomplete.is_some() && exp.incomplete.is_none() {
                        exp.incomplete.clone_from(&o.incomplete);
                    }
                }
                None => {
                    match kizuna_fhir::r4().value_set(other) {
                        Some(core) => {
                            for (s, c) in core {
                                exp.codes
                                    .entry(s.clone())
                                    .or_default()
                                    .extend(c.iter().cloned());
                            }
                        }
                        None => {
                            exp.incomplete.get_or_insert_with(|| {
                            format!("it includes value set {other}, which no installed package defines")
                        });
                        }
                    }
                }
            }
        }
        let Some(system) = inc["system"].as_str() else {
            return;
        };
        if let Some(concepts) = inc["concept"].as_array() {
            let set = exp.codes.entry(system.to_string()).or_default();
            set.extend(
                concepts
                    .iter()
                    .filter_map(|c| c["code"].as_str().map(str::to_string)),
            );
            return;
        }
        let cs = self.code_systems.get(system).filter(|cs| cs.complete);
        let filters = inc["filter"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let Some(cs) = cs else {
            // A system not loaded (LOINC, SNOMED CT, a fragment): its codes are accepted.
            exp.open_systems.insert(system.to_string());
            return;
        };
        let mut codes: Option<HashSet<String>> = None;
        for f in filters {
            let (Some(prop), Some(op), Some(value)) = (
                f["property"].as_str(),
                f["op"].as_str(),
                f["value"].as_str(),
            ) else {
                continue;
            };
            let Some(matched) = cs.filter(prop, op, value) else {
                exp.open_systems.insert(system.to_string());
                return;
            };
            codes = Some(match codes {
                None => matched,
                Some(c) => c.intersection(&matched).cloned().collect(),
            });
        }
        let codes = codes.unwrap_or_else(|| cs.concepts.keys().cloned().collect());
        exp.codes
            .entry(system.to_string())
            .or_default()
            .extend(codes);
    }

    /// The canonical URLs of the value sets the packages define.
    pub fn value_set_urls(&self) -> impl Iterator<Item = &str> {
        self.expansions.keys().map(String::as_str)
    }

    /// Whether `code` (of `system`, when the element carries one) is in value set `vs`.
    pub fn member(&self, vs: &str, system: Option<&str>, code: &str) -> Membership {
        let vs = strip_version(vs);
        if let Some(exp) = self.expansions.get(vs) {
            return exp.member(system, code);
        }
        if let Some(core) = kizuna_fhir::r4().value_set(vs) {
            let found = match system {
                Some(s) => core.get(s).is_some_and(|c| c.contains(code)),
                None => core.values().any(|c| c.contains(code)),
            };
            return if found {
                Membership::Yes
            } else {
                Membership::No
            };
        }
        Membership::Unknown(format!("value set {vs} is not in any installed package"))
    }

    /// The display a loaded code system gives `code`.
    pub fn display(&self, system: &str, code: &str) -> Option<&str> {
        self.code_systems
            .get(system)?
            .concepts
            .get(code)?
            .as_deref()
    }
}

impl Expansion {
    fn member(&self, system: Option<&str>, code: &str) -> Membership {
        match system {
            Some(s) => {
                if self.open_systems.contains(s)
                    || self.codes.get(s).is_some_and(|c| c.contains(code))
                {
                    return Membership::Yes;
                }
            }
            None => {
                if self.codes.values().any(|c| c.contains(code)) {
                    return Membership::Yes;
                }
                if let Some(s) = self.open_systems.iter().next() {
                    return Membership::Unknown(format!(
                        "the value set takes codes of {s}, which is not loaded"
                    ));
                }
            }
        }
        match &self.incomplete {
            Some(why) => Membership::Unknown(why.clone()),
            None => Membership::No,
        }
    }
}

fn add_contains(contains: &[Value], exp: &mut Expansion) {
    for c in contains {
        if let (Some(s), Some(code)) = (c["system"].as_str(), c["code"].as_str()) {
            exp.codes
                .entry(s.to_string())
                .or_default()
                .insert(code.to_string());
        }
        if let Some(nested) = c["contains"].as_array() {
            add_contains(nested, exp);
        }
    }
}

fn code_system(r: &Value) -> CodeSystem {
    let mut cs = CodeSystem {
        complete: r["content"].as_str().is_none_or(|c| c == "complete"),
        concepts: HashMap::new(),
        children: HashMap::new(),
        properties: HashMap::new(),
    };
    fn walk(concepts: &[Value], parent: Option<&str>, cs: &mut CodeSystem) {
        for c in concepts {
            let Some(code) = c["code"].as_str() else {
                continue;
            };
            cs.concepts
                .insert(code.to_string(), c["display"].as_str().map(str::to_string));
            if let Some(p) = parent {
                cs.children
                    .entry(p.to_string())
                    .or_default()
                    .push(code.to_string());
            }
            for p in c["property"].as_array().into_iter().flatten() {
                let Some(pc) = p["code"].as_str() else {
                    continue;
                };
                let value = [
                    "valueCode",
                    "valueString",
                    "valueBoolean",
                    "valueInteger",
                    "valueCoding",
                ]
                .iter()
                .find_map(|k| p.get(*k))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Object(o) => o
                        .get("code")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
                if pc == "parent" {
                    cs.children
                        .entry(value.clone())
                        .or_default()
                        .push(code.to_string());
                }
                cs.properties
                    .entry(code.to_string())
                    .or_default()
                    .push((pc.to_string(), value));
            }
            if let Some(nested) = c["concept"].as_array() {
                walk(nested, Some(code), cs);
            }
        }
    }
    if let Some(concepts) = r["concept"].as_array() {
        walk(concepts, None, &mut cs);
    }
    cs
}

impl CodeSystem {
    /// The codes a compose filter selects; None for a filter not supported here.
    fn filter(&self, property: &str, op: &str, value: &str) -> Option<HashSet<String>> {
        match (property, op) {
            ("concept", "is-a" | "descendent-of" | "is-not-a") => {
                let mut below = HashSet::new();
                let mut stack: Vec<&str> = vec![value];
                while let Some(c) = stack.pop() {
                    for child in self.children.get(c).into_iter().flatten() {
                        if below.insert(child.clone()) {
                            stack.push(child);
                        }
                    }
                }
                match op {
                    "is-a" => {
                        if self.concepts.contains_key(value) {
                            below.insert(value.to_string());
                        }
                        Some(below)
                    }
                    "descendent-of" => Some(below),
                    _ => Some(
                        self.concepts
                            .keys()
                            .filter(|c| *c != value && !below.contains(*c))
                            .cloned()
                            .collect(),
                    ),
                }
            }
            (_, "=") => Some(
                self.properties
                    .iter()
                    .filter(|(_, props)| props.iter().any(|(p, v)| p == property && v == value))
                    .map(|(c, _)| c.clone())
                    .collect(),
            ),
            _ => None,
        }
    }
}
