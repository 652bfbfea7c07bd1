//! onnxruntime as a second engine for accepted models: its C++ library, loaded at run time from
//! a path (the `libonnxruntime.so` that the `onnxruntime` wheel from PyPI ships under
//! `onnxruntime/capi/`) through the `ort` crate's `load-dynamic`, so archnet neither links it
//! nor needs it unless a deployment asks for it.
//!
//! Why a second engine: on this machine onnxruntime runs the exported cnn about 6× and resnet-18
//! about 3× faster than tract (results/bench.md). Why not the only one: it is C++ parsing an
//! untrusted protobuf. The policy check ([`crate::policy::inspect`]) and tract's shape analysis
//! run first whatever the engine, and the server runs either engine inside its sandboxed child.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{OnnxError, Result};

/// The process's one onnxruntime environment and the library it was loaded from (onnxruntime
/// allows one environment per process, and a library cannot be swapped once loaded). A failed
/// load leaves it empty, so a later call with a right path still works.
static ENVIRONMENT: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

fn environment(library: &Path) -> Result<Environment> {
    let mut loaded = ENVIRONMENT
        .lock()
        .map_err(|_| OnnxError::Runtime("loading onnxruntime panicked earlier".into()))?;
    match &*loaded {
        Some((path, env)) if path == library => return Ok(env.clone()),
        Some((path, _)) => {
            return Err(OnnxError::Runtime(format!(
                "onnxruntime is already loaded from {} in this process; {} cannot be loaded beside it",
                path.display(),
                library.display()
            )));
        }
        None => {}
    }
    if !library.is_file() {
        return Err(OnnxError::Runtime(format!(
            "onnxruntime's library {} does not exist (it is libonnxruntime.so.* under \
             onnxruntime/capi/ in the onnxruntime wheel)",
            library.display()
        )));
    }
    let env = ort::init_from(library)
        .map_err(|e| e.to_string())
        .and_then(|builder| {
            builder
                .with_name("archnet")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())
        })
        .map_err(|e| {
            OnnxError::Runtime(format!(
                "loading onnxruntime from {}: {e}",
                library.display()
            ))
        })?;
    *loaded = Some((library.to_path_buf(), env.clone()));
    Ok(env)
}

/// An accepted model in an onnxruntime session.
pub struct OrtModel {
    session: Mutex<Session>,
    input: String,
}

impl OrtModel {
    /// A session over `bytes` (already accepted by the policy) using `threads` threads, with the
    /// library at `library`.
    pub fn load(library: &Path, bytes: &[u8], threads: usize) -> Result<OrtModel> {
        let env = environment(library)?;
        let err = |e: ort::Error<ort::session::builder::SessionBuilder>| {
            OnnxError::Runtime(format!("onnxruntime: {e}"))
        };
        let session = Session::builder(&env)
            .map_err(|e| OnnxError::Runtime(format!("onnxruntime: {e}")))?
            .with_intra_threads(threads.max(1))
            .map_err(err)?
            .with_inter_threads(1)
            .map_err(err)?
            .commit_from_memory(bytes)
            .map_err(|e| {
                OnnxError::Runtime(format!("onnxruntime could not load the model: {e}"))
            })?;
        let input = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| OnnxError::Mismatch("the model has no input".into()))?;
        Ok(OrtModel {
            session: Mutex::new(session),
            input,
        })
    }

    /// The model's first output for one batch of `shape`, as flat values.
    pub fn run(&self, shape: [usize; 4], batch: &[f32]) -> Result<Vec<f32>> {
        let err = |e: ort::Error| OnnxError::Runtime(format!("onnxruntime: {e}"));
        let input = TensorRef::from_array_view((shape.map(|d| d as i64), batch)).map_err(err)?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| OnnxError::Runtime("an earlier run panicked".into()))?;
        let outputs = session
            .run(ort::inputs![self.input.as_str() => input])
            .map_err(err)?;
        let (_, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| OnnxError::Runtime(format!("the output is not f32: {e}")))?;
        Ok(values.to_vec())
    }
}
