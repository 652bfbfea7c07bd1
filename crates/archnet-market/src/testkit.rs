//! Tiny tasks for tests and the load test: a small random "encrypted" dataset and an untrained
//! ONNX classifier for it, made in milliseconds with no key and no real data.

use std::path::Path;

use archnet_data::encrypted::{DEFAULT_SHARD_BYTES, EncryptedDatasetWriter, Storage, WriterHeader};
use archnet_model::base::{BaseModel, BaseModelSpec};
use archnet_onnx::{ExportInfo, export_model};
use rand::Rng;

use crate::error::Result;
use crate::publisher;

/// Sample shape of the tiny tasks.
pub const TINY_SHAPE: [usize; 3] = [1, 8, 8];
/// Key id the tiny datasets claim.
pub const TINY_KEY_ID: &str = "0000tinytasks000";

/// Writes a two-class dataset of random samples (`train` and `validation` samples, classes
/// alternating) into `work_dir` as [`publisher::prepare`] would, ready for
/// [`publisher::upload_and_open`].
pub fn tiny_dataset(work_dir: &Path, train: usize, validation: usize) -> Result<()> {
    let encrypted = work_dir.join("encrypted");
    let header = WriterHeader {
        key_id: TINY_KEY_ID.into(),
        key_preset: "auto".into(),
        plain_shape: TINY_SHAPE,
        sample_shape: TINY_SHAPE,
        storage: Storage::F32,
        class_names: vec!["a".into(), "b".into()],
        source_fingerprint: "tiny".into(),
    };
    let mut writer = EncryptedDatasetWriter::create(&encrypted, header, DEFAULT_SHARD_BYTES)?;
    let len: usize = TINY_SHAPE.iter().product();
    let mut rng = rand::rng();
    for (split, n) in [("train", train), ("validation", validation)] {
        let values: Vec<f32> = (0..n * len).map(|_| rng.random::<f32>()).collect();
        let labels: Vec<u16> = (0..n).map(|i| (i % 2) as u16).collect();
        writer.push_batch(split, &values, &labels)?;
    }
    let manifest = writer.finish()?;
    publisher::write_split_dirs(&encrypted, &manifest, work_dir)?;
    publisher::mark_prepared(work_dir, 0)
}

/// An untrained `cnn` for the tiny tasks, exported to ONNX.
pub fn tiny_model() -> Result<Vec<u8>> {
    let spec = BaseModelSpec {
        kind: "cnn".into(),
        input_shape: TINY_SHAPE,
        classes: 2,
    };
    let model = BaseModel::init(&spec, &archnet_model::device())?;
    let info = ExportInfo {
        key_id: Some(TINY_KEY_ID.into()),
        class_names: vec!["a".into(), "b".into()],
    };
    Ok(export_model(&model, &spec, &info)?)
}
