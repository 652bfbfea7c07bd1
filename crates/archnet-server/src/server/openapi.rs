//! The OpenAPI document, generated from the handlers' annotations and the types in
//! [`archnet_api::types`]. Served at `/openapi.json`; committed as `docs/openapi.json` (a test keeps
//! the two equal).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{accounts, leases, tasks, uploads};
use archnet_api::ErrorBody;
use archnet_api::types::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "archnet marketplace",
        description = "Publishers post encrypted datasets as paid training tasks; compute nodes lease them, train on ciphertexts and hand back ONNX; the server validates on a split nodes never see, pays the node and delivers the model. Every /api/v1 endpoint needs `Authorization: Bearer TOKEN`."
    ),
    paths(
        accounts::healthz, accounts::me, accounts::create, accounts::balance, accounts::ledger,
        uploads::create, uploads::status, uploads::put_chunk, uploads::complete,
        tasks::create, tasks::list, tasks::show, tasks::model, tasks::delivery, tasks::leaderboard,
        leases::lease, leases::heartbeat, leases::files, leases::chunk, leases::submit, leases::submission,
    ),
    components(schemas(
        ErrorBody, Role, AccountInfo, CreateAccountRequest, CreatedAccount, CreateUploadRequest,
        UploadStatus, Requirements, Capabilities, FileRef, CreateTaskRequest, LeaseInfo,
        SubmissionInfo, ValidationReport, ValidationRun, UploadState, TaskState, LeaseState,
        SubmissionState, Timing, TaskInfo, LeaseRequest, LeaseGrant, HeartbeatResponse, ChunkInfo,
        FileListing, DatasetListing, SubmitRequest, DeliveryReport, Balance, LedgerEntry, Health,
        TaskMode, ContestInfo, HoldoutScores, PartScore, Leaderboard, LeaderboardEntry,
    )),
    modifiers(&BearerToken)
)]
/// The OpenAPI document of every route and type of the API.
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn document() -> String {
    let mut doc = ApiDoc::openapi();
    // The crate version would make the committed file change with every release bump.
    doc.info.version = "v1".into();
    doc.to_pretty_json()
        .expect("the OpenAPI document serialises")
}

/// `GET /api/v1/openapi.json`: the document.
pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::from_str(&document()).expect("valid JSON"))
}
