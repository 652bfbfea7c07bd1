//! `archnet bench workload validate-sandboxed-KIND[-onnxruntime]`: the server's validation path
//! as a submission takes it, process start-up included. Each step writes a job and runs this
//! executable as `sandbox-validate JOB` under the sandbox's limits, which loads the exported
//! model, checks it against the policy, reads the validation split (`batch` synthetic
//! ciphertexts) and scores it.

use std::path::Path;

use archnet_data::encrypted::{DEFAULT_SHARD_BYTES, EncryptedDatasetWriter, Storage, WriterHeader};
use archnet_lab::bench::{CIPHER_SHAPE, Measurement, exported, synthetic_batch};
use archnet_onnx::runner::Engine;
use archnet_server::server::ServerConfig;
use archnet_server::server::sandbox::{SandboxJob, run_sandboxed};

use crate::error::{ClientError, Result};

/// Times `steps` sandboxed validations (after `warmup`) of an exported, untrained `kind` over
/// `batch` samples, run by `engine`; the model is written to `onnx_out` when given.
pub async fn sandboxed_validation(
    name: &str,
    kind: &str,
    engine: Engine,
    batch: usize,
    warmup: usize,
    steps: usize,
    onnx_out: Option<&Path>,
) -> Result<Measurement> {
    let dir = tempfile::tempdir().map_err(|e| ClientError::io(std::env::temp_dir(), e))?;
    let model = dir.path().join("model.onnx");
    let bytes = exported(kind, onnx_out)?;
    std::fs::write(&model, &bytes).map_err(|e| ClientError::io(&model, e))?;
    let dataset = dir.path().join("split");
    write_split(&dataset, batch)?;
    // The server's own policy and limits for a validation: `archnet serve`'s defaults, with
    // this executable as the sandbox program.
    let config = ServerConfig {
        sandbox_program: Some(
            std::env::current_exe().map_err(|e| ClientError::io("this executable", e))?,
        ),
        validation_onnxruntime: engine.library().map(Path::to_path_buf),
        ..ServerConfig::default()
    };
    let (program, limits) = config.sandbox().expect("the sandbox program is set");
    let validation = config.validation_limits();
    let job = SandboxJob {
        model,
        dataset,
        shape: CIPHER_SHAPE,
        classes: 10,
        key_id: "bench".into(),
        holdout: None,
        max_model_bytes: config.policy().max_bytes,
        max_seconds: validation.max_duration.as_secs(),
        max_activation_bytes: validation.max_activation_bytes,
        batch_size: batch,
        threads: archnet_lab::bench::threads(),
        onnxruntime: config.validation_onnxruntime.clone(),
    };
    let jobs = dir.path().join("job");
    std::fs::create_dir_all(&jobs).map_err(|e| ClientError::io(&jobs, e))?;
    let run = || async {
        run_sandboxed(&program, &job, &jobs, &limits)
            .await
            .map_err(ClientError::Validation)
    };
    for _ in 0..warmup {
        run().await?;
    }
    let started = std::time::Instant::now();
    for _ in 0..steps {
        run().await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Measurement {
        workload: name.into(),
        batch_size: batch,
        samples: batch * steps,
        seconds,
        samples_per_second: (batch * steps) as f64 / seconds.max(1e-9),
    })
}

/// A dataset folder holding one `validation` split of `n` synthetic ciphertexts.
fn write_split(out: &Path, n: usize) -> Result<()> {
    let header = WriterHeader {
        key_id: "bench".into(),
        key_preset: "bench".into(),
        plain_shape: [1, 28, 28],
        sample_shape: CIPHER_SHAPE,
        storage: Storage::F32,
        class_names: (0..10).map(|i| i.to_string()).collect(),
        source_fingerprint: "bench".into(),
    };
    let mut writer = EncryptedDatasetWriter::create(out, header, DEFAULT_SHARD_BYTES)?;
    let values = synthetic_batch(n * CIPHER_SHAPE.iter().product::<usize>());
    let labels: Vec<u16> = (0..n).map(|i| (i % 10) as u16).collect();
    writer.push_batch("validation", &values, &labels)?;
    writer.finish()?;
    Ok(())
}
