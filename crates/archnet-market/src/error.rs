//! The clients' errors: the publisher's, the node's, the admin's and the load test's. The
//! server's own errors are [`archnet_server::ServerError`]; a client sees them as
//! [`ClientError::Remote`], with the status and the server's one-line message.

/// What went wrong on the client's side of the marketplace.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL given is not an `http://` or `https://` URL.
    #[error("server URL `{0}`: expected http://HOST:PORT or https://…")]
    BadUrl(String),
    /// An account was to be made through a server without an admin token.
    #[error(
        "give --data-dir or --database to write the database directly, or --token with an admin token"
    )]
    NoAdminToken,
    /// The server answered a request with an error.
    #[error("server answered {status}: {message}")]
    Remote {
        /// The HTTP status.
        status: u16,
        /// The server's one line naming the problem.
        message: String,
    },
    /// The request did not reach the server, or its answer did not come back.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// A download whose SHA-256 is not the one the server announced.
    #[error("{0}")]
    Corrupted(String),
    /// The sandboxed validator refused a model or could not run it (the reason it gave).
    #[error("sandboxed validation: {0}")]
    Validation(String),
    /// Options that cannot work together (the load test's replicas without PostgreSQL, …).
    #[error("{0}")]
    Options(String),
    /// The task is not in a state that allows the request yet (no accepted model, …).
    #[error("{0}")]
    NotReady(String),
    /// The publisher's data does not fit the key or the task (shape, labels, too few images).
    #[error("{path}: {reason}")]
    Unfit {
        /// The dataset.
        path: std::path::PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// A work folder's state file could not be parsed (delete the folder to start over).
    #[error("{path}: {source}")]
    State {
        /// The state file.
        path: std::path::PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The node's external trainer failed or wrote no model.
    #[error("the trainer `{command}` {failure}")]
    Trainer {
        /// The command line.
        command: String,
        /// What went wrong (`exited with …`, `wrote no FILE`, `could not start: …`).
        failure: String,
    },
    /// A blocking job (training, encryption, export) panicked or was cancelled.
    #[error("{what} stopped: {source}")]
    Stopped {
        /// The job.
        what: &'static str,
        /// How it stopped.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A local key, dataset, training run or audit failed (the publisher's or the node's side).
    #[error(transparent)]
    Model(#[from] archnet_model::ModelError),
    /// The leakage audit could not run or write its results.
    #[error(transparent)]
    Lab(#[from] archnet_lab::LabError),
    /// A model could not be exported to ONNX.
    #[error(transparent)]
    Onnx(#[from] archnet_onnx::OnnxError),
    /// A trained model could not be exported or a delivered one run (key, model, data).
    #[error(transparent)]
    HandOff(#[from] archnet_onnx::HandOffError),
    /// A local dataset or file could not be read or written.
    #[error(transparent)]
    Data(#[from] archnet_data::DataError),
    /// A server started in-process (the load test, the test kit) failed.
    #[error(transparent)]
    Server(#[from] archnet_server::ServerError),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// The clients' result type.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.into(),
            source,
        }
    }

    /// The HTTP status of an error answer, if the server gave one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Remote { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether a client should retry the same request later (the server or the network, not the
    /// request, was at fault).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Http(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            ClientError::Remote { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
