//! The archnet marketplace (the paper's §2): an intermediary server v0 where publishers post
//! encrypted datasets as paid training tasks, compute nodes lease them, train their own models on
//! the ciphertexts and hand back ONNX, and the server validates each model on an encrypted split
//! no node receives, pays the node and delivers the model.
//!
//! - [`server`]: the axum service, its settings, the validator and the OpenAPI document.
//! - [`db`]: state in SQLite or PostgreSQL through sqlx, with migrations; the ledger.
//! - [`store`]: blobs in a local folder or an S3-compatible bucket.
//! - [`client`]: the HTTP client (retries, resumable checksummed transfers).
//! - [`publisher`] and [`node`]: the two sides' workflows on top of the client.
//! - [`timing`]: the t0 = t1 + 4·t2 + t3 + t4 accounting of §4.7.

pub mod bench;
pub mod client;
pub mod db;
pub mod error;
pub mod node;
pub mod publisher;
pub mod server;
pub mod states;
pub mod store;
pub mod testkit;
pub mod timing;
pub mod types;

pub use error::{MarketError, Result};
