//! `GET /metrics` for operators, in Prometheus' text format, for admin tokens only (a scrape
//! job sends one as `Authorization: Bearer …`).
//!
//! Two kinds of series. Read from the shared database at each scrape, alike on every replica
//! (scrape one, or take the max across replicas): tasks and leases by state, leases granted and
//! expired, validations by verdict, payments and refunds. Kept by this process since it started
//! (per replica; sum across replicas): how long validations took, and request latency by route,
//! method and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::AppState;
use super::auth::Caller;
use crate::error::{Result, ServerError};
use archnet_api::types::Role;

/// The series of one server process.
pub struct Metrics {
    registry: Registry,
    tasks: IntGaugeVec,
    leases: IntGaugeVec,
    leases_granted: IntGauge,
    leases_expired: IntGauge,
    validations: IntGaugeVec,
    payments: IntGauge,
    refunds: IntGauge,
    validation_seconds: HistogramVec,
    requests: HistogramVec,
}

impl Metrics {
    /// Registers every series.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("a valid name");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let gauges = |name: &str, help: &str, label: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &[label]).expect("a valid name");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
                .expect("a valid name");
            registry
                .register(Box::new(h.clone()))
                .expect("registered once");
            h
        };
        Metrics {
            tasks: gauges("archnet_tasks", "Tasks by state (database).", "state"),
            leases: gauges("archnet_leases", "Leases by state (database).", "state"),
            leases_granted: gauge(
                "archnet_leases_granted_total",
                "Leases ever granted (database).",
            ),
            leases_expired: gauge(
                "archnet_leases_expired_total",
                "Leases that expired without a submission (database).",
            ),
            validations: gauges(
                "archnet_validations_total",
                "Validated submissions by verdict (database).",
                "verdict",
            ),
            payments: gauge("archnet_payments_total", "Fees paid to nodes (database)."),
            refunds: gauge(
                "archnet_refunds_total",
                "Fees refunded to publishers (database).",
            ),
            validation_seconds: histogram(
                "archnet_validation_seconds",
                "Wall time of validating one submitted model, by verdict (this process).",
                &["verdict"],
                prometheus::exponential_buckets(0.05, 2.0, 14).expect("valid buckets"),
            ),
            requests: histogram(
                "archnet_http_request_duration_seconds",
                "HTTP request latency by route, method and status (this process).",
                &["route", "method", "status"],
                prometheus::exponential_buckets(0.001, 2.0, 16).expect("valid buckets"),
            ),
            registry,
        }
    }

    /// Records one validation of `seconds` that ended in `verdict`.
    pub fn validated(&self, verdict: &str, seconds: f64) {
        self.validation_seconds
            .with_label_values(&[verdict])
            .observe(seconds);
    }

    /// The text exposition, after reading the database's counts.
    async fn render(&self, state: &AppState) -> Result<String> {
        let counts = state.db.counts().await?;
        for (vec, rows) in [
            (&self.tasks, &counts.tasks),
            (&self.leases, &counts.leases),
            (&self.validations, &counts.validations),
        ] {
            vec.reset();
            for (label, n) in rows {
                vec.with_label_values(&[label.as_str()]).set(*n);
            }
        }
        self.leases_granted
            .set(counts.leases.iter().map(|(_, n)| n).sum());
        self.leases_expired.set(
            counts
                .leases
                .iter()
                .filter(|(s, _)| s == "expired")
                .map(|(_, n)| n)
                .sum(),
        );
        self.payments.set(counts.payments);
        self.refunds.set(counts.refunds);
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| ServerError::Internal(format!("metrics: {e}")))?;
        String::from_utf8(out).map_err(|e| ServerError::Internal(format!("metrics: {e}")))
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// `GET /metrics` (admin).
pub async fn scrape(State(state): State<AppState>, caller: Caller) -> Result<Response> {
    caller.require(Role::Admin)?;
    let text = state.metrics.render(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Times every routed request, labelled by its route's template (`/api/v1/tasks/{id}`), so
/// ids do not make a series each.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .requests
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
