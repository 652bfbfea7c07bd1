//! Untrusted models, checked and run: what the server does with an ONNX file a stranger hands in,
//! and what the publisher does with the model it receives.
//!
//! - [`policy`]: what the server accepts from strangers: a size limit, an operator allow-list,
//!   no external data, no subgraphs, checked on the protobuf before anything runs it.
//! - [`runner`]: an accepted model loaded into tract and run over a dataset, with time and
//!   memory limits; this is the server's validator and the publisher's predictor.
//! - [`onnxruntime`]: onnxruntime's library, loaded at run time from a path, as a faster engine
//!   a deployment may choose ([`Engine`]).
//! - [`metadata`], [`INPUT_NAME`], [`OUTPUT_NAME`]: the interface every archnet model has, which
//!   `archnet-onnx`'s exporter writes and this crate reads.
//!
//! Loading is separated from running as in tract itself: [`policy::inspect`] reads and checks,
//! [`runner::OnnxClassifier::load`] optimises for one input shape, and only then does data flow.
//! This crate needs tract and the dataset reader only: no burn, no training code, so the server
//! that runs it links neither.

#![warn(missing_docs)]

pub mod error;
pub mod onnxruntime;
pub mod policy;
pub mod runner;

pub use error::{OnnxError, Result};
pub use policy::{ModelPolicy, ModelSummary, inspect, read_model};
pub use runner::{Engine, HoldoutEvaluation, OnnxClassifier, ValidationLimits, ValidationReport};
/// ONNX's protobuf messages (tract's prost types), for tools that build or edit models.
pub use tract_onnx::pb;

/// Name of the input of every model archnet exports.
pub const INPUT_NAME: &str = "input";
/// Name of the output of every model archnet exports.
pub const OUTPUT_NAME: &str = "logits";

/// Metadata keys archnet writes into a model (`metadata_props`), so a model file says what it is.
pub mod metadata {
    /// The archnet version that exported the model.
    pub const VERSION: &str = "archnet_version";
    /// Base model kind (`cnn`, `resnet18`, ...).
    pub const BASE_MODEL: &str = "archnet_base_model";
    /// Key id of the training data, absent for plain data.
    pub const KEY_ID: &str = "archnet_key_id";
    /// JSON array of class names.
    pub const CLASS_NAMES: &str = "archnet_class_names";
}
