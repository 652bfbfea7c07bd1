//! Tiny tasks for tests and the load test: a small random "encrypted" dataset and an untrained
//! ONNX classifier for it, made in milliseconds with no key and no real data.

use std::path::Path;

use archnet_data::encrypted::{DEFAULT_SHARD_BYTES, EncryptedDatasetWriter, Storage, WriterHeader};
use archnet_model::base::{BaseModel, BaseModelSpec};
use archnet_onnx::{ExportInfo, export_model};
use rand::Rng;

use crate::client::Client;
use crate::error::Result;
use crate::publisher;
use crate::types::{AuditAttack, AuditSummary, Capabilities, LeaseRequest, SubmitRequest};

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

/// Publish options for a tiny dataset already in `work_dir` ([`tiny_dataset`]): no key and no
/// audit (there are no plain images), fee 10, bar 1% (any model that runs is accepted), first
/// model over the bar; tests change what they need.
pub fn tiny_publish_options(work_dir: &Path) -> publisher::PublishOptions {
    publisher::PublishOptions {
        key: "unused".into(),
        data: "unused".into(),
        limit: None,
        work_dir: work_dir.to_path_buf(),
        name: "tiny".into(),
        fee: 10,
        min_accuracy: 0.01,
        deadline_s: None,
        max_attempts: None,
        requirements: crate::types::Requirements::default(),
        storage: Storage::F32,
        split: None,
        gate: Default::default(),
        contest: None,
        share_audit_picture: false,
    }
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

/// Writes a stand-in for the publish-time audit into `work_dir`, as [`publisher::prepare`]
/// leaves it there (`audit.json`, `audit.png`), for tests of how a task carries and shows its
/// audit. Its numbers are test data, not a measurement, and its one attack says so in its name;
/// real audits are tested where keys are (`archnet audit`, `archnet publish`).
pub fn tiny_audit(work_dir: &Path) -> Result<AuditSummary> {
    let summary = AuditSummary {
        key_id: TINY_KEY_ID.into(),
        key_preset: "auto".into(),
        victims: 20,
        pairs: 100,
        chance: 0.05,
        class_mean_reidentification: 0.1,
        class_mean_ssim: 0.2,
        attacks: vec![AuditAttack {
            attack: "test data: ridge, 100 pairs (not a measurement)".into(),
            reidentification: 0.5,
            same_class: Some(0.6),
            psnr_db: 14.0,
            ssim: 0.45,
            psnr_gain_db: 3.0,
            ssim_gain: 0.25,
        }],
        guarantee: None,
        violations: vec!["test data: above the thresholds".into()],
        accepted_leakage: true,
        seconds: 1.0,
    };
    let bytes = serde_json::to_vec_pretty(&summary).expect("an audit serialises");
    archnet_data::fsutil::write_atomic(&work_dir.join(publisher::AUDIT_SUMMARY), &bytes, 0o644)?;
    let len: usize = TINY_SHAPE.iter().product();
    let mut rng = rand::rng();
    let tiles = (0..4)
        .map(|_| archnet_figures::Tile {
            shape: TINY_SHAPE,
            values: (0..len).map(|_| rng.random::<f32>()).collect(),
            range: Some((0.0, 1.0)),
        })
        .collect();
    let rows = [archnet_figures::Row {
        label: "test data".into(),
        tiles,
    }];
    let picture = work_dir.join(publisher::AUDIT_PICTURE);
    archnet_figures::image_grid(&picture, "a stand-in audit picture", &rows, 8)
        .map_err(archnet_lab::LabError::from)?;
    Ok(summary)
}

/// As a node: leases the next task (advertising 2 cores, 1 GiB, `flex`), uploads `model`
/// (written to `dir` first) and hands it in; returns the lease id, or `None` when there was no
/// task to lease.
pub async fn hand_in(node: &Client, model: &[u8], dir: &Path) -> Result<Option<String>> {
    let request = LeaseRequest {
        capabilities: Capabilities {
            cores: 2,
            memory_mb: 1024,
            backends: vec!["flex".into()],
        },
    };
    let Some(grant) = node.lease(&request).await? else {
        return Ok(None);
    };
    let path = dir.join(format!("{}.onnx", grant.lease_id));
    std::fs::write(&path, model).map_err(|e| crate::error::ClientError::io(&path, e))?;
    let upload = node
        .upload_file(&path, "model.onnx", None, &mut |_| {})
        .await?;
    node.submit(
        &grant.lease_id,
        &SubmitRequest {
            upload_id: upload.id,
            download_ms: 120,
            train_ms: 2400,
            upload_ms: 80,
        },
    )
    .await?;
    Ok(Some(grant.lease_id))
}
