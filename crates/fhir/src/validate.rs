//! Structural validation of a resource against the base R4 definitions.
//!
//! What is checked, following FHIR's JSON representation (https://hl7.org/fhir/R4/json.html):
//! - the root (and every nested resource: contained, `Bundle.entry.resource`,
//!   `Parameters.parameter.resource` ...) is an object whose `resourceType` names a concrete
//!   resource type;
//! - every property is an element of the type (choice elements `value[x]` by their typed JSON
//!   names, only for the listed types and at most one of them; `_x` companions of primitives);
//!   `resourceType` only at a resource root;
//! - the JSON shape: arrays exactly for repeating elements; no `null` (except the placeholders
//!   that align a primitive array with its `_x` array), `{}`, `[]` or `""`;
//! - primitive values: JSON kind, the specification's regex, ranges, calendar dates, base64,
//!   the narrative `div`;
//! - cardinality (min and max);
//! - required bindings of `code`, `Coding` and `CodeableConcept` elements whose value set the
//!   specification itself can expand (a CodeableConcept needs at least one coding from the value
//!   set; see `bound_concept`);
//! - extensions have a value or nested extensions, not both (ext-1).
//!
//! Other invariants (FHIRPath constraints) are not evaluated.
//!
//! Cost: the definition tables are compiled once into per-element property maps; the walk
//! allocates nothing on the happy path but the path stack (paths are rendered only for issues).

mod primitive;
mod schema;

use crate::{Issue, IssueCode, r4};
use primitive::Problem;
use schema::{BindTarget, Binding, Kind, MAX_CHOICE_GROUPS, Node, Presence, Prop, Schema};
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::sync::LazyLock;

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema::build(r4()));

/// Objects nested deeper than this are not walked (serde_json's parser already stops at 128).
const MAX_DEPTH: u32 = 200;

/// Every problem of `resource` against the base R4 definitions. All issues are errors; an empty
/// list means the resource is valid.
pub fn validate_resource(resource: &Value) -> Vec<Issue> {
    let mut w = Walker {
        s: &SCHEMA,
        path: Vec::with_capacity(16),
        issues: Vec::new(),
        scratch: Vec::new(),
        depth: 0,
    };
    w.resource(resource);
    w.issues
}

/// One step of the path to the element being checked.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

struct Walker<'a> {
    s: &'static Schema,
    path: Vec<Seg<'a>>,
    issues: Vec<Issue>,
    scratch: Vec<u8>,
    depth: u32,
}

impl<'a> Walker<'a> {
    // ----- reporting -------------------------------------------------------------------------

    fn render_path(&self) -> String {
        let mut s = String::with_capacity(64);
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Index(i) => {
                    let _ = write!(s, "[{i}]");
                }
            }
        }
        s
    }

    /// An error at the current path.
    fn err(&mut self, code: IssueCode, message: String) {
        let path = self.render_path();
        self.issues.push(Issue::error(code, Some(path), message));
    }

    /// An error at the current path plus one more segment.
    fn err_at(&mut self, seg: Seg<'a>, code: IssueCode, message: String) {
        self.path.push(seg);
        self.err(code, message);
        self.path.pop();
    }

    // ----- resources and objects -------------------------------------------------------------

    /// A resource: the root, or a nested one at the current path.
    fn resource(&mut self, v: &'a Value) {
        let root = self.path.is_empty();
        let Value::Object(obj) = v else {
            let msg = format!(
                "expected a resource (a JSON object with a resourceType), found {}",
                kind_name(v)
            );
            if root {
                self.err_at(Seg::Key("resourceType"), IssueCode::Structure, msg);
            } else {
                self.err(IssueCode::Structure, msg);
            }
            return;
        };
        let rt = match obj.get("resourceType") {
            Some(Value::String(rt)) => rt.as_str(),
            Some(other) => {
                let msg = format!(
                    "resourceType must be a string naming a resource type, found {}",
                    kind_name(other)
                );
                self.err_at(Seg::Key("resourceType"), IssueCode::Structure, msg);
                return;
            }
            None => {
                let msg = "missing resourceType: a resource must say which type it is".to_string();
                self.err_at(Seg::Key("resourceType"), IssueCode::Required, msg);
                return;
            }
        };
        let node = match self.s.resource_node(rt) {
            Some(n) if r4().is_resource_type(rt) => n,
            _ => {
                let mut msg = format!("unknown resource type '{}'", primitive::shorten(rt));
                if let Some(s) = suggest(rt, r4().resource_types().iter().map(String::as_str)) {
                    let _ = write!(msg, " (did you mean '{s}'?)");
                } else if r4().type_def(rt).is_some() {
                    msg.push_str(" (it is an abstract or data type, not a concrete resource type)");
                }
                self.err_at(Seg::Key("resourceType"), IssueCode::Structure, msg);
                return;
            }
        };
        if root {
            self.path.push(Seg::Key(rt));
        }
        self.object(node, obj, true);
        if root {
            self.path.pop();
        }
    }

    /// The properties of `obj`, an element described by node `node_ix`, at the current path.
    fn object(&mut self, node_ix: u32, obj: &'a Map<String, Value>, is_resource: bool) {
        let s = self.s;
        let node = &s.nodes[node_ix as usize];
        if self.depth >= MAX_DEPTH {
            self.err(
                IssueCode::Structure,
                format!("content nested more than {MAX_DEPTH} levels deep is not checked"),
            );
            return;
        }
        self.depth += 1;
        let has_underscore = obj.keys().any(|k| k.starts_with('_'));
        // Choice groups seen so far: (group, JSON name without `_`).
        let mut seen: [(u16, &'static str); MAX_CHOICE_GROUPS] =
            [(u16::MAX, ""); MAX_CHOICE_GROUPS];
        let mut n_seen = 0;
        for (key, val) in obj {
            let key = key.as_str();
            let Some(prop) = node.props.get(key) else {
                if key == "resourceType" {
                    if !is_resource {
                        let msg = format!(
                            "resourceType is only allowed at the root of a resource, not in {}",
                            element_label(node)
                        );
                        self.err_at(Seg::Key(key), IssueCode::Structure, msg);
                    }
                } else {
                    self.unknown(node, key);
                }
                continue;
            };
            if let Some(g) = prop.choice {
                match seen[..n_seen].iter().find(|(sg, _)| *sg == g) {
                    Some(&(_, first)) if first != &*prop.name => {
                        let msg = format!(
                            "'{}' and '{}' are both present, but {} allows only one of its types",
                            first, prop.name, prop.elem.path
                        );
                        self.err_at(Seg::Key(&prop.name), IssueCode::Structure, msg);
                    }
                    Some(_) => {}
                    None if n_seen < MAX_CHOICE_GROUPS => {
                        seen[n_seen] = (g, &prop.name);
                        n_seen += 1;
                    }
                    None => {}
                }
            }
            if prop.elem.max == Some(0) {
                let msg = format!(
                    "'{key}' is not allowed here ({} has max cardinality 0)",
                    prop.elem.path
                );
                self.err_at(Seg::Key(key), IssueCode::Structure, msg);
                continue;
            }
            match prop.kind {
                Kind::Primitive {
                    prim,
                    node: ext_node,
                } => {
                    if prop.is_ext {
                        if obj.contains_key(&*prop.partner) {
                            continue; // checked together with its value
                        }
                        self.path.push(Seg::Key(&prop.name));
                        self.primitive_pair(prop, prim, ext_node, None, Some(val));
                    } else {
                        let ext = if has_underscore {
                            obj.get(&*prop.partner)
                        } else {
                            None
                        };
                        self.path.push(Seg::Key(key));
                        self.primitive_pair(prop, prim, ext_node, Some(val), ext);
                    }
                    self.path.pop();
                }
                _ => {
                    self.path.push(Seg::Key(key));
                    self.element(prop, val);
                    self.path.pop();
                }
            }
        }
        for req in &node.required {
            let present = match &req.what {
                Presence::Keys(name, ext) => {
                    obj.contains_key(&**name) || (has_underscore && obj.contains_key(&**ext))
                }
                Presence::Choice(g) => seen[..n_seen].iter().any(|(sg, _)| sg == g),
            };
            if !present {
                let msg = format!(
                    "missing required element '{}' ({} has min cardinality {})",
                    req.elem.name, req.elem.path, req.elem.min
                );
                self.err_at(Seg::Key(&req.elem.name), IssueCode::Required, msg);
            }
        }
        if let Some(g) = node.extension_value_group {
            let has_value = seen[..n_seen].iter().any(|(sg, _)| *sg == g);
            let has_nested = obj.contains_key("extension");
            if has_value && has_nested {
                self.err(
                    IssueCode::Invalid,
                    "an extension must have either a value[x] or nested extensions, not both (ext-1)".to_string(),
                );
            } else if !has_value && !has_nested {
                self.err(
                    IssueCode::Invalid,
                    "an extension must have either a value[x] or nested extensions (ext-1)"
                        .to_string(),
                );
            }
        }
        self.depth -= 1;
    }

    /// A property that is not an element of `node`.
    fn unknown(&mut self, node: &'static Node, key: &'a str) {
        let where_ = element_label(node);
        let mut msg = format!("unknown element '{}' in {where_}", primitive::shorten(key));
        if key == "fhir_comments" {
            msg.push_str(" (fhir_comments is not part of FHIR R4 JSON)");
        } else if let Some(base) = key.strip_prefix('_')
            && let Some(p) = node.props.get(base)
        {
            let _ = write!(
                msg,
                " ('_{base}' may only accompany a primitive element, and '{base}' is of type {})",
                p.type_code
            );
        } else if let Some(s) = suggest_exact_ci(key, node) {
            let _ = write!(msg, " (did you mean '{s}'?)");
        } else if let Some(choice) = node.choices.iter().find(|c| {
            let prefix = c.name.trim_end_matches("[x]");
            key.len() > prefix.len()
                && key.starts_with(prefix)
                && key[prefix.len()..].starts_with(|c: char| c.is_ascii_uppercase())
        }) {
            let prefix = choice.name.trim_end_matches("[x]");
            let suffix = &key[prefix.len()..];
            // `Uri` -> `uri`, `DateTime` -> `dateTime`: type codes of primitives start lower-case.
            let mut type_code = suffix.to_string();
            if let Some(first) = suffix.chars().next() {
                let lowered = format!(
                    "{}{}",
                    first.to_ascii_lowercase(),
                    &suffix[first.len_utf8()..]
                );
                if r4().primitive(&lowered).is_some() {
                    type_code = lowered;
                }
            }
            let allowed: Vec<&str> = choice.types.iter().map(String::as_str).collect();
            msg = format!(
                "'{}' is not allowed: {} has no type '{}' (allowed types: {})",
                primitive::shorten(key),
                choice.path,
                primitive::shorten(&type_code),
                allowed.join(", ")
            );
        } else {
            let names = node
                .props
                .iter()
                .filter(|(_, p)| p.is_ext == key.starts_with('_'))
                .map(|(k, _)| &**k);
            if let Some(s) = suggest(key, names) {
                let _ = write!(msg, " (did you mean '{s}'?)");
            }
        }
        self.err_at(Seg::Key(key), IssueCode::Structure, msg);
    }

    // ----- complex elements ------------------------------------------------------------------

    /// The value of a complex or resource element (array or single), at its path.
    fn element(&mut self, prop: &'static Prop, val: &'a Value) {
        if prop.elem.is_array() {
            match val {
                Value::Array(items) => {
                    if items.is_empty() {
                        self.err(
                            IssueCode::Structure,
                            format!("empty array for '{}': omit the element instead", prop.name),
                        );
                        return;
                    }
                    self.check_max(prop, items.len());
                    for (i, item) in items.iter().enumerate() {
                        self.path.push(Seg::Index(i));
                        self.single(prop, item);
                        self.path.pop();
                    }
                }
                other => {
                    let msg = format!(
                        "'{}' must be a JSON array ({} repeats), found {}",
                        prop.name,
                        prop.elem.path,
                        kind_name(other)
                    );
                    self.err(IssueCode::Structure, msg);
                    self.single(prop, other);
                }
            }
        } else if let Value::Array(_) = val {
            let msg = format!(
                "'{}' must be a single value, not an array ({} has max cardinality 1)",
                prop.name, prop.elem.path
            );
            self.err(IssueCode::Structure, msg);
        } else {
            self.single(prop, val);
        }
    }

    fn check_max(&mut self, prop: &'static Prop, len: usize) {
        if let Some(max) = prop.elem.max
            && len > max as usize
        {
            let msg = format!(
                "'{}' has {len} values but {} allows at most {max}",
                prop.name, prop.elem.path
            );
            self.err(IssueCode::Invalid, msg);
        }
    }

    /// One complex value or nested resource.
    fn single(&mut self, prop: &'static Prop, v: &'a Value) {
        match (prop.kind, v) {
            (Kind::Any | Kind::Primitive { .. }, _) => {}
            (_, Value::Null) => self.err(
                IssueCode::Structure,
                "null is not allowed: omit the element instead".to_string(),
            ),
            (Kind::Resource, _) => self.resource(v),
            (Kind::Complex(n), Value::Object(o)) => {
                if o.is_empty() {
                    self.err(
                        IssueCode::Structure,
                        "empty object is not allowed: omit the element instead".to_string(),
                    );
                    return;
                }
                self.object(n, o, false);
                if let Some(b) = prop.binding {
                    match b.target {
                        BindTarget::Coding => self.bound_coding(prop, &b, o),
                        BindTarget::CodeableConcept => self.bound_concept(prop, &b, o),
                        BindTarget::Code => {}
                    }
                }
            }
            (Kind::Complex(_), other) => {
                let msg = format!(
                    "expected an object of type {} for '{}', found {}",
                    prop.type_code,
                    prop.name,
                    kind_name(other)
                );
                self.err(IssueCode::Structure, msg);
            }
        }
    }

    // ----- primitives ------------------------------------------------------------------------

    /// A primitive element: its value(s) `val` and/or its `_x` companion(s) `ext`, at its path.
    fn primitive_pair(
        &mut self,
        prop: &'static Prop,
        prim: u32,
        ext_node: u32,
        val: Option<&'a Value>,
        ext: Option<&'a Value>,
    ) {
        if !prop.elem.is_array() {
            if let Some(v) = val {
                match v {
                    Value::Array(_) => {
                        let msg = format!(
                            "'{}' must be a single value, not an array ({} has max cardinality 1)",
                            prop.name, prop.elem.path
                        );
                        self.err(IssueCode::Structure, msg);
                    }
                    _ => self.primitive_value(prop, prim, v),
                }
            }
            if let Some(e) = ext {
                self.primitive_ext(prop, ext_node, e);
            }
            return;
        }
        let vals = match val {
            Some(Value::Array(a)) => Some(a),
            Some(other) => {
                let msg = format!(
                    "'{}' must be a JSON array ({} repeats), found {}",
                    prop.name,
                    prop.elem.path,
                    kind_name(other)
                );
                self.err(IssueCode::Structure, msg);
                if !other.is_null() {
                    self.primitive_value(prop, prim, other);
                }
                None
            }
            None => None,
        };
        let exts = match ext {
            Some(Value::Array(a)) => Some(a),
            Some(other) => {
                let msg = format!(
                    "'_{}' must be a JSON array aligned with '{}', found {}",
                    prop.name,
                    prop.name,
                    kind_name(other)
                );
                self.err(IssueCode::Structure, msg);
                None
            }
            None => None,
        };
        if vals.is_some_and(|a| a.is_empty()) || exts.is_some_and(|a| a.is_empty()) {
            let msg = format!("empty array for '{}': omit the element instead", prop.name);
            self.err(IssueCode::Structure, msg);
        }
        if let (Some(a), Some(b)) = (vals, exts)
            && a.len() != b.len()
        {
            let msg = format!(
                "'_{}' has {} entries but '{}' has {}: the two arrays must align one to one (use null for absent entries)",
                prop.name,
                b.len(),
                prop.name,
                a.len()
            );
            self.err(IssueCode::Structure, msg);
        }
        let n = vals.map_or(0, Vec::len).max(exts.map_or(0, Vec::len));
        self.check_max(prop, n);
        for i in 0..n {
            let v = vals.and_then(|a| a.get(i)).filter(|v| !v.is_null());
            let e = exts.and_then(|a| a.get(i)).filter(|v| !v.is_null());
            self.path.push(Seg::Index(i));
            if v.is_none() && e.is_none() {
                let in_vals = vals.is_some_and(|a| i < a.len());
                let msg = if in_vals {
                    format!(
                        "null in '{}' is only allowed where '_{}' has an extension at the same index",
                        prop.name, prop.name
                    )
                } else {
                    format!(
                        "null in '_{}' where '{}' has no value at the same index",
                        prop.name, prop.name
                    )
                };
                self.err(IssueCode::Structure, msg);
            }
            if let Some(v) = v {
                self.primitive_value(prop, prim, v);
            }
            if let Some(e) = e {
                self.primitive_ext(prop, ext_node, e);
            }
            self.path.pop();
        }
    }

    /// One primitive JSON value, at its path.
    fn primitive_value(&mut self, prop: &'static Prop, prim: u32, v: &'a Value) {
        let s = self.s;
        let prim = &s.prims[prim as usize];
        match v {
            Value::Null => {
                self.err(
                    IssueCode::Structure,
                    "null is not allowed: omit the element instead".to_string(),
                );
            }
            Value::Array(_) | Value::Object(_) => {
                let msg = format!(
                    "expected a primitive {} value for '{}', found {}",
                    prim.name,
                    prop.name,
                    kind_name(v)
                );
                self.err(IssueCode::Structure, msg);
            }
            _ => match primitive::check(prim, v, &mut self.scratch) {
                Ok(()) => {
                    if let (Some(b), Value::String(code)) = (&prop.binding, v)
                        && b.target == BindTarget::Code
                        && !in_value_set(b, code)
                    {
                        let msg = format!(
                            "'{}' is not a valid code for {} (expected one of: {} — required value set {})",
                            primitive::shorten(code),
                            prop.elem.path,
                            list_codes(b, None),
                            b.url
                        );
                        self.err(IssueCode::CodeInvalid, msg);
                    }
                }
                Err(Problem::WrongKind(m) | Problem::Invalid(m)) => self.err(IssueCode::Value, m),
            },
        }
    }

    /// The `_x` object of a primitive (id and extensions), at the primitive's path.
    fn primitive_ext(&mut self, prop: &'static Prop, ext_node: u32, e: &'a Value) {
        match e {
            Value::Object(o) if !o.is_empty() => self.object(ext_node, o, false),
            Value::Object(_) => {
                self.err(
                    IssueCode::Structure,
                    format!("empty object in '_{}': omit it instead", prop.name),
                );
            }
            other => {
                let msg = format!(
                    "'_{}' must hold objects with id and/or extension, found {}",
                    prop.name,
                    kind_name(other)
                );
                self.err(IssueCode::Structure, msg);
            }
        }
    }

    // ----- required bindings -----------------------------------------------------------------

    /// Whether `v` is a valid value of primitive `prim` (without reporting anything).
    fn valid_primitive(&mut self, prim: u32, v: &Value) -> bool {
        let s = self.s;
        primitive::check(&s.prims[prim as usize], v, &mut self.scratch).is_ok()
    }

    fn bound_coding(&mut self, prop: &'static Prop, b: &Binding, coding: &'a Map<String, Value>) {
        // A system or code that is not a valid uri or code is reported as such.
        let (uri, code) = (self.s.uri_prim, self.s.code_prim);
        if coding
            .get("system")
            .is_some_and(|v| !self.valid_primitive(uri, v))
            || coding
                .get("code")
                .is_some_and(|v| !self.valid_primitive(code, v))
        {
            return;
        }
        if let Some(msg) = coding_problem(prop, b, coding) {
            self.err(IssueCode::CodeInvalid, msg);
        }
    }

    /// A CodeableConcept with a required binding: at least one coding must be from the value
    /// set (its system in the set and its code one of that system's codes), and a coding that
    /// names a system of the set must carry one of its codes. Further codings from other systems
    /// (translations) are fine. A text-only concept does not satisfy a required binding.
    ///
    /// This strict reading was checked against the official R4 examples and the Synthea data:
    /// none of them is rejected by it (every bound concept there carries a valid coding).
    fn bound_concept(&mut self, prop: &'static Prop, b: &Binding, cc: &'a Map<String, Value>) {
        let codings = match cc.get("coding") {
            Some(Value::Array(codings)) => codings.as_slice(),
            Some(_) => return, // wrong shape: reported as such
            None => &[],
        };
        let mut valid = false;
        let mut reported = false;
        for (i, coding) in codings.iter().enumerate() {
            // Codings of the wrong shape are reported as such: no second issue about them.
            let Value::Object(c) = coding else {
                reported = true;
                continue;
            };
            // A system or code that is not a valid uri or code is reported as such.
            let system = match c.get("system") {
                Some(v @ Value::String(system)) if self.valid_primitive(self.s.uri_prim, v) => {
                    system
                }
                Some(_) => {
                    reported = true;
                    continue;
                }
                None => continue,
            };
            if c.get("code")
                .is_some_and(|v| !self.valid_primitive(self.s.code_prim, v))
            {
                reported = true;
                continue;
            }
            let Some(codes) = b.codes.get(system.as_str()) else {
                continue;
            };
            let msg = match c.get("code") {
                Some(Value::String(code)) if codes.contains(code.as_str()) => {
                    valid = true;
                    continue;
                }
                Some(Value::String(code)) => format!(
                    "'{}' is not a valid code of {system} for {} (expected one of: {} — required value set {})",
                    primitive::shorten(code),
                    prop.elem.path,
                    list_codes(b, Some(system)),
                    b.url
                ),
                Some(_) => continue, // not a string: handled above
                None => format!(
                    "a coding of {system} for {} must have a code (one of: {} — required value set {})",
                    prop.elem.path,
                    list_codes(b, Some(system)),
                    b.url
                ),
            };
            reported = true;
            self.path.push(Seg::Key("coding"));
            self.path.push(Seg::Index(i));
            self.err_at(Seg::Key("code"), IssueCode::CodeInvalid, msg);
            self.path.pop();
            self.path.pop();
        }
        if !valid && !reported {
            let systems: Vec<&str> = b.codes.keys().map(String::as_str).collect();
            let msg = format!(
                "{} has a required binding: it needs a coding from {} ({}: {})",
                prop.elem.path,
                b.url,
                systems.join(" or "),
                list_codes(b, None)
            );
            self.err(IssueCode::CodeInvalid, msg);
        }
    }
}

/// What is wrong with a Coding bound to a required value set, if anything.
fn coding_problem(prop: &Prop, b: &Binding, coding: &Map<String, Value>) -> Option<String> {
    let systems: Vec<&str> = b.codes.keys().map(String::as_str).collect();
    let Some(Value::String(system)) = coding.get("system") else {
        return Some(format!(
            "{} has a required binding to {}: the coding needs a system ({})",
            prop.elem.path,
            b.url,
            systems.join(" or ")
        ));
    };
    let Some(codes) = b.codes.get(system.as_str()) else {
        return Some(format!(
            "system '{}' is not part of the required value set {} for {} (expected {})",
            primitive::shorten(system),
            b.url,
            prop.elem.path,
            systems.join(" or ")
        ));
    };
    match coding.get("code") {
        Some(Value::String(code)) if codes.contains(code.as_str()) => None,
        Some(Value::String(code)) => Some(format!(
            "'{}' is not a valid code of {system} for {} (expected one of: {} — required value set {})",
            primitive::shorten(code),
            prop.elem.path,
            list_codes(b, Some(system)),
            b.url
        )),
        Some(_) => None, // not a string: reported as such
        None => Some(format!(
            "the coding for {} needs a code from {}",
            prop.elem.path, b.url
        )),
    }
}

fn in_value_set(b: &Binding, code: &str) -> bool {
    b.codes.values().any(|codes| codes.contains(code))
}

/// Up to 12 codes of the binding (of one system, or all), sorted, for messages.
fn list_codes(b: &Binding, system: Option<&str>) -> String {
    let mut codes: Vec<&str> = b
        .codes
        .iter()
        .filter(|(s, _)| system.is_none_or(|want| want == s.as_str()))
        .flat_map(|(_, c)| c.iter().map(String::as_str))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let more = codes.len().saturating_sub(12);
    let mut out = codes.into_iter().take(12).collect::<Vec<_>>().join(", ");
    if more > 0 {
        let _ = write!(out, " and {more} more");
    }
    out
}

/// `Patient`, `Patient.contact`, `HumanName`, or for the `_birthDate` object of a date:
/// `the '_' companion of a date (which holds only id and extension)`.
fn element_label(node: &Node) -> String {
    if node.path.starts_with(|c: char| c.is_ascii_lowercase()) {
        format!(
            "the '_' companion of a {} (which holds only id and extension)",
            node.path
        )
    } else {
        node.path.to_string()
    }
}

fn kind_name(v: &Value) -> String {
    primitive::describe(v)
}

/// A property of `node` equal to `key` but for case.
fn suggest_exact_ci(key: &str, node: &Node) -> Option<String> {
    node.props
        .keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map(|k| k.to_string())
}

/// The closest of `candidates` to `word`: same but for case, or within a small edit distance.
/// Words longer than 64 bytes get no suggestion (and cost nothing).
fn suggest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<String> {
    if word.len() > 64 {
        return None;
    }
    let lower = word.to_lowercase();
    let len = word.chars().count();
    let limit = if len <= 4 { 1 } else { 2 };
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c.eq_ignore_ascii_case(word) {
            return Some(c.to_string());
        }
        if c.len().abs_diff(len) > limit {
            continue; // the names are ASCII: byte length is the character count
        }
        let d = edit_distance(&lower, &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("birthdat", "birthdate"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            suggest("gendr", ["gender", "name"].into_iter()).as_deref(),
            Some("gender")
        );
        assert_eq!(suggest("xyz", ["gender", "name"].into_iter()), None);
    }

    /// No element of base R4 binds a Coding to a required value set, so the Coding rule is
    /// checked here directly.
    #[test]
    fn coding_in_a_required_binding() {
        let s: &'static Schema = &SCHEMA;
        let prop = s.nodes[s.by_path["Patient"] as usize]
            .props
            .get("gender")
            .unwrap();
        let url = "http://hl7.org/fhir/ValueSet/administrative-gender";
        let b = Binding {
            url,
            codes: r4().value_set(url).unwrap(),
            target: BindTarget::Coding,
        };
        let coding = |v: Value| v.as_object().unwrap().clone();
        let system = "http://hl7.org/fhir/administrative-gender";
        assert_eq!(
            coding_problem(prop, &b, &coding(json!({"system": system, "code": "male"}))),
            None
        );
        let bad_code =
            coding_problem(prop, &b, &coding(json!({"system": system, "code": "M"}))).unwrap();
        assert!(bad_code.contains("'M' is not a valid code"), "{bad_code}");
        let foreign = coding_problem(
            prop,
            &b,
            &coding(json!({"system": "http://x", "code": "male"})),
        )
        .unwrap();
        assert!(
            foreign.contains("system 'http://x' is not part of"),
            "{foreign}"
        );
        assert!(coding_problem(prop, &b, &coding(json!({"code": "male"}))).is_some());
        assert!(coding_problem(prop, &b, &coding(json!({"system": system}))).is_some());
    }

    #[test]
    fn minimal_patient_is_valid() {
        assert!(validate_resource(&json!({"resourceType": "Patient"})).is_empty());
    }
}
