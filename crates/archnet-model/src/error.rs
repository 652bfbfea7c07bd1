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
    Preset { preset: String, reason: String },
    /// A key file is not what it should be.
    #[error("{path}: invalid key file: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    /// Data and key disagree in shape, or a ciphertext came from another key.
    #[error("{path}: {reason}")]
    Mismatch { path: PathBuf, reason: String },
    /// A training checkpoint cannot be used.
    #[error("{path}: checkpoint: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// A model file or card cannot be read or written.
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// An option has a value that cannot work.
    #[error("{0}")]
    Config(String),
}

/// Result alias of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
