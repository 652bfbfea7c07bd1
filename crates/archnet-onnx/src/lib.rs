//! Model hand-off in ONNX: how a compute node's trained model reaches the server and the
//! publisher without its training code.
//!
//! - [`export`]: archnet's base models → ONNX (traced by burn-onnx's exporter, then given the
//!   interface every archnet model has: input `input` `[N, C, H, W]`, output `logits` `[N, K]`,
//!   and metadata naming the key and the classes).
//! - checking and running untrusted models is `archnet-validate`'s ([`policy`], [`runner`]),
//!   re-exported here for callers that do both; the server depends on `archnet-validate` alone,
//!   so it links neither burn nor the exporter.

pub mod export;

pub use archnet_validate::{
    INPUT_NAME, ModelPolicy, ModelSummary, OUTPUT_NAME, OnnxClassifier, OnnxError, Result,
    ValidationLimits, ValidationReport, error, inspect, pb, policy, runner,
};
pub use export::{ExportInfo, export_model};
