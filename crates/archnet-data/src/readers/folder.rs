//! Image folders (PNG/JPEG), on disk or inside a `.tar.gz`.
//!
//! Layouts, from the folder (or archive) root: `train/<class>/<image>` and `test/<class>/<image>`
//! (the split picks one), `<class>/<image>` (labeled), or `<image>` (unlabeled). Classes are
//! numbered in alphabetical order, which for CIFAR-10 is its own label order. Labeled images are
//! returned round-robin over classes, so that any prefix of the dataset is class-balanced.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::DynamicImage;

use super::gzip_error;
use crate::dataset::{ImageDataset, Split, shape_string};
use crate::error::{DataError, Result};

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// Largest image file read from an archive (a PNG of 4096×4096 RGB pixels stays under it).
const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// One image file found in a folder or archive, before decoding.
struct Entry {
    /// Path components below the root (`["train", "cat", "0001.jpg"]`).
    rel: Vec<String>,
    /// Where to report problems with this entry.
    display: PathBuf,
    bytes: Vec<u8>,
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    IMAGE_EXTENSIONS
        .iter()
        .any(|ext| lower.rsplit_once('.').is_some_and(|(_, e)| e == *ext))
}

/// Reads an image folder on disk.
pub fn read_image_folder(root: &Path, split: Split) -> Result<ImageDataset> {
    let mut entries = Vec::new();
    collect_folder(root, root, 0, &mut entries)?;
    build_dataset(root, entries, split)
}

fn collect_folder(root: &Path, dir: &Path, depth: usize, out: &mut Vec<Entry>) -> Result<()> {
    let read = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for entry in read {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| DataError::io(&path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if file_type.is_dir() && depth < 3 {
            collect_folder(root, &path, depth + 1, out)?;
        } else if file_type.is_file() && is_image_name(&name) {
            let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            let rel = path
                .strip_prefix(root)
                .expect("walked below root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(Entry {
                rel,
                display: path,
                bytes,
            });
        }
    }
    Ok(())
}

/// Reads an image folder packed as a `.tar.gz`, without unpacking it to disk.
pub fn read_tar_gz(archive: &Path, split: Split) -> Result<ImageDataset> {
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let mut tar = tar::Archive::new(gz);
    let mut entries = Vec::new();
    let iter = tar.entries().map_err(|e| gzip_error(archive, e))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| gzip_error(archive, e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let inner = entry
            .path()
            .map_err(|e| gzip_error(archive, e))?
            .into_owned();
        let rel: Vec<String> = inner
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let Some(name) = rel.last() else { continue };
        if name.starts_with('.') || !is_image_name(name) {
            continue;
        }
        // The header's size is the archive's word, not a fact: read at most the limit, and name
        // an entry over it (a decompression bomb, or not an image) instead of allocating it.
        let mut bytes = Vec::with_capacity(entry.size().min(1 << 20) as usize);
        (&mut entry)
            .take(MAX_IMAGE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| gzip_error(archive, e))?;
        if bytes.len() as u64 > MAX_IMAGE_BYTES {
            return Err(DataError::invalid(
                archive,
                "image archive",
                format!(
                    "entry {} is over {} MiB; no image of a dataset is that large",
                    inner.display(),
                    MAX_IMAGE_BYTES >> 20
                ),
            ));
        }
        entries.push(Entry {
            display: PathBuf::from(format!("{}:{}", archive.display(), inner.display())),
            rel,
            bytes,
        });
    }
    build_dataset(archive, entries, split)
}

/// Picks the split, assigns classes and decodes every image into one dataset.
/// Reorders class-sorted entries round-robin over classes (first image of each class, then the
/// second of each, ...). Folders list images class by class, so without this every prefix of
/// the dataset (`--limit`, the first part of a train/validation split) would hold only the
/// first classes; IDX and CIFAR binary releases are already shuffled.
fn interleave_classes(entries: Vec<Entry>) -> Vec<Entry> {
    let mut by_class: Vec<std::collections::VecDeque<Entry>> = Vec::new();
    for e in entries {
        match by_class.last_mut() {
            Some(class) if class[0].rel[0] == e.rel[0] => class.push_back(e),
            _ => by_class.push(std::collections::VecDeque::from([e])),
        }
    }
    let mut out = Vec::new();
    while by_class.iter().any(|c| !c.is_empty()) {
        out.extend(by_class.iter_mut().filter_map(|c| c.pop_front()));
    }
    out
}

// Why one function: the layout rules (splits, class folders, all labelled or none, one size and
// colour mode) are checked in one pass over the entries, and each refusal names the file that
// breaks them.
fn build_dataset(root: &Path, mut entries: Vec<Entry>, split: Split) -> Result<ImageDataset> {
    if entries.is_empty() {
        return Err(DataError::Empty {
            path: root.into(),
            what: "no PNG or JPEG images found".into(),
        });
    }
    let has_splits = entries
        .iter()
        .any(|e| e.rel.len() > 1 && (e.rel[0] == "train" || e.rel[0] == "test"));
    if has_splits {
        let wanted = split.to_string();
        entries.retain(|e| e.rel.len() > 1 && e.rel[0] == wanted);
        for e in &mut entries {
            e.rel.remove(0);
        }
        if entries.is_empty() {
            return Err(DataError::Empty {
                path: root.into(),
                what: format!("no images under `{wanted}/`"),
            });
        }
    }
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    let labeled = entries.iter().filter(|e| e.rel.len() > 1).count();
    if labeled != 0 && labeled != entries.len() {
        let stray = entries
            .iter()
            .find(|e| e.rel.len() == 1)
            .expect("some unlabeled");
        return Err(DataError::invalid(
            &stray.display,
            "folder layout",
            "images both at the top level and in class folders",
        ));
    }
    let mut class_names: Vec<String> = Vec::new();
    if labeled > 0 {
        class_names = entries.iter().map(|e| e.rel[0].clone()).collect();
        class_names.dedup();
        entries = interleave_classes(entries);
    }

    let mut decoded: Vec<DynamicImage> = Vec::with_capacity(entries.len());
    for e in &entries {
        let img = image::load_from_memory(&e.bytes).map_err(|err| DataError::UnreadableImage {
            path: e.display.clone(),
            reason: err.to_string(),
        })?;
        if let Some(first) = decoded.first()
            && (first.width(), first.height()) != (img.width(), img.height())
        {
            return Err(DataError::MixedSizes {
                path: e.display.clone(),
                expected: format!("{}×{}", first.width(), first.height()),
                found: format!("{}×{}", img.width(), img.height()),
            });
        }
        decoded.push(img);
    }
    let grayscale = decoded.iter().all(|i| !i.color().has_color());
    let channels = if grayscale { 1 } else { 3 };
    let (w, h) = (decoded[0].width() as usize, decoded[0].height() as usize);
    let mut pixels = Vec::with_capacity(decoded.len() * channels * h * w);
    for img in &decoded {
        if grayscale {
            pixels.extend_from_slice(img.to_luma8().as_raw());
        } else {
            // image gives HWC; the dataset is CHW.
            let rgb = img.to_rgb8();
            let raw = rgb.as_raw();
            for c in 0..3 {
                pixels.extend(raw.iter().skip(c).step_by(3));
            }
        }
    }
    let labels = (labeled > 0).then(|| {
        entries
            .iter()
            .map(|e| class_names.binary_search(&e.rel[0]).expect("class listed") as u16)
            .collect()
    });
    let dataset = ImageDataset {
        shape: [channels, h, w],
        pixels,
        labels,
        class_names,
    };
    debug_assert_eq!(
        dataset.len(),
        entries.len(),
        "{}",
        shape_string(&dataset.shape)
    );
    Ok(dataset)
}

/// Encodes a CHW `u8` image as PNG bytes (1 channel: grayscale, 3: RGB).
pub fn encode_png(shape: [usize; 3], chw: &[u8]) -> Vec<u8> {
    let [c, h, w] = shape;
    let mut buf = std::io::Cursor::new(Vec::new());
    let img: DynamicImage = if c == 1 {
        DynamicImage::ImageLuma8(
            image::GrayImage::from_raw(w as u32, h as u32, chw.to_vec()).expect("size matches"),
        )
    } else {
        let plane = h * w;
        let hwc: Vec<u8> = (0..plane)
            .flat_map(|i| (0..3).map(move |ch| (i, ch)))
            .map(|(i, ch)| chw[ch * plane + i])
            .collect();
        DynamicImage::ImageRgb8(
            image::RgbImage::from_raw(w as u32, h as u32, hwc).expect("size matches"),
        )
    };
    img.write_to(&mut buf, image::ImageFormat::Png)
        .expect("PNG encoding into memory cannot fail");
    buf.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn png(shape: [usize; 3], value: u8) -> Vec<u8> {
        encode_png(shape, &vec![value; shape.iter().product()])
    }

    fn put(root: &Path, rel: &str, bytes: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    #[test]
    fn class_folders_are_labeled_alphabetically() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), "zebra/1.png", &png([1, 2, 3], 10));
        put(t.path(), "ant/1.png", &png([1, 2, 3], 20));
        put(t.path(), "ant/2.png", &png([1, 2, 3], 30));
        let d = read_image_folder(t.path(), Split::Train).unwrap();
        assert_eq!(d.class_names, vec!["ant", "zebra"]);
        // Round-robin over classes: ant/1, zebra/1, ant/2.
        assert_eq!(d.labels, Some(vec![0, 1, 0]));
        assert_eq!(d.shape, [1, 2, 3]);
        assert_eq!(d.image(1), &[10; 6]);
        assert_eq!(d.image(2), &[30; 6]);
    }

    #[test]
    fn every_prefix_is_class_balanced() {
        let t = tempfile::tempdir().unwrap();
        for class in ["a", "b", "c"] {
            for i in 0..4 {
                put(t.path(), &format!("{class}/{i}.png"), &png([1, 2, 2], i));
            }
        }
        let mut d = read_image_folder(t.path(), Split::Train).unwrap();
        d.truncate(6);
        assert_eq!(d.labels, Some(vec![0, 1, 2, 0, 1, 2]));
    }

    #[test]
    fn rgb_is_stored_chw() {
        let t = tempfile::tempdir().unwrap();
        let chw: Vec<u8> = vec![1, 2, 3, 4, 5, 6]; // 3 channels of a 1×2 image
        put(t.path(), "a.png", &encode_png([3, 1, 2], &chw));
        let d = read_image_folder(t.path(), Split::Train).unwrap();
        assert_eq!(d.shape, [3, 1, 2]);
        assert_eq!(d.pixels, chw);
        assert!(d.labels.is_none());
    }

    #[test]
    fn split_folders_pick_one_split() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), "train/a/1.png", &png([1, 2, 2], 1));
        put(t.path(), "train/b/1.png", &png([1, 2, 2], 2));
        put(t.path(), "test/a/1.png", &png([1, 2, 2], 3));
        assert_eq!(read_image_folder(t.path(), Split::Train).unwrap().len(), 2);
        assert_eq!(read_image_folder(t.path(), Split::Test).unwrap().len(), 1);
    }

    #[test]
    fn mixed_sizes_are_named() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), "a/1.png", &png([1, 2, 2], 1));
        put(t.path(), "a/2.png", &png([1, 3, 2], 1));
        let err = read_image_folder(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2.png: mixed image sizes: 2×3 differs from the first image's 2×2"),
            "{err}"
        );
    }

    #[test]
    fn empty_folder_is_named() {
        let t = tempfile::tempdir().unwrap();
        let err = read_image_folder(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("empty dataset: no PNG or JPEG images found"),
            "{err}"
        );
    }

    #[test]
    fn unreadable_image_is_named() {
        let t = tempfile::tempdir().unwrap();
        put(t.path(), "a/ok.png", &png([1, 2, 2], 1));
        put(t.path(), "a/bad.png", b"not a png at all");
        let err = read_image_folder(t.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.png: unreadable image"), "{err}");
    }

    #[test]
    fn a_decompression_bomb_in_a_tar_gz_is_named_not_allocated() {
        let t = tempfile::tempdir().unwrap();
        let archive = t.path().join("bomb.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&archive).unwrap(),
            flate2::Compression::fast(),
        );
        let mut builder = tar::Builder::new(gz);
        // 65 MiB of zeros: a few hundred KiB compressed, one byte over the limit and more.
        let zeros = std::io::repeat(0).take(MAX_IMAGE_BYTES + (1 << 20));
        let mut header = tar::Header::new_gnu();
        header.set_size(MAX_IMAGE_BYTES + (1 << 20));
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "cat/huge.png", zeros)
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let message = read_tar_gz(&archive, Split::Train).unwrap_err().to_string();
        assert!(
            message.contains("cat/huge.png") && message.contains("over 64 MiB"),
            "{message}"
        );
    }

    #[test]
    fn tar_gz_reads_like_the_folder() {
        let t = tempfile::tempdir().unwrap();
        let archive = t.path().join("data.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&archive).unwrap(),
            flate2::Compression::fast(),
        );
        let mut builder = tar::Builder::new(gz);
        for (name, v) in [
            ("train/cat/1.png", 5u8),
            ("train/dog/1.png", 6),
            ("test/cat/1.png", 7),
        ] {
            let bytes = png([3, 2, 2], v);
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        builder
            .into_inner()
            .unwrap()
            .finish()
            .unwrap()
            .flush()
            .unwrap();
        let d = read_tar_gz(&archive, Split::Train).unwrap();
        assert_eq!(d.class_names, vec!["cat", "dog"]);
        assert_eq!(
            d.shape,
            [3, 2, 2],
            "an RGB PNG stays 3-channel even when grey-valued"
        );
        assert_eq!(read_tar_gz(&archive, Split::Test).unwrap().len(), 1);
    }
}
