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
        AuditSummary, AuditAttack, AuditGuarantee,
    )),
    modifiers(&BearerToken, &ErrorAnswers)
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

/// Declares on every operation the error answers that any request of its kind may get, beside
/// the ones its handler names: 401, 403 and 429 wherever a token is needed (no or an unknown
/// token; a role that may not; over the token's rate), 400 wherever the request carries a body
/// or parameters (it may not parse), 404 wherever it names a resource in its path, 413 wherever
/// it carries a body (over the limit). Each is an `ErrorBody`.
struct ErrorAnswers;

impl Modify for ErrorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let answer = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let body = op.request_body.is_some();
                let params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut wanted = Vec::new();
                if secured {
                    wanted.push(("401", "no token, or one the server does not know"));
                    wanted.push(("403", "the token's role may not do this"));
                    wanted.push(("429", "over the token's request rate; retry later"));
                }
                if body || params {
                    wanted.push(("400", "malformed: a body or parameter that does not parse, or a value out of range"));
                }
                if params {
                    wanted.push(("404", "no such resource, or not the caller's"));
                }
                if body {
                    wanted.push(("413", "the body is over its size limit"));
                }
                for (status, what) in wanted {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| answer(what).into());
                }
            }
        }
    }
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn document() -> String {
    let mut doc = ApiDoc::openapi();
    // The crate version would make the committed file change with every release bump.
    doc.info.version = "v1".into();
    let mut value = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
    bound_integers(&mut value);
    serde_json::to_string_pretty(&value).expect("the OpenAPI document serialises")
}

/// Gives every integer schema the range the server takes, which utoipa leaves out: `int32`
/// with `minimum: 0` is a `u32` (its format goes, since `int32` would mean at most 2^31 − 1),
/// other `int32` an `i32`, and every `int64` at most `i64::MAX` (the database's integers; the
/// body extractor refuses larger ones). A client (or a test generator) then knows what is
/// refused before sending it.
fn bound_integers(value: &mut serde_json::Value) {
    use serde_json::{Value, json};
    match value {
        Value::Object(fields) => {
            let integer = match fields.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
                _ => false,
            };
            if integer && !fields.contains_key("maximum") {
                let unsigned = fields.get("minimum").and_then(Value::as_f64) == Some(0.0);
                let maximum = match (fields.get("format").and_then(Value::as_str), unsigned) {
                    (Some("int32"), true) => Some(json!(u32::MAX)),
                    (Some("int32"), false) => Some(json!(i32::MAX)),
                    (Some("int64"), _) => Some(json!(i64::MAX)),
                    _ => None,
                };
                if let Some(maximum) = maximum {
                    if unsigned && fields.get("format").and_then(Value::as_str) == Some("int32") {
                        fields.remove("format");
                    }
                    fields.insert("maximum".into(), maximum);
                    if !unsigned && !fields.contains_key("minimum") {
                        let minimum = match fields.get("format").and_then(Value::as_str) {
                            Some("int32") => json!(i32::MIN),
                            _ => json!(i64::MIN),
                        };
                        fields.insert("minimum".into(), minimum);
                    }
                }
            }
            fields.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// `GET /api/v1/openapi.json`: the document.
pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::from_str(&document()).expect("valid JSON"))
}
