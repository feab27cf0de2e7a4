//! The walk of a resource against a compiled profile.
//!
//! Per element of the snapshot that the resource has: cardinality (where the profile says
//! more than the base definition), allowed types (choice types, resource types, reference
//! targets), fixed and pattern values, required and extensible bindings, the element's
//! invariants (FHIRPath), then its children; slices are assigned by their discriminators
//! (value, pattern, exists, type, profile) and checked each against its own definition.
//! Elements whose type names a profile (extensions, profiled datatypes, nested resources) are
//! checked against it as well.

use crate::Conformance;
use crate::compile::{CORE_PREFIX, DiscKind, Elem, Profile};
use crate::terminology::Membership;
use kizuna_fhir::fhirpath::{self, Item, Step};
use kizuna_fhir::{Issue, IssueCode, Severity};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Nested resources and profiles deeper than this are not followed.
const MAX_DEPTH: u32 = 24;

/// One property value of the resource: its JSON, its `_x` companion for a primitive, and,
/// for a choice element, the type its JSON name gives (`Quantity` of `valueQuantity`).
#[derive(Clone, Copy)]
struct Node<'a> {
    value: Option<&'a Value>,
    ext: Option<&'a Value>,
    choice_type: Option<&'a str>,
}

impl<'a> Node<'a> {
    /// The object whose properties are this node's children.
    fn object(&self) -> Option<&'a Map<String, Value>> {
        match self.value {
            Some(Value::Object(o)) => Some(o),
            _ => self.ext.and_then(Value::as_object),
        }
    }
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Where the checker is: the resource being checked as a whole (the FHIRPath `%resource`)
/// and the path from it.
struct Ctx<'a> {
    root: &'a Value,
    /// Rendered path of the root (`Observation`, `Bundle.entry[2].resource`).
    prefix: String,
    segs: Vec<Seg<'a>>,
}

impl Ctx<'_> {
    fn path(&self) -> String {
        let mut s = self.prefix.clone();
        for seg in &self.segs {
            match seg {
                Seg::Key(k) => {
                    s.push('.');
                    s.push_str(k);
                }
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }
}

pub(crate) struct Checker<'c> {
    conf: &'c Conformance,
    pub issues: Vec<Issue>,
    /// (resource address, profile url) pairs already checked.
    done: HashSet<(usize, String)>,
    /// Whether a resource conforms to a profile, for profile discriminators.
    conforms: HashMap<(usize, String), bool>,
    /// Value sets already reported as not checkable.
    unchecked: HashSet<String>,
    depth: u32,
    /// Invariants whose evaluation failed (an unsupported function, say): not reported as
    /// problems of the resource.
    pub unevaluated: usize,
}

impl<'c> Checker<'c> {
    pub fn new(conf: &'c Conformance) -> Checker<'c> {
        Checker {
            conf,
            issues: Vec::new(),
            done: HashSet::new(),
            conforms: HashMap::new(),
            unchecked: HashSet::new(),
            depth: 0,
            unevaluated: 0,
        }
    }

    fn push(&mut self, severity: Severity, code: IssueCode, path: String, message: String) {
        self.issues.push(Issue {
            severity,
            code,
            expression: Some(path),
            message,
        });
    }

    /// Checks `resource` (rendered at `prefix`) against `profile`, once.
    pub fn resource(&mut self, resource: &Value, prefix: &str, profile: &Profile) {
        let key = (resource as *const Value as usize, profile.url.clone());
        if !self.done.insert(key) || self.depth >= MAX_DEPTH {
            return;
        }
        let rt = resource["resourceType"].as_str().unwrap_or("");
        if rt != profile.type_name {
            self.push(
                Severity::Error,
                IssueCode::Structure,
                prefix.to_string(),
                format!(
                    "profile {} is for {} resources, not {rt}",
                    profile.url, profile.type_name
                ),
            );
            return;
        }
        self.depth += 1;
        let mut ctx = Ctx {
            root: resource,
            prefix: prefix.to_string(),
            segs: Vec::new(),
        };
        let node = Node {
            value: Some(resource),
            ext: None,
            choice_type: None,
        };
        self.element(&mut ctx, profile, 0, node, Some(rt));
        self.depth -= 1;
    }

    /// Checks every nested resource's own `meta.profile` claims (and the root's).
    pub fn claims(&mut self, resource: &Value, prefix: &str) {
        for url in resource["meta"]["profile"].as_array().into_iter().flatten() {
            let Some(url) = url.as_str() else { continue };
            match self.conf.profile(url) {
                Some(p) => self.resource(resource, prefix, &p),
                None if url.starts_with(CORE_PREFIX) && !url[CORE_PREFIX.len()..].contains('/') => {
                    // A base resource's own definition: the base checker covers it, unless it
                    // is one of the specification's profiles (vitalsigns ...), not loaded.
                    let name = url[CORE_PREFIX.len()..].split('|').next().unwrap_or("");
                    if !kizuna_fhir::r4().is_resource_type(name) {
                        self.unknown_profile(prefix, url);
                    }
                }
                None => self.unknown_profile(prefix, url),
            }
        }
        // Nested resources: contained, Bundle entries, Parameters ...
        walk_nested(resource, prefix, &mut |nested, path| {
            for url in nested["meta"]["profile"].as_array().into_iter().flatten() {
                if let Some(url) = url.as_str() {
                    if let Some(p) = self.conf.profile(url) {
                        self.resource(nested, &path, &p);
                    } else if !url.starts_with(CORE_PREFIX) {
                        self.unknown_profile(&path, url);
                    }
                }
            }
        });
    }

    fn unknown_profile(&mut self, path: &str, url: &str) {
        self.push(
            Severity::Warning,
            IssueCode::NotSupported,
            format!("{path}.meta.profile"),
            format!(
                "profile {url} is not defined by any installed package, so the resource was not checked against it (install its package with `kizuna ig install`)"
            ),
        );
    }

    // ----- one element --------------------------------------------------------------------

    fn element<'a>(
        &mut self,
        ctx: &mut Ctx<'a>,
        prof: &Profile,
        e: usize,
        node: Node<'a>,
        type_code: Option<&str>,
    ) {
        let el = &prof.elems[e];
        self.values(ctx, el, node, type_code);
        self.invariants(ctx, el);
        if let Some(obj) = node.object()
            && !el.children.is_empty()
        {
            for &c in &el.children {
                self.child(ctx, prof, c, obj);
            }
        }
        // A profiled type (an extension's definition, a datatype profile, a nested resource's
        // profile): checked against that profile too.
        let Some(t) = type_code else { return };
        let Some(et) = el
            .types
            .iter()
            .find(|et| et.code == t || is_resource_type_slot(&et.code))
        else {
            return;
        };
        if et.profiles.is_empty() || !el.children.is_empty() && !is_resource(node) {
            return;
        }
        self.typed_profiles(ctx, node, &et.profiles);
    }

    /// Checks `node` against the profiles its type names (it must conform to one of them).
    fn typed_profiles<'a>(&mut self, ctx: &mut Ctx<'a>, node: Node<'a>, urls: &[String]) {
        let known: Vec<_> = urls.iter().filter_map(|u| self.conf.profile(u)).collect();
        if known.is_empty() {
            if let Some(u) = urls.iter().find(|u| !u.starts_with(CORE_PREFIX)) {
                self.push(
                    Severity::Warning,
                    IssueCode::NotSupported,
                    ctx.path(),
                    format!("profile {u} is not defined by any installed package; not checked"),
                );
            }
            return;
        }
        if self.depth >= MAX_DEPTH {
            return;
        }
        let mut best: Option<Vec<Issue>> = None;
        for p in known {
            let before = self.issues.len();
            self.depth += 1;
            if is_resource(node) {
                let value = node.value.unwrap_or(&Value::Null);
                let path = ctx.path();
                self.resource(value, &path, &p);
            } else {
                let tc = node.choice_type.map(str::to_string);
                self.element(ctx, &p, 0, node, tc.as_deref().or(Some(&p.type_name)));
            }
            self.depth -= 1;
            let found: Vec<Issue> = self.issues.drain(before..).collect();
            let errors = found.iter().filter(|i| i.is_error()).count();
            if errors == 0 {
                self.issues.extend(found);
                return;
            }
            if best
                .as_ref()
                .is_none_or(|b| errors < b.iter().filter(|i| i.is_error()).count())
            {
                best = Some(found);
            }
        }
        self.issues.extend(best.unwrap_or_default());
    }

    /// Fixed and pattern values, bindings, reference targets of one value.
    fn values<'a>(&mut self, ctx: &Ctx<'a>, el: &Elem, node: Node<'a>, type_code: Option<&str>) {
        let Some(value) = node.value else { return };
        if let Some(fixed) = &el.fixed
            && !matches_fixed(value, fixed)
        {
            self.push(
                Severity::Error,
                IssueCode::Value,
                ctx.path(),
                format!("must be exactly {} (the profile fixes it)", short(fixed)),
            );
        }
        if let Some(pattern) = &el.pattern
            && !matches_pattern(value, pattern)
        {
            self.push(
                Severity::Error,
                IssueCode::Value,
                ctx.path(),
                format!("must match the profile's pattern {}", short(pattern)),
            );
        }
        let t = type_code.unwrap_or_else(|| el.types.first().map_or("", |t| t.code.as_str()));
        if let Some(b) = &el.binding {
            self.binding(ctx, b.required, &b.value_set, value, t);
        }
        if t == "Reference" {
            self.reference_target(ctx, el, value);
        }
    }

    fn binding(&mut self, ctx: &Ctx<'_>, required: bool, vs: &str, value: &Value, t: &str) {
        let mut codes: Vec<(Option<&str>, &str)> = Vec::new();
        match t {
            "code" | "string" | "uri" => codes.extend(value.as_str().map(|c| (None, c))),
            "Coding" => codes.extend(coding(value)),
            "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "SimpleQuantity" => {
                codes.extend(coding(value))
            }
            "CodeableConcept" => {
                codes.extend(
                    value["coding"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(coding),
                );
                if codes.is_empty() {
                    if required && value.get("text").is_none() {
                        self.push(
                            Severity::Error,
                            IssueCode::CodeInvalid,
                            ctx.path(),
                            format!("a code from value set {vs} is required"),
                        );
                    }
                    return;
                }
            }
            _ => return,
        }
        if codes.is_empty() {
            return;
        }
        let mut unknown = None;
        for (system, code) in &codes {
            match self.conf.terminology.member(vs, *system, code) {
                Membership::Yes => return,
                Membership::No => {}
                Membership::Unknown(why) => unknown = Some(why),
            }
        }
        if let Some(why) = unknown {
            // An extensible binding only advises; one that cannot be checked is left alone.
            if required && self.unchecked.insert(vs.to_string()) {
                self.push(
                    Severity::Warning,
                    IssueCode::NotSupported,
                    ctx.path(),
                    format!("code not checked against value set {vs}: {why}"),
                );
            }
            return;
        }
        let shown: Vec<String> = codes
            .iter()
            .map(|(s, c)| match s {
                Some(s) => format!("{s}|{c}"),
                None => c.to_string(),
            })
            .collect();
        if required {
            self.push(
                Severity::Error,
                IssueCode::CodeInvalid,
                ctx.path(),
                format!(
                    "{} is not in value set {vs}, which the profile requires",
                    shown.join(", ")
                ),
            );
        } else {
            self.push(
                Severity::Warning,
                IssueCode::CodeInvalid,
                ctx.path(),
                format!(
                    "{} is not in value set {vs} (extensible: use a code from it when one fits)",
                    shown.join(", ")
                ),
            );
        }
    }

    fn reference_target(&mut self, ctx: &Ctx<'_>, el: &Elem, value: &Value) {
        let Some(reference) = value["reference"].as_str() else {
            return;
        };
        let mut allowed: Vec<String> = Vec::new();
        for t in el.types.iter().filter(|t| t.code == "Reference") {
            for tp in &t.target_profiles {
                let ty = match tp.strip_prefix(CORE_PREFIX) {
                    Some(name) => name.split('|').next().unwrap_or("").to_string(),
                    None => match self.conf.profile(tp) {
                        Some(p) => p.type_name.clone(),
                        None => return,
                    },
                };
                if ty == "Resource" || ty == "DomainResource" {
                    return;
                }
                allowed.push(ty);
            }
        }
        if allowed.is_empty() {
            return;
        }
        let target = if let Some(id) = reference.strip_prefix('#') {
            ctx.root["contained"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["id"].as_str() == Some(id))
                .and_then(|c| c["resourceType"].as_str())
                .map(str::to_string)
        } else if reference.starts_with("urn:") {
            None
        } else {
            let parts: Vec<&str> = reference.trim_end_matches('/').split('/').collect();
            let n = parts.len();
            let idx = if n >= 4 && parts[n - 2] == "_history" {
                n.checked_sub(4)
            } else {
                n.checked_sub(2)
            };
            idx.map(|i| parts[i].to_string())
        };
        if let Some(t) = target
            && kizuna_fhir::r4().is_resource_type(&t)
            && !allowed.contains(&t)
        {
            self.push(
                Severity::Error,
                IssueCode::Structure,
                format!("{}.reference", ctx.path()),
                format!("refers to a {t}; the profile allows {}", allowed.join(", ")),
            );
        }
    }

    fn invariants<'a>(&mut self, ctx: &Ctx<'a>, el: &Elem) {
        if el.constraints.is_empty() {
            return;
        }
        let steps: Vec<Step<'a>> = ctx
            .segs
            .iter()
            .map(|s| match s {
                Seg::Key(k) => Step::Key(k),
                Seg::Index(i) => Step::Index(*i),
            })
            .collect();
        let Some(item) = fhirpath::element_at(ctx.root, &steps) else {
            return;
        };
        let context = [item];
        for c in &el.constraints {
            match fhirpath::evaluate_on(&c.expr, ctx.root, &context) {
                Ok(result) => {
                    let ok = matches!(result.as_slice(), [Item::Bool(true)]);
                    if !ok {
                        self.push(
                            if c.error {
                                Severity::Error
                            } else {
                                Severity::Warning
                            },
                            IssueCode::Invariant,
                            ctx.path(),
                            format!("{}: {} (invariant {})", c.key, c.human, c.expr.text()),
                        );
                    }
                }
                Err(_) => self.unevaluated += 1,
            }
        }
    }

    // ----- children and slices ------------------------------------------------------------

    fn child<'a>(
        &mut self,
        ctx: &mut Ctx<'a>,
        prof: &Profile,
        c: usize,
        obj: &'a Map<String, Value>,
    ) {
        let el = &prof.elems[c];
        let items = collect(obj, el);
        let count = items.len() as u32;
        let path_of_child = || {
            let mut p = ctx.path();
            p.push('.');
            p.push_str(items.first().map_or(el.name.as_str(), |i| i.0));
            p
        };
        if el.check_min && count < el.min {
            let p = path_of_child();
            self.push(
                Severity::Error,
                IssueCode::Required,
                p,
                format!(
                    "the profile {} requires at least {} {}, found {count}",
                    prof.name, el.min, el.path
                ),
            );
        }
        if el.check_max
            && let Some(max) = el.max
            && count > max
        {
            let p = path_of_child();
            self.push(
                Severity::Error,
                IssueCode::Structure,
                p,
                if max == 0 {
                    format!("the profile {} does not allow {} here", prof.name, el.path)
                } else {
                    format!(
                        "the profile {} allows at most {max} {}, found {count}",
                        prof.name, el.path
                    )
                },
            );
        }
        if items.is_empty() {
            return;
        }
        self.sliced(ctx, prof, c, &items);
    }

    /// Checks `items` of element `e`: against its slices when it is sliced, else against it.
    fn sliced<'a>(&mut self, ctx: &mut Ctx<'a>, prof: &Profile, e: usize, items: &[Item3<'a>]) {
        let el = &prof.elems[e];
        let slicing = el.slicing.as_ref().filter(|s| {
            !el.slices.is_empty()
                && !s.discriminators.is_empty()
                && s.discriminators.iter().all(|(_, p)| supported_path(p))
        });
        let Some(slicing) = slicing else {
            for it in items {
                self.item(ctx, prof, e, it);
            }
            return;
        };
        let mut assigned: Vec<Vec<Item3<'a>>> = vec![Vec::new(); el.slices.len()];
        let mut rest = Vec::new();
        for it in items {
            let slot = el
                .slices
                .iter()
                .position(|&s| self.in_slice(prof, s, &slicing.discriminators, it));
            match slot {
                Some(i) => assigned[i].push(*it),
                None => rest.push(*it),
            }
        }
        for (i, &s) in el.slices.iter().enumerate() {
            let slice = &prof.elems[s];
            let n = assigned[i].len() as u32;
            let name = slice.slice_name.as_deref().unwrap_or("");
            if n < slice.min {
                self.push(
                    Severity::Error,
                    IssueCode::Required,
                    format!("{}.{}", ctx.path(), el.name.trim_end_matches("[x]")),
                    format!(
                        "the profile {} requires at least {} {} of slice \"{name}\", found {n}",
                        prof.name, slice.min, el.path
                    ),
                );
            }
            if let Some(max) = slice.max
                && n > max
            {
                self.push(
                    Severity::Error,
                    IssueCode::Structure,
                    format!("{}.{}", ctx.path(), el.name.trim_end_matches("[x]")),
                    format!(
                        "the profile {} allows at most {max} {} of slice \"{name}\", found {n}",
                        prof.name, el.path
                    ),
                );
            }
            if !assigned[i].is_empty() {
                let group = std::mem::take(&mut assigned[i]);
                self.sliced(ctx, prof, s, &group);
            }
        }
        for it in &rest {
            if slicing.closed {
                ctx.segs.push(Seg::Key(it.0));
                if let Some(i) = it.1 {
                    ctx.segs.push(Seg::Index(i));
                }
                let names: Vec<&str> = el
                    .slices
                    .iter()
                    .filter_map(|&s| prof.elems[s].slice_name.as_deref())
                    .collect();
                self.push(
                    Severity::Error,
                    IssueCode::Structure,
                    ctx.path(),
                    format!(
                        "matches none of the slices the profile {} allows here ({})",
                        prof.name,
                        names.join(", ")
                    ),
                );
                ctx.segs
                    .truncate(ctx.segs.len() - 1 - usize::from(it.1.is_some()));
            } else {
                self.item(ctx, prof, e, it);
            }
        }
    }

    /// Checks one item against element `e`, with the path extended to it.
    fn item<'a>(&mut self, ctx: &mut Ctx<'a>, prof: &Profile, e: usize, it: &Item3<'a>) {
        let el = &prof.elems[e];
        let (key, index, node) = *it;
        ctx.segs.push(Seg::Key(key));
        if let Some(i) = index {
            ctx.segs.push(Seg::Index(i));
        }
        let type_code = self.item_type(ctx, el, node);
        self.element(ctx, prof, e, node, type_code.as_deref());
        ctx.segs
            .truncate(ctx.segs.len() - 1 - usize::from(index.is_some()));
    }

    /// The type of a value, checked against the types the element allows.
    fn item_type(&mut self, ctx: &Ctx<'_>, el: &Elem, node: Node<'_>) -> Option<String> {
        if let Some(suffix) = node.choice_type {
            let t = el.types.iter().find(|t| upper_first(&t.code) == suffix);
            return match t {
                Some(t) => Some(t.code.clone()),
                None => {
                    if !el.types.is_empty() {
                        let allowed: Vec<&str> = el.types.iter().map(|t| t.code.as_str()).collect();
                        self.push(
                            Severity::Error,
                            IssueCode::Structure,
                            ctx.path(),
                            format!(
                                "{} is not allowed here; the profile allows {}",
                                lower_first(suffix),
                                allowed.join(", ")
                            ),
                        );
                    }
                    None
                }
            };
        }
        if let Some(rt) = node
            .value
            .and_then(|v| v.get("resourceType"))
            .and_then(Value::as_str)
        {
            let specific: Vec<&str> = el
                .types
                .iter()
                .map(|t| t.code.as_str())
                .filter(|c| !is_resource_type_slot(c))
                .collect();
            if !specific.is_empty()
                && !el.types.iter().any(|t| is_resource_type_slot(&t.code))
                && !specific.contains(&rt)
            {
                self.push(
                    Severity::Error,
                    IssueCode::Structure,
                    ctx.path(),
                    format!(
                        "a {rt} is not allowed here; the profile allows {}",
                        specific.join(", ")
                    ),
                );
            }
            return Some(rt.to_string());
        }
        el.types.first().map(|t| t.code.clone())
    }

    /// Whether `it` belongs to slice `s` by every discriminator.
    fn in_slice<'a>(
        &mut self,
        prof: &Profile,
        s: usize,
        discs: &[(DiscKind, String)],
        it: &Item3<'a>,
    ) -> bool {
        let node = it.2;
        for (kind, path) in discs {
            let target = target_elem(prof, s, path);
            let values = json_at(node, path);
            let ok = match kind {
                DiscKind::Value => {
                    let tel = target.map(|t| &prof.elems[t]);
                    let expected = tel
                        .and_then(|tel| tel.fixed.as_ref().or(tel.pattern.as_ref()))
                        .map(std::borrow::Cow::Borrowed)
                        .or_else(|| {
                            // An extension slice names its url by its profile.
                            (path == "url")
                                .then(|| prof.elems[s].types.first()?.profiles.first().cloned())
                                .flatten()
                                .map(|u| {
                                    std::borrow::Cow::Owned(Value::String(
                                        u.split('|').next().unwrap_or("").to_string(),
                                    ))
                                })
                        });
                    if let Some(x) = expected {
                        values.iter().any(|v| matches_pattern(v, &x))
                    } else {
                        let Some(t) = target else { return false };
                        let tel = &prof.elems[t];
                        match &tel.binding {
                            Some(b) if b.required => values.iter().any(|v| {
                                let t = tel.types.first().map_or("", |t| t.code.as_str());
                                self.bound(&b.value_set, v, t)
                            }),
                            // `$this` with only fixed children: those must match.
                            _ => {
                                path != "$this"
                                    || values.iter().any(|v| fixed_children_match(prof, t, v))
                            }
                        }
                    }
                }
                DiscKind::Exists => {
                    let Some(t) = target else { return false };
                    let must = prof.elems[t].min > 0;
                    let must_not = prof.elems[t].max == Some(0);
                    (!must || !values.is_empty()) && (!must_not || values.is_empty())
                }
                DiscKind::Type => {
                    let Some(t) = target else { return false };
                    let allowed = &prof.elems[t].types;
                    let actual: Option<String> = if path == "$this" {
                        node.choice_type.map(lower_first).or_else(|| {
                            node.value?
                                .get("resourceType")?
                                .as_str()
                                .map(str::to_string)
                        })
                    } else {
                        values
                            .first()
                            .and_then(|v| v.get("resourceType"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    };
                    actual.is_some_and(|a| {
                        allowed
                            .iter()
                            .any(|t| t.code == a || lower_first(&t.code) == a)
                    })
                }
                DiscKind::Profile => {
                    let Some(t) = target else { return false };
                    let tel = &prof.elems[t];
                    let Some(resource) = values.first().copied() else {
                        return false;
                    };
                    let rt = resource["resourceType"].as_str().unwrap_or("");
                    let Some(et) = tel
                        .types
                        .iter()
                        .find(|et| et.code == rt || is_resource_type_slot(&et.code))
                    else {
                        return false;
                    };
                    if et.profiles.is_empty() {
                        true
                    } else {
                        et.profiles.iter().any(|p| self.conforms_to(resource, p))
                    }
                }
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn bound(&self, vs: &str, v: &Value, t: &str) -> bool {
        let codes: Vec<(Option<&str>, &str)> = match t {
            "CodeableConcept" => v["coding"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(coding)
                .collect(),
            "Coding" | "Quantity" => coding(v).into_iter().collect(),
            _ => v.as_str().map(|c| (None, c)).into_iter().collect(),
        };
        codes
            .iter()
            .any(|(s, c)| !matches!(self.conf.terminology.member(vs, *s, c), Membership::No))
    }

    /// Whether `resource` claims `profile` (or a profile derived from it), or else conforms to
    /// it (checked, and remembered).
    fn conforms_to(&mut self, resource: &Value, profile: &str) -> bool {
        let claims = resource["meta"]["profile"].as_array();
        if claims
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|c| self.conf.derives_from(c, profile))
        {
            return true;
        }
        if profile.starts_with(CORE_PREFIX) {
            return true;
        }
        let key = (resource as *const Value as usize, profile.to_string());
        if let Some(&b) = self.conforms.get(&key) {
            return b;
        }
        let Some(p) = self.conf.profile(profile) else {
            return false;
        };
        let mut sub = Checker::new(self.conf);
        sub.depth = self.depth + 1;
        sub.resource(resource, "", &p);
        let ok = !sub.issues.iter().any(Issue::is_error);
        self.conforms.insert(key, ok);
        ok
    }
}

/// (JSON name, index in its array, value)
type Item3<'a> = (&'a str, Option<usize>, Node<'a>);

/// The values of element `name` in `obj` (a choice element's by its typed names).
fn collect<'a>(obj: &'a Map<String, Value>, el: &Elem) -> Vec<Item3<'a>> {
    let name = el.name.as_str();
    let mut out = Vec::new();
    if let Some(prefix) = name.strip_suffix("[x]") {
        for (k, v) in obj {
            let Some(rest) = k.strip_prefix(prefix) else {
                continue;
            };
            if !rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue;
            }
            let ext = obj.get(&format!("_{k}"));
            out.push((
                k.as_str(),
                None,
                Node {
                    value: Some(v),
                    ext,
                    choice_type: Some(rest),
                },
            ));
        }
        // `_valueString` alone (a primitive with only extensions).
        for (k, v) in obj {
            if let Some(base) = k.strip_prefix('_')
                && let Some(rest) = base.strip_prefix(prefix)
                && rest.starts_with(|c: char| c.is_ascii_uppercase())
                && !obj.contains_key(base)
            {
                out.push((
                    k.as_str(),
                    None,
                    Node {
                        value: None,
                        ext: Some(v),
                        choice_type: Some(rest),
                    },
                ));
            }
        }
        return out;
    }
    let Some((key, value)) = obj.get_key_value(name) else {
        if let Some((k, ext)) = obj.get_key_value(&el.ext_key) {
            match ext {
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate().filter(|(_, x)| !x.is_null()) {
                        out.push((
                            k.as_str(),
                            Some(i),
                            Node {
                                value: None,
                                ext: Some(x),
                                choice_type: None,
                            },
                        ));
                    }
                }
                x => out.push((
                    k.as_str(),
                    None,
                    Node {
                        value: None,
                        ext: Some(x),
                        choice_type: None,
                    },
                )),
            }
        }
        return out;
    };
    let ext = obj.get(&el.ext_key);
    match value {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let e = ext.and_then(|e| e.get(i)).filter(|e| !e.is_null());
                if x.is_null() && e.is_none() {
                    continue;
                }
                out.push((
                    key.as_str(),
                    Some(i),
                    Node {
                        value: Some(x).filter(|x| !x.is_null()),
                        ext: e,
                        choice_type: None,
                    },
                ));
            }
        }
        x => out.push((
            key.as_str(),
            None,
            Node {
                value: Some(x),
                ext,
                choice_type: None,
            },
        )),
    }
    out
}

fn is_resource(node: Node<'_>) -> bool {
    node.value.is_some_and(|v| v.get("resourceType").is_some())
}

fn is_resource_type_slot(code: &str) -> bool {
    code == "Resource" || code == "DomainResource"
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    // Type names of more than one capital (`CodeableConcept`) keep theirs; primitive type
    // names are lower camel case (`dateTime` from `DateTime`).
    let lowered = {
        let mut c = s.chars();
        match c.next() {
            Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
            None => String::new(),
        }
    };
    if kizuna_fhir::r4().primitive(&lowered).is_some() {
        lowered
    } else {
        s.to_string()
    }
}

fn coding(v: &Value) -> Option<(Option<&str>, &str)> {
    let code = v["code"].as_str()?;
    Some((v["system"].as_str(), code))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        s.chars().take(117).collect::<String>() + "..."
    } else {
        s
    }
}

/// FHIR's fixed[x]: a primitive equals it; a complex value has exactly its properties.
fn matches_fixed(value: &Value, fixed: &Value) -> bool {
    match (value, fixed) {
        (Value::Object(v), Value::Object(f)) => {
            f.iter()
                .all(|(k, fv)| v.get(k).is_some_and(|vv| matches_fixed(vv, fv)))
                && v.keys()
                    .all(|k| f.contains_key(k) || k == "id" || k == "extension")
        }
        (Value::Array(v), Value::Array(f)) => {
            v.len() == f.len() && v.iter().zip(f).all(|(a, b)| matches_fixed(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.to_string() == b.to_string(),
        _ => value == fixed,
    }
}

/// FHIR's pattern[x]: every property of the pattern is in the value, recursively; each item of
/// a pattern array matches some item of the value's.
pub(crate) fn matches_pattern(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(v), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| matches_pattern(vv, pv))),
        (Value::Array(v), Value::Array(p)) => p
            .iter()
            .all(|pi| v.iter().any(|vi| matches_pattern(vi, pi))),
        (Value::Array(v), p) => v.iter().any(|vi| matches_pattern(vi, p)),
        (Value::Number(a), Value::Number(b)) => a.to_string() == b.to_string(),
        _ => value == pattern,
    }
}

/// Whether `v` has every fixed or pattern value that element `e`'s children (and theirs) set.
fn fixed_children_match(prof: &Profile, e: usize, v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return true;
    };
    prof.elems[e].children.iter().all(|&c| {
        let child = &prof.elems[c];
        let expected = child.fixed.as_ref().or(child.pattern.as_ref());
        let items = collect(obj, child);
        let here = match expected {
            Some(x) => items
                .iter()
                .any(|it| it.2.value.is_some_and(|v| matches_pattern(v, x))),
            None => true,
        };
        here && (child.children.is_empty()
            || items.is_empty()
            || items
                .iter()
                .any(|it| it.2.value.is_some_and(|v| fixed_children_match(prof, c, v))))
    })
}

/// Discriminator paths this checker follows: `$this`, and dotted element names.
fn supported_path(path: &str) -> bool {
    path == "$this"
        || path.split('.').all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '[' || c == ']')
        })
}

/// The element of slice `s` that a discriminator path names.
fn target_elem(prof: &Profile, s: usize, path: &str) -> Option<usize> {
    if path == "$this" {
        return Some(s);
    }
    let mut cur = s;
    for seg in path.split('.') {
        cur = *prof.elems[cur]
            .children
            .iter()
            .find(|&&c| prof.elems[c].name == seg || prof.elems[c].name == format!("{seg}[x]"))?;
    }
    Some(cur)
}

/// The JSON values at a discriminator path of a node.
fn json_at<'a>(node: Node<'a>, path: &str) -> Vec<&'a Value> {
    let Some(v) = node.value else {
        return Vec::new();
    };
    if path == "$this" {
        return vec![v];
    }
    let mut cur = vec![v];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for c in cur {
            let Some(o) = c.as_object() else { continue };
            let found = o.get(seg).or_else(|| {
                let prefix = seg.strip_suffix("[x]").unwrap_or(seg);
                o.iter()
                    .find(|(k, _)| {
                        k.starts_with(prefix)
                            && k[prefix.len()..].starts_with(|c: char| c.is_ascii_uppercase())
                    })
                    .map(|(_, v)| v)
            });
            match found {
                Some(Value::Array(a)) => next.extend(a.iter()),
                Some(x) => next.push(x),
                None => {}
            }
        }
        cur = next;
    }
    cur
}

/// Calls `f` with every resource nested in `resource` (contained, Bundle entries, Parameters
/// resources, and theirs), with its rendered path.
fn walk_nested<'a>(resource: &'a Value, prefix: &str, f: &mut dyn FnMut(&'a Value, String)) {
    fn walk<'a>(v: &'a Value, path: &mut String, top: bool, f: &mut dyn FnMut(&'a Value, String)) {
        match v {
            Value::Object(o) => {
                if !top && o.contains_key("resourceType") {
                    f(v, path.clone());
                }
                for (k, x) in o {
                    if matches!(x, Value::Object(_) | Value::Array(_))
                        && !k.starts_with('_')
                        && k != "text"
                    {
                        let len = path.len();
                        path.push('.');
                        path.push_str(k);
                        walk(x, path, false, f);
                        path.truncate(len);
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(x, path, false, f);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut path = prefix.to_string();
    walk(resource, &mut path, true, f);
}
