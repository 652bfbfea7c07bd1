//! The publisher's predictions (the paper's Fig. 1, right): plain images → E1 with the key →
//! the delivered ONNX model → a class and its probability per image. Nothing but the publisher
//! sees the plain images or the key.

use crate::HandOffError;
use archnet_data::ImageDataset;
use archnet_model::{ArchNetKey, KeyMetadata};
use archnet_validate::runner::argmax;
use archnet_validate::{
    ModelPolicy, OnnxClassifier, OnnxError, Result, ValidationLimits, inspect, metadata,
};

/// One image's prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The image's index in the dataset.
    pub index: usize,
    /// Images in the dataset.
    pub of: usize,
    /// The most likely class, and its name.
    pub label: usize,
    /// The class's name (the model's metadata, else the data's; else the index).
    pub class: String,
    /// Its softmax probability.
    pub confidence: f32,
    /// The true class's name, when the data is labeled.
    pub truth: Option<String>,
}

impl std::fmt::Display for Prediction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "image {}: {} with confidence {:.1}%",
            self.index,
            self.class,
            100.0 * self.confidence
        )?;
        if let Some(t) = &self.truth {
            write!(f, " (true: {t})")?;
        }
        Ok(())
    }
}

/// What [`predict`] found over the whole dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictReport {
    /// Images classified.
    pub images: usize,
    /// Images whose prediction matched their label; `None` when the data has no labels.
    pub correct: Option<usize>,
}

impl std::fmt::Display for PredictReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.correct {
            Some(c) => write!(
                f,
                "accuracy: {:.2}% on {} samples",
                100.0 * c as f64 / self.images.max(1) as f64,
                self.images
            ),
            None => write!(f, "{} images classified (no labels to score)", self.images),
        }
    }
}

/// Refuses a model trained on another key's ciphertexts (when both name their key).
pub fn ensure_same_key(model_key: Option<&str>, data_key: Option<&str>) -> Result<()> {
    match archnet_data::samples::key_mismatch(model_key, data_key) {
        Some(reason) => Err(OnnxError::Mismatch(reason)),
        None => Ok(()),
    }
}

/// [`predict`] over files: the key at `key`, the ONNX model at `onnx` (refused over the
/// policy's size before it is read), the images of `data`.
pub fn predict_files(
    key: &std::path::Path,
    onnx: &std::path::Path,
    data: &archnet_data::DataSource,
    policy: &ModelPolicy,
    limits: &ValidationLimits,
    on_prediction: &mut dyn FnMut(&Prediction),
) -> std::result::Result<PredictReport, HandOffError> {
    let (key, meta) = archnet_model::KeyFile::load(key, &archnet_model::device())?;
    let images = data.load().map_err(archnet_model::ModelError::from)?;
    let bytes = archnet_validate::read_model(onnx, policy)?;
    predict(
        &key,
        &meta,
        &bytes,
        &images,
        &data.path,
        policy,
        limits,
        on_prediction,
    )
}

/// Classifies `data`'s plain images (read from `source`) with `key` and the ONNX model `onnx`
/// (checked against `policy` first, run within `limits`), calling `on_prediction` for each
/// image in order.
#[allow(clippy::too_many_arguments)] // The key, the model, the data and their limits: all needed.
pub fn predict(
    key: &ArchNetKey,
    meta: &KeyMetadata,
    onnx: &[u8],
    data: &ImageDataset,
    source: &std::path::Path,
    policy: &ModelPolicy,
    limits: &ValidationLimits,
    on_prediction: &mut dyn FnMut(&Prediction),
) -> std::result::Result<PredictReport, HandOffError> {
    meta.architecture.check_images(data.shape, source)?;
    let (proto, summary) = inspect(onnx, policy)?;
    // Class names from the model's archnet metadata, else the data's.
    let class_names: Vec<String> = summary
        .metadata(metadata::CLASS_NAMES)
        .and_then(|names| serde_json::from_str(names).ok())
        .unwrap_or_else(|| data.class_names.clone());
    let model = OnnxClassifier::from_inspected(
        &proto,
        summary,
        limits,
        meta.architecture.cipher_shape,
        class_names.len(),
    )?;
    ensure_same_key(
        model.summary().metadata(metadata::KEY_ID),
        Some(&meta.key_id),
    )?;
    let name = |i: usize| class_names.get(i).cloned().unwrap_or_else(|| i.to_string());
    let batch = limits.batch_size.max(1);
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut correct = 0;
    for chunk in indices.chunks(batch) {
        let ciphertexts = key.encrypt_values(data.shape, &data.batch_f32(chunk), chunk.len());
        for (row, &index) in model.logits(&ciphertexts, chunk.len())?.iter().zip(chunk) {
            let (label, confidence) = most_likely(row);
            let truth = data.labels.as_ref().map(|l| l[index] as usize);
            correct += usize::from(truth == Some(label));
            on_prediction(&Prediction {
                index,
                of: data.len(),
                label,
                class: name(label),
                confidence,
                truth: truth.map(name),
            });
        }
    }
    Ok(PredictReport {
        images: data.len(),
        correct: data.labels.is_some().then_some(correct),
    })
}

/// Index and softmax probability of the largest logit.
fn most_likely(logits: &[f32]) -> (usize, f32) {
    // The same choice as `OnnxClassifier::predict`, so predict and validate agree exactly.
    let best = argmax(logits);
    let Some(&top) = logits.get(best) else {
        return (0, 0.0); // No classes: nothing to be confident about.
    };
    let total: f32 = logits.iter().map(|&v| (v - top).exp()).sum();
    (best, 1.0 / total)
}
