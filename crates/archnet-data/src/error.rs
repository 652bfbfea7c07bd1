//! The one error type of this crate: every variant names the file (or the samples) it is about.

use std::path::PathBuf;

/// What went wrong reading or writing a dataset, always with the path concerned.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused or failed an I/O operation.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file ended before the header said it would.
    #[error("{path}: truncated file: expected {expected} bytes, found {found}")]
    Truncated {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was expected.
        expected: u64,
        /// What was found.
        found: u64,
    },
    /// The file does not start with the magic number of its format.
    #[error("{path}: wrong magic number {found:#010x} (expected {expected})")]
    WrongMagic {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was found.
        found: u32,
        /// What was expected.
        expected: &'static str,
    },
    /// Images and labels disagree in number.
    #[error("{path}: {images} images but {labels} labels")]
    CountMismatch {
        /// The file or folder concerned.
        path: PathBuf,
        /// Images found.
        images: usize,
        /// Labels found.
        labels: usize,
    },
    /// Images of one dataset have different sizes.
    #[error("{path}: mixed image sizes: {found} differs from the first image's {expected}")]
    MixedSizes {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// No samples were found where some were expected.
    #[error("{path}: empty dataset: {what}")]
    Empty {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is concerned.
        what: String,
    },
    /// An image file could not be decoded.
    #[error("{path}: unreadable image: {reason}")]
    UnreadableImage {
        /// The file or folder concerned.
        path: PathBuf,
        /// Why, in words.
        reason: String,
    },
    /// The path exists but is not a dataset this crate can read.
    #[error("{path}: not a recognised dataset: {reason}")]
    UnknownFormat {
        /// The file or folder concerned.
        path: PathBuf,
        /// Why, in words.
        reason: String,
    },
    /// Content is structurally wrong (bad header field, bad manifest, bad shape).
    #[error("{path}: invalid {what}: {reason}")]
    Invalid {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is concerned.
        what: &'static str,
        /// Why, in words.
        reason: String,
    },
    /// Samples that must carry labels (to train or evaluate on) have none.
    #[error("{what} has no labels")]
    Unlabelled {
        /// What is concerned.
        what: String,
    },
    /// A shard's content hash is not the one the manifest recorded.
    #[error("{path}: checksum mismatch: manifest says sha256 {expected}, file has {found}")]
    Checksum {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// A structural error in `what` (a header, a manifest, a shape).
    pub fn invalid(
        path: impl Into<PathBuf>,
        what: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        DataError::Invalid {
            path: path.into(),
            what,
            reason: reason.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
