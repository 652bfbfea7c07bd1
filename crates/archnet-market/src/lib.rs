//! The archnet marketplace's clients (the paper's §2): the publisher, who encrypts locally and
//! opens paid tasks; the compute node, which leases a task, trains on the ciphertexts and hands
//! back ONNX; and the load test. They talk to the server (`archnet-server`) only over HTTP, in
//! the words of `archnet-api`.
//!
//! - [`client`]: the HTTP client (retries, resumable checksummed transfers) with one typed
//!   method per API call.
//! - [`publisher`] and [`node`]: the two sides' workflows on top of the client.
//! - [`bench`]: the load test (a server on loopback and simulated nodes); [`sandbox_bench`]:
//!   the server's sandboxed validation path timed, process start-up included.
//! - [`testkit`]: tiny tasks made in milliseconds for tests and the load test.
//!
//! The server's modules and the API's types are re-exported ([`server`], [`db`], [`store`],
//! [`types`], [`states`]) so that a program embedding both sides names one crate.

#![warn(missing_docs)]

pub mod admin;
pub mod bench;
mod calls;
pub mod client;
pub mod error;
pub mod node;
pub mod publisher;
pub mod quickstart;
pub mod sandbox_bench;
pub mod testkit;

pub use archnet_api::{states, types};
pub use archnet_server::{db, server, store};
pub use error::{ClientError, Result};

/// The server a client talks to unless told otherwise: `archnet serve`'s default address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8750";
