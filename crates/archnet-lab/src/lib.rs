//! The evaluation lab: what archnet measures about its keys, kept apart from the keys themselves.
//!
//! - [`attack`]: attacks on a key (known plaintext, ciphertext only, look-alike keys), the
//!   instance-level metrics of what must stay hidden (*which* image), and the publish-time audit;
//! - [`experiment`]: the paper's Table 1 (original, ArchNet, RC4, DP-SGD arms);
//! - [`privacy_curve`]: the privacy–utility curve of `private` keys;
//! - [`dp`] and [`dp_sgd`]: the DP-SGD baseline and its accountant;
//! - [`bench`]: throughput workloads of the real code paths;
//! - [`outputs`]: the markdown, CSV/JSON and PNG files each experiment leaves in `results/`.
//!
//! Data flows one way: this crate reads keys and models from `archnet-model`, and nothing in the
//! product's hand-off (encrypt, upload, train, validate) depends on it except the publisher's
//! audit gate.

#![warn(missing_docs)]

pub mod attack;
pub mod bench;
pub mod dp;
pub mod dp_sgd;
pub mod error;
pub mod experiment;
pub mod outputs;
pub mod privacy_curve;

pub use error::LabError;
