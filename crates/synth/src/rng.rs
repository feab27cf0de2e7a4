//! Portable randomness and arithmetic.
//!
//! Output must be byte-identical on every machine, so this module avoids
//! everything whose result may differ between platforms or library versions:
//! `usize`-width sampling, `rand`'s distribution algorithms, and the
//! platform `libm` (`exp`, `ln`, `powf`, `cos` may differ in the last bit
//! between glibc, musl and macOS). Only the ChaCha8 key stream and IEEE-754
//! basic operations (`+ - * /`, `sqrt`), which are exactly specified, are used.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Deterministic random source for one generation unit (a patient, the
/// institution registry, ...).
pub(crate) struct Rng(ChaCha8Rng);

/// Domain separation tags so that different units never share a key stream.
pub(crate) const DOMAIN_REGISTRY: u64 = 0x5245_4749_5354_5259; // "REGISTRY"
pub(crate) const DOMAIN_PATIENT: u64 = 0x5041_5449_454e_5421; // "PATIENT!"

/// SplitMix64 finaliser: a bijective mixer of 64-bit values.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator keyed by (seed, domain, index): independent of any other
    /// index, so unit `i` can be generated without generating `0..i`.
    pub(crate) fn new(seed: u64, domain: u64, index: u64) -> Rng {
        let mut key = [0u8; 32];
        key[0..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&domain.to_le_bytes());
        key[16..24].copy_from_slice(&index.to_le_bytes());
        key[24..32].copy_from_slice(&mix64(seed ^ mix64(domain ^ mix64(index))).to_le_bytes());
        Rng(ChaCha8Rng::from_seed(key))
    }

    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform integer in `0..n` (n > 0), by the multiply-shift method.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a slice of length `n` (n > 0).
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform integer in `lo..=hi`.
    pub(crate) fn int(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform float in `[0, 1)` with 53 random bits.
    pub(crate) fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform float in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Approximately standard normal: Irwin–Hall sum of 12 uniforms, which
    /// needs no transcendental function (bounded to ±6 sd).
    pub(crate) fn normal(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += self.f64();
        }
        s - 6.0
    }

    /// Normal with mean and standard deviation.
    pub(crate) fn gauss(&mut self, mean: f64, sd: f64) -> f64 {
        mean + sd * self.normal()
    }

    /// Log-normal with the given median and log-scale sigma.
    pub(crate) fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * exp(sigma * self.normal())
    }

    /// Index chosen with the given integer weights (not all zero).
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        debug_assert!(total > 0);
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            let w = u64::from(w);
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }

    /// Element of a slice chosen with a weight extracted by `weight`.
    pub(crate) fn pick_by<'a, T>(&mut self, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
        let total: u64 = items.iter().map(|t| u64::from(weight(t))).sum();
        let mut r = self.below(total.max(1));
        for t in items {
            let w = u64::from(weight(t));
            if r < w {
                return t;
            }
            r -= w;
        }
        &items[items.len() - 1]
    }

    /// Uniformly chosen element.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Poisson-distributed count (Knuth's method on uniforms; fine for small means).
    pub(crate) fn poisson(&mut self, mean: f64) -> u32 {
        if mean <= 0.0 {
            return 0;
        }
        let limit = exp(-mean);
        let mut k = 0;
        let mut p = self.f64();
        while p > limit && k < 1000 {
            k += 1;
            p *= self.f64();
        }
        k
    }
}

/// `e^x` using only basic IEEE operations (argument halving + Taylor series),
/// hence bit-identical on every platform. Accurate to ~1e-15 relative.
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 700.0 {
        return f64::INFINITY;
    }
    if x < -700.0 {
        return 0.0;
    }
    let mut r = x;
    let mut k = 0;
    while r.abs() > 0.5 {
        r /= 2.0;
        k += 1;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=20 {
        term *= r / f64::from(i);
        sum += term;
    }
    for _ in 0..k {
        sum *= sum;
    }
    sum
}

/// Natural logarithm using only basic IEEE operations (x > 0).
pub(crate) fn ln(x: f64) -> f64 {
    debug_assert!(x > 0.0);
    const LN2: f64 = std::f64::consts::LN_2;
    let mut m = x;
    let mut e = 0i32;
    while m > 1.5 {
        m /= 2.0;
        e += 1;
    }
    while m < 0.75 {
        m *= 2.0;
        e -= 1;
    }
    // ln(m) = 2 atanh((m-1)/(m+1)), |t| <= 0.2
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let mut term = t;
    let mut sum = 0.0;
    let mut n = 1.0;
    for _ in 0..30 {
        sum += term / n;
        term *= t2;
        n += 2.0;
    }
    2.0 * sum + f64::from(e) * LN2
}

/// `x^y` for x > 0, portable.
pub(crate) fn pow(x: f64, y: f64) -> f64 {
    exp(y * ln(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_math_is_accurate() {
        for &x in &[-3.2, -0.5, 0.0, 0.1, 1.0, 2.5, 10.0] {
            let a = exp(x);
            let b = x.exp();
            assert!(((a - b) / b).abs() < 1e-13, "exp({x}) = {a} vs {b}");
        }
        for &x in &[0.01, 0.5, 1.0, 1.7, 42.0, 12345.0] {
            let a = ln(x);
            let b = x.ln();
            assert!((a - b).abs() < 1e-13, "ln({x}) = {a} vs {b}");
        }
        assert!((pow(1.2, -1.094) - 1.2f64.powf(-1.094)).abs() < 1e-13);
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let mut a = Rng::new(1, DOMAIN_PATIENT, 5);
        let mut b = Rng::new(1, DOMAIN_PATIENT, 5);
        let mut c = Rng::new(1, DOMAIN_PATIENT, 6);
        let xa: Vec<u64> = (0..8).map(|_| a.u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn sampling_stays_in_range() {
        let mut r = Rng::new(9, DOMAIN_REGISTRY, 0);
        for _ in 0..10_000 {
            assert!(r.below(7) < 7);
            let v = r.int(-3, 3);
            assert!((-3..=3).contains(&v));
            let f = r.f64();
            assert!((0.0..1.0).contains(&f));
            assert!(r.normal().abs() <= 6.0);
        }
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[r.weighted(&[1, 0, 2])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(counts[2] > counts[0] * 3 / 2, "{counts:?}");
    }
}
