//! Errors of the marketplace, and how the server turns them into HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// What went wrong, in terms a client can act on. The HTTP status follows from the variant.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// No token, or one the server does not know.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A valid token whose role or ownership does not allow the request.
    #[error("forbidden: {0}")]
    Forbidden(String),
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
    #[error("too many requests: {0}")]
    RateLimited(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("{0}")]
    Internal(String),
    /// The server answered a client request with an error.
    #[error("server answered {status}: {message}")]
    Remote { status: u16, message: String },
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// A local key, dataset or encryption run failed (the publisher's or the node's side).
    #[error(transparent)]
    Model(#[from] archnet_model::ModelError),
    /// A local dataset or file could not be read or written.
    #[error(transparent)]
    Data(#[from] archnet_data::DataError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = MarketError> = std::result::Result<T, E>;

impl MarketError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        MarketError::Io {
            path: path.into(),
            source,
        }
    }

    /// The HTTP status the server answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            MarketError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            MarketError::Forbidden(_) => StatusCode::FORBIDDEN,
            MarketError::NotFound(_) => StatusCode::NOT_FOUND,
            MarketError::Conflict(_) => StatusCode::CONFLICT,
            MarketError::BadRequest(_) => StatusCode::BAD_REQUEST,
            MarketError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            MarketError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            MarketError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            MarketError::Remote { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether a client should retry the same request later (the server or the network, not the
    /// request, was at fault).
    pub fn is_transient(&self) -> bool {
        match self {
            MarketError::Http(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            MarketError::Remote { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// One line naming the problem.
    pub error: String,
}

impl IntoResponse for MarketError {
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
