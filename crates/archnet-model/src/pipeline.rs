//! Streaming encrypt (plain dataset → E1 → encrypted dataset) and decrypt (→ D1 → PNGs).

use std::path::{Path, PathBuf};

use archnet_data::encrypted::{
    EncryptedDataset, EncryptedDatasetWriter, Manifest, Storage, WriterHeader,
};
use archnet_data::readers::folder::encode_png;
use archnet_data::{DataError, ImageDataset};
use burn::prelude::*;

use crate::error::{ModelError, Result};
use crate::key::ArchNetKey;
use crate::keyfile::KeyMetadata;
use crate::metrics::QualityMeans;

/// How to divide a dataset into train and validation splits: `train:validation` parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitRatio {
    /// Parts of the data that go to the train split …
    pub train: usize,
    /// … and to the validation split.
    pub validation: usize,
}

impl SplitRatio {
    /// The paper's ratio for `plain_shape`: 6:1 for 1×28×28 (MNIST, Fashion-MNIST), 5:1 else.
    pub fn paper_default(plain_shape: [usize; 3]) -> Self {
        if plain_shape == [1, 28, 28] {
            SplitRatio {
                train: 6,
                validation: 1,
            }
        } else {
            SplitRatio {
                train: 5,
                validation: 1,
            }
        }
    }

    /// Number of training samples out of `n` (the first ones; the rest are validation).
    pub fn train_count(self, n: usize) -> usize {
        n * self.train / (self.train + self.validation).max(1)
    }
}

impl std::str::FromStr for SplitRatio {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "none" {
            return Ok(SplitRatio {
                train: 1,
                validation: 0,
            });
        }
        let (a, b) = s.split_once(':').ok_or_else(|| {
            format!("split `{s}` is not of the form TRAIN:VALIDATION (e.g. 6:1) or none")
        })?;
        let parse = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("split `{s}`: `{x}` is not a whole number"))
        };
        let (train, validation) = (parse(a)?, parse(b)?);
        if train == 0 {
            return Err(format!("split `{s}` leaves no training data"));
        }
        Ok(SplitRatio { train, validation })
    }
}

/// Options of [`encrypt_dataset`].
pub struct EncryptOptions {
    /// How the images are split between train and validation.
    pub split: SplitRatio,
    /// How ciphertext values are stored.
    pub storage: Storage,
    /// Images encrypted per batch.
    pub batch_size: usize,
    /// Bytes per shard file, at most.
    pub shard_bytes: usize,
    /// Describes the source in the manifest's fingerprint field.
    pub source_fingerprint: String,
    /// Randomised encryption: Gaussian noise of this standard deviation, relative to the
    /// standard deviation of the first batch's ciphertexts, added to every value (0: none).
    pub noise: f32,
}

/// Runs every image of `data` through E1 in batches and writes the encrypted dataset to `out`:
/// the first images to the `train` split, the rest to `validation`, as `options.split` says.
/// Memory holds one batch and one shard per split, whatever the dataset size.
pub fn encrypt_dataset(
    key: &ArchNetKey,
    meta: &KeyMetadata,
    data: &ImageDataset,
    out: &Path,
    options: &EncryptOptions,
    on_batch: &mut dyn FnMut(usize),
) -> Result<Manifest> {
    let arch = &meta.architecture;
    arch.check_images(data.shape, out)?;
    let header = WriterHeader {
        key_id: meta.key_id.clone(),
        key_preset: arch.preset.clone(),
        plain_shape: arch.plain_shape,
        sample_shape: arch.cipher_shape,
        storage: options.storage,
        class_names: data.class_names.clone(),
        source_fingerprint: options.source_fingerprint.clone(),
    };
    let mut writer = EncryptedDatasetWriter::create(out, header, options.shard_bytes)?;
    // Each image is encrypted once into this dataset: the key's one-release guarantee holds.
    writer.set_privacy(meta.privacy.clone());
    let device = crate::device();
    let [c, h, w] = arch.plain_shape;
    let n_train = options.split.train_count(data.len());
    writer.set_source_offset("train", 0);
    if n_train < data.len() {
        writer.set_source_offset("validation", n_train);
    }
    let mut start = 0;
    let mut noise_std = None;
    while start < data.len() {
        // Batches never straddle the split boundary.
        let end = if start < n_train {
            (start + options.batch_size).min(n_train)
        } else {
            (start + options.batch_size).min(data.len())
        };
        let indices: Vec<usize> = (start..end).collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(data.batch_f32(&indices), [indices.len(), c, h, w]),
            &device,
        );
        let mut cipher = key
            .encrypt(x)
            .into_data()
            .try_to_vec::<f32>()
            .expect("E1 outputs f32");
        if options.noise > 0.0 {
            // One absolute scale for the whole dataset, fresh draws for every batch.
            let std = *noise_std
                .get_or_insert_with(|| crate::metrics::std_dev(&cipher) * options.noise as f64);
            crate::privacy::add_absolute_noise(&mut cipher, std, start as u64);
        }
        let labels: Vec<u16> = data
            .labels
            .as_ref()
            .map(|l| l[start..end].to_vec())
            .unwrap_or_default();
        let split = if start < n_train {
            "train"
        } else {
            "validation"
        };
        writer.push_batch(split, &cipher, &labels)?;
        on_batch(indices.len());
        start = end;
    }
    Ok(writer.finish()?)
}

/// Options of [`decrypt_dataset`].
pub struct DecryptOptions {
    /// Only these splits (all when empty).
    pub splits: Vec<String>,
    /// At most this many samples per split.
    pub limit: Option<usize>,
    /// Ciphertexts decrypted per batch.
    pub batch_size: usize,
}

impl DecryptOptions {
    /// How many samples of `dataset` these options decrypt (a progress bar's length).
    pub fn samples(&self, dataset: &EncryptedDataset) -> usize {
        dataset
            .manifest()
            .splits
            .iter()
            .filter(|(name, _)| self.splits.is_empty() || self.splits.contains(name))
            .map(|(_, s)| s.count.min(self.limit.unwrap_or(usize::MAX)))
            .sum()
    }
}

/// `archnet decrypt`: checks the key at `key` against the dataset at `dataset` from its header
/// (before loading hundreds of MB of weights), then decrypts into `out`, scored against
/// `reference` when given; `on_batch` hears (images done, of how many).
pub fn decrypt_files(
    key: &Path,
    dataset: &Path,
    out: &Path,
    reference: Option<&archnet_data::DataSource>,
    options: &DecryptOptions,
    on_batch: &mut dyn FnMut(usize, usize),
) -> Result<DecryptReport> {
    let dataset = EncryptedDataset::open(dataset)?;
    check_key_matches(&crate::KeyFile::read_metadata(key)?, &dataset)?;
    let (key, meta) = crate::KeyFile::load(key, &crate::device())?;
    let reference = reference.map(|r| r.load()).transpose()?;
    let total = options.samples(&dataset);
    decrypt_dataset(
        &key,
        &meta,
        &dataset,
        out,
        reference.as_ref(),
        options,
        &mut |n| on_batch(n, total),
    )
}

/// What a decrypt run did.
#[derive(Debug, Clone)]
pub struct DecryptReport {
    /// Images written as PNG.
    pub images_written: usize,
    /// PSNR/SSIM against the reference dataset, when one was given.
    pub quality: Option<QualityMeans>,
    /// The folder they were written to.
    pub out: PathBuf,
    /// Wall seconds of the run.
    pub seconds: f64,
}

/// What `archnet decrypt` prints: the images written and, with a reference, their quality.
impl std::fmt::Display for DecryptReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "decrypted {} images to {} in {:.1} s",
            self.images_written,
            self.out.display(),
            self.seconds
        )?;
        if let Some(q) = &self.quality {
            write!(
                f,
                "\nagainst the reference: mean PSNR {:.2} dB, mean SSIM {:.4} over {} images",
                q.psnr_db, q.ssim, q.count
            )?;
        }
        Ok(())
    }
}

/// What [`encrypt_files`] did, as `archnet encrypt` prints it.
pub struct EncryptReport {
    /// The written manifest.
    pub manifest: Manifest,
    /// Images encrypted.
    pub images: usize,
    /// Their size as plain u8 pixels.
    pub plain_bytes: u64,
    /// Wall seconds.
    pub seconds: f64,
    /// Where the dataset went.
    pub out: PathBuf,
}

/// What `archnet encrypt` chooses; the rest of [`EncryptOptions`] follows from the data.
#[derive(Debug, Clone, Copy)]
pub struct EncryptSettings {
    /// Train/validation split; the paper's for the data's shape when `None`.
    pub split: Option<SplitRatio>,
    /// How ciphertexts are stored.
    pub storage: Storage,
    /// Images per E1 batch.
    pub batch_size: usize,
    /// Randomised encryption: fresh noise × the ciphertexts' std (0: none).
    pub noise: f32,
}

impl EncryptSettings {
    /// The full options for encrypting `images`: the paper's split for their shape unless one
    /// is set, their fingerprint, the default shard size.
    pub fn options_for(&self, images: &ImageDataset) -> EncryptOptions {
        EncryptOptions {
            split: self
                .split
                .unwrap_or(SplitRatio::paper_default(images.shape)),
            storage: self.storage,
            batch_size: self.batch_size.max(1),
            shard_bytes: archnet_data::encrypted::DEFAULT_SHARD_BYTES,
            source_fingerprint: images.fingerprint(),
            noise: self.noise,
        }
    }
}

/// `archnet encrypt`: the key at `key` encrypts the images of `data` into `out`; `on_batch`
/// hears (images done, of how many).
pub fn encrypt_files(
    key: &Path,
    data: &archnet_data::DataSource,
    out: &Path,
    settings: &EncryptSettings,
    on_batch: &mut dyn FnMut(usize, usize),
) -> Result<EncryptReport> {
    let (key, meta) = crate::KeyFile::load(key, &crate::device())?;
    let images = data.load()?;
    let options = settings.options_for(&images);
    let total = images.len();
    // Timed from here: the seconds and samples/s are the encryption's, not the loading's.
    let started = std::time::Instant::now();
    let manifest = encrypt_dataset(&key, &meta, &images, out, &options, &mut |n| {
        on_batch(n, total)
    })?;
    Ok(EncryptReport {
        manifest,
        images: total,
        plain_bytes: images.pixels.len() as u64,
        seconds: started.elapsed().as_secs_f64(),
        out: out.to_path_buf(),
    })
}

impl std::fmt::Display for EncryptReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use archnet_data::fsutil::human_bytes;
        let m = &self.manifest;
        writeln!(
            f,
            "encrypted {} images with key {} in {:.1} s ({:.0} samples/s)",
            self.images,
            m.key_id,
            self.seconds,
            self.images as f64 / self.seconds.max(1e-9)
        )?;
        for (name, info) in &m.splits {
            writeln!(
                f,
                "  {name}: {} samples in {} shard(s)",
                info.count,
                info.shards.len()
            )?;
        }
        let plain_bytes = self.plain_bytes;
        writeln!(
            f,
            "  {} storage: {} on disk, {:.1}× the {} of plain u8 pixels → {}",
            m.storage,
            human_bytes(m.total_bytes()),
            m.total_bytes() as f64 / plain_bytes.max(1) as f64,
            human_bytes(plain_bytes),
            self.out.display()
        )?;
        write!(
            f,
            "  privacy: {}",
            crate::keyjob::PrivacyLine(m.privacy.as_ref())
        )
    }
}

/// Checks that `dataset` was encrypted by the key described by `meta`.
pub fn check_key_matches(meta: &KeyMetadata, dataset: &EncryptedDataset) -> Result<()> {
    let m = dataset.manifest();
    if m.key_id != meta.key_id {
        return Err(ModelError::Mismatch {
            path: dataset.dir().into(),
            reason: format!(
                "wrong key: the data was encrypted with key {} but this key is {}",
                m.key_id, meta.key_id
            ),
        });
    }
    if m.sample_shape != meta.architecture.cipher_shape
        || m.plain_shape != meta.architecture.plain_shape
    {
        return Err(ModelError::Mismatch {
            path: dataset.dir().into(),
            reason: format!(
                "shape mismatch: samples are {:?} but the key's D1 takes {:?}",
                m.sample_shape, meta.architecture.cipher_shape
            ),
        });
    }
    Ok(())
}

/// Runs D1 over the encrypted dataset and writes PNGs to `out/<split>/<index>.png` plus
/// `out/labels.csv`. With `reference` (the plain source dataset), also measures PSNR/SSIM of
/// each reconstruction against its original. `out` appears only when everything succeeded.
// Why one function: the body is the all-or-nothing write (a temporary sibling folder renamed into
// place, removed on failure); the per-split work inside the closure shares its files and counters.
pub fn decrypt_dataset(
    key: &ArchNetKey,
    meta: &KeyMetadata,
    dataset: &EncryptedDataset,
    out: &Path,
    reference: Option<&ImageDataset>,
    options: &DecryptOptions,
    on_batch: &mut dyn FnMut(usize),
) -> Result<DecryptReport> {
    let started = std::time::Instant::now();
    check_key_matches(meta, dataset)?;
    if !meta.architecture.has_decoder() {
        return Err(ModelError::Mismatch {
            path: out.into(),
            reason: format!(
                "key {} is a `{}` key: it has no decoder D1, and nothing turns its ciphertexts back into images",
                meta.key_id, meta.architecture.preset
            ),
        });
    }
    archnet_data::fsutil::ensure_new_output(out)?;
    let manifest = dataset.manifest().clone();
    if let Some(r) = reference
        && r.shape != manifest.plain_shape
    {
        return Err(ModelError::Mismatch {
            path: out.into(),
            reason: format!(
                "the reference images are {:?}, the key's are {:?}",
                r.shape, manifest.plain_shape
            ),
        });
    }
    let tmp = archnet_data::fsutil::temp_sibling(out);
    let result = (|| -> Result<DecryptReport> {
        std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        let mut csv = String::from("split,index,file,label\n");
        let mut quality = reference.map(|_| QualityMeans::default());
        let mut written = 0;
        let device = crate::device();
        let [c, h, w] = manifest.sample_shape;
        let plain_shape = manifest.plain_shape;
        let plain_len: usize = plain_shape.iter().product();
        for (name, info) in &manifest.splits {
            if !options.splits.is_empty() && !options.splits.contains(name) {
                continue;
            }
            let split_dir = tmp.join(name);
            std::fs::create_dir_all(&split_dir).map_err(|e| DataError::io(&split_dir, e))?;
            let limit = options.limit.unwrap_or(usize::MAX).min(info.count);
            let mut index = 0;
            'shards: for shard in dataset.shards(name)? {
                let shard = shard?;
                let sample_len = c * h * w;
                for start in (0..shard.count).step_by(options.batch_size.max(1)) {
                    if index >= limit {
                        break 'shards;
                    }
                    let end = (start + options.batch_size.max(1))
                        .min(shard.count)
                        .min(start + limit - index);
                    let x = Tensor::<4>::from_data(
                        TensorData::new(
                            shard.x[start * sample_len..end * sample_len].to_vec(),
                            [end - start, c, h, w],
                        ),
                        &device,
                    );
                    let y = key
                        .decrypt(x)
                        .into_data()
                        .try_to_vec::<f32>()
                        .expect("D1 outputs f32");
                    for (i, image) in y.chunks_exact(plain_len).enumerate() {
                        let pixels: Vec<u8> = image
                            .iter()
                            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                            .collect();
                        let file = format!("{name}/{:06}.png", index);
                        let path = tmp.join(&file);
                        std::fs::write(&path, encode_png(plain_shape, &pixels))
                            .map_err(|e| DataError::io(&path, e))?;
                        let label = shard
                            .y
                            .as_ref()
                            .map(|l| manifest.class_names[l[start + i] as usize].clone())
                            .unwrap_or_default();
                        csv.push_str(&format!("{name},{index},{file},{label}\n"));
                        if let (Some(q), Some(r)) = (quality.as_mut(), reference) {
                            let source = info.source_offset + index;
                            if source < r.len() {
                                let original: Vec<f32> = r
                                    .image(source)
                                    .iter()
                                    .map(|&p| f32::from(p) / 255.0)
                                    .collect();
                                q.add(plain_shape, &original, image);
                            }
                        }
                        index += 1;
                        written += 1;
                    }
                    on_batch(end - start);
                }
            }
        }
        let csv_path = tmp.join("labels.csv");
        std::fs::write(&csv_path, csv).map_err(|e| DataError::io(&csv_path, e))?;
        std::fs::rename(&tmp, out).map_err(|e| DataError::io(out, e))?;
        Ok(DecryptReport {
            images_written: written,
            quality,
            out: out.to_path_buf(),
            seconds: started.elapsed().as_secs_f64(),
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ratio_parses_and_counts() {
        let r: SplitRatio = "6:1".parse().unwrap();
        assert_eq!(r.train_count(70_000), 60_000);
        let none: SplitRatio = "none".parse().unwrap();
        assert_eq!(none.train_count(7), 7);
        assert!(
            "6".parse::<SplitRatio>()
                .unwrap_err()
                .contains("TRAIN:VALIDATION")
        );
        assert!("0:1".parse::<SplitRatio>().is_err());
        assert_eq!(
            SplitRatio::paper_default([3, 32, 32]),
            SplitRatio {
                train: 5,
                validation: 1
            }
        );
    }
}
