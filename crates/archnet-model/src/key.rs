//! An ArchNet key: the H-encoder E1 and the L-decoder D1 (paper §4.2–4.3).

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::arch::KeyArchitecture;
use crate::stack::{LayerStack, Noise};

/// E1: maps plain images to a larger tensor (the ciphertext).
#[derive(Module, Debug)]
pub struct HEncoder {
    layers: LayerStack,
}

/// D1: maps ciphertexts back to images (its output before the final sigmoid).
#[derive(Module, Debug)]
pub struct LDecoder {
    layers: LayerStack,
}

impl HEncoder {
    /// Encrypts: `[N, C, H, W]` pixels in `[0, 1]` → `[N, C', H', W']` ciphertexts. A `private`
    /// key's noise is drawn afresh from the operating system's entropy at every call, so the
    /// same image never gives the same ciphertext twice.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        self.layers.forward(images)
    }

    /// As [`HEncoder::forward`] without a `private` key's noise: the mechanism's mean, for
    /// measuring what the noise costs. Never for ciphertexts that leave.
    pub fn forward_without_noise(&self, images: Tensor<4>) -> Tensor<4> {
        self.layers.run(images, Noise::Off)
    }
}

impl LDecoder {
    /// A freshly initialised decoder with the layers of `plan` (an attacker's inverter uses
    /// D1's architecture).
    pub fn init(plan: &[crate::arch::LayerSpec], device: &Device) -> Self {
        LDecoder {
            layers: LayerStack::init(plan, device),
        }
    }

    /// Decoder logits: `[N, C', H', W']` → `[N, C, H, W]`; `sigmoid` of these are the pixels.
    pub fn forward(&self, ciphertexts: Tensor<4>) -> Tensor<4> {
        self.layers.forward(ciphertexts)
    }
}

/// A whole key: E1 and D1 trained together as an identity map.
#[derive(Module, Debug)]
pub struct ArchNetKey {
    /// E1: the image to the ciphertext.
    pub encoder: HEncoder,
    /// D1: the ciphertext back to the image.
    pub decoder: LDecoder,
}

impl ArchNetKey {
    /// A freshly initialised key for `arch` (uniform in ±1/√fan_in, the paper's §4.4).
    pub fn init(arch: &KeyArchitecture, device: &Device) -> Self {
        ArchNetKey {
            encoder: HEncoder {
                layers: LayerStack::init(&arch.encoder, device),
            },
            decoder: LDecoder::init(&arch.decoder, device),
        }
    }

    /// E1: `[N, C, H, W]` pixels → ciphertexts.
    pub fn encrypt(&self, images: Tensor<4>) -> Tensor<4> {
        self.encoder.forward(images)
    }

    /// D1 with its sigmoid: ciphertexts → `[N, C, H, W]` pixels in `[0, 1]`.
    pub fn decrypt(&self, ciphertexts: Tensor<4>) -> Tensor<4> {
        sigmoid(self.decoder.forward(ciphertexts))
    }

    /// E1 on flat values: `values` holds whole images of `plain_shape`, run `batch` at a time;
    /// the ciphertexts come back flat, in the same order.
    pub fn encrypt_values(
        &self,
        plain_shape: [usize; 3],
        values: &[f32],
        batch: usize,
    ) -> Vec<f32> {
        map_batches(plain_shape, values, batch, |x| self.encrypt(x))
    }

    /// D1 on flat values: `values` holds whole ciphertexts of `cipher_shape`, run `batch` at a
    /// time; the pixels come back flat, in the same order.
    pub fn decrypt_values(
        &self,
        cipher_shape: [usize; 3],
        values: &[f32],
        batch: usize,
    ) -> Vec<f32> {
        map_batches(cipher_shape, values, batch, |x| self.decrypt(x))
    }

    /// D1(E1(x)) as logits, what training compares with x.
    pub fn round_trip_logits(&self, images: Tensor<4>) -> Tensor<4> {
        self.decoder.forward(self.encoder.forward(images))
    }
}

/// Runs `f` over `values` (whole samples of `shape`) `batch` samples at a time, flat in and out.
fn map_batches(
    shape: [usize; 3],
    values: &[f32],
    batch: usize,
    f: impl Fn(Tensor<4>) -> Tensor<4>,
) -> Vec<f32> {
    let device = crate::device();
    let len: usize = shape.iter().product();
    let [c, h, w] = shape;
    let mut out = Vec::new();
    for chunk in values.chunks(batch.max(1) * len.max(1)) {
        let x = Tensor::<4>::from_data(
            TensorData::new(chunk.to_vec(), [chunk.len() / len.max(1), c, h, w]),
            &device,
        );
        out.extend(
            f(x).into_data()
                .try_to_vec::<f32>()
                .expect("the key's layers output f32"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_the_architecture() {
        // Random initialisation draws from burn's shared generator: keep seeded runs exact.
        let _rng = crate::seeded_run(&crate::device(), 0);
        let device = crate::device();
        let arch = KeyArchitecture::preset("auto", [3, 8, 6]).unwrap();
        let key = ArchNetKey::init(&arch, &device);
        let x = Tensor::<4>::zeros([2, 3, 8, 6], &device);
        let c = key.encrypt(x);
        assert_eq!(c.dims(), [2, 4, 16, 12]);
        let y = key.decrypt(c);
        assert_eq!(y.dims(), [2, 3, 8, 6]);
        let (e, d) = arch.num_params();
        assert_eq!(key.encoder.num_params(), e);
        assert_eq!(key.decoder.num_params(), d);
    }
}
