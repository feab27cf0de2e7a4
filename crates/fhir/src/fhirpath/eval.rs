//! Evaluation of a syntax tree: navigation through the JSON by the compiled model, operators,
//! type tests. Functions are in `functions`.

use super::model::{Elem, MODEL, Sym, Target, TypeId, Variant};
use super::parser::{Ast, BinOp, Env, Name, Ns, TypeOp, TypeSpec};
use super::value::{self, Dec, Prim, compare, equal, equivalent, prim};
use super::{EvalError, Item, Node, TypeRef};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::HashSet;

/// Longest string `&`/`+` may build (keeps `repeat` from doubling a string forever).
pub(super) const MAX_STRING: usize = 1 << 20;

pub(super) type Res<'a> = Result<Vec<Item<'a>>, EvalError>;

/// The node of a resource (typed by its `resourceType`; `Resource` if that is missing or
/// unknown).
pub(super) fn resource_node(v: &Value) -> Node<'_> {
    let rt = v.get("resourceType").and_then(Value::as_str).unwrap_or("");
    // Type 0 is `Resource`, the first the model interns.
    let ty = MODEL.resource_type(rt).unwrap_or(0);
    let info = MODEL.info(ty);
    Node {
        value: Some(v),
        extension: None,
        fhir_type: TypeRef(ty),
        path: info.name,
        scope: info.root,
        resource: v,
    }
}

/// `$this`, `$index`, `$total` inside iterating functions.
#[derive(Clone, Copy, Default)]
pub(super) struct Vars<'v, 'a> {
    pub this: Option<&'v Item<'a>>,
    pub index: Option<usize>,
    pub total: Option<&'v [Item<'a>]>,
}

/// Most items one evaluation may produce, all steps together (bounds the work of expressions
/// like nested `repeat()`s).
const MAX_WORK: usize = 20_000_000;

pub(super) struct Evaluator<'r, 'a> {
    /// `%resource`
    resource: &'r Item<'a>,
    /// `%context`, also the input of the whole expression.
    context: &'r [Item<'a>],
    /// Items produced so far.
    work: Cell<usize>,
}

impl<'r, 'a> Evaluator<'r, 'a> {
    pub fn new(resource: &'r Item<'a>, context: &'r [Item<'a>]) -> Self {
        Evaluator {
            resource,
            context,
            work: Cell::new(0),
        }
    }

    pub fn run(&self, ast: &Ast) -> Res<'a> {
        self.eval(ast, self.context, Vars::default())
    }

    /// Evaluates `ast` with `focus` as its input.
    pub fn eval(&self, ast: &Ast, focus: &[Item<'a>], vars: Vars<'_, 'a>) -> Res<'a> {
        let out = self.eval_node(ast, focus, vars)?;
        let work = self.work.get() + out.len() + 1;
        self.work.set(work);
        if work > MAX_WORK {
            return Err(EvalError::new("evaluation too expensive"));
        }
        Ok(out)
    }

    // The recursion goes through `eval_node` and the functions it dispatches to; each case is
    // its own function so that every frame on that path stays small (debug builds give each
    // local of a function its own stack slot).
    fn eval_node(&self, ast: &Ast, focus: &[Item<'a>], vars: Vars<'_, 'a>) -> Res<'a> {
        match ast {
            Ast::Ident(name, top, ty) => Ok(self.ident(name, *top, *ty, focus, vars)),
            Ast::Member(target, name, rt) => self.member(target, name, *rt, focus, vars),
            Ast::Call(call) => self.call(call, focus, vars),
            Ast::Type(target, op, spec) => {
                let input = match target {
                    Some(t) => self.eval(t, focus, vars)?,
                    None => focus.to_vec(),
                };
                type_op(input, *op, *spec)
            }
            Ast::Index(target, index) => self.index(target, index, focus, vars),
            Ast::Neg(inner) => negative(self.eval(inner, focus, vars)?),
            Ast::Bin(op, l, r) => self.binary(*op, l, r, focus, vars),
            _ => Ok(self.leaf(ast, focus, vars)),
        }
    }

    /// Literals and variables.
    fn leaf(&self, ast: &Ast, focus: &[Item<'a>], vars: Vars<'_, 'a>) -> Vec<Item<'a>> {
        match ast {
            Ast::Bool(b) => vec![Item::Bool(*b)],
            Ast::Str(s) => vec![Item::Str(s.to_string())],
            Ast::Integer(i) => vec![Item::Integer(*i)],
            Ast::Decimal(d) => vec![Item::Decimal(d.to_string())],
            Ast::Date(d) => vec![Item::Date(d.to_string())],
            Ast::DateTime(d) => vec![Item::DateTime(d.to_string())],
            Ast::Time(t) => vec![Item::Time(t.to_string())],
            Ast::Quantity(v, u) => vec![Item::Quantity {
                value: v.to_string(),
                unit: u.to_string(),
            }],
            Ast::This => match vars.this {
                Some(t) => vec![t.clone()],
                None => focus.to_vec(),
            },
            Ast::IndexVar => vars
                .index
                .map(|i| Item::Integer(i as i64))
                .into_iter()
                .collect(),
            Ast::Total => vars.total.map(<[_]>::to_vec).unwrap_or_default(),
            Ast::Env(Env::Resource) => vec![self.resource.clone()],
            Ast::Env(Env::Context) => self.context.to_vec(),
            Ast::Env(Env::Str(s)) => vec![Item::Str(s.to_string())],
            _ => Vec::new(),
        }
    }

    /// A name at the start of a path.
    fn ident(
        &self,
        name: &Name,
        top: bool,
        ty: Option<TypeId>,
        focus: &[Item<'a>],
        vars: Vars<'_, 'a>,
    ) -> Vec<Item<'a>> {
        let mut out = Vec::new();
        let at_root = ty.is_some() && (top || vars.this.is_some_and(|t| self.is_context(t)));
        for item in focus {
            if at_root && ty.is_some_and(|t| item_is(item, t)) {
                out.push(item.clone());
            } else {
                navigate_name(item, name, &mut out);
            }
        }
        out
    }

    fn member(
        &self,
        target: &Ast,
        name: &Name,
        rt: Option<TypeId>,
        focus: &[Item<'a>],
        vars: Vars<'_, 'a>,
    ) -> Res<'a> {
        let input = self.eval(target, focus, vars)?;
        let mut out = Vec::with_capacity(input.len());
        for item in &input {
            match item {
                // fhirpath.js: `x.Patient` on a Patient is the Patient itself.
                Item::Node(n) if rt.is_some() && Some(n.fhir_type.0) == rt => {
                    out.push(item.clone())
                }
                _ => navigate_name(item, name, &mut out),
            }
        }
        Ok(out)
    }

    fn index(&self, target: &Ast, index: &Ast, focus: &[Item<'a>], vars: Vars<'_, 'a>) -> Res<'a> {
        let input = self.eval(target, focus, vars)?;
        let index = self.eval(index, focus, vars)?;
        Ok(match singleton(&index, "an index")? {
            None => Vec::new(),
            Some(i) => match prim(i) {
                Some(Prim::Int(i)) => usize::try_from(i)
                    .ok()
                    .and_then(|i| input.into_iter().nth(i))
                    .into_iter()
                    .collect(),
                _ => return Err(EvalError::new("an index must be an integer")),
            },
        })
    }

    /// Whether `item` is the (single) input of the whole expression.
    fn is_context(&self, item: &Item<'a>) -> bool {
        match (item, self.context) {
            (Item::Node(a), [Item::Node(b)]) => same_node(a, b),
            _ => false,
        }
    }

    fn binary(
        &self,
        op: BinOp,
        l: &Ast,
        r: &Ast,
        focus: &[Item<'a>],
        vars: Vars<'_, 'a>,
    ) -> Res<'a> {
        use BinOp::*;
        if matches!(op, And | Or | Xor | Implies) {
            return self.logic(op, l, r, focus, vars);
        }
        let a = self.eval(l, focus, vars)?;
        let b = self.eval(r, focus, vars)?;
        combine(op, a, b)
    }

    /// `and`, `or`, `xor`, `implies` (three-valued, short-circuiting).
    fn logic(
        &self,
        op: BinOp,
        l: &Ast,
        r: &Ast,
        focus: &[Item<'a>],
        vars: Vars<'_, 'a>,
    ) -> Res<'a> {
        use BinOp::*;
        let a = self.bool_of(l, focus, vars)?;
        let short = match (op, a) {
            (And, Some(false)) => Some(Some(false)),
            (Or, Some(true)) => Some(Some(true)),
            (Implies, Some(false)) => Some(Some(true)),
            _ => None,
        };
        let v = match short {
            Some(v) => v,
            None => {
                let b = self.bool_of(r, focus, vars)?;
                match op {
                    And => match (a, b) {
                        (Some(true), Some(true)) => Some(true),
                        (_, Some(false)) => Some(false),
                        _ => None,
                    },
                    Or => match (a, b) {
                        (Some(false), Some(false)) => Some(false),
                        (_, Some(true)) => Some(true),
                        _ => None,
                    },
                    Xor => a.zip(b).map(|(x, y)| x != y),
                    _ => match (a, b) {
                        (Some(true), b) => b,
                        (None, Some(true)) => Some(true),
                        _ => None,
                    },
                }
            }
        };
        Ok(v.map(Item::Bool).into_iter().collect())
    }

    /// A boolean operand: empty, or one item (a boolean; any other single item is true).
    pub fn bool_of(
        &self,
        ast: &Ast,
        focus: &[Item<'a>],
        vars: Vars<'_, 'a>,
    ) -> Result<Option<bool>, EvalError> {
        to_bool(&self.eval(ast, focus, vars)?)
    }
}

/// The operators other than `and`, `or`, `xor`, `implies`, on evaluated operands.
fn combine<'a>(op: BinOp, a: Vec<Item<'a>>, b: Vec<Item<'a>>) -> Res<'a> {
    use BinOp::*;
    let boolean = |v: Option<bool>| Ok(v.map(Item::Bool).into_iter().collect());
    match op {
        Union => Ok(union(a, b)),
        Eq | Ne => {
            if a.is_empty() || b.is_empty() {
                return Ok(Vec::new());
            }
            let mut eq = Some(a.len() == b.len());
            if eq == Some(true) {
                for (x, y) in a.iter().zip(&b) {
                    match equal(x, y) {
                        Some(true) => {}
                        Some(false) => {
                            eq = Some(false);
                            break;
                        }
                        None => eq = None,
                    }
                }
            }
            boolean(if op == Eq { eq } else { eq.map(|e| !e) })
        }
        Equiv | NotEquiv => {
            let eq = a.len() == b.len()
                && a.iter().all(|x| b.iter().any(|y| equivalent(x, y)))
                && b.iter().all(|y| a.iter().any(|x| equivalent(x, y)));
            boolean(Some(if op == Equiv { eq } else { !eq }))
        }
        Lt | Gt | Le | Ge => {
            let (Some(x), Some(y)) = (
                singleton(&a, "a comparison")?,
                singleton(&b, "a comparison")?,
            ) else {
                return Ok(Vec::new());
            };
            boolean(compare(x, y)?.map(|o| match op {
                Lt => o == Ordering::Less,
                Gt => o == Ordering::Greater,
                Le => o != Ordering::Greater,
                _ => o != Ordering::Less,
            }))
        }
        In | Contains => {
            let (item, coll) = if op == In { (&a, &b) } else { (&b, &a) };
            match singleton(item, "membership")? {
                None => Ok(Vec::new()),
                Some(x) => boolean(Some(coll.iter().any(|y| equal(x, y) == Some(true)))),
            }
        }
        Concat => {
            let s = |c: &[Item]| -> Result<String, EvalError> {
                Ok(match singleton(c, "&")?.map(prim) {
                    None => String::new(),
                    Some(Some(p)) => value::text(&p).unwrap_or_default().to_string(),
                    Some(None) => return Err(EvalError::new("& needs strings")),
                })
            };
            let out = s(&a)? + &s(&b)?;
            check_len(&out)?;
            Ok(vec![Item::Str(out)])
        }
        _ => arithmetic(op, &a, &b),
    }
}

pub(super) fn check_len(s: &str) -> Result<(), EvalError> {
    if s.len() > MAX_STRING {
        return Err(EvalError::new("string result too long"));
    }
    Ok(())
}

/// Singleton evaluation as a boolean: empty -> None; one boolean -> it; one other item ->
/// true; several -> error.
pub(super) fn to_bool(c: &[Item]) -> Result<Option<bool>, EvalError> {
    match c {
        [] => Ok(None),
        [x] => Ok(Some(match prim(x) {
            Some(Prim::Bool(b)) => b,
            _ => true,
        })),
        _ => Err(EvalError::new(format!(
            "expected a single boolean, found {} items",
            c.len()
        ))),
    }
}

/// The single item of `c` (None if empty); an error naming `what` if there are several.
pub(super) fn singleton<'c, 'a>(
    c: &'c [Item<'a>],
    what: &str,
) -> Result<Option<&'c Item<'a>>, EvalError> {
    match c {
        [] => Ok(None),
        [x] => Ok(Some(x)),
        _ => Err(EvalError::new(format!(
            "{what} needs a single item, found {}",
            c.len()
        ))),
    }
}

/// Unary minus.
fn negative(v: Vec<Item<'_>>) -> Res<'_> {
    Ok(match singleton(&v, "unary minus")?.map(prim) {
        None => Vec::new(),
        Some(Some(Prim::Int(i))) => vec![Item::Integer(
            i.checked_neg()
                .ok_or_else(|| EvalError::new("integer overflow"))?,
        )],
        Some(Some(Prim::Dec(d))) => vec![Item::Decimal(negate(d))],
        Some(Some(Prim::Quantity(v, u))) => vec![Item::Quantity {
            value: negate(v),
            unit: u.to_string(),
        }],
        Some(_) => return Err(EvalError::new("unary minus needs a number")),
    })
}

fn negate(d: &str) -> String {
    match d.strip_prefix('-') {
        Some(p) => p.to_string(),
        None => format!("-{d}"),
    }
}

fn same_node(a: &Node, b: &Node) -> bool {
    let ptr = |n: &Node| {
        n.value
            .or(n.extension)
            .map_or(std::ptr::null(), |v| v as *const Value)
    };
    ptr(a) == ptr(b) && a.fhir_type == b.fhir_type
}

/// `a | b`: the items of both, without duplicates (by value), in order.
pub(super) fn union<'a>(a: Vec<Item<'a>>, b: Vec<Item<'a>>) -> Vec<Item<'a>> {
    let mut out: Vec<Item<'a>> = Vec::with_capacity(a.len() + b.len());
    if a.len() + b.len() <= 32 {
        for x in a.into_iter().chain(b) {
            if !out.iter().any(|y| equal(y, &x) == Some(true)) {
                out.push(x);
            }
        }
    } else {
        let mut seen = HashSet::new();
        for x in a.into_iter().chain(b) {
            if seen.insert(value::key(&x)) {
                out.push(x);
            }
        }
    }
    out
}

/// Identity of an item for `repeat()`: a node by its place in the JSON, a value by value.
pub(super) fn identity(item: &Item) -> String {
    match item {
        Item::Node(n) => {
            let ptr = n
                .value
                .or(n.extension)
                .map_or(0, |v| v as *const Value as usize);
            format!("p:{ptr}:{}", n.fhir_type)
        }
        _ => value::key(item),
    }
}

/// Whether `item` is of the type `spec`; with `convertible` also a FHIR primitive that converts
/// to the System type (`ofType(String)` keeps `code` values, as in fhirpath.js).
fn item_is_spec(item: &Item, spec: TypeSpec, convertible: bool) -> bool {
    match item {
        Item::Node(Node { fhir_type: t, .. }) | Item::Resolved(t) => {
            let conv = convertible && spec.system.is_some() && t.info().converts_to == spec.system;
            match spec.ns {
                Some(Ns::System) => conv,
                _ => spec.fhir.is_some_and(|f| MODEL.is_subtype(t.0, f)) || conv,
            }
        }
        _ => spec.system == Some(item.type_name()),
    }
}

/// Whether `item` is a node of type `ty` (or a subtype).
fn item_is(item: &Item, ty: TypeId) -> bool {
    match item {
        Item::Node(n) => MODEL.is_subtype(n.fhir_type.0, ty),
        _ => false,
    }
}

fn type_op<'a>(input: Vec<Item<'a>>, op: TypeOp, spec: TypeSpec) -> Res<'a> {
    Ok(match op {
        TypeOp::Is => match input.as_slice() {
            [] => Vec::new(),
            [x] => vec![Item::Bool(item_is_spec(x, spec, false))],
            _ => {
                return Err(EvalError::new(format!(
                    "'is' needs a single item, found {}",
                    input.len()
                )));
            }
        },
        TypeOp::As => input
            .into_iter()
            .filter(|x| item_is_spec(x, spec, false))
            .collect(),
        TypeOp::OfType => input
            .into_iter()
            .filter(|x| item_is_spec(x, spec, true))
            .collect(),
    })
}

fn arithmetic<'a>(op: BinOp, a: &[Item<'a>], b: &[Item<'a>]) -> Res<'a> {
    let (Some(x), Some(y)) = (singleton(a, "arithmetic")?, singleton(b, "arithmetic")?) else {
        return Ok(Vec::new());
    };
    let (Some(px), Some(py)) = (prim(x), prim(y)) else {
        return Err(EvalError::new("arithmetic needs numbers"));
    };
    let overflow = || EvalError::new("numeric overflow");
    if let (BinOp::Add, Some(s), Some(t)) = (op, str_of(px), str_of(py)) {
        let out = format!("{s}{t}");
        check_len(&out)?;
        return Ok(vec![Item::Str(out)]);
    }
    if let (Prim::Int(i), Prim::Int(j)) = (px, py) {
        let v = match op {
            BinOp::Add => i.checked_add(j),
            BinOp::Sub => i.checked_sub(j),
            BinOp::Mul => i.checked_mul(j),
            BinOp::IntDiv if j == 0 => return Ok(Vec::new()),
            BinOp::IntDiv => i.checked_div(j),
            BinOp::Mod if j == 0 => return Ok(Vec::new()),
            BinOp::Mod => i.checked_rem(j),
            _ => None,
        };
        if op != BinOp::Div {
            return Ok(vec![Item::Integer(v.ok_or_else(overflow)?)]);
        }
    }
    let (qx, qy) = (quantity_parts(px), quantity_parts(py));
    let dec = |p: Prim| -> Result<Dec, EvalError> {
        match p {
            Prim::Int(i) => Ok(Dec::from_int(i)),
            Prim::Dec(d) | Prim::Quantity(d, _) => Dec::parse(d).ok_or_else(overflow),
            _ => Err(EvalError::new("arithmetic needs numbers")),
        }
    };
    let (dx, dy) = (dec(px)?, dec(py)?);
    let r = match op {
        BinOp::Add => dx.add(dy),
        BinOp::Sub => dx.sub(dy),
        BinOp::Mul => dx.mul(dy),
        BinOp::Div => match dx.div(dy) {
            Some(v) => Some(v),
            None if dy.mant == 0 => return Ok(Vec::new()),
            None => None,
        },
        BinOp::IntDiv | BinOp::Mod => {
            if dy.mant == 0 {
                return Ok(Vec::new());
            }
            let q = dx.div(dy).and_then(Dec::trunc).ok_or_else(overflow)?;
            if op == BinOp::IntDiv {
                let i = q.to_i64().ok_or_else(overflow)?;
                return Ok(vec![Item::Integer(i)]);
            }
            q.mul(dy).and_then(|m| dx.sub(m))
        }
        _ => None,
    }
    .ok_or_else(overflow)?;
    let (mul, add) = (
        matches!(op, BinOp::Mul | BinOp::Div),
        matches!(op, BinOp::Add | BinOp::Sub),
    );
    let quantity = |unit: &str| Item::Quantity {
        value: r.text(),
        unit: unit.to_string(),
    };
    Ok(vec![match (qx, qy) {
        (None, None) => Item::Decimal(r.text()),
        (Some(u), None) if mul => quantity(u),
        (None, Some(u)) if op == BinOp::Mul => quantity(u),
        (Some(u), Some(w)) if u == w && add => quantity(u),
        _ => return Err(EvalError::new("quantity arithmetic needs equal units")),
    }])
}

fn str_of(p: Prim<'_>) -> Option<&str> {
    match p {
        Prim::Str(s) => Some(s),
        _ => None,
    }
}

fn quantity_parts(p: Prim<'_>) -> Option<&str> {
    match p {
        Prim::Quantity(_, u) => Some(u),
        _ => None,
    }
}

// ----- navigation ----------------------------------------------------------------------------

/// The object holding a node's children: a complex value, or a primitive's `_x` companion.
fn children_object<'a>(n: &Node<'a>) -> Option<&'a Map<String, Value>> {
    if n.fhir_type.is_primitive() {
        n.extension?.as_object()
    } else {
        n.value?.as_object()
    }
}

/// Appends the children named `name` (the symbol of a FHIRPath name or a choice variant's JSON
/// name).
pub(super) fn navigate<'a>(item: &Item<'a>, name: Option<Sym>, out: &mut Vec<Item<'a>>) {
    let Some(name) = name else { return };
    let Item::Node(n) = item else { return };
    let (Some(scope), Some(obj)) = (n.scope, children_object(n)) else {
        return;
    };
    let scope = &MODEL.scopes[scope as usize];
    let Some((elem, one)) = scope.child(name) else {
        return;
    };
    if !elem.choice || one.is_some() {
        let var = &elem.variants[one.unwrap_or(0) as usize];
        let (val, ext) = lookup(obj, var);
        push_values(n, elem, var, val, ext, out);
        return;
    }
    // A choice element: one pass over the properties finds its variants (`valueQuantity`).
    for (key, val) in obj {
        let base = key.strip_prefix('_').unwrap_or(key);
        if !base.starts_with(elem.name) {
            continue;
        }
        let Some((e, v)) = scope.by_json(key) else {
            continue;
        };
        if !std::ptr::eq(e, elem) {
            continue;
        }
        let var = &elem.variants[v as usize];
        if base.len() < key.len() {
            // `_valueString`: on its own only if `valueString` is absent.
            if !obj.contains_key(base) {
                push_values(n, elem, var, None, Some(val).filter(|v| !v.is_null()), out);
            }
        } else {
            let (_, ext) = lookup(obj, var);
            push_values(n, elem, var, Some(val).filter(|v| !v.is_null()), ext, out);
        }
    }
}

/// `navigate`, and `resourceType` of a resource (not an element, but fhirpath.js gives it).
fn navigate_name<'a>(item: &Item<'a>, name: &Name, out: &mut Vec<Item<'a>>) {
    navigate(item, name.sym, out);
    if name.resource_type
        && let Item::Node(n) = item
        && n.fhir_type.info().resource
        && let Some(rt) = n.value.and_then(|v| v.get("resourceType")?.as_str())
    {
        out.push(Item::Str(rt.to_string()));
    }
}

/// The value of a variant's property and, for a primitive, of its `_x` companion. Small
/// objects are scanned (cheaper than hashing the key).
fn lookup<'a>(
    obj: &'a Map<String, Value>,
    var: &Variant,
) -> (Option<&'a Value>, Option<&'a Value>) {
    let primitive = matches!(
        var.target,
        Target::Typed {
            primitive: true,
            ..
        }
    );
    let (mut val, mut ext) = (None, None);
    if obj.len() <= 16 {
        for (k, v) in obj {
            if k.len() == var.json.len() && **k == *var.json {
                val = Some(v);
            } else if primitive && k.len() == var.ext_json.len() && **k == *var.ext_json {
                ext = Some(v);
            }
        }
    } else {
        val = obj.get(&*var.json);
        if primitive {
            ext = obj.get(&*var.ext_json);
        }
    }
    (val.filter(|v| !v.is_null()), ext.filter(|v| !v.is_null()))
}

/// The element reached from `resource` by `steps` (see [`super::element_at`]).
pub(super) fn element_at<'a>(resource: &'a Value, steps: &[super::Step<'_>]) -> Option<Item<'a>> {
    let mut cur = Item::Node(resource_node(resource));
    let mut i = 0;
    let mut out = Vec::new();
    while i < steps.len() {
        let super::Step::Key(key) = steps[i] else {
            return None;
        };
        let Item::Node(n) = &cur else { return None };
        let (Some(scope), Some(obj)) = (n.scope, children_object(n)) else {
            return None;
        };
        let (elem, v) = MODEL.scopes[scope as usize].by_json(key)?;
        out.clear();
        push_variant(n, obj, elem, v as usize, &mut out);
        let index = match steps.get(i + 1) {
            Some(super::Step::Index(k)) => {
                i += 1;
                *k
            }
            _ => 0,
        };
        cur = out.drain(..).nth(index)?;
        i += 1;
    }
    Some(cur)
}

/// Every child of a node, in the order of the JSON properties (`children()`).
pub(super) fn children<'a>(item: &Item<'a>, out: &mut Vec<Item<'a>>) {
    let Item::Node(n) = item else { return };
    let (Some(scope), Some(obj)) = (n.scope, children_object(n)) else {
        return;
    };
    let scope = &MODEL.scopes[scope as usize];
    for key in obj.keys() {
        if let Some(base) = key.strip_prefix('_')
            && obj.contains_key(base)
        {
            continue;
        }
        if let Some((elem, v)) = scope.by_json(key) {
            push_variant(n, obj, elem, v as usize, out);
        }
    }
}

fn push_variant<'a>(
    parent: &Node<'a>,
    obj: &'a Map<String, Value>,
    elem: &Elem,
    v: usize,
    out: &mut Vec<Item<'a>>,
) {
    let var = &elem.variants[v];
    let (val, ext) = lookup(obj, var);
    push_values(parent, elem, var, val, ext, out);
}

/// Appends the nodes of a property's value (each item of an array, with its `_x` companion).
fn push_values<'a>(
    parent: &Node<'a>,
    elem: &Elem,
    var: &Variant,
    val: Option<&'a Value>,
    ext: Option<&'a Value>,
    out: &mut Vec<Item<'a>>,
) {
    let make = |value: Option<&'a Value>, extension: Option<&'a Value>| -> Option<Item<'a>> {
        match var.target {
            Target::Typed { ty, scope, .. } => Some(Item::Node(Node {
                value,
                extension,
                fhir_type: TypeRef(ty),
                path: elem.path,
                scope,
                resource: parent.resource,
            })),
            Target::Resource => value.map(|v| Item::Node(resource_node(v))),
        }
    };
    match (val, ext) {
        (Some(Value::Array(vals)), _) => {
            let exts = ext.and_then(Value::as_array);
            for (i, x) in vals.iter().enumerate() {
                let e = exts.and_then(|a| a.get(i)).filter(|e| !e.is_null());
                let x = Some(x).filter(|x| !x.is_null());
                if x.is_some() || e.is_some() {
                    out.extend(make(x, e));
                }
            }
        }
        (Some(x), e) => out.extend(make(Some(x), e)),
        (None, Some(Value::Array(exts))) => {
            for e in exts.iter().filter(|e| !e.is_null()) {
                out.extend(make(None, Some(e)));
            }
        }
        (None, Some(e)) => out.extend(make(None, Some(e))),
        (None, None) => {}
    }
}
