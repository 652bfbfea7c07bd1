//! The time budget of the paper's §4.7: t0 = t1 + 4·t2 + t3 + t4, from what was measured.

use crate::db::{LeaseRow, SubmissionRow, TaskRow};
use archnet_api::states::LeaseState;
use archnet_api::types::Timing;

/// Assembles a task's [`Timing`] from its row, its accepted submission and its leases.
pub fn task_timing(
    task: &TaskRow,
    accepted: Option<&SubmissionRow>,
    leases: &[LeaseRow],
) -> Timing {
    let legs = [
        task.publish_upload_ms,
        accepted.map(|s| s.download_ms),
        accepted.map(|s| s.upload_ms),
        task.delivery_download_ms,
    ];
    let measured: Vec<i64> = legs.iter().flatten().copied().collect();
    // The paper takes the four network legs as one equivalent delay t2; we report their mean, so
    // 4·t2 is their measured sum.
    let t2 =
        (!measured.is_empty()).then(|| measured.iter().sum::<i64>() as f64 / measured.len() as f64);
    let t3 = accepted.map(|s| s.train_ms);
    let t0 = match (task.t1_ms, t2, t3, measured.len()) {
        (Some(t1), Some(t2), Some(t3), 4) => {
            Some(t1 as f64 + 4.0 * t2 + t3 as f64 + task.waited_ms as f64)
        }
        _ => None,
    };
    let lost_ms = leases
        .iter()
        .filter(|l| accepted.is_none_or(|s| s.lease_id != l.id))
        .filter(|l| l.state != LeaseState::Active)
        .map(|l| l.ended_ms.unwrap_or(l.expires_ms) - l.created_ms)
        .sum();
    let end_to_end_ms = match (task.t1_ms, task.publish_upload_ms, task.delivered_ms) {
        (Some(t1), Some(up), Some(delivered)) => Some(t1 + up + (delivered - task.created_ms)),
        _ => None,
    };
    Timing {
        t1_ms: task.t1_ms,
        publisher_to_server_ms: legs[0],
        server_to_node_ms: legs[1],
        node_to_server_ms: legs[2],
        server_to_publisher_ms: legs[3],
        t2_ms: t2,
        t3_ms: t3,
        t4_ms: task.waited_ms,
        validation_ms: accepted.and_then(|s| s.validation_ms),
        lost_ms,
        t0_ms: t0,
        end_to_end_ms,
    }
}
