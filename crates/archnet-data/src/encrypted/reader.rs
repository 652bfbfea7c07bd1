//! Reading encrypted datasets shard by shard, with every checksum verified.

use std::path::{Path, PathBuf};

use super::manifest::{MANIFEST_FILE, Manifest, ShardInfo, SplitInfo};
use super::storage::{SampleLayout, decode};
use crate::error::{DataError, Result};
use crate::fsutil::sha256_hex;

/// An encrypted dataset folder opened for reading.
#[derive(Debug, Clone)]
pub struct EncryptedDataset {
    dir: PathBuf,
    manifest: Manifest,
}

/// The decoded content of one shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Shard {
    /// Number of samples.
    pub count: usize,
    /// `count × C × H × W` values.
    pub x: Vec<f32>,
    /// One label per sample, when the split is labeled.
    pub y: Option<Vec<u16>>,
}

impl EncryptedDataset {
    /// Opens `dir`: reads and checks the manifest and that every shard file is there with the
    /// recorded size. Checksums are verified when a shard is read.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(DataError::UnknownFormat {
                path: dir.into(),
                reason: "not an encrypted-dataset folder (no such folder)".into(),
            });
        }
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            return Err(DataError::UnknownFormat {
                path: dir.into(),
                reason: format!("not an encrypted-dataset folder (no {MANIFEST_FILE})"),
            });
        }
        let manifest = Manifest::load(&manifest_path)?;
        for shard in manifest.splits.values().flat_map(|s| &s.shards) {
            let path = dir.join(&shard.file);
            let len = std::fs::metadata(&path)
                .map_err(|e| DataError::io(&path, e))?
                .len();
            if len != shard.bytes {
                return Err(DataError::Truncated {
                    path,
                    expected: shard.bytes,
                    found: len,
                });
            }
        }
        Ok(EncryptedDataset {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The folder this dataset lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Values in one sample (`C × H × W`).
    pub fn sample_len(&self) -> usize {
        self.manifest.sample_shape.iter().product()
    }

    /// The split called `name`, or an error listing the splits there are.
    pub fn split(&self, name: &str) -> Result<&SplitInfo> {
        self.manifest.splits.get(name).ok_or_else(|| {
            DataError::invalid(
                &self.dir,
                "split",
                format!(
                    "no split `{name}` (the dataset has: {})",
                    self.manifest
                        .splits
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    /// Reads, verifies and decodes one shard.
    pub fn read_shard(&self, shard: &ShardInfo) -> Result<Shard> {
        let path = self.dir.join(&shard.file);
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let found = sha256_hex(&bytes);
        if found != shard.sha256 {
            return Err(DataError::Checksum {
                path,
                expected: shard.sha256.clone(),
                found,
            });
        }
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| DataError::invalid(&path, "shard", e.to_string()))?;
        let x = st
            .tensor("x")
            .map_err(|e| DataError::invalid(&path, "shard", format!("tensor `x`: {e}")))?;
        let [c, h, w] = self.manifest.sample_shape;
        let expected_shape = [shard.count, c, h, w];
        if x.shape() != expected_shape || x.dtype() != self.manifest.storage.dtype() {
            return Err(DataError::invalid(
                &path,
                "shard",
                format!(
                    "`x` is {:?} {:?}, manifest says {:?} {:?}",
                    x.dtype(),
                    x.shape(),
                    self.manifest.storage.dtype(),
                    expected_shape
                ),
            ));
        }
        let layout = SampleLayout {
            channels: c,
            plane: h * w,
        };
        let values = decode(
            self.manifest.storage,
            x.data(),
            layout,
            shard.quantization.as_ref(),
        )
        .map_err(|e| DataError::invalid(&path, "shard", e))?;
        let y = match st.tensor("y") {
            Ok(y) => {
                if y.shape() != [shard.count] || y.dtype() != safetensors::Dtype::I64 {
                    return Err(DataError::invalid(
                        &path,
                        "shard",
                        "`y` is not an i64 vector of the shard's length",
                    ));
                }
                let classes = self.manifest.class_names.len();
                let mut labels = Vec::with_capacity(shard.count);
                for chunk in y.data().chunks_exact(8) {
                    let l = i64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                    if l < 0 || l as usize >= classes.max(1) {
                        return Err(DataError::invalid(
                            &path,
                            "shard",
                            format!("label {l} outside the {classes} classes"),
                        ));
                    }
                    labels.push(l as u16);
                }
                Some(labels)
            }
            Err(_) => None,
        };
        Ok(Shard {
            count: shard.count,
            x: values,
            y,
        })
    }

    /// Iterates over the shards of `split` in order, reading each only when reached, so at
    /// most one shard is in memory at a time.
    pub fn shards<'a>(&'a self, split: &str) -> Result<impl Iterator<Item = Result<Shard>> + 'a> {
        let info = self.split(split)?;
        Ok(info.shards.iter().map(move |s| self.read_shard(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{EncryptedDatasetWriter, Storage, WriterHeader};
    use super::*;

    fn header(storage: Storage) -> WriterHeader {
        WriterHeader {
            key_id: "k1".into(),
            key_preset: "test".into(),
            plain_shape: [1, 2, 2],
            sample_shape: [2, 2, 2],
            storage,
            class_names: vec!["a".into(), "b".into(), "c".into()],
            source_fingerprint: "f".into(),
        }
    }

    fn values(n: usize) -> Vec<f32> {
        (0..n * 8).map(|i| (i as f32 * 0.37).sin()).collect()
    }

    fn write(dir: &Path, storage: Storage, n: usize) -> Manifest {
        // 3 samples a shard: 3 × 8 values × 4 bytes = 96 bytes.
        let mut w = EncryptedDatasetWriter::create(
            dir,
            header(storage),
            96 / 4 * storage.bytes_per_value(),
        )
        .unwrap();
        let labels: Vec<u16> = (0..n).map(|i| (i % 3) as u16).collect();
        w.push_batch("train", &values(n)[..5 * 8], &labels[..5])
            .unwrap();
        w.push_batch("train", &values(n)[5 * 8..], &labels[5..])
            .unwrap();
        w.push_batch("validation", &values(2), &[2, 1]).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn round_trip_f32_is_exact_and_sharded() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("enc");
        let m = write(&dir, Storage::F32, 7);
        assert_eq!(m.splits["train"].shards.len(), 3);
        assert_eq!(m.splits["train"].count, 7);
        let ds = EncryptedDataset::open(&dir).unwrap();
        let mut x = Vec::new();
        let mut y = Vec::new();
        for shard in ds.shards("train").unwrap() {
            let shard = shard.unwrap();
            x.extend(shard.x);
            y.extend(shard.y.unwrap());
        }
        assert_eq!(x, values(7));
        assert_eq!(y, vec![0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(ds.split("validation").unwrap().count, 2);
    }

    #[test]
    fn round_trip_q8_is_close() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("enc");
        write(&dir, Storage::Q8, 7);
        let ds = EncryptedDataset::open(&dir).unwrap();
        let x: Vec<f32> = ds
            .shards("train")
            .unwrap()
            .flat_map(|s| s.unwrap().x)
            .collect();
        for (a, b) in x.iter().zip(values(7)) {
            assert!((a - b).abs() < 2.0 / 255.0, "{a} vs {b}");
        }
    }

    #[test]
    fn corrupted_shard_fails_checksum() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("enc");
        write(&dir, Storage::F32, 7);
        let shard = dir.join("train-00001.safetensors");
        let mut bytes = std::fs::read(&shard).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&shard, bytes).unwrap();
        let ds = EncryptedDataset::open(&dir).unwrap();
        let err = ds
            .shards("train")
            .unwrap()
            .nth(1)
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-00001.safetensors: checksum mismatch"),
            "{err}"
        );
    }

    #[test]
    fn truncated_shard_is_named_on_open() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("enc");
        write(&dir, Storage::F16, 7);
        let shard = dir.join("validation-00000.safetensors");
        let bytes = std::fs::read(&shard).unwrap();
        std::fs::write(&shard, &bytes[..bytes.len() - 3]).unwrap();
        let err = EncryptedDataset::open(&dir).unwrap_err().to_string();
        assert!(
            err.contains("validation-00000.safetensors: truncated file"),
            "{err}"
        );
    }

    #[test]
    fn unknown_split_lists_the_others() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("enc");
        write(&dir, Storage::F32, 7);
        let err = EncryptedDataset::open(&dir)
            .unwrap()
            .split("test")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no split `test` (the dataset has: train, validation)"),
            "{err}"
        );
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("enc");
        {
            let mut w = EncryptedDatasetWriter::create(&dir, header(Storage::F32), 96).unwrap();
            w.push_batch("train", &values(7), &[0; 7]).unwrap();
        }
        assert!(!dir.exists());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }

    #[test]
    fn existing_output_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let err = EncryptedDatasetWriter::create(t.path(), header(Storage::F32), 96)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("output already exists"), "{err}");
    }
}
