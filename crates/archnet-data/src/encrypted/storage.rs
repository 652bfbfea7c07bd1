//! How ciphertext values are stored: f32, f16, or u8 with a per-shard, per-channel affine map.

use serde::{Deserialize, Serialize};

/// Storage type of the `x` tensors of an encrypted dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// 4 bytes a value, exact.
    #[default]
    F32,
    /// 2 bytes a value (IEEE half precision).
    F16,
    /// 1 byte a value: `x = offset[c] + scale[c] * q` with `scale`, `offset` per shard and channel.
    Q8,
}

impl Storage {
    /// Bytes per stored value.
    pub fn bytes_per_value(self) -> usize {
        match self {
            Storage::F32 => 4,
            Storage::F16 => 2,
            Storage::Q8 => 1,
        }
    }

    /// The safetensors dtype name used for `x`.
    pub fn dtype(self) -> safetensors::Dtype {
        match self {
            Storage::F32 => safetensors::Dtype::F32,
            Storage::F16 => safetensors::Dtype::F16,
            Storage::Q8 => safetensors::Dtype::U8,
        }
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Storage::F32 => "f32",
            Storage::F16 => "f16",
            Storage::Q8 => "q8",
        })
    }
}

impl std::str::FromStr for Storage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Storage::F32),
            "f16" => Ok(Storage::F16),
            "q8" => Ok(Storage::Q8),
            other => Err(format!(
                "unknown storage `{other}` (expected f32, f16 or q8)"
            )),
        }
    }
}

/// Per-channel affine u8 quantisation parameters of one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantization {
    /// Per channel: value = offset + scale · u8.
    pub scale: Vec<f32>,
    /// See `scale`.
    pub offset: Vec<f32>,
}

/// Layout of one sample: `channels` planes of `plane` (= H × W) values each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleLayout {
    pub channels: usize,
    pub plane: usize,
}

impl SampleLayout {
    fn channel_of(self, flat_index: usize) -> usize {
        (flat_index / self.plane) % self.channels
    }
}

/// Encodes `values` (whole samples of `layout`) to little-endian bytes.
pub(crate) fn encode(
    storage: Storage,
    values: &[f32],
    layout: SampleLayout,
) -> (Vec<u8>, Option<Quantization>) {
    let channels = layout.channels;
    match storage {
        Storage::F32 => (values.iter().flat_map(|v| v.to_le_bytes()).collect(), None),
        Storage::F16 => (
            values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
            None,
        ),
        Storage::Q8 => {
            let mut lo = vec![f32::INFINITY; channels];
            let mut hi = vec![f32::NEG_INFINITY; channels];
            for (i, &v) in values.iter().enumerate() {
                let c = layout.channel_of(i);
                lo[c] = lo[c].min(v);
                hi[c] = hi[c].max(v);
            }
            let scale: Vec<f32> = lo
                .iter()
                .zip(&hi)
                .map(|(l, h)| if h > l { (h - l) / 255.0 } else { 1.0 })
                .collect();
            let bytes = values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let c = layout.channel_of(i);
                    ((v - lo[c]) / scale[c]).round().clamp(0.0, 255.0) as u8
                })
                .collect();
            (bytes, Some(Quantization { scale, offset: lo }))
        }
    }
}

/// Decodes stored bytes back to f32 values.
pub(crate) fn decode(
    storage: Storage,
    bytes: &[u8],
    layout: SampleLayout,
    quantization: Option<&Quantization>,
) -> Result<Vec<f32>, String> {
    Ok(match storage {
        Storage::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect(),
        Storage::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes(b.try_into().expect("2 bytes")).to_f32())
            .collect(),
        Storage::Q8 => {
            let q = quantization.ok_or("a q8 shard without quantisation parameters")?;
            if q.scale.len() != layout.channels || q.offset.len() != layout.channels {
                return Err(format!(
                    "quantisation parameters for {} channels, samples have {}",
                    q.scale.len(),
                    layout.channels
                ));
            }
            bytes
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    let c = layout.channel_of(i);
                    q.offset[c] + q.scale[c] * f32::from(b)
                })
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: SampleLayout = SampleLayout {
        channels: 2,
        plane: 3,
    };

    #[test]
    fn f32_round_trip_is_exact() {
        let v = vec![0.5, -1.25, 3.0, 1e-7, 7.0, -0.0];
        let (b, q) = encode(Storage::F32, &v, LAYOUT);
        assert_eq!(decode(Storage::F32, &b, LAYOUT, q.as_ref()).unwrap(), v);
    }

    #[test]
    fn q8_error_is_within_half_a_step_per_channel() {
        // two samples, channel 0 in [0, 1], channel 1 in [-10, 10]
        let v = vec![
            0.0, 0.3, 1.0, -10.0, 2.0, 10.0, 0.7, 0.1, 0.9, 5.0, -3.0, 1.0,
        ];
        let (b, q) = encode(Storage::Q8, &v, LAYOUT);
        let q = q.unwrap();
        assert_eq!(q.offset, vec![0.0, -10.0]);
        let back = decode(Storage::Q8, &b, LAYOUT, Some(&q)).unwrap();
        for (i, (a, r)) in v.iter().zip(&back).enumerate() {
            let step = q.scale[LAYOUT.channel_of(i)];
            assert!((a - r).abs() <= step / 2.0 + 1e-6, "{i}: {a} vs {r}");
        }
    }

    #[test]
    fn f16_keeps_three_significant_digits() {
        let v = vec![0.123_456, 12.345_67, -1.0, 0.0, 2.5, 100.0];
        let (b, q) = encode(Storage::F16, &v, LAYOUT);
        assert_eq!(b.len(), 12);
        for (a, r) in v
            .iter()
            .zip(decode(Storage::F16, &b, LAYOUT, q.as_ref()).unwrap())
        {
            assert!((a - r).abs() <= a.abs() * 1e-3, "{a} vs {r}");
        }
    }
}
