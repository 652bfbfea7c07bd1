//! The on-disk format of an encrypted dataset (specified in `docs/encrypted-format.md`).
//!
//! A folder holding `manifest.json` and shards `<split>-NNNNN.safetensors`. Each shard has a
//! tensor `x` (`[n, C, H, W]`, stored as f32, f16 or u8) and, for labeled data, `y` (`[n]` i64).
//! The manifest records shapes, the storage type, u8 quantisation parameters, each shard's
//! sha256, and the id of the key that encrypted the data (never the key itself).
//!
//! [`EncryptedDatasetWriter`] streams samples in and keeps at most one shard per split in
//! memory; the folder appears under its final name only when [`EncryptedDatasetWriter::finish`]
//! succeeds. [`EncryptedDataset`] reads shard by shard and verifies every checksum.

mod manifest;
mod privacy;
mod reader;
mod storage;
mod writer;

pub use manifest::{FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, Manifest, ShardInfo, SplitInfo};
pub use privacy::{PrivacyGuarantee, PrivacyMechanism};
pub use reader::{EncryptedDataset, Shard};
pub use storage::Storage;
pub use writer::{DEFAULT_SHARD_BYTES, EncryptedDatasetWriter, WriterHeader};
