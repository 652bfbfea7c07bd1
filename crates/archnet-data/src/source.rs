//! Where a workflow's plain images come from: a release (a folder, an archive or IDX files),
//! one of its splits, and how many of its images to take.

use std::path::PathBuf;

use crate::dataset::{ImageDataset, Split};
use crate::error::Result;
use crate::readers::open_dataset;

/// A release, one of its splits, and a limit.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSource {
    /// The release.
    pub path: PathBuf,
    /// Which of its splits.
    pub split: Split,
    /// Only the first this many images.
    pub limit: Option<usize>,
}

impl DataSource {
    /// The whole `split` of the release at `path`.
    pub fn new(path: impl Into<PathBuf>, split: Split) -> DataSource {
        DataSource {
            path: path.into(),
            split,
            limit: None,
        }
    }

    /// Reads the images, with the limit applied.
    pub fn load(&self) -> Result<ImageDataset> {
        let mut dataset = open_dataset(&self.path, self.split)?;
        if let Some(limit) = self.limit {
            dataset.truncate(limit);
        }
        Ok(dataset)
    }

    /// The same release's `test` split, when it has one, limited to `limit` images.
    pub fn test_split(&self, limit: usize) -> Option<ImageDataset> {
        let mut test = open_dataset(&self.path, Split::Test).ok()?;
        test.truncate(limit);
        Some(test)
    }

    /// `PATH (test split, first N images)`, as key files record what a key was measured on.
    pub fn describe_test(&self, images: usize) -> String {
        format!(
            "{} (test split, first {images} images)",
            self.path.display()
        )
    }

    /// `PATH (SPLIT split, N images)`, as key files record their training data.
    pub fn describe(&self, images: usize) -> String {
        format!(
            "{} ({} split, {images} images)",
            self.path.display(),
            self.split
        )
    }
}
