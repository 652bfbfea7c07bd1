//! Time of each convolution kernel (forward, input gradient, weight gradient) at the layer shapes
//! of archnet's workloads, batch 64, in milliseconds and GFLOP/s:
//!
//! ```sh
//! cargo run --release --example conv_phases -p archnet-kernels
//! ```
//!
//! What chose `GEMM_WEIGHT_GRADIENT_MIN_CHANNELS` in `conv/kernel.rs` (results/bench.md).

use archnet_kernels::conv::kernel::*;
use std::time::Instant;
/// (in channels, out channels, input size, kernel, stride, padding): paper-cifar key layers, the
/// cnn's two layers, the keys' 2×2 halving convolution, resnet-18's stages on bench/compare's
/// 56×56 ciphertexts and on the paper-cifar key's 64×64 ones (Table 1).
const SHAPES: [(usize, usize, usize, usize, usize, usize); 15] = [
    (10, 30, 32, 3, 1, 1),
    (20, 20, 32, 3, 1, 1),
    (3, 10, 32, 3, 1, 1),
    (10, 32, 56, 3, 1, 1),
    (32, 64, 28, 3, 1, 1),
    (10, 10, 64, 2, 2, 0),
    (64, 64, 56, 3, 1, 1),
    (128, 128, 28, 3, 1, 1),
    (256, 256, 14, 3, 1, 1),
    (512, 512, 7, 3, 1, 1),
    (10, 64, 64, 3, 1, 1),
    (64, 64, 64, 3, 1, 1),
    (128, 128, 32, 3, 1, 1),
    (256, 256, 16, 3, 1, 1),
    (512, 512, 8, 3, 1, 1),
];

fn main() {
    for (cin, cout, hw, k, s, pad) in SHAPES {
        let g = ConvGeometry {
            batch: 64,
            in_channels: cin,
            in_size: [hw, hw],
            out_channels: cout,
            kernel: [k, k],
            stride: [s, s],
            padding: [pad, pad],
            dilation: [1, 1],
        };
        let [oh, ow] = g.out_size().unwrap();
        let x: Vec<f32> = (0..64 * cin * hw * hw).map(|i| (i % 7) as f32).collect();
        let w: Vec<f32> = (0..cout * cin * k * k).map(|i| (i % 5) as f32).collect();
        let dy: Vec<f32> = (0..64 * cout * oh * ow).map(|i| (i % 3) as f32).collect();
        let mut out = vec![0.0; dy.len()];
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        let flops = 2.0 * (64 * cout * cin * k * k * oh * ow) as f64;
        let time = |f: &mut dyn FnMut()| {
            f();
            let t = Instant::now();
            for _ in 0..5 {
                f();
            }
            t.elapsed().as_secs_f64() / 5.0
        };
        let tf = time(&mut || forward(&g, &x, &w, None, &mut out));
        let tx = time(&mut || backward_input(&g, &w, &dy, &mut dx));
        let tw = time(&mut || backward_weight(&g, &x, &dy, &mut dw));
        println!(
            "{cin}->{cout} {hw}x{hw} k{k}: fwd {:.1} ms ({:.0} GF/s), dx {:.1} ms ({:.0}), dw {:.1} ms ({:.0})",
            tf * 1e3,
            flops / tf / 1e9,
            tx * 1e3,
            flops / tx / 1e9,
            tw * 1e3,
            flops / tw / 1e9
        );
    }
}
