//! `archnet export`, `archnet validate` and `archnet predict`: the ONNX hand-off.

use std::time::{Duration, Instant};

use anyhow::Context;
use archnet_model::device;
use archnet_model::trained::TrainedModel;
use archnet_onnx::export::metadata;
use archnet_onnx::runner::argmax;
use archnet_onnx::{
    ExportInfo, ModelPolicy, OnnxClassifier, ValidationLimits, export_model, inspect,
};
use burn::prelude::*;

use super::classify::{ensure_same_key, open_evaluation_samples, print_evaluation};
use super::human_bytes;
use crate::cli::{ExportArgs, OnnxLimitArgs, PredictArgs, ValidateArgs};
use crate::progress::samples_bar;

/// `archnet export`
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let trained = TrainedModel::load(&args.model, &device())?;
    let info = ExportInfo {
        key_id: trained.card.key_id.clone(),
        class_names: trained.card.class_names.clone(),
    };
    let bytes = export_model(&trained.model, &trained.card.spec, &info)
        .with_context(|| format!("exporting {}", args.model.display()))?;
    archnet_data::fsutil::write_atomic(&args.out, &bytes, 0o644)?;
    let [c, h, w] = trained.card.spec.input_shape;
    println!(
        "wrote {} ({}): {} taking input [N, {c}, {h}, {w}] f32, giving logits [N, {}]; trained on {}",
        args.out.display(),
        human_bytes(bytes.len() as u64),
        trained.card.spec.kind,
        trained.card.spec.classes,
        match &trained.card.key_id {
            Some(id) => format!("data encrypted with key {id}"),
            None => "plain data".into(),
        }
    );
    Ok(())
}

fn policy_and_limits(args: &OnnxLimitArgs) -> (ModelPolicy, ValidationLimits) {
    (
        ModelPolicy {
            max_bytes: args.max_model_mib << 20,
            ..ModelPolicy::default()
        },
        ValidationLimits {
            max_duration: Duration::from_secs(args.max_seconds),
            max_activation_bytes: args.max_memory_mib << 20,
            batch_size: args.batch_size.max(1),
            threads: args
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        },
    )
}

/// Reads an ONNX file, refusing one over the size limit before reading it whole.
fn read_model(path: &std::path::Path, policy: &ModelPolicy) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > policy.max_bytes {
        anyhow::bail!(
            "{}: refused: the model is {} bytes, the limit is {}",
            path.display(),
            size,
            policy.max_bytes
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The key id an archnet-exported model names in its metadata.
fn model_key(onnx: &OnnxClassifier) -> Option<&str> {
    onnx.summary().metadata(metadata::KEY_ID)
}

/// `archnet validate`
pub fn validate(args: &ValidateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (policy, limits) = policy_and_limits(&args.limits);
    let samples = open_evaluation_samples(&args.data, args.split.as_deref(), args.limit)?;
    let bytes = read_model(&args.onnx, &policy)?;
    let classes = samples.class_names().len();
    let onnx = OnnxClassifier::load(&bytes, &policy, &limits, samples.shape(), classes)
        .with_context(|| format!("{}", args.onnx.display()))?;
    ensure_same_key(model_key(&onnx), samples.key_id().as_deref())?;
    let summary = onnx.summary();
    println!(
        "{}: IR {}, opset {}, {} nodes, {} weights, producer `{}`; operators: {}",
        args.onnx.display(),
        summary.ir_version,
        summary.opset,
        summary.nodes,
        summary.parameters,
        summary.producer,
        summary.operators.join(" ")
    );
    let report = onnx
        .validate(&samples, &limits, started)
        .with_context(|| format!("validating {}", args.onnx.display()))?;
    print_evaluation(&report.evaluation, &samples.class_names());
    println!(
        "{:.1} s, {:.0} samples/s (tract, batch {})",
        report.seconds, report.samples_per_second, limits.batch_size
    );
    Ok(())
}

/// `archnet predict`
pub fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let (policy, limits) = policy_and_limits(&args.limits);
    let (key, meta, data) = super::key_and_images(&args.key, &args.data)?;
    let bytes = read_model(&args.onnx, &policy)?;
    let (proto, summary) =
        inspect(&bytes, &policy).with_context(|| format!("{}", args.onnx.display()))?;
    // Class names from the model's archnet metadata, else the data's.
    let class_names: Vec<String> = summary
        .metadata(metadata::CLASS_NAMES)
        .and_then(|names| serde_json::from_str(names).ok())
        .unwrap_or_else(|| data.class_names.clone());
    let onnx = OnnxClassifier::from_inspected(
        &proto,
        summary,
        &limits,
        meta.architecture.cipher_shape,
        class_names.len(),
    )
    .with_context(|| format!("{}", args.onnx.display()))?;
    ensure_same_key(model_key(&onnx), Some(&meta.key_id))?;

    let [c, h, w] = data.shape;
    let bar = samples_bar(data.len() as u64, "predict");
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut shown, mut correct) = (0, 0);
    for chunk in indices.chunks(limits.batch_size) {
        let images = Tensor::<4>::from_data(
            TensorData::new(data.batch_f32(chunk), [chunk.len(), c, h, w]),
            &device(),
        );
        let ciphertexts = key
            .encrypt(images)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading ciphertexts: {e:?}"))?;
        for (row, &i) in onnx.logits(&ciphertexts, chunk.len())?.iter().zip(chunk) {
            let (label, confidence) = most_likely(row);
            let truth = data.labels.as_ref().map(|l| l[i] as usize);
            correct += usize::from(truth == Some(label));
            if shown < args.show {
                shown += 1;
                let truth = truth
                    .map(|t| format!(" (true: {})", name(&class_names, t)))
                    .unwrap_or_default();
                // Not bar.println: a hidden bar (output not a terminal) drops its lines.
                bar.suspend(|| {
                    println!(
                        "image {i}: {} with confidence {:.1}%{truth}",
                        name(&class_names, label),
                        100.0 * confidence
                    )
                });
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if data.labels.is_some() {
        println!(
            "accuracy: {:.2}% on {} samples",
            100.0 * correct as f64 / data.len().max(1) as f64,
            data.len()
        );
    }
    Ok(())
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

fn name(class_names: &[String], i: usize) -> String {
    class_names.get(i).cloned().unwrap_or_else(|| i.to_string())
}
