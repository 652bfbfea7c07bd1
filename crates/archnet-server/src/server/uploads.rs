//! Resumable, checksummed chunked uploads (dataset files from publishers, ONNX from nodes).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::body::ApiJson;
use super::{AppState, check_file_name};
use crate::error::{Result, ServerError};
use archnet_api::ErrorBody;
use archnet_api::states::UploadState;
use archnet_api::types::{CreateUploadRequest, Role, UploadStatus};

/// Header carrying a chunk's sha256 (lowercase hex).
pub use archnet_api::CHUNK_SHA256_HEADER;

/// The upload routes (under `/api/v1`); a chunk's body may be up to `chunk_limit` bytes.
pub(super) fn router(chunk_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/uploads", post(create))
        .route("/uploads/{id}", get(status))
        .route(
            "/uploads/{id}/chunks/{index}",
            put(put_chunk).layer(DefaultBodyLimit::max(chunk_limit)),
        )
        .route("/uploads/{id}/complete", post(complete))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Announces a file. Publishers upload dataset files (up to `max_file_bytes`), nodes upload
/// models (up to `max_model_bytes`).
#[utoipa::path(post, path = "/api/v1/uploads", security(("token" = [])), request_body = CreateUploadRequest,
    responses((status = 201, body = UploadStatus), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUploadRequest>,
) -> Result<(StatusCode, Json<UploadStatus>)> {
    check_file_name(&req.name)?;
    let limit = match caller.0.role {
        Role::Publisher => state.config.max_file_bytes,
        Role::Node => state.config.max_model_bytes,
        Role::Admin => return Err(ServerError::Forbidden("admins do not upload".into())),
    };
    if req.size > limit {
        return Err(ServerError::TooLarge(format!(
            "{} is {} bytes; a {} may upload at most {limit}",
            req.name, req.size, caller.0.role
        )));
    }
    if !is_sha256_hex(&req.sha256) {
        return Err(ServerError::BadRequest(
            "sha256 must be 64 lowercase hex digits".into(),
        ));
    }
    let chunk = req.chunk_size.unwrap_or(state.config.chunk_bytes);
    if chunk == 0 || chunk > state.config.max_chunk_bytes {
        return Err(ServerError::BadRequest(format!(
            "chunk_size must be between 1 and {}",
            state.config.max_chunk_bytes
        )));
    }
    let upload = state
        .db
        .create_upload(&caller.0.id, &req.name, req.size, &req.sha256, chunk)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(state.db.upload_status(&upload).await?),
    ))
}

/// An upload and the chunks received, to resume it.
#[utoipa::path(get, path = "/api/v1/uploads/{id}", security(("token" = [])),
    responses((status = 200, body = UploadStatus), (status = 404, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UploadStatus>> {
    let upload = state.db.owned_upload(&id, &caller.0.id).await?;
    Ok(Json(state.db.upload_status(&upload).await?))
}

/// One chunk, its sha256 in the `x-archnet-sha256` header. A chunk whose bytes do not match is
/// refused (400) and the client sends it again; the same chunk sent twice is accepted once.
#[utoipa::path(put, path = "/api/v1/uploads/{id}/chunks/{index}", security(("token" = [])),
    params(
        ("id" = String, Path, description = "The upload."),
        ("index" = u64, Path, description = "The chunk, from 0."),
        ("x-archnet-sha256" = String, Header, description = "sha256 of this chunk's bytes, lowercase hex.",
            pattern = r"^[0-9a-f]{64}$"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn put_chunk(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, index)): Path<(String, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode> {
    let upload = state.db.owned_upload(&id, &caller.0.id).await?;
    if upload.state != UploadState::Open {
        return Err(ServerError::Conflict(format!("upload {id} is complete")));
    }
    if index >= upload.chunk_count() {
        return Err(ServerError::NotFound(format!(
            "chunk {index} of upload {id}: it has {} chunks",
            upload.chunk_count()
        )));
    }
    let expected_len = upload.chunk_len(index);
    if body.len() as u64 != expected_len {
        return Err(ServerError::BadRequest(format!(
            "chunk {index} of upload {id} is {} bytes, expected {expected_len}",
            body.len()
        )));
    }
    let claimed = headers
        .get(CHUNK_SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ServerError::BadRequest(format!("no {CHUNK_SHA256_HEADER} header")))?;
    let actual = hex::encode(Sha256::digest(&body));
    if actual != claimed {
        return Err(ServerError::BadRequest(format!(
            "chunk {index} of upload {id} is corrupted: its sha256 is {actual}, the header says {claimed}; send it again"
        )));
    }
    state.store.put_chunk(&id, index, body).await?;
    state
        .db
        .record_chunk(&id, index, expected_len, &actual)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks that every chunk is there and that the whole file has the announced sha256.
#[utoipa::path(post, path = "/api/v1/uploads/{id}/complete", security(("token" = [])),
    responses((status = 200, body = UploadStatus), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UploadStatus>> {
    let upload = state.db.owned_upload(&id, &caller.0.id).await?;
    if upload.state == UploadState::Complete {
        return Ok(Json(state.db.upload_status(&upload).await?));
    }
    let chunks = state.db.chunks(&id).await?;
    let missing: Vec<u64> = (0..upload.chunk_count())
        .filter(|i| !chunks.iter().any(|c| c.idx as u64 == *i))
        .collect();
    if !missing.is_empty() {
        return Err(ServerError::Conflict(format!(
            "upload {id} lacks {} chunk(s), first {:?}",
            missing.len(),
            &missing[..missing.len().min(8)]
        )));
    }
    let mut hasher = Sha256::new();
    for c in &chunks {
        hasher.update(state.store.get_chunk(&id, c.idx as u64).await?);
    }
    let whole = hex::encode(hasher.finalize());
    if whole != upload.sha256 {
        return Err(ServerError::BadRequest(format!(
            "upload {id}: the file's sha256 is {whole}, announced {}; start a new upload",
            upload.sha256
        )));
    }
    state.db.mark_upload_complete(&id).await?;
    let upload = state.db.upload(&id).await?;
    Ok(Json(state.db.upload_status(&upload).await?))
}
