//! Model hand-off in ONNX: how a compute node's trained model reaches the server and the
//! publisher without its training code.
//!
//! - [`export`]: archnet's base models → ONNX (traced by burn-onnx's exporter, then given the
//!   interface every archnet model has: input `input` `[N, C, H, W]`, output `logits` `[N, K]`,
//!   and metadata naming the key and the classes).
//! - [`policy`]: what the server accepts from strangers: a size limit, an operator allow-list,
//!   no external data, no subgraphs, checked on the protobuf before anything runs it.
//! - [`runner`]: an accepted model loaded into tract and run over a dataset, with time and
//!   memory limits; this is the server's validator and the publisher's predictor.
//!
//! Loading is separated from running as in tract itself: [`policy::inspect`] reads and checks,
//! [`runner::OnnxClassifier::load`] optimises for one input shape, and only then does data flow.

pub mod error;
pub mod export;
pub mod policy;
pub mod runner;

pub use error::{OnnxError, Result};
pub use export::{ExportInfo, export_model};
pub use policy::{ModelPolicy, ModelSummary, inspect};
pub use runner::{OnnxClassifier, ValidationLimits, ValidationReport};
/// ONNX's protobuf messages (tract's prost types), for tools that build or edit models.
pub use tract_onnx::pb;

/// Name of the input of every model archnet exports.
pub const INPUT_NAME: &str = "input";
/// Name of the output of every model archnet exports.
pub const OUTPUT_NAME: &str = "logits";
