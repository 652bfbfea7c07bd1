//! Base models D2: the classifiers compute nodes train on (encrypted or plain) images.
//!
//! Both adapt to any `[C, H, W]` input: the CNN pools adaptively before its dense layers, the
//! ResNets pool globally. A base model is described by a [`BaseModelSpec`] (kind, input shape,
//! classes), which is stored with its weights so a trained model describes itself.

mod cnn;
mod resnet;

pub use cnn::Cnn;
pub use resnet::{ResNet, ResNetDepth};

use burn::prelude::*;

use crate::error::ModelError;
use serde::{Deserialize, Serialize};

/// Which base model, for what input and how many classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseModelSpec {
    /// `cnn`, `resnet18`, `resnet34`, `resnet50`, `resnet101` or `resnet152`.
    pub kind: String,
    /// `[C, H, W]` of one input sample.
    pub input_shape: [usize; 3],
    /// Number of classes (the logits' width).
    pub classes: usize,
}

/// Names accepted by [`BaseModelSpec::kind`].
pub const BASE_MODELS: [&str; 6] = [
    "cnn",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
];

/// A base model of any kind.
#[derive(Module, Debug)]
pub enum BaseModel {
    /// The paper's small convolutional network.
    Cnn(Cnn),
    /// A ResNet of any depth.
    ResNet(ResNet),
}

impl BaseModel {
    /// Builds a freshly initialised model for `spec`.
    pub fn init(spec: &BaseModelSpec, device: &Device) -> Result<Self, ModelError> {
        let refuse = |reason: String| ModelError::BaseModel {
            kind: spec.kind.clone(),
            reason,
        };
        if spec.classes < 2 {
            return Err(refuse(format!(
                "a classifier needs at least 2 classes, got {}",
                spec.classes
            )));
        }
        if spec.input_shape.contains(&0) {
            return Err(refuse(format!(
                "input shape {:?} has a zero dimension",
                spec.input_shape
            )));
        }
        match spec.kind.as_str() {
            "cnn" => Ok(BaseModel::Cnn(Cnn::init(
                spec.input_shape[0],
                spec.classes,
                device,
            ))),
            other => {
                let depth = ResNetDepth::from_name(other).ok_or_else(|| {
                    refuse(format!(
                        "unknown base model `{other}` (known: {})",
                        BASE_MODELS.join(", ")
                    ))
                })?;
                Ok(BaseModel::ResNet(ResNet::init(
                    depth,
                    spec.input_shape[0],
                    spec.classes,
                    device,
                )))
            }
        }
    }

    /// Logits: `[N, C, H, W]` → `[N, classes]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        match self {
            BaseModel::Cnn(m) => m.forward(input),
            BaseModel::ResNet(m) => m.forward(input),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    #[test]
    fn every_kind_maps_any_shape_to_logits() {
        // Random initialisation draws from burn's shared generator: keep seeded runs exact.
        let _rng = crate::seeded_run(&crate::device(), 0);
        let device = crate::device();
        for kind in ["cnn", "resnet18", "resnet50"] {
            for shape in [[1, 28, 28], [10, 56, 56], [3, 32, 32]] {
                let spec = BaseModelSpec {
                    kind: kind.into(),
                    input_shape: shape,
                    classes: 10,
                };
                let model = BaseModel::init(&spec, &device).unwrap();
                let x = Tensor::<4>::zeros([2, shape[0], shape[1], shape[2]], &device);
                assert_eq!(model.forward(x).dims(), [2, 10], "{kind} {shape:?}");
            }
        }
    }

    #[test]
    fn resnet_depths_have_the_usual_sizes() {
        // Random initialisation draws from burn's shared generator: keep seeded runs exact.
        let _rng = crate::seeded_run(&crate::device(), 0);
        let device = crate::device();
        let count = |kind: &str| {
            let spec = BaseModelSpec {
                kind: kind.into(),
                input_shape: [3, 32, 32],
                classes: 10,
            };
            BaseModel::init(&spec, &device).unwrap().num_params()
        };
        // torchvision's ImageNet models have 11.7 M / 21.8 M / 25.6 M parameters with a
        // 1000-class head; with a 10-class head and our 3×3 stem that is about 11.2 / 21.3 / 23.5 M.
        let (r18, r34, r50) = (count("resnet18"), count("resnet34"), count("resnet50"));
        assert!((11_000_000..11_300_000).contains(&r18), "{r18}");
        assert!((21_100_000..21_400_000).contains(&r34), "{r34}");
        assert!((23_400_000..23_600_000).contains(&r50), "{r50}");
    }

    #[test]
    fn unknown_kind_is_named() {
        let spec = BaseModelSpec {
            kind: "vgg".into(),
            input_shape: [1, 2, 2],
            classes: 10,
        };
        let err = BaseModel::init(&spec, &crate::device())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown base model `vgg`"), "{err}");
    }
}
