//! The R4 type tables compiled once for navigation: for every element that has children (a
//! resource, a complex or primitive type, a backbone element) a *scope* mapping each child's
//! FHIRPath name (`value`, `birthDate`) and each choice variant's JSON name (`valueQuantity`) to
//! what the child holds: its JSON properties (`birthDate`, `_birthDate`), its FHIR type and the
//! scope of its own children.

use crate::definitions::{Definitions, ElementDef, TypeDef, TypeKind};
use crate::r4;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

pub(super) static MODEL: LazyLock<Model> = LazyLock::new(|| Model::build(r4()));

pub(super) type ScopeId = u32;
/// An element name (`value`, `valueQuantity`, `given`), interned.
pub(super) type Sym = u32;
/// Index of a type in `Model::types`.
pub(super) type TypeId = u16;

/// FNV-1a: the maps here have short string keys and are read on every navigation step, where
/// SipHash's resistance to chosen keys buys nothing (the keys are the definitions').
#[derive(Default, Clone, Copy)]
pub(super) struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

pub(super) struct Model {
    pub scopes: Vec<Scope>,
    pub types: Vec<TypeInfo>,
    type_ids: FnvMap<&'static str, TypeId>,
    /// Every element name of every scope.
    symbols: FnvMap<Box<str>, Sym>,
}

/// How a type's values read as FHIRPath System values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum ValueKind {
    Boolean,
    Integer,
    Decimal,
    String,
    Date,
    DateTime,
    Time,
    /// Quantity and its profiles (Age, Duration ...).
    Quantity,
    Other,
}

pub(super) struct TypeInfo {
    pub name: &'static str,
    pub base: Option<TypeId>,
    pub primitive: bool,
    pub resource: bool,
    /// Children of values of this type (`Patient`, `Quantity`, `date` for `_birthDate`).
    pub root: Option<ScopeId>,
    pub value_kind: ValueKind,
    /// The System type a value converts to automatically (fhirpath.js's table): `String`
    /// for `code`, `DateTime` for `date` ... (`ofType(String)`).
    pub converts_to: Option<&'static str>,
}

pub(super) struct Scope {
    /// FHIRPath name (`value`) or JSON name of a choice variant (`valueQuantity`) -> (element,
    /// the one variant when the name selects one).
    by_name: FnvMap<Sym, (u32, Option<u16>)>,
    /// JSON property (`valueQuantity`, `_valueString`, `birthDate`) -> (element, variant).
    by_json: FnvMap<Box<str>, (u32, u16)>,
    pub elems: Vec<Elem>,
}

pub(super) struct Elem {
    /// The element's definition path, `Observation.component.value[x]`.
    pub path: &'static str,
    /// Its FHIRPath name (`value` for `value[x]`).
    pub name: &'static str,
    pub choice: bool,
    pub variants: Vec<Variant>,
}

pub(super) struct Variant {
    /// The JSON property of the value (`valueQuantity`, `birthDate`) and of a primitive's
    /// extensions (`_valueQuantity`, `_birthDate`).
    pub json: Box<str>,
    pub ext_json: Box<str>,
    pub target: Target,
}

#[derive(Clone, Copy)]
pub(super) enum Target {
    /// Values of one FHIR type, with the scope of their children (None: a type the tables do
    /// not describe, whose values have no children).
    Typed {
        ty: TypeId,
        scope: Option<ScopeId>,
        primitive: bool,
    },
    /// A nested resource (`contained`, `Bundle.entry.resource`): typed by its `resourceType`.
    Resource,
}

impl Scope {
    /// The element a FHIRPath name selects, and the one variant it names if it is the JSON name
    /// of a choice variant.
    pub fn child(&self, name: Sym) -> Option<(&Elem, Option<u16>)> {
        let &(e, v) = self.by_name.get(&name)?;
        Some((&self.elems[e as usize], v))
    }

    /// The element and variant a JSON property (possibly `_x`) belongs to.
    pub fn by_json(&self, key: &str) -> Option<(&Elem, u16)> {
        let &(e, v) = self.by_json.get(key)?;
        Some((&self.elems[e as usize], v))
    }
}

impl Model {
    fn build(defs: &'static Definitions) -> Model {
        let mut b = Builder {
            defs,
            model: Model {
                scopes: Vec::new(),
                types: Vec::new(),
                type_ids: FnvMap::default(),
                symbols: FnvMap::default(),
            },
            by_path: HashMap::new(),
            pending: Vec::new(),
        };
        for name in ["Resource", "DomainResource", "Element", "BackboneElement"] {
            b.root(name);
        }
        for rt in defs.resource_types() {
            b.root(rt);
        }
        while let Some((td, path, id)) = b.pending.pop() {
            b.fill(td, path, id);
        }
        // Profiles of Quantity that FHIRPath engines know as types, though no element has them.
        let quantity = b.model.type_id("Quantity");
        for name in ["SimpleQuantity", "MoneyQuantity"] {
            let id = b.intern(name);
            b.model.types[id as usize].base = quantity;
            b.model.types[id as usize].value_kind = ValueKind::Quantity;
        }
        b.model
    }

    /// The symbol of an element name, if any element has it.
    pub fn symbol(&self, name: &str) -> Option<Sym> {
        self.symbols.get(name).copied()
    }

    /// A type by name, if the tables know it.
    pub fn type_id(&self, name: &str) -> Option<TypeId> {
        self.type_ids.get(name).copied()
    }

    pub fn info(&self, id: TypeId) -> &TypeInfo {
        &self.types[id as usize]
    }

    /// The resource type named `name`, if it is one (abstract ones included).
    pub fn resource_type(&self, name: &str) -> Option<TypeId> {
        self.type_id(name).filter(|&t| self.info(t).resource)
    }

    /// Whether `ty` is `sup` or derives from it (`Age` is a `Quantity`, `Patient` a `Resource`,
    /// `code` a `string`).
    pub fn is_subtype(&self, ty: TypeId, sup: TypeId) -> bool {
        let mut t = ty;
        for _ in 0..32 {
            if t == sup {
                return true;
            }
            match self.types[t as usize].base {
                Some(b) => t = b,
                None => return false,
            }
        }
        false
    }
}

struct Builder {
    defs: &'static Definitions,
    model: Model,
    /// Definition path of an element with children -> its scope.
    by_path: HashMap<&'static str, ScopeId>,
    /// Scopes created but not filled yet.
    pending: Vec<(&'static TypeDef, &'static str, ScopeId)>,
}

impl Builder {
    fn symbol(&mut self, name: &str) -> Sym {
        let next = self.model.symbols.len() as Sym;
        *self.model.symbols.entry(name.into()).or_insert(next)
    }

    /// The type's id, with a bare entry if the tables do not describe it.
    fn intern(&mut self, name: &str) -> TypeId {
        if let Some(id) = self.model.type_id(name) {
            return id;
        }
        let name: &'static str = match self.defs.type_def(name) {
            Some(td) => &td.name,
            None => Box::leak(name.to_string().into_boxed_str()),
        };
        let id = self.model.types.len() as TypeId;
        self.model.types.push(TypeInfo {
            name,
            base: None,
            primitive: false,
            resource: false,
            root: None,
            value_kind: ValueKind::Other,
            converts_to: None,
        });
        self.model.type_ids.insert(name, id);
        id
    }

    /// A type described by the tables, with its root scope (created with the scopes of its
    /// backbone elements on first use).
    fn root(&mut self, name: &str) -> Option<TypeId> {
        if let Some(id) = self.model.type_id(name)
            && self.model.info(id).root.is_some()
        {
            return Some(id);
        }
        let td = self.defs.type_def(name)?;
        let id = self.intern(&td.name);
        let scope = self.new_scope(td, &td.name);
        self.model.types[id as usize].root = Some(scope);
        for e in &td.elements {
            if td.children(&e.path).next().is_some() {
                self.new_scope(td, &e.path);
            }
        }
        let base = td.base.as_deref().and_then(|b| self.root(b));
        let name: &'static str = &td.name;
        let value_kind = match name {
            "boolean" => ValueKind::Boolean,
            "integer" | "unsignedInt" | "positiveInt" | "integer64" => ValueKind::Integer,
            "decimal" => ValueKind::Decimal,
            "date" => ValueKind::Date,
            "dateTime" | "instant" => ValueKind::DateTime,
            "time" => ValueKind::Time,
            _ if td.kind == TypeKind::PrimitiveType => ValueKind::String,
            "Quantity" => ValueKind::Quantity,
            _ => match base.map(|b| self.model.info(b).value_kind) {
                Some(ValueKind::Quantity) => ValueKind::Quantity,
                _ => ValueKind::Other,
            },
        };
        let converts_to = match name {
            "boolean" => Some("Boolean"),
            "string" | "uri" | "code" | "oid" | "id" | "uuid" | "markdown" | "base64Binary" => {
                Some("String")
            }
            "integer" | "unsignedInt" | "positiveInt" => Some("Integer"),
            "decimal" => Some("Decimal"),
            "date" | "dateTime" | "instant" => Some("DateTime"),
            "time" => Some("Time"),
            "Quantity" => Some("Quantity"),
            _ => None,
        };
        let info = &mut self.model.types[id as usize];
        info.base = base;
        info.primitive = td.kind == TypeKind::PrimitiveType;
        info.resource = td.kind == TypeKind::Resource;
        info.value_kind = value_kind;
        info.converts_to = converts_to;
        Some(id)
    }

    fn new_scope(&mut self, td: &'static TypeDef, path: &'static str) -> ScopeId {
        let id = self.model.scopes.len() as ScopeId;
        self.model.scopes.push(Scope {
            by_name: FnvMap::default(),
            by_json: FnvMap::default(),
            elems: Vec::new(),
        });
        self.by_path.insert(path, id);
        self.pending.push((td, path, id));
        id
    }

    fn fill(&mut self, td: &'static TypeDef, path: &'static str, id: ScopeId) {
        let mut elems = Vec::new();
        let mut by_name = FnvMap::default();
        let mut by_json = FnvMap::default();
        for def in td.children(path) {
            let variants = self.variants(td, def);
            if variants.is_empty() {
                continue;
            }
            let i = elems.len() as u32;
            by_name.insert(self.symbol(def.name.trim_end_matches("[x]")), (i, None));
            for (v, var) in variants.iter().enumerate() {
                let v = v as u16;
                if def.is_choice() {
                    by_name.insert(self.symbol(&var.json), (i, Some(v)));
                }
                by_json.insert(var.json.clone(), (i, v));
                by_json.insert(var.ext_json.clone(), (i, v));
            }
            elems.push(Elem {
                path: &def.path,
                name: def.name.trim_end_matches("[x]"),
                choice: def.is_choice(),
                variants,
            });
        }
        let scope = &mut self.model.scopes[id as usize];
        scope.elems = elems;
        scope.by_name = by_name;
        scope.by_json = by_json;
    }

    fn variants(&mut self, td: &'static TypeDef, e: &'static ElementDef) -> Vec<Variant> {
        let base = e.name.trim_end_matches("[x]");
        let mut out = Vec::new();
        if let Some(target) = &e.content_reference {
            let target = target.trim_start_matches('#');
            let ty = td
                .element(target)
                .and_then(|t| t.types.first())
                .map_or("BackboneElement", |t| t.as_str());
            let scope = self.by_path.get(target).copied();
            let ty = self.intern(ty);
            out.push(variant(base.to_string(), Target::backbone(ty, scope)));
            return out;
        }
        for t in &e.types {
            let json = if e.is_choice() {
                let mut cs = t.chars();
                let first = cs.next().map(|c| c.to_ascii_uppercase());
                format!(
                    "{base}{}{}",
                    first.map(String::from).unwrap_or_default(),
                    cs.as_str()
                )
            } else {
                base.to_string()
            };
            let target = match t.as_str() {
                "Resource" | "DomainResource" => Target::Resource,
                "BackboneElement" | "Element" if self.by_path.contains_key(e.path.as_str()) => {
                    let ty = self.intern(t);
                    Target::backbone(ty, self.by_path.get(e.path.as_str()).copied())
                }
                _ => {
                    let ty = self.root(t).unwrap_or_else(|| self.intern(t));
                    let info = self.model.info(ty);
                    Target::Typed {
                        ty,
                        scope: info.root,
                        primitive: info.primitive,
                    }
                }
            };
            out.push(variant(json, target));
            if !e.is_choice() {
                break;
            }
        }
        out
    }
}

impl Target {
    fn backbone(ty: TypeId, scope: Option<ScopeId>) -> Target {
        Target::Typed {
            ty,
            scope,
            primitive: false,
        }
    }
}

fn variant(json: String, target: Target) -> Variant {
    Variant {
        ext_json: format!("_{json}").into(),
        json: json.into(),
        target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_know_choices_backbones_and_content_references() {
        let m = &*MODEL;
        let id = |n| m.type_id(n).unwrap();
        let root = |n| &m.scopes[m.info(id(n)).root.unwrap() as usize];
        let sym = |n| m.symbol(n).unwrap();
        let obs = root("Observation");
        let (value, one) = obs.child(sym("value")).unwrap();
        assert_eq!(value.path, "Observation.value[x]");
        assert_eq!((value.name, value.choice), ("value", true));
        assert!(one.is_none());
        assert!(value.variants.iter().any(|v| &*v.json == "valueQuantity"));
        let (_, one) = obs.child(sym("valueQuantity")).unwrap();
        let Target::Typed { ty, .. } = value.variants[one.unwrap() as usize].target else {
            panic!("typed")
        };
        assert_eq!(m.info(ty).name, "Quantity");
        let (comp, _) = obs.child(sym("component")).unwrap();
        let Target::Typed { ty, scope, .. } = comp.variants[0].target else {
            panic!("typed")
        };
        assert_eq!(m.info(ty).name, "BackboneElement");
        assert!(
            m.scopes[scope.unwrap() as usize]
                .child(sym("code"))
                .is_some()
        );
        let scope_of = |e: &Elem| match e.variants[0].target {
            Target::Typed { scope, .. } => scope,
            Target::Resource => None,
        };
        let (item, _) = root("Questionnaire").child(sym("item")).unwrap();
        let item_scope = &m.scopes[scope_of(item).unwrap() as usize];
        let (inner, _) = item_scope.child(sym("item")).unwrap();
        assert_eq!(scope_of(inner), scope_of(item));
        assert!(m.is_subtype(id("Age"), id("Quantity")));
        assert!(m.is_subtype(id("SimpleQuantity"), id("Quantity")));
        assert!(m.is_subtype(id("Patient"), id("Resource")));
        assert!(m.is_subtype(id("code"), id("string")));
        assert!(!m.is_subtype(id("string"), id("code")));
        assert!(m.info(id("dateTime")).primitive);
        assert_eq!(m.info(id("instant")).value_kind, ValueKind::DateTime);
        assert_eq!(m.info(id("Age")).value_kind, ValueKind::Quantity);
        assert_eq!(m.info(id("uuid")).converts_to, Some("String"));
        assert!(m.resource_type("DomainResource").is_some());
        assert!(m.resource_type("Coding").is_none());
    }
}
