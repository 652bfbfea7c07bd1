//! One-core gemm speed of the convolution's two product layouts with rows a multiple of 1 KiB
//! apart and 4 floats further, in GFLOP/s:
//!
//! ```sh
//! cargo run --release --example row_aliasing -p archnet-kernels
//! ```
//!
//! - "across": the weight gradient's `dy · colᵀ`, summed along rows (both operands'
//!   summed dimension contiguous), which gemm packs by gathering one value from each row;
//! - "along": the forward pass's `W · col`, whose `col` rows gemm reads along.
//!
//! What chose `unaliased` in `conv/kernel.rs` (results/bench.md).

use gemm::{Parallelism, gemm};
use std::time::Instant;

/// GFLOP/s of `dst[m×n] = lhs[m×k] · rhs[k×n]`, row-major `dst`, rows of the long operand(s)
/// `ld` apart; `across` picks the weight gradient's layout, else the forward pass's.
fn gflops(m: usize, n: usize, k: usize, ld: usize, across: bool) -> f64 {
    let (lhs_len, rhs_len) = if across {
        (m * ld, n * ld)
    } else {
        (m * k, k * ld)
    };
    let lhs: Vec<f32> = (0..lhs_len).map(|i| (i % 7) as f32).collect();
    let rhs: Vec<f32> = (0..rhs_len).map(|i| (i % 5) as f32).collect();
    let mut dst = vec![0.0f32; m * n];
    // (lhs column stride, lhs row stride, rhs column stride, rhs row stride)
    let (lcs, lrs, rcs, rrs) = if across {
        (1, ld as isize, ld as isize, 1)
    } else {
        (1, k as isize, 1, ld as isize)
    };
    let reps = 10;
    let start = Instant::now();
    for _ in 0..reps {
        // SAFETY: lhs and rhs hold every element the strides reach (m×ld / n×ld, or m×k / k×ld);
        // dst holds m×n.
        unsafe {
            gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                lhs.as_ptr(),
                lcs,
                lrs,
                rhs.as_ptr(),
                rcs,
                rrs,
                1.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }
    2.0 * (m * n * k) as f64 * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    // (rows of dy = output channels, im2col rows, pixels summed): resnet-18's 64×64, 32×32 and
    // 8×8 stages (one sample, two and 32 side by side), and its 7×7 stage on 56×56 ciphertexts
    // (42 side by side: 2,058, not padded by `unaliased`).
    for (co, k, pixels) in [
        (64, 576, 4096),
        (128, 1152, 2048),
        (512, 4608, 2048),
        (512, 4608, 2058),
    ] {
        let across = gflops(co, k, pixels, pixels, true);
        let across_padded = gflops(co, k, pixels, pixels + 4, true);
        let along = gflops(co, pixels, k, pixels, false);
        let along_padded = gflops(co, pixels, k, pixels + 4, false);
        println!(
            "{co}×{k}, {pixels} pixels: across {across:.0} → padded {across_padded:.0} GFLOP/s; along {along:.0} → padded {along_padded:.0}"
        );
    }
}
