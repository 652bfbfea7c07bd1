//! What compute nodes do: lease a task, keep the lease alive, download the training split,
//! hand in a model.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::auth::Caller;
use super::body::ApiJson;
use super::{AppState, check_file_name};
use crate::error::{Result, ServerError};
use archnet_api::ErrorBody;
use archnet_api::states::UploadState;
use archnet_api::types::{
    DatasetListing, FileListing, HeartbeatResponse, LeaseGrant, LeaseRequest, Role, SubmissionInfo,
    SubmitRequest,
};

/// The lease routes (under `/api/v1`): the node's side of a task.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/leases", post(lease))
        .route("/leases/{id}/heartbeat", post(heartbeat))
        .route("/leases/{id}/files", get(files))
        .route("/leases/{id}/files/{name}/chunks/{index}", get(chunk))
        .route("/leases/{id}/submission", post(submit).get(submission))
}

/// Leases the oldest queued task whose requirements the node meets; 204 when there is none.
#[utoipa::path(post, path = "/api/v1/leases", security(("token" = [])), request_body = LeaseRequest,
    responses((status = 200, body = LeaseGrant), (status = 204, description = "no task for this node now"), (status = 403, body = ErrorBody)))]
pub async fn lease(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<LeaseRequest>,
) -> Result<Response> {
    let node = caller.require(Role::Node)?;
    let ttl = state.config.lease_ttl();
    let Some((lease, task)) = state
        .db
        .lease_task(&node.id, &req.capabilities, ttl.as_millis() as i64)
        .await?
    else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    tracing::info!(lease = %lease.id, task = %task.id, node = %node.name, "task leased");
    let submissions_left = state.db.submissions_left(&task, &node.id).await?;
    Ok(Json(LeaseGrant {
        lease_id: lease.id,
        task_id: task.id.clone(),
        task_name: task.name.clone(),
        fee: task.fee,
        min_accuracy: task.min_accuracy,
        key_id: task.key_id.clone(),
        sample_shape: task.sample_shape()?,
        class_names: task.class_names()?,
        train_samples: task.train_samples as u64,
        mode: task.mode,
        deadline_ms: task.deadline_ms,
        submissions_left,
        expires_ms: lease.expires_ms,
        heartbeat_ms: (ttl.as_millis() / 4) as u64,
    })
    .into_response())
}

/// Renews a lease; 409 once it has expired (the task went back to the queue).
#[utoipa::path(post, path = "/api/v1/leases/{id}/heartbeat", security(("token" = [])),
    responses((status = 200, body = HeartbeatResponse), (status = 409, body = ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<HeartbeatResponse>> {
    let node = caller.require(Role::Node)?;
    let ttl = state.config.lease_ttl().as_millis() as i64;
    let expires_ms = state.db.heartbeat(&id, &node.id, ttl).await?;
    Ok(Json(HeartbeatResponse { expires_ms }))
}

/// The training split of the leased task, file by file and chunk by chunk.
#[utoipa::path(get, path = "/api/v1/leases/{id}/files", security(("token" = [])),
    responses((status = 200, body = DatasetListing), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn files(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DatasetListing>> {
    let node = caller.require(Role::Node)?;
    let lease = state.db.active_lease(&id, &node.id).await?;
    let mut files = Vec::new();
    for f in state.db.task_files(&lease.task_id, "train").await? {
        let upload = state.db.upload(&f.upload_id).await?;
        let chunks = state.db.chunks(&upload.id).await?;
        files.push(FileListing {
            name: f.name,
            size: upload.size as u64,
            sha256: upload.sha256,
            chunks: chunks.into_iter().map(Into::into).collect(),
        });
    }
    Ok(Json(DatasetListing { files }))
}

/// One chunk of a training file. Only the training split of a task the node holds an active
/// lease on is served; validation files are refused with 403.
#[utoipa::path(get, path = "/api/v1/leases/{id}/files/{name}/chunks/{index}", security(("token" = [])),
    params(
        ("id" = String, Path, description = "The lease."),
        ("name" = String, Path, description = "A file of the training split (a plain name).",
            pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$"),
        ("index" = u64, Path, description = "The chunk, from 0."),
    ),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn chunk(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name, index)): Path<(String, String, u64)>,
) -> Result<Bytes> {
    let node = caller.require(Role::Node)?;
    check_file_name(&name)?;
    let lease = state.db.active_lease(&id, &node.id).await?;
    let train = state.db.task_files(&lease.task_id, "train").await?;
    let Some(file) = train.into_iter().find(|f| f.name == name) else {
        let validation = state.db.task_files(&lease.task_id, "validation").await?;
        if validation.iter().any(|f| f.name == name) {
            tracing::warn!(node = %node.name, lease = %id, file = %name, "a node asked for validation data");
            return Err(ServerError::Forbidden(
                "validation data is never served to nodes".into(),
            ));
        }
        return Err(ServerError::NotFound(format!("file {name}")));
    };
    let upload = state.db.upload(&file.upload_id).await?;
    if index >= upload.chunk_count() {
        return Err(ServerError::NotFound(format!("chunk {index} of {name}")));
    }
    state.store.get_chunk(&upload.id, index).await
}

/// Hands in a model (a completed ONNX upload) under an active lease. One submission per lease:
/// a replay is refused with 409. Validation runs in the background; poll the submission.
#[utoipa::path(post, path = "/api/v1/leases/{id}/submission", security(("token" = [])), request_body = SubmitRequest,
    responses((status = 202, body = SubmissionInfo), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SubmitRequest>,
) -> Result<(StatusCode, Json<SubmissionInfo>)> {
    let node = caller.require(Role::Node)?;
    let upload = state.db.owned_upload(&req.upload_id, &node.id).await?;
    if upload.state != UploadState::Complete {
        return Err(ServerError::BadRequest(format!(
            "upload {} is not complete",
            upload.id
        )));
    }
    let submission = state.db.submit(&id, &node.id, &req).await?;
    tracing::info!(submission = %submission.id, lease = %id, node = %node.name, "model submitted");
    let task = state.db.task(&submission.task_id).await?;
    Ok((StatusCode::ACCEPTED, Json(submission.info_for_node(&task))))
}

/// The submission handed in under a lease, with its validation result once there is one.
#[utoipa::path(get, path = "/api/v1/leases/{id}/submission", security(("token" = [])),
    responses((status = 200, body = SubmissionInfo), (status = 404, body = ErrorBody)))]
pub async fn submission(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SubmissionInfo>> {
    let node = caller.require(Role::Node)?;
    let lease = state.db.lease(&id).await?;
    if lease.node != node.id {
        return Err(ServerError::NotFound(format!("lease {id}")));
    }
    let submission = state
        .db
        .lease_submission(&id)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("no submission under lease {id}")))?;
    let task = state.db.task(&submission.task_id).await?;
    Ok(Json(submission.info_for_node(&task)))
}
