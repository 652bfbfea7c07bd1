//! Baseline encryptions the paper compares ArchNet with: RC4 over the pixel bytes (§5.7).

use rc4::{KeyInit, Rc4, StreamCipher};
use serde::{Deserialize, Serialize};

use crate::dataset::ImageDataset;

/// How the RC4 keystream meets the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rc4Mode {
    /// One keystream runs on across the whole dataset: every image gets fresh keystream bytes,
    /// which is how a stream cipher is meant to be used (and destroys learnability).
    Continuous,
    /// The keystream restarts for every image: all images are XORed with the same mask, a fixed
    /// permutation of byte values per pixel position, which a model can still learn through.
    RestartPerImage,
}

/// Returns `dataset` with every image's pixel bytes encrypted by RC4 under `key` (1–256 bytes).
/// Labels, shape and classes are kept, so the result trains like any plain dataset.
pub fn rc4_encrypt(dataset: &ImageDataset, key: &[u8], mode: Rc4Mode) -> ImageDataset {
    let mut out = dataset.clone();
    let len = dataset.image_len();
    let new_cipher = || Rc4::new_from_slice(key).expect("an RC4 key has 1 to 256 bytes");
    match mode {
        Rc4Mode::Continuous => new_cipher().apply_keystream(&mut out.pixels),
        Rc4Mode::RestartPerImage => {
            for image in out.pixels.chunks_mut(len) {
                new_cipher().apply_keystream(image);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeros(n: usize) -> ImageDataset {
        ImageDataset {
            shape: [1, 2, 2],
            pixels: vec![0; n * 4],
            labels: Some(vec![0; n]),
            class_names: vec!["a".into()],
        }
    }

    #[test]
    fn known_keystream() {
        // RFC 6229 test vector: key 0x0102030405, keystream starts b2 39 63 05.
        let d = rc4_encrypt(&zeros(1), &[1, 2, 3, 4, 5], Rc4Mode::Continuous);
        assert_eq!(d.pixels, vec![0xb2, 0x39, 0x63, 0x05]);
    }

    #[test]
    fn continuous_gives_each_image_fresh_bytes_restart_does_not() {
        let c = rc4_encrypt(&zeros(2), b"archnet", Rc4Mode::Continuous);
        assert_ne!(c.image(0), c.image(1));
        let r = rc4_encrypt(&zeros(2), b"archnet", Rc4Mode::RestartPerImage);
        assert_eq!(r.image(0), r.image(1));
        assert_eq!(r.image(0), c.image(0));
        // XOR twice is the identity.
        assert_eq!(
            rc4_encrypt(&c, b"archnet", Rc4Mode::Continuous).pixels,
            vec![0; 8]
        );
    }
}
