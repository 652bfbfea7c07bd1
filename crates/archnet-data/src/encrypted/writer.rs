//! Streaming writer of encrypted datasets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;

use super::manifest::{FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, Manifest, ShardInfo};
use super::privacy::PrivacyGuarantee;
use super::storage::{SampleLayout, Storage, encode};
use crate::error::{DataError, Result};
use crate::fsutil::{ensure_new_output, now_rfc3339, sha256_hex, temp_sibling, write_atomic};

/// Target size of one shard file (64 MiB): big enough for sequential reads, small enough that
/// a writer buffering one shard per split stays well inside a small machine's memory.
pub const DEFAULT_SHARD_BYTES: usize = 64 << 20;

/// Writes an encrypted dataset folder sample by sample.
///
/// Everything goes into a hidden sibling folder that is renamed to the final name by
/// [`finish`](Self::finish); dropping the writer before that removes it, so a failed or
/// interrupted run never leaves a half-written dataset under the requested name.
pub struct EncryptedDatasetWriter {
    out: PathBuf,
    tmp: PathBuf,
    manifest: Manifest,
    layout: SampleLayout,
    sample_len: usize,
    samples_per_shard: usize,
    pending: BTreeMap<String, Pending>,
    finished: bool,
}

#[derive(Default)]
struct Pending {
    values: Vec<f32>,
    labels: Vec<u16>,
    labeled: Option<bool>,
}

/// What the writer needs to know before the first sample.
pub struct WriterHeader {
    /// The id of the key that encrypted the samples.
    pub key_id: String,
    /// Its preset.
    pub key_preset: String,
    /// `[C, H, W]` of the plain images the key takes.
    pub plain_shape: [usize; 3],
    /// `[C', H', W']` of one ciphertext.
    pub sample_shape: [usize; 3],
    /// How the values are stored.
    pub storage: Storage,
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// The plain dataset's fingerprint (without its pixels).
    pub source_fingerprint: String,
}

impl EncryptedDatasetWriter {
    /// Starts a dataset at `out`, which must not exist yet (nothing is ever overwritten).
    pub fn create(out: &Path, header: WriterHeader, shard_bytes: usize) -> Result<Self> {
        ensure_new_output(out)?;
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
        }
        let tmp = temp_sibling(out);
        std::fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        let [c, h, w] = header.sample_shape;
        let sample_len = c * h * w;
        let samples_per_shard =
            (shard_bytes / (sample_len * header.storage.bytes_per_value())).max(1);
        Ok(EncryptedDatasetWriter {
            out: out.to_path_buf(),
            tmp,
            layout: SampleLayout {
                channels: c,
                plane: h * w,
            },
            sample_len,
            samples_per_shard,
            pending: BTreeMap::new(),
            finished: false,
            manifest: Manifest {
                format: FORMAT_NAME.into(),
                version: FORMAT_VERSION,
                key_id: header.key_id,
                key_preset: header.key_preset,
                plain_shape: header.plain_shape,
                sample_shape: header.sample_shape,
                storage: header.storage,
                class_names: header.class_names,
                source_fingerprint: header.source_fingerprint,
                created_at: now_rfc3339(),
                splits: BTreeMap::new(),
                privacy: None,
            },
        })
    }

    /// Samples per shard this writer uses.
    pub fn samples_per_shard(&self) -> usize {
        self.samples_per_shard
    }

    /// Records the per-image privacy guarantee of the encryption in the manifest.
    pub fn set_privacy(&mut self, privacy: Option<PrivacyGuarantee>) {
        self.manifest.privacy = privacy;
    }

    /// Records that `split` starts at source image `offset` (default 0); call before its samples.
    pub fn set_source_offset(&mut self, split: &str, offset: usize) {
        self.manifest
            .splits
            .entry(split.to_string())
            .or_default()
            .source_offset = offset;
    }

    /// Appends a batch of samples (flat, `n × C × H × W`) with their labels (empty if unlabeled)
    /// to `split`. A split must be all labeled or all unlabeled.
    pub fn push_batch(&mut self, split: &str, values: &[f32], labels: &[u16]) -> Result<()> {
        if !values.len().is_multiple_of(self.sample_len) {
            return Err(DataError::invalid(
                &self.out,
                "batch",
                format!(
                    "{} values is not a whole number of {}-value samples",
                    values.len(),
                    self.sample_len
                ),
            ));
        }
        let n = values.len() / self.sample_len;
        let labeled = !labels.is_empty();
        if labeled && labels.len() != n {
            return Err(DataError::CountMismatch {
                path: self.out.clone(),
                images: n,
                labels: labels.len(),
            });
        }
        if split.is_empty() || !split.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(DataError::invalid(
                &self.out,
                "split name",
                format!("`{split}`"),
            ));
        }
        let pending = self.pending.entry(split.to_string()).or_default();
        if *pending.labeled.get_or_insert(labeled) != labeled {
            return Err(DataError::invalid(
                &self.out,
                "batch",
                "a split mixes labeled and unlabeled samples",
            ));
        }
        let mut offset = 0;
        while offset < n {
            let pending = self.pending.get_mut(split).expect("inserted above");
            let room = self.samples_per_shard - pending.values.len() / self.sample_len;
            let take = room.min(n - offset);
            pending.values.extend_from_slice(
                &values[offset * self.sample_len..(offset + take) * self.sample_len],
            );
            if labeled {
                pending
                    .labels
                    .extend_from_slice(&labels[offset..offset + take]);
            }
            offset += take;
            if pending.values.len() / self.sample_len == self.samples_per_shard {
                self.flush(split)?;
            }
        }
        Ok(())
    }

    /// Writes the buffered samples of `split` as one shard.
    fn flush(&mut self, split: &str) -> Result<()> {
        let Some(pending) = self.pending.get_mut(split) else {
            return Ok(());
        };
        if pending.values.is_empty() {
            return Ok(());
        }
        let values = std::mem::take(&mut pending.values);
        let labels = std::mem::take(&mut pending.labels);
        let n = values.len() / self.sample_len;
        let info = self.manifest.splits.entry(split.to_string()).or_default();
        let file = format!("{split}-{:05}.safetensors", info.shards.len());
        let (x_bytes, quantization) = encode(self.manifest.storage, &values, self.layout);
        drop(values);
        let [c, h, w] = self.manifest.sample_shape;
        let x = TensorView::new(self.manifest.storage.dtype(), vec![n, c, h, w], &x_bytes)
            .expect("encoded length matches shape");
        let y_bytes: Vec<u8> = labels
            .iter()
            .flat_map(|&l| i64::from(l).to_le_bytes())
            .collect();
        let mut tensors = vec![("x", x)];
        if !labels.is_empty() {
            let y = TensorView::new(safetensors::Dtype::I64, vec![n], &y_bytes)
                .expect("label length matches");
            tensors.push(("y", y));
        }
        let bytes = safetensors::serialize(tensors, None)
            .map_err(|e| DataError::invalid(&self.out, "shard", e.to_string()))?;
        let path = self.tmp.join(&file);
        write_atomic(&path, &bytes, 0o644)?;
        let info = self.manifest.splits.get_mut(split).expect("inserted above");
        info.count += n;
        info.shards.push(ShardInfo {
            file,
            count: n,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            quantization,
        });
        Ok(())
    }

    /// Flushes every split, writes the manifest and moves the folder to its final name.
    pub fn finish(mut self) -> Result<Manifest> {
        let splits: Vec<String> = self.pending.keys().cloned().collect();
        for split in splits {
            self.flush(&split)?;
        }
        let json = serde_json::to_vec_pretty(&self.manifest).expect("manifest serialises");
        write_atomic(&self.tmp.join(MANIFEST_FILE), &json, 0o644)?;
        std::fs::rename(&self.tmp, &self.out).map_err(|e| DataError::io(&self.out, e))?;
        self.finished = true;
        Ok(self.manifest.clone())
    }
}

impl Drop for EncryptedDatasetWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
