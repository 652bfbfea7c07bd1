//! The server's errors, and the one place they become HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use archnet_api::ErrorBody;

/// What went wrong, in terms a client can act on. The HTTP status follows from the variant.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No token, or one the server does not know.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A valid token whose role or ownership does not allow the request.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The named account, upload, task, lease or submission does not exist (for this caller).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request contradicts the current state (an expired lease, a replayed submission, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request is malformed or its values are out of range.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A body, upload or model over the configured limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Not enough balance to escrow a fee.
    #[error("payment required: {0}")]
    PaymentRequired(String),
    /// The token sent more requests than its rate allows.
    #[error("too many requests: {0}")]
    RateLimited(String),
    /// The settings are contradictory or out of range (named in the message).
    #[error("settings: {0}")]
    Config(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations could not be applied.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The blob store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A stored dataset could not be read.
    #[error(transparent)]
    Data(#[from] archnet_data::DataError),
    /// A file or socket of the server's own failed.
    #[error("{path}: {source}")]
    Io {
        /// The file, folder or address.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A broken invariant of the server's own state (named in the message).
    #[error("{0}")]
    Internal(String),
}

/// The server's result type.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

impl ServerError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        ServerError::Io {
            path: path.into(),
            source,
        }
    }

    /// The HTTP status the server answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Conflict(_) => StatusCode::CONFLICT,
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            ServerError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            // The detail goes to the operator's log, not to the client.
            tracing::error!("{self}");
            "internal error (see the server log)".to_string()
        } else {
            self.to_string()
        };
        (status, axum::Json(ErrorBody { error: message })).into_response()
    }
}
