//! Errors of the lab's experiments and their outputs.

/// What stopped an experiment or the writing of its results.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A key, a model, a dataset or a training run failed.
    #[error(transparent)]
    Model(#[from] archnet_model::ModelError),
    /// A result file could not be written.
    #[error(transparent)]
    Data(#[from] archnet_data::DataError),
    /// An ONNX model could not be exported or run.
    #[error(transparent)]
    Onnx(#[from] archnet_onnx::OnnxError),
    /// A file of the lab's own could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A figure could not be drawn.
    #[error(transparent)]
    Figure(#[from] archnet_figures::FigureError),
}

/// Result alias of the lab's outputs.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
