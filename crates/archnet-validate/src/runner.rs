//! Runs an accepted ONNX classifier with tract (or, when asked, onnxruntime): the server's
//! validator and the publisher's predictor.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use archnet_data::holdout::{Holdout, Part};
use archnet_data::samples::{Evaluation, Samples, evaluate_parts_with};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::{OnnxError, Result};
use crate::onnxruntime::OrtModel;
use crate::policy::{ModelPolicy, ModelSummary, inspect};

/// What runs an accepted model. The policy check and tract's shape analysis come first whatever
/// runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// tract, in Rust: nothing to install.
    #[default]
    Tract,
    /// onnxruntime's library at this path (`libonnxruntime.so` from the onnxruntime wheel),
    /// loaded at run time: several times faster than tract here, but C++ parsing an untrusted
    /// model, so the server runs it only inside its sandboxed child.
    OnnxRuntime(PathBuf),
}

impl Engine {
    /// The engine's name as the reports print it.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Tract => "tract",
            Engine::OnnxRuntime(_) => "onnxruntime",
        }
    }

    /// onnxruntime from `library` when one is given, else tract.
    pub fn from_library(library: Option<PathBuf>) -> Engine {
        library.map_or(Engine::Tract, Engine::OnnxRuntime)
    }

    /// onnxruntime's library when it is the engine ([`Engine::from_library`]'s inverse).
    pub fn library(&self) -> Option<&std::path::Path> {
        match self {
            Engine::Tract => None,
            Engine::OnnxRuntime(library) => Some(library),
        }
    }
}

/// Limits on one validation run, and what runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Wall time for the whole run, loading included.
    pub max_duration: Duration,
    /// Bound on the bytes of all intermediate tensors of one batch, estimated from the optimised
    /// graph before anything runs (an upper bound of tract's working memory).
    pub max_activation_bytes: u64,
    /// Samples per run of the model.
    pub batch_size: usize,
    /// Threads tract's matrix products may use (1: the calling thread only).
    pub threads: usize,
    /// What runs the model.
    pub engine: Engine,
}

impl ValidationLimits {
    /// Limits in the units a person gives them: seconds, MiB of intermediate tensors per batch,
    /// samples per run (at least 1), and threads (all cores when `None`).
    pub fn from_units(
        max_seconds: u64,
        max_memory_mib: u64,
        batch_size: usize,
        threads: Option<usize>,
    ) -> ValidationLimits {
        ValidationLimits {
            max_duration: Duration::from_secs(max_seconds),
            max_activation_bytes: max_memory_mib << 20,
            batch_size: batch_size.max(1),
            threads: threads.unwrap_or_else(ValidationLimits::all_cores),
            engine: Engine::Tract,
        }
    }

    /// Threads to use all of this machine's cores (1 where that cannot be told).
    pub fn all_cores() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits {
            max_duration: Duration::from_secs(30 * 60),
            max_activation_bytes: 4 << 30,
            batch_size: 64,
            threads: 1,
            engine: Engine::Tract,
        }
    }
}

/// A model loaded into its engine.
enum Loaded {
    /// tract's optimised plan, with a thread pool for its matrix products when more than one
    /// thread is allowed.
    Tract {
        plan: std::sync::Arc<TypedRunnableModel>,
        executor: Option<tract_linalg::multithread::Executor>,
    },
    /// An onnxruntime session.
    OnnxRuntime(OrtModel),
}

/// An ONNX classifier ready to run on `[C, H, W]` samples.
pub struct OnnxClassifier {
    loaded: Loaded,
    summary: ModelSummary,
    sample_shape: [usize; 3],
    batch_size: usize,
    classes: usize,
    /// Estimated bytes of the intermediate tensors of one batch.
    pub activation_bytes: u64,
}

impl OnnxClassifier {
    /// Checks `bytes` against `policy`, then optimises the model for batches of
    /// `limits.batch_size` samples of `sample_shape`, expecting `classes` logits per sample.
    pub fn load(
        bytes: &[u8],
        policy: &ModelPolicy,
        limits: &ValidationLimits,
        sample_shape: [usize; 3],
        classes: usize,
    ) -> Result<Self> {
        let (proto, summary) = inspect(bytes, policy)?;
        Self::from_inspected(&proto, summary, limits, sample_shape, classes)
    }

    /// [`OnnxClassifier::load`] for a model [`inspect`] has already decoded and accepted, so a
    /// caller that needs the summary first (its class names, say) decodes only once.
    pub fn from_inspected(
        proto: &pb::ModelProto,
        summary: ModelSummary,
        limits: &ValidationLimits,
        sample_shape: [usize; 3],
        classes: usize,
    ) -> Result<Self> {
        check_input(&summary, sample_shape)?;
        let batch_size = limits.batch_size.max(1);
        // tract is not written for hostile input: a panic inside it becomes an error here, so a
        // bad submission cannot take the validator down.
        // tract's analysis gives the output shape and the memory estimate for either engine;
        // only tract itself needs the optimised graph.
        let optimised = limits.engine == Engine::Tract;
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            optimise(
                proto,
                [
                    batch_size,
                    sample_shape[0],
                    sample_shape[1],
                    sample_shape[2],
                ],
                optimised,
            )
        }))
        .map_err(|panic| OnnxError::Runtime(format!("tract panicked: {}", panic_text(&panic))))??;
        let (model, activation_bytes) = loaded;
        if activation_bytes > limits.max_activation_bytes {
            return Err(OnnxError::Refused(format!(
                "a batch of {batch_size} needs about {} MiB of intermediate tensors, the limit is {} MiB",
                activation_bytes >> 20,
                limits.max_activation_bytes >> 20
            )));
        }
        let output = model
            .output_fact(0)
            .map_err(|e| OnnxError::Runtime(format!("{e:#}")))?;
        let dims = output.shape.as_concrete().map(|d| d.to_vec());
        if dims != Some(vec![batch_size, classes]) {
            return Err(OnnxError::Mismatch(format!(
                "the output `{}` has shape {:?} for a batch of {batch_size}; expected [{batch_size}, {classes}] ({classes} classes)",
                summary.output_name, output.shape
            )));
        }
        let loaded = match &limits.engine {
            Engine::Tract => Loaded::Tract {
                plan: model
                    .into_runnable()
                    .map_err(|e| OnnxError::Runtime(format!("{e:#}")))?,
                executor: (limits.threads > 1)
                    .then(|| tract_linalg::multithread::Executor::multithread(limits.threads)),
            },
            Engine::OnnxRuntime(library) => {
                use prost::Message;
                Loaded::OnnxRuntime(OrtModel::load(
                    library,
                    &proto.encode_to_vec(),
                    limits.threads,
                )?)
            }
        };
        Ok(OnnxClassifier {
            loaded,
            summary,
            sample_shape,
            batch_size,
            classes,
            activation_bytes,
        })
    }

    /// What the policy check found.
    pub fn summary(&self) -> &ModelSummary {
        &self.summary
    }

    /// Logits of `n` samples given as flat `[n, C, H, W]` values: `n` rows of `classes`.
    pub fn logits(&self, x: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        let sample_len: usize = self.sample_shape.iter().product();
        if x.len() != n * sample_len {
            return Err(OnnxError::Mismatch(format!(
                "{} values are not {n} samples of {:?}",
                x.len(),
                self.sample_shape
            )));
        }
        let [c, h, w] = self.sample_shape;
        let mut rows = Vec::with_capacity(n);
        for chunk in x.chunks(self.batch_size * sample_len) {
            let m = chunk.len() / sample_len;
            // The plan is optimised for one batch size: pad the last batch with zeros.
            let mut batch = chunk.to_vec();
            batch.resize(self.batch_size * sample_len, 0.0);
            let shape = [self.batch_size, c, h, w];
            let logits = match &self.loaded {
                Loaded::Tract { plan, executor } => {
                    run_tract(plan, executor.as_ref(), shape, &batch)?
                }
                Loaded::OnnxRuntime(model) => model.run(shape, &batch)?,
            };
            if logits.len() != self.batch_size * self.classes {
                return Err(OnnxError::Mismatch(format!(
                    "the model gave {} values for a batch of {}; expected {} classes each",
                    logits.len(),
                    self.batch_size,
                    self.classes
                )));
            }
            rows.extend(logits.chunks(self.classes).take(m).map(<[f32]>::to_vec));
        }
        Ok(rows)
    }

    /// Predicted class of each of `n` samples.
    pub fn predict(&self, x: &[f32], n: usize) -> Result<Vec<usize>> {
        Ok(self.logits(x, n)?.iter().map(|row| argmax(row)).collect())
    }

    /// Accuracy and confusion matrix over `samples`, stopping with [`OnnxError::Timeout`] once
    /// `limits.max_duration` has passed since `started`.
    pub fn validate(
        &self,
        samples: &Samples,
        limits: &ValidationLimits,
        started: Instant,
    ) -> Result<ValidationReport> {
        self.validate_holdout(samples, None, limits, started)
    }

    /// [`OnnxClassifier::validate`], with the public and private parts of a contest's `holdout`
    /// scored as well (in the same pass) when one is given.
    pub fn validate_holdout(
        &self,
        samples: &Samples,
        holdout: Option<&Holdout>,
        limits: &ValidationLimits,
        started: Instant,
    ) -> Result<ValidationReport> {
        if samples.shape() != self.sample_shape {
            return Err(OnnxError::Mismatch(format!(
                "the model was loaded for samples of {:?}, the data has {:?}",
                self.sample_shape,
                samples.shape()
            )));
        }
        let run_started = Instant::now();
        let total = samples.len();
        let mut done = 0;
        let part_of = |i: usize| match holdout.map(|h| h.part(i)) {
            Some(Part::Private) => 1,
            _ => 0,
        };
        let parts = if holdout.is_some() { 2 } else { 1 };
        let mut scored =
            evaluate_parts_with(samples, self.batch_size, parts, &part_of, &mut |x, n| {
                if started.elapsed() > limits.max_duration {
                    return Err(OnnxError::Timeout {
                        limit_s: limits.max_duration.as_secs(),
                        done,
                        total,
                    });
                }
                let predicted = self.predict(x, n)?;
                done += n;
                Ok(predicted)
            })?;
        let seconds = run_started.elapsed().as_secs_f64();
        let (evaluation, parts) = match scored.len() {
            2 => {
                let private = scored.pop().expect("two parts");
                let public = scored.pop().expect("two parts");
                (
                    public.merged(&private),
                    Some(HoldoutEvaluation { public, private }),
                )
            }
            _ => (scored.remove(0), None),
        };
        Ok(ValidationReport {
            parts,
            samples_per_second: evaluation.count as f64 / seconds.max(1e-9),
            evaluation,
            seconds,
        })
    }
}

/// The outcome of [`OnnxClassifier::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationReport {
    /// Accuracy and confusion matrix over the samples.
    pub evaluation: Evaluation,
    /// The public and private parts scored apart, when a holdout was given.
    pub parts: Option<HoldoutEvaluation>,
    /// Wall seconds of the run, from the caller's start.
    pub seconds: f64,
    /// Samples run per second.
    pub samples_per_second: f64,
}

/// A contest's two parts of the validation split, scored apart.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldoutEvaluation {
    /// The public part.
    pub public: Evaluation,
    /// The private part.
    pub private: Evaluation,
}

/// What [`validate_file`] found: the model's summary and its run over the samples.
pub struct ValidatedFile {
    /// The model file.
    pub path: std::path::PathBuf,
    /// What the model is.
    pub summary: ModelSummary,
    /// The run.
    pub report: ValidationReport,
    /// The samples' class names.
    pub class_names: Vec<String>,
    /// The batch size it ran with.
    pub batch_size: usize,
    /// What ran it (`tract`, `onnxruntime`).
    pub engine: &'static str,
}

/// The summary line, the accuracy and confusion matrix, the speed: `archnet validate`'s output.
impl std::fmt::Display for ValidatedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table =
            archnet_data::samples::EvaluationTable(&self.report.evaluation, &self.class_names);
        writeln!(f, "{}: {}", self.path.display(), self.summary)?;
        writeln!(f, "{table}")?;
        write!(
            f,
            "{:.1} s, {:.0} samples/s ({}, batch {})",
            self.report.seconds, self.report.samples_per_second, self.engine, self.batch_size
        )
    }
}

/// `archnet validate`: checks the untrusted model at `path` against `policy`, refuses one made
/// for another key's ciphertexts, and runs it within `limits` over `samples` (opened by the
/// caller; the wall clock starts at `started`, so opening them counts).
pub fn validate_file(
    path: &std::path::Path,
    samples: &Samples,
    policy: &ModelPolicy,
    limits: &ValidationLimits,
    started: Instant,
) -> Result<ValidatedFile> {
    let bytes = crate::policy::read_model(path, policy)?;
    let class_names = samples.class_names();
    let onnx = OnnxClassifier::load(&bytes, policy, limits, samples.shape(), class_names.len())?;
    let model_key = onnx.summary().metadata(crate::metadata::KEY_ID);
    if let Some(reason) =
        archnet_data::samples::key_mismatch(model_key, samples.key_id().as_deref())
    {
        return Err(OnnxError::Mismatch(reason));
    }
    let report = onnx.validate(samples, limits, started)?;
    Ok(ValidatedFile {
        path: path.to_path_buf(),
        summary: onnx.summary().clone(),
        report,
        class_names,
        batch_size: limits.batch_size,
        engine: limits.engine.name(),
    })
}

/// Refuses a model whose declared input cannot take `[N, C, H, W]` samples of `shape`.
fn check_input(summary: &ModelSummary, shape: [usize; 3]) -> Result<()> {
    let dims = &summary.input_dims;
    if dims.is_empty() {
        return Ok(()); // Undeclared: tract will find out.
    }
    let fits = dims.len() == 4
        && dims[1..]
            .iter()
            .zip(shape)
            .all(|(d, s)| d.is_none_or(|d| d as usize == s));
    if !fits {
        let show: Vec<String> = dims
            .iter()
            .map(|d| d.map_or("?".into(), |d| d.to_string()))
            .collect();
        return Err(OnnxError::Mismatch(format!(
            "input `{}` is [{}] but the samples are [N, {}, {}, {}]",
            summary.input_name,
            show.join(", "),
            shape[0],
            shape[1],
            shape[2]
        )));
    }
    Ok(())
}

/// One batch through tract's plan (on `executor`'s threads when given), as flat logits.
fn run_tract(
    plan: &std::sync::Arc<TypedRunnableModel>,
    executor: Option<&tract_linalg::multithread::Executor>,
    shape: [usize; 4],
    batch: &[f32],
) -> Result<Vec<f32>> {
    let input =
        Tensor::from_shape(&shape, batch).map_err(|e| OnnxError::Runtime(format!("{e:#}")))?;
    let run = || plan.run(tvec!(input.into()));
    let out = catch_unwind(AssertUnwindSafe(|| match executor {
        Some(pool) => tract_linalg::multithread::multithread_tract_scope(pool.clone(), run),
        None => run(),
    }))
    .map_err(|p| OnnxError::Runtime(format!("tract panicked: {}", panic_text(&p))))?
    .map_err(|e| OnnxError::Runtime(format!("{e:#}")))?;
    let logits = out[0]
        .to_plain_array_view::<f32>()
        .map_err(|e| OnnxError::Runtime(format!("the output is not f32: {e:#}")))?;
    Ok(logits.iter().copied().collect())
}

/// tract's model for a fixed input shape (optimised for running when `optimised`, else only
/// typed, which is enough for the shapes), with the summed size of every node output.
fn optimise(
    proto: &pb::ModelProto,
    input: [usize; 4],
    optimised: bool,
) -> Result<(TypedModel, u64)> {
    let err = |e: TractError| OnnxError::Runtime(format!("{e:#}"));
    let typed = tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(err)?
        .with_input_fact(0, f32::fact(input).into())
        .map_err(err)?
        .into_typed()
        .map_err(err)?;
    let model = if optimised {
        typed.into_optimized().map_err(err)?
    } else {
        typed
    };
    let mut bytes = 0u64;
    for node in model.nodes() {
        for output in &node.outputs {
            let fact = &output.fact;
            let elements = fact
                .shape
                .as_concrete()
                .map_or(u64::MAX, |d| d.iter().map(|&x| x as u64).product());
            bytes = bytes.saturating_add(elements.saturating_mul(fact.datum_type.size_of() as u64));
        }
    }
    Ok((model, bytes))
}

/// Index of the largest value (the first, on ties).
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}
