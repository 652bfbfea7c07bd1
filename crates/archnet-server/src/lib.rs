//! The archnet marketplace server v0 (the paper's §2): the intermediary where publishers post
//! encrypted datasets as paid training tasks, compute nodes lease them and hand back ONNX, and
//! the server validates each model on an encrypted split no node receives, pays the node and
//! delivers the model.
//!
//! - [`server`]: the axum service, its settings, the validator and the OpenAPI document.
//! - [`db`]: state in SQLite or PostgreSQL through sqlx, with migrations; the ledger.
//! - [`store`]: blobs in a local folder or an S3-compatible bucket.
//! - [`timing`]: the t0 = t1 + 4·t2 + t3 + t4 accounting of §4.7, from what was measured.
//!
//! It links no tensor library: untrusted models run in `archnet-validate` (tract), and the
//! encrypted splits are read with `archnet-data`. A CI test (`tests/dependencies.rs`) keeps
//! burn's autodiff and training crates out of its dependency tree.

#![warn(missing_docs)]

pub mod db;
pub mod error;
pub mod server;
pub mod store;
pub mod timing;

pub use error::{Result, ServerError};
