//! The definition tables compiled once into what the validator walks: for every element that has
//! children (a resource root, a complex type, a backbone element, a primitive type's `_x` object),
//! a map from each JSON property name that may appear in it (`birthDate`, `_birthDate`,
//! `valueQuantity`) to what that property is.

use crate::definitions::{Definitions, ElementDef, TypeDef, TypeKind};
use regex::Regex;
use std::collections::{BTreeMap, HashMap, HashSet};

/// At least the most choice elements (`value[x]`, `effective[x]` ...) any one element has in R4
/// (5, in ElementDefinition); the validator tracks them in a fixed array of this size.
pub(super) const MAX_CHOICE_GROUPS: usize = 8;

pub(super) struct Schema {
    pub nodes: Vec<Node>,
    /// Node index by path: `Patient`, `Patient.contact`, `HumanName`, `date`.
    pub by_path: HashMap<&'static str, u32>,
    pub prims: Vec<Prim>,
    /// Indexes of `code` and `uri` in `prims` (for Coding.code and Coding.system).
    pub code_prim: u32,
    pub uri_prim: u32,
}

/// An element with children.
pub(super) struct Node {
    /// `Patient`, `Patient.contact`, `HumanName`, `date` (for a `_birthDate` object).
    pub path: &'static str,
    /// JSON property name -> property.
    pub props: HashMap<Box<str>, Prop>,
    /// Elements with min >= 1.
    pub required: Vec<Required>,
    /// Choice elements, for explaining `valueUri` where `value[x]` does not allow uri.
    pub choices: Vec<&'static ElementDef>,
    /// For `Extension`: the choice group of `value[x]` (ext-1).
    pub extension_value_group: Option<u16>,
}

pub(super) struct Required {
    pub elem: &'static ElementDef,
    pub what: Presence,
}

pub(super) enum Presence {
    /// Present if one of these JSON keys is (`birthDate`, `_birthDate`).
    Keys(Box<str>, Box<str>),
    /// A choice element: present if any property of this choice group is.
    Choice(u16),
}

pub(super) struct Prop {
    pub elem: &'static ElementDef,
    pub kind: Kind,
    /// The JSON name of the value (`birthDate`, also for the `_birthDate` property).
    pub name: Box<str>,
    /// For a primitive: the other member of the pair (`_birthDate` for `birthDate` and back).
    pub partner: Box<str>,
    /// Whether this is the `_x` property of a primitive.
    pub is_ext: bool,
    /// Choice group (index among the node's elements) for `value[x]` properties.
    pub choice: Option<u16>,
    /// The type code this property carries (`Quantity` for `valueQuantity`).
    pub type_code: &'static str,
    pub binding: Option<Binding>,
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// A primitive type (index into `prims`); `node` describes its `_x` object.
    Primitive { prim: u32, node: u32 },
    /// An object validated against a node.
    Complex(u32),
    /// A nested resource.
    Resource,
    /// A type the tables do not describe: accepted as is.
    Any,
}

#[derive(Clone, Copy)]
pub(super) struct Binding {
    pub url: &'static str,
    pub codes: &'static BTreeMap<String, HashSet<String>>,
    pub target: BindTarget,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum BindTarget {
    Code,
    Coding,
    CodeableConcept,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum JsonKind {
    String,
    Number,
    Boolean,
}

/// Which extra rule beyond the JSON kind and the regex a primitive has.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum PrimRule {
    /// string, markdown: no control characters but tab, carriage return and line feed; at most
    /// 1 MiB.
    Text,
    /// uri, url, canonical: no whitespace (regex `\S*`).
    NoSpace,
    Boolean,
    Integer,
    PositiveInt,
    UnsignedInt,
    Date,
    DateTime,
    Instant,
    Base64,
    Xhtml,
    /// The regex only (code, id, oid, uuid, time, decimal ...).
    Regex,
}

pub(super) struct Prim {
    pub name: &'static str,
    pub json: JsonKind,
    pub regex: Option<Regex>,
    pub rule: PrimRule,
}

impl Schema {
    pub fn build(defs: &'static Definitions) -> Schema {
        let mut b = Builder {
            defs,
            schema: Schema {
                nodes: Vec::new(),
                by_path: HashMap::new(),
                prims: Vec::new(),
                code_prim: 0,
                uri_prim: 0,
            },
        };
        b.prims();
        // Both are primitives of every FHIR version: their absence is a defect of the tables.
        b.schema.code_prim = b.prim_index("code").expect("the tables define code");
        b.schema.uri_prim = b.prim_index("uri").expect("the tables define uri");
        for rt in defs.resource_types() {
            if let Some(td) = defs.type_def(rt) {
                b.node(td, &td.name);
            }
        }
        b.schema
    }

    pub fn resource_node(&self, resource_type: &str) -> Option<u32> {
        self.by_path.get(resource_type).copied()
    }
}

struct Builder {
    defs: &'static Definitions,
    schema: Schema,
}

impl Builder {
    fn prims(&mut self) {
        for name in [
            "base64Binary",
            "boolean",
            "canonical",
            "code",
            "date",
            "dateTime",
            "decimal",
            "id",
            "instant",
            "integer",
            "markdown",
            "oid",
            "positiveInt",
            "string",
            "time",
            "unsignedInt",
            "uri",
            "url",
            "uuid",
            "xhtml",
        ] {
            self.prim_index(name);
        }
    }

    fn prim_index(&mut self, name: &str) -> Option<u32> {
        if let Some(i) = self.schema.prims.iter().position(|p| p.name == name) {
            return Some(i as u32);
        }
        let def = self.defs.primitive(name)?;
        let json = match def.json.as_str() {
            "number" => JsonKind::Number,
            "boolean" => JsonKind::Boolean,
            _ => JsonKind::String,
        };
        let rule = match name {
            "string" | "markdown" => PrimRule::Text,
            "uri" | "url" | "canonical" => PrimRule::NoSpace,
            "boolean" => PrimRule::Boolean,
            "integer" => PrimRule::Integer,
            "positiveInt" => PrimRule::PositiveInt,
            "unsignedInt" => PrimRule::UnsignedInt,
            "date" => PrimRule::Date,
            "dateTime" => PrimRule::DateTime,
            "instant" => PrimRule::Instant,
            "base64Binary" => PrimRule::Base64,
            "xhtml" => PrimRule::Xhtml,
            _ => PrimRule::Regex,
        };
        // Text, NoSpace, Boolean, Base64 and Xhtml are checked by hand (same meaning as the
        // specification's regex where it has one, without running a regex over megabytes).
        let needs_regex = !matches!(
            rule,
            PrimRule::Text
                | PrimRule::NoSpace
                | PrimRule::Boolean
                | PrimRule::Base64
                | PrimRule::Xhtml
        );
        let regex = match (&def.regex, needs_regex) {
            (Some(r), true) => Some(compile_spec_regex(r)),
            _ => None,
        };
        self.schema.prims.push(Prim {
            name: &def.name,
            json,
            regex,
            rule,
        });
        Some(self.schema.prims.len() as u32 - 1)
    }

    /// The node for the element at `path` of `td` (its children), building it on first use.
    fn node(&mut self, td: &'static TypeDef, path: &'static str) -> u32 {
        if let Some(&i) = self.schema.by_path.get(path) {
            return i;
        }
        let index = self.schema.nodes.len() as u32;
        self.schema.nodes.push(Node {
            path,
            props: HashMap::new(),
            required: Vec::new(),
            choices: Vec::new(),
            extension_value_group: None,
        });
        self.schema.by_path.insert(path, index);

        let mut props: HashMap<Box<str>, Prop> = HashMap::new();
        let mut required = Vec::new();
        let mut choices = Vec::new();
        let mut extension_value_group = None;
        for (i, el) in td.children(path).enumerate() {
            let group = i as u16;
            let binding = el
                .required_binding
                .as_deref()
                .and_then(|url| self.defs.value_set(url).map(|codes| (url, codes)));
            let binding_for = |type_code: &str| {
                let target = match type_code {
                    "code" => BindTarget::Code,
                    "Coding" => BindTarget::Coding,
                    "CodeableConcept" => BindTarget::CodeableConcept,
                    _ => return None,
                };
                binding.map(|(url, codes)| Binding { url, codes, target })
            };
            if el.is_choice() {
                choices.push(el);
                if path == "Extension" && el.name == "value[x]" {
                    extension_value_group = Some(group);
                }
                let prefix = el.name.trim_end_matches("[x]");
                for t in &el.types {
                    let kind = self.kind_of_type(t);
                    let name = format!("{prefix}{}", capitalize(t));
                    self.add_props(&mut props, el, kind, name, Some(group), t, binding_for(t));
                }
                if el.min >= 1 {
                    required.push(Required {
                        elem: el,
                        what: Presence::Choice(group),
                    });
                }
                continue;
            }
            let (kind, type_code): (Kind, &'static str) =
                if let Some(target) = el.content_reference.as_deref() {
                    (Kind::Complex(self.node(td, target)), "BackboneElement")
                } else if td.children(&el.path).next().is_some() {
                    (
                        Kind::Complex(self.node(td, &el.path)),
                        el.types.first().map_or("BackboneElement", String::as_str),
                    )
                } else if let Some(t) = el.types.first() {
                    (self.kind_of_type(t), t.as_str())
                } else {
                    (Kind::Any, "")
                };
            self.add_props(
                &mut props,
                el,
                kind,
                el.name.clone(),
                None,
                type_code,
                binding_for(type_code),
            );
            if el.min >= 1 {
                required.push(Required {
                    elem: el,
                    what: Presence::Keys(el.name.as_str().into(), format!("_{}", el.name).into()),
                });
            }
        }
        // The validator tracks the choice groups of an object in a fixed array.
        assert!(
            choices.len() <= MAX_CHOICE_GROUPS,
            "{path} has more than {MAX_CHOICE_GROUPS} choice elements"
        );
        let node = &mut self.schema.nodes[index as usize];
        node.props = props;
        node.required = required;
        node.choices = choices;
        node.extension_value_group = extension_value_group;
        index
    }

    #[allow(clippy::too_many_arguments)]
    fn add_props(
        &mut self,
        props: &mut HashMap<Box<str>, Prop>,
        elem: &'static ElementDef,
        kind: Kind,
        name: String,
        choice: Option<u16>,
        type_code: &'static str,
        binding: Option<Binding>,
    ) {
        let ext_name = format!("_{name}");
        if let Kind::Primitive { .. } = kind {
            props.insert(
                ext_name.clone().into(),
                Prop {
                    elem,
                    kind,
                    name: name.as_str().into(),
                    partner: name.as_str().into(),
                    is_ext: true,
                    choice,
                    type_code,
                    binding,
                },
            );
        }
        props.insert(
            name.as_str().into(),
            Prop {
                elem,
                kind,
                name: name.as_str().into(),
                partner: ext_name.into(),
                is_ext: false,
                choice,
                type_code,
                binding,
            },
        );
    }

    fn kind_of_type(&mut self, type_code: &'static str) -> Kind {
        if let Some(prim) = self.prim_index(type_code) {
            return match self.defs.type_def(type_code) {
                Some(td) => Kind::Primitive {
                    prim,
                    node: self.node(td, &td.name),
                },
                None => Kind::Any,
            };
        }
        match self.defs.type_def(type_code) {
            Some(td) if td.kind == TypeKind::Resource => Kind::Resource,
            Some(td) => Kind::Complex(self.node(td, &td.name)),
            None => Kind::Any,
        }
    }
}

/// `dateTime` -> `DateTime`, the spelling of a type in a choice property name (`valueDateTime`).
fn capitalize(type_code: &str) -> String {
    let mut c = type_code.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The specification's regexes are Java regexes, where `\s` means ASCII whitespace only (so
/// `\S` matches the ideographic space U+3000 common in Japanese names). Translate them to the
/// same meaning in the `regex` crate, whose `\s` is Unicode-aware, and anchor them.
fn compile_spec_regex(spec: &str) -> Regex {
    const WS: &str = r" \t\n\x0B\x0C\r";
    let mut out = String::with_capacity(spec.len() + 32);
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => {
                out.push('[');
                out.push_str(WS);
                out.push(']');
            }
            Some('S') => {
                out.push_str("[^");
                out.push_str(WS);
                out.push(']');
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    // The tables are generated from the specification and fixed at build time: a regex that
    // does not compile is a defect every test run catches, not something input can cause.
    Regex::new(&format!(r"\A(?:{out})\z")).expect("the specification's regexes compile")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_regexes_use_ascii_whitespace() {
        let code = compile_spec_regex(r"[^\s]+(\s[^\s]+)*");
        assert!(code.is_match("a b"));
        assert!(code.is_match("山田\u{3000}太郎"));
        assert!(!code.is_match(" a"));
        assert!(!code.is_match("a  b"));
        let string = compile_spec_regex(r"[ \r\n\t\S]+");
        assert!(string.is_match(" x\u{3000}\n"));
        assert!(!string.is_match("a\x0Bb"));
    }

    #[test]
    fn capitalizes_type_codes() {
        assert_eq!(capitalize("dateTime"), "DateTime");
        assert_eq!(capitalize("CodeableConcept"), "CodeableConcept");
    }
}
