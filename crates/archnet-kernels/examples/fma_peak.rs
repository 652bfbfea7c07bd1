//! This machine's fp32 peak, measured: AVX-512 fused multiply-adds on independent registers (no
//! memory traffic), on one core and on every core. results/bench.md compares the kernels' GFLOP/s
//! with it. `perf stat` cannot count cycles in this VM (no PMU is exposed), so the clock is
//! inferred: one core's FLOP/s divided by the 64 FLOP a cycle that two 512-bit FMA pipes give.
//!
//!     cargo run --release --example fma_peak -p archnet-kernels

use std::time::Instant;

/// Independent accumulators: enough to cover the FMA latency on both pipes (Zen 5: 2 × 4 cycles).
const CHAINS: usize = 16;
/// FMAs per chain per timed run.
const ROUNDS: u64 = 200_000_000;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fmas(rounds: u64, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(seed); CHAINS];
    for _ in 0..rounds {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    let mut sum = _mm512_setzero_ps();
    for x in acc {
        sum = _mm512_add_ps(sum, x);
    }
    _mm512_reduce_add_ps(sum)
}

/// GFLOP/s of `threads` threads running [`fmas`] at once.
fn measure(threads: usize) -> f64 {
    let started = Instant::now();
    let sums: Vec<f32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            // SAFETY: main checked that the CPU has AVX-512F, the one feature `fmas` enables.
            .map(|t| s.spawn(move || unsafe { fmas(ROUNDS, t as f32) }))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(sums);
    let flops = threads as f64 * ROUNDS as f64 * CHAINS as f64 * 16.0 * 2.0;
    flops / seconds / 1e9
}

fn main() {
    if !std::arch::is_x86_feature_detected!("avx512f") {
        eprintln!("this CPU has no AVX-512F; fma_peak measures AVX-512 only");
        std::process::exit(1);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    measure(1); // warm-up: clocks ramp, pages fault in
    for run in 1..=3 {
        let one = measure(1);
        let all = measure(cores);
        println!(
            "run {run}: 1 core {one:.1} GFLOP/s (≈{:.2} GHz at 64 FLOP/cycle), {cores} cores {all:.1} GFLOP/s",
            one / 64.0
        );
    }
}
