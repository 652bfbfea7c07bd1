//! Throughput workloads for `archnet bench workload`: the tensor work archnet does, at its
//! default batch sizes, on synthetic inputs of the real shapes, timed after a warm-up.
//!
//! Each workload runs exactly the operations of the real code path (the key's
//! `round_trip_logits` + BCE + Adam as in [`archnet_model::train::train_key`], E1 alone as in
//! encryption, a base model + cross-entropy + Adam as in [`archnet_model::classify::train_classifier`]),
//! without reading data from disk, so the numbers measure the tensor backend. The PyTorch
//! versions in `bench/pytorch/workloads.py` do the same work.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::Serialize;

use archnet_model::arch::KeyArchitecture;
use archnet_model::base::{BaseModel, BaseModelSpec};
use archnet_model::error::{ModelError, Result};
use archnet_model::key::ArchNetKey;
use archnet_model::train::{Loss, reconstruction_loss};

/// The benchmarked workloads.
pub const WORKLOADS: [&str; 13] = [
    "key-train-paper-mnist",
    "key-train-paper-cifar",
    "encrypt-paper-mnist",
    "train-cnn-encrypted",
    "train-resnet18-encrypted",
    "train-resnet18-cifar",
    "train-resnet18-table1",
    "validate-onnx-cnn",
    "validate-onnx-resnet18",
    "validate-onnx-cnn-onnxruntime",
    "validate-onnx-resnet18-onnxruntime",
    "validate-sandboxed-cnn",
    "validate-sandboxed-cnn-onnxruntime",
];

/// The shape of plain CIFAR-10 images (`train-resnet18-cifar`).
pub const CIFAR_SHAPE: [usize; 3] = [3, 32, 32];

/// The shape of a `paper-cifar` ciphertext, what Table 1's ArchNet arm trains resnet-18 on
/// (`train-resnet18-table1`).
pub const PAPER_CIFAR_CIPHER_SHAPE: [usize; 3] = [10, 64, 64];

/// One workload's measured throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// The workload's name (`key-train-paper-mnist`, …).
    pub workload: String,
    /// Samples per step.
    pub batch_size: usize,
    /// Timed samples (after the warm-up steps).
    pub samples: usize,
    /// Wall seconds of the timed steps.
    pub seconds: f64,
    /// Timed samples per wall second.
    pub samples_per_second: f64,
}

/// Times `steps` calls of `step` (each processing `batch` samples) after `warmup` untimed ones.
pub fn time_steps<E>(
    workload: &str,
    batch: usize,
    warmup: usize,
    steps: usize,
    step: &mut dyn FnMut() -> std::result::Result<(), E>,
) -> std::result::Result<Measurement, E> {
    for _ in 0..warmup {
        step()?;
    }
    let started = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let samples = batch * steps;
    Ok(Measurement {
        workload: workload.into(),
        batch_size: batch,
        samples,
        seconds,
        samples_per_second: samples as f64 / seconds.max(1e-9),
    })
}

/// Deterministic values in [0, 1) for a synthetic batch (a fixed pattern: throughput does not
/// depend on the values, and no generator sits in the timed loop).
pub fn synthetic_batch(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect()
}

/// The shape of the ciphertexts base models train on in the benchmarks: a `paper-mnist`
/// ciphertext.
pub const CIPHER_SHAPE: [usize; 3] = [10, 56, 56];

/// Runs one of [`WORKLOADS`] except the ONNX one (see [`workload`]).
pub fn run(workload: &str, batch: usize, warmup: usize, steps: usize) -> Result<Measurement> {
    match workload {
        "key-train-paper-mnist" => {
            key_train("paper-mnist", [1, 28, 28], workload, batch, warmup, steps)
        }
        "key-train-paper-cifar" => {
            key_train("paper-cifar", [3, 32, 32], workload, batch, warmup, steps)
        }
        "encrypt-paper-mnist" => encrypt(workload, batch, warmup, steps),
        "train-cnn-encrypted" => train_base("cnn", CIPHER_SHAPE, workload, batch, warmup, steps),
        "train-resnet18-encrypted" => {
            train_base("resnet18", CIPHER_SHAPE, workload, batch, warmup, steps)
        }
        "train-resnet18-cifar" => {
            train_base("resnet18", CIFAR_SHAPE, workload, batch, warmup, steps)
        }
        "train-resnet18-table1" => train_base(
            "resnet18",
            PAPER_CIFAR_CIPHER_SHAPE,
            workload,
            batch,
            warmup,
            steps,
        ),
        other => Err(ModelError::Config(format!(
            "unknown workload `{other}` (known: {})",
            WORKLOADS.join(", ")
        ))),
    }
}

fn key_train(
    preset: &str,
    shape: [usize; 3],
    workload: &str,
    batch: usize,
    warmup: usize,
    steps: usize,
) -> Result<Measurement> {
    let arch = KeyArchitecture::preset(preset, shape)?;
    let device = archnet_model::device().autodiff();
    let _rng = archnet_model::seeded_run(&device, 0);
    let mut key = Some(ArchNetKey::init(&arch, &device));
    let mut optim: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let [c, h, w] = shape;
    let values = synthetic_batch(batch * c * h * w);
    time_steps(workload, batch, warmup, steps, &mut || {
        let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [batch, c, h, w]), &device);
        let k = key.take().expect("the key is put back after every step");
        let loss = reconstruction_loss(Loss::Bce, k.round_trip_logits(x.clone()), x);
        let grads = GradientsParams::from_grads(loss.backward(), &k);
        key = Some(optim.step(1e-3, k, grads));
        Ok(())
    })
}

fn encrypt(workload: &str, batch: usize, warmup: usize, steps: usize) -> Result<Measurement> {
    let arch = KeyArchitecture::preset("paper-mnist", [1, 28, 28])?;
    let device = archnet_model::device();
    let _rng = archnet_model::seeded_run(&device, 0);
    let key = ArchNetKey::init(&arch, &device);
    let values = synthetic_batch(batch * 784);
    time_steps(workload, batch, warmup, steps, &mut || {
        let x =
            Tensor::<4>::from_data(TensorData::new(values.clone(), [batch, 1, 28, 28]), &device);
        // Reading the values back, as encryption does to write them, waits for the work.
        let out = key.encrypt(x).into_data();
        debug_assert_eq!(out.num_elements(), batch * 31_360);
        Ok(())
    })
}

fn train_base(
    kind: &str,
    shape: [usize; 3],
    workload: &str,
    batch: usize,
    warmup: usize,
    steps: usize,
) -> Result<Measurement> {
    let spec = BaseModelSpec {
        kind: kind.into(),
        input_shape: shape,
        classes: 10,
    };
    let device = archnet_model::device().autodiff();
    let _rng = archnet_model::seeded_run(&device, 0);
    let mut model = Some(BaseModel::init(&spec, &device)?);
    let mut optim: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let [c, h, w] = shape;
    let values = synthetic_batch(batch * c * h * w);
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
    time_steps(workload, batch, warmup, steps, &mut || {
        let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [batch, c, h, w]), &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [batch]), &device);
        let m = model
            .take()
            .expect("the model is put back after every step");
        let loss = loss_fn.forward(m.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = Some(optim.step(1e-3, m, grads));
        Ok(())
    })
}

/// An untrained base model of `kind` for [`CIPHER_SHAPE`] ciphertexts (what the ONNX workloads
/// export).
pub fn untrained(kind: &str) -> Result<(BaseModel, BaseModelSpec)> {
    let spec = BaseModelSpec {
        kind: kind.into(),
        input_shape: CIPHER_SHAPE,
        classes: 10,
    };
    let device = archnet_model::device();
    let _rng = archnet_model::seeded_run(&device, 0);
    let model = BaseModel::init(&spec, &device)?;
    Ok((model, spec))
}

/// One line of `archnet bench workload`: the measurement, the process's peak memory and threads.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadLine {
    /// Throughput.
    #[serde(flatten)]
    pub measurement: Measurement,
    /// Peak resident memory of the process (VmHWM), MiB; 0 where /proc is unavailable.
    pub peak_rss_mib: f64,
    /// Threads the workload ran with.
    pub threads: usize,
    /// Always `archnet` (`bench/compare` puts PyTorch's lines beside these).
    pub engine: &'static str,
}

/// Runs one of [`WORKLOADS`] (the ONNX ones write their model to `onnx_out` when given, for
/// onnxruntime's reference run) and measures the process's peak memory after it. A validation
/// workload named with `-onnxruntime` at its end runs archnet's onnxruntime engine, with the
/// library at `onnxruntime`.
pub fn workload(
    name: &str,
    batch: usize,
    warmup: usize,
    steps: usize,
    onnx_out: Option<&std::path::Path>,
    onnxruntime: Option<&std::path::Path>,
) -> std::result::Result<WorkloadLine, crate::LabError> {
    let batch = batch.max(1);
    let measurement = match name.strip_prefix("validate-onnx-") {
        Some(rest) => {
            let (kind, engine) = validation_engine(rest, onnxruntime)?;
            validate_onnx(name, kind, engine, batch, warmup, steps, onnx_out)?
        }
        None => run(name, batch, warmup, steps)?,
    };
    Ok(line(measurement))
}

/// A measurement with this process's peak memory and threads.
pub fn line(measurement: Measurement) -> WorkloadLine {
    WorkloadLine {
        measurement,
        peak_rss_mib: peak_rss_mib(),
        threads: threads(),
        engine: "archnet",
    }
}

/// The base model and the engine of a validation workload's name after its prefix
/// (`cnn`, `resnet18-onnxruntime`, …).
pub fn validation_engine<'a>(
    rest: &'a str,
    onnxruntime: Option<&std::path::Path>,
) -> Result<(&'a str, archnet_onnx::runner::Engine)> {
    use archnet_onnx::runner::Engine;
    match rest.strip_suffix("-onnxruntime") {
        Some(kind) => {
            let library = onnxruntime.ok_or_else(|| {
                ModelError::Config(format!(
                    "the workload runs onnxruntime: give its library with --onnxruntime or \
                     ARCHNET_ONNXRUNTIME (libonnxruntime.so from the onnxruntime wheel); `{kind}` \
                     alone runs tract"
                ))
            })?;
            Ok((kind, Engine::OnnxRuntime(library.to_path_buf())))
        }
        None => Ok((rest, Engine::Tract)),
    }
}

/// An untrained base model of `kind` for [`CIPHER_SHAPE`] ciphertexts, exported to ONNX (what the
/// validation workloads run); written to `onnx_out` too when given.
pub fn exported(
    kind: &str,
    onnx_out: Option<&std::path::Path>,
) -> std::result::Result<Vec<u8>, crate::LabError> {
    let (model, spec) = untrained(kind)?;
    let info = archnet_onnx::ExportInfo {
        key_id: None,
        class_names: (0..10).map(|i| i.to_string()).collect(),
    };
    let bytes = archnet_onnx::export_model(&model, &spec, &info)?;
    if let Some(path) = onnx_out {
        std::fs::write(path, &bytes).map_err(|source| crate::LabError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(bytes)
}

/// The server's validation path in process: `engine` running an exported base model of `kind`
/// on batches of ciphertexts.
fn validate_onnx(
    name: &str,
    kind: &str,
    engine: archnet_onnx::runner::Engine,
    batch: usize,
    warmup: usize,
    steps: usize,
    onnx_out: Option<&std::path::Path>,
) -> std::result::Result<Measurement, crate::LabError> {
    use archnet_onnx::{ModelPolicy, OnnxClassifier, ValidationLimits};
    let bytes = exported(kind, onnx_out)?;
    let limits = ValidationLimits {
        batch_size: batch,
        threads: threads(),
        engine,
        ..ValidationLimits::default()
    };
    let classifier =
        OnnxClassifier::load(&bytes, &ModelPolicy::default(), &limits, CIPHER_SHAPE, 10)?;
    let x = synthetic_batch(batch * CIPHER_SHAPE.iter().product::<usize>());
    Ok(time_steps(name, batch, warmup, steps, &mut || {
        classifier.logits(&x, batch).map(|_| ())
    })?)
}

/// The thread count the workloads run with: `RAYON_NUM_THREADS` (burn's pool reads it too), else
/// every core.
pub fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The process's peak resident memory (VmHWM), in MiB; 0 where /proc is unavailable.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
