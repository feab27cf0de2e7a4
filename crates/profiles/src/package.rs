//! Reading an implementation-guide package: the npm-style tarball every FHIR tool uses
//! (`package/package.json` and the resources beside it, gzip-compressed tar).

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;

/// Most bytes a package may unpack to (JP-CLINS 1.5.2 unpacks to 19 MB).
const MAX_UNPACKED: u64 = 1 << 30;
/// Most files a package may hold.
const MAX_FILES: usize = 100_000;

/// The resource types a package contributes to validation; anything else in it (examples,
/// CapabilityStatements, the ImplementationGuide) is counted but not kept.
pub const CONFORMANCE_TYPES: [&str; 4] = [
    "StructureDefinition",
    "ValueSet",
    "CodeSystem",
    "NamingSystem",
];

/// A package, read and checked for shape: who it is, what it needs, what it defines.
#[derive(Debug, Clone)]
pub struct Package {
    /// `jp-core.r4`
    pub name: String,
    /// `1.1.2`
    pub version: String,
    /// The canonical base of what it defines (`http://jpfhir.jp/fhir/core`), if it says.
    pub canonical: Option<String>,
    /// Other packages it depends on (name, version), as its manifest lists them.
    pub dependencies: Vec<(String, String)>,
    /// Its StructureDefinitions, ValueSets, CodeSystems and NamingSystems.
    pub resources: Vec<Value>,
    /// The other resources it carries at its top level (examples and the like).
    pub examples: Vec<Value>,
    /// SHA-256 of the tarball, hex.
    pub digest: String,
}

impl Package {
    /// `name#version`, as FHIR tools write a package reference.
    pub fn id(&self) -> String {
        format!("{}#{}", self.name, self.version)
    }

    /// How many of its conformance resources are of `resource_type`.
    pub fn count(&self, resource_type: &str) -> usize {
        self.resources
            .iter()
            .filter(|r| r["resourceType"] == resource_type)
            .count()
    }
}

/// Why some bytes are not a FHIR R4 package.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error(
        "not a FHIR package: {0} (a package is the .tgz tarball FHIR tools publish, with package/package.json inside)"
    )]
    NotAPackage(String),
    #[error("the package's package.json {0}")]
    Manifest(String),
    #[error(
        "package {name} is for FHIR {versions}; Kizuna serves FHIR R4 (4.0.x) and needs a package built for it"
    )]
    FhirVersion { name: String, versions: String },
    #[error("{file} in the package is not a FHIR resource: {reason}")]
    Resource { file: String, reason: String },
    #[error(
        "package {package} needs {} that no installed package provides: install {} first",
        list(.missing), needs(.missing, .packages)
    )]
    Missing {
        package: String,
        /// The canonical URLs (or package names) missing.
        missing: Vec<String>,
        /// The packages that would provide them, when the manifest or the URLs tell.
        packages: Vec<String>,
    },
}

fn list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

fn needs(missing: &[String], packages: &[String]) -> String {
    if packages.is_empty() {
        format!(
            "the package that defines {}",
            missing.first().map_or("them", |m| m)
        )
    } else {
        packages.join(", ")
    }
}

/// Reads a package tarball: the manifest, and every resource at the package's top level.
pub fn read(bytes: &[u8]) -> Result<Package, PackageError> {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Err(PackageError::NotAPackage(
            "the file is not gzip-compressed".into(),
        ));
    }
    let digest = hex(&Sha256::digest(bytes));
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(gz.take(MAX_UNPACKED));
    let entries = archive
        .entries()
        .map_err(|e| PackageError::NotAPackage(format!("unreadable tar: {e}")))?;
    let mut manifest = None;
    let mut resources = Vec::new();
    let mut examples = Vec::new();
    for (n, entry) in entries.enumerate() {
        if n >= MAX_FILES {
            return Err(PackageError::NotAPackage(format!(
                "more than {MAX_FILES} files"
            )));
        }
        let mut entry =
            entry.map_err(|e| PackageError::NotAPackage(format!("unreadable tar: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| PackageError::NotAPackage(format!("unreadable file name: {e}")))?
            .to_string_lossy()
            .into_owned();
        // Resources sit at the top of `package/`; `package/example/`, `package/other/` and
        // the like hold what validation does not need.
        let Some(file) = path.strip_prefix("package/") else {
            continue;
        };
        if file.contains('/') || !file.ends_with(".json") || file.starts_with('.') {
            continue;
        }
        let mut buf = Vec::with_capacity(entry.size().min(64 << 20) as usize);
        entry
            .read_to_end(&mut buf)
            .map_err(|e| PackageError::NotAPackage(format!("unreadable {path}: {e}")))?;
        if file == "package.json" {
            manifest = Some(
                serde_json::from_slice::<Value>(&buf)
                    .map_err(|e| PackageError::Manifest(format!("is not JSON: {e}")))?,
            );
            continue;
        }
        let value = kizuna_fhir::json::parse(&buf).map_err(|reason| PackageError::Resource {
            file: file.to_string(),
            reason,
        })?;
        let Some(rt) = value.get("resourceType").and_then(Value::as_str) else {
            return Err(PackageError::Resource {
                file: file.to_string(),
                reason: "it has no resourceType".into(),
            });
        };
        if CONFORMANCE_TYPES.contains(&rt) {
            resources.push(value);
        } else {
            examples.push(value);
        }
    }
    let manifest = manifest
        .ok_or_else(|| PackageError::NotAPackage("it has no package/package.json".into()))?;
    let text = |key: &str| {
        manifest
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let name = text("name").ok_or_else(|| PackageError::Manifest("has no \"name\"".into()))?;
    let version =
        text("version").ok_or_else(|| PackageError::Manifest("has no \"version\"".into()))?;
    let fhir_versions: Vec<String> = manifest
        .get("fhirVersions")
        .or_else(|| manifest.get("fhir-version-list"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !fhir_versions.is_empty() && !fhir_versions.iter().any(|v| v.starts_with("4.0")) {
        return Err(PackageError::FhirVersion {
            name,
            versions: fhir_versions.join(", "),
        });
    }
    let dependencies = manifest
        .get("dependencies")
        .and_then(Value::as_object)
        .map(|d| {
            d.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    // NamingSystems have no url in R4; everything else is found by its canonical url.
    if let Some(r) = resources.iter().find(|r| {
        r["resourceType"] != "NamingSystem" && r.get("url").and_then(Value::as_str).is_none()
    }) {
        return Err(PackageError::Resource {
            file: format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or(""),
                r.get("id").and_then(Value::as_str).unwrap_or("?")
            ),
            reason: "a conformance resource without a canonical url".into(),
        });
    }
    Ok(Package {
        name,
        version,
        canonical: text("canonical").or_else(|| text("url")),
        dependencies,
        resources,
        examples,
        digest,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
