//! Untrusted models run in a child process, so that one that exhausts memory, aborts the
//! process or never ends costs one rejected submission and not the server.
//!
//! The child is the server's own executable run as `PROGRAM sandbox-validate JOB.json` (a hidden
//! subcommand that calls [`child_main`]). Before it starts, still in the forked process, it gets
//! an address-space limit (`RLIMIT_AS`), a CPU-time limit (`RLIMIT_CPU`: SIGXCPU, then SIGKILL)
//! and a network namespace of its own with no interface but a loopback that is down (where the
//! kernel allows one: as root, or through an unprivileged user namespace); the server kills it
//! at a wall-clock limit. It reads the model and the validation split from files, and answers on
//! stdout with one line of JSON; anything else (a signal, no answer, an exit code) is turned
//! into a refusal that names what happened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use archnet_api::types::ValidationRun;
use archnet_data::holdout::Holdout;

/// What the child validates: the model and the split as files, and the task's terms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxJob {
    /// The ONNX file.
    pub model: PathBuf,
    /// The encrypted dataset folder holding the `validation` split.
    pub dataset: PathBuf,
    /// `[C, H, W]` of one sample.
    pub shape: [usize; 3],
    /// Classes of the task.
    pub classes: usize,
    /// The key the task's data was encrypted with.
    pub key_id: String,
    /// A contest's public/private cut: `(seed, samples, public samples)`.
    pub holdout: Option<(u64, usize, usize)>,
    /// The policy's largest model.
    pub max_model_bytes: u64,
    /// The validation's own limits (checked inside the run, between batches).
    pub max_seconds: u64,
    /// See [`archnet_validate::ValidationLimits::max_activation_bytes`].
    pub max_activation_bytes: u64,
    /// Samples per run of the model.
    pub batch_size: usize,
    /// Threads of tract's matrix products.
    pub threads: usize,
    /// onnxruntime's library, when it runs the model instead of tract.
    #[serde(default)]
    pub onnxruntime: Option<PathBuf>,
}

/// The child's one line on stdout.
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    /// The model ran over the split.
    Ran {
        /// What it scored.
        run: ValidationRun,
        /// Whether the child had a network namespace of its own.
        isolated: bool,
    },
    /// The model was refused, and why.
    Refused {
        /// Why, in one line.
        reason: String,
        /// See `Ran`.
        isolated: bool,
    },
}

/// The process limits of one sandboxed validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SandboxLimits {
    /// Address space of the child, bytes (`RLIMIT_AS`).
    pub address_space_bytes: u64,
    /// CPU seconds of the child, all threads together (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Wall time before the server kills the child.
    pub wall: Duration,
}

/// Most bytes of the child's stdout read (its answer carries a confusion matrix, no more).
const MAX_ANSWER_BYTES: u64 = 16 << 20;
/// The end of the child's stderr kept for a refusal's reason.
const STDERR_TAIL: usize = 2000;

/// `archnet sandbox-validate JOB`: the child's side. Runs the job and prints its answer as one
/// line of JSON; returns the exit code (0 whenever an answer was printed, refusals included).
pub fn child_main(job: &Path) -> i32 {
    let isolated = network_isolated();
    let answer = match read_job(job) {
        Ok(job) => match run_job(&job) {
            Ok(run) => Answer::Ran { run, isolated },
            Err(reason) => Answer::Refused { reason, isolated },
        },
        Err(reason) => Answer::Refused { reason, isolated },
    };
    match serde_json::to_string(&answer) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(e) => {
            eprintln!("sandbox: the answer does not serialise: {e}");
            2
        }
    }
}

fn read_job(path: &Path) -> Result<SandboxJob, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn run_job(job: &SandboxJob) -> Result<ValidationRun, String> {
    let bytes = std::fs::read(&job.model).map_err(|e| format!("the model file: {e}"))?;
    let holdout = job
        .holdout
        .map(|(seed, samples, public)| Holdout::new(seed, samples, public));
    let policy = archnet_validate::ModelPolicy {
        max_bytes: job.max_model_bytes,
        ..archnet_validate::ModelPolicy::default()
    };
    let limits = archnet_validate::ValidationLimits {
        max_duration: Duration::from_secs(job.max_seconds),
        max_activation_bytes: job.max_activation_bytes,
        batch_size: job.batch_size.max(1),
        threads: job.threads.max(1),
        engine: archnet_validate::Engine::from_library(job.onnxruntime.clone()),
    };
    super::validator::run_model(
        &bytes,
        &job.dataset,
        super::validator::ModelTask {
            shape: job.shape,
            classes: job.classes,
            key_id: &job.key_id,
            holdout: holdout.as_ref(),
        },
        &policy,
        &limits,
    )
}

/// Whether this process sees no network interface but loopback (a namespace of its own).
fn network_isolated() -> bool {
    match std::fs::read_to_string("/proc/self/net/dev") {
        Ok(table) => table
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .all(|name| name.trim() == "lo"),
        Err(_) => false,
    }
}

/// Runs `job` (written to `dir`) as `program sandbox-validate` under `limits`; the error is
/// the reason the model is refused.
pub async fn run_sandboxed(
    program: &Path,
    job: &SandboxJob,
    dir: &Path,
    limits: &SandboxLimits,
) -> Result<ValidationRun, String> {
    let job_file = dir.join("job.json");
    let bytes = serde_json::to_vec(job).map_err(|e| format!("sandbox: the job: {e}"))?;
    tokio::fs::write(&job_file, bytes)
        .await
        .map_err(|e| format!("sandbox: {}: {e}", job_file.display()))?;
    let mut command = tokio::process::Command::new(program);
    command
        .arg("sandbox-validate")
        .arg(&job_file)
        .env_clear()
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    confine(&mut command, limits);
    let mut child = command
        .spawn()
        .map_err(|e| format!("sandbox: starting {}: {e}", program.display()))?;
    let mut stdout = child.stdout.take().expect("piped").take(MAX_ANSWER_BYTES);
    let mut stderr = child.stderr.take().expect("piped").take(MAX_ANSWER_BYTES);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let finished = tokio::time::timeout(limits.wall, async {
        let (o, e, status) = tokio::join!(
            stdout.read_to_end(&mut out),
            stderr.read_to_end(&mut err),
            child.wait()
        );
        let _ = (o, e);
        status
    })
    .await;
    let status = match finished {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(format!("sandbox: waiting for the validator: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!(
                "the model ran past the wall-clock limit of {} s and was stopped",
                limits.wall.as_secs()
            ));
        }
    };
    let stderr = String::from_utf8_lossy(&err);
    let tail = tail(&stderr);
    if status.success()
        && let Some(line) = out.split(|b| *b == b'\n').find(|l| !l.is_empty())
    {
        let answer: Answer = serde_json::from_slice(line)
            .map_err(|e| format!("sandbox: the validator's answer: {e}"))?;
        let (result, isolated) = match answer {
            Answer::Ran { run, isolated } => (Ok(run), isolated),
            // tract turns an allocation that the address-space limit refuses into a panic,
            // which the run reports as a failure; name the limit it hit.
            Answer::Refused { reason, isolated } if out_of_memory(&reason) => (
                Err(format!(
                    "the model ran out of memory: the validator is limited to {} MiB of address space ({reason})",
                    limits.address_space_bytes >> 20
                )),
                isolated,
            ),
            Answer::Refused { reason, isolated } => (Err(reason), isolated),
        };
        if !isolated {
            tracing::warn!(
                "validation ran without a network namespace of its own (the kernel allowed none)"
            );
        }
        return result;
    }
    Err(explain(status, &stderr, &tail, limits))
}

/// Why a child that gave no answer ended, in words a node can act on.
fn explain(
    status: std::process::ExitStatus,
    stderr: &str,
    tail: &str,
    limits: &SandboxLimits,
) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        let mib = limits.address_space_bytes >> 20;
        if out_of_memory(stderr) {
            return format!(
                "the model ran out of memory: the validator is limited to {mib} MiB of address space ({tail})"
            );
        }
        match status.signal() {
            Some(libc::SIGXCPU) => {
                return format!(
                    "the model used more than its {} s of CPU time and was stopped",
                    limits.cpu_seconds
                );
            }
            Some(libc::SIGKILL) => {
                return format!(
                    "the validator was killed (CPU-time limit of {} s, or memory): {tail}",
                    limits.cpu_seconds
                );
            }
            Some(libc::SIGABRT) => {
                return format!("the validator aborted running the model: {tail}");
            }
            Some(libc::SIGSEGV) | Some(libc::SIGBUS) => {
                return format!(
                    "the validator crashed running the model (signal {}): {tail}",
                    status.signal().unwrap_or(0)
                );
            }
            Some(sig) => return format!("the validator ended on signal {sig}: {tail}"),
            None => {}
        }
    }
    let _ = (stderr, limits);
    match status.code() {
        Some(code) => format!("the validator failed (exit {code}): {tail}"),
        None => format!("the validator failed: {tail}"),
    }
}

/// Whether a message tells of an allocation that failed (Rust's allocator, tract, mimalloc).
fn out_of_memory(message: &str) -> bool {
    [
        "memory allocation of",
        "failed to allocate",
        "out of memory",
        "unable to allocate",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// The last [`STDERR_TAIL`] bytes of `text`, on one line.
fn tail(text: &str) -> String {
    let text = text.trim();
    let start = text.len().saturating_sub(STDERR_TAIL);
    let start = (start..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    let tail = text[start..].replace('\n', " | ");
    if tail.is_empty() {
        "no message".into()
    } else {
        tail
    }
}

/// Limits and a network namespace for the child, set in the forked process before `exec`.
#[cfg(unix)]
fn confine(command: &mut tokio::process::Command, limits: &SandboxLimits) {
    let address_space = limits.address_space_bytes as libc::rlim_t;
    let cpu = limits.cpu_seconds.max(1) as libc::rlim_t;
    // SAFETY: between fork and exec only async-signal-safe calls are made (setrlimit, unshare,
    // getuid), and no memory is allocated.
    unsafe {
        command.pre_exec(move || {
            let set = |resource, soft: libc::rlim_t, hard: libc::rlim_t| {
                let limit = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            set(libc::RLIMIT_AS, address_space, address_space)?;
            // SIGXCPU at the soft limit, SIGKILL a little later.
            set(libc::RLIMIT_CPU, cpu, cpu + 5)?;
            set(libc::RLIMIT_CORE, 0, 0)?;
            // A network namespace of its own: directly where allowed (root), else inside a new
            // user namespace; where the kernel allows neither, the child says so in its answer.
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                let _ = libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET);
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn confine(_command: &mut tokio::process::Command, _limits: &SandboxLimits) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the validator executable: a shell script that ends the way `body` says.
    fn program(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("validator.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn job(dir: &Path) -> SandboxJob {
        SandboxJob {
            model: dir.join("model.onnx"),
            dataset: dir.to_path_buf(),
            shape: [1, 8, 8],
            classes: 2,
            key_id: "k".into(),
            holdout: None,
            max_model_bytes: 1 << 20,
            max_seconds: 1,
            max_activation_bytes: 1 << 20,
            batch_size: 8,
            threads: 1,
            onnxruntime: None,
        }
    }

    /// How the server reads a validator process that ends without an answer: each way of dying
    /// becomes a refusal that names it (the models that get there are in
    /// crates/archnet-cli/tests/sandbox.rs; no ONNX model is known that makes tract abort).
    #[tokio::test]
    async fn a_validator_that_dies_is_a_refusal_naming_how() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SandboxLimits {
            address_space_bytes: 1 << 30,
            cpu_seconds: 5,
            wall: Duration::from_secs(1),
        };
        let run = |body: &str| {
            let program = program(dir.path(), body);
            let job = job(dir.path());
            let dir = dir.path().to_path_buf();
            async move { run_sandboxed(&program, &job, &dir, &limits).await }
        };
        let aborted = run("echo 'fatal runtime error: something broke' >&2; kill -ABRT $$")
            .await
            .unwrap_err();
        assert!(
            aborted.starts_with("the validator aborted running the model"),
            "{aborted}"
        );
        assert!(aborted.contains("something broke"), "{aborted}");
        let oom = run("echo 'memory allocation of 4294967296 bytes failed' >&2; kill -ABRT $$")
            .await
            .unwrap_err();
        assert!(
            oom.contains("ran out of memory") && oom.contains("1024 MiB"),
            "{oom}"
        );
        let hung = run("sleep 30").await.unwrap_err();
        assert!(hung.contains("wall-clock limit of 1 s"), "{hung}");
        let failed = run("echo 'no such file' >&2; exit 3").await.unwrap_err();
        assert_eq!(failed, "the validator failed (exit 3): no such file");
        let garbled = run("echo 'not json'").await.unwrap_err();
        assert!(
            garbled.starts_with("sandbox: the validator's answer"),
            "{garbled}"
        );
    }

    #[test]
    fn a_tail_keeps_the_end_on_one_line() {
        assert_eq!(tail("a\nb\n"), "a | b");
        assert_eq!(tail(""), "no message");
        let long = "é".repeat(3000);
        assert!(tail(&long).len() <= STDERR_TAIL + 1);
    }
}
