//! One checkpoint protocol for key training ([`crate::train`]) and base-model training
//! ([`crate::classify`]): a folder holding the model's weights and Adam's state, and
//! `state.json`, which names the two files and holds the trainer's own position.
//!
//! A write puts the weights and the optimizer under new names, then replaces `state.json`
//! atomically, then removes the files the previous state named. Until the state file is
//! replaced the previous checkpoint is the valid one, so an interruption at any point leaves a
//! checkpoint that resumes.

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The state file of a checkpoint folder.
pub const STATE_FILE: &str = "state.json";

/// `state.json`: the trainer's state and the files it goes with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved<S> {
    /// The trainer's own state (position, configuration, history).
    #[serde(flatten)]
    pub state: S,
    /// The weights, beside `state.json` (Burnpack: it keeps the parameter ids Adam's state is
    /// keyed by).
    #[serde(default = "default_model_file")]
    pub model_file: String,
    /// Adam's state, beside `state.json`.
    #[serde(default = "default_optimizer_file")]
    pub optimizer_file: String,
}

/// The fixed names base-model checkpoints used before they were tagged (still read).
fn default_model_file() -> String {
    "checkpoint-model.bpk".into()
}

fn default_optimizer_file() -> String {
    "checkpoint-optimizer.bpk".into()
}

/// A checkpoint folder.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    dir: PathBuf,
    /// Unix mode of `state.json`.
    mode: u32,
}

impl Checkpointer {
    /// The checkpoints in `dir`, with `state.json` written with Unix mode `mode`.
    pub fn new(dir: &Path, mode: u32) -> Self {
        Checkpointer {
            dir: dir.to_path_buf(),
            mode,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The saved state, if the folder holds a checkpoint.
    pub fn read<S: DeserializeOwned>(&self) -> Result<Option<Saved<S>>> {
        let path = self.dir.join(STATE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| archnet_data::DataError::io(&path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ModelError::Checkpoint {
                path,
                reason: format!("unreadable state: {e}"),
            })
    }

    /// The saved state to continue, if the folder holds a checkpoint; refused unless `resume`,
    /// so that a run never silently continues (or overwrites) an earlier one.
    pub fn resume<S: DeserializeOwned>(&self, resume: bool) -> Result<Option<Saved<S>>> {
        let saved = self.read()?;
        if saved.is_some() && !resume {
            return Err(ModelError::Checkpoint {
                path: self.dir.clone(),
                reason: "a checkpoint exists here; pass --resume to continue it, or remove the \
                         folder or choose a new one"
                    .into(),
            });
        }
        Ok(saved)
    }

    /// Loads the weights and the optimizer `saved` names into `model` and `optim`.
    pub fn load<M: ModuleSnapshot, S>(
        &self,
        saved: &Saved<S>,
        model: &mut M,
        optim: ModuleOptimizer,
    ) -> Result<ModuleOptimizer> {
        let model_path = self.dir.join(&saved.model_file);
        model
            .load_from(&mut BurnpackStore::from_file(&model_path))
            .map_err(|e| checkpoint(&model_path, e))?;
        let optim_path = self.dir.join(&saved.optimizer_file);
        optim
            .load(&optim_path)
            .map_err(|e| checkpoint(&optim_path, e))
    }

    /// Writes `model` and `optim` under names tagged `tag` (distinct from the current
    /// checkpoint's), then `state`, then removes the previous checkpoint's files.
    pub fn write<M: ModuleSnapshot, S: Serialize>(
        &self,
        tag: &str,
        model: &M,
        optim: &ModuleOptimizer,
        state: &S,
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| archnet_data::DataError::io(&self.dir, e))?;
        let previous = self.read::<serde_json::Value>()?;
        let saved = Saved {
            state,
            model_file: format!("model-{tag}.bpk"),
            optimizer_file: format!("optimizer-{tag}.bpk"),
        };
        let model_path = self.dir.join(&saved.model_file);
        model
            .save_into(&mut BurnpackStore::from_file(&model_path).overwrite(true))
            .map_err(|e| checkpoint(&model_path, e))?;
        let optim_path = self.dir.join(&saved.optimizer_file);
        optim
            .save(&optim_path)
            .map_err(|e| checkpoint(&optim_path, e))?;
        let json = serde_json::to_vec_pretty(&saved).expect("state serialises");
        archnet_data::fsutil::write_atomic(&self.dir.join(STATE_FILE), &json, self.mode)?;
        if let Some(old) = previous {
            for file in [old.model_file, old.optimizer_file] {
                if file != saved.model_file && file != saved.optimizer_file {
                    let _ = std::fs::remove_file(self.dir.join(file));
                }
            }
        }
        Ok(())
    }
}

fn checkpoint(path: &Path, source: impl std::error::Error + Send + Sync + 'static) -> ModelError {
    ModelError::CheckpointFile {
        path: path.to_path_buf(),
        source: Box::new(source),
    }
}
