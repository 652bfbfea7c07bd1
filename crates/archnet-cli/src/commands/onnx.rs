//! `archnet export`, `archnet validate` and `archnet predict`: the ONNX hand-off.

use std::time::Instant;

use anyhow::Context;
use archnet_data::samples::Samples;
use archnet_onnx::export::export_file;
use archnet_onnx::predict::predict_files;
use archnet_onnx::runner::validate_file;
use archnet_onnx::{ModelPolicy, ValidationLimits};

use crate::cli::{ExportArgs, OnnxLimitArgs, PredictArgs, ValidateArgs};
use crate::progress::samples_bar;

/// `archnet export`
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    println!("{}", export_file(&args.model, &args.out)?);
    Ok(())
}

fn policy_and_limits(a: &OnnxLimitArgs) -> (ModelPolicy, ValidationLimits) {
    let limits = ValidationLimits {
        engine: archnet_onnx::runner::Engine::from_library(a.onnxruntime.clone()),
        ..ValidationLimits::from_units(a.max_seconds, a.max_memory_mib, a.batch_size, a.threads)
    };
    (ModelPolicy::with_max_mib(a.max_model_mib), limits)
}

/// `archnet validate`
pub fn validate(args: &ValidateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (policy, limits) = policy_and_limits(&args.limits);
    let d = &args.data;
    let samples = Samples::open_evaluation(&d.data, d.split.as_deref(), d.limit)?;
    let validated = validate_file(&args.onnx, &samples, &policy, &limits, started)
        .with_context(|| format!("validating {}", args.onnx.display()))?;
    println!("{validated}");
    Ok(())
}

/// `archnet predict`
pub fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let (policy, limits) = policy_and_limits(&args.limits);
    let data = super::data::source(&args.data);
    let bar = samples_bar(0, "predict");
    let report = predict_files(&args.key, &args.onnx, &data, &policy, &limits, &mut |p| {
        if p.index < args.show {
            // Not bar.println: a hidden bar (output not a terminal) drops its lines.
            bar.suspend(|| println!("{p}"));
        }
        bar.set_length(p.of as u64);
        bar.inc(1);
    })
    .with_context(|| format!("{} on {}", args.onnx.display(), args.data.data.display()))?;
    bar.finish_and_clear();
    if report.correct.is_some() {
        println!("{report}");
    }
    Ok(())
}
