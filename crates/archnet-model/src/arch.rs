//! The layer lists of E1 and D1: the paper's presets and `auto`.
//!
//! The paper (Table 1 / Table 2) lists layers but not kernel sizes, strides, padding or the
//! output activation. Our choices, the same in every preset:
//! - every `Conv2d` is 3×3, stride 1, padding 1 (keeps H×W), except D1's first, which is 2×2
//!   stride 2 and undoes E1's size doubling;
//! - E1's last layer is a 2×2 stride-2 `ConvTranspose2d`, which doubles H and W;
//! - the `Linear` of `paper-mnist` takes the flattened 10×28×28 tensor to 15,680 = 20×28×28
//!   values, followed by ReLU (the paper's only E1 activation);
//! - D1 ends in a sigmoid (applied outside the layer list, as part of the loss or of
//!   [`crate::ArchNetKey::decrypt`]), so reconstructions are pixels in `[0, 1]`.
//!
//! With these choices both presets have exactly the parameter counts of the paper's Table 2:
//! 122,960,821 for `paper-mnist` and 14,961 for `paper-cifar` (the 122,949,880 in §5.2's text
//! matches no layer list). The unit tests pin both.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// One layer of E1 or D1. Every layer may be followed by a ReLU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LayerSpec {
    /// `Conv2d(in, out)` with a square kernel.
    Conv {
        /// Input and output channels.
        channels: [usize; 2],
        /// Kernel side.
        kernel: usize,
        /// Stride on H and W.
        stride: usize,
        /// Padding on each side.
        padding: usize,
        /// Followed by a ReLU.
        relu: bool,
    },
    /// Flattens `[C, H, W]`, applies `Linear(in, out)`, reshapes to `output`.
    Linear {
        /// Input and output features.
        features: [usize; 2],
        /// The `[C, H, W]` the output is reshaped to.
        output: [usize; 3],
        /// Followed by a ReLU.
        relu: bool,
    },
    /// `ConvTranspose2d(in, out)` with a square kernel.
    ConvTranspose {
        /// Input and output channels.
        channels: [usize; 2],
        /// Kernel side.
        kernel: usize,
        /// Stride on H and W.
        stride: usize,
        /// Padding on each side.
        padding: usize,
        /// Followed by a ReLU.
        relu: bool,
    },
    /// The Gaussian mechanism of a `private` key ([`crate::privacy`]): each sample's values are
    /// scaled to L2 norm `clip_norm`, then independent N(0, σ²) noise is added to every value,
    /// drawn afresh at every encryption. No parameters.
    GaussianMechanism {
        /// The L2 norm each sample is scaled to.
        clip_norm: f64,
        /// The noise's standard deviation.
        sigma: f64,
    },
    /// Nearest-neighbour upsampling of H and W by `factor` (a fixed layout step; no parameters).
    Upsample {
        /// The upsampling factor on H and W.
        factor: usize,
    },
}

/// Most values one tensor of a key may hold (an activation of one image, or one layer's
/// parameters): 2^30, 4 GiB of f32. `paper-mnist`'s largest is its 122.9 M-weight linear layer; a
/// key file that asks for more is refused when read, before anything is allocated.
pub const MAX_TENSOR_VALUES: usize = 1 << 30;

/// `dims` multiplied, if the product stays within [`MAX_TENSOR_VALUES`].
fn bounded_product(dims: &[usize]) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_TENSOR_VALUES)
}

impl LayerSpec {
    /// The `[C, H, W]` this layer produces from `input`, or why it cannot take it (a shape rule
    /// broken, a zero stride or factor, or a result over [`MAX_TENSOR_VALUES`]: every step is
    /// checked, since the layer may come from a key file's header). Parameter counts are bounded
    /// once for the whole key, by [`KeyArchitecture::check`].
    pub fn output_shape(&self, input: [usize; 3]) -> Result<[usize; 3], String> {
        let out = self.unbounded_output_shape(input)?;
        if bounded_product(&out).is_none() {
            return Err(format!(
                "{} would produce {out:?}, over {MAX_TENSOR_VALUES} values",
                self.name()
            ));
        }
        Ok(out)
    }

    /// The layer's kind, as error messages name it.
    fn name(&self) -> &'static str {
        match self {
            LayerSpec::Conv { .. } => "Conv2d",
            LayerSpec::ConvTranspose { .. } => "ConvTranspose2d",
            LayerSpec::Linear { .. } => "Linear",
            LayerSpec::GaussianMechanism { .. } => "the Gaussian mechanism",
            LayerSpec::Upsample { .. } => "Upsample",
        }
    }

    fn unbounded_output_shape(&self, input: [usize; 3]) -> Result<[usize; 3], String> {
        let [c, h, w] = input;
        match *self {
            LayerSpec::Conv {
                channels,
                kernel,
                stride,
                padding,
                ..
            } => {
                if channels[0] != c {
                    return Err(format!("Conv2d expects {} channels, gets {c}", channels[0]));
                }
                if stride == 0 {
                    return Err("Conv2d stride 0".into());
                }
                let out = |x: usize| {
                    padding
                        .checked_mul(2)
                        .and_then(|p| x.checked_add(p))
                        .and_then(|v| v.checked_sub(kernel))
                        .map(|v| v / stride + 1)
                };
                match (out(h), out(w)) {
                    (Some(oh), Some(ow)) if oh > 0 && ow > 0 => Ok([channels[1], oh, ow]),
                    _ => Err(format!(
                        "Conv2d kernel {kernel} larger than the {h}×{w} input"
                    )),
                }
            }
            LayerSpec::ConvTranspose {
                channels,
                kernel,
                stride,
                padding,
                ..
            } => {
                if channels[0] != c {
                    return Err(format!(
                        "ConvTranspose2d expects {} channels, gets {c}",
                        channels[0]
                    ));
                }
                if stride == 0 || kernel == 0 {
                    return Err("ConvTranspose2d stride or kernel 0".into());
                }
                let out = |x: usize| {
                    x.checked_sub(1)
                        .and_then(|v| v.checked_mul(stride))
                        .and_then(|v| v.checked_add(kernel))
                        .and_then(|v| v.checked_sub(padding.checked_mul(2)?))
                        .filter(|&v| v > 0)
                };
                match (out(h), out(w)) {
                    (Some(oh), Some(ow)) => Ok([channels[1], oh, ow]),
                    _ => Err(format!(
                        "ConvTranspose2d kernel {kernel}, stride {stride}, padding {padding} cannot take a {h}×{w} input"
                    )),
                }
            }
            LayerSpec::GaussianMechanism { clip_norm, sigma } => {
                if !(clip_norm > 0.0 && clip_norm.is_finite() && sigma >= 0.0 && sigma.is_finite())
                {
                    return Err(format!(
                        "Gaussian mechanism needs a positive clipping norm and a finite σ ≥ 0, got {clip_norm} and {sigma}"
                    ));
                }
                Ok(input)
            }
            LayerSpec::Upsample { factor } => {
                if factor == 0 {
                    return Err("Upsample factor 0".into());
                }
                match (h.checked_mul(factor), w.checked_mul(factor)) {
                    (Some(oh), Some(ow)) => Ok([c, oh, ow]),
                    _ => Err(format!("Upsample by {factor} of a {h}×{w} input overflows")),
                }
            }
            LayerSpec::Linear {
                features, output, ..
            } => {
                let inputs = bounded_product(&input);
                if inputs != Some(features[0]) {
                    return Err(format!(
                        "Linear expects {} inputs, gets {c}×{h}×{w}",
                        features[0]
                    ));
                }
                if bounded_product(&output) != Some(features[1]) {
                    return Err("Linear output size does not match its reshape".into());
                }
                Ok(output)
            }
        }
    }

    /// Number of trainable parameters (weights and biases); `usize::MAX` where the count
    /// overflows (a layer no [`KeyArchitecture::check`] lets through).
    pub fn num_params(&self) -> usize {
        let count = match *self {
            LayerSpec::Conv {
                channels, kernel, ..
            }
            | LayerSpec::ConvTranspose {
                channels, kernel, ..
            } => [channels[0], channels[1], kernel, kernel]
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .and_then(|n| n.checked_add(channels[1])),
            LayerSpec::Linear { features, .. } => features[0]
                .checked_mul(features[1])
                .and_then(|n| n.checked_add(features[1])),
            LayerSpec::GaussianMechanism { .. } | LayerSpec::Upsample { .. } => Some(0),
        };
        count.unwrap_or(usize::MAX)
    }
}

fn conv(cin: usize, cout: usize, relu: bool) -> LayerSpec {
    LayerSpec::Conv {
        channels: [cin, cout],
        kernel: 3,
        stride: 1,
        padding: 1,
        relu,
    }
}

fn halve(cin: usize, cout: usize, relu: bool) -> LayerSpec {
    LayerSpec::Conv {
        channels: [cin, cout],
        kernel: 2,
        stride: 2,
        padding: 0,
        relu,
    }
}

fn double(cin: usize, cout: usize) -> LayerSpec {
    LayerSpec::ConvTranspose {
        channels: [cin, cout],
        kernel: 2,
        stride: 2,
        padding: 0,
        relu: false,
    }
}

/// The paper's 8-convolution L-decoder (Table 2), ending in `out` channels.
fn paper_decoder(out: usize) -> Vec<LayerSpec> {
    vec![
        halve(10, 10, false),
        conv(10, 30, false),
        conv(30, 10, false),
        conv(10, 10, false),
        conv(10, 10, true),
        conv(10, 5, false),
        conv(5, 3, true),
        conv(3, out, false),
    ]
}

/// Names of the built-in presets.
pub const PRESETS: [&str; 4] = ["paper-mnist", "paper-cifar", "auto", "private"];

/// Side of the square grid a `private` key's code is laid out on (4 → a 16-value code).
pub const PRIVATE_CODE_SIDE: usize = 4;

/// The layer lists of one key, with the shapes they map between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyArchitecture {
    /// Preset name this architecture came from.
    pub preset: String,
    /// `[C, H, W]` of plain images.
    pub plain_shape: [usize; 3],
    /// `[C, H, W]` of ciphertexts (E1's output).
    pub cipher_shape: [usize; 3],
    /// E1's layers, in order.
    pub encoder: Vec<LayerSpec>,
    /// D1's layers, in order (its sigmoid output is implied).
    pub decoder: Vec<LayerSpec>,
}

impl KeyArchitecture {
    /// Refuses images of another shape than the key takes; `source` names the data.
    pub fn check_images(
        &self,
        shape: [usize; 3],
        source: &std::path::Path,
    ) -> crate::error::Result<()> {
        if shape == self.plain_shape {
            return Ok(());
        }
        Err(crate::error::ModelError::Mismatch {
            path: source.to_path_buf(),
            reason: format!(
                "the key takes {:?} images but the data is {:?}",
                self.plain_shape, shape
            ),
        })
    }

    /// Builds preset `name` for plain images of shape `plain_shape`.
    ///
    /// - `paper-mnist`: Table 2's MNIST key, 1×28×28 → 10×56×56, with the 7,840 → 15,680 linear
    ///   layer (≈123 M parameters, a ≈490 MB key).
    /// - `paper-cifar`: Table 2's convolution-only CIFAR-10 key, 3×32×32 → 10×64×64.
    /// - `auto`: any C×H×W (H and W even) → 4×2H×2W, convolutions with ReLUs, small enough to
    ///   train in minutes on a CPU.
    /// - `private`: any C×H×W (H, W ≥ 4) → a 16-value code without noise (ε = ∞); see
    ///   [`KeyArchitecture::private`] for the noise and the layout.
    // Why one function: it is the table of presets, one arm per preset, the paper's layer lists
    // written as they appear there.
    pub fn preset(name: &str, plain_shape: [usize; 3]) -> Result<Self> {
        if name == "private" {
            return Self::private(plain_shape, 1, 0.0);
        }
        let [c, h, w] = plain_shape;
        let err = |reason: String| ModelError::Preset {
            preset: name.into(),
            reason,
        };
        let (encoder, decoder) = match name {
            "paper-mnist" => {
                if plain_shape != [1, 28, 28] {
                    return Err(err(format!(
                        "takes 1×28×28 images (MNIST, Fashion-MNIST), the data is {c}×{h}×{w}; use `auto`"
                    )));
                }
                (
                    vec![
                        conv(1, 3, false),
                        conv(3, 10, false),
                        conv(10, 10, false),
                        LayerSpec::Linear {
                            features: [10 * 28 * 28, 20 * 28 * 28],
                            output: [20, 28, 28],
                            relu: true,
                        },
                        conv(20, 20, false),
                        double(20, 10),
                    ],
                    paper_decoder(1),
                )
            }
            "paper-cifar" => {
                if plain_shape != [3, 32, 32] {
                    return Err(err(format!(
                        "takes 3×32×32 images (CIFAR-10), the data is {c}×{h}×{w}; use `auto`"
                    )));
                }
                (
                    vec![
                        conv(3, 3, false),
                        conv(3, 10, false),
                        conv(10, 20, false),
                        conv(20, 20, false),
                        double(20, 10),
                    ],
                    paper_decoder(3),
                )
            }
            "auto" => {
                if h % 2 != 0 || w % 2 != 0 || h == 0 || w == 0 || c == 0 {
                    return Err(err(format!(
                        "needs even, non-zero height and width, got {c}×{h}×{w}"
                    )));
                }
                (
                    vec![
                        conv(c, 16, true),
                        conv(16, 16, true),
                        conv(16, 16, false),
                        double(16, 4),
                    ],
                    vec![halve(4, 16, true), conv(16, 16, true), conv(16, c, false)],
                )
            }
            other => {
                return Err(ModelError::Preset {
                    preset: other.into(),
                    reason: format!("unknown preset (known: {})", PRESETS.join(", ")),
                });
            }
        };
        let mut arch = KeyArchitecture {
            preset: name.into(),
            plain_shape,
            cipher_shape: [0; 3],
            encoder,
            decoder,
        };
        arch.cipher_shape = arch.check().map_err(err)?;
        Ok(arch)
    }

    /// The `private` key family for `plain_shape`: E1 maps an image to a code of
    /// `code_channels` × 4 × 4 values (three convolutions with ReLUs, two of them halving H and W,
    /// then a linear layer), applies the Gaussian mechanism (L2 norm 1, noise `sigma`, drawn
    /// afresh at every encryption) and lays the noisy code out as `code_channels` × 8 × 8 by
    /// nearest-neighbour upsampling, a shape every base model trains on. It has no D1: nothing
    /// is meant to turn a ciphertext back into its image.
    pub fn private(plain_shape: [usize; 3], code_channels: usize, sigma: f64) -> Result<Self> {
        let [c, h, w] = plain_shape;
        let err = |reason: String| ModelError::Preset {
            preset: "private".into(),
            reason,
        };
        if c == 0 || h < 4 || w < 4 || code_channels == 0 {
            return Err(err(format!(
                "needs images of at least 4×4 and a code channel, got {c}×{h}×{w}"
            )));
        }
        let side = PRIVATE_CODE_SIDE;
        let width = 32;
        let encoder = vec![
            conv(c, width / 2, true),
            halve(width / 2, width, true),
            halve(width, width, true),
            LayerSpec::Linear {
                features: [width * (h / 4) * (w / 4), code_channels * side * side],
                output: [code_channels, side, side],
                relu: false,
            },
            LayerSpec::GaussianMechanism {
                clip_norm: 1.0,
                sigma,
            },
            LayerSpec::Upsample { factor: 2 },
        ];
        let mut arch = KeyArchitecture {
            preset: "private".into(),
            plain_shape,
            cipher_shape: [0; 3],
            encoder,
            decoder: Vec::new(),
        };
        arch.cipher_shape = arch.check().map_err(err)?;
        Ok(arch)
    }

    /// The Gaussian mechanism in E1, if the key has one (`private` keys).
    pub fn mechanism(&self) -> Option<crate::privacy::GaussianMechanism> {
        self.encoder.iter().find_map(|l| match *l {
            LayerSpec::GaussianMechanism { clip_norm, sigma } => {
                Some(crate::privacy::GaussianMechanism { clip_norm, sigma })
            }
            _ => None,
        })
    }

    /// Whether the key has an L-decoder D1 (`private` keys have none).
    pub fn has_decoder(&self) -> bool {
        !self.decoder.is_empty()
    }

    /// Checks that the layers chain from `plain_shape` back to `plain_shape` (E1 alone for a key
    /// without D1); returns the ciphertext shape. Everything is checked without overflowing, so a hostile key file's header is refused
    /// with a reason: zero-sized or oversized plain images, any layer's rule, and more than
    /// [`MAX_TENSOR_VALUES`] parameters in all.
    pub fn check(&self) -> Result<[usize; 3], String> {
        if bounded_product(&self.plain_shape).is_none_or(|n| n == 0) {
            return Err(format!(
                "plain images of {:?} values: none, or over {MAX_TENSOR_VALUES}",
                self.plain_shape
            ));
        }
        let (encoder, decoder) = self.num_params();
        if encoder.saturating_add(decoder) > MAX_TENSOR_VALUES {
            return Err(format!(
                "{} parameters in all, over {MAX_TENSOR_VALUES}",
                encoder.saturating_add(decoder)
            ));
        }
        let mut shape = self.plain_shape;
        for (i, layer) in self.encoder.iter().enumerate() {
            shape = layer
                .output_shape(shape)
                .map_err(|e| format!("E1 layer {i}: {e}"))?;
        }
        let cipher = shape;
        if self.decoder.is_empty() {
            return Ok(cipher);
        }
        for (i, layer) in self.decoder.iter().enumerate() {
            shape = layer
                .output_shape(shape)
                .map_err(|e| format!("D1 layer {i}: {e}"))?;
        }
        if shape != self.plain_shape {
            return Err(format!(
                "D1 produces {shape:?}, not the plain shape {:?}",
                self.plain_shape
            ));
        }
        Ok(cipher)
    }

    /// Parameters of E1 and of D1.
    pub fn num_params(&self) -> (usize, usize) {
        let count = |layers: &[LayerSpec]| {
            layers
                .iter()
                .map(LayerSpec::num_params)
                .fold(0usize, usize::saturating_add)
        };
        (count(&self.encoder), count(&self.decoder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_mnist_shapes_and_parameter_count() {
        let a = KeyArchitecture::preset("paper-mnist", [1, 28, 28]).unwrap();
        assert_eq!(a.cipher_shape, [10, 56, 56]);
        let (e, d) = a.num_params();
        assert_eq!(e, 122_952_530);
        assert_eq!(d, 8_291);
        assert_eq!(e + d, 122_960_821, "Table 2 of the paper");
        // 31,360 values a ciphertext: 125,440 bytes as f32, 160× the 784-byte image.
        assert_eq!(a.cipher_shape.iter().product::<usize>() * 4, 160 * 784);
    }

    #[test]
    fn paper_cifar_shapes_and_parameter_count() {
        let a = KeyArchitecture::preset("paper-cifar", [3, 32, 32]).unwrap();
        assert_eq!(a.cipher_shape, [10, 64, 64]);
        let (e, d) = a.num_params();
        assert_eq!((e, d), (6_614, 8_347));
        assert_eq!(e + d, 14_961, "Table 2 of the paper");
    }

    #[test]
    fn auto_fits_any_even_shape() {
        for shape in [[1, 28, 28], [3, 32, 32], [3, 8, 12]] {
            let a = KeyArchitecture::preset("auto", shape).unwrap();
            assert_eq!(a.cipher_shape, [4, shape[1] * 2, shape[2] * 2]);
        }
    }

    #[test]
    fn preset_shape_mismatch_is_explained() {
        let err = KeyArchitecture::preset("paper-mnist", [3, 32, 32])
            .unwrap_err()
            .to_string();
        assert!(err.contains("takes 1×28×28 images"), "{err}");
        let err = KeyArchitecture::preset("auto", [1, 27, 28])
            .unwrap_err()
            .to_string();
        assert!(err.contains("even"), "{err}");
        let err = KeyArchitecture::preset("nope", [1, 2, 2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown preset"), "{err}");
    }

    #[test]
    fn private_keys_have_a_noisy_16_value_code_and_no_decoder() {
        for shape in [[1, 28, 28], [3, 32, 32], [1, 5, 7]] {
            let a = KeyArchitecture::private(shape, 1, 0.5).unwrap();
            assert_eq!(a.cipher_shape, [1, 8, 8]);
            assert!(!a.has_decoder());
            let m = a.mechanism().unwrap();
            assert_eq!((m.clip_norm, m.sigma), (1.0, 0.5));
        }
        assert_eq!(
            KeyArchitecture::preset("private", [1, 28, 28])
                .unwrap()
                .mechanism()
                .unwrap()
                .sigma,
            0.0
        );
        assert!(KeyArchitecture::private([1, 3, 8], 1, 0.0).is_err());
        assert!(KeyArchitecture::private([1, 8, 8], 1, f64::NAN).is_err());
        assert!(
            KeyArchitecture::preset("auto", [1, 28, 28])
                .unwrap()
                .mechanism()
                .is_none()
        );
    }

    #[test]
    fn architecture_survives_json() {
        let a = KeyArchitecture::preset("paper-mnist", [1, 28, 28]).unwrap();
        let back: KeyArchitecture =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(a, back);
    }
}
