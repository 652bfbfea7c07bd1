//! The IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed).
//!
//! A file is a 4-byte magic `00 00 <type> <ndims>` (type `0x08` = u8), `ndims` big-endian u32
//! dimensions, then the data. Images are `idx3` (`N×H×W`), labels `idx1` (`N`).

use std::path::{Path, PathBuf};

use super::read_maybe_gzip;
use crate::dataset::{ImageDataset, Split};
use crate::error::{DataError, Result};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Fashion-MNIST's class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// A parsed IDX file: its dimensions and its payload.
struct IdxFile {
    dims: Vec<usize>,
    data: Vec<u8>,
}

fn parse_idx(path: &Path, expected_magic: u32, what: &'static str) -> Result<IdxFile> {
    let bytes = read_maybe_gzip(path)?;
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: 4,
            found: bytes.len() as u64,
        });
    }
    let magic = u32::from_be_bytes(bytes[0..4].try_into().expect("4 bytes"));
    if magic != expected_magic {
        return Err(DataError::WrongMagic {
            path: path.into(),
            found: magic,
            expected: what,
        });
    }
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let payload = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::invalid(path, "IDX header", "dimensions overflow"))?;
    let expected = header as u64 + payload as u64;
    if (bytes.len() as u64) < expected {
        return Err(DataError::Truncated {
            path: path.into(),
            expected,
            found: bytes.len() as u64,
        });
    }
    if (bytes.len() as u64) > expected {
        return Err(DataError::invalid(
            path,
            "IDX file",
            format!(
                "{} trailing bytes after the data",
                bytes.len() as u64 - expected
            ),
        ));
    }
    Ok(IdxFile {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an images file (`idx3`) and its labels file (`idx1`).
pub fn read_idx_pair(
    images: &Path,
    labels: &Path,
    class_names: Vec<String>,
) -> Result<ImageDataset> {
    let img = parse_idx(
        images,
        IMAGES_MAGIC,
        "0x00000803 (IDX u8 images, 3 dimensions)",
    )?;
    let lab = parse_idx(
        labels,
        LABELS_MAGIC,
        "0x00000801 (IDX u8 labels, 1 dimension)",
    )?;
    let (n, h, w) = (img.dims[0], img.dims[1], img.dims[2]);
    if n == 0 {
        return Err(DataError::Empty {
            path: images.into(),
            what: "the IDX file holds 0 images".into(),
        });
    }
    if lab.dims[0] != n {
        return Err(DataError::CountMismatch {
            path: labels.into(),
            images: n,
            labels: lab.dims[0],
        });
    }
    let max_label = lab.data.iter().copied().max().unwrap_or(0) as usize;
    let mut class_names = class_names;
    if class_names.len() <= max_label {
        class_names = (0..=max_label).map(|i| i.to_string()).collect();
    }
    Ok(ImageDataset {
        shape: [1, h, w],
        pixels: img.data,
        labels: Some(lab.data.iter().map(|&l| u16::from(l)).collect()),
        class_names,
    })
}

/// Reads one IDX images file, finding its labels file by replacing `images-idx3` with
/// `labels-idx1` in its name; without such a file the dataset is unlabeled.
pub fn read_idx_images_file(path: &Path) -> Result<ImageDataset> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let labels = path.with_file_name(name.replace("images-idx3", "labels-idx1"));
    if labels != path && labels.exists() {
        let dir = path.parent().unwrap_or(Path::new("."));
        return read_idx_pair(path, &labels, class_names_for(dir));
    }
    let img = parse_idx(
        path,
        IMAGES_MAGIC,
        "0x00000803 (IDX u8 images, 3 dimensions)",
    )?;
    Ok(ImageDataset {
        shape: [1, img.dims[1], img.dims[2]],
        pixels: img.data,
        labels: None,
        class_names: vec![],
    })
}

/// Finds `<prefix>-images-idx3-ubyte[.gz]` and its labels file in `dir` for `split`
/// (`train` or `t10k`). `Ok(None)` when the folder holds no IDX files at all.
pub fn find_idx_pair(dir: &Path, split: Split) -> Result<Option<(PathBuf, PathBuf)>> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let find = |stem: String| {
        [stem.clone(), format!("{stem}.gz")]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    };
    let images = find(format!("{prefix}-images-idx3-ubyte"));
    let labels = find(format!("{prefix}-labels-idx1-ubyte"));
    match (images, labels) {
        (Some(i), Some(l)) => Ok(Some((i, l))),
        (Some(i), None) => Err(DataError::UnknownFormat {
            path: i,
            reason: format!("no {prefix}-labels-idx1-ubyte[.gz] beside it"),
        }),
        (None, Some(l)) => Err(DataError::UnknownFormat {
            path: l,
            reason: format!("no {prefix}-images-idx3-ubyte[.gz] beside it"),
        }),
        (None, None) => Ok(None),
    }
}

/// Class names for an IDX folder: Fashion-MNIST's when the path says "fashion", digits otherwise.
pub fn class_names_for(dir: &Path) -> Vec<String> {
    let is_fashion = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .to_string_lossy()
        .to_lowercase()
        .contains("fashion");
    if is_fashion {
        FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        (0..10).map(|i| i.to_string()).collect()
    }
}

/// Encodes images (`N×H×W` u8) as an IDX3 file's bytes; used by tests and by sample writers.
pub fn encode_idx_images(n: usize, h: usize, w: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = IMAGES_MAGIC.to_be_bytes().to_vec();
    for d in [n, h, w] {
        out.extend((d as u32).to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an IDX1 file's bytes.
pub fn encode_idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = LABELS_MAGIC.to_be_bytes().to_vec();
    out.extend((labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn pair(dir: &Path, n_labels: usize) {
        write(
            dir,
            "train-images-idx3-ubyte",
            &encode_idx_images(3, 2, 2, &[7; 12]),
        );
        write(
            dir,
            "train-labels-idx1-ubyte",
            &encode_idx_labels(&vec![1; n_labels]),
        );
    }

    #[test]
    fn reads_raw_pair() {
        let t = tempfile::tempdir().unwrap();
        pair(t.path(), 3);
        let d = crate::open_dataset(t.path(), Split::Train).unwrap();
        assert_eq!(d.shape, [1, 2, 2]);
        assert_eq!(d.len(), 3);
        assert_eq!(d.labels, Some(vec![1, 1, 1]));
    }

    #[test]
    fn reads_gzip_pair() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "t10k-images-idx3-ubyte.gz",
            &gzip(&encode_idx_images(2, 1, 3, &[1, 2, 3, 4, 5, 6])),
        );
        write(
            t.path(),
            "t10k-labels-idx1-ubyte.gz",
            &gzip(&encode_idx_labels(&[0, 9])),
        );
        let d = crate::open_dataset(t.path(), Split::Test).unwrap();
        assert_eq!(d.pixels, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(d.class_names.len(), 10);
    }

    #[test]
    fn wrong_magic_is_named() {
        let t = tempfile::tempdir().unwrap();
        pair(t.path(), 3);
        let mut bytes = encode_idx_images(3, 2, 2, &[7; 12]);
        bytes[3] = 0x01;
        write(t.path(), "train-images-idx3-ubyte", &bytes);
        let err = crate::open_dataset(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte: wrong magic number 0x00000801"),
            "{err}"
        );
    }

    #[test]
    fn truncated_file_is_named() {
        let t = tempfile::tempdir().unwrap();
        pair(t.path(), 3);
        let bytes = encode_idx_images(3, 2, 2, &[7; 12]);
        write(
            t.path(),
            "train-images-idx3-ubyte",
            &bytes[..bytes.len() - 5],
        );
        let err = crate::open_dataset(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("truncated file: expected 28 bytes, found 23"),
            "{err}"
        );
    }

    #[test]
    fn truncated_gzip_is_named() {
        let t = tempfile::tempdir().unwrap();
        pair(t.path(), 3);
        let gz = gzip(&encode_idx_images(3, 2, 2, &[7; 12]));
        write(t.path(), "train-images-idx3-ubyte", &gz[..gz.len() / 2]);
        let err = crate::open_dataset(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated gzip stream"), "{err}");
    }

    #[test]
    fn count_mismatch_is_named() {
        let t = tempfile::tempdir().unwrap();
        pair(t.path(), 2);
        let err = crate::open_dataset(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 images but 2 labels"), "{err}");
    }

    #[test]
    fn missing_labels_file_is_named() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "train-images-idx3-ubyte",
            &encode_idx_images(1, 1, 1, &[0]),
        );
        let err = crate::open_dataset(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no train-labels-idx1-ubyte"), "{err}");
    }
}
