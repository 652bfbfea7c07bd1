//! `archnet data inspect` on real datasets and on each kind of bad input.

mod common;

use std::path::Path;

use common::{archnet_err, archnet_ok, shared_dataset};

fn inspect(path: &Path, split: &str) -> String {
    archnet_ok(&["data", "inspect", path.to_str().unwrap(), "--split", split])
}

#[test]
fn inspects_mnist_both_splits() {
    let Some(mnist) = shared_dataset("mnist") else {
        return;
    };
    let train = inspect(&mnist, "train");
    assert!(train.contains("samples: 60000"), "{train}");
    assert!(train.contains("shape:   1×28×28"), "{train}");
    assert!(train.contains("    1 1                6742"), "{train}");
    let test = inspect(&mnist, "test");
    assert!(test.contains("samples: 10000"), "{test}");
}

#[test]
fn inspects_fashion_mnist_with_class_names() {
    let Some(fashion) = shared_dataset("fashion-mnist") else {
        return;
    };
    let out = inspect(&fashion, "test");
    assert!(out.contains("samples: 10000"), "{out}");
    assert!(out.contains("Ankle boot       1000"), "{out}");
}

#[test]
fn inspects_cifar10_archive_without_unpacking() {
    let Some(cifar) = shared_dataset("cifar10-jpeg.tar.gz") else {
        return;
    };
    let out = inspect(&cifar, "test");
    assert!(out.contains("samples: 10000"), "{out}");
    assert!(out.contains("shape:   3×32×32"), "{out}");
    assert!(out.contains("    0 airplane         1000"), "{out}");
    assert!(out.contains("    9 truck            1000"), "{out}");
}

#[test]
fn inspects_the_committed_sample() {
    let out = inspect(&common::sample(), "train");
    assert!(out.contains("samples: 1000"), "{out}");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn idx_images(n: u32, bytes: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, 2, 2] {
        v.extend(d.to_be_bytes());
    }
    v.extend(vec![9u8; bytes]);
    v
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend(n.to_be_bytes());
    v.extend(vec![0u8; n as usize]);
    v
}

fn inspect_err(path: &Path) -> String {
    archnet_err(&["data", "inspect", path.to_str().unwrap()])
}

#[test]
fn bad_inputs_fail_with_one_line_naming_file_and_problem() {
    let t = tempfile::tempdir().unwrap();

    let magic = t.path().join("magic");
    let mut bad = idx_images(3, 12);
    bad[2] = 0x0d;
    write(&magic, "train-images-idx3-ubyte", &bad);
    write(&magic, "train-labels-idx1-ubyte", &idx_labels(3));
    let e = inspect_err(&magic);
    assert!(
        e.contains("train-images-idx3-ubyte: wrong magic number 0x00000d03"),
        "{e}"
    );

    let truncated = t.path().join("truncated");
    write(&truncated, "train-images-idx3-ubyte", &idx_images(3, 10));
    write(&truncated, "train-labels-idx1-ubyte", &idx_labels(3));
    let e = inspect_err(&truncated);
    assert!(
        e.contains("train-images-idx3-ubyte: truncated file: expected 28 bytes, found 26"),
        "{e}"
    );

    let mismatch = t.path().join("mismatch");
    write(&mismatch, "train-images-idx3-ubyte", &idx_images(3, 12));
    write(&mismatch, "train-labels-idx1-ubyte", &idx_labels(4));
    let e = inspect_err(&mismatch);
    assert!(
        e.contains("train-labels-idx1-ubyte: 3 images but 4 labels"),
        "{e}"
    );

    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = inspect_err(&empty);
    assert!(
        e.contains("empty: empty dataset: no PNG or JPEG images found"),
        "{e}"
    );

    let png = |h: u32, w: u32| {
        let mut buf = std::io::Cursor::new(Vec::new());
        image::GrayImage::new(w, h)
            .write_to(&mut buf, image::ImageFormat::Png)
            .unwrap();
        buf.into_inner()
    };
    let mixed = t.path().join("mixed");
    write(&mixed, "cat/a.png", &png(4, 4));
    write(&mixed, "cat/b.png", &png(5, 4));
    let e = inspect_err(&mixed);
    assert!(
        e.contains("b.png: mixed image sizes: 4×5 differs from the first image's 4×4"),
        "{e}"
    );

    let unreadable = t.path().join("unreadable");
    write(&unreadable, "cat/a.png", &png(4, 4));
    write(&unreadable, "dog/broken.jpg", b"\xff\xd8\xff garbage");
    let e = inspect_err(&unreadable);
    assert!(e.contains("broken.jpg: unreadable image"), "{e}");

    let missing = t.path().join("no-such-folder");
    let e = inspect_err(&missing);
    assert!(
        e.contains("no-such-folder: No such file or directory"),
        "{e}"
    );
}
