//! Tasks: publishing, status, and delivery of the accepted model to its publisher.

use axum::Router;
use axum::routing::{get, post};
use std::collections::BTreeMap;

use archnet_data::encrypted::{MANIFEST_FILE, Manifest};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures::StreamExt;

use super::AppState;
use super::auth::Caller;
use super::body::ApiJson;
use crate::db::{
    Account, Db, NewAudit, NewContest, NewTask, SubmissionRow, TaskRow, UploadRow, now_ms,
};
use crate::error::{Result, ServerError};
use crate::timing::task_timing;
use archnet_api::ErrorBody;
use archnet_api::states::TaskMode;
use archnet_api::states::{SubmissionState, TaskState, UploadState};
use archnet_api::types::{
    ContestInfo, CreateTaskRequest, DeliveryReport, FileRef, Leaderboard, LeaderboardEntry, Role,
    TaskInfo,
};
use archnet_data::holdout::Holdout;

/// The task routes (under `/api/v1`): open, list, show, fetch the model, report delivery.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/tasks", post(create).get(list))
        .route("/tasks/{id}", get(show))
        .route("/tasks/{id}/model", get(model))
        .route("/tasks/{id}/delivery", post(delivery))
        .route("/tasks/{id}/leaderboard", get(leaderboard))
}

/// Nodes that may hold a lease on a contest at once, unless the publisher says otherwise.
pub const DEFAULT_MAX_NODES: u32 = 8;
/// Submissions one node may make to a contest, unless the publisher says otherwise.
pub const DEFAULT_SUBMISSION_LIMIT: u32 = 3;
/// The most nodes and submissions a contest may allow.
const MAX_CONTEST_SLOTS: u32 = 1000;

/// Files per split accepted in one task.
const MAX_FILES: usize = 10_000;
/// Largest manifest read.
const MAX_MANIFEST_BYTES: i64 = 4 << 20;

/// Checks one split's files: completed uploads of the caller, plain names, a manifest naming
/// exactly `split` whose shards are the other files with matching sizes and checksums.
async fn check_split(
    state: &AppState,
    owner: &str,
    split: &str,
    files: &[FileRef],
) -> Result<Manifest> {
    let bad = |m: String| ServerError::BadRequest(format!("{split} files: {m}"));
    if files.is_empty() || files.len() > MAX_FILES {
        return Err(bad(format!("expected 1 to {MAX_FILES} files")));
    }
    // By name: the manifest and every shard are looked up in it.
    let mut uploads: BTreeMap<&str, UploadRow> = BTreeMap::new();
    for f in files {
        super::check_file_name(&f.name)?;
        let upload = state.db.owned_upload(&f.upload_id, owner).await?;
        if upload.state != UploadState::Complete {
            return Err(ServerError::Conflict(format!(
                "{split} files: upload {} ({}) is not complete",
                f.upload_id, f.name
            )));
        }
        if uploads.insert(&f.name, upload).is_some() {
            return Err(bad(format!("{} is listed twice", f.name)));
        }
    }
    let manifest_upload = uploads
        .get(MANIFEST_FILE)
        .ok_or_else(|| bad(format!("no {MANIFEST_FILE}")))?;
    if manifest_upload.size > MAX_MANIFEST_BYTES {
        return Err(bad(format!(
            "{MANIFEST_FILE} is over {MAX_MANIFEST_BYTES} bytes"
        )));
    }
    let manifest: Manifest = serde_json::from_slice(
        &state
            .store
            .read_all(&manifest_upload.id, manifest_upload.chunk_count())
            .await?,
    )
    .map_err(|e| bad(format!("{MANIFEST_FILE}: {e}")))?;
    manifest
        .check(std::path::Path::new(MANIFEST_FILE))
        .map_err(|e| bad(e.to_string()))?;
    if manifest.splits.len() != 1 || !manifest.splits.contains_key(split) {
        return Err(bad(format!(
            "{MANIFEST_FILE} must name the `{split}` split alone, it names {:?}",
            manifest.splits.keys().collect::<Vec<_>>()
        )));
    }
    let shards = &manifest.splits[split].shards;
    if shards.len() + 1 != uploads.len() {
        return Err(bad(format!(
            "{MANIFEST_FILE} lists {} shard(s), {} other file(s) were given",
            shards.len(),
            uploads.len() - 1
        )));
    }
    for shard in shards {
        let upload = uploads
            .get(shard.file.as_str())
            .ok_or_else(|| bad(format!("shard {} is missing", shard.file)))?;
        if upload.size as u64 != shard.bytes || upload.sha256 != shard.sha256 {
            return Err(bad(format!(
                "shard {} does not match its manifest entry (size or sha256)",
                shard.file
            )));
        }
    }
    if manifest.class_names.len() < 2 {
        return Err(bad(
            "a classification task needs at least two classes".into()
        ));
    }
    Ok(manifest)
}

/// Opens a task over uploaded train and validation splits, holding the fee in escrow.
#[utoipa::path(post, path = "/api/v1/tasks", security(("token" = [])), request_body = CreateTaskRequest,
    responses((status = 201, body = TaskInfo), (status = 400, body = ErrorBody), (status = 402, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTaskRequest>,
) -> Result<(StatusCode, Json<TaskInfo>)> {
    let account = caller.require(Role::Publisher)?;
    if req.fee <= 0 {
        return Err(ServerError::BadRequest("the fee must be positive".into()));
    }
    if !(req.min_accuracy > 0.0 && req.min_accuracy <= 1.0) {
        return Err(ServerError::BadRequest(
            "min_accuracy must be in (0, 1]".into(),
        ));
    }
    if req.name.is_empty() || req.name.chars().count() > 200 {
        return Err(ServerError::BadRequest(
            "the name must be 1-200 characters".into(),
        ));
    }
    let contest_rules = contest_rules(&req)?;
    let train = check_split(&state, &account.id, "train", &req.train_files).await?;
    let validation = check_split(&state, &account.id, "validation", &req.validation_files).await?;
    if train.key_id != validation.key_id
        || train.sample_shape != validation.sample_shape
        || train.class_names != validation.class_names
    {
        return Err(ServerError::BadRequest(
            "the train and validation manifests differ in key, sample shape or classes".into(),
        ));
    }
    let validation_samples = validation.splits["validation"].count as u64;
    let contest = contest_rules.map(|(max_nodes, submission_limit)| NewContest {
        max_nodes,
        submission_limit,
        holdout_seed: rand::random(),
        public_samples: Holdout::public_count(
            validation_samples as usize,
            Holdout::DEFAULT_PUBLIC_SHARE,
        ) as u64,
    });
    if contest.is_some() && validation_samples < 2 {
        return Err(ServerError::BadRequest(
            "a contest needs at least two validation samples (a public and a private part)".into(),
        ));
    }
    let audit = check_audit(&state, &account.id, &req, &train.key_id).await?;
    let task = NewTask {
        publisher: account.id.clone(),
        name: req.name.clone(),
        fee: req.fee,
        min_accuracy: req.min_accuracy,
        max_attempts: req.max_attempts.unwrap_or(state.config.max_attempts).max(1),
        deadline_ms: req.deadline_s.map(|s| now_ms() + 1000 * s as i64),
        requirements: req.requirements.clone(),
        key_id: train.key_id.clone(),
        sample_shape: train.sample_shape,
        class_names: train.class_names.clone(),
        train_samples: train.splits["train"].count as u64,
        validation_samples,
        contest,
        train_files: req.train_files.clone(),
        validation_files: req.validation_files.clone(),
        t1_ms: req.t1_ms,
        upload_ms: req.upload_ms,
        audit,
    };
    let id = state.db.create_task(&task).await?;
    tracing::info!(task = %id, fee = req.fee, "task opened");
    let row = state.db.task(&id).await?;
    Ok((StatusCode::CREATED, Json(task_info(&state.db, &row).await?)))
}

/// Largest audit picture accepted.
const MAX_AUDIT_PICTURE_BYTES: i64 = 8 << 20;
/// What every PNG file starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The task's audit, checked: sane numbers, of the key that encrypted the dataset, and a picture that is a completed PNG upload of the
/// caller's, at most [`MAX_AUDIT_PICTURE_BYTES`].
async fn check_audit(
    state: &AppState,
    owner: &str,
    req: &CreateTaskRequest,
    key_id: &str,
) -> Result<Option<NewAudit>> {
    let bad = |m: String| Err(ServerError::BadRequest(m));
    let Some(summary) = &req.audit else {
        return match req.audit_picture {
            Some(_) => bad("audit_picture needs the audit's numbers (audit)".into()),
            None => Ok(None),
        };
    };
    if let Some(problem) = summary.problem() {
        return bad(problem);
    }
    if summary.key_id != key_id {
        return bad(format!(
            "audit: it audits key {}, the dataset was encrypted with key {key_id}",
            summary.key_id
        ));
    }
    let picture_upload = match &req.audit_picture {
        None => None,
        Some(id) => {
            let upload = state.db.owned_upload(id, owner).await?;
            if upload.state != UploadState::Complete {
                return Err(ServerError::Conflict(format!(
                    "audit_picture: upload {id} is not complete"
                )));
            }
            if upload.size > MAX_AUDIT_PICTURE_BYTES {
                return bad(format!(
                    "audit_picture: upload {id} is over {MAX_AUDIT_PICTURE_BYTES} bytes"
                ));
            }
            let png = upload.size >= PNG_SIGNATURE.len() as i64
                && state
                    .store
                    .get_chunk(&upload.id, 0)
                    .await?
                    .starts_with(PNG_SIGNATURE);
            if !png {
                return bad(format!("audit_picture: upload {id} is not a PNG"));
            }
            Some(upload.id)
        }
    };
    Ok(Some(NewAudit {
        summary: summary.clone(),
        picture_upload,
    }))
}

/// A contest's `(max_nodes, submission_limit)`, checked; `None` for a first-model task, which
/// takes neither.
fn contest_rules(req: &CreateTaskRequest) -> Result<Option<(u32, u32)>> {
    let bad = |m: &str| Err(ServerError::BadRequest(m.into()));
    match req.mode {
        TaskMode::First => {
            if req.max_nodes.is_some() || req.submission_limit.is_some() {
                return bad("max_nodes and submission_limit are for contests (mode `contest`)");
            }
            Ok(None)
        }
        TaskMode::Contest => {
            if req.deadline_s.is_none_or(|d| d == 0) {
                return bad("a contest needs a deadline (deadline_s), when it is settled");
            }
            let max_nodes = req.max_nodes.unwrap_or(DEFAULT_MAX_NODES);
            let limit = req.submission_limit.unwrap_or(DEFAULT_SUBMISSION_LIMIT);
            if !(1..=MAX_CONTEST_SLOTS).contains(&max_nodes)
                || !(1..=MAX_CONTEST_SLOTS).contains(&limit)
            {
                return bad("max_nodes and submission_limit must be 1-1000");
            }
            Ok(Some((max_nodes, limit)))
        }
    }
}

/// Everything about a task as its owner sees it.
pub(crate) async fn task_info(db: &Db, task: &TaskRow) -> Result<TaskInfo> {
    let leases = db.task_leases(&task.id).await?;
    let submissions = db.task_submissions(&task.id).await?;
    let accepted = submissions
        .iter()
        .find(|s| s.state == SubmissionState::Accepted);
    let timing = task_timing(task, accepted, &leases);
    let audit = db.task_audit(&task.id).await?;
    let mut lease_infos = Vec::with_capacity(leases.len());
    for lease in leases {
        let name = db.account_name(&lease.node).await?;
        lease_infos.push(lease.info(name));
    }
    Ok(TaskInfo {
        id: task.id.clone(),
        name: task.name.clone(),
        publisher: task.publisher.clone(),
        state: task.state,
        mode: task.mode,
        contest: (task.mode == TaskMode::Contest).then(|| ContestInfo {
            max_nodes: task.max_nodes as u32,
            submission_limit: task.submission_limit.unwrap_or(1) as u32,
            public_samples: task.public_samples.unwrap_or(0) as u64,
            private_samples: (task.validation_samples - task.public_samples.unwrap_or(0)) as u64,
            settled_ms: task.settled_ms,
        }),
        deadline_ms: task.deadline_ms,
        fee: task.fee,
        min_accuracy: task.min_accuracy,
        attempts: task.attempts as u32,
        max_attempts: task.max_attempts as u32,
        requirements: task.requirements(),
        key_id: task.key_id.clone(),
        sample_shape: task.sample_shape()?,
        class_names: task.class_names()?,
        train_samples: task.train_samples as u64,
        validation_samples: task.validation_samples as u64,
        created_ms: task.created_ms,
        completed_ms: task.completed_ms,
        delivered_ms: task.delivered_ms,
        failure: task.failure.clone(),
        accepted_submission: task.accepted_submission.clone(),
        leases: lease_infos,
        submissions: submissions.iter().map(|s| s.info()).collect(),
        timing,
        audit_picture: audit.as_ref().is_some_and(|a| a.1.is_some()),
        audit: audit.map(|a| a.0),
    })
}

/// The task `id` if the caller owns it (or is an admin); others get 404.
pub(crate) async fn owned_task(db: &Db, id: &str, caller: &Account) -> Result<TaskRow> {
    let task = db.task(id).await?;
    if task.publisher != caller.id && caller.role != Role::Admin {
        return Err(ServerError::NotFound(format!("task {id}")));
    }
    Ok(task)
}

/// The caller's tasks (an admin sees all), newest first.
#[utoipa::path(get, path = "/api/v1/tasks", security(("token" = [])),
    responses((status = 200, body = Vec<TaskInfo>), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<TaskInfo>>> {
    let rows = match caller.0.role {
        Role::Admin => state.db.tasks(None).await?,
        Role::Publisher => state.db.tasks(Some(&caller.0.id)).await?,
        Role::Node => {
            return Err(ServerError::Forbidden(
                "nodes lease tasks; they do not list them".into(),
            ));
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(task_info(&state.db, row).await?);
    }
    Ok(Json(out))
}

/// One task: state, leases, submissions with their validation reports, and the t0 breakdown.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", security(("token" = [])),
    responses((status = 200, body = TaskInfo), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TaskInfo>> {
    let task = owned_task(&state.db, &id, &caller.0).await?;
    Ok(Json(task_info(&state.db, &task).await?))
}

/// The accepted ONNX model of a completed task, streamed to its publisher.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/model", security(("token" = [])),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn model(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let task = owned_task(&state.db, &id, &caller.0).await?;
    let submission_id = match (task.state, &task.accepted_submission) {
        (TaskState::Completed, Some(s)) => s.clone(),
        _ => {
            return Err(ServerError::Conflict(format!(
                "task {id} is {}; there is no accepted model yet",
                task.state
            )));
        }
    };
    let submission = state.db.submission(&submission_id).await?;
    let upload = state.db.upload(&submission.upload_id).await?;
    let store = state.store.clone();
    let upload_id = upload.id.clone();
    let chunks = futures::stream::iter(0..upload.chunk_count()).then(move |i| {
        let store = store.clone();
        let upload_id = upload_id.clone();
        async move { store.get_chunk(&upload_id, i).await }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, upload.size)
        .header(super::CHUNK_SHA256_HEADER, &upload.sha256)
        .body(Body::from_stream(chunks))
        .map_err(|e| ServerError::Internal(e.to_string()))
}

/// A task's submissions, ranked: public-part accuracy as soon as each is validated, the
/// private part's (and the final ranks) once the contest is settled. The publisher and admins
/// see any task's; every node sees a contest's, as it competes in it.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/leaderboard", security(("token" = [])),
    responses((status = 200, body = Leaderboard), (status = 404, body = ErrorBody)))]
pub async fn leaderboard(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Leaderboard>> {
    let task = state.db.task(&id).await?;
    let visible = task.publisher == caller.0.id
        || caller.0.role == Role::Admin
        || (caller.0.role == Role::Node && task.mode == TaskMode::Contest);
    if !visible {
        return Err(ServerError::NotFound(format!("task {id}")));
    }
    let submissions = state.db.task_submissions(&task.id).await?;
    let mut names = BTreeMap::new();
    for s in &submissions {
        if !names.contains_key(&s.node) {
            names.insert(s.node.clone(), state.db.account_name(&s.node).await?);
        }
    }
    Ok(Json(rank(&task, &submissions, &names)))
}

/// The leaderboard of `task` over its `submissions` (`names`: node account id → name).
pub(crate) fn rank(
    task: &TaskRow,
    submissions: &[SubmissionRow],
    names: &BTreeMap<String, String>,
) -> Leaderboard {
    let contest = task.mode == TaskMode::Contest;
    let settled = task.settled_ms.is_some();
    let entry = |s: &SubmissionRow| LeaderboardEntry {
        rank: None,
        submission_id: s.id.clone(),
        node_name: names.get(&s.node).cloned().unwrap_or_default(),
        state: s.state,
        public_accuracy: if contest {
            s.public_accuracy
        } else {
            s.accuracy
        },
        private_accuracy: s.private_accuracy.filter(|_| settled),
        submitted_ms: s.created_ms,
    };
    // (score, time) of the submissions that ran: private after settlement, public before.
    let score = |s: &SubmissionRow| match (contest, settled) {
        (true, true) => s.private_accuracy,
        (true, false) => s.public_accuracy,
        (false, _) => s.accuracy,
    };
    let mut ran: Vec<&SubmissionRow> = submissions.iter().filter(|s| score(s).is_some()).collect();
    ran.sort_by(|a, b| {
        score(b)
            .partial_cmp(&score(a))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.created_ms.cmp(&b.created_ms))
            .then(a.id.cmp(&b.id))
    });
    let mut entries: Vec<LeaderboardEntry> = ran
        .iter()
        .enumerate()
        .map(|(i, s)| LeaderboardEntry {
            // A settled contest's stored rank is the one it was paid by.
            rank: Some(s.final_rank.map_or(i as u32 + 1, |r| r as u32)),
            ..entry(s)
        })
        .collect();
    entries.extend(submissions.iter().filter(|s| score(s).is_none()).map(entry));
    Leaderboard {
        task_id: task.id.clone(),
        task_name: task.name.clone(),
        mode: task.mode,
        state: task.state,
        min_accuracy: task.min_accuracy,
        deadline_ms: task.deadline_ms,
        settled,
        entries,
    }
}

/// The publisher reports how long fetching the model took (the server → publisher leg of t2).
#[utoipa::path(post, path = "/api/v1/tasks/{id}/delivery", security(("token" = [])), request_body = DeliveryReport,
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(report): ApiJson<DeliveryReport>,
) -> Result<StatusCode> {
    let task = owned_task(&state.db, &id, &caller.0).await?;
    state
        .db
        .record_delivery(&task.id, report.download_ms)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
