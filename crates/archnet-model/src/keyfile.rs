//! The key file: one safetensors file holding E1 and D1's weights, with JSON metadata in the
//! safetensors header under the name `archnet`.
//!
//! Written atomically with mode 0600: a key is the secret that decrypts the data.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use burn::module::Module;
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
    /// `fast`, `paper` or the private keys' recipe.
    pub recipe: String,
    /// `bce` or `mse`.
    pub loss: String,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Images per step.
    pub batch_size: usize,
    /// Passes over the data planned.
    pub epochs: usize,
    /// Images actually seen (a budget may stop mid-epoch).
    pub samples_seen: u64,
    /// Seed of the initialisation and the shuffles.
    pub seed: u64,
    /// sha256 fingerprint of the exact training images.
    pub data_fingerprint: String,
    /// Where the training data came from, as given.
    pub data_source: String,
    /// Images in the training data.
    pub train_samples: usize,
    /// Wall seconds of training (a resumed run's earlier runs included).
    pub wall_seconds: f64,
    /// Loss of the last step.
    pub final_loss: f64,
}

/// Everything about a key except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMetadata {
    /// Always [`KEY_FORMAT`].
    pub format: String,
    /// The format's version.
    pub version: u32,
    /// sha256 over the weights (names, shapes and values), the first 16 hex digits.
    pub key_id: String,
    /// E1's and D1's layers and shapes.
    pub architecture: KeyArchitecture,
    /// Parameters of E1.
    pub encoder_params: usize,
    /// Parameters of D1.
    pub decoder_params: usize,
    /// How the key was trained.
    pub training: TrainingRecord,
    /// Reconstruction quality D1(E1(x)) on held-out images, when measured.
    pub reconstruction: Option<ReconstructionRecord>,
    /// When the key file was written (RFC 3339, UTC).
    pub created_at: String,
    /// The per-image (ε, δ) guarantee of one encryption, for keys whose E1 adds calibrated
    /// noise (`private` keys with a finite ε); absent for keys that give none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<archnet_data::encrypted::PrivacyGuarantee>,
    /// What the key's proxy classifier head reached on held-out images while training
    /// (`private` keys): the accuracy a node's model must beat for the marketplace to add anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyRecord>,
}

impl KeyMetadata {
    /// The metadata of a freshly trained key of `architecture` (`key_id` is filled in by
    /// [`KeyFile::save`]; reconstruction, privacy and proxy are left for the caller).
    pub fn describe(architecture: &KeyArchitecture, training: TrainingRecord) -> KeyMetadata {
        let (encoder_params, decoder_params) = architecture.num_params();
        KeyMetadata {
            format: KEY_FORMAT.into(),
            version: 1,
            key_id: String::new(),
            architecture: architecture.clone(),
            encoder_params,
            decoder_params,
            training,
            reconstruction: None,
            created_at: archnet_data::fsutil::now_rfc3339(),
            privacy: None,
            proxy: None,
        }
    }
}

/// The proxy classifier of a `private` key's training, measured on held-out images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyRecord {
    /// Accuracy of the proxy head on noisy codes of the held-out images.
    pub accuracy: f64,
    /// How many held-out images, and where from.
    pub images: usize,
    /// See `images`.
    pub data_source: String,
}

/// Reconstruction quality on held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionRecord {
    /// The held-out images' dataset and split.
    pub data_source: String,
    /// Mean PSNR and SSIM of D1(E1(x)) against x.
    pub quality: QualityMeans,
}

/// Reading and writing key files.
pub struct KeyFile;

impl KeyFile {
    /// Writes `key` with `metadata` (its `key_id` is computed here) to `path`, atomically, mode
    /// 0600. Returns the metadata as written.
    pub fn save(path: &Path, key: &ArchNetKey, mut metadata: KeyMetadata) -> Result<KeyMetadata> {
        let codec = |source| ModelError::Safetensors {
            path: path.into(),
            source,
        };
        let store_failed = |source| ModelError::Store {
            path: path.into(),
            source,
        };
        let mut store = SafetensorsStore::from_bytes(None);
        key.save_into(&mut store).map_err(store_failed)?;
        let weights = store.get_bytes().map_err(store_failed)?;
        let parsed = safetensors::SafeTensors::deserialize(&weights).map_err(codec)?;
        let mut tensors = parsed.tensors();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        metadata.key_id = weights_id(&tensors);
        let (_, header) = safetensors::SafeTensors::read_metadata(&weights).map_err(codec)?;
        let mut info: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
        info.insert(
            METADATA_ENTRY.into(),
            serde_json::to_string(&metadata).expect("metadata serialises"),
        );
        let bytes = safetensors::serialize(tensors, Some(info)).map_err(codec)?;
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
        let header = read_header_bytes(&mut file).map_err(err)?;
        parse_header(&header).map_err(err)
    }

    /// Loads the key at `path` and the images of `data` it is to encrypt, refusing images of
    /// another shape than the key takes.
    pub fn load_with_images(
        path: &Path,
        data: &archnet_data::DataSource,
    ) -> Result<(ArchNetKey, KeyMetadata, archnet_data::ImageDataset)> {
        let (key, meta) = KeyFile::load(path, &crate::device())?;
        let images = data.load()?;
        meta.architecture.check_images(images.shape, &data.path)?;
        Ok((key, meta, images))
    }

    /// Loads a key and its metadata, checking that the weights match the recorded key id.
    ///
    /// Memory: the weights are hashed by streaming the file and loaded tensor by tensor, so
    /// loading a 469 MiB `paper-mnist` key does not hold a second in-memory copy of the file.
    pub fn load(path: &Path, device: &Device) -> Result<(ArchNetKey, KeyMetadata)> {
        let err = |reason: String| ModelError::KeyFile {
            path: path.into(),
            reason,
        };
        let metadata = Self::read_metadata(path)?;
        let id = streamed_weights_id(path).map_err(err)?;
        if id != metadata.key_id {
            return Err(err(format!(
                "weights hash to key id {id} but the metadata says {}: the file was altered",
                metadata.key_id
            )));
        }
        let key = ArchNetKey::init(&metadata.architecture, device);
        let mut loader = StreamingLoader::open(path, device.clone()).map_err(err)?;
        let key = key.map(&mut loader);
        if let Some(problem) = loader.problem {
            return Err(err(problem));
        }
        if loader.loaded != loader.entries.len() {
            return Err(err(format!(
                "the file has {} tensors but the key's architecture uses {}",
                loader.entries.len(),
                loader.loaded
            )));
        }
        Ok((key, metadata))
    }
}

/// Where one tensor's values lie in the file.
#[derive(Deserialize)]
struct TensorEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// The JSON header of a safetensors file: an 8-byte little-endian length, then that many bytes.
/// Leaves `file` positioned at the start of the tensor data.
fn read_header_bytes(file: &mut std::fs::File) -> Result<Vec<u8>, String> {
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| "shorter than a safetensors header".to_string())?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 100 << 20 || header_len + 8 > file_len {
        return Err(format!(
            "header length {header_len} does not fit the {file_len}-byte file"
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|_| "truncated header".to_string())?;
    Ok(header)
}

/// The tensor entries of a safetensors header, and where the data starts.
fn read_tensor_entries(
    file: &mut std::fs::File,
) -> Result<(u64, HashMap<String, TensorEntry>), String> {
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    let header = read_header_bytes(file)?;
    let header_len = header.len() as u64;
    let mut raw: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("header is not JSON: {e}"))?;
    raw.remove("__metadata__");
    let data_start = 8 + header_len;
    let mut entries = HashMap::with_capacity(raw.len());
    for (name, value) in raw {
        let entry: TensorEntry =
            serde_json::from_value(value).map_err(|e| format!("tensor `{name}`: {e}"))?;
        let (start, end) = entry.data_offsets;
        if start > end || data_start.saturating_add(end as u64) > file_len {
            return Err(format!(
                "tensor `{name}` runs past the end of the file (truncated?)"
            ));
        }
        entries.insert(name, entry);
    }
    Ok((data_start, entries))
}

/// Fills a freshly initialised key from the file, one tensor at a time, each read straight into
/// the buffer the tensor adopts: peak memory is the weights plus nothing of note, where burn's
/// generic store held the largest tensor three times (1.45 GB peak for `paper-mnist`).
struct StreamingLoader {
    file: std::fs::File,
    data_start: u64,
    entries: HashMap<String, TensorEntry>,
    device: Device,
    path: Vec<String>,
    loaded: usize,
    problem: Option<String>,
}

impl StreamingLoader {
    fn open(path: &Path, device: Device) -> Result<Self, String> {
        let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let (data_start, entries) = read_tensor_entries(&mut file)?;
        Ok(StreamingLoader {
            file,
            data_start,
            entries,
            device,
            path: Vec::new(),
            loaded: 0,
            problem: None,
        })
    }

    fn read<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Result<Tensor<D>, String> {
        use std::io::{Seek, SeekFrom};
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| format!("no tensor `{name}` in the file"))?;
        if entry.dtype != "F32" || entry.shape != shape {
            return Err(format!(
                "tensor `{name}` is {} {:?}, the architecture needs F32 {shape:?}",
                entry.dtype, entry.shape
            ));
        }
        let (start, end) = entry.data_offsets;
        if end - start != shape.iter().product::<usize>() * 4 {
            return Err(format!(
                "tensor `{name}` has {} bytes for shape {shape:?}",
                end - start
            ));
        }
        self.file
            .seek(SeekFrom::Start(self.data_start + start as u64))
            .map_err(|e| e.to_string())?;
        let mut bytes = vec![0u8; end - start];
        self.file
            .read_exact(&mut bytes)
            .map_err(|e| format!("reading `{name}`: {e}"))?;
        let data = TensorData::from_bytes_vec(bytes, shape, burn::tensor::DType::F32);
        Ok(Tensor::from_data(data, &self.device))
    }
}

impl burn::module::ModuleMapper for StreamingLoader {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let name = self.path.join(".");
        let shape: [usize; D] = param.lazy_shape().dims();
        match self.read(&name, shape) {
            Ok(tensor) => {
                self.loaded += 1;
                burn::module::Param::initialized(param.id, tensor)
            }
            Err(e) => {
                self.problem.get_or_insert(e);
                param
            }
        }
    }
}

/// [`weights_id`] computed by reading the file tensor by tensor in 1 MiB pieces.
fn streamed_weights_id(path: &Path) -> Result<String, String> {
    use sha2::{Digest, Sha256};
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let (data_start, entries) = read_tensor_entries(&mut file)?;
    let mut tensors: Vec<(String, Vec<usize>, (usize, usize))> = entries
        .into_iter()
        .map(|(name, e)| (name, e.shape, e.data_offsets))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for (name, shape, (start, end)) in tensors {
        h.update(name.as_bytes());
        for d in shape {
            h.update((d as u64).to_le_bytes());
        }
        file.seek(SeekFrom::Start(data_start + start as u64))
            .map_err(|e| e.to_string())?;
        let mut left = end - start;
        while left > 0 {
            let n = left.min(buf.len());
            file.read_exact(&mut buf[..n]).map_err(|e| e.to_string())?;
            h.update(&buf[..n]);
            left -= n;
        }
    }
    Ok(hex::encode(h.finalize())[..16].to_string())
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

/// sha256 over the weights in name order (name, shape, little-endian values), 16 hex digits.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(arch: &KeyArchitecture) -> KeyMetadata {
        KeyMetadata {
            format: KEY_FORMAT.into(),
            version: 1,
            key_id: String::new(),
            architecture: arch.clone(),
            encoder_params: 0,
            decoder_params: 0,
            training: TrainingRecord {
                recipe: "fast".into(),
                loss: "bce".into(),
                learning_rate: 1e-3,
                batch_size: 1,
                epochs: 1,
                samples_seen: 0,
                seed: 0,
                data_fingerprint: "f".into(),
                data_source: "test".into(),
                train_samples: 0,
                wall_seconds: 0.0,
                final_loss: 0.0,
            },
            reconstruction: None,
            privacy: None,
            proxy: None,
            created_at: "now".into(),
        }
    }

    fn output(key: &ArchNetKey) -> Vec<f32> {
        let x = Tensor::<4>::ones([1, 1, 4, 4], &crate::device()).mul_scalar(0.5);
        key.decrypt(key.encrypt(x))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn save_then_load_gives_the_same_key() {
        // Random initialisation draws from burn's shared generator: keep seeded runs exact.
        let _rng = crate::seeded_run(&crate::device(), 0);
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("k.key");
        let arch = KeyArchitecture::preset("auto", [1, 4, 4]).unwrap();
        let key = ArchNetKey::init(&arch, &crate::device());
        let written = KeyFile::save(&path, &key, metadata(&arch)).unwrap();
        assert_eq!(written.key_id.len(), 16);
        assert_eq!(KeyFile::read_metadata(&path).unwrap(), written);
        let (loaded, meta) = KeyFile::load(&path, &crate::device()).unwrap();
        assert_eq!(meta.key_id, written.key_id);
        assert_eq!(output(&loaded), output(&key));
    }

    /// A weightless key file whose header carries `meta`.
    fn header_only(path: &Path, meta: &KeyMetadata) {
        let header = serde_json::json!({
            "__metadata__": { METADATA_ENTRY: serde_json::to_string(meta).unwrap() }
        });
        let header = serde_json::to_vec(&header).unwrap();
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&header);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_header_whose_layers_break_the_arithmetic_is_refused_with_a_reason() {
        // Found writing the key_file fuzz target (results/fuzzing.md): a stride of 0 divided by
        // zero, and sizes near usize::MAX overflowed, when the header was read.
        use crate::arch::LayerSpec;
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("k.key");
        let arch = KeyArchitecture::preset("auto", [1, 4, 4]).unwrap();
        const HUGE: usize = usize::MAX / 2;
        type Break = fn(&mut KeyArchitecture);
        let cases: Vec<(Break, &str)> = vec![
            ((|a| set(&mut a.encoder[0], "stride", 0)), "stride 0"),
            ((|a| set(&mut a.encoder[0], "padding", HUGE)), "larger than"),
            ((|a| set(&mut a.encoder[0], "kernel", HUGE)), "parameters"),
            ((|a| set(&mut a.encoder[0], "kernel", 99)), "larger than"),
            ((|a| set(&mut a.encoder[3], "stride", HUGE)), "cannot take"),
            ((|a| set(&mut a.encoder[3], "padding", HUGE)), "cannot take"),
            (
                (|a| set(&mut a.encoder[3], "kernel", 0)),
                "stride or kernel 0",
            ),
            ((|a| a.plain_shape = [HUGE, 4, 4]), "plain images"),
            ((|a| a.plain_shape = [0, 4, 4]), "plain images"),
            (
                (|a| {
                    a.encoder.push(LayerSpec::Upsample { factor: HUGE });
                }),
                "overflows",
            ),
            (
                (|a| {
                    a.encoder[0] = LayerSpec::Linear {
                        features: [16, 1 << 27],
                        output: [1 << 27, 1, 1],
                        relu: false,
                    };
                }),
                "parameters",
            ),
            (
                (|a| {
                    a.encoder[0] = LayerSpec::Linear {
                        features: [16, HUGE],
                        output: [HUGE, 2, 1],
                        relu: false,
                    };
                }),
                "parameters",
            ),
        ];
        for (i, (break_it, reason)) in cases.iter().enumerate() {
            let mut broken = arch.clone();
            break_it(&mut broken);
            header_only(&path, &metadata(&broken));
            let err = KeyFile::read_metadata(&path).unwrap_err().to_string();
            assert!(
                err.contains("bad architecture") && err.contains(reason),
                "case {i}: {err}"
            );
        }
    }

    /// Sets one of a convolution's numbers (`stride`, `padding`, `kernel`).
    fn set(layer: &mut crate::arch::LayerSpec, field: &str, value: usize) {
        use crate::arch::LayerSpec;
        match layer {
            LayerSpec::Conv {
                stride,
                padding,
                kernel,
                ..
            }
            | LayerSpec::ConvTranspose {
                stride,
                padding,
                kernel,
                ..
            } => match field {
                "stride" => *stride = value,
                "padding" => *padding = value,
                _ => *kernel = value,
            },
            other => panic!("not a convolution: {other:?}"),
        }
    }

    #[test]
    fn tensor_offsets_past_any_file_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("k.key");
        let header = format!(
            r#"{{"w":{{"dtype":"F32","shape":[1],"data_offsets":[0,{}]}}}}"#,
            u64::MAX
        );
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        std::fs::write(&path, bytes).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let err = read_tensor_entries(&mut file).err().unwrap();
        assert!(err.contains("runs past the end"), "{err}");
    }

    #[test]
    fn altered_weights_are_detected() {
        // Random initialisation draws from burn's shared generator: keep seeded runs exact.
        let _rng = crate::seeded_run(&crate::device(), 0);
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("k.key");
        let arch = KeyArchitecture::preset("auto", [1, 4, 4]).unwrap();
        KeyFile::save(
            &path,
            &ArchNetKey::init(&arch, &crate::device()),
            metadata(&arch),
        )
        .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x10;
        std::fs::write(&path, bytes).unwrap();
        let err = KeyFile::load(&path, &crate::device())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("the file was altered"), "{err}");
        std::fs::write(&path, b"short").unwrap();
        let err = KeyFile::load(&path, &crate::device())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("invalid key file"), "{err}");
    }
}
