//! The server's settings: defaults here, overridden by a TOML file, then by environment
//! variables and flags (the CLI applies those).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use archnet_validate::{Engine, ModelPolicy, ValidationLimits};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ServerError};

/// Settings of `archnet serve`. Every field has a default, so a TOML file names only what it
/// changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder for the SQLite database, the local blob store and the validation cache.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; the SQLite file `archnet.db` in `data_dir` if unset.
    pub database: Option<String>,
    /// `s3://bucket/prefix` or `file:///path`; the folder `blobs/` in `data_dir` if unset.
    pub store: Option<String>,
    /// A lease ends this long after its last heartbeat.
    pub lease_ttl_s: u64,
    /// Chunk size offered to clients that do not choose one.
    pub chunk_bytes: u64,
    /// Largest chunk accepted (bounds the body of a chunk upload).
    pub max_chunk_bytes: u64,
    /// Largest dataset file accepted.
    pub max_file_bytes: u64,
    /// Largest ONNX model accepted (the ONNX policy's limit).
    pub max_model_bytes: u64,
    /// Rejected submissions before a task fails, unless the task says otherwise.
    pub max_attempts: u32,
    /// Requests per second allowed to one token, and the burst above it.
    pub rate_per_second: u32,
    /// See `rate_per_second`.
    pub rate_burst: u32,
    /// Wall-time limit of one validation run.
    pub validation_max_s: u64,
    /// Memory bound on one validation batch's intermediate tensors.
    pub validation_max_memory_mib: u64,
    /// How long a validator's claim on a submission lasts without renewal: after a crash, another
    /// replica (or the restarted server) takes the submission over once it runs out.
    pub validation_claim_s: u64,
    /// How often leases and deadlines are checked.
    pub reaper_interval_ms: u64,
    /// Submissions validated at once (each runs tract on one core); the machine's core count
    /// when 0.
    pub validators: usize,
    /// The executable run as `PROGRAM sandbox-validate JOB` for every validation (the
    /// [`sandbox`](super::sandbox)). `archnet serve` uses its own executable when this is unset;
    /// a server embedded in another program (tests, the quickstart) validates in its own process
    /// unless it names one.
    pub sandbox_program: Option<PathBuf>,
    /// Validate inside the server process even under `archnet serve` (no sandbox: a model that
    /// exhausts memory or aborts takes the server down).
    pub validation_in_process: bool,
    /// Address space of a sandboxed validation, MiB (`RLIMIT_AS`): the model, the split,
    /// tract's working memory and the process itself must fit.
    pub validation_max_address_space_mib: u64,
    /// Run submitted models with onnxruntime's library at this path (`libonnxruntime.so` from the
    /// onnxruntime wheel, under `onnxruntime/capi/`) instead of tract: several times faster
    /// (results/bench.md). It is C++ reading untrusted models, so it runs only in the sandbox.
    pub validation_onnxruntime: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8750".parse().expect("valid address"),
            data_dir: PathBuf::from("archnet-server"),
            database: None,
            store: None,
            lease_ttl_s: 60,
            chunk_bytes: 4 << 20,
            max_chunk_bytes: 16 << 20,
            max_file_bytes: 1 << 30,
            max_model_bytes: ModelPolicy::default().max_bytes,
            max_attempts: 3,
            rate_per_second: 50,
            rate_burst: 200,
            validation_max_s: ValidationLimits::default().max_duration.as_secs(),
            validation_max_memory_mib: ValidationLimits::default().max_activation_bytes >> 20,
            validation_claim_s: 30,
            reaper_interval_ms: 1000,
            validators: 0,
            sandbox_program: None,
            validation_in_process: false,
            validation_max_address_space_mib: 8 << 10,
            validation_onnxruntime: None,
        }
    }
}

impl ServerConfig {
    /// The settings in layers: the defaults, then the TOML file, then `overrides` (flags and
    /// environment variables: anything that serialises to a table of these keys; a key it leaves
    /// out keeps the layer below). Checked before it is returned.
    pub fn layered(
        file: Option<&std::path::Path>,
        overrides: &impl Serialize,
    ) -> Result<ServerConfig> {
        let base = match file {
            Some(path) => ServerConfig::from_toml_file(path)?,
            None => ServerConfig::default(),
        };
        let bad = |e: &dyn std::fmt::Display| ServerError::Config(format!("flags: {e}"));
        let mut table = toml::Table::try_from(base).map_err(|e| bad(&e))?;
        table.extend(toml::Table::try_from(overrides).map_err(|e| bad(&e))?);
        let config: ServerConfig = table.try_into().map_err(|e| bad(&e))?;
        config.check()?;
        Ok(config)
    }

    /// Reads a TOML file of settings (unknown keys are an error, so a typo is not ignored).
    pub fn from_toml_file(path: &std::path::Path) -> Result<ServerConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
        toml::from_str(&text).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))
    }

    /// The database to open: `database`, or SQLite in `data_dir`.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| crate::db::Db::sqlite_url(&self.data_dir))
    }

    /// How long a lease lives without a heartbeat (at least one second).
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_s.max(1))
    }

    /// The policy an untrusted model must pass before it runs.
    pub fn policy(&self) -> ModelPolicy {
        ModelPolicy {
            max_bytes: self.max_model_bytes,
            ..ModelPolicy::default()
        }
    }

    /// The limits a validation run is held to.
    pub fn validation_limits(&self) -> ValidationLimits {
        ValidationLimits {
            max_duration: Duration::from_secs(self.validation_max_s),
            max_activation_bytes: self.validation_max_memory_mib << 20,
            engine: Engine::from_library(self.validation_onnxruntime.clone()),
            ..ValidationLimits::default()
        }
    }

    /// The sandbox a validation runs in: the program and its limits (`None`: in this
    /// process).
    pub fn sandbox(&self) -> Option<(PathBuf, super::sandbox::SandboxLimits)> {
        let program = self
            .sandbox_program
            .clone()
            .filter(|_| !self.validation_in_process)?;
        let threads = self.validation_limits().threads.max(1) as u64;
        Some((
            program,
            super::sandbox::SandboxLimits {
                address_space_bytes: self.validation_max_address_space_mib << 20,
                // The run's own limit, on every thread it may use, plus loading.
                cpu_seconds: self.validation_max_s.saturating_mul(threads) + 5,
                // Process start-up and reading the split come before the run's own clock starts.
                wall: Duration::from_secs(self.validation_max_s + 10),
            },
        ))
    }

    /// Refuses settings that cannot work.
    pub fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(ServerError::Config(m.to_string()));
        if self.chunk_bytes == 0 || self.chunk_bytes > self.max_chunk_bytes {
            return bad("chunk_bytes must be between 1 and max_chunk_bytes");
        }
        if self.rate_per_second == 0 || self.rate_burst == 0 {
            return bad("rate_per_second and rate_burst must be positive");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be positive");
        }
        if self.validation_max_address_space_mib < 256 {
            return bad("validation_max_address_space_mib must be at least 256");
        }
        if self.validation_onnxruntime.is_some() && self.validation_in_process {
            return bad(
                "validation_onnxruntime runs untrusted models in C++, so only in the sandbox: \
                 it cannot be combined with validation_in_process",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnxruntime_validation_is_refused_outside_the_sandbox() {
        let config = ServerConfig {
            validation_onnxruntime: Some("/opt/onnxruntime/libonnxruntime.so".into()),
            validation_in_process: true,
            ..ServerConfig::default()
        };
        let err = config.check().unwrap_err().to_string();
        assert!(err.contains("only in the sandbox"), "{err}");
        let sandboxed = ServerConfig {
            validation_in_process: false,
            ..config
        };
        sandboxed.check().unwrap();
        assert_eq!(sandboxed.validation_limits().engine.name(), "onnxruntime");
    }

    #[tokio::test]
    async fn a_server_without_a_sandbox_program_refuses_onnxruntime() {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            data_dir: dir.path().to_path_buf(),
            validation_onnxruntime: Some("/opt/onnxruntime/libonnxruntime.so".into()),
            ..ServerConfig::default()
        };
        let err = crate::server::AppState::open(config).await.err().unwrap();
        assert!(err.to_string().contains("sandbox_program"), "{err}");
    }
}
