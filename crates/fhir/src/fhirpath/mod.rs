//! FHIRPath (<https://hl7.org/fhirpath/N1/>, with the FHIR additions of
//! <https://hl7.org/fhir/R4/fhirpath.html>) over `serde_json::Value`, for search indexing.
//!
//! ```
//! use kizuna_fhir::fhirpath::{self, Item};
//! let obs = serde_json::json!({"resourceType": "Observation", "status": "final",
//!     "code": {"text": "weight"}, "valueQuantity": {"value": 72.5, "unit": "kg"}});
//! let expr = fhirpath::parse("Observation.value.ofType(Quantity)").unwrap(); // once
//! let items = fhirpath::evaluate(&expr, &obs).unwrap();                      // per resource
//! let Item::Node(node) = &items[0] else { panic!() };
//! assert_eq!(node.fhir_type.name(), "Quantity");
//! assert_eq!(node.value, Some(&obs["valueQuantity"]));
//! ```
//!
//! - [`parse`] checks everything that can be checked without data (syntax, function names and
//!   arities, type names, environment variables, literal regular expressions) and gives an
//!   [`Expr`]: immutable, `Send + Sync`, meant to be parsed once (per search parameter) and
//!   evaluated many times.
//! - [`evaluate`] borrows the resource: the results point into its JSON ([`Node`]), nothing is
//!   cloned. Each node carries its FHIR type from the R4 definitions: a choice element by its
//!   JSON name (`valueQuantity` is a `Quantity`), a nested resource by its `resourceType`, a
//!   backbone element as `BackboneElement`/`Element`, primitives by their declared type (`date`,
//!   `dateTime`, `code`, ...). A primitive's `_x` companion (its id and extensions) is kept with
//!   it (`Node::extension`), so `Patient.birthDate.extension(...)` works and a primitive that
//!   has only extensions is a node without a value.
//!
//! Supported: all of FHIRPath's syntax (literals including dates, times and quantities,
//! `$this`/`$index`/`$total`, every operator with its precedence, `is`/`as` in both forms) and
//! these functions: `empty exists all allTrue anyTrue allFalse anyFalse subsetOf supersetOf
//! count distinct isDistinct where select repeat ofType is as single first last tail skip take
//! intersect exclude union combine iif not toBoolean convertsToBoolean toInteger
//! convertsToInteger toDecimal convertsToDecimal toString convertsToString toDate
//! convertsToDate toDateTime convertsToDateTime toTime convertsToTime indexOf substring
//! startsWith endsWith contains upper lower replace matches replaceMatches length toChars trim
//! split join abs ceiling floor truncate round children descendants trace aggregate`, and from
//! FHIR `extension hasValue getValue resolve`. Environment variables: `%resource`,
//! `%rootResource` and `%context` (the resource, or the context given to [`evaluate_on`]),
//! `%ucum`, `%sct`, `%loinc`, `` %`vs-x` ``, `` %`ext-x` ``.
//!
//! Where engines differ, this module follows fhirpath.js, the reference implementation
//! (`tests/fhirpath_oracle.rs` compares the two on every R4 search parameter over the official
//! examples, the JP-CLINS examples and a Synthea sample, and on general expressions):
//! - A name at the start of a path that is the focus' type (`Patient` in `Patient.name`, also
//!   `Resource.id`, `DomainResource.text`) selects the focus; an unknown element name selects
//!   nothing (no error), so `AllergyIntolerance.patient | CarePlan.subject` works on both.
//! - `is`/`as` test the exact type or a subtype (`Age is Quantity`, `code is string`, but a
//!   FHIR `string` is not a System `String`); `ofType(T)` also keeps FHIR primitives that
//!   convert to the System type `T` (`ofType(DateTime)` keeps `date`, `dateTime` and `instant`
//!   values, `ofType(String)` keeps `code`s). `is` on several items is an error.
//! - `|`, `distinct()`, `union()` remove duplicates by value (two equal codings become one).
//! - In string literals, an unknown escape `\x` is `x`; `resourceType` gives a resource's type
//!   as a String.
//!
//! Deliberately different from fhirpath.js:
//! - `as` on several items filters them like `ofType` (fhirpath.js: an error); the R4 search
//!   parameters wrote `(Observation.component.value as Quantity)` meaning that.
//! - Decimals are exact: `0.1 + 0.2 = 0.3`, and `1E-22` and `1E-245` are different values
//!   (fhirpath.js computes in binary floating point and compares numbers to 1e-8).
//! - `resolve()` has no store to read: a reference `Type/id` (or `Type/id/_history/v`, or an
//!   absolute `http(s)://.../Type/id`) resolves to [`Item::Resolved`], which is only good for
//!   `is Type`/`ofType(Type)`; `#id` resolves to the contained resource itself; anything else
//!   (`urn:uuid:`, canonicals, logical references) resolves to nothing. (fhirpath.js fetches
//!   references from a server; the oracle test gives it the same stub rule.)
//! - Node types come from Kizuna's definitions, which type `Resource.id` as `id`,
//!   `Element.id` as `string` and `Extension.url` as `uri` (fhirpath.js: `System.String`).
//!
//! Not supported (a parse error says so): `now()`, `today()`, `timeOfDay()` (this crate never
//! reads the clock), `memberOf()`, `subsumes()`, `subsumedBy()` (need a terminology server),
//! `conformsTo()`, `htmlChecks()` (need profiles / an XHTML checker), `sqrt ln log exp power`
//! (no exact decimal form), `toQuantity()`, `encode()`/`decode()` and other functions beyond
//! FHIRPath N1, and date/time arithmetic with quantities. Quantities compare only in equal
//! units (no UCUM conversion). Decimal arithmetic is exact (up to 38 digits); division keeps
//! 16 decimal places.
//!
//! Evaluation never panics: recursion is bounded by the parser (200 levels of nesting), and
//! `repeat`/`descendants`, string building and the total work of one evaluation are bounded
//! too (an error past the limits).
//!
//! Cost: the type tables are compiled once (on first use) into per-element maps keyed by
//! interned names; navigation allocates only the result collections. All the search
//! expressions of an average Synthea resource (about 25) evaluate in about 15 µs
//! (`cargo bench -p kizuna-fhir --bench fhirpath`).

mod eval;
mod functions;
mod lexer;
mod model;
mod parser;
mod resolve;
mod value;

use serde_json::Value;
use std::fmt;

/// A parsed FHIRPath expression: immutable, reusable, `Send + Sync`.
pub struct Expr {
    ast: parser::Ast,
    text: Box<str>,
}

impl Expr {
    /// The text the expression was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.text)
    }
}

/// Why a text is not a (supported) FHIRPath expression, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {column})")]
pub struct ParseError {
    /// Byte offset in the text.
    pub offset: usize,
    /// 1-based position in characters.
    pub column: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(text: &str, offset: usize, message: String) -> ParseError {
        let offset = offset.min(text.len());
        let column = text.char_indices().take_while(|(i, _)| *i < offset).count() + 1;
        ParseError {
            offset,
            column,
            message,
        }
    }
}

/// Why an evaluation failed (e.g. `is` on several items, a string function on a number,
/// integer overflow).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
}

impl EvalError {
    pub(crate) fn new(message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
        }
    }
}

/// A FHIR type from the R4 definitions: `Coding`, `dateTime`, `Patient`, `BackboneElement`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeRef(model::TypeId);

impl TypeRef {
    /// The type's name as in the definitions (`Quantity`, `dateTime`).
    pub fn name(self) -> &'static str {
        model::MODEL.info(self.0).name
    }

    /// Whether this is a primitive type (`string`, `code`, `date` ...).
    pub fn is_primitive(self) -> bool {
        model::MODEL.info(self.0).primitive
    }

    /// Whether this type is `other` or derives from it (`Age` is a `Quantity`, `code` is a
    /// `string`, `Patient` is a `DomainResource`).
    pub fn is_a(self, other: &str) -> bool {
        let m = &*model::MODEL;
        m.type_id(other).is_some_and(|o| m.is_subtype(self.0, o))
    }

    fn info(self) -> &'static model::TypeInfo {
        model::MODEL.info(self.0)
    }
}

impl fmt::Debug for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An element of the resource: where it is in the JSON and what FHIR type it has.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    /// The JSON value: an object for complex types and resources, a string, number or boolean
    /// for primitives. None for a primitive that has only its `_x` companion (extensions).
    pub value: Option<&'a Value>,
    /// For a primitive, its `_x` companion (`{"id": .., "extension": [..]}`) if present.
    pub extension: Option<&'a Value>,
    pub fhir_type: TypeRef,
    /// The element's definition path (`Observation.component.value[x]`, `Patient.birthDate`);
    /// for a resource, its type (`Patient`).
    pub path: &'static str,
    /// The scope of the children (None: a type without element definitions).
    scope: Option<model::ScopeId>,
    /// The nearest enclosing resource (for `#id` references).
    resource: &'a Value,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("fhir_type", &self.fhir_type)
            .field("path", &self.path)
            .field("value", &self.value)
            .field("extension", &self.extension)
            .finish()
    }
}

/// One item of a FHIRPath collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// An element (or a resource) of the evaluated JSON.
    Node(Node<'a>),
    /// What `resolve()` gives for a reference to `Type/id` when it cannot read the target: only
    /// its type is known, for `is Type` / `ofType(Type)`.
    Resolved(TypeRef),
    Bool(bool),
    Str(String),
    Integer(i64),
    /// A decimal as exact text (`1.50`).
    Decimal(String),
    /// `2020-01-02`, `2020-01` ... (without `@`).
    Date(String),
    /// `2020-01-02T10:00:00Z` ... (without `@`).
    DateTime(String),
    /// `10:00:00` (without `@T`).
    Time(String),
    /// `4 'mg'`, `3 days`: the value as exact text and the unit.
    Quantity {
        value: String,
        unit: String,
    },
}

impl<'a> Item<'a> {
    /// The node, if this item is one.
    pub fn as_node(&self) -> Option<&Node<'a>> {
        match self {
            Item::Node(n) => Some(n),
            _ => None,
        }
    }

    /// `FHIR` for nodes and resolved references, `System` for FHIRPath values.
    pub fn namespace(&self) -> &'static str {
        match self {
            Item::Node(_) | Item::Resolved(_) => "FHIR",
            _ => "System",
        }
    }

    /// The type name within [`Item::namespace`]: `Coding`, `dateTime` for nodes; `Boolean`,
    /// `String`, `Integer`, `Decimal`, `Date`, `DateTime`, `Time`, `Quantity` for values.
    pub fn type_name(&self) -> &'static str {
        match self {
            Item::Node(n) => n.fhir_type.name(),
            Item::Resolved(t) => t.name(),
            Item::Bool(_) => "Boolean",
            Item::Str(_) => "String",
            Item::Integer(_) => "Integer",
            Item::Decimal(_) => "Decimal",
            Item::Date(_) => "Date",
            Item::DateTime(_) => "DateTime",
            Item::Time(_) => "Time",
            Item::Quantity { .. } => "Quantity",
        }
    }
}

/// Parses a FHIRPath expression.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    Ok(Expr {
        ast: parser::parse(text)?,
        text: text.into(),
    })
}

/// Evaluates `expr` on a resource; `%resource`, `%rootResource` and `%context` are the resource.
pub fn evaluate<'a>(expr: &Expr, resource: &'a Value) -> Result<Vec<Item<'a>>, EvalError> {
    let root = [Item::Node(eval::resource_node(resource))];
    eval::Evaluator::new(&root[0], &root).run(&expr.ast)
}

/// Evaluates `expr` with `context` as its input and `%context` (e.g. each item of a composite
/// search parameter's expression, for its components); `%resource` is `resource`.
pub fn evaluate_on<'a>(
    expr: &Expr,
    resource: &'a Value,
    context: &[Item<'a>],
) -> Result<Vec<Item<'a>>, EvalError> {
    let root = Item::Node(eval::resource_node(resource));
    eval::Evaluator::new(&root, context).run(&expr.ast)
}

/// One step from an element to a child: a JSON property name (`valueQuantity`, `birthDate`,
/// `contained`) or the index of an item of the repeating element just named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'s> {
    Key(&'s str),
    Index(usize),
}

/// The element of `resource` that `steps` lead to, typed as FHIRPath sees it, for evaluating an
/// expression with it as `%context` (an invariant of that element). A key without an index
/// takes the first item. None if the steps lead nowhere.
pub fn element_at<'a>(resource: &'a Value, steps: &[Step<'_>]) -> Option<Item<'a>> {
    eval::element_at(resource, steps)
}

/// The members of `text` if it is a union at its top level (`A.x | (B.y as Quantity)` gives
/// `A.x` and `(B.y as Quantity)`, as written), or `text` alone. Operators that bind more
/// loosely than `|` at the top level (`=`, `and`, `in` ...) make it one member; so does a
/// text that does not tokenize.
pub fn union_members(text: &str) -> Vec<&str> {
    const LOOSER_SYMBOLS: [&str; 8] = ["<", ">", "<=", ">=", "=", "~", "!=", "!~"];
    const LOOSER_WORDS: [&str; 7] = ["in", "contains", "and", "or", "xor", "implies", "is"];
    let Ok(tokens) = lexer::tokenize(text) else {
        return vec![text.trim()];
    };
    let mut depth = 0usize;
    let mut cuts = Vec::new();
    let mut after_dot = false;
    for t in &tokens {
        match &t.tok {
            lexer::Tok::Sym("(" | "[" | "{") => depth += 1,
            lexer::Tok::Sym(")" | "]" | "}") => depth = depth.saturating_sub(1),
            lexer::Tok::Sym("|") if depth == 0 => cuts.push(t.at),
            lexer::Tok::Sym(s) if depth == 0 && LOOSER_SYMBOLS.contains(s) => {
                return vec![text.trim()];
            }
            // `is` binds more tightly than `|`, but `A | B is T` is unusual enough that
            // keeping such a text whole is the safe reading.
            lexer::Tok::Ident(w)
                if depth == 0 && !after_dot && LOOSER_WORDS.contains(&w.as_str()) =>
            {
                return vec![text.trim()];
            }
            _ => {}
        }
        after_dot = matches!(t.tok, lexer::Tok::Sym("."));
    }
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        out.push(text[start..cut].trim());
        start = cut + 1;
    }
    out.push(text[start..].trim());
    out
}

#[cfg(test)]
mod tests {
    use super::union_members;

    #[test]
    fn unions_split_at_their_top_level_only() {
        assert_eq!(
            union_members("Observation.code | (Observation.value as Quantity) | A.b.where(c | d)"),
            [
                "Observation.code",
                "(Observation.value as Quantity)",
                "A.b.where(c | d)"
            ]
        );
        assert_eq!(union_members(" Patient.name "), ["Patient.name"]);
        assert_eq!(union_members("a | b = c"), ["a | b = c"]);
        assert_eq!(union_members("a | b and c"), ["a | b and c"]);
        assert_eq!(
            union_members("ValueSet.expansion.contains | ValueSet.url"),
            ["ValueSet.expansion.contains", "ValueSet.url"]
        );
        assert_eq!(union_members("a | 'x|y'"), ["a", "'x|y'"]);
        assert_eq!(union_members("'unterminated"), ["'unterminated"]);
    }
}
