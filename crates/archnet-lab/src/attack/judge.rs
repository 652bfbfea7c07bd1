//! The judge: a classifier of *plain* images, used to ask "is this reconstruction still
//! recognisable as its class?" — a number closer to what a person sees than PSNR is.

use std::path::Path;

use archnet_data::ImageDataset;
use archnet_model::base::{BaseModel, BaseModelSpec};
use archnet_model::classify::{ClassifierTrainConfig, Samples, predict_batch, train_classifier};
use archnet_model::error::Result;

/// A plain-image classifier.
pub struct Judge {
    model: BaseModel,
    shape: [usize; 3],
}

impl Judge {
    /// Trains the base `cnn` for `epochs` on `data` (labelled plain images), writing its
    /// checkpoints under `scratch`.
    pub fn train(data: ImageDataset, epochs: usize, seed: u64, scratch: &Path) -> Result<Judge> {
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
        let shape = data.shape;
        let outcome = train_classifier(
            &spec,
            &Samples::Plain(data),
            None,
            &config,
            scratch,
            false,
            &mut |_, _, _| {},
        )?;
        Ok(Judge {
            model: outcome.model,
            shape,
        })
    }

    /// A judge from an already trained plain-image model.
    pub fn from_model(model: BaseModel, shape: [usize; 3]) -> Judge {
        Judge { model, shape }
    }

    /// Predicted class of each image (`m × plain_len`, values in [0, 1]).
    pub fn predict(&self, images: &[f32]) -> Result<Vec<usize>> {
        let len: usize = self.shape.iter().product();
        let mut out = Vec::with_capacity(images.len() / len);
        for chunk in images.chunks(256 * len) {
            out.extend(predict_batch(
                &self.model,
                self.shape,
                chunk,
                chunk.len() / len,
            )?);
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
