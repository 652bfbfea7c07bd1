//! Labelled samples as a classifier sees them, plain or encrypted, batch by batch, and the
//! accuracy and confusion matrix of any classifier over them. Training (burn) and validation of
//! untrusted models (tract) both iterate through this, so neither needs the other.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::encrypted::EncryptedDataset;
use crate::{DataError, ImageDataset};

/// Receives one batch: flat `[n, C, H, W]` values and `n` labels.
pub type BatchFn<'a, E> = dyn FnMut(&[f32], &[u16]) -> Result<(), E> + 'a;

/// Predicts one batch: flat `[n, C, H, W]` values and `n` → `n` class indices.
pub type PredictFn<'a, E> = dyn FnMut(&[f32], usize) -> Result<Vec<usize>, E> + 'a;

/// A classifier's answer that cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredictionError {
    /// Not one prediction per sample.
    #[error("the classifier returned {predictions} predictions for {samples} samples")]
    WrongCount {
        /// Predictions returned.
        predictions: usize,
        /// Samples given.
        samples: usize,
    },
    /// A class index past the task's classes.
    #[error("the classifier predicted class {class}, but there are {classes} classes")]
    NoSuchClass {
        /// The predicted class.
        class: usize,
        /// Classes the task has.
        classes: usize,
    },
}

/// Labeled samples to train or evaluate on.
// One value per training run: the size of the encrypted variant (its manifest) costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Samples {
    /// Plain images in memory (pixels scaled to [0, 1]).
    Plain(ImageDataset),
    /// One split of an encrypted dataset, read shard by shard.
    Encrypted {
        /// The dataset.
        dataset: EncryptedDataset,
        /// The split's name.
        split: String,
    },
}

/// Why a model trained on ciphertexts of key `model` cannot run on data of key `data`, when
/// both name their key and they differ.
pub fn key_mismatch(model: Option<&str>, data: Option<&str>) -> Option<String> {
    match (model, data) {
        (Some(m), Some(d)) if m != d => Some(format!(
            "the model was trained on data of key {m}, but this data is from key {d}"
        )),
        _ => None,
    }
}

/// Whether `path` is an encrypted dataset (a folder with a manifest) rather than a plain release.
pub fn is_encrypted(path: &std::path::Path) -> bool {
    path.join(crate::encrypted::MANIFEST_FILE).is_file()
}

impl Samples {
    /// Opens `split` of a plain release or an encrypted dataset (a folder with a manifest) as
    /// labeled samples; `limit` keeps a plain split's first images.
    pub fn open(
        path: &std::path::Path,
        split: &str,
        limit: Option<usize>,
    ) -> Result<Samples, DataError> {
        if is_encrypted(path) {
            let dataset = EncryptedDataset::open(path)?;
            dataset.split(split)?;
            return Ok(Samples::Encrypted {
                dataset,
                split: split.to_string(),
            });
        }
        let split: crate::Split = split
            .parse()
            .map_err(|reason: String| DataError::invalid(path, "split", reason))?;
        let mut data = crate::open_dataset(path, split)?;
        if data.labels.is_none() {
            return Err(DataError::Unlabelled {
                what: format!("{} (a classifier needs labels)", path.display()),
            });
        }
        if let Some(limit) = limit {
            data.truncate(limit);
        }
        Ok(Samples::Plain(data))
    }

    /// The samples a model is evaluated on: `split`, or by default an encrypted dataset's
    /// `validation` split or a plain release's `test` split.
    pub fn open_evaluation(
        path: &std::path::Path,
        split: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Samples, DataError> {
        let default = if is_encrypted(path) {
            "validation"
        } else {
            "test"
        };
        Samples::open(path, split.unwrap_or(default), limit)
    }

    /// `[C, H, W]` of one sample.
    pub fn shape(&self) -> [usize; 3] {
        match self {
            Samples::Plain(d) => d.shape,
            Samples::Encrypted { dataset, .. } => dataset.manifest().sample_shape,
        }
    }

    /// Class names in label order.
    pub fn class_names(&self) -> Vec<String> {
        match self {
            Samples::Plain(d) => d.class_names.clone(),
            Samples::Encrypted { dataset, .. } => dataset.manifest().class_names.clone(),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Samples::Plain(d) => d.len(),
            Samples::Encrypted { dataset, split } => {
                dataset.split(split).map(|s| s.count).unwrap_or(0)
            }
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key id of encrypted data (`None` for plain data).
    pub fn key_id(&self) -> Option<String> {
        match self {
            Samples::Plain(_) => None,
            Samples::Encrypted { dataset, .. } => Some(dataset.manifest().key_id.clone()),
        }
    }

    /// Calls `f(values, labels)` for each batch. With `shuffle = Some(seed)`, the order is a
    /// seeded permutation (of shards, then within each shard, for encrypted data).
    pub fn for_each_batch<E: From<DataError>>(
        &self,
        batch_size: usize,
        shuffle: Option<u64>,
        f: &mut BatchFn<'_, E>,
    ) -> Result<(), E> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(shuffle.unwrap_or(0));
        let visit = |len: usize, rng: &mut rand::rngs::StdRng| {
            let mut order: Vec<usize> = (0..len).collect();
            if shuffle.is_some() {
                order.shuffle(rng);
            }
            order
        };
        match self {
            Samples::Plain(d) => {
                let labels = d.labels.as_ref().ok_or_else(|| DataError::Unlabelled {
                    what: "the dataset".into(),
                })?;
                let order = visit(d.len(), &mut rng);
                for chunk in order.chunks(batch_size) {
                    let y: Vec<u16> = chunk.iter().map(|&i| labels[i]).collect();
                    f(&d.batch_f32(chunk), &y)?;
                }
            }
            Samples::Encrypted { dataset, split } => {
                let info = dataset.split(split).map_err(E::from)?;
                let sample_len = dataset.sample_len();
                for s in visit(info.shards.len(), &mut rng) {
                    let shard = dataset.read_shard(&info.shards[s]).map_err(E::from)?;
                    let labels = shard.y.as_ref().ok_or_else(|| DataError::Unlabelled {
                        what: format!("split `{split}` of {}", dataset.dir().display()),
                    })?;
                    let order = visit(shard.count, &mut rng);
                    for chunk in order.chunks(batch_size) {
                        let mut x = Vec::with_capacity(chunk.len() * sample_len);
                        for &i in chunk {
                            x.extend_from_slice(&shard.x[i * sample_len..(i + 1) * sample_len]);
                        }
                        let y: Vec<u16> = chunk.iter().map(|&i| labels[i]).collect();
                        f(&x, &y)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Accuracy and confusion matrix of a model on labeled samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Samples scored.
    pub count: usize,
    /// Share classified as their label (0–1).
    pub accuracy: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

/// An evaluation with its class names: the accuracy line and the confusion matrix.
pub struct EvaluationTable<'a>(pub &'a Evaluation, pub &'a [String]);

impl std::fmt::Display for EvaluationTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (e, names) = (self.0, self.1);
        writeln!(
            f,
            "accuracy: {:.2}% on {} samples",
            100.0 * e.accuracy,
            e.count
        )?;
        write!(
            f,
            "confusion matrix (rows: true class, columns: predicted):"
        )?;
        let per_class = e.per_class_accuracy();
        for (i, row) in e.confusion.iter().enumerate() {
            let cells: String = row.iter().map(|v| format!("{v:>5}")).collect();
            write!(
                f,
                "\n  {:>12} {cells}  {:>6.2}%",
                names.get(i).map(String::as_str).unwrap_or("?"),
                100.0 * per_class[i]
            )?;
        }
        Ok(())
    }
}

impl Evaluation {
    /// Accuracy of each true class (NaN for a class with no samples).
    pub fn per_class_accuracy(&self) -> Vec<f64> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(i, row)| row[i] as f64 / row.iter().sum::<usize>() as f64)
            .collect()
    }
}

/// Accuracy and confusion matrix of any classifier (a burn model, an ONNX model) over `samples`.
pub fn evaluate_with<E: From<DataError> + From<PredictionError>>(
    samples: &Samples,
    batch_size: usize,
    predict: &mut PredictFn<'_, E>,
) -> Result<Evaluation, E> {
    let mut parts = evaluate_parts_with(samples, batch_size, 1, &|_| 0, predict)?;
    Ok(parts.remove(0))
}

/// [`evaluate_with`] scored separately over `parts` parts of `samples`: `part_of(i)` says which
/// part sample `i` (in unshuffled visiting order) is in. One pass of the model serves every part.
pub fn evaluate_parts_with<E: From<DataError> + From<PredictionError>>(
    samples: &Samples,
    batch_size: usize,
    parts: usize,
    part_of: &dyn Fn(usize) -> usize,
    predict: &mut PredictFn<'_, E>,
) -> Result<Vec<Evaluation>, E> {
    let classes = samples.class_names().len();
    let mut confusion = vec![vec![vec![0usize; classes]; classes]; parts];
    let mut index = 0;
    samples.for_each_batch(batch_size, None, &mut |x, y| -> Result<(), E> {
        let predicted = predict(x, y.len())?;
        if predicted.len() != y.len() {
            return Err(PredictionError::WrongCount {
                predictions: predicted.len(),
                samples: y.len(),
            }
            .into());
        }
        for (&truth, &p) in y.iter().zip(&predicted) {
            if p >= classes {
                return Err(PredictionError::NoSuchClass { class: p, classes }.into());
            }
            confusion[part_of(index).min(parts - 1)][truth as usize][p] += 1;
            index += 1;
        }
        Ok(())
    })?;
    Ok(confusion
        .into_iter()
        .map(Evaluation::from_confusion)
        .collect())
}

impl Evaluation {
    /// The evaluation a confusion matrix (`confusion[true][predicted]`) records.
    pub fn from_confusion(confusion: Vec<Vec<usize>>) -> Evaluation {
        let count: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..confusion.len()).map(|i| confusion[i][i]).sum();
        Evaluation {
            count,
            accuracy: correct as f64 / count.max(1) as f64,
            confusion,
        }
    }

    /// The evaluation over the samples of both `self` and `other` (of one class list).
    pub fn merged(&self, other: &Evaluation) -> Evaluation {
        let confusion = self
            .confusion
            .iter()
            .zip(&other.confusion)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x + y).collect())
            .collect();
        Evaluation::from_confusion(confusion)
    }
}
