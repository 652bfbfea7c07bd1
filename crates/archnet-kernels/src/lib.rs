//! archnet's CPU kernels for burn's `flex` backend: 2-D convolution ([`conv`]), non-overlapping
//! max pooling ([`pool`]) and batch norm for training ([`norm`]), forward and gradients.
//!
//! They know nothing of ArchNet: layers stay burn modules (same records, same ONNX export) and
//! only their forward call is routed here on the CPU; other backends run burn's own operations.
//! Why they exist, with numbers: results/bench.md.
#![warn(missing_docs)]

pub mod conv;
pub mod norm;
pub mod pool;
mod relu;
mod sum;

/// The device the kernels' tests run on (burn's default).
#[cfg(test)]
fn device() -> burn::tensor::Device {
    burn::tensor::Device::default()
}
