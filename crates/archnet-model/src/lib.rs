//! ArchNet keys: the H-encoder E1 and L-decoder D1 of the paper (§4), their presets, training as
//! an identity map, the key file, and the streaming encrypt/decrypt pipelines.
//!
//! ```no_run
//! use archnet_model::{KeyArchitecture, ArchNetKey};
//! use burn::module::Module;
//! let arch = KeyArchitecture::preset("auto", [1, 28, 28]).unwrap();
//! let key = ArchNetKey::init(&arch, &archnet_model::device());
//! println!("{} encoder parameters", key.encoder.num_params());
//! ```

pub mod arch;
pub mod base;
pub mod classify;
pub mod dp;
pub mod dp_sgd;
pub mod error;
pub mod experiment;
pub mod key;
pub mod keyfile;
pub mod metrics;
pub mod pipeline;
mod stack;
pub mod train;

pub use arch::{KeyArchitecture, LayerSpec, PRESETS};
pub use error::ModelError;
pub use key::{ArchNetKey, HEncoder, LDecoder};
pub use keyfile::{KeyFile, KeyMetadata};

/// The compute device archnet runs on: the first enabled burn backend (the pure-Rust `flex` CPU
/// backend in default builds; `BURN_DEVICE` can name another where one is compiled in).
pub fn device() -> burn::tensor::Device {
    burn::tensor::Device::default()
}
