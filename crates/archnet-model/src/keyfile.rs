//! The key file: one safetensors file holding E1 and D1's weights, with JSON metadata in the
//! safetensors header under the name `archnet`.
//!
//! Written atomically with mode 0600: a key is the secret that decrypts the data.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::arch::KeyArchitecture;
use crate::error::{ModelError, Result};
use crate::key::ArchNetKey;
use crate::metrics::QualityMeans;

/// Name of the safetensors metadata entry that holds [`KeyMetadata`] as JSON.
pub const METADATA_ENTRY: &str = "archnet";
/// Value of [`KeyMetadata::format`].
pub const KEY_FORMAT: &str = "archnet-key";

/// How a key was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    pub recipe: String,
    pub loss: String,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub samples_seen: u64,
    pub seed: u64,
    /// sha256 fingerprint of the exact training images.
    pub data_fingerprint: String,
    /// Where the training data came from, as given.
    pub data_source: String,
    pub train_samples: usize,
    pub wall_seconds: f64,
    pub final_loss: f64,
}

/// Everything about a key except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMetadata {
    /// Always [`KEY_FORMAT`].
    pub format: String,
    pub version: u32,
    /// sha256 over the weights (names, shapes and values), the first 16 hex digits.
    pub key_id: String,
    pub architecture: KeyArchitecture,
    pub encoder_params: usize,
    pub decoder_params: usize,
    pub training: TrainingRecord,
    /// Reconstruction quality D1(E1(x)) on held-out images, when measured.
    pub reconstruction: Option<ReconstructionRecord>,
    pub created_at: String,
}

/// Reconstruction quality on held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionRecord {
    pub data_source: String,
    pub quality: QualityMeans,
}

/// Reading and writing key files.
pub struct KeyFile;

impl KeyFile {
    /// Writes `key` with `metadata` (its `key_id` is computed here) to `path`, atomically, mode
    /// 0600. Returns the metadata as written.
    pub fn save(path: &Path, key: &ArchNetKey, mut metadata: KeyMetadata) -> Result<KeyMetadata> {
        let err = |reason: String| ModelError::KeyFile {
            path: path.into(),
            reason,
        };
        let mut store = SafetensorsStore::from_bytes(None);
        key.save_into(&mut store).map_err(|e| err(e.to_string()))?;
        let weights = store.get_bytes().map_err(|e| err(e.to_string()))?;
        let parsed =
            safetensors::SafeTensors::deserialize(&weights).map_err(|e| err(e.to_string()))?;
        let mut tensors = parsed.tensors();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        metadata.key_id = weights_id(&tensors);
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&weights).map_err(|e| err(e.to_string()))?;
        let mut info: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
        info.insert(
            METADATA_ENTRY.into(),
            serde_json::to_string(&metadata).expect("metadata serialises"),
        );
        let bytes = safetensors::serialize(tensors, Some(info)).map_err(|e| err(e.to_string()))?;
        drop(weights);
        archnet_data::fsutil::write_atomic(path, &bytes, 0o600)?;
        Ok(metadata)
    }

    /// Reads only the metadata (the file's header), without loading the weights.
    pub fn read_metadata(path: &Path) -> Result<KeyMetadata> {
        let err = |reason: String| ModelError::KeyFile {
            path: path.into(),
            reason,
        };
        let mut file =
            std::fs::File::open(path).map_err(|e| archnet_data::DataError::io(path, e))?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut len = [0u8; 8];
        file.read_exact(&mut len)
            .map_err(|_| err("shorter than a safetensors header".into()))?;
        let header_len = u64::from_le_bytes(len);
        if header_len > 100 << 20 || header_len + 8 > file_len {
            return Err(err(format!(
                "header length {header_len} does not fit the {file_len}-byte file"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header)
            .map_err(|_| err("truncated header".into()))?;
        parse_header(&header).map_err(err)
    }

    /// Loads a key and its metadata, checking that the weights match the recorded key id.
    pub fn load(path: &Path, device: &Device) -> Result<(ArchNetKey, KeyMetadata)> {
        let err = |reason: String| ModelError::KeyFile {
            path: path.into(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| archnet_data::DataError::io(path, e))?;
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| err(e.to_string()))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_ENTRY))
            .ok_or_else(|| {
                err(format!(
                    "no `{METADATA_ENTRY}` metadata: not an archnet key"
                ))
            })?;
        let metadata = parse_metadata_json(json).map_err(err)?;
        let parsed =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
        let mut tensors = parsed.tensors();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let id = weights_id(&tensors);
        if id != metadata.key_id {
            return Err(err(format!(
                "weights hash to key id {id} but the metadata says {}: the file was altered",
                metadata.key_id
            )));
        }
        drop(tensors);
        let mut key = ArchNetKey::init(&metadata.architecture, device);
        let mut store = SafetensorsStore::from_bytes(Some(bytes));
        key.load_from(&mut store).map_err(|e| err(e.to_string()))?;
        Ok((key, metadata))
    }
}

fn parse_header(header: &[u8]) -> Result<KeyMetadata, String> {
    #[derive(Deserialize)]
    struct Header {
        #[serde(rename = "__metadata__")]
        metadata: Option<HashMap<String, String>>,
    }
    let h: Header =
        serde_json::from_slice(header).map_err(|e| format!("header is not JSON: {e}"))?;
    let json = h
        .metadata
        .as_ref()
        .and_then(|m| m.get(METADATA_ENTRY))
        .ok_or_else(|| format!("no `{METADATA_ENTRY}` metadata: not an archnet key"))?;
    parse_metadata_json(json)
}

fn parse_metadata_json(json: &str) -> Result<KeyMetadata, String> {
    let m: KeyMetadata = serde_json::from_str(json).map_err(|e| format!("bad metadata: {e}"))?;
    if m.format != KEY_FORMAT {
        return Err(format!("format `{}` is not `{KEY_FORMAT}`", m.format));
    }
    m.architecture
        .check()
        .map_err(|e| format!("bad architecture: {e}"))?;
    Ok(m)
}

fn weights_id(tensors: &[(String, safetensors::tensor::TensorView<'_>)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, view) in tensors {
        h.update(name.as_bytes());
        for d in view.shape() {
            h.update((*d as u64).to_le_bytes());
        }
        h.update(view.data());
    }
    hex::encode(h.finalize())[..16].to_string()
}
