//! The in-memory plain dataset every reader produces.

use serde::{Deserialize, Serialize};

/// Which part of a dataset release to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training part (`train-*` IDX files, `data_batch_*.bin`, a `train/` folder).
    #[default]
    Train,
    /// The test part (`t10k-*` IDX files, `test_batch.bin`, a `test/` folder).
    Test,
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            other => Err(format!("unknown split `{other}` (expected train or test)")),
        }
    }
}

/// Images as `u8` pixels in CHW order, with optional class labels.
///
/// Pixels stay `u8` in memory (MNIST's 60,000 images take 47 MB); [`ImageDataset::batch_f32`]
/// converts a batch to `[0, 1]` floats on demand.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDataset {
    /// `[channels, height, width]` of every image.
    pub shape: [usize; 3],
    /// All pixels, image after image, each image CHW.
    pub pixels: Vec<u8>,
    /// One label per image (an index into `class_names`), or `None` for unlabeled data.
    pub labels: Option<Vec<u16>>,
    /// Class names in label order; empty for unlabeled data.
    pub class_names: Vec<String>,
}

impl ImageDataset {
    /// Number of values in one image.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.image_len().max(1)
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[index * n..(index + 1) * n]
    }

    /// Label of image `index`, if the dataset is labeled.
    pub fn label(&self, index: usize) -> Option<u16> {
        self.labels.as_ref().map(|l| l[index])
    }

    /// The images at `indices` as one flat `[0, 1]` float batch (NCHW order).
    pub fn batch_f32(&self, indices: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            out.extend(self.image(i).iter().map(|&p| f32::from(p) / 255.0));
        }
        out
    }

    /// Keeps only the first `limit` images (all of them when `limit` is larger).
    pub fn truncate(&mut self, limit: usize) {
        if limit < self.len() {
            self.pixels.truncate(limit * self.image_len());
            if let Some(labels) = &mut self.labels {
                labels.truncate(limit);
            }
        }
    }

    /// A new dataset made of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageDataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageDataset {
            shape: self.shape,
            pixels,
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            class_names: self.class_names.clone(),
        }
    }

    /// A sha256 over shape, pixels and labels: identifies the exact data a key was trained on.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for d in self.shape {
            h.update((d as u64).to_le_bytes());
        }
        h.update(&self.pixels);
        if let Some(labels) = &self.labels {
            for l in labels {
                h.update(l.to_le_bytes());
            }
        }
        hex::encode(h.finalize())
    }
}

/// Formats a shape as `C×H×W`.
pub fn shape_string(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ImageDataset {
        ImageDataset {
            shape: [1, 1, 2],
            pixels: vec![0, 255, 51, 102, 7, 8],
            labels: Some(vec![0, 1, 0]),
            class_names: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn batch_f32_scales_to_unit_interval() {
        let d = tiny();
        assert_eq!(d.batch_f32(&[0, 1]), vec![0.0, 1.0, 0.2, 0.4]);
    }

    #[test]
    fn select_keeps_labels_aligned() {
        let d = tiny().select(&[2, 0]);
        assert_eq!(d.pixels, vec![7, 8, 0, 255]);
        assert_eq!(d.labels, Some(vec![0, 0]));
    }

    #[test]
    fn fingerprint_changes_with_one_pixel() {
        let a = tiny();
        let mut b = tiny();
        b.pixels[5] = 9;
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), tiny().fingerprint());
    }
}
