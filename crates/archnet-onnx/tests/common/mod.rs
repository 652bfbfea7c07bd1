//! Helpers shared by the ONNX tests: small models and random inputs.

#![allow(dead_code)]

use archnet_model::base::{BaseModel, BaseModelSpec};
use archnet_onnx::{ExportInfo, export_model};
use burn::prelude::*;

/// A freshly initialised (seeded) base model and its spec.
pub fn model(kind: &str, shape: [usize; 3], classes: usize) -> (BaseModel, BaseModelSpec) {
    let device = archnet_model::device();
    let _rng = archnet_model::seeded_run(&device, 7);
    let spec = BaseModelSpec {
        kind: kind.into(),
        input_shape: shape,
        classes,
    };
    (BaseModel::init(&spec, &device).unwrap(), spec)
}

/// `n` samples of `shape` with values in [0, 1), deterministic.
pub fn inputs(n: usize, shape: [usize; 3]) -> Vec<f32> {
    let len = n * shape.iter().product::<usize>();
    // A fixed linear congruential sequence: reproducible without another dependency.
    let mut state = 0x2545_f491_u64;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// burn's logits for flat `x`.
pub fn burn_logits(model: &BaseModel, x: &[f32], shape: [usize; 3]) -> Vec<f32> {
    let n = x.len() / shape.iter().product::<usize>();
    let [c, h, w] = shape;
    let input = Tensor::<4>::from_data(
        TensorData::new(x.to_vec(), [n, c, h, w]),
        &archnet_model::device(),
    );
    model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

/// Exports with ten digit classes and a made-up key id.
pub fn export(model: &BaseModel, spec: &BaseModelSpec) -> Vec<u8> {
    let info = ExportInfo {
        key_id: Some("0123456789abcdef".into()),
        class_names: (0..spec.classes).map(|i| i.to_string()).collect(),
    };
    export_model(model, spec, &info).unwrap()
}
