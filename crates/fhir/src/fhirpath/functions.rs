//! The function library: names and arities (checked when parsing) and implementations.

use super::eval::{
    Evaluator, Res, Vars, check_len, children, identity, navigate, singleton, to_bool, union,
};
use super::model::MODEL;
use super::parser::Call;
use super::value::{self, Dec, Prim, equal, prim, to_system, valid_dt};
use super::{EvalError, Item};
use regex::Regex;

/// Most items `repeat()`/`descendants()` may collect.
const MAX_ITEMS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Empty,
    Exists,
    All,
    AllTrue,
    AnyTrue,
    AllFalse,
    AnyFalse,
    SubsetOf,
    SupersetOf,
    Count,
    Distinct,
    IsDistinct,
    Where,
    Select,
    Repeat,
    Single,
    First,
    Last,
    Tail,
    Skip,
    Take,
    Intersect,
    Exclude,
    Union,
    Combine,
    Iif,
    Not,
    ToBoolean,
    ConvertsToBoolean,
    ToInteger,
    ConvertsToInteger,
    ToDecimal,
    ConvertsToDecimal,
    ToString,
    ConvertsToString,
    ToDate,
    ConvertsToDate,
    ToDateTime,
    ConvertsToDateTime,
    ToTime,
    ConvertsToTime,
    IndexOf,
    Substring,
    StartsWith,
    EndsWith,
    Contains,
    Upper,
    Lower,
    Replace,
    Matches,
    ReplaceMatches,
    Length,
    ToChars,
    Trim,
    Split,
    Join,
    Abs,
    Ceiling,
    Floor,
    Truncate,
    Round,
    Children,
    Descendants,
    Trace,
    Aggregate,
    Extension,
    HasValue,
    GetValue,
    Resolve,
}

/// The function called `name` with its least and most arguments; Err(Some(why)) for a known
/// function this module does not implement, Err(None) for an unknown name.
pub(super) fn lookup(name: &str) -> Result<(Func, u8, u8), Option<&'static str>> {
    use Func::*;
    Ok(match name {
        "empty" => (Empty, 0, 0),
        "exists" => (Exists, 0, 1),
        "all" => (All, 1, 1),
        "allTrue" => (AllTrue, 0, 0),
        "anyTrue" => (AnyTrue, 0, 0),
        "allFalse" => (AllFalse, 0, 0),
        "anyFalse" => (AnyFalse, 0, 0),
        "subsetOf" => (SubsetOf, 1, 1),
        "supersetOf" => (SupersetOf, 1, 1),
        "count" => (Count, 0, 0),
        "distinct" => (Distinct, 0, 0),
        "isDistinct" => (IsDistinct, 0, 0),
        "where" => (Where, 1, 1),
        "select" => (Select, 1, 1),
        "repeat" => (Repeat, 1, 1),
        "single" => (Single, 0, 0),
        "first" => (First, 0, 0),
        "last" => (Last, 0, 0),
        "tail" => (Tail, 0, 0),
        "skip" => (Skip, 1, 1),
        "take" => (Take, 1, 1),
        "intersect" => (Intersect, 1, 1),
        "exclude" => (Exclude, 1, 1),
        "union" => (Union, 1, 1),
        "combine" => (Combine, 1, 1),
        "iif" => (Iif, 2, 3),
        "not" => (Not, 0, 0),
        "toBoolean" => (ToBoolean, 0, 0),
        "convertsToBoolean" => (ConvertsToBoolean, 0, 0),
        "toInteger" => (ToInteger, 0, 0),
        "convertsToInteger" => (ConvertsToInteger, 0, 0),
        "toDecimal" => (ToDecimal, 0, 0),
        "convertsToDecimal" => (ConvertsToDecimal, 0, 0),
        "toString" => (ToString, 0, 0),
        "convertsToString" => (ConvertsToString, 0, 0),
        "toDate" => (ToDate, 0, 0),
        "convertsToDate" => (ConvertsToDate, 0, 0),
        "toDateTime" => (ToDateTime, 0, 0),
        "convertsToDateTime" => (ConvertsToDateTime, 0, 0),
        "toTime" => (ToTime, 0, 0),
        "convertsToTime" => (ConvertsToTime, 0, 0),
        "indexOf" => (IndexOf, 1, 1),
        "substring" => (Substring, 1, 2),
        "startsWith" => (StartsWith, 1, 1),
        "endsWith" => (EndsWith, 1, 1),
        "contains" => (Contains, 1, 1),
        "upper" => (Upper, 0, 0),
        "lower" => (Lower, 0, 0),
        "replace" => (Replace, 2, 2),
        "matches" => (Matches, 1, 1),
        "replaceMatches" => (ReplaceMatches, 2, 2),
        "length" => (Length, 0, 0),
        "toChars" => (ToChars, 0, 0),
        "trim" => (Trim, 0, 0),
        "split" => (Split, 1, 1),
        "join" => (Join, 0, 1),
        "abs" => (Abs, 0, 0),
        "ceiling" => (Ceiling, 0, 0),
        "floor" => (Floor, 0, 0),
        "truncate" => (Truncate, 0, 0),
        "round" => (Round, 0, 1),
        "children" => (Children, 0, 0),
        "descendants" => (Descendants, 0, 0),
        "trace" => (Trace, 1, 2),
        "aggregate" => (Aggregate, 1, 2),
        "extension" => (Extension, 1, 1),
        "hasValue" => (HasValue, 0, 0),
        "getValue" => (GetValue, 0, 0),
        "resolve" => (Resolve, 0, 0),
        "now" | "today" | "timeOfDay" => return Err(Some("kizuna-fhir never reads the clock")),
        "memberOf" | "subsumes" | "subsumedBy" | "validateVS" | "validateCS" | "translate"
        | "expand" | "lookup" => return Err(Some("it needs a terminology server")),
        "conformsTo" | "htmlChecks" | "htmlchecks" | "elementDefinition" | "slice"
        | "checkModifiers" => return Err(Some("it needs profiles")),
        "sqrt" | "ln" | "log" | "exp" | "power" => {
            return Err(Some("it has no exact decimal result"));
        }
        "toQuantity" | "convertsToQuantity" | "encode" | "decode" | "escape" | "unescape"
        | "lowBoundary" | "highBoundary" | "precision" | "comparable" | "type" | "sort"
        | "defineVariable" | "toLong" | "convertsToLong" | "matchesFull" | "weight" | "ordinal" => {
            return Err(Some("not implemented in Kizuna"));
        }
        _ => return Err(None),
    })
}

/// A regular expression for `matches`/`replaceMatches` (`.` also matches newlines, as in
/// fhirpath.js), with a size limit.
pub(super) fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .dot_matches_new_line(true)
        .size_limit(1 << 20)
        .build()
}

fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError::new(msg))
}

fn one<'a>(b: bool) -> Res<'a> {
    Ok(vec![Item::Bool(b)])
}

impl<'a> Evaluator<'_, 'a> {
    pub(super) fn call(&self, call: &Call, focus: &[Item<'a>], vars: Vars<'_, 'a>) -> Res<'a> {
        use Func::*;
        let input = match &call.target {
            Some(t) => self.eval(t, focus, vars)?,
            None => focus.to_vec(),
        };
        match call.func {
            Exists if !call.args.is_empty() => self.iterate(call, input, focus, vars),
            Where | All | Select | Repeat | Iif | Aggregate => {
                self.iterate(call, input, focus, vars)
            }
            _ => {
                // Arguments evaluated once, with the same focus as the call itself.
                let args = call
                    .args
                    .iter()
                    .map(|a| self.eval(a, focus, vars))
                    .collect::<Result<Vec<_>, _>>()?;
                self.apply(call, input, &args)
            }
        }
    }

    /// The functions whose arguments are evaluated per input item, or lazily.
    fn iterate(
        &self,
        call: &Call,
        input: Vec<Item<'a>>,
        focus: &[Item<'a>],
        vars: Vars<'_, 'a>,
    ) -> Res<'a> {
        use Func::*;
        // For each input item: evaluate argument `i` with the item as focus and `$this`.
        let per_item = |i: usize, item: &Item<'a>, index: usize| -> Res<'a> {
            let v = Vars {
                this: Some(item),
                index: Some(index),
                total: None,
            };
            self.eval(&call.args[i], std::slice::from_ref(item), v)
        };
        let arg = |i: usize| -> Res<'a> {
            match call.args.get(i) {
                Some(a) => self.eval(a, focus, vars),
                None => Ok(Vec::new()),
            }
        };
        match call.func {
            Exists | Where | All => {
                let mut out = Vec::new();
                for (i, item) in input.iter().enumerate() {
                    let keep = to_bool(&per_item(0, item, i)?)?.unwrap_or(false);
                    match call.func {
                        Exists if keep => return one(true),
                        All if !keep => return one(false),
                        Where if keep => out.push(item.clone()),
                        _ => {}
                    }
                }
                match call.func {
                    Exists => one(false),
                    All => one(true),
                    _ => Ok(out),
                }
            }
            Select => {
                let mut out = Vec::new();
                for (i, item) in input.iter().enumerate() {
                    out.extend(per_item(0, item, i)?);
                }
                Ok(out)
            }
            Repeat => {
                let mut out: Vec<Item<'a>> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                let mut current = input;
                while !current.is_empty() {
                    let mut next = Vec::new();
                    for (i, item) in current.iter().enumerate() {
                        for x in per_item(0, item, i)? {
                            if seen.insert(identity(&x)) {
                                out.push(x.clone());
                                next.push(x);
                            }
                        }
                        if out.len() > MAX_ITEMS {
                            return err("repeat() collected too many items");
                        }
                    }
                    current = next;
                }
                Ok(out)
            }
            Iif => {
                let v = Vars {
                    this: input.first().filter(|_| input.len() == 1).or(vars.this),
                    ..vars
                };
                let cond = to_bool(&self.eval(&call.args[0], focus, v)?)?;
                match (cond, call.args.get(2)) {
                    (Some(true), _) => self.eval(&call.args[1], focus, v),
                    (_, Some(other)) => self.eval(other, focus, v),
                    (_, None) => Ok(Vec::new()),
                }
            }
            Aggregate => {
                let mut total = arg(1)?;
                for (i, item) in input.iter().enumerate() {
                    let v = Vars {
                        this: Some(item),
                        index: Some(i),
                        total: Some(&total),
                    };
                    total = self.eval(&call.args[0], std::slice::from_ref(item), v)?;
                }
                Ok(total)
            }
            _ => err(format!("{}() is not available here", call.name)),
        }
    }

    /// The other functions, on their evaluated arguments (no recursion from here).
    fn apply(&self, call: &Call, input: Vec<Item<'a>>, args: &[Vec<Item<'a>>]) -> Res<'a> {
        use Func::*;
        let arg = |i: usize| -> Res<'a> { Ok(args.get(i).cloned().unwrap_or_default()) };
        match call.func {
            Empty => one(input.is_empty()),
            Exists if call.args.is_empty() => one(!input.is_empty()),
            AllTrue | AnyTrue | AllFalse | AnyFalse => {
                let bools: Vec<bool> = input
                    .iter()
                    .map(|x| match prim(x) {
                        Some(Prim::Bool(b)) => Ok(b),
                        _ => err(format!("{}() needs booleans", call.name)),
                    })
                    .collect::<Result<_, _>>()?;
                one(match call.func {
                    AllTrue => bools.iter().all(|b| *b),
                    AnyTrue => bools.iter().any(|b| *b),
                    AllFalse => bools.iter().all(|b| !*b),
                    _ => bools.iter().any(|b| !*b),
                })
            }
            SubsetOf | SupersetOf => {
                let other = arg(0)?;
                let (small, big) = if call.func == SubsetOf {
                    (&input, &other)
                } else {
                    (&other, &input)
                };
                one(small.iter().all(|x| contains(big, x)))
            }
            Count => Ok(vec![Item::Integer(input.len() as i64)]),
            Distinct => Ok(union(input, Vec::new())),
            IsDistinct => {
                let n = input.len();
                one(union(input, Vec::new()).len() == n)
            }
            Single => match input.len() {
                0 | 1 => Ok(input),
                n => err(format!("single() on {n} items")),
            },
            First => Ok(input.into_iter().take(1).collect()),
            Last => Ok(input.into_iter().last().into_iter().collect()),
            Tail => Ok(input.into_iter().skip(1).collect()),
            Skip | Take => {
                let n = match int_arg(&arg(0)?)? {
                    Some(n) => n.max(0) as usize,
                    None => return Ok(Vec::new()),
                };
                Ok(if call.func == Skip {
                    input.into_iter().skip(n).collect()
                } else {
                    input.into_iter().take(n).collect()
                })
            }
            Intersect => {
                let other = arg(0)?;
                let kept = input.into_iter().filter(|x| contains(&other, x)).collect();
                Ok(union(kept, Vec::new()))
            }
            Exclude => {
                let other = arg(0)?;
                Ok(input.into_iter().filter(|x| !contains(&other, x)).collect())
            }
            Union => Ok(union(input, arg(0)?)),
            Combine => {
                let mut out = input;
                out.extend(arg(0)?);
                Ok(out)
            }
            Not => Ok(to_bool(&input)?
                .map(|b| Item::Bool(!b))
                .into_iter()
                .collect()),
            Children | Descendants => {
                let mut out = Vec::new();
                for item in &input {
                    children(item, &mut out);
                }
                if call.func == Descendants {
                    let mut i = 0;
                    while i < out.len() {
                        let item = out[i].clone();
                        children(&item, &mut out);
                        i += 1;
                        if out.len() > MAX_ITEMS {
                            return err("descendants() collected too many items");
                        }
                    }
                }
                Ok(out)
            }
            Trace => Ok(input),
            Extension => {
                let url = string_arg(&arg(0)?)?;
                let mut out = Vec::new();
                if let Some(url) = url {
                    let mut exts = Vec::new();
                    let sym = MODEL.symbol("extension");
                    for item in &input {
                        navigate(item, sym, &mut exts);
                    }
                    out.extend(exts.into_iter().filter(|e| {
                        e.as_node()
                            .and_then(|n| n.value?.get("url")?.as_str())
                            .is_some_and(|u| u == url)
                    }));
                }
                Ok(out)
            }
            HasValue => one(matches!(input.as_slice(),
                [Item::Node(n)] if n.fhir_type.is_primitive() && n.value.is_some())),
            GetValue => Ok(match input.as_slice() {
                [x @ Item::Node(n)] if n.fhir_type.is_primitive() => {
                    prim(x).map(to_system).into_iter().collect()
                }
                _ => Vec::new(),
            }),
            Resolve => Ok(input.iter().filter_map(super::resolve::resolve).collect()),
            Join => {
                let sep = string_arg(&arg(0)?)?.unwrap_or_default();
                let mut parts = Vec::with_capacity(input.len());
                for x in &input {
                    match prim(x).as_ref().and_then(value::text) {
                        Some(s) => parts.push(s.to_string()),
                        None => return err("join() needs strings"),
                    }
                }
                let out = parts.join(&sep);
                check_len(&out)?;
                Ok(vec![Item::Str(out)])
            }
            _ => self.scalar(call, &input, &arg),
        }
    }

    /// Functions of one input item (strings, numbers, conversions).
    fn scalar(&self, call: &Call, input: &[Item<'a>], arg: &dyn Fn(usize) -> Res<'a>) -> Res<'a> {
        use Func::*;
        let item = match input {
            [] => return Ok(Vec::new()),
            [x] => x,
            _ => {
                return err(format!(
                    "{}() needs a single item, found {}",
                    call.name,
                    input.len()
                ));
            }
        };
        let p = prim(item);
        let conv = |c: Option<Item<'a>>| -> Res<'a> { Ok(c.into_iter().collect()) };
        let can = |c: Option<Item<'a>>| one(c.is_some());
        match call.func {
            ToBoolean => return conv(p.and_then(to_boolean)),
            ConvertsToBoolean => return can(p.and_then(to_boolean)),
            ToInteger => return conv(p.and_then(to_integer)),
            ConvertsToInteger => return can(p.and_then(to_integer)),
            ToDecimal => return conv(p.and_then(to_decimal)),
            ConvertsToDecimal => return can(p.and_then(to_decimal)),
            ToString => return conv(p.map(to_string)),
            ConvertsToString => return can(p.map(to_string)),
            ToDate => return conv(p.and_then(|p| to_dt(p, "Date"))),
            ConvertsToDate => return can(p.and_then(|p| to_dt(p, "Date"))),
            ToDateTime => return conv(p.and_then(|p| to_dt(p, "DateTime"))),
            ConvertsToDateTime => return can(p.and_then(|p| to_dt(p, "DateTime"))),
            ToTime => return conv(p.and_then(|p| to_dt(p, "Time"))),
            ConvertsToTime => return can(p.and_then(|p| to_dt(p, "Time"))),
            Abs | Ceiling | Floor | Truncate | Round => return self.math(call, p, arg),
            _ => {}
        }
        let Some(s) = p.as_ref().and_then(value::text) else {
            return err(format!("{}() needs a string", call.name));
        };
        let str_at = |i: usize| -> Result<Option<String>, EvalError> { string_arg(&arg(i)?) };
        let chars = || s.chars().collect::<Vec<_>>();
        let text = |t: String| -> Res<'a> {
            check_len(&t)?;
            Ok(vec![Item::Str(t)])
        };
        match call.func {
            IndexOf => Ok(str_at(0)?
                .map(|sub| {
                    let i = s.find(&sub).map_or(-1, |b| s[..b].chars().count() as i64);
                    Item::Integer(i)
                })
                .into_iter()
                .collect()),
            Substring => {
                let cs = chars();
                let Some(start) = int_arg(&arg(0)?)? else {
                    return Ok(Vec::new());
                };
                if start < 0 || start as usize >= cs.len() {
                    return Ok(Vec::new());
                }
                let len = match call.args.len() {
                    2 => match int_arg(&arg(1)?)? {
                        Some(l) => l.max(0) as usize,
                        None => cs.len(),
                    },
                    _ => cs.len(),
                };
                let start = start as usize;
                let end = start.saturating_add(len).min(cs.len());
                text(cs[start..end].iter().collect())
            }
            StartsWith | EndsWith | Contains => Ok(str_at(0)?
                .map(|t| {
                    Item::Bool(match call.func {
                        StartsWith => s.starts_with(&t),
                        EndsWith => s.ends_with(&t),
                        _ => s.contains(&t),
                    })
                })
                .into_iter()
                .collect()),
            Upper => text(s.to_uppercase()),
            Lower => text(s.to_lowercase()),
            Trim => text(s.trim().to_string()),
            Length => Ok(vec![Item::Integer(s.chars().count() as i64)]),
            ToChars => Ok(chars()
                .into_iter()
                .map(|c| Item::Str(c.to_string()))
                .collect()),
            Replace => match (str_at(0)?, str_at(1)?) {
                (Some(pat), Some(rep)) => {
                    if pat.is_empty() {
                        // Insert the replacement around every character, as specified.
                        let mut out = rep.clone();
                        for c in s.chars() {
                            out.push(c);
                            out.push_str(&rep);
                            check_len(&out)?;
                        }
                        text(out)
                    } else {
                        let n = s.matches(&pat).count();
                        if n.saturating_mul(rep.len()) > super::eval::MAX_STRING {
                            return err("string result too long");
                        }
                        text(s.replace(&pat, &rep))
                    }
                }
                _ => Ok(Vec::new()),
            },
            Matches | ReplaceMatches => {
                let owned;
                let re = match &call.regex {
                    Some(r) => r,
                    None => match str_at(0)? {
                        Some(p) => {
                            owned = compile_regex(&p).map_err(|e| {
                                EvalError::new(format!("invalid regular expression: {e}"))
                            })?;
                            &owned
                        }
                        None => return Ok(Vec::new()),
                    },
                };
                if call.func == Matches {
                    return one(re.is_match(s));
                }
                match str_at(1)? {
                    Some(rep) => {
                        let out = re.replace_all(s, rep.as_str()).into_owned();
                        text(out)
                    }
                    None => Ok(Vec::new()),
                }
            }
            Split => match str_at(0)? {
                Some(sep) if !sep.is_empty() => Ok(s
                    .split(sep.as_str())
                    .map(|x| Item::Str(x.to_string()))
                    .collect()),
                Some(_) => Ok(chars()
                    .into_iter()
                    .map(|c| Item::Str(c.to_string()))
                    .collect()),
                None => Ok(Vec::new()),
            },
            _ => err(format!("{}() is not available here", call.name)),
        }
    }

    fn math(&self, call: &Call, p: Option<Prim>, arg: &dyn Fn(usize) -> Res<'a>) -> Res<'a> {
        let overflow = || EvalError::new("numeric overflow");
        let (d, unit, int) = match p {
            Some(Prim::Int(i)) => (Dec::from_int(i), None, true),
            Some(Prim::Dec(t)) => (Dec::parse(t).ok_or_else(overflow)?, None, false),
            Some(Prim::Quantity(t, u)) => (Dec::parse(t).ok_or_else(overflow)?, Some(u), false),
            _ => return err(format!("{}() needs a number", call.name)),
        };
        let r = match call.func {
            Func::Abs => Some(Dec {
                mant: d.mant.checked_abs().ok_or_else(overflow)?,
                scale: d.scale,
            }),
            Func::Ceiling => d.ceil(),
            Func::Floor => d.floor(),
            Func::Truncate => d.trunc(),
            _ => {
                let places = int_arg(&arg(0)?)?.unwrap_or(0);
                if !(0..=30).contains(&places) {
                    return err("round() needs a precision from 0 to 30");
                }
                d.round(places as u32)
            }
        }
        .ok_or_else(overflow)?;
        let integral = matches!(call.func, Func::Ceiling | Func::Floor | Func::Truncate)
            || (int && call.func == Func::Abs);
        Ok(vec![match unit {
            Some(u) => Item::Quantity {
                value: r.text(),
                unit: u.to_string(),
            },
            None if integral => Item::Integer(r.to_i64().ok_or_else(overflow)?),
            None => Item::Decimal(r.text()),
        }])
    }
}

fn contains(c: &[Item], x: &Item) -> bool {
    c.iter().any(|y| equal(x, y) == Some(true))
}

fn int_arg(c: &[Item]) -> Result<Option<i64>, EvalError> {
    match singleton(c, "an argument")?.map(prim) {
        None => Ok(None),
        Some(Some(Prim::Int(i))) => Ok(Some(i)),
        Some(_) => err("expected an integer argument"),
    }
}

fn string_arg(c: &[Item]) -> Result<Option<String>, EvalError> {
    match singleton(c, "an argument")? {
        None => Ok(None),
        Some(x) => match prim(x).as_ref().and_then(value::text) {
            Some(s) => Ok(Some(s.to_string())),
            None => err("expected a string argument"),
        },
    }
}

fn to_boolean<'a>(p: Prim) -> Option<Item<'a>> {
    let b = match p {
        Prim::Bool(b) => b,
        Prim::Int(1) => true,
        Prim::Int(0) => false,
        Prim::Dec(d) => match value::dec_cmp(d, "0") {
            Some(std::cmp::Ordering::Equal) => false,
            _ if value::dec_cmp(d, "1") == Some(std::cmp::Ordering::Equal) => true,
            _ => return None,
        },
        Prim::Str(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => true,
            "false" | "f" | "no" | "n" | "0" | "0.0" => false,
            _ => return None,
        },
        _ => return None,
    };
    Some(Item::Bool(b))
}

fn to_integer<'a>(p: Prim) -> Option<Item<'a>> {
    match p {
        Prim::Int(i) => Some(Item::Integer(i)),
        Prim::Bool(b) => Some(Item::Integer(b as i64)),
        Prim::Str(s) => {
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            (!digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse().ok().map(Item::Integer))
                .flatten()
        }
        _ => None,
    }
}

fn to_decimal<'a>(p: Prim) -> Option<Item<'a>> {
    match p {
        Prim::Int(i) => Some(Item::Decimal(i.to_string())),
        Prim::Dec(d) => Some(Item::Decimal(d.to_string())),
        Prim::Bool(b) => Some(Item::Decimal(if b { "1.0" } else { "0.0" }.into())),
        Prim::Str(s) => {
            let body = s.strip_prefix(['+', '-']).unwrap_or(s);
            let (int, frac) = body.split_once('.').unwrap_or((body, "0"));
            let ok = !int.is_empty()
                && !frac.is_empty()
                && int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit());
            ok.then(|| Item::Decimal(s.strip_prefix('+').unwrap_or(s).to_string()))
        }
        _ => None,
    }
}

fn to_string<'a>(p: Prim) -> Item<'a> {
    Item::Str(match p {
        Prim::Bool(b) => b.to_string(),
        Prim::Int(i) => i.to_string(),
        Prim::Quantity(v, u) => format!("{v} '{u}'"),
        Prim::Dec(s) | Prim::Str(s) | Prim::Date(s) | Prim::DateTime(s) | Prim::Time(s) => {
            s.to_string()
        }
    })
}

fn to_dt<'a>(p: Prim, kind: &str) -> Option<Item<'a>> {
    let s = match (p, kind) {
        (Prim::Str(s), _) | (Prim::Date(s), "Date" | "DateTime") | (Prim::Time(s), "Time") => s,
        (Prim::DateTime(s), "DateTime") => s,
        (Prim::DateTime(s), "Date") => s.split('T').next().unwrap_or(s),
        _ => return None,
    };
    if !valid_dt(s, kind) {
        return None;
    }
    let s = s.to_string();
    Some(match kind {
        "Date" => Item::Date(s),
        "Time" => Item::Time(s),
        _ => Item::DateTime(s),
    })
}
