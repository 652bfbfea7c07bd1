//! `manifest.json`: everything about an encrypted dataset except the tensors themselves.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::privacy::PrivacyGuarantee;
use super::storage::{Quantization, Storage};
use crate::error::{DataError, Result};

/// File name of the manifest inside an encrypted-dataset folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Value of the manifest's `format` field.
pub const FORMAT_NAME: &str = "archnet-encrypted-dataset";
/// Version of the format this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The manifest of an encrypted dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for files this crate writes.
    pub version: u32,
    /// Content hash of the key whose E1 produced the tensors (the key itself is never stored).
    pub key_id: String,
    /// Preset name of that key (`paper-mnist`, `paper-cifar`, `auto`, …).
    pub key_preset: String,
    /// `[C, H, W]` of the plain images the key takes.
    pub plain_shape: [usize; 3],
    /// `[C, H, W]` of one encrypted sample.
    pub sample_shape: [usize; 3],
    /// How `x` values are stored.
    pub storage: Storage,
    /// Class names in label order; empty when unlabeled.
    pub class_names: Vec<String>,
    /// sha256 fingerprint of the plain data that was encrypted.
    pub source_fingerprint: String,
    /// When the dataset was written (RFC 3339, UTC).
    pub created_at: String,
    /// Splits by name (`train`, `validation`, `test`, …).
    pub splits: BTreeMap<String, SplitInfo>,
    /// The per-image differential-privacy guarantee of the encryption, when the key adds
    /// calibrated noise (`private` keys); absent for keys that give none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacyGuarantee>,
}

/// One split: its sample count and its shards in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SplitInfo {
    /// Samples in the split.
    pub count: usize,
    /// Index, in the plain source dataset, of the split's first sample: split sample `i` is
    /// source image `source_offset + i`.
    #[serde(default)]
    pub source_offset: usize,
    /// Its shards, in sample order.
    pub shards: Vec<ShardInfo>,
}

/// One shard file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name inside the dataset folder.
    pub file: String,
    /// Number of samples in the shard.
    pub count: usize,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// sha256 of the whole file, lowercase hex.
    pub sha256: String,
    /// u8 dequantisation parameters (`x = offset[c] + scale[c] * q`), for `q8` storage only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
}

impl Manifest {
    /// Total number of samples over all splits.
    pub fn total_count(&self) -> usize {
        self.splits.values().map(|s| s.count).sum()
    }

    /// Total size of all shards in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.splits
            .values()
            .flat_map(|s| &s.shards)
            .map(|s| s.bytes)
            .sum()
    }

    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| DataError::invalid(path, "manifest", e.to_string()))?;
        manifest.check(path)?;
        Ok(manifest)
    }

    /// Structural checks: format, version, counts and file names.
    pub fn check(&self, path: &Path) -> Result<()> {
        let bad = |reason: String| Err(DataError::invalid(path, "manifest", reason));
        if self.format != FORMAT_NAME {
            return bad(format!(
                "format is `{}`, expected `{FORMAT_NAME}`",
                self.format
            ));
        }
        if self.version != FORMAT_VERSION {
            return bad(format!(
                "version {} is not supported (this archnet reads version {FORMAT_VERSION})",
                self.version
            ));
        }
        if self.sample_shape.contains(&0) || self.plain_shape.contains(&0) {
            return bad("a shape has a zero dimension".into());
        }
        for (name, split) in &self.splits {
            let sum: usize = split.shards.iter().map(|s| s.count).sum();
            if sum != split.count {
                return bad(format!(
                    "split `{name}` says {} samples but its shards hold {sum}",
                    split.count
                ));
            }
            for shard in &split.shards {
                // Shard names come from the writer; refuse anything that could leave the folder.
                if shard.file.contains(['/', '\\']) || shard.file.starts_with('.') {
                    return bad(format!(
                        "shard file name `{}` is not a plain name",
                        shard.file
                    ));
                }
                if (self.storage == Storage::Q8) != shard.quantization.is_some() {
                    return bad(format!(
                        "shard `{}`: quantisation parameters must be present exactly for q8",
                        shard.file
                    ));
                }
            }
        }
        Ok(())
    }
}
