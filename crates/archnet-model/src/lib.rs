//! ArchNet keys: the H-encoder E1 and L-decoder D1 of the paper (§4), their presets, training as
//! an identity map, `private` keys and their guarantee, the key file, the streaming
//! encrypt/decrypt pipelines, and the base models a node trains on ciphertexts. What attacks and
//! experiments measure about them lives in `archnet-lab`.
//!
//! ```no_run
//! use archnet_model::{KeyArchitecture, ArchNetKey};
//! use burn::module::Module;
//! let arch = KeyArchitecture::preset("auto", [1, 28, 28]).unwrap();
//! let key = ArchNetKey::init(&arch, &archnet_model::device());
//! println!("{} encoder parameters", key.encoder.num_params());
//! ```

#![warn(missing_docs)]

pub mod arch;
pub mod base;
pub mod checkpoint;
pub mod classify;
pub mod error;
pub mod key;
pub mod keyfile;
pub mod keyjob;
pub mod metrics;
pub mod pipeline;
pub mod privacy;
pub mod private_key;
mod stack;
pub mod train;
pub mod trained;
pub mod trainjob;

pub use arch::{KeyArchitecture, LayerSpec, PRESETS};
pub use error::ModelError;
pub use key::{ArchNetKey, HEncoder, LDecoder};
pub use keyfile::{KeyFile, KeyMetadata};

/// The compute device archnet runs on: the first enabled burn backend (the pure-Rust `flex` CPU
/// backend in default builds; `BURN_DEVICE` can name another where one is compiled in).
pub fn device() -> burn::tensor::Device {
    burn::tensor::Device::default()
}

/// Seeds burn's random number generator for one training run and holds it for the run.
///
/// burn's CPU backend keeps one process-wide generator; two trainings drawing from it at once
/// (parallel tests, a library user's threads) would interleave draws and lose reproducibility.
/// Holding this guard for a run makes "same seed, same result" hold in any process.
pub fn seeded_run(device: &burn::tensor::Device, seed: u64) -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A run that panicked leaves the lock poisoned; the generator is reseeded anyway.
    let guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    guard
}
