//! A trained base model on disk: `model.safetensors` (weights) beside `model.json` (its card).
//!
//! `archnet train` writes this folder; `archnet evaluate`, `archnet export` and the compute
//! node read it.

use std::path::Path;

use archnet_data::DataError;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::base::{BaseModel, BaseModelSpec};
use crate::classify::ClassifierTrainConfig;
use crate::error::{ModelError, Result};

/// Weights file in a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Card file in a model folder.
pub const CARD_FILE: &str = "model.json";

/// What a model folder says about its model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// The architecture: kind, input shape, classes.
    pub spec: BaseModelSpec,
    /// The class names, in label order.
    pub class_names: Vec<String>,
    /// Key id of the encrypted data the model was trained on (`None`: plain data).
    pub key_id: Option<String>,
    /// How it was trained.
    pub config: ClassifierTrainConfig,
    /// Validation accuracy after the last epoch, when measured.
    pub validation_accuracy: Option<f64>,
}

/// A base model with its card.
pub struct TrainedModel {
    /// Its card.
    pub card: ModelCard,
    /// The model.
    pub model: BaseModel,
}

impl TrainedModel {
    /// Writes `model.safetensors` and `model.json` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        let weights = dir.join(WEIGHTS_FILE);
        let mut store = SafetensorsStore::from_file(&weights).overwrite(true);
        self.model
            .save_into(&mut store)
            .map_err(|e| ModelError::File {
                path: weights,
                reason: e.to_string(),
            })?;
        let card = serde_json::to_vec_pretty(&self.card).expect("a card serialises");
        archnet_data::fsutil::write_atomic(&dir.join(CARD_FILE), &card, 0o644)?;
        Ok(())
    }

    /// Reads a model folder written by [`TrainedModel::save`].
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let card_path = dir.join(CARD_FILE);
        let bytes = std::fs::read(&card_path).map_err(|e| DataError::io(&card_path, e))?;
        let card: ModelCard = serde_json::from_slice(&bytes).map_err(|e| ModelError::File {
            path: card_path.clone(),
            reason: format!("not a model card: {e}"),
        })?;
        let mut model = BaseModel::init(&card.spec, device).map_err(|e| ModelError::File {
            path: card_path,
            reason: e.to_string(),
        })?;
        let weights = dir.join(WEIGHTS_FILE);
        model
            .load_from(&mut SafetensorsStore::from_file(&weights))
            .map_err(|e| ModelError::File {
                path: weights,
                reason: e.to_string(),
            })?;
        Ok(TrainedModel { card, model })
    }
}
