//! Model hand-off in ONNX: how a compute node's trained model reaches the server and the
//! publisher without its training code.
//!
//! - [`export`]: archnet's base models → ONNX (traced by burn-onnx's exporter, then given the
//!   interface every archnet model has: input `input` `[N, C, H, W]`, output `logits` `[N, K]`,
//!   and metadata naming the key and the classes).
//! - [`predict`]: the publisher's side: plain images → E1 → the delivered model → classes.
//! - checking and running untrusted models is `archnet-validate`'s ([`policy`], [`runner`]),
//!   re-exported here for callers that do both; the server depends on `archnet-validate` alone,
//!   so it links neither burn nor the exporter.

#![warn(missing_docs)]

pub mod export;
pub mod predict;

pub use archnet_validate::{
    INPUT_NAME, ModelPolicy, ModelSummary, OUTPUT_NAME, OnnxClassifier, OnnxError, Result,
    ValidationLimits, ValidationReport, error, inspect, metadata, pb, policy, read_model, runner,
};
pub use export::{ExportInfo, export_model};

/// Why an export or a prediction failed: the key, the trained model or the data on the burn
/// side, or the ONNX model on tract's.
#[derive(Debug, thiserror::Error)]
pub enum HandOffError {
    /// The key, the trained model folder or the images (a shape that does not fit the key).
    #[error(transparent)]
    Model(#[from] archnet_model::ModelError),
    /// The ONNX model: refused, not fitting the key's ciphertexts, failing to run or to export.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// A file could not be written.
    #[error(transparent)]
    Data(#[from] archnet_data::DataError),
}
