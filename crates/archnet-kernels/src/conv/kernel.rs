//! 2-D convolution on plain `f32` slices (NCHW, one group): forward, input gradient, weight
//! gradient and bias gradient, each as im2col + one matrix product per group of samples.
//!
//! Why not burn-flex's own convolution: it converts to NHWC and back around every call, builds
//! its im2col buffers fresh each time, and computes both gradients through generic fallbacks (the
//! weight gradient as a convolution whose *kernel* is the whole output-gradient image). The
//! profile of base-model training showed less than a third of the time in the matrix products
//! (results/bench.md). Here NCHW is the natural layout of `W · col` (`[C_out, K] · [K, H_out·W_out]`
//! is exactly one sample's output), buffers are per worker and reused across the samples it
//! handles, and every gradient is one product of the same three matrices.
//!
//! Samples are processed in *groups* whose columns sit side by side in one `col` matrix, so that
//! small feature maps (ResNet's 7×7 stage) still make wide products. Groups run in parallel;
//! within a group the product runs on one thread unless there are fewer groups than threads.
//! The weight gradient sums one partial product per group in group order, so results do not
//! depend on the number of threads.

use std::cell::RefCell;

use gemm::{Parallelism, gemm};

use super::dot::dot_products;
use rayon::prelude::*;

/// Columns a group of samples aims for in its `col` matrix: wide enough for an efficient product,
/// small enough that a group's buffers stay in cache-friendly sizes.
const TARGET_GROUP_COLUMNS: usize = 512;

/// The weight gradient's groups are wider: each group adds a whole `[C_out, K]` partial product,
/// which for ResNet's 512-channel stage (K = 4,608) is as large as the group's own data.
const WEIGHT_GRADIENT_GROUP_COLUMNS: usize = 2048;

thread_local! {
    /// Each worker's `col` and side-by-side buffers, kept between calls: fresh multi-megabyte
    /// buffers every step cost page faults (the kernel zeroing pages showed in the profile).
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with this thread's scratch buffers (or fresh ones if a nested task on the same
/// thread holds them: gemm's own parallel loop can run another group's task here).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>, &mut Vec<f32>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => {
            let (a, b) = &mut *buffers;
            f(a, b)
        }
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

/// From this many output channels on, the weight gradient is one gemm per group; below, the
/// dot-product kernel of `dot` (measured with the paper keys' and the cnn's layer shapes: the dot
/// kernel is 2–3× faster at 3–30 channels and 1.3–1.7× slower at 32 and 64).
const GEMM_WEIGHT_GRADIENT_MIN_CHANNELS: usize = 32;

/// The geometry of one convolution: NCHW input, `[C_out, C_in, kh, kw]` weight, symmetric padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Samples N.
    pub batch: usize,
    /// Input channels C_in.
    pub in_channels: usize,
    /// Input height and width.
    pub in_size: [usize; 2],
    /// Output channels C_out.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Zero padding on each side, along height and width.
    pub padding: [usize; 2],
    /// Dilation along height and width.
    pub dilation: [usize; 2],
}

impl ConvGeometry {
    /// Output height and width, or `None` when the kernel does not fit the padded input.
    pub fn out_size(&self) -> Option<[usize; 2]> {
        let along = |d: usize| {
            let span = self.dilation[d] * (self.kernel[d].checked_sub(1)?) + 1;
            let padded = self.in_size[d] + 2 * self.padding[d];
            if span > padded || self.stride[d] == 0 {
                return None;
            }
            Some((padded - span) / self.stride[d] + 1)
        };
        Some([along(0)?, along(1)?])
    }

    /// Panics unless the slices have the lengths this geometry implies: the products read
    /// through raw pointers, so a short slice must never reach them.
    fn check_lengths(&self, input: usize, weight: usize, output: usize) {
        let expected = [
            (
                "input",
                input,
                self.batch * self.in_channels * self.in_pixels(),
            ),
            ("weight", weight, self.out_channels * self.col_rows()),
            (
                "output",
                output,
                self.batch * self.out_channels * self.out_pixels(),
            ),
        ];
        for (what, got, want) in expected {
            assert_eq!(got, want, "convolution {what}: {got} values for {self:?}");
        }
    }

    fn out_pixels(&self) -> usize {
        let [h, w] = self.out_size().expect("geometry checked by the caller");
        h * w
    }

    fn in_pixels(&self) -> usize {
        self.in_size[0] * self.in_size[1]
    }

    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    fn col_rows(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    /// Samples per group: enough to reach `columns` columns, spread evenly over as many groups as
    /// that makes (42 + 22 samples of 7×7 maps left one of two threads idle for a third of the
    /// weight gradient; 32 + 32 does not).
    fn group_size(&self, columns: usize) -> usize {
        let batch = self.batch.max(1);
        let wanted = columns.div_ceil(self.out_pixels().max(1)).clamp(1, batch);
        batch.div_ceil(batch.div_ceil(wanted))
    }

    /// Whether `col` equals the input itself (1×1 kernel, stride 1, no padding).
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }
}

/// The row length to store `columns` values in when gemm reads the rows across (the weight
/// gradient sums along them): `columns` plus 4 when it is a multiple of 256, as in ResNet's 64×64,
/// 32×32 and 8×8 maps (4,096, 2,048 and 2,048 columns per group). gemm's packing gathers one value
/// from each of many rows, and rows a multiple of 1 KiB apart keep landing in the same cache sets.
/// The weight gradient of a 64→64 convolution on 64×64 maps, batch 64, took 324–329 ms with rows
/// 4,096 apart and 137–158 ms with rows 4,100 apart (`conv_phases` example, results/bench.md). Other
/// lengths are left as they are: padding costs a copy where one sample's rows could be read in
/// place, and gemm alone shows no aliasing at 2,058 (`row_aliasing` example).
fn unaliased(columns: usize) -> usize {
    if columns.is_multiple_of(256) {
        columns + 4
    } else {
        columns
    }
}

/// How many threads a group's matrix product may use: all of them when groups alone cannot
/// occupy the pool, otherwise one (the groups are the parallelism).
fn product_parallelism(groups: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if groups >= threads {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}

/// The `col` columns of one sample's output pixels start at `offset` within rows of length `ld`.
struct ColumnBlock {
    ld: usize,
    offset: usize,
}

/// Writes sample `x` (`[C_in, H, W]`) into `col` rows `(c, ki, kj)`, zeros where the kernel
/// reads padding.
fn im2col(g: &ConvGeometry, x: &[f32], col: &mut [f32], block: &ColumnBlock) {
    let [h, w] = g.in_size;
    let [oh, ow] = g.out_size().expect("geometry checked by the caller");
    let mut row = 0;
    for c in 0..g.in_channels {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel[0] {
            for kj in 0..g.kernel[1] {
                let dst = &mut col[row * block.ld + block.offset..][..oh * ow];
                let dx = (kj * g.dilation[1]) as isize - g.padding[1] as isize;
                for oy in 0..oh {
                    let out_row = &mut dst[oy * ow..(oy + 1) * ow];
                    let iy =
                        (oy * g.stride[0] + ki * g.dilation[0]) as isize - g.padding[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        out_row.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    copy_row(src, out_row, g.stride[1], dx);
                }
                row += 1;
            }
        }
    }
}

/// `out[ox] = src[ox·stride + dx]`, zero outside `src`.
fn copy_row(src: &[f32], out: &mut [f32], stride: usize, dx: isize) {
    let (lo, hi) = valid_columns(src.len(), out.len(), stride, dx);
    out[..lo].fill(0.0);
    if stride == 1 {
        let start = (lo as isize + dx) as usize;
        out[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
    } else {
        for (ox, o) in out.iter_mut().enumerate().take(hi).skip(lo) {
            *o = src[(ox as isize * stride as isize + dx) as usize];
        }
    }
    out[hi..].fill(0.0);
}

/// The output columns `lo..hi` whose input column `ox·stride + dx` lies inside `0..width`.
fn valid_columns(width: usize, out_width: usize, stride: usize, dx: isize) -> (usize, usize) {
    let s = stride as isize;
    // Smallest ox with ox·s + dx ≥ 0, largest ox with ox·s + dx ≤ width − 1.
    let lo = if dx >= 0 { 0 } else { (-dx + s - 1) / s };
    let hi = if (width as isize - 1 - dx) < 0 {
        0
    } else {
        (width as isize - 1 - dx) / s + 1
    };
    let lo = (lo as usize).min(out_width);
    (lo, (hi as usize).clamp(lo, out_width))
}

/// Adds `col`'s rows back onto sample `dx` (`[C_in, H, W]`): the adjoint of [`im2col`].
fn col2im_add(g: &ConvGeometry, col: &[f32], block: &ColumnBlock, dx: &mut [f32]) {
    let [h, w] = g.in_size;
    let [oh, ow] = g.out_size().expect("geometry checked by the caller");
    let mut row = 0;
    for c in 0..g.in_channels {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel[0] {
            for kj in 0..g.kernel[1] {
                let src = &col[row * block.ld + block.offset..][..oh * ow];
                let shift = (kj * g.dilation[1]) as isize - g.padding[1] as isize;
                let (lo, hi) = valid_columns(w, ow, g.stride[1], shift);
                // A kernel column that reads only padding adds nothing (and `first` below would
                // point past the row).
                let rows = if lo < hi { 0..oh } else { 0..0 };
                for oy in rows {
                    let iy =
                        (oy * g.stride[0] + ki * g.dilation[0]) as isize - g.padding[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * w..(iy as usize + 1) * w];
                    let src_row = &src[oy * ow..(oy + 1) * ow];
                    let first = (lo as isize * g.stride[1] as isize + shift) as usize;
                    if g.stride[1] == 1 {
                        // Contiguous on both sides: a loop the compiler vectorises.
                        let dst = &mut dst[first..first + (hi - lo)];
                        for (d, v) in dst.iter_mut().zip(&src_row[lo..hi]) {
                            *d += v;
                        }
                    } else {
                        let dst = dst[first..].iter_mut().step_by(g.stride[1]);
                        for (d, v) in dst.zip(&src_row[lo..hi]) {
                            *d += v;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// Fills `col` (`[K, group·P]`, rows `ld` apart) from the group's samples.
fn fill_group_col(g: &ConvGeometry, xs: &[f32], col: &mut [f32], group: usize, ld: usize) {
    let (in_len, p) = (g.in_channels * g.in_pixels(), g.out_pixels());
    for s in 0..group {
        let block = ColumnBlock { ld, offset: s * p };
        im2col(g, &xs[s * in_len..(s + 1) * in_len], col, &block);
    }
}

/// Where each `P`-long output row of a group sits in its two layouts: per sample
/// (`[group, C_out, P]`) and side by side (`[C_out, group·P]`, rows `ld` apart), as (per-sample
/// start, side-by-side start) pairs.
fn group_rows(g: &ConvGeometry, group: usize, ld: usize) -> impl Iterator<Item = (usize, usize)> {
    let (co, p) = (g.out_channels, g.out_pixels());
    (0..group).flat_map(move |s| (0..co).map(move |c| ((s * co + c) * p, c * ld + s * p)))
}

/// Copies the group's `[C_out, P]` images side by side into `[C_out, group·P]` (rows `ld` apart).
fn interleave(
    g: &ConvGeometry,
    per_sample: &[f32],
    side_by_side: &mut [f32],
    group: usize,
    ld: usize,
) {
    let p = g.out_pixels();
    for (from, to) in group_rows(g, group, ld) {
        side_by_side[to..][..p].copy_from_slice(&per_sample[from..][..p]);
    }
}

/// The inverse of [`interleave`].
fn deinterleave(g: &ConvGeometry, side_by_side: &[f32], per_sample: &mut [f32], group: usize) {
    let p = g.out_pixels();
    for (to, from) in group_rows(g, group, group * p) {
        per_sample[to..][..p].copy_from_slice(&side_by_side[from..][..p]);
    }
}

/// Row-major matrix views for [`matmul`]: `rows × cols` with element `(i, j)` at `i·rs + j·cs`.
#[derive(Clone, Copy)]
struct Mat {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

impl Mat {
    fn rows(data: &[f32], ld: usize) -> Mat {
        Mat {
            ptr: data.as_ptr(),
            rs: ld as isize,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with leading dimension `ld`.
    fn transposed(data: &[f32], ld: usize) -> Mat {
        Mat {
            ptr: data.as_ptr(),
            rs: 1,
            cs: ld as isize,
        }
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, `dst` row-major with leading dimension `n`.
fn matmul(
    dims: [usize; 3],
    dst: &mut [f32],
    accumulate: bool,
    lhs: Mat,
    rhs: Mat,
    parallelism: Parallelism,
) {
    let [m, n, k] = dims;
    assert!(dst.len() >= m * n, "matmul destination too small");
    // SAFETY: `dst` holds m×n elements (checked above); `lhs` and `rhs` are built by `Mat::rows`
    // / `Mat::transposed` from slices that the callers size as m×k and k×n; gemm reads only
    // those elements and writes only `dst`.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Forward: `out[N, C_out, H_out, W_out] = conv(x, weight) + bias`.
pub fn forward(g: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    g.check_lengths(x.len(), weight.len(), out.len());
    if let Some(bias) = bias {
        assert_eq!(bias.len(), g.out_channels, "convolution bias length");
    }
    let (k, p, co) = (g.col_rows(), g.out_pixels(), g.out_channels);
    let in_len = g.in_channels * g.in_pixels();
    let group = g.group_size(TARGET_GROUP_COLUMNS);
    let parallelism = product_parallelism(g.batch.div_ceil(group));
    out.par_chunks_mut(group * co * p)
        .zip(x.par_chunks(group * in_len))
        .for_each(|(out, xs)| {
            with_scratch(|col, wide| {
                let n = out.len() / (co * p);
                let rhs = if g.is_pointwise() && n == 1 {
                    Mat::rows(xs, p)
                } else {
                    col.resize(k * n * p, 0.0);
                    fill_group_col(g, xs, col, n, n * p);
                    Mat::rows(col, n * p)
                };
                let product = |dst: &mut [f32]| {
                    if let Some(bias) = bias {
                        for (c, row) in dst.chunks_mut(n * p).enumerate() {
                            row.fill(bias[c]);
                        }
                    }
                    let dims = [co, n * p, k];
                    let lhs = Mat::rows(weight, k);
                    matmul(dims, dst, bias.is_some(), lhs, rhs, parallelism);
                };
                if n == 1 {
                    product(out);
                } else {
                    wide.resize(co * n * p, 0.0);
                    product(wide);
                    deinterleave(g, wide, out, n);
                }
            })
        });
}

/// Input gradient: `dx = convᵀ(dy, weight)`, via `dcol = weightᵀ · dy` and col2im.
pub fn backward_input(g: &ConvGeometry, weight: &[f32], dy: &[f32], dx: &mut [f32]) {
    g.check_lengths(dx.len(), weight.len(), dy.len());
    let (k, p, co) = (g.col_rows(), g.out_pixels(), g.out_channels);
    let in_len = g.in_channels * g.in_pixels();
    let group = g.group_size(TARGET_GROUP_COLUMNS);
    let parallelism = product_parallelism(g.batch.div_ceil(group));
    dx.par_chunks_mut(group * in_len)
        .zip(dy.par_chunks(group * co * p))
        .for_each(|(dx, dys)| {
            with_scratch(|dcol, wide| {
                let n = dx.len() / in_len;
                let rhs = if n == 1 {
                    Mat::rows(dys, p)
                } else {
                    wide.resize(co * n * p, 0.0);
                    interleave(g, dys, wide, n, n * p);
                    Mat::rows(wide, n * p)
                };
                if g.is_pointwise() && n == 1 {
                    matmul(
                        [k, p, co],
                        dx,
                        false,
                        Mat::transposed(weight, k),
                        rhs,
                        parallelism,
                    );
                    return;
                }
                dcol.resize(k * n * p, 0.0);
                matmul(
                    [k, n * p, co],
                    dcol,
                    false,
                    Mat::transposed(weight, k),
                    rhs,
                    parallelism,
                );
                dx.fill(0.0);
                for s in 0..n {
                    let block = ColumnBlock {
                        ld: n * p,
                        offset: s * p,
                    };
                    col2im_add(g, dcol, &block, &mut dx[s * in_len..(s + 1) * in_len]);
                }
            })
        });
}

/// Weight gradient: `dweight = Σ_groups dy_group · col_groupᵀ`, summed in group order.
pub fn backward_weight(g: &ConvGeometry, x: &[f32], dy: &[f32], dweight: &mut [f32]) {
    g.check_lengths(x.len(), dweight.len(), dy.len());
    let (k, p, co) = (g.col_rows(), g.out_pixels(), g.out_channels);
    let in_len = g.in_channels * g.in_pixels();
    let group = g.group_size(WEIGHT_GRADIENT_GROUP_COLUMNS);
    let groups = g.batch.div_ceil(group);
    let parallelism = product_parallelism(groups);
    let mut partials = vec![0.0f32; groups * co * k];
    partials
        .par_chunks_mut(co * k)
        .zip(
            x.par_chunks(group * in_len)
                .zip(dy.par_chunks(group * co * p)),
        )
        .for_each(|(partial, (xs, dys))| {
            with_scratch(|col, wide| {
                let n = xs.len() / in_len;
                let ld = unaliased(n * p);
                let lhs: &[f32] = if ld == p {
                    dys
                } else {
                    wide.resize(co * ld, 0.0);
                    interleave(g, dys, wide, n, ld);
                    wide
                };
                let rhs: &[f32] = if g.is_pointwise() && ld == p {
                    xs
                } else {
                    col.resize(k * ld, 0.0);
                    fill_group_col(g, xs, col, n, ld);
                    col
                };
                // Summed over pixels, which are contiguous in both operands: gemm packs them
                // slowly, which matters when few output channels share each packed column (and
                // more so with rows 1 KiB multiples apart: `unaliased`).
                if co < GEMM_WEIGHT_GRADIENT_MIN_CHANNELS {
                    dot_products([co, k, n * p], (lhs, ld), (rhs, ld), partial);
                } else {
                    let (lhs, rhs) = (Mat::rows(lhs, ld), Mat::transposed(rhs, ld));
                    matmul([co, k, n * p], partial, false, lhs, rhs, parallelism);
                }
            })
        });
    dweight.fill(0.0);
    for partial in partials.chunks(co * k) {
        for (d, v) in dweight.iter_mut().zip(partial) {
            *d += v;
        }
    }
}

/// Bias gradient: `dbias[c] = Σ_{n, pixels} dy[n, c]` for `dy` of `[batch, channels, pixels]`,
/// one channel per task (each sums its planes in sample order: the same result on any pool).
pub fn backward_bias(dims: [usize; 3], dy: &[f32], dbias: &mut [f32]) {
    let [batch, channels, pixels] = dims;
    dbias.par_iter_mut().enumerate().for_each(|(c, d)| {
        let sum: f64 = (0..batch)
            .map(|n| crate::sum::sum_map(&dy[(n * channels + c) * pixels..][..pixels], |v| v))
            .sum();
        *d = sum as f32;
    });
}
