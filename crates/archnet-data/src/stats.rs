//! What `archnet data inspect` prints about a dataset.

use serde::Serialize;

use crate::dataset::{ImageDataset, shape_string};

/// Count, shape, classes and pixel statistics of a dataset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetSummary {
    /// Images.
    pub count: usize,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// `(class name, number of images)` in label order; empty when unlabeled.
    pub classes: Vec<(String, usize)>,
    /// Mean of all pixels, scaled to `[0, 1]`.
    pub pixel_mean: f64,
    /// Standard deviation of all pixels, scaled to `[0, 1]`.
    pub pixel_std: f64,
}

impl DatasetSummary {
    /// Summarises `dataset` in one pass over its pixels.
    pub fn of(dataset: &ImageDataset) -> Self {
        let mut histogram = [0u64; 256];
        for &p in &dataset.pixels {
            histogram[p as usize] += 1;
        }
        let n = dataset.pixels.len().max(1) as f64;
        let mean = histogram
            .iter()
            .enumerate()
            .map(|(v, &c)| v as f64 * c as f64)
            .sum::<f64>()
            / n;
        let var = histogram
            .iter()
            .enumerate()
            .map(|(v, &c)| (v as f64 - mean).powi(2) * c as f64)
            .sum::<f64>()
            / n;
        let mut counts = vec![0usize; dataset.class_names.len()];
        if let Some(labels) = &dataset.labels {
            for &l in labels {
                counts[l as usize] += 1;
            }
        }
        DatasetSummary {
            count: dataset.len(),
            shape: dataset.shape,
            classes: dataset.class_names.iter().cloned().zip(counts).collect(),
            pixel_mean: mean / 255.0,
            pixel_std: var.sqrt() / 255.0,
        }
    }
}

impl std::fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "samples: {}", self.count)?;
        writeln!(f, "shape:   {} (C×H×W)", shape_string(&self.shape))?;
        writeln!(
            f,
            "pixels:  mean {:.4}, std {:.4} (scaled to [0, 1])",
            self.pixel_mean, self.pixel_std
        )?;
        if self.classes.is_empty() {
            writeln!(f, "classes: none (unlabeled)")?;
        } else {
            writeln!(f, "classes: {}", self.classes.len())?;
            for (i, (name, count)) in self.classes.iter().enumerate() {
                writeln!(f, "  {i:>3} {name:<16} {count}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_and_counts() {
        let d = ImageDataset {
            shape: [1, 1, 2],
            pixels: vec![0, 255, 0, 255],
            labels: Some(vec![1, 1]),
            class_names: vec!["a".into(), "b".into()],
        };
        let s = DatasetSummary::of(&d);
        assert_eq!(s.count, 2);
        assert!((s.pixel_mean - 0.5).abs() < 1e-12);
        assert!((s.pixel_std - 0.5).abs() < 1e-12);
        assert_eq!(s.classes, vec![("a".to_string(), 0), ("b".to_string(), 2)]);
    }
}
