//! The judge: a classifier of *plain* images, used to ask "is this reconstruction still
//! recognisable as its class?" — a number closer to what a person sees than PSNR is.

use std::path::Path;

use archnet_data::ImageDataset;
use burn::prelude::*;

use crate::base::{BaseModel, BaseModelSpec};
use crate::classify::{ClassifierTrainConfig, Samples, train_classifier};
use crate::error::{ModelError, Result};

/// A plain-image classifier.
pub struct Judge {
    model: BaseModel,
    shape: [usize; 3],
}

impl Judge {
    /// Trains the base `cnn` for `epochs` on `data` (labelled plain images), writing its
    /// checkpoints under `scratch`.
    pub fn train(data: &ImageDataset, epochs: usize, seed: u64, scratch: &Path) -> Result<Judge> {
        let classes = data.class_names.len().max(
            data.labels
                .as_ref()
                .and_then(|l| l.iter().max())
                .map_or(0, |&m| m as usize + 1),
        );
        let spec = BaseModelSpec {
            kind: "cnn".into(),
            input_shape: data.shape,
            classes,
        };
        let config = ClassifierTrainConfig {
            epochs,
            seed,
            ..ClassifierTrainConfig::default()
        };
        let outcome = train_classifier(
            &spec,
            &Samples::Plain(data.clone()),
            None,
            &config,
            scratch,
            false,
            &mut |_, _, _| {},
        )?;
        Ok(Judge {
            model: outcome.model,
            shape: data.shape,
        })
    }

    /// A judge from an already trained plain-image model.
    pub fn from_model(model: BaseModel, shape: [usize; 3]) -> Judge {
        Judge { model, shape }
    }

    /// Predicted class of each image (`m × plain_len`, values in [0, 1]).
    pub fn predict(&self, images: &[f32]) -> Result<Vec<usize>> {
        let device = crate::device();
        let [c, h, w] = self.shape;
        let len = c * h * w;
        let mut out = Vec::with_capacity(images.len() / len);
        for chunk in images.chunks(256 * len) {
            let n = chunk.len() / len;
            let x = Tensor::<4>::from_data(TensorData::new(chunk.to_vec(), [n, c, h, w]), &device);
            let predicted = self
                .model
                .forward(x)
                .argmax(1)
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .map_err(|e| ModelError::Config(format!("reading predictions: {e:?}")))?;
            out.extend(predicted.into_iter().map(|p| p as usize));
        }
        Ok(out)
    }

    /// Fraction of `images` classified as their `labels`.
    pub fn recognised(&self, images: &[f32], labels: &[u16]) -> Result<f64> {
        let predicted = self.predict(images)?;
        let hits = predicted
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p == **l as usize)
            .count();
        Ok(hits as f64 / labels.len().max(1) as f64)
    }
}
