//! `dst[i][j] = Σ_q a[i][q] · b[j][q]`: many dot products between the rows of two matrices whose
//! summed dimension is contiguous. This is the layout of the weight gradient (`dy · colᵀ`, summed
//! over pixels), which gemm handles poorly: it packs both operands with scalar strided loads
//! (gemm wants the summed dimension strided). Here each 4×4 tile of outputs keeps 16 vector
//! accumulators in registers while streaming the 8 rows once.
//!
//! The body is written once in plain Rust and compiled three times: for AVX-512, for AVX2 + FMA
//! (picked at run time, where the CPU has them), and for the baseline target.

/// Lanes of the vector accumulators of the widest variant; narrower variants use fewer.
const TILE: usize = 4;

/// Rows `a` (`m` rows of stride `lda`) dotted with rows `b` (`n` rows of stride `ldb`) over the
/// first `len` elements of each row; `dst` is `m × n` row-major.
pub fn dot_products(dims: [usize; 3], a: (&[f32], usize), b: (&[f32], usize), dst: &mut [f32]) {
    let [m, n, len] = dims;
    assert!(dst.len() >= m * n, "dot_products destination too small");
    assert!(
        m == 0 || a.0.len() >= (m - 1) * a.1 + len,
        "dot_products: `a` too short"
    );
    assert!(
        n == 0 || b.0.len() >= (n - 1) * b.1 + len,
        "dot_products: `b` too short"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for (checked above).
            return unsafe { dot_products_avx512(dims, a, b, dst) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { dot_products_avx2(dims, a, b, dst) };
        }
    }
    dot_products_body::<4>(dims, a, b, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn dot_products_avx512(dims: [usize; 3], a: (&[f32], usize), b: (&[f32], usize), dst: &mut [f32]) {
    dot_products_body::<16>(dims, a, b, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_products_avx2(dims: [usize; 3], a: (&[f32], usize), b: (&[f32], usize), dst: &mut [f32]) {
    dot_products_body::<8>(dims, a, b, dst)
}

#[inline(always)]
fn dot_products_body<const L: usize>(
    dims: [usize; 3],
    (a, lda): (&[f32], usize),
    (b, ldb): (&[f32], usize),
    dst: &mut [f32],
) {
    let [m, n, len] = dims;
    let row_a = |i: usize| &a[i * lda..i * lda + len];
    let row_b = |j: usize| &b[j * ldb..j * ldb + len];
    let full_m = m / TILE * TILE;
    let full_n = n / TILE * TILE;
    for i0 in (0..full_m).step_by(TILE) {
        let rows_a: [&[f32]; TILE] = std::array::from_fn(|i| row_a(i0 + i));
        for j0 in (0..full_n).step_by(TILE) {
            let rows_b: [&[f32]; TILE] = std::array::from_fn(|j| row_b(j0 + j));
            let sums = tile::<L>(&rows_a, &rows_b, len);
            for (i, row) in sums.iter().enumerate() {
                dst[(i0 + i) * n + j0..][..TILE].copy_from_slice(row);
            }
        }
    }
    // Edges (rows of `a` or `b` past the last full tile): one dot product at a time.
    for i in 0..m {
        let cols = if i < full_m { full_n..n } else { 0..n };
        for j in cols {
            dst[i * n + j] = dot::<L>(row_a(i), row_b(j));
        }
    }
}

/// A `TILE × TILE` block of dot products, `L` lanes per accumulator.
#[inline(always)]
fn tile<const L: usize>(a: &[&[f32]; TILE], b: &[&[f32]; TILE], len: usize) -> [[f32; TILE]; TILE] {
    let mut acc = [[[0.0f32; L]; TILE]; TILE];
    let chunks = len / L;
    for t in 0..chunks {
        let q = t * L;
        let av: [[f32; L]; TILE] = std::array::from_fn(|i| a[i][q..q + L].try_into().unwrap());
        let bv: [[f32; L]; TILE] = std::array::from_fn(|j| b[j][q..q + L].try_into().unwrap());
        for i in 0..TILE {
            for j in 0..TILE {
                for l in 0..L {
                    acc[i][j][l] = av[i][l].mul_add(bv[j][l], acc[i][j][l]);
                }
            }
        }
    }
    let tail = chunks * L;
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let head: f32 = acc[i][j].iter().sum();
            head + a[i][tail..len]
                .iter()
                .zip(&b[j][tail..len])
                .map(|(x, y)| x * y)
                .sum::<f32>()
        })
    })
}

/// One dot product, `L` lanes.
#[inline(always)]
fn dot<const L: usize>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; L];
    let mut chunks_a = a.chunks_exact(L);
    let mut chunks_b = b.chunks_exact(L);
    for (x, y) in (&mut chunks_a).zip(&mut chunks_b) {
        for l in 0..L {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_dot_products() {
        // Sizes with full tiles, edge rows on both sides and a tail shorter than any lane count.
        for (m, n, len) in [(4, 4, 64), (5, 7, 37), (9, 3, 100), (1, 1, 3), (8, 13, 16)] {
            let (lda, ldb) = (len + 3, len + 5);
            let a: Vec<f32> = (0..m * lda).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..n * ldb).map(|i| ((i * 17) % 7) as f32 - 3.0).collect();
            let mut dst = vec![f32::NAN; m * n];
            dot_products([m, n, len], (&a, lda), (&b, ldb), &mut dst);
            for i in 0..m {
                for j in 0..n {
                    let naive: f32 = (0..len).map(|q| a[i * lda + q] * b[j * ldb + q]).sum();
                    let got = dst[i * n + j];
                    assert!(
                        (got - naive).abs() <= 1e-3 * (1.0 + naive.abs()),
                        "({i},{j}): {got} vs {naive}"
                    );
                }
            }
        }
    }
}
