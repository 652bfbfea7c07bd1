//! Sums that vectorise: floating-point addition is not associative, so the compiler keeps a plain
//! `iter().sum()` scalar, one dependent add per value. These keep 16 partial sums (one 512-bit
//! register, or several narrower ones) over fixed-size chunks, which the compiler can prove in
//! bounds, and add them up in f64 at the end.

const LANES: usize = 16;

fn wide(acc: [f32; LANES]) -> f64 {
    acc.iter().map(|&a| f64::from(a)).sum()
}

/// `Σ f(x)` over `xs`, returned in f64.
#[inline(always)]
pub(crate) fn sum_map(xs: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut acc = [0.0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += f(x);
        }
    }
    wide(acc) + tail.iter().map(|&x| f64::from(f(x))).sum::<f64>()
}

/// `(Σ f(a, b, c).0, Σ f(a, b, c).1)` over three slices of the same length, in f64.
#[inline(always)]
pub(crate) fn sum_pairs3(
    (a, b, c): (&[f32], &[f32], &[f32]),
    f: impl Fn(f32, f32, f32) -> (f32, f32),
) -> (f64, f64) {
    assert!(
        a.len() == b.len() && b.len() == c.len(),
        "sum_pairs3: lengths differ"
    );
    let (mut s, mut t) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (ca, cb, cc) = (
        a.chunks_exact(LANES),
        b.chunks_exact(LANES),
        c.chunks_exact(LANES),
    );
    let tails = (ca.remainder(), cb.remainder(), cc.remainder());
    for ((a, b), c) in ca.zip(cb).zip(cc) {
        for lane in 0..LANES {
            let (u, v) = f(a[lane], b[lane], c[lane]);
            s[lane] += u;
            t[lane] += v;
        }
    }
    let (mut s, mut t) = (wide(s), wide(t));
    for ((&a, &b), &c) in tails.0.iter().zip(tails.1).zip(tails.2) {
        let (u, v) = f(a, b, c);
        s += f64::from(u);
        t += f64::from(v);
    }
    (s, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both against a plain f64 loop, on lengths below, at and above a whole number of chunks.
    #[test]
    fn sums_match_a_plain_loop() {
        for len in [0, 5, 16, 37, 1000] {
            let a: Vec<f32> = (0..len).map(|i| (i % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..len).map(|i| (i % 7) as f32 * 0.5).collect();
            let c: Vec<f32> = (0..len).map(|i| (i % 3) as f32).collect();
            let plain: f64 = a.iter().map(|&x| f64::from(x * x)).sum();
            assert_eq!(sum_map(&a, |x| x * x), plain, "len {len}");
            let (s, t) = sum_pairs3((&a, &b, &c), |a, b, c| (a + c, a * b));
            let ps: f64 = a.iter().zip(&c).map(|(&a, &c)| f64::from(a + c)).sum();
            let pt: f64 = a.iter().zip(&b).map(|(&a, &b)| f64::from(a * b)).sum();
            assert_eq!((s, t), (ps, pt), "len {len}");
        }
    }
}
