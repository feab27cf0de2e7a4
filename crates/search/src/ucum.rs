//! UCUM units to canonical base units, for quantity search: `1 mg/dL`, `0.01 g/L` and
//! `10 g.m-3` are one quantity, and [`canonical`] turns each into `10 g.m-3`.
//!
//! Owns the reading of UCUM's case-sensitive codes (<https://ucum.org/ucum>, "c/s"), the table
//! of the units it knows with their exact UCUM definitions, and the conversion of a value into
//! base units. It does not decide which quantities a search matches; it gives both sides of the
//! comparison one unit.
//!
//! # Syntax
//!
//! UCUM's grammar, by hand: terms joined by `.` (multiply) and `/` (divide, left-associative;
//! a leading `/` means `1/…`); an integer exponent right after a unit (`m2`, `s-1`, `cm3`,
//! `10*3`); metric prefixes (`Y` … `da` … `y`, `u` for micro) on units UCUM marks as metric
//! only; parentheses; positive integer factors (`100`); annotations `{…}`, which count as 1
//! alone (`{beats}`) or after a unit (`mL{total}`). Inputs longer than [`MAX_UNIT_LEN`] bytes,
//! non-ASCII or blank characters, and parentheses nested deeper than [`MAX_NESTING`] are
//! refused, so the work per code is bounded; no input panics.
//!
//! # Units
//!
//! Base units (each its own dimension): `m`, `g`, `s`, `rad`, `K`, `C`, `cd`, and `mol`, which
//! UCUM defines as the number 6.0221367×10²³ but which is kept a base unit here so that
//! `mmol/L` stays exact and is never confused with a count. Arbitrary units (`[IU]`,
//! `[arb'U]`, `[CFU]`, `[beth'U]`, … — UCUM's list) are not commensurable with anything in
//! UCUM, so each is a base unit of its own (`[iU]` is UCUM's other spelling of `[IU]`).
//!
//! Defined units: the numbers `10*`/`10^` (with an exponent: a bare `10*` is refused), `%`,
//! `[ppth]`, `[ppm]`, `[ppb]`, `[pptr]`; the SI derived units (`Hz`, `N`, `Pa`, `J`, `W`, `A`,
//! `V`, `F`, `Ohm`, `S`, `Wb`, `T`, `H`, `sr`, `lm`, `lx`, `Bq`, `Gy`, `Sv`); `L`/`l`, `ar`,
//! `t`, `bar`, `atm`, `eV`, `Ao`, `gf`, `dyn`, `erg`, `Ci`, `R`, `RAD`, `REM`; time (`min`,
//! `h`, `d`, `wk`, `mo` = `mo_j` = 30.4375 d, `a` = `a_j` = 365.25 d, `a_t`, `a_g`, `mo_s`,
//! `mo_g`); international customary lengths, areas and volumes (`[in_i]`, `[ft_i]`, `[yd_i]`,
//! `[mi_i]`, `[nmi_i]`, …), US survey lengths (`[ft_us]` = 1200/3937 m, …), US, British and
//! metric kitchen volumes (`[gal_us]`, `[foz_us]`, `[tsp_us]`, `[cup_m]`, `[gal_br]`, …),
//! avoirdupois, troy and apothecaries' masses (`[gr]`, `[lb_av]` = 453.59237 g, `[oz_av]`,
//! `[stone_av]`, …); clinical units (`m[Hg]` = 133.3220 kPa, so `mm[Hg]` = 133.3220 Pa,
//! `m[H2O]`, `[in_i'Hg]`, `[psi]`, `[PRU]`, `[wood'U]`, `[diop]`, `[drp]` = 1/12 mL, `[MET]`,
//! `[HPF]` = 1, `[LPF]` = 100, `[hnsf'U]`); chemistry (`eq` = `osm` = 1 mol as UCUM defines
//! them, so `meq/L` equals `mmol/L`; `kat`; `U` = 1 µmol/min; `g%` = 1 g/dL); heat (`cal` =
//! `cal_th` = 4.184 J, the other calories, `[Cal]`, `[Btu]`, `[degR]` = 5/9 K, `[HP]`);
//! information (`bit`, `By`, `Bd`).
//!
//! Temperatures on a scale with an offset are UCUM "special" units: `Cel` (K = °C + 273.15)
//! and `[degF]` (K = (°F + 459.67) × 5/9) are understood only as the whole unit (an annotation
//! may follow), never prefixed, raised to a power or combined (`Cel/min` is `None`). Other
//! special units (`[pH]`, `B`, `dB`, `Np`, `[hp_X]`, …) and units defined through π (`deg`,
//! `[Ch]`, …) are not convertible: `None`.
//!
//! # Canonical form
//!
//! The canonical unit is the base units with their non-zero exponents, sorted by name (byte
//! order) and joined by `.`: `g.m-3`, `s-1`, `[IU].m-3`; `1` when dimensionless. It is itself
//! a UCUM code that converts to itself with factor 1. Units of one dimension always give the
//! same canonical unit, so canonical values compare directly.
//!
//! # Exactness and precision
//!
//! Every unit's factor is an exact rational `num/den × 10^k` (UCUM definitions are decimals
//! combined by `.` and `/`). Converting multiplies exactly ([`Decimal::checked_mul`]), so the
//! answer is `None` rather than rounded when the product needs more than 34 digits; only a
//! division by a factor that does not terminate in decimal (`/min` is 1/60 s-1, `[degF]` has
//! 5/9) rounds, to 34 significant digits ([`Decimal::checked_div`]).
//!
//! The written precision of the value carries over when it can: for a power-of-ten factor the
//! digits are kept and only the exponent moves (`5.4 mg` is `0.0054 g`, coefficient 54 and
//! exponent -4), so the implicit search range of the converted value
//! ([`Decimal::precision_range`]) is exactly the converted range of the original. For other
//! factors and offsets (`[lb_av]`, `/min`, `Cel`) no decimal precision can express the converted
//! range (half a unit of `2 [lb_av]` is 226.796185 g), and the value keeps the exact product's
//! digits; callers needing the range convert its bounds with [`Conversion::apply`], which is
//! exact and increasing. [`Conversion::preserves_precision`] tells which case applies.
//!
//! Never: floating point, network or file access, global state beyond the read-only unit
//! table, or unbounded work.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use crate::decimal::{Decimal, MAX_EXPONENT};

/// The longest unit code read, in bytes.
pub const MAX_UNIT_LEN: usize = 200;

/// The deepest nesting of parentheses read.
pub const MAX_NESTING: usize = 10;

/// Bounds the chain of definitions (`[mi_i]` → `[ft_i]` → `[in_i]` → `cm`); the table's
/// deepest chain is far shorter, so this only guards against a mistake in the table.
const MAX_DEFINITION_DEPTH: usize = 12;

/// A quantity in canonical UCUM base units.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Canonical {
    pub value: Decimal,
    pub unit: String,
}

/// `value` in `unit` (a UCUM code such as `mg`, `mg/dL`, `10*3/uL`, `mm[Hg]`, `[lb_av]`,
/// `Cel`, `kg/m2`, `/min`, `%`, `mmol/L`, `{beats}/min`), converted to canonical base units;
/// `None` when the unit is not understood or the arithmetic would lose exactness beyond 34
/// digits (see the module documentation for precision and rounding).
pub fn canonical(value: &Decimal, unit: &str) -> Option<Canonical> {
    let conversion = conversion(unit)?;
    Some(Canonical {
        value: conversion.apply(value)?,
        unit: conversion.unit,
    })
}

/// How values in one UCUM unit convert to canonical base units: read a unit once, convert
/// many values (or both bounds of a range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    unit: String,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Multiply by the factor.
    Scale(Factor),
    /// K = °C + 273.15.
    Celsius,
    /// K = (°F + 459.67) × 5/9.
    Fahrenheit,
}

/// The conversion of `unit` to canonical base units, `None` if the unit is not understood.
pub fn conversion(unit: &str) -> Option<Conversion> {
    if unit.len() > MAX_UNIT_LEN || !unit.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    if let Some(kind) = temperature(unit) {
        return Some(Conversion {
            unit: "K".into(),
            kind,
        });
    }
    let term = parse(unit, 0)?;
    Some(Conversion {
        unit: term.unit_code(),
        kind: Kind::Scale(term.factor),
    })
}

impl Conversion {
    /// The canonical unit: `g.m-3`, `s-1`, `K`, `1`.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// `value` in canonical units: exact, except that a non-terminating division rounds to 34
    /// significant digits; `None` if the product needs more than 34 digits or the exponent
    /// leaves ±[`MAX_EXPONENT`]. Increasing in `value`, so it maps a range's bounds to the
    /// converted range's bounds.
    pub fn apply(&self, value: &Decimal) -> Option<Decimal> {
        let converted = match self.kind {
            Kind::Scale(factor) => factor.apply(value)?,
            Kind::Celsius => value.checked_add(&decimal(27315, -2)?)?,
            Kind::Fahrenheit => value
                .checked_add(&decimal(45967, -2)?)?
                .checked_mul(&decimal(5, 0)?)?
                .checked_div(&decimal(9, 0)?)?,
        };
        (converted.exponent().unsigned_abs() <= MAX_EXPONENT as u32).then_some(converted)
    }

    /// Whether the factor is a power of ten (and there is no offset), so that the converted
    /// value's [`Decimal::precision_range`] is the converted precision range of the original.
    pub fn preserves_precision(&self) -> bool {
        matches!(self.kind, Kind::Scale(Factor { num: 1, den: 1, .. }))
    }
}

/// `coefficient × 10^exponent`.
fn decimal(coefficient: i128, exponent: i32) -> Option<Decimal> {
    Decimal::from_i128(coefficient)?.checked_mul_pow10(exponent)
}

/// `Cel` or `[degF]` as the whole unit, optionally annotated.
fn temperature(unit: &str) -> Option<Kind> {
    let (atom, annotation) = unit.split_at(unit.find('{').unwrap_or(unit.len()));
    let kind = match atom {
        "Cel" => Kind::Celsius,
        "[degF]" => Kind::Fahrenheit,
        _ => return None,
    };
    let annotated = annotation
        .strip_prefix('{')
        .and_then(|a| a.strip_suffix('}'))
        .is_some_and(|inner| !inner.contains(['{', '}']));
    (annotation.is_empty() || annotated).then_some(kind)
}

/// `num / den × 10^exp10`, exactly: `num` and `den` positive, coprime, and neither a multiple
/// of ten (so a power of ten has `num == den == 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Factor {
    num: i128,
    den: i128,
    exp10: i32,
}

impl Factor {
    const ONE: Factor = Factor {
        num: 1,
        den: 1,
        exp10: 0,
    };

    /// The reduced form of `num / den × 10^exp10`; `None` unless both are positive.
    fn new(num: i128, den: i128, exp10: i32) -> Option<Factor> {
        if num <= 0 || den <= 0 {
            return None;
        }
        let g = gcd(num, den);
        let (mut num, mut den, mut exp10) = (num / g, den / g, exp10);
        while num % 10 == 0 {
            num /= 10;
            exp10 = exp10.checked_add(1)?;
        }
        while den % 10 == 0 {
            den /= 10;
            exp10 = exp10.checked_sub(1)?;
        }
        Some(Factor { num, den, exp10 })
    }

    fn from_decimal(d: &Decimal) -> Option<Factor> {
        Factor::new(d.coefficient(), 1, d.exponent())
    }

    fn power_of_ten(exp10: i32) -> Factor {
        Factor {
            exp10,
            ..Factor::ONE
        }
    }

    fn times(self, other: Factor) -> Option<Factor> {
        // Cancel across first, so that products overflow only when the result would.
        let (g1, g2) = (gcd(self.num, other.den), gcd(other.num, self.den));
        Factor::new(
            (self.num / g1).checked_mul(other.num / g2)?,
            (self.den / g2).checked_mul(other.den / g1)?,
            self.exp10.checked_add(other.exp10)?,
        )
    }

    fn pow(self, n: i32) -> Option<Factor> {
        let (num, den) = if n < 0 {
            (self.den, self.num)
        } else {
            (self.num, self.den)
        };
        let k = n.unsigned_abs();
        Factor::new(
            num.checked_pow(k)?,
            den.checked_pow(k)?,
            self.exp10.checked_mul(n)?,
        )
    }

    /// `value × num / den × 10^exp10`: exact but for a non-terminating division by `den`.
    fn apply(&self, value: &Decimal) -> Option<Decimal> {
        value
            .checked_mul(&Decimal::from_i128(self.num)?)?
            .checked_div(&Decimal::from_i128(self.den)?)?
            .checked_mul_pow10(self.exp10)
    }
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A unit as a factor times base units with exponents.
#[derive(Clone, Debug)]
struct Term {
    factor: Factor,
    dims: BTreeMap<&'static str, i32>,
}

impl Term {
    fn scalar(factor: Factor) -> Term {
        Term {
            factor,
            dims: BTreeMap::new(),
        }
    }

    fn base(code: &'static str) -> Term {
        Term {
            factor: Factor::ONE,
            dims: BTreeMap::from([(code, 1)]),
        }
    }

    fn times(mut self, other: &Term) -> Option<Term> {
        self.factor = self.factor.times(other.factor)?;
        for (&base, &exponent) in &other.dims {
            let sum = self.dims.entry(base).or_insert(0);
            *sum = sum.checked_add(exponent)?;
        }
        self.dims.retain(|_, e| *e != 0);
        Some(self)
    }

    fn divided_by(self, other: Term) -> Option<Term> {
        self.times(&other.pow(-1)?)
    }

    fn pow(mut self, n: i32) -> Option<Term> {
        self.factor = self.factor.pow(n)?;
        for e in self.dims.values_mut() {
            *e = e.checked_mul(n)?;
        }
        self.dims.retain(|_, e| *e != 0);
        Some(self)
    }

    /// The canonical unit code of the base units: `g.m-3`, or `1`.
    fn unit_code(&self) -> String {
        if self.dims.is_empty() {
            return "1".into();
        }
        let parts: Vec<String> = self
            .dims
            .iter()
            .map(|(base, &e)| {
                if e == 1 {
                    base.to_string()
                } else {
                    format!("{base}{e}")
                }
            })
            .collect();
        parts.join(".")
    }
}

/// Reads a UCUM code (`mainTerm` in the specification's grammar).
fn parse(text: &str, depth: usize) -> Option<Term> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth,
    };
    let term = if parser.eat(b'/') {
        Term::scalar(Factor::ONE).divided_by(parser.term(0)?)?
    } else {
        parser.term(0)?
    };
    (parser.pos == text.len()).then_some(term)
}

/// A recursive-descent reader over ASCII text; `depth` is how many definitions deep the text
/// is (0 for the caller's code).
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    /// `term := component (('.' | '/') component)*`, left-associative.
    fn term(&mut self, nesting: usize) -> Option<Term> {
        let mut term = self.component(nesting)?;
        loop {
            if self.eat(b'.') {
                term = term.times(&self.component(nesting)?)?;
            } else if self.eat(b'/') {
                term = term.divided_by(self.component(nesting)?)?;
            } else {
                return Some(term);
            }
        }
    }

    /// `component := '(' term ')' | annotation | annotatable annotation? | factor`.
    fn component(&mut self, nesting: usize) -> Option<Term> {
        match self.peek()? {
            b'(' => {
                if nesting >= MAX_NESTING {
                    return None;
                }
                self.pos += 1;
                let term = self.term(nesting + 1)?;
                self.eat(b')').then_some(term)
            }
            b'{' => {
                self.annotation()?;
                Some(Term::scalar(Factor::ONE))
            }
            _ => {
                let term = self.annotatable()?;
                if self.peek() == Some(b'{') {
                    self.annotation()?;
                }
                Some(term)
            }
        }
    }

    /// `{…}`, without nested braces; it means nothing.
    fn annotation(&mut self) -> Option<()> {
        let inner = self.text.get(self.pos + 1..)?;
        let close = inner.find('}')?;
        if inner[..close].contains('{') {
            return None;
        }
        self.pos += close + 2;
        Some(())
    }

    /// A unit with optional prefix and exponent, or an integer factor: everything up to the
    /// next operator, parenthesis or annotation (brackets `[…]` are read whole).
    fn annotatable(&mut self) -> Option<Term> {
        let start = self.pos;
        while let Some(byte) = self.peek() {
            match byte {
                b'[' => self.pos += self.text[self.pos..].find(']')? + 1,
                b'.' | b'/' | b'(' | b')' | b'{' | b'}' | b']' => break,
                _ => self.pos += 1,
            }
        }
        resolve(&self.text[start..self.pos], self.depth)
    }
}

/// `simpleUnit exponent?` or a factor. The exponent is the trailing digits with an optional
/// sign (brackets end in `]`, so digits inside them never count).
fn resolve(token: &str, depth: usize) -> Option<Term> {
    let head = token.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &token[head.len()..];
    if head.is_empty() {
        let factor: i128 = digits.parse().ok()?;
        return Some(Term::scalar(Factor::new(factor, 1, 0)?));
    }
    if digits.is_empty() {
        // The number ten exists only to carry an exponent.
        return match head {
            "10*" | "10^" => None,
            _ => simple_unit(head, depth),
        };
    }
    let (simple, negative) = match head.as_bytes()[head.len() - 1] {
        b'-' => (&head[..head.len() - 1], true),
        b'+' => (&head[..head.len() - 1], false),
        _ => (head, false),
    };
    let magnitude: i32 = digits.parse().ok()?;
    simple_unit(simple, depth)?.pow(if negative { -magnitude } else { magnitude })
}

/// An atom, or a metric prefix followed by a metric atom.
fn simple_unit(code: &str, depth: usize) -> Option<Term> {
    if let Some(atom) = INDEX.get(code) {
        return atom.term(depth);
    }
    let (atom, exp10) = PREFIXES.iter().find_map(|&(prefix, exp10)| {
        let atom = INDEX.get(code.strip_prefix(prefix)?)?;
        atom.metric.then_some((*atom, exp10))
    })?;
    atom.term(depth)?
        .times(&Term::scalar(Factor::power_of_ten(exp10)))
}

/// UCUM's decimal prefixes (`da` before `d`).
#[rustfmt::skip]
const PREFIXES: &[(&str, i32)] = &[
    ("da", 1), ("Y", 24), ("Z", 21), ("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6),
    ("k", 3), ("h", 2), ("d", -1), ("c", -2), ("m", -3), ("u", -6), ("n", -9), ("p", -12),
    ("f", -15), ("a", -18), ("z", -21), ("y", -24),
];

/// A unit atom of the table.
struct Atom {
    code: &'static str,
    /// Whether prefixes apply.
    metric: bool,
    definition: Definition,
}

enum Definition {
    /// A dimension of its own.
    Base,
    /// UCUM's arbitrary units: not commensurable with anything else, so a dimension of its own.
    Arbitrary,
    /// `value` times the UCUM code `unit`, as in UCUM's table.
    Scaled {
        value: &'static str,
        unit: &'static str,
    },
}

impl Atom {
    fn term(&self, depth: usize) -> Option<Term> {
        match self.definition {
            Definition::Base | Definition::Arbitrary => Some(Term::base(self.code)),
            Definition::Scaled { value, unit } => {
                if depth >= MAX_DEFINITION_DEPTH {
                    return None;
                }
                let factor = Factor::from_decimal(&Decimal::parse(value).ok()?)?;
                parse(unit, depth + 1)?.times(&Term::scalar(factor))
            }
        }
    }
}

static INDEX: LazyLock<HashMap<&'static str, &'static Atom>> =
    LazyLock::new(|| ATOMS.iter().map(|atom| (atom.code, atom)).collect());

const fn base(code: &'static str) -> Atom {
    Atom {
        code,
        metric: true,
        definition: Definition::Base,
    }
}

const fn arbitrary(code: &'static str, metric: bool) -> Atom {
    Atom {
        code,
        metric,
        definition: Definition::Arbitrary,
    }
}

/// A metric unit: `value × unit`.
const fn metric(code: &'static str, value: &'static str, unit: &'static str) -> Atom {
    Atom {
        code,
        metric: true,
        definition: Definition::Scaled { value, unit },
    }
}

/// A unit that takes no prefix: `value × unit`.
const fn plain(code: &'static str, value: &'static str, unit: &'static str) -> Atom {
    Atom {
        code,
        metric: false,
        definition: Definition::Scaled { value, unit },
    }
}

/// The units known, with UCUM's definitions (ucum-essence.xml).
#[rustfmt::skip]
const ATOMS: &[Atom] = &[
    // Base units.
    base("m"), base("s"), base("g"), base("rad"), base("K"), base("C"), base("cd"), base("mol"),
    // Numbers.
    plain("10*", "10", "1"), plain("10^", "10", "1"), plain("%", "1", "10*-2"),
    plain("[ppth]", "1", "10*-3"), plain("[ppm]", "1", "10*-6"), plain("[ppb]", "1", "10*-9"),
    plain("[pptr]", "1", "10*-12"),
    // SI derived units.
    metric("sr", "1", "rad2"), metric("Hz", "1", "s-1"), metric("N", "1", "kg.m/s2"),
    metric("Pa", "1", "N/m2"), metric("J", "1", "N.m"), metric("W", "1", "J/s"),
    metric("A", "1", "C/s"), metric("V", "1", "J/C"), metric("F", "1", "C/V"),
    metric("Ohm", "1", "V/A"), metric("S", "1", "Ohm-1"), metric("Wb", "1", "V.s"),
    metric("T", "1", "Wb/m2"), metric("H", "1", "Wb/A"), metric("lm", "1", "cd.sr"),
    metric("lx", "1", "lm/m2"), metric("Bq", "1", "s-1"), metric("Gy", "1", "J/kg"),
    metric("Sv", "1", "J/kg"),
    // ISO 1000 and other units in use with the SI.
    metric("l", "1", "dm3"), metric("L", "1", "l"), metric("ar", "100", "m2"),
    plain("min", "60", "s"), plain("h", "60", "min"), plain("d", "24", "h"), plain("wk", "7", "d"),
    plain("a_t", "365.24219", "d"), plain("a_j", "365.25", "d"), plain("a_g", "365.2425", "d"),
    plain("a", "1", "a_j"), plain("mo_s", "29.53059", "d"), plain("mo_j", "1", "a_j/12"),
    plain("mo_g", "1", "a_g/12"), plain("mo", "1", "mo_j"),
    metric("t", "1e3", "kg"), metric("bar", "1e5", "Pa"), plain("atm", "101325", "Pa"),
    metric("[e]", "1.60217733e-19", "C"), metric("eV", "1", "[e].V"), plain("Ao", "0.1", "nm"),
    metric("[g]", "9.80665", "m/s2"), metric("gf", "1", "g.[g]"),
    metric("dyn", "1", "g.cm/s2"), metric("erg", "1", "dyn.cm"), metric("Ci", "3.7e10", "Bq"),
    metric("R", "2.58e-4", "C/kg"), metric("RAD", "100", "erg/g"), metric("REM", "1", "RAD"),
    // International customary units.
    plain("[in_i]", "2.54", "cm"), plain("[ft_i]", "12", "[in_i]"), plain("[yd_i]", "3", "[ft_i]"),
    plain("[mi_i]", "5280", "[ft_i]"), plain("[fth_i]", "6", "[ft_i]"),
    plain("[nmi_i]", "1852", "m"), plain("[kn_i]", "1", "[nmi_i]/h"),
    plain("[sin_i]", "1", "[in_i]2"), plain("[sft_i]", "1", "[ft_i]2"),
    plain("[syd_i]", "1", "[yd_i]2"), plain("[cin_i]", "1", "[in_i]3"),
    plain("[cft_i]", "1", "[ft_i]3"), plain("[cyd_i]", "1", "[yd_i]3"),
    plain("[mil_i]", "1e-3", "[in_i]"), plain("[hd_i]", "4", "[in_i]"),
    // US survey lengths.
    plain("[ft_us]", "1200", "m/3937"), plain("[yd_us]", "3", "[ft_us]"),
    plain("[in_us]", "1", "[ft_us]/12"), plain("[rd_us]", "16.5", "[ft_us]"),
    plain("[fur_us]", "40", "[rd_us]"), plain("[mi_us]", "8", "[fur_us]"),
    plain("[acr_us]", "160", "[rd_us]2"),
    // US, metric and British volumes.
    plain("[gal_us]", "231", "[in_i]3"), plain("[bbl_us]", "42", "[gal_us]"),
    plain("[qt_us]", "1", "[gal_us]/4"), plain("[pt_us]", "1", "[qt_us]/2"),
    plain("[gil_us]", "1", "[pt_us]/4"), plain("[foz_us]", "1", "[gil_us]/4"),
    plain("[fdr_us]", "1", "[foz_us]/8"), plain("[min_us]", "1", "[fdr_us]/60"),
    plain("[tbs_us]", "1", "[foz_us]/2"), plain("[tsp_us]", "1", "[tbs_us]/3"),
    plain("[cup_us]", "16", "[tbs_us]"), plain("[foz_m]", "30", "mL"),
    plain("[cup_m]", "240", "mL"), plain("[tsp_m]", "5", "mL"), plain("[tbs_m]", "15", "mL"),
    plain("[gal_br]", "4.54609", "l"), plain("[qt_br]", "1", "[gal_br]/4"),
    plain("[pt_br]", "1", "[qt_br]/2"), plain("[gil_br]", "1", "[pt_br]/4"),
    plain("[foz_br]", "1", "[gil_br]/5"),
    // Avoirdupois, troy and apothecaries' masses.
    plain("[gr]", "64.79891", "mg"), plain("[lb_av]", "7000", "[gr]"),
    plain("[oz_av]", "1", "[lb_av]/16"), plain("[dr_av]", "1", "[oz_av]/16"),
    plain("[scwt_av]", "100", "[lb_av]"), plain("[lcwt_av]", "112", "[lb_av]"),
    plain("[ston_av]", "20", "[scwt_av]"), plain("[lton_av]", "20", "[lcwt_av]"),
    plain("[stone_av]", "14", "[lb_av]"), plain("[pwt_tr]", "24", "[gr]"),
    plain("[oz_tr]", "20", "[pwt_tr]"), plain("[lb_tr]", "12", "[oz_tr]"),
    plain("[sc_ap]", "20", "[gr]"), plain("[dr_ap]", "3", "[sc_ap]"),
    plain("[oz_ap]", "8", "[dr_ap]"), plain("[lb_ap]", "12", "[oz_ap]"),
    plain("[car_m]", "0.2", "g"),
    // Force, pressure and heat.
    plain("[lbf_av]", "1", "[lb_av].[g]"), plain("[psi]", "1", "[lbf_av]/[in_i]2"),
    metric("m[H2O]", "9.80665", "kPa"), metric("m[Hg]", "133.3220", "kPa"),
    plain("[in_i'H2O]", "1", "m[H2O].[in_i]/m"), plain("[in_i'Hg]", "1", "m[Hg].[in_i]/m"),
    plain("[degR]", "5", "K/9"), metric("cal_[15]", "4.18580", "J"),
    metric("cal_[20]", "4.18190", "J"), metric("cal_m", "4.19002", "J"),
    metric("cal_IT", "4.1868", "J"), metric("cal_th", "4.184", "J"), metric("cal", "1", "cal_th"),
    plain("[Cal]", "1", "kcal_th"), plain("[Btu_th]", "1.054350", "kJ"),
    plain("[Btu_IT]", "1.05505585262", "kJ"), plain("[Btu]", "1", "[Btu_th]"),
    plain("[HP]", "550", "[ft_i].[lbf_av]/s"),
    // Clinical units.
    plain("[PRU]", "1", "mm[Hg].s/ml"), plain("[wood'U]", "1", "mm[Hg].min/L"),
    plain("[diop]", "1", "/m"), plain("[mesh_i]", "1", "/[in_i]"), plain("[drp]", "1", "ml/12"),
    plain("[hnsf'U]", "1", "1"), plain("[MET]", "3.5", "mL/min/kg"), plain("[HPF]", "1", "1"),
    plain("[LPF]", "100", "1"), plain("[S]", "1", "10*-13.s"),
    // Chemistry.
    metric("eq", "1", "mol"), metric("osm", "1", "mol"), metric("g%", "1", "g/dl"),
    metric("kat", "1", "mol/s"), metric("U", "1", "umol/min"),
    arbitrary("[IU]", true), metric("[iU]", "1", "[IU]"),
    arbitrary("[arb'U]", false), arbitrary("[USP'U]", false), arbitrary("[GPL'U]", false),
    arbitrary("[MPL'U]", false), arbitrary("[APL'U]", false), arbitrary("[beth'U]", false),
    arbitrary("[anti'Xa'U]", false), arbitrary("[todd'U]", false), arbitrary("[dye'U]", false),
    arbitrary("[smgy'U]", false), arbitrary("[bdsk'U]", false), arbitrary("[ka'U]", false),
    arbitrary("[knk'U]", false), arbitrary("[mclg'U]", false), arbitrary("[tb'U]", false),
    arbitrary("[CCID_50]", false), arbitrary("[TCID_50]", false), arbitrary("[EID_50]", false),
    arbitrary("[PFU]", false), arbitrary("[FFU]", false), arbitrary("[CFU]", false),
    arbitrary("[IR]", false), arbitrary("[BAU]", false), arbitrary("[AU]", false),
    arbitrary("[Amb'a'1'U]", false), arbitrary("[PNU]", false), arbitrary("[Lf]", false),
    arbitrary("[D'ag'U]", false), arbitrary("[FEU]", false), arbitrary("[ELU]", false),
    arbitrary("[EU]", false),
    // Information.
    metric("bit", "1", "1"), metric("By", "8", "bit"), metric("Bd", "1", "/s"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn canon(value: &str, unit: &str) -> Canonical {
        canonical(&d(value), unit).unwrap_or_else(|| panic!("{value} {unit} is not understood"))
    }

    /// `(unit, canonical unit, value of 1 unit)`; `n/q` stands for that quotient.
    #[rustfmt::skip]
    const FACTORS: &[(&str, &str, &str)] = &[
        ("m", "m", "1"), ("mm", "m", "0.001"), ("dam", "m", "10"), ("min", "s", "60"),
        ("ms", "s", "0.001"), ("h", "s", "3600"), ("d", "s", "86400"), ("wk", "s", "604800"),
        ("mo", "s", "2629800"), ("a", "s", "31557600"), ("mg", "g", "0.001"), ("ug", "g", "1e-6"),
        ("ng", "g", "1e-9"), ("pg", "g", "1e-12"), ("kg", "g", "1000"), ("L", "m3", "0.001"),
        ("l", "m3", "0.001"), ("mL", "m3", "1e-6"), ("dL", "m3", "1e-4"), ("uL", "m3", "1e-9"),
        ("fL", "m3", "1e-18"), ("mmol", "mol", "0.001"), ("meq", "mol", "0.001"),
        ("mosm/kg", "g-1.mol", "1e-6"), ("mg/dL", "g.m-3", "10"), ("mmol/L", "m-3.mol", "1"),
        ("10*3/uL", "m-3", "1e12"), ("10^9/L", "m-3", "1e12"), ("kg/m2", "g.m-2", "1000"),
        ("Hz", "s-1", "1"), ("/min", "s-1", "1/60"), ("N", "g.m.s-2", "1000"),
        ("Pa", "g.m-1.s-2", "1000"), ("kPa", "g.m-1.s-2", "1e6"),
        ("mm[Hg]", "g.m-1.s-2", "133322"), ("cm[H2O]", "g.m-1.s-2", "98066.5"),
        ("bar", "g.m-1.s-2", "1e8"), ("atm", "g.m-1.s-2", "101325000"), ("J", "g.m2.s-2", "1000"),
        ("kcal", "g.m2.s-2", "4184000"), ("W", "g.m2.s-3", "1000"), ("[lb_av]", "g", "453.59237"),
        ("[oz_av]", "g", "28.349523125"), ("[in_i]", "m", "0.0254"), ("[ft_i]", "m", "0.3048"),
        ("[mi_i]", "m", "1609.344"), ("[gal_us]", "m3", "0.003785411784"), ("%", "1", "0.01"),
        ("[ppm]", "1", "1e-6"), ("g%", "g.m-3", "1e4"), ("{score}", "1", "1"), ("1", "1", "1"),
        ("100", "1", "100"), ("/[HPF]", "1", "1"), ("[IU]/L", "[IU].m-3", "1000"),
        ("m[IU]/mL", "[IU].m-3", "1000"), ("[iU]", "[IU]", "1"), ("U", "mol.s-1", "1e-6/60"),
        ("[arb'U]/mL", "[arb'U].m-3", "1e6"), ("[CFU]/mL", "[CFU].m-3", "1e6"), ("cd", "cd", "1"),
        ("K", "K", "1"), ("mL{total}", "m3", "1e-6"), ("mL/min/{1.73_m2}", "m3.s-1", "1e-6/60"),
        ("(m.s)/s", "m", "1"), ("m.(s/(m.s))", "1", "1"), ("m+2", "m2", "1"), ("s-1", "s-1", "1"),
    ];

    /// Pairs of `(value, unit)` that are one quantity.
    #[rustfmt::skip]
    const SAME: &[[(&str, &str); 2]] = &[
        [("1000", "mg"), ("1", "g")], [("1", "g"), ("0.001", "kg")],
        [("1", "mg/dL"), ("0.01", "g/L")], [("1", "mg/dL"), ("10", "g.m-3")],
        [("2.5", "mmol/L"), ("2.5", "umol/mL")], [("140", "meq/L"), ("140", "mmol/L")],
        [("4.5", "10*3/uL"), ("4.5", "10*9/L")], [("4.5", "10*3/uL"), ("4500", "/uL")],
        [("120", "mm[Hg]"), ("15.99864", "kPa")], [("1", "[lb_av]"), ("0.45359237", "kg")],
        [("16", "[oz_av]"), ("1", "[lb_av]")], [("1", "[ft_i]"), ("12", "[in_i]")],
        [("1", "[mi_i]"), ("1.609344", "km")], [("60", "/min"), ("1", "Hz")],
        [("60", "{beats}/min"), ("1", "Hz")], [("72", "/min"), ("1.2", "Hz")],
        [("72", "{beats}/min"), ("72", "/min")], [("22.5", "kg/m2"), ("22500", "g/m2")],
        [("50", "%"), ("0.5", "1")], [("1", "%"), ("10", "[ppth]")], [("1", "L"), ("1", "dm3")],
        [("1", "l"), ("1000", "mL")], [("1", "U/L"), ("1", "umol/min/L")],
        [("1", "cal"), ("4.184", "J")], [("1", "bar"), ("100", "kPa")],
        [("1", "atm"), ("101.325", "kPa")], [("1", "mo"), ("30.4375", "d")],
        [("1", "a"), ("12", "mo")], [("1", "wk"), ("168", "h")], [("1", "mL{total}"), ("1", "mL")],
        [("1", "[IU]/L"), ("1", "m[IU]/mL")], [("1", "g%"), ("1", "g/dL")],
        [("1", "[LPF]"), ("100", "[HPF]")], [("9", "[degR]"), ("5", "K")],
        [("1", "N"), ("1", "kg.m/s2")], [("1", "kg.m.s-2"), ("1", "kg.m/s/s")],
        [("1", "m/s/s"), ("1", "m/(s.s)")], [("1", "/min"), ("1", "min-1")],
        [("37", "Cel"), ("310.15", "K")], [("98.6", "[degF]"), ("37", "Cel")],
        [("-40", "[degF]"), ("-40", "Cel")], [("32", "[degF]"), ("0", "Cel")],
        [("212", "[degF]"), ("100", "Cel")], [("37", "Cel{oral}"), ("37", "Cel")],
    ];

    /// Values in units with a power-of-ten factor.
    #[rustfmt::skip]
    const POWER_OF_TEN: &[(&str, &str)] = &[
        ("5.4", "mg"), ("1", "mg/dL"), ("4.5", "10*3/uL"), ("2.50", "kg/m2"), ("37", "%"),
        ("1.0e2", "mmol/L"), ("-3", "ug/mL"), ("140", "meq/L"),
    ];

    /// Codes that are not UCUM, not convertible, or not read.
    #[rustfmt::skip]
    const REFUSED: &[&str] = &[
        "", " ", "/", ".", "10*", "10^", "((((m", "m)", "()", "m-", "m+", "-1", "mg//dL", "mg/",
        "mg.", ".mg", "furlongs", "[pH]", "dB", "B", "deg", "[Ch]", "mEq/L", "Kg", "mmin",
        "k[lb_av]", "0", "1/0", "mg dL", "µg", "{beats", "beats}", "{a{b}}", "[in_i", "in_i]",
        "m[", "2mL", "m2m", "m999999999999", "[lb_av]999", "10*99999999999", "m(", "(m.s)2",
        "((((((((((((m))))))))))))", "mCel", "Cel2", "Cel/min", "/Cel", "(Cel)", "[degF].m",
        "Cel{a}{b}",
    ];

    #[test]
    fn units_resolve_to_base_units_with_their_ucum_factors() {
        for &(unit, base, factor) in FACTORS {
            let expected = match factor.split_once('/') {
                Some((n, q)) => d(n).checked_div(&d(q)).unwrap(),
                None => d(factor),
            };
            let c = canon("1", unit);
            assert_eq!((c.unit.as_str(), c.value), (base, expected), "{unit}");
        }
    }

    #[test]
    fn one_quantity_in_different_units_is_one_canonical_quantity() {
        for &[(v1, u1), (v2, u2)] in SAME {
            assert_eq!(canon(v1, u1), canon(v2, u2), "{v1} {u1} vs {v2} {u2}");
        }
    }

    #[test]
    fn what_is_not_understood_is_none() {
        for unit in REFUSED {
            assert_eq!(conversion(unit), None, "{unit:?}");
        }
        assert!(conversion("((((((((((m))))))))))").is_some());
        assert_eq!(conversion(&("m.".repeat(MAX_UNIT_LEN) + "m")), None);
        assert_eq!(conversion(&"(".repeat(100_000)), None);
    }

    #[test]
    fn power_of_ten_factors_carry_the_written_precision() {
        let c = canon("5.4", "mg");
        assert_eq!((c.value.coefficient(), c.value.exponent()), (54, -4));
        assert_eq!(canon("0", "Cel").value.to_string(), "273.15");
        for &(value, unit) in POWER_OF_TEN {
            let conversion = conversion(unit).unwrap();
            assert!(conversion.preserves_precision(), "{unit}");
            let (low, high) = d(value).precision_range();
            let range = (
                conversion.apply(&low).unwrap(),
                conversion.apply(&high).unwrap(),
            );
            let converted = conversion.apply(&d(value)).unwrap();
            assert_eq!(converted.precision_range(), range, "{value} {unit}");
        }
    }

    #[test]
    fn other_factors_convert_the_bounds_of_the_range_exactly() {
        // Half a unit of 2 [lb_av] is 226.796185 g: no decimal precision expresses it, so the
        // value keeps the exact product and the range is converted bound by bound.
        let pound = conversion("[lb_av]").unwrap();
        let value = pound.apply(&d("2")).unwrap();
        assert_eq!(value, d("907.18474"));
        let (low, high) = d("2").precision_range();
        let range = (pound.apply(&low).unwrap(), pound.apply(&high).unwrap());
        assert_eq!(range, (d("680.388555"), d("1133.980925")));
        assert_ne!(value.precision_range(), range);
        for unit in ["[lb_av]", "/min", "Cel", "[degF]", "[in_i]", "[ft_us]"] {
            assert!(!conversion(unit).unwrap().preserves_precision(), "{unit}");
        }
    }

    #[test]
    fn non_terminating_divisions_round_to_34_digits_and_long_products_are_refused() {
        for (value, unit, rounded) in [
            ("1", "/min", "0.01666666666666666666666666666666667"),
            ("70", "/min", "1.166666666666666666666666666666667"),
            ("1", "[ft_us]", "0.3048006096012192024384048768097536"),
            ("98.7", "[degF]", "310.2055555555555555555555555555556"),
        ] {
            assert_eq!(canon(value, unit).value, d(rounded), "{value} {unit}");
        }
        let wide = d("1234567890123456789012345678901234");
        assert!(canonical(&wide, "mg").is_some());
        assert!(canonical(&wide, "[lb_av]").is_none());
        assert!(canonical(&d("1e-990"), "ug").is_some());
        assert!(canonical(&d("1e-999"), "ug").is_none());
        assert!(canonical(&d("1e999"), "Mm").is_none());
    }

    #[test]
    fn canonical_units_are_fixed_points() {
        for unit in [
            "mg/dL",
            "mm[Hg]",
            "/min",
            "[IU]/L",
            "kcal/d",
            "[psi]",
            "[CFU]2/mL",
        ] {
            let conversion = conversion(unit).unwrap();
            let again = super::conversion(conversion.unit()).unwrap();
            assert_eq!(again.unit(), conversion.unit(), "{unit}");
            assert_eq!(again.apply(&d("1.50")).unwrap().to_string(), "1.50");
        }
    }

    #[test]
    fn every_atom_of_the_table_resolves() {
        let mut codes = std::collections::HashSet::new();
        for atom in ATOMS {
            assert!(codes.insert(atom.code), "{} twice", atom.code);
            let code = match atom.code {
                "10*" | "10^" => format!("{}2", atom.code),
                code => code.to_string(),
            };
            assert!(conversion(&code).is_some(), "{code}");
            let prefixed = conversion(&format!("m{code}"));
            assert_eq!(prefixed.is_some(), atom.metric, "m{code}");
        }
    }

    fn any_decimal() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), -40i32..40).prop_map(|(c, e)| d(&format!("{c}e{e}")))
    }

    /// Values as measured: a few digits, an exponent near the unit's.
    fn measured() -> impl Strategy<Value = Decimal> {
        (-10i64.pow(10)..10i64.pow(10), -12i32..6).prop_map(|(c, e)| d(&format!("{c}e{e}")))
    }

    /// Units with decimal factors, whose products are exact.
    #[rustfmt::skip]
    const DECIMAL_UNITS: &[&str] =
        &["mg", "dL", "[lb_av]", "m[Hg]", "[in_i]", "%", "10*3", "h", "[IU]", "kcal"];

    /// Units with a rational factor or an offset.
    const OTHER_UNITS: &[&str] = &["/min", "Cel", "[degF]", "[ft_us]"];

    proptest! {
        #[test]
        fn never_panics_on_any_text(unit in any::<String>(), value in any_decimal()) {
            let _ = canonical(&value, &unit);
        }

        #[test]
        fn never_panics_on_unit_like_text(
            unit in r"[-+*^%'./(){}\[\]0-9a-zA-Z_]{0,40}",
            value in any_decimal(),
        ) {
            let _ = canonical(&value, &unit);
        }

        #[test]
        fn converted_ranges_keep_their_order_and_precision(
            unit in prop::sample::select([DECIMAL_UNITS, OTHER_UNITS].concat()),
            value in measured(),
        ) {
            let conversion = conversion(unit).unwrap();
            let (low, high) = value.precision_range();
            let converted = conversion.apply(&value).unwrap();
            let range = (conversion.apply(&low).unwrap(), conversion.apply(&high).unwrap());
            prop_assert!(range.0 < converted && converted < range.1);
            if conversion.preserves_precision() {
                prop_assert_eq!(converted.precision_range(), range);
            }
        }

        #[test]
        fn multiplying_units_multiplies_factors(
            a in prop::sample::select(DECIMAL_UNITS),
            b in prop::sample::select(DECIMAL_UNITS),
            value in any_decimal(),
        ) {
            let product = conversion(&format!("{a}.{b}")).unwrap();
            let (a, b) = (conversion(a).unwrap(), conversion(b).unwrap());
            prop_assert_eq!(product.apply(&value), a.apply(&value).and_then(|v| b.apply(&v)));
            let again = super::conversion(product.unit()).unwrap();
            prop_assert_eq!(again.unit(), product.unit());
        }
    }
}
