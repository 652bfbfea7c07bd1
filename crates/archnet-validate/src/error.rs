//! Errors of the ONNX hand-off: exporting, inspecting and running models.

/// What went wrong with an ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The bytes are not an ONNX model.
    #[error("not a valid ONNX model: {0}")]
    Malformed(String),
    /// A valid model that the policy for untrusted models refuses.
    #[error("refused: {0}")]
    Refused(String),
    /// The model does not fit the data (input shape, classes).
    #[error("the model does not fit the data: {0}")]
    Mismatch(String),
    /// tract could not load or run the model.
    #[error("running the model failed: {0}")]
    Runtime(String),
    /// Validation ran past its time limit.
    #[error("validation exceeded its time limit of {limit_s} s after {done} of {total} samples")]
    Timeout {
        /// The limit, in seconds.
        limit_s: u64,
        /// Samples run before the limit.
        done: usize,
        /// Samples to run.
        total: usize,
    },
    /// The exporter could not trace or lower the model.
    #[error("ONNX export failed: {0}")]
    Export(String),
    /// Reading the data failed.
    #[error(transparent)]
    Data(#[from] archnet_data::DataError),
    /// A model file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The model's predictions cannot be scored (too few, a class past the task's).
    #[error(transparent)]
    Prediction(#[from] archnet_data::samples::PredictionError),
}

/// Result alias of this crate.
pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
