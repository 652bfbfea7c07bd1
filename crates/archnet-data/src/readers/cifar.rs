//! The CIFAR-10 binary release: records of 1 label byte + 3072 pixel bytes (3×32×32, CHW).

use std::path::{Path, PathBuf};

use crate::dataset::{ImageDataset, Split};
use crate::error::{DataError, Result};

const SIDE: usize = 32;
const RECORD: usize = 1 + 3 * SIDE * SIDE;

/// CIFAR-10's class names in label order (also the alphabetical order).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Finds the batch files of `split` in `dir` or in its `cifar-10-batches-bin/` sub-folder:
/// `data_batch_1.bin`… for train, `test_batch.bin` for test. `Ok(None)` when there are none.
pub fn find_cifar_files(dir: &Path, split: Split) -> Result<Option<Vec<PathBuf>>> {
    for base in [dir.to_path_buf(), dir.join("cifar-10-batches-bin")] {
        if !base.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&base)
            .map_err(|e| DataError::io(&base, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                match split {
                    Split::Train => name.starts_with("data_batch_") && name.ends_with(".bin"),
                    Split::Test => name == "test_batch.bin",
                }
            })
            .collect();
        if !files.is_empty() {
            files.sort();
            return Ok(Some(files));
        }
    }
    Ok(None)
}

/// Reads and concatenates CIFAR-10 batch files. Class names come from `batches.meta.txt`
/// beside the first file when present, else CIFAR-10's own.
pub fn read_cifar_files(files: &[PathBuf], origin: &Path) -> Result<ImageDataset> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).map_err(|e| DataError::io(file, e))?;
        if bytes.is_empty() {
            return Err(DataError::Empty {
                path: file.clone(),
                what: "the batch file holds 0 records".into(),
            });
        }
        if bytes.len() % RECORD != 0 {
            let records = bytes.len() / RECORD + 1;
            return Err(DataError::Truncated {
                path: file.clone(),
                expected: (records * RECORD) as u64,
                found: bytes.len() as u64,
            });
        }
        pixels.reserve(bytes.len());
        for record in bytes.chunks_exact(RECORD) {
            labels.push(u16::from(record[0]));
            pixels.extend_from_slice(&record[1..]);
        }
    }
    if labels.is_empty() {
        return Err(DataError::Empty {
            path: origin.into(),
            what: "no CIFAR-10 records".into(),
        });
    }
    let meta = files[0].with_file_name("batches.meta.txt");
    let mut class_names: Vec<String> = std::fs::read_to_string(&meta)
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_else(|_| CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    let max_label = *labels.iter().max().expect("non-empty") as usize;
    if let Some(bad) = labels
        .iter()
        .find(|&&l| l as usize >= class_names.len().max(10))
    {
        return Err(DataError::invalid(
            &files[0],
            "CIFAR-10 record",
            format!("label byte {bad} is not a CIFAR-10 class (0–9)"),
        ));
    }
    while class_names.len() <= max_label {
        class_names.push(class_names.len().to_string());
    }
    Ok(ImageDataset {
        shape: [3, SIDE, SIDE],
        pixels,
        labels: Some(labels),
        class_names,
    })
}

/// Encodes `(label, 3072 CHW pixels)` records as a CIFAR-10 batch file's bytes.
pub fn encode_cifar_records(records: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * RECORD);
    for (label, pixels) in records {
        assert_eq!(
            pixels.len(),
            RECORD - 1,
            "a CIFAR-10 record has 3072 pixel bytes"
        );
        out.push(*label);
        out.extend_from_slice(pixels);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<(u8, Vec<u8>)> {
        (0..n)
            .map(|i| (i as u8 % 10, vec![i as u8; RECORD - 1]))
            .collect()
    }

    #[test]
    fn reads_train_batches_in_order() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("cifar-10-batches-bin");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(
            d.join("data_batch_1.bin"),
            encode_cifar_records(&records(2)),
        )
        .unwrap();
        std::fs::write(
            d.join("data_batch_2.bin"),
            encode_cifar_records(&records(3)),
        )
        .unwrap();
        std::fs::write(d.join("test_batch.bin"), encode_cifar_records(&records(1))).unwrap();
        let train = crate::open_dataset(t.path(), Split::Train).unwrap();
        assert_eq!(train.len(), 5);
        assert_eq!(train.shape, [3, 32, 32]);
        assert_eq!(train.labels.as_ref().unwrap()[..3], [0, 1, 0]);
        assert_eq!(train.class_names[9], "truck");
        let test = crate::open_dataset(t.path(), Split::Test).unwrap();
        assert_eq!(test.len(), 1);
    }

    #[test]
    fn single_bin_file_reads() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("test_batch.bin");
        std::fs::write(&f, encode_cifar_records(&records(4))).unwrap();
        assert_eq!(crate::open_dataset(&f, Split::Train).unwrap().len(), 4);
    }

    #[test]
    fn truncated_record_is_named() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("data_batch_1.bin");
        let bytes = encode_cifar_records(&records(2));
        std::fs::write(&f, &bytes[..bytes.len() - 1]).unwrap();
        let err = crate::open_dataset(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data_batch_1.bin: truncated file: expected 6146 bytes, found 6145"),
            "{err}"
        );
    }

    #[test]
    fn bad_label_is_named() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("data_batch_1.bin");
        std::fs::write(&f, encode_cifar_records(&[(200, vec![0; RECORD - 1])])).unwrap();
        let err = crate::open_dataset(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("label byte 200"), "{err}");
    }
}
