//! The intermediary server v0 of the paper's §2: an axum service over the database and the
//! blob store, with background loops that expire leases and validate submissions.

mod accounts;
mod auth;
mod body;
pub mod config;
pub mod dashboard;
mod leases;
pub mod metrics;
pub mod openapi;
pub mod sandbox;
mod tasks;
pub(crate) mod uploads;
mod validator;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use config::ServerConfig;
pub use uploads::CHUNK_SHA256_HEADER;

use crate::db::Db;
use crate::error::{Result, ServerError};
use crate::store::BlobStore;

/// Body limit of every JSON endpoint.
const JSON_BODY_LIMIT: usize = 1 << 20;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Where uploaded files' chunks are kept.
    pub store: BlobStore,
    /// The settings the server was started with.
    pub config: Arc<ServerConfig>,
    /// What `/metrics` tells.
    pub metrics: Arc<metrics::Metrics>,
    limiter: auth::Limiter,
    tokens: auth::TokenCache,
}

impl AppState {
    /// Opens the database (running migrations) and the blob store of `config`.
    pub async fn open(config: ServerConfig) -> Result<AppState> {
        config.check()?;
        if config.validation_onnxruntime.is_some() && config.sandbox().is_none() {
            return Err(ServerError::Config(
                "validation_onnxruntime runs untrusted models in C++, so only in the sandbox: \
                 name a sandbox_program (`archnet serve` uses its own executable)"
                    .into(),
            ));
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| ServerError::io(&config.data_dir, e))?;
        let db = Db::connect(&config.database_url()).await?;
        let store = BlobStore::open(config.store.as_deref(), &config.data_dir)?;
        Ok(AppState {
            db,
            store,
            limiter: auth::limiter(config.rate_per_second, config.rate_burst),
            tokens: auth::TokenCache::default(),
            metrics: Arc::new(metrics::Metrics::new()),
            config: Arc::new(config),
        })
    }
}

/// The HTTP routes. Chunk uploads get a body limit of one chunk; everything else 1 MiB.
pub fn router(state: AppState) -> Router {
    let chunk_limit = state.config.max_chunk_bytes as usize + 1024;
    let api = Router::new()
        .merge(accounts::router())
        .merge(uploads::router(chunk_limit))
        .merge(tasks::router())
        .merge(leases::router());
    Router::new()
        .merge(dashboard::router())
        .route("/healthz", get(accounts::healthz))
        .route("/openapi.json", get(openapi::serve))
        .nest("/api/v1", api)
        .route("/metrics", get(metrics::scrape))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::map_response(json_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Any path the server has no route for.
async fn no_route(uri: axum::http::Uri) -> ServerError {
    ServerError::NotFound(format!("no route {}", uri.path()))
}

/// Largest plain-text error body rewritten as JSON (axum's rejections are one line).
const MAX_PLAIN_ERROR: usize = 16 << 10;

/// Every error answer is `{"error": …}`, as docs/api.md promises, whoever made it: axum's own
/// extractor rejections (malformed JSON, a wrong content type, a body over its limit, a path
/// parameter that does not parse) answer in plain text, and a wrong method with an empty body
/// (and its `Allow` header, kept); all become JSON here. Body rejections
/// of well-formed JSON with the wrong fields (422) and wrong content types (415) answer 400,
/// "malformed", like every other request the server cannot read. The dashboard's pages keep
/// their HTML.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.starts_with("application/json") || kind.starts_with("text/html") {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_PLAIN_ERROR)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let status = match status {
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            StatusCode::BAD_REQUEST
        }
        other => other,
    };
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let message = if text.is_empty() {
        reason
    } else {
        format!("{reason}: {text}")
    };
    let mut answer = (
        status,
        axum::Json(archnet_api::ErrorBody { error: message }),
    )
        .into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// Serves until `shutdown` resolves, then stops taking requests, lets those in flight finish,
/// and stops the background loops. A validation cut short is taken over after a restart.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reaper = tokio::spawn(reaper_loop(state.clone(), stop_rx.clone()));
    let validators = match state.config.validators {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let validators: Vec<_> = (0..validators)
        .map(|_| tokio::spawn(validator::run(state.clone(), stop_rx.clone())))
        .collect();
    let app = router(state);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ServerError::Internal(format!("server: {e}")));
    let _ = stop_tx.send(true);
    let _ = reaper.await;
    for v in validators {
        let _ = v.await;
    }
    served
}

/// `archnet serve`: opens `config`'s state, listens on `config.listen`, logs and tells
/// `on_listening` the bound address, and serves until Ctrl-C or SIGTERM; then it finishes the
/// requests in flight and stops.
pub async fn run(
    mut config: ServerConfig,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<()> {
    if config.sandbox_program.is_none() && !config.validation_in_process {
        // This process's own executable answers `sandbox-validate` (the `archnet` binary).
        let program =
            std::env::current_exe().map_err(|e| ServerError::io("the server's executable", e))?;
        config.sandbox_program = Some(program);
    }
    let listen = config.listen;
    let state = AppState::open(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| ServerError::io(listen.to_string(), e))?;
    let address = listener
        .local_addr()
        .map_err(|e| ServerError::io(listen.to_string(), e))?;
    tracing::info!(
        %address,
        database = state.db.backend().as_str(),
        store = state.store.describe(),
        sandbox = ?state.config.sandbox_program,
        "archnet server listening"
    );
    on_listening(address);
    serve(state, listener, shutdown_signal()).await?;
    tracing::info!("archnet server stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// A server running inside this process on a free loopback port: what the tests, the load test
/// and the quickstart start. Dropping it stops the server too.
pub struct LocalServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<()>>,
}

impl LocalServer {
    /// Serves `state` on 127.0.0.1 at a port the system picks.
    pub async fn start(state: AppState) -> Result<LocalServer> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ServerError::io("127.0.0.1:0", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| ServerError::io("127.0.0.1:0", e))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // A dropped sender ends the wait as a sent one does.
        let handle = tokio::spawn(serve(state, listener, async {
            let _ = stopped.await;
        }));
        Ok(LocalServer {
            url: format!("http://{address}"),
            stop,
            handle,
        })
    }

    /// Stops taking requests and waits for the server and its background loops to finish.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.handle
            .await
            .map_err(|e| ServerError::Internal(format!("server task: {e}")))?
    }
}

/// Expires leases, fails overdue tasks and settles closed contests, every `reaper_interval_ms`.
async fn reaper_loop(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = Duration::from_millis(state.config.reaper_interval_ms.max(10));
    loop {
        if let Err(e) = state.db.expire_leases().await {
            tracing::warn!("expiring leases: {e}");
        }
        if let Err(e) = state.db.fail_overdue_tasks().await {
            tracing::warn!("failing overdue tasks: {e}");
        }
        match state.db.settle_contests().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(contests = n, "contests settled"),
            Err(e) => tracing::warn!("settling contests: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// [`archnet_api::check_file_name`], as a bad request.
pub(crate) fn check_file_name(name: &str) -> Result<()> {
    archnet_api::check_file_name(name).map_err(ServerError::BadRequest)
}
