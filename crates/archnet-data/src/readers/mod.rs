//! Dataset readers, and [`open_dataset`], which picks one from what a path looks like.

pub mod cifar;
pub mod folder;
pub mod idx;

use std::io::Read;
use std::path::Path;

use crate::dataset::{ImageDataset, Split};
use crate::error::{DataError, Result};

/// Opens the `split` of the dataset at `path`, choosing the reader from the path:
///
/// - a folder with `train-images-idx3-ubyte[.gz]` / `t10k-…` files (MNIST, Fashion-MNIST), or one
///   IDX images file (its labels file is found by name);
/// - a folder with `data_batch_N.bin` / `test_batch.bin` (CIFAR-10 binary release, also inside a
///   `cifar-10-batches-bin/` sub-folder), or one such `.bin` file;
/// - a `.tar.gz` / `.tgz` of image folders;
/// - an image folder: `train/` and `test/` sub-folders, or one sub-folder per class, or a flat
///   folder of images (unlabeled).
pub fn open_dataset(path: &Path, split: Split) -> Result<ImageDataset> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if meta.is_file() {
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            return folder::read_tar_gz(path, split);
        }
        if name.contains("idx") {
            return idx::read_idx_images_file(path);
        }
        if name.ends_with(".bin") {
            return cifar::read_cifar_files(&[path.to_path_buf()], path);
        }
        return Err(DataError::UnknownFormat {
            path: path.into(),
            reason: "expected a folder, an IDX file, a CIFAR-10 .bin file or a .tar.gz".into(),
        });
    }
    if let Some(found) = idx::find_idx_pair(path, split)? {
        return idx::read_idx_pair(&found.0, &found.1, idx::class_names_for(path));
    }
    if let Some(files) = cifar::find_cifar_files(path, split)? {
        return cifar::read_cifar_files(&files, path);
    }
    folder::read_image_folder(path, split)
}

/// Reads a whole file, transparently gunzipping it when it starts with the gzip magic.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| gzip_error(path, e))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// A gzip stream that ends early is a truncated file; say so rather than "unexpected EOF".
pub(crate) fn gzip_error(path: &Path, e: std::io::Error) -> DataError {
    let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "truncated gzip stream".to_string()
    } else {
        format!("corrupt gzip stream: {e}")
    };
    DataError::invalid(path, "gzip data", reason)
}
