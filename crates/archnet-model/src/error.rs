//! Errors of key presets, key files and pipelines.

use std::path::PathBuf;

/// What went wrong with a key, its file or an encrypt/decrypt run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A dataset could not be read or written.
    #[error(transparent)]
    Data(#[from] archnet_data::DataError),
    /// A classifier's predictions cannot be scored.
    #[error(transparent)]
    Prediction(#[from] archnet_data::samples::PredictionError),
    /// No preset of that name, or a preset that does not fit the data.
    #[error("preset `{preset}`: {reason}")]
    Preset {
        /// The preset's name.
        preset: String,
        /// What is wrong.
        reason: String,
    },
    /// A key file is not what it should be.
    #[error("{path}: invalid key file: {reason}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key's weights could not be encoded as safetensors.
    #[error("{path}: invalid key file: {source}")]
    Safetensors {
        /// The key file.
        path: PathBuf,
        /// What the safetensors codec said.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// burn's safetensors store failed to take or hand back a key's weights.
    #[error("{path}: invalid key file: {source}")]
    Store {
        /// The key file.
        path: PathBuf,
        /// What the store said.
        #[source]
        source: burn::store::SafetensorsStoreError,
    },
    /// Data and key disagree in shape, or a ciphertext came from another key.
    #[error("{path}: {reason}")]
    Mismatch {
        /// The dataset, key or model that does not fit.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A training checkpoint cannot be used.
    #[error("{path}: checkpoint: {reason}")]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint's weights or optimizer state could not be written or read.
    #[error("{path}: checkpoint: {source}")]
    CheckpointFile {
        /// The file.
        path: PathBuf,
        /// What burn's store or recorder said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A model file or card cannot be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The model file or card.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A base model that cannot be built: an unknown kind, fewer than 2 classes, an empty input.
    #[error("{reason}")]
    BaseModel {
        /// The kind asked for (`cnn`, `resnet18`, …).
        kind: String,
        /// The sentence saying why it cannot be built.
        reason: String,
    },
    /// Samples of one shape given to a key or a model that takes another.
    #[error("{reason}")]
    Shape {
        /// The `[C, H, W]` taken.
        expected: [usize; 3],
        /// The `[C, H, W]` given.
        found: [usize; 3],
        /// The sentence naming both.
        reason: String,
    },
    /// Training diverged: the loss stopped being a finite number.
    #[error("the loss became {loss} {at}; lower the learning rate")]
    Diverged {
        /// The loss.
        loss: f64,
        /// Where it happened (`at epoch 2 step 14`, `in epoch 3`).
        at: String,
    },
    /// An attack's fit cannot be made from what it was given (counts, shapes, a singular system).
    #[error("{attack}: {reason}")]
    Fit {
        /// The attack (`ridge`, `inverter`, `learned map`).
        attack: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A workflow given fewer images than it needs.
    #[error("{what} needs at least {needed} images, the data has {found}")]
    TooFewImages {
        /// The workflow.
        what: &'static str,
        /// Images it needs.
        needed: usize,
        /// Images it was given.
        found: usize,
    },
    /// The tensor backend did not hand back a tensor's values.
    #[error("the tensor backend: {0}")]
    Backend(String),
    /// An option has a value that cannot work.
    #[error("{0}")]
    Config(String),
}

/// Result alias of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
