//! Datasets in, encrypted datasets in and out.
//!
//! Every reader produces an [`ImageDataset`]: `u8` pixels in CHW order plus optional labels.
//! [`open_dataset`] picks the reader from what a path looks like (IDX files, the CIFAR-10 binary
//! release, image folders, or a `.tar.gz` of image folders). The [`encrypted`] module holds the
//! on-disk format for E1-encrypted datasets (see `docs/encrypted-format.md`).

#![warn(missing_docs)]

pub mod baselines;
pub mod dataset;
pub mod encrypted;
pub mod error;
pub mod fsutil;
pub mod holdout;
pub mod readers;
pub mod samples;
pub mod source;
pub mod stats;
pub mod synthetic;

pub use dataset::{ImageDataset, Split};
pub use error::DataError;
pub use readers::open_dataset;
pub use source::DataSource;
pub use stats::DatasetSummary;
