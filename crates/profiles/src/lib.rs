//! `kizuna-profiles`: implementation guides. Owns the reading of FHIR IG packages (the npm
//! tarballs every FHIR tool publishes), the conformance resources they carry
//! (StructureDefinition snapshots, ValueSets, CodeSystems, NamingSystems) compiled into a
//! [`Conformance`] set, and the validation of resources against the profiles in it: what a
//! resource claims in `meta.profile` (and every resource nested in it), or a profile named by
//! the caller.
//!
//! Checked against a profile's snapshot: cardinality, types (choice types, nested resource
//! types, reference targets), fixed and pattern values, slicing with value, pattern, exists,
//! type and profile discriminators, required and extensible bindings to the value sets of the
//! loaded packages (and of the base specification), and the profile's invariants wherever the
//! FHIRPath engine of `kizuna-fhir` can evaluate them. The base specification's own rules are
//! `kizuna_fhir::validate_resource`'s; callers run both.
//!
//! Must never: touch storage, HTTP, the clock or the network. Packages come in as bytes and
//! validation is a pure function of the set and the resource.

mod check;
mod compile;
pub mod package;
mod terminology;

pub use package::{Package, PackageError};
pub use terminology::Membership;

use compile::{CORE_PREFIX, ExprCache, Profile};
use kizuna_fhir::Issue;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use terminology::Terminology;

/// Package names that stand for the base specification itself.
const CORE_PACKAGES: [&str; 3] = [
    "hl7.fhir.r4.core",
    "hl7.fhir.core",
    "hl7.fhir.r4.expansions",
];

/// What an installed package brought.
#[derive(Debug, Clone)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    pub canonical: Option<String>,
    pub digest: String,
    pub profiles: usize,
    pub value_sets: usize,
    pub code_systems: usize,
}

/// A profile, as callers see it.
#[derive(Debug, Clone)]
pub struct ProfileInfo {
    pub url: String,
    pub version: Option<String>,
    pub name: String,
    pub type_name: String,
    pub package: String,
}

/// The result of a validation: the issues, and how many invariants could not be evaluated
/// (a function the engine lacks, say) and so were not held against the resource.
#[derive(Debug, Default)]
pub struct Report {
    pub issues: Vec<Issue>,
    pub unevaluated: usize,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(Issue::is_error)
    }
}

/// The profiles and terminology of a set of packages, compiled for validation. Immutable;
/// build a new one when the installed packages change.
pub struct Conformance {
    packages: Vec<PackageInfo>,
    /// url -> its versions
    profiles: HashMap<String, Vec<Arc<Profile>>>,
    terminology: Terminology,
}

impl std::fmt::Debug for Conformance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conformance")
            .field("packages", &self.packages)
            .field("profiles", &self.profiles.len())
            .finish()
    }
}

impl Default for Conformance {
    fn default() -> Self {
        Conformance {
            packages: Vec::new(),
            profiles: HashMap::new(),
            terminology: Terminology::build(std::iter::empty()),
        }
    }
}

/// `url|version` split.
fn split_canonical(c: &str) -> (&str, Option<&str>) {
    match c.split_once('|') {
        Some((u, v)) => (u, Some(v)),
        None => (c, None),
    }
}

/// Whether an installed `version` satisfies a canonical's version: equal, or a prefix of it
/// at a dot (`1` and `1.5` match `1.5.2`).
fn version_matches(wanted: &str, have: &str) -> bool {
    have == wanted
        || have
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.'))
}

impl Conformance {
    /// Compiles `packages`. Refused when one needs what none of them (nor the base
    /// specification) provides: a package its manifest depends on, or a profile one of its
    /// profiles is derived from.
    pub fn new(packages: &[Package]) -> Result<Conformance, PackageError> {
        Conformance::build(packages, false).map(|(c, _)| c)
    }

    /// As [`Conformance::new`], but a package its manifest depends on and none provides is
    /// tolerated and named in the answer (`name#version`): for guides whose dependencies
    /// (terminology, extension packs) are not at hand. A profile derived from one none
    /// provides is still refused: its snapshot could not be trusted.
    pub fn new_without(packages: &[Package]) -> Result<(Conformance, Vec<String>), PackageError> {
        Conformance::build(packages, true)
    }

    fn build(
        packages: &[Package],
        tolerate_packages: bool,
    ) -> Result<(Conformance, Vec<String>), PackageError> {
        let mut tolerated = Vec::new();
        let names: HashSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        let defined: HashSet<&str> = packages
            .iter()
            .flat_map(|p| &p.resources)
            .filter(|r| r["resourceType"] == "StructureDefinition")
            .filter_map(|r| r["url"].as_str())
            .collect();
        for p in packages {
            let missing_packages: Vec<String> = p
                .dependencies
                .iter()
                .filter(|(n, _)| {
                    !CORE_PACKAGES.contains(&n.as_str()) && !names.contains(n.as_str())
                })
                .map(|(n, v)| format!("{n}#{v}"))
                .collect();
            let mut missing: Vec<String> = p
                .resources
                .iter()
                .filter(|r| r["resourceType"] == "StructureDefinition")
                .filter_map(|r| r["baseDefinition"].as_str())
                .map(|b| split_canonical(b).0)
                .filter(|b| !b.starts_with(CORE_PREFIX) && !defined.contains(b))
                .map(str::to_string)
                .collect();
            missing.sort();
            missing.dedup();
            if tolerate_packages && missing.is_empty() {
                tolerated.extend(missing_packages.iter().cloned());
                continue;
            }
            if !missing.is_empty() || !missing_packages.is_empty() {
                let mut all = missing_packages.clone();
                all.extend(missing);
                return Err(PackageError::Missing {
                    package: p.id(),
                    missing: all,
                    packages: missing_packages,
                });
            }
        }
        let mut cache = ExprCache::default();
        let mut profiles: HashMap<String, Vec<Arc<Profile>>> = HashMap::new();
        let mut infos = Vec::new();
        for p in packages {
            infos.push(PackageInfo {
                name: p.name.clone(),
                version: p.version.clone(),
                canonical: p.canonical.clone(),
                digest: p.digest.clone(),
                profiles: p.count("StructureDefinition"),
                value_sets: p.count("ValueSet"),
                code_systems: p.count("CodeSystem"),
            });
            for r in p
                .resources
                .iter()
                .filter(|r| r["resourceType"] == "StructureDefinition")
            {
                if let Some(profile) = compile::compile(r, &p.id(), &mut cache) {
                    profiles
                        .entry(profile.url.clone())
                        .or_default()
                        .push(Arc::new(profile));
                }
            }
        }
        let terminology = Terminology::build(packages.iter().flat_map(|p| p.resources.iter()));
        tolerated.sort();
        tolerated.dedup();
        Ok((
            Conformance {
                packages: infos,
                profiles,
                terminology,
            },
            tolerated,
        ))
    }

    pub fn packages(&self) -> &[PackageInfo] {
        &self.packages
    }

    pub(crate) fn profile(&self, canonical: &str) -> Option<Arc<Profile>> {
        let (url, version) = split_canonical(canonical);
        let versions = self.profiles.get(url)?;
        match version {
            None => versions.last().cloned(),
            Some(v) => versions
                .iter()
                .rev()
                .find(|p| p.version.as_deref().is_some_and(|h| version_matches(v, h)))
                .cloned(),
        }
    }

    /// The profile a canonical URL (`url` or `url|version`) names, if installed.
    pub fn profile_info(&self, canonical: &str) -> Option<ProfileInfo> {
        self.profile(canonical).map(|p| ProfileInfo {
            url: p.url.clone(),
            version: p.version.clone(),
            name: p.name.clone(),
            type_name: p.type_name.clone(),
            package: p.package.clone(),
        })
    }

    /// Whether profile `claimed` is `target` or derived from it.
    pub fn derives_from(&self, claimed: &str, target: &str) -> bool {
        let target = split_canonical(target).0;
        let mut cur = split_canonical(claimed).0.to_string();
        for _ in 0..32 {
            if cur == target {
                return true;
            }
            match self.profile(&cur).and_then(|p| p.base.clone()) {
                Some(b) => cur = split_canonical(&b).0.to_string(),
                None => return false,
            }
        }
        false
    }

    /// Whether `code` (of `system`) is in value set `vs`, by the installed packages and the
    /// base specification.
    pub fn member_of(&self, vs: &str, system: Option<&str>, code: &str) -> Membership {
        self.terminology.member(vs, system, code)
    }

    /// The canonical URLs of every value set the packages define (in no order).
    pub fn value_set_urls(&self) -> impl Iterator<Item = &str> {
        self.terminology.value_set_urls()
    }

    /// The display a loaded code system gives a code.
    pub fn display(&self, system: &str, code: &str) -> Option<&str> {
        self.terminology.display(system, code)
    }

    /// The checker's findings, each said once (a resource claiming two profiles of one lineage
    /// meets their shared rules twice).
    fn report(c: check::Checker<'_>) -> Report {
        let mut seen = HashSet::new();
        let issues = c
            .issues
            .into_iter()
            .filter(|i| seen.insert((i.severity.code(), i.expression.clone(), i.message.clone())))
            .collect();
        Report {
            issues,
            unevaluated: c.unevaluated,
        }
    }

    /// Checks `resource` against every profile it, or a resource nested in it, claims in
    /// `meta.profile`. Claims of profiles no installed package defines are warnings.
    pub fn validate(&self, resource: &Value) -> Report {
        let rt = resource["resourceType"].as_str().unwrap_or("Resource");
        let mut c = check::Checker::new(self);
        c.claims(resource, rt);
        Self::report(c)
    }

    /// Checks `resource` against `profile` (a canonical URL, optionally `|version`), and the
    /// profiles it claims. None if no installed package defines `profile`.
    pub fn validate_against(&self, resource: &Value, profile: &str) -> Option<Report> {
        let p = self.profile(profile)?;
        let rt = resource["resourceType"].as_str().unwrap_or("Resource");
        let mut c = check::Checker::new(self);
        c.resource(resource, rt, &p);
        c.claims(resource, rt);
        Some(Self::report(c))
    }

    /// Invariants of the installed profiles whose expression the FHIRPath engine cannot parse
    /// (profile url, key, reason): they are not checked.
    pub fn unparsed_invariants(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for versions in self.profiles.values() {
            for p in versions {
                for (k, why) in &p.unparsed {
                    out.push((p.url.clone(), k.clone(), why.clone()));
                }
            }
        }
        out.sort();
        out
    }
}
