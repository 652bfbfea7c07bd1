//! Tiny synthetic datasets for tests and examples.

use crate::ImageDataset;

/// `n` 1×8×8 images in two classes that differ in mean brightness (dark ≈ 20–50, bright ≈
/// 220–250): any working classifier separates them.
pub fn bright_dark(n: usize) -> ImageDataset {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let label = (i % 2) as u16;
        let base = if label == 0 { 20 } else { 220 };
        pixels.extend((0..64).map(|j| (base + (i * 7 + j * 13) % 30) as u8));
        labels.push(label);
    }
    ImageDataset {
        shape: [1, 8, 8],
        pixels,
        labels: Some(labels),
        class_names: vec!["dark".into(), "bright".into()],
    }
}
