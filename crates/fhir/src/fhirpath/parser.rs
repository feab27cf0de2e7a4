//! FHIRPath text to a syntax tree: a precedence-climbing parser over the tokens of `lexer`.
//!
//! Precedence, loosest first (<https://hl7.org/fhirpath/N1/#operator-precedence>): `implies`;
//! `or` `xor`; `and`; `in` `contains`; `=` `~` `!=` `!~`; `<` `>` `<=` `>=`; `|`; `is` `as`;
//! `+` `-` `&`; `*` `/` `div` `mod`; unary `+` `-`; then `.` and `[]`. All binary operators
//! associate to the left.
//!
//! Everything that can be checked without data is checked here: function names and their
//! number of arguments, type names (`ofType(Quantity)`, `is FHIR.Patient`), environment
//! variables, regular expressions given as literals (compiled once).

use super::ParseError;
use super::functions::{self, Func};
use super::lexer::{Tok, Token, tokenize};
use super::model::{MODEL, Sym, TypeId};
use regex::Regex;

/// Deepest nesting the parser accepts, in its own recursion and in the height of the tree
/// (which bounds the evaluator's recursion): `((((1))))` and `a.b.c.d` alike.
const MAX_DEPTH: u32 = 128;

#[derive(Debug)]
pub(super) enum Ast {
    /// `{}`
    Empty,
    Bool(bool),
    Str(Box<str>),
    Integer(i64),
    Decimal(Box<str>),
    Date(Box<str>),
    DateTime(Box<str>),
    Time(Box<str>),
    Quantity(Box<str>, Box<str>),
    /// A name at the start of a path (`Patient` in `Patient.name`): an element of the focus,
    /// or, outside function arguments (`top`), the focus itself if it is of that type (the
    /// type, if the name is one).
    Ident(Name, bool, Option<TypeId>),
    /// `target.name` (and the resource type `name` is, if any).
    Member(Box<Ast>, Name, Option<TypeId>),
    Call(Box<Call>),
    /// `x is T`, `x as T`, `x.is(T)`, `x.as(T)`, `x.ofType(T)` (no target: the focus).
    Type(Option<Box<Ast>>, TypeOp, TypeSpec),
    Index(Box<Ast>, Box<Ast>),
    Neg(Box<Ast>),
    Bin(BinOp, Box<Ast>, Box<Ast>),
    This,
    IndexVar,
    Total,
    Env(Env),
}

/// An element name and its symbol (None: no element of any type has this name).
#[derive(Debug)]
pub(super) struct Name {
    /// As written (read by `Debug` and the tests; evaluation uses `sym`).
    #[allow(dead_code)]
    pub text: Box<str>,
    pub sym: Option<Sym>,
    /// `resourceType`: not an element, but fhirpath.js gives a resource's type for it.
    pub resource_type: bool,
}

impl Name {
    fn new(text: &str) -> Name {
        Name {
            text: text.into(),
            sym: MODEL.symbol(text),
            resource_type: text == "resourceType",
        }
    }
}

#[derive(Debug)]
pub(super) struct Call {
    /// None: the function applies to the focus (`exists()` at the start of a path).
    pub target: Option<Ast>,
    pub func: Func,
    /// The function's name, for messages.
    pub name: Box<str>,
    pub args: Vec<Ast>,
    /// The compiled pattern of `matches`/`replaceMatches` when it is a literal.
    pub regex: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TypeOp {
    Is,
    As,
    OfType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ns {
    Fhir,
    System,
}

/// A type name as written: `Quantity`, `FHIR.Patient`, `System.String`; unqualified, it may
/// name both a FHIR and a System type (`Quantity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TypeSpec {
    pub ns: Option<Ns>,
    pub fhir: Option<TypeId>,
    pub system: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

#[derive(Debug)]
pub(super) enum Env {
    /// `%resource`, `%rootResource`
    Resource,
    /// `%context`
    Context,
    /// `%ucum`, `%sct`, `%loinc`, `` %`vs-name` ``, `` %`ext-name` ``
    Str(Box<str>),
}

pub(super) const SYSTEM_TYPES: [&str; 9] = [
    "Boolean", "String", "Integer", "Long", "Decimal", "Date", "DateTime", "Time", "Quantity",
];

const CALENDAR_UNITS: [&str; 16] = [
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

pub(super) fn parse(text: &str) -> Result<Ast, ParseError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        text,
        tokens,
        pos: 0,
        depth: 0,
        in_args: 0,
    };
    let ast = p.expr(0)?;
    let ast = p.bounded(ast, 0)?;
    match p.peek() {
        Tok::Eof => Ok(ast),
        _ => Err(p.error_here("expected an operator or the end of the expression")),
    }
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    pos: usize,
    depth: u32,
    /// How many function argument lists enclose the current position.
    in_args: u32,
}

/// Binding power of a binary (or `is`/`as`) operator token.
fn infix(tok: &Tok) -> Option<(u8, Option<BinOp>)> {
    use BinOp::*;
    let op = match tok {
        Tok::Sym(s) => match *s {
            "*" => (10, Mul),
            "/" => (10, Div),
            "+" => (9, Add),
            "-" => (9, Sub),
            "&" => (9, Concat),
            "|" => (7, Union),
            "<" => (6, Lt),
            ">" => (6, Gt),
            "<=" => (6, Le),
            ">=" => (6, Ge),
            "=" => (5, Eq),
            "!=" => (5, Ne),
            "~" => (5, Equiv),
            "!~" => (5, NotEquiv),
            _ => return None,
        },
        Tok::Ident(w) => match w.as_str() {
            "div" => (10, IntDiv),
            "mod" => (10, Mod),
            "is" | "as" => return Some((8, None)),
            "in" => (4, In),
            "contains" => (4, Contains),
            "and" => (3, And),
            "or" => (2, Or),
            "xor" => (2, Xor),
            "implies" => (1, Implies),
            _ => return None,
        },
        _ => return None,
    };
    Some((op.0, Some(op.1)))
}

/// The height of a tree, counted up to `cap` (so the count recurses at most `cap` levels).
fn height(ast: &Ast, cap: u32) -> u32 {
    if cap == 0 {
        return 0;
    }
    let below = |a: &Ast| height(a, cap - 1);
    1 + match ast {
        Ast::Member(t, ..) | Ast::Neg(t) | Ast::Type(Some(t), ..) => below(t),
        Ast::Index(a, b) | Ast::Bin(_, a, b) => below(a).max(below(b)),
        Ast::Call(c) => c.target.iter().chain(&c.args).map(below).max().unwrap_or(0),
        _ => 0,
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }

    fn peek2(&self) -> &Tok {
        &self.tokens[(self.pos + 1).min(self.tokens.len() - 1)].tok
    }

    fn at(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].at
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.text, at, message.into())
    }

    fn error_here(&self, message: &str) -> ParseError {
        let found = match self.peek() {
            Tok::Eof => "the end of the expression".to_string(),
            Tok::Ident(w) | Tok::Delimited(w) => format!("'{w}'"),
            Tok::Str(s) => format!("the string '{s}'"),
            Tok::Number(n) => format!("the number {n}"),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Date(d) | Tok::DateTime(d) => format!("@{d}"),
            Tok::Time(t) => format!("@T{t}"),
            Tok::Env(e) => format!("%{e}"),
            Tok::Dollar(d) => format!("${d}"),
        };
        self.error_at(self.at(), format!("{message}, found {found}"))
    }

    /// `ast`, or an error if its tree is higher than `MAX_DEPTH`.
    fn bounded(&self, ast: Ast, at: usize) -> Result<Ast, ParseError> {
        if height(&ast, MAX_DEPTH + 1) > MAX_DEPTH {
            return Err(self.error_at(at, "expression nested too deeply"));
        }
        Ok(ast)
    }

    fn expect(&mut self, sym: &'static str) -> Result<(), ParseError> {
        if *self.peek() == Tok::Sym(sym) {
            self.next();
            Ok(())
        } else {
            Err(self.error_here(&format!("expected '{sym}'")))
        }
    }

    fn expr(&mut self, min_bp: u8) -> Result<Ast, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.at(), "expression nested too deeply"));
        }
        let mut lhs = self.unary()?;
        while let Some((bp, op)) = infix(self.peek()) {
            if bp < min_bp {
                break;
            }
            let word = self.next();
            let at = self.at();
            lhs = match op {
                Some(op) => Ast::Bin(op, Box::new(lhs), Box::new(self.expr(bp + 1)?)),
                None => {
                    let op = if word == Tok::Ident("is".into()) {
                        TypeOp::Is
                    } else {
                        TypeOp::As
                    };
                    Ast::Type(Some(Box::new(lhs)), op, self.type_spec()?)
                }
            };
            lhs = self.bounded(lhs, at)?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    /// Unary `+`/`-` (binding looser than `.`, tighter than `*`), then postfix invocations.
    fn unary(&mut self) -> Result<Ast, ParseError> {
        match self.peek() {
            Tok::Sym("-") => {
                self.next();
                if let Tok::Number(n) = self.peek().clone()
                    && !matches!(self.peek2(), Tok::Sym(".") | Tok::Sym("["))
                {
                    let at = self.at();
                    self.next();
                    return self.number(&format!("-{n}"), at);
                }
                let at = self.at();
                let neg = Ast::Neg(Box::new(self.expr(11)?));
                self.bounded(neg, at)
            }
            Tok::Sym("+") => {
                self.next();
                self.expr(11)
            }
            _ => {
                let term = self.term()?;
                self.postfix(term)
            }
        }
    }

    fn postfix(&mut self, mut lhs: Ast) -> Result<Ast, ParseError> {
        loop {
            let at = self.at();
            if matches!(self.peek(), Tok::Sym(".") | Tok::Sym("[")) {
                lhs = self.bounded(lhs, at)?;
            }
            match self.peek() {
                Tok::Sym(".") => {
                    self.next();
                    lhs = self.invocation(Some(lhs))?;
                }
                Tok::Sym("[") => {
                    self.next();
                    let index = self.expr(0)?;
                    self.expect("]")?;
                    lhs = Ast::Index(Box::new(lhs), Box::new(index));
                }
                _ => return Ok(lhs),
            }
        }
    }

    fn term(&mut self) -> Result<Ast, ParseError> {
        let at = self.at();
        match self.peek().clone() {
            Tok::Number(n) => {
                self.next();
                self.number(&n, at)
            }
            Tok::Str(s) => {
                self.next();
                Ok(Ast::Str(s.into()))
            }
            Tok::Date(d) => {
                self.next();
                Ok(Ast::Date(d.into()))
            }
            Tok::DateTime(d) => {
                self.next();
                Ok(Ast::DateTime(d.into()))
            }
            Tok::Time(t) => {
                self.next();
                Ok(Ast::Time(t.into()))
            }
            Tok::Ident(w) if (w == "true" || w == "false") && *self.peek2() != Tok::Sym("(") => {
                self.next();
                Ok(Ast::Bool(w == "true"))
            }
            Tok::Ident(_) | Tok::Delimited(_) => self.invocation(None),
            Tok::Sym("(") => {
                self.next();
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Sym("{") => {
                self.next();
                self.expect("}")?;
                Ok(Ast::Empty)
            }
            Tok::Env(name) => {
                self.next();
                let env = match name.as_str() {
                    "resource" | "rootResource" => Env::Resource,
                    "context" => Env::Context,
                    "ucum" => Env::Str("http://unitsofmeasure.org".into()),
                    "sct" => Env::Str("http://snomed.info/sct".into()),
                    "loinc" => Env::Str("http://loinc.org".into()),
                    n if n.starts_with("vs-") => {
                        Env::Str(format!("http://hl7.org/fhir/ValueSet/{}", &n[3..]).into())
                    }
                    n if n.starts_with("ext-") => Env::Str(
                        format!("http://hl7.org/fhir/StructureDefinition/{}", &n[4..]).into(),
                    ),
                    other => {
                        return Err(
                            self.error_at(at, format!("unknown environment variable %{other}"))
                        );
                    }
                };
                Ok(Ast::Env(env))
            }
            Tok::Dollar(name) => {
                self.next();
                match name.as_str() {
                    "this" => Ok(Ast::This),
                    "index" => Ok(Ast::IndexVar),
                    "total" => Ok(Ast::Total),
                    other => Err(self.error_at(at, format!("unknown variable ${other}"))),
                }
            }
            _ => Err(self.error_here("expected an expression")),
        }
    }

    /// A number literal, or a quantity when a unit follows (`4 'mg'`, `3 days`).
    fn number(&mut self, n: &str, at: usize) -> Result<Ast, ParseError> {
        let unit = match self.peek() {
            Tok::Str(u) => Some(u.clone()),
            Tok::Ident(w) if CALENDAR_UNITS.contains(&w.as_str()) => Some(w.clone()),
            _ => None,
        };
        if let Some(unit) = unit {
            self.next();
            return Ok(Ast::Quantity(n.into(), unit.into()));
        }
        if n.contains('.') {
            return Ok(Ast::Decimal(n.into()));
        }
        match n.parse::<i64>() {
            Ok(i) => Ok(Ast::Integer(i)),
            Err(_) if n.len() < 400 => Ok(Ast::Decimal(n.into())),
            Err(_) => Err(self.error_at(at, "number too long")),
        }
    }

    /// A name or a function call, after a `.` (with `target`) or at the start of a path.
    fn invocation(&mut self, target: Option<Ast>) -> Result<Ast, ParseError> {
        let at = self.at();
        let name = match self.peek() {
            Tok::Ident(w) | Tok::Delimited(w) => w.clone(),
            _ => return Err(self.error_here("expected a name or a function")),
        };
        self.next();
        if *self.peek() != Tok::Sym("(") {
            return Ok(match target {
                Some(t) => {
                    let rt = MODEL.resource_type(&name);
                    Ast::Member(Box::new(t), Name::new(&name), rt)
                }
                None => {
                    let ty = name
                        .starts_with(|c: char| c.is_ascii_uppercase())
                        .then(|| MODEL.type_id(&name))
                        .flatten();
                    Ast::Ident(Name::new(&name), self.in_args == 0, ty)
                }
            });
        }
        self.next();
        let type_op = match name.as_str() {
            "is" => Some(TypeOp::Is),
            "as" => Some(TypeOp::As),
            "ofType" => Some(TypeOp::OfType),
            _ => None,
        };
        if let Some(op) = type_op {
            let ty = self.type_spec()?;
            self.expect(")")?;
            return self.bounded(Ast::Type(target.map(Box::new), op, ty), at);
        }
        let (func, min, max) = match functions::lookup(&name) {
            Ok(f) => f,
            Err(None) => return Err(self.error_at(at, format!("unknown function {name}()"))),
            Err(Some(why)) => {
                return Err(self.error_at(at, format!("function {name}() is not supported: {why}")));
            }
        };
        let mut args = Vec::new();
        self.in_args += 1;
        if *self.peek() != Tok::Sym(")") {
            loop {
                args.push(self.expr(0)?);
                if *self.peek() == Tok::Sym(",") {
                    self.next();
                } else {
                    break;
                }
            }
        }
        self.in_args -= 1;
        self.expect(")")?;
        if args.len() < min as usize || args.len() > max as usize {
            let expected = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, b) => format!("{a} to {b}"),
            };
            return Err(self.error_at(
                at,
                format!(
                    "{name}() takes {expected} argument{}, found {}",
                    if max == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        let mut regex = None;
        if matches!(func, Func::Matches | Func::ReplaceMatches)
            && let Some(Ast::Str(pattern)) = args.first()
        {
            regex = Some(
                functions::compile_regex(pattern)
                    .map_err(|e| self.error_at(at, format!("invalid regular expression: {e}")))?,
            );
        }
        let call = Ast::Call(Box::new(Call {
            target,
            func,
            name: name.into(),
            args,
            regex,
        }));
        self.bounded(call, at)
    }

    /// `Name` or `Namespace.Name`.
    fn type_spec(&mut self) -> Result<TypeSpec, ParseError> {
        let at = self.at();
        let first = match self.peek() {
            Tok::Ident(w) | Tok::Delimited(w) => w.clone(),
            _ => return Err(self.error_here("expected a type name")),
        };
        self.next();
        let qualified = match (self.peek(), self.peek2()) {
            (Tok::Sym("."), Tok::Ident(n) | Tok::Delimited(n)) => Some(n.clone()),
            _ => None,
        };
        let (ns, name) = if let Some(name) = qualified {
            self.next();
            self.next();
            let ns = match first.as_str() {
                "FHIR" => Ns::Fhir,
                "System" => Ns::System,
                other => {
                    return Err(self.error_at(at, format!("unknown type namespace '{other}'")));
                }
            };
            (Some(ns), name)
        } else {
            (None, first)
        };
        let mut system = SYSTEM_TYPES.iter().copied().find(|t| *t == name);
        let mut fhir = MODEL.type_id(&name);
        match ns {
            Some(Ns::System) => fhir = None,
            Some(Ns::Fhir) => system = None,
            None => {}
        }
        if fhir.is_none() && system.is_none() {
            return Err(self.error_at(at, format!("unknown type '{name}'")));
        }
        Ok(TypeSpec { ns, fhir, system })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree as an S-expression.
    fn show(a: &Ast) -> String {
        match a {
            Ast::Empty => "{}".into(),
            Ast::Bool(b) => b.to_string(),
            Ast::Str(s) => format!("'{s}'"),
            Ast::Integer(i) => i.to_string(),
            Ast::Decimal(d) => d.to_string(),
            Ast::Date(d) | Ast::DateTime(d) => format!("@{d}"),
            Ast::Time(t) => format!("@T{t}"),
            Ast::Quantity(v, u) => format!("{v}'{u}'"),
            Ast::Ident(n, top, _) => format!("{}{}", n.text, if *top { "" } else { "~" }),
            Ast::Member(t, n, _) => format!("(. {} {})", show(t), n.text),
            Ast::Call(c) => {
                let mut s = format!("({:?}", c.func);
                if let Some(t) = &c.target {
                    s += &format!(" on {}", show(t));
                }
                for a in &c.args {
                    s += &format!(" {}", show(a));
                }
                s + ")"
            }
            Ast::Type(t, op, ty) => format!(
                "({op:?} {} {:?}{})",
                t.as_ref().map_or("$".into(), |t| show(t)),
                ty.ns,
                ty.fhir
                    .map(|f| MODEL.info(f).name)
                    .or(ty.system)
                    .unwrap_or_default()
            ),
            Ast::Index(t, i) => format!("([] {} {})", show(t), show(i)),
            Ast::Neg(x) => format!("(- {})", show(x)),
            Ast::Bin(op, l, r) => format!("({op:?} {} {})", show(l), show(r)),
            Ast::This => "$this".into(),
            Ast::IndexVar => "$index".into(),
            Ast::Total => "$total".into(),
            Ast::Env(e) => format!("%{e:?}"),
        }
    }

    fn p(text: &str) -> String {
        show(&parse(text).unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(p("1 + 2 * 3"), "(Add 1 (Mul 2 3))");
        assert_eq!(p("1 - 2 - 3"), "(Sub (Sub 1 2) 3)");
        assert_eq!(p("a or b and c"), "(Or a (And b c))");
        assert_eq!(p("a implies b or c"), "(Implies a (Or b c))");
        assert_eq!(p("a = b | c"), "(Eq a (Union b c))");
        assert_eq!(p("a < b = true"), "(Eq (Lt a b) true)");
        assert_eq!(
            p("a in b and c contains d"),
            "(And (In a b) (Contains c d))"
        );
        assert_eq!(p("a | b is Coding"), "(Union a (Is b NoneCoding))");
        assert_eq!(p("1 + 1 is Integer"), "(Is (Add 1 1) NoneInteger)");
        assert_eq!(p("-a.b"), "(- (. a b))");
        assert_eq!(p("-5 + 1"), "(Add -5 1)");
        assert_eq!(p("-5.abs()"), "(- (Abs on 5))");
        assert_eq!(p("a.b[0].c"), "(. ([] (. a b) 0) c)");
        assert_eq!(
            p("(Observation.value as Quantity)"),
            "(As (. Observation value) NoneQuantity)"
        );
        assert_eq!(
            p("x.ofType(FHIR.Quantity)"),
            "(OfType x Some(Fhir)Quantity)"
        );
        assert_eq!(p("x is System.String"), "(Is x Some(System)String)");
        assert_eq!(
            p("where(resolve() is Patient)"),
            "(Where (Is (Resolve) NonePatient))"
        );
        assert_eq!(p("a.where(b = 'x').c"), "(. (Where on a (Eq b~ 'x')) c)");
        assert_eq!(p("4 'mg' + 2 days"), "(Add 4'mg' 2'days')");
        assert_eq!(
            p("@2020-01-02T10:00:00.5+01:00 > @2020"),
            "(Gt @2020-01-02T10:00:00.5+01:00 @2020)"
        );
        assert_eq!(p("@T10:00 | @2020T"), "(Union @T10:00 @2020T)");
        assert_eq!(
            p("ValueSet.expansion.contains.code"),
            "(. (. (. ValueSet expansion) contains) code)"
        );
        assert_eq!(p("Narrative.div"), "(. Narrative div)");
        assert_eq!(p("`div`.`is`"), "(. div is)");
        assert_eq!(p("a // comment\n + /* c */ b"), "(Add a b)");
        assert_eq!(p("'a\\'b\\u00e9\\n'"), "'a'bé\n'");
        assert_eq!(
            p("{} | $this | $index | $total"),
            "(Union (Union (Union {} $this) $index) $total)"
        );
        assert_eq!(
            p("%resource.id | %context | %`vs-x`"),
            "(Union (Union (. %Resource id) %Context) %Str(\"http://hl7.org/fhir/ValueSet/x\"))"
        );
        assert_eq!(p("true.not() and false"), "(And (Not on true) false)");
        assert_eq!(p("9223372036854775808"), "9223372036854775808");
    }
}
