//! Tasks, leases and submissions: the queue, the node's hold on a task, and what it hands in.

use super::ledger::{account_wallet, escrow_wallet, transfer};
use super::{Backend, Db, is_unique_violation, new_id, now_ms};
use crate::error::{Result, ServerError};
use archnet_api::types::{
    AuditSummary, Capabilities, FileRef, LeaseInfo, LeaseState, Requirements, SubmissionInfo,
    SubmissionState, SubmitRequest, TaskMode, TaskState, ValidationReport,
};
use archnet_data::holdout::Holdout;

/// A task as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TaskRow {
    /// The task id.
    pub id: String,
    /// The publisher's account id.
    pub publisher: String,
    /// The task's name.
    pub name: String,
    /// Where the task is in its life.
    #[sqlx(try_from = "String")]
    pub state: TaskState,
    /// Credits paid to the node whose model is accepted (held in escrow until then).
    pub fee: i64,
    /// The validation accuracy a model must reach (0–1).
    pub min_accuracy: f64,
    /// Rejected submissions allowed before the task fails.
    pub max_attempts: i64,
    /// Rejected submissions so far.
    pub attempts: i64,
    /// The task fails if no node has taken it by then (ms since the epoch).
    pub deadline_ms: Option<i64>,
    /// Requirements a node must meet to lease the task: cores, …
    pub min_cores: i64,
    /// … memory (MiB), …
    pub min_memory_mb: i64,
    /// … and training backend.
    pub backend: Option<String>,
    /// The id of the key that encrypted the dataset.
    pub key_id: String,
    /// The `[C, H, W]` of one ciphertext, as JSON (read with [`TaskRow::sample_shape`]).
    pub sample_shape: String,
    /// The class names, as JSON (read with [`TaskRow::class_names`]).
    pub class_names: String,
    /// Samples of the train split (served to the leasing node).
    pub train_samples: i64,
    /// Samples of the validation split (never served).
    pub validation_samples: i64,
    /// The current lease, while the task is leased.
    pub lease_id: Option<String>,
    /// The submission that was accepted, once one is.
    pub accepted_submission: Option<String>,
    /// When the task was opened (ms since the epoch).
    pub created_ms: i64,
    /// When the task last entered the queue (ms since the epoch).
    pub queued_ms: Option<i64>,
    /// The total time it has waited in the queue (t4 of §4.7), ms.
    pub waited_ms: i64,
    /// When a model was accepted (ms since the epoch).
    pub completed_ms: Option<i64>,
    /// When the publisher downloaded the model (ms since the epoch).
    pub delivered_ms: Option<i64>,
    /// The publisher's key training + encryption time (t1), ms.
    pub t1_ms: Option<i64>,
    /// The publisher's upload time (part of t2), ms.
    pub publish_upload_ms: Option<i64>,
    /// The publisher's model download time, ms.
    pub delivery_download_ms: Option<i64>,
    /// Why the task failed, when it did.
    pub failure: Option<String>,
    /// How the task picks the model it pays for.
    #[sqlx(try_from = "String")]
    pub mode: TaskMode,
    /// Nodes that may hold a lease at the same time (1 for a first-model task).
    pub max_nodes: i64,
    /// Contest only: submissions one node may make.
    pub submission_limit: Option<i64>,
    /// Contest only: leases active now.
    pub active_leases: i64,
    /// Contest only: the seed of the public/private cut (never leaves the server).
    pub holdout_seed: Option<i64>,
    /// Contest only: validation samples in the public part.
    pub public_samples: Option<i64>,
    /// Contest only: when it was settled.
    pub settled_ms: Option<i64>,
}

impl TaskRow {
    /// A contest's public/private cut of its validation split; `None` for a first-model task.
    pub fn holdout(&self) -> Option<Holdout> {
        self.holdout_terms()
            .map(|(seed, samples, public)| Holdout::new(seed, samples, public))
    }

    /// A contest's public/private cut as `(seed, samples, public samples)`, the terms
    /// [`Holdout::new`] takes; `None` for a first-model task.
    pub fn holdout_terms(&self) -> Option<(u64, usize, usize)> {
        match (self.mode, self.holdout_seed, self.public_samples) {
            (TaskMode::Contest, Some(seed), Some(public)) => Some((
                seed as u64,
                self.validation_samples as usize,
                public as usize,
            )),
            _ => None,
        }
    }

    /// What a node must offer to lease the task.
    pub fn requirements(&self) -> Requirements {
        Requirements {
            min_cores: self.min_cores as u32,
            min_memory_mb: self.min_memory_mb as u64,
            backend: self.backend.clone(),
        }
    }

    /// The stored sample shape, parsed.
    pub fn sample_shape(&self) -> Result<[usize; 3]> {
        serde_json::from_str(&self.sample_shape)
            .map_err(|e| ServerError::Internal(format!("task {}: sample_shape: {e}", self.id)))
    }

    /// The stored class names, parsed.
    pub fn class_names(&self) -> Result<Vec<String>> {
        serde_json::from_str(&self.class_names)
            .map_err(|e| ServerError::Internal(format!("task {}: class_names: {e}", self.id)))
    }
}

const TASK_COLUMNS: &str = "id, publisher, name, state, fee, min_accuracy, max_attempts, attempts, deadline_ms, \
    min_cores, min_memory_mb, backend, key_id, sample_shape, class_names, train_samples, validation_samples, \
    lease_id, accepted_submission, created_ms, queued_ms, waited_ms, completed_ms, delivered_ms, t1_ms, \
    publish_upload_ms, delivery_download_ms, failure, mode, max_nodes, submission_limit, active_leases, \
    holdout_seed, public_samples, settled_ms";

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LeaseRow {
    /// The lease id.
    pub id: String,
    /// The task leased.
    pub task_id: String,
    /// The node's account id.
    pub node: String,
    /// Active until it ends with a submission or expires.
    #[sqlx(try_from = "String")]
    pub state: LeaseState,
    /// When the lease was granted (ms since the epoch).
    pub created_ms: i64,
    /// When it expires unless a heartbeat extends it (ms since the epoch).
    pub expires_ms: i64,
    /// When it ended (ms since the epoch).
    pub ended_ms: Option<i64>,
}

impl LeaseRow {
    /// The lease as its task's owner sees it, with the node's account name.
    pub fn info(self, node_name: String) -> LeaseInfo {
        LeaseInfo {
            id: self.id,
            node: self.node,
            node_name,
            state: self.state,
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            ended_ms: self.ended_ms,
        }
    }
}

pub(super) const LEASE_COLUMNS: &str = "id, task_id, node, state, created_ms, expires_ms, ended_ms";

/// A submission as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SubmissionRow {
    /// The submission id.
    pub id: String,
    /// The task it is for.
    pub task_id: String,
    /// The lease it was made under (one submission per lease).
    pub lease_id: String,
    /// The node's account id.
    pub node: String,
    /// The upload holding the ONNX model.
    pub upload_id: String,
    /// Pending, then validating, then accepted or rejected.
    #[sqlx(try_from = "String")]
    pub state: SubmissionState,
    /// Accuracy on the validation split, once measured.
    pub accuracy: Option<f64>,
    /// Contest only: accuracy on the public part.
    pub public_accuracy: Option<f64>,
    /// Contest only: accuracy on the private part.
    pub private_accuracy: Option<f64>,
    /// Contest only: the final rank, once settled.
    pub final_rank: Option<i64>,
    /// The validation report, as JSON.
    pub report: Option<String>,
    /// When the model was handed in (ms since the epoch).
    pub created_ms: i64,
    /// When validation finished (ms since the epoch).
    pub validated_ms: Option<i64>,
    /// How long validation took (t3 of §4.7), ms.
    pub validation_ms: Option<i64>,
    /// The node's reported download time, ms.
    pub download_ms: i64,
    /// The node's reported training time, ms.
    pub train_ms: i64,
    /// The node's reported upload time, ms.
    pub upload_ms: i64,
}

impl SubmissionRow {
    /// The submission as the API reports it to the task's owner, with its report parsed.
    pub fn info(&self) -> SubmissionInfo {
        SubmissionInfo {
            id: self.id.clone(),
            task_id: self.task_id.clone(),
            lease_id: self.lease_id.clone(),
            node: self.node.clone(),
            state: self.state,
            accuracy: self.accuracy,
            public_accuracy: self.public_accuracy,
            private_accuracy: self.private_accuracy,
            rank: self.final_rank.map(|r| r as u32),
            report: self
                .report
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok()),
            created_ms: self.created_ms,
            validated_ms: self.validated_ms,
        }
    }

    /// The submission as a competing node may see it: in a contest not yet settled, everything
    /// that would give the private part away (the whole split's accuracy, the private part's
    /// score, the whole split's confusion matrix) is left out, and the report covers the public
    /// part alone.
    pub fn info_for_node(&self, task: &TaskRow) -> SubmissionInfo {
        let mut info = self.info();
        if task.mode != TaskMode::Contest || task.settled_ms.is_some() {
            return info;
        }
        info.accuracy = None;
        info.private_accuracy = None;
        if let Some(ValidationReport::Ran(run)) = &mut info.report {
            match run.parts.take() {
                Some(parts) => {
                    let public = parts.public;
                    run.accuracy = public.accuracy;
                    run.samples = public.samples;
                    run.per_class_accuracy = public
                        .confusion
                        .iter()
                        .enumerate()
                        .map(|(i, row)| {
                            let n: usize = row.iter().sum();
                            (n > 0).then(|| row[i] as f64 / n as f64)
                        })
                        .collect();
                    run.confusion = public.confusion.clone();
                    run.parts = Some(archnet_api::types::HoldoutScores {
                        public,
                        private: None,
                    });
                }
                // A contest run always has parts; without them nothing may be shown.
                None => info.report = None,
            }
        }
        info
    }
}

pub(super) const SUBMISSION_COLUMNS: &str = "id, task_id, lease_id, node, upload_id, state, accuracy, public_accuracy, \
    private_accuracy, final_rank, report, created_ms, validated_ms, validation_ms, download_ms, train_ms, upload_ms";

/// Everything a new task is made of; the files are completed uploads already checked.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The publisher's account id.
    pub publisher: String,
    /// The task's name.
    pub name: String,
    /// Credits moved into escrow and paid to the node whose model is accepted.
    pub fee: i64,
    /// The validation accuracy a model must reach (0–1).
    pub min_accuracy: f64,
    /// Rejected submissions allowed before the task fails.
    pub max_attempts: u32,
    /// The task fails if no node has taken it by then (ms since the epoch).
    pub deadline_ms: Option<i64>,
    /// What a node must offer to lease it.
    pub requirements: Requirements,
    /// The id of the key that encrypted the dataset.
    pub key_id: String,
    /// The `[C, H, W]` of one ciphertext.
    pub sample_shape: [usize; 3],
    /// The class names.
    pub class_names: Vec<String>,
    /// Samples of the train split.
    pub train_samples: u64,
    /// Samples of the validation split.
    pub validation_samples: u64,
    /// The completed uploads of the train split.
    pub train_files: Vec<FileRef>,
    /// The completed uploads of the validation split.
    pub validation_files: Vec<FileRef>,
    /// The publisher's key training + encryption time (t1), ms.
    pub t1_ms: u64,
    /// The publisher's upload time, ms.
    pub upload_ms: u64,
    /// A contest's rules; `None` for a first-model task.
    pub contest: Option<NewContest>,
    /// The publish-time leakage audit, when the publisher sent one.
    pub audit: Option<NewAudit>,
}

/// A task's publish-time leakage audit, as stored.
#[derive(Debug, Clone)]
pub struct NewAudit {
    /// The numbers (an `AuditSummary`).
    pub summary: AuditSummary,
    /// The completed upload of its picture, when the publisher shared it.
    pub picture_upload: Option<String>,
}

/// The rules of a new contest.
#[derive(Debug, Clone)]
pub struct NewContest {
    /// Nodes that may hold a lease at the same time.
    pub max_nodes: u32,
    /// Submissions one node may make.
    pub submission_limit: u32,
    /// The seed of the public/private cut.
    pub holdout_seed: u64,
    /// Validation samples in the public part.
    pub public_samples: u64,
}

/// A submission a validator has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedSubmission {
    /// The claimed submission.
    pub submission: SubmissionRow,
    /// Its task (for the bar and the validation split).
    pub task: TaskRow,
}

/// What validation made of a submission.
#[derive(Debug, Clone)]
pub struct ValidationOutcome {
    /// Accuracy on the validation split; `None` when the model was refused or failed to run.
    pub accuracy: Option<f64>,
    /// Contest only: accuracy on the public and on the private part.
    pub parts: Option<(f64, f64)>,
    /// What the validator found.
    pub report: ValidationReport,
    /// How long validation took, ms.
    pub validation_ms: i64,
}

impl Db {
    /// Opens a task and moves its fee from the publisher's wallet into escrow, atomically.
    pub async fn create_task(&self, t: &NewTask) -> Result<String> {
        let id = new_id("task");
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO tasks (id, publisher, name, state, fee, min_accuracy, max_attempts, attempts, deadline_ms, \
             min_cores, min_memory_mb, backend, key_id, sample_shape, class_names, train_samples, validation_samples, \
             created_ms, queued_ms, waited_ms, t1_ms, publish_upload_ms, mode, max_nodes, submission_limit, \
             holdout_seed, public_samples) \
             VALUES ($1, $2, $3, 'open', $4, $5, $6, 0, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, 0, $17, $18, \
             $19, $20, $21, $22, $23)",
        )
        .bind(&id)
        .bind(&t.publisher)
        .bind(&t.name)
        .bind(t.fee)
        .bind(t.min_accuracy)
        .bind(t.max_attempts as i64)
        .bind(t.deadline_ms)
        .bind(t.requirements.min_cores as i64)
        .bind(t.requirements.min_memory_mb as i64)
        .bind(t.requirements.backend.clone())
        .bind(&t.key_id)
        .bind(serde_json::to_string(&t.sample_shape).expect("shape serialises"))
        .bind(serde_json::to_string(&t.class_names).expect("names serialise"))
        .bind(t.train_samples as i64)
        .bind(t.validation_samples as i64)
        .bind(now)
        .bind(t.t1_ms as i64)
        .bind(t.upload_ms as i64)
        .bind(match t.contest {
            Some(_) => TaskMode::Contest,
            None => TaskMode::First,
        }
        .as_str())
        .bind(t.contest.as_ref().map_or(1, |c| c.max_nodes as i64))
        .bind(t.contest.as_ref().map(|c| c.submission_limit as i64))
        // The seed is stored as the same 64 bits, signed.
        .bind(t.contest.as_ref().map(|c| c.holdout_seed as i64))
        .bind(t.contest.as_ref().map(|c| c.public_samples as i64))
        .execute(&mut *tx)
        .await?;
        for (split, files) in [
            ("train", &t.train_files),
            ("validation", &t.validation_files),
        ] {
            for f in files {
                sqlx::query(
                    "INSERT INTO task_files (task_id, split, name, upload_id) VALUES ($1, $2, $3, $4)",
                )
                .bind(&id)
                .bind(split)
                .bind(&f.name)
                .bind(&f.upload_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(audit) = &t.audit {
            sqlx::query(
                "INSERT INTO task_audits (task_id, summary, picture_upload) VALUES ($1, $2, $3)",
            )
            .bind(&id)
            .bind(serde_json::to_string(&audit.summary).expect("an audit serialises"))
            .bind(audit.picture_upload.clone())
            .execute(&mut *tx)
            .await?;
        }
        transfer(
            &mut tx,
            &escrow_wallet(&id),
            &account_wallet(&t.publisher),
            &escrow_wallet(&id),
            t.fee,
            &format!("fee of task {id} held in escrow"),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The publish-time audit of task `id` and the upload of its picture (`None`: the
    /// publisher sent no audit).
    pub async fn task_audit(&self, id: &str) -> Result<Option<(AuditSummary, Option<String>)>> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT summary, picture_upload FROM task_audits WHERE task_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(summary, picture)| {
            serde_json::from_str(&summary)
                .map(|s| (s, picture))
                .map_err(|e| ServerError::Internal(format!("task {id}: stored audit: {e}")))
        })
        .transpose()
    }

    /// The task `id`; `NotFound` when there is none.
    pub async fn task(&self, id: &str) -> Result<TaskRow> {
        sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| ServerError::NotFound(format!("task {id}")))
    }

    /// Tasks of one publisher, or all tasks, newest first.
    pub async fn tasks(&self, publisher: Option<&str>) -> Result<Vec<TaskRow>> {
        Ok(match publisher {
            Some(p) => {
                sqlx::query_as(&format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE publisher = $1 ORDER BY created_ms DESC"
                ))
                .bind(p)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT {TASK_COLUMNS} FROM tasks ORDER BY created_ms DESC"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        })
    }

    /// The files of one split of a task, by name.
    pub async fn task_files(&self, task_id: &str, split: &str) -> Result<Vec<FileRef>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, upload_id FROM task_files WHERE task_id = $1 AND split = $2 ORDER BY name",
        )
        .bind(task_id)
        .bind(split)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, upload_id)| FileRef { name, upload_id })
            .collect())
    }

    /// Ends every lease past its deadline and puts its task back in the queue. Returns how many
    /// leases expired.
    pub async fn expire_leases(&self) -> Result<usize> {
        let now = now_ms();
        let overdue: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, task_id FROM leases WHERE state = 'active' AND expires_ms < $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut expired = 0;
        for (lease, task) in overdue {
            let mut tx = self.pool.begin().await?;
            let ended = sqlx::query(
                "UPDATE leases SET state = 'expired', ended_ms = $1 WHERE id = $2 AND state = 'active' AND expires_ms < $1",
            )
            .bind(now)
            .bind(&lease)
            .execute(&mut *tx)
            .await?;
            if ended.rows_affected() == 1 {
                sqlx::query(
                    "UPDATE tasks SET state = 'open', lease_id = NULL, queued_ms = $1 \
                     WHERE id = $2 AND lease_id = $3 AND state = 'leased'",
                )
                .bind(now)
                .bind(&task)
                .bind(&lease)
                .execute(&mut *tx)
                .await?;
                // A contest stays open; the node's slot is freed.
                sqlx::query(
                    "UPDATE tasks SET active_leases = active_leases - 1 \
                     WHERE id = $1 AND mode = 'contest' AND active_leases > 0",
                )
                .bind(&task)
                .execute(&mut *tx)
                .await?;
                expired += 1;
            }
            tx.commit().await?;
        }
        Ok(expired)
    }

    /// Fails every queued first-model task past its deadline and refunds its fee (a contest's
    /// deadline is [`Db::settle_contests`]'s). Returns how many.
    pub async fn fail_overdue_tasks(&self) -> Result<usize> {
        let now = now_ms();
        let overdue: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM tasks WHERE state = 'open' AND mode = 'first' AND deadline_ms IS NOT NULL AND deadline_ms < $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut failed = 0;
        for (id,) in overdue {
            let mut tx = self.pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE tasks SET state = 'failed', failure = 'the deadline passed with no accepted model', \
                 completed_ms = $1 WHERE id = $2 AND state = 'open' AND mode = 'first'",
            )
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 1 {
                let task = self.task_in(&mut tx, &id).await?;
                refund(&mut tx, &task).await?;
                failed += 1;
            }
            tx.commit().await?;
        }
        Ok(failed)
    }

    async fn task_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
    ) -> Result<TaskRow> {
        Ok(
            sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
                .bind(id)
                .fetch_one(&mut **tx)
                .await?,
        )
    }

    /// Leases the oldest queued task whose requirements `caps` meet to `node`, for `ttl_ms`.
    /// `None` when no such task is queued.
    pub async fn lease_task(
        &self,
        node: &str,
        caps: &Capabilities,
        ttl_ms: i64,
    ) -> Result<Option<(LeaseRow, TaskRow)>> {
        // Expired leases are put back in the queue by the server's reaper, not here: this runs
        // for every node's poll.
        let candidates: Vec<TaskRow> = sqlx::query_as(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE state = 'open' ORDER BY created_ms LIMIT 64"
        ))
        .fetch_all(&self.pool)
        .await?;
        let candidates: Vec<TaskRow> = candidates
            .into_iter()
            .filter(|t| caps.meets(&t.requirements()))
            .collect();
        let mut first_model_tried = false;
        for (i, task) in candidates.iter().enumerate() {
            if task.mode == TaskMode::Contest {
                if let Some(lease) = self.lease_contest(task, node, caps, ttl_ms).await? {
                    let task = self.task(&task.id).await?;
                    return Ok(Some((lease, task)));
                }
                continue;
            }
            if first_model_tried {
                continue;
            }
            if self.backend == Backend::Postgres {
                // Every first-model candidate from here on, in one statement that skips the
                // rows other nodes' leases hold locked instead of queueing behind them.
                first_model_tried = true;
                let ids: Vec<&str> = candidates[i..]
                    .iter()
                    .filter(|t| t.mode == TaskMode::First)
                    .map(|t| t.id.as_str())
                    .collect();
                if let Some(leased) = self
                    .lease_first_skip_locked(&ids, node, caps, ttl_ms)
                    .await?
                {
                    return Ok(Some(leased));
                }
                continue;
            }
            let now = now_ms();
            let lease_id = new_id("lease");
            let mut tx = self.pool.begin().await?;
            // The conditional UPDATE is the lock: of two nodes racing for this task, one
            // changes the row and the other sees no row to change and tries the next task.
            if !mark_leased(&mut tx, &lease_id, &task.id, now).await? {
                tx.rollback().await?;
                continue;
            }
            let lease = insert_lease(&mut tx, lease_id, &task.id, node, caps, now, ttl_ms).await?;
            tx.commit().await?;
            // Re-read: the UPDATE changed the task's state and queue time.
            let task = self.task(&task.id).await?;
            return Ok(Some((lease, task)));
        }
        Ok(None)
    }

    /// PostgreSQL: leases the oldest still-open task of `ids` to `node`. `FOR UPDATE SKIP LOCKED`
    /// takes the row lock that makes the lease exclusive, and passes over rows whose lock another
    /// node's lease transaction holds: hundreds of polling nodes spread over the queue instead of
    /// all waiting on its head (which is what made p99 lease latency grow with the nodes).
    async fn lease_first_skip_locked(
        &self,
        ids: &[&str],
        node: &str,
        caps: &Capabilities,
        ttl_ms: i64,
    ) -> Result<Option<(LeaseRow, TaskRow)>> {
        if ids.is_empty() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id FROM tasks WHERE id IN ({}) AND state = 'open' AND mode = 'first' \
             ORDER BY created_ms LIMIT 1 FOR UPDATE SKIP LOCKED",
            placeholders.join(", ")
        );
        let mut tx = self.pool.begin().await?;
        let mut query = sqlx::query_as::<_, (String,)>(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        let Some((task_id,)) = query.fetch_optional(&mut *tx).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let now = now_ms();
        let lease_id = new_id("lease");
        // The row is locked by this transaction and was open: the UPDATE changes it.
        if !mark_leased(&mut tx, &lease_id, &task_id, now).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let lease = insert_lease(&mut tx, lease_id, &task_id, node, caps, now, ttl_ms).await?;
        let task = self.task_in(&mut tx, &task_id).await?;
        tx.commit().await?;
        Ok(Some((lease, task)))
    }

    /// One of a contest's slots for `node`, if one is free, the contest has not closed, and the
    /// node has neither a lease on it now nor its submissions used up.
    async fn lease_contest(
        &self,
        task: &TaskRow,
        node: &str,
        caps: &Capabilities,
        ttl_ms: i64,
    ) -> Result<Option<LeaseRow>> {
        let now = now_ms();
        if task.deadline_ms.is_none_or(|d| d <= now) || task.active_leases >= task.max_nodes {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        // Leases that ended with a submission, and the one held now, count against the limit;
        // a lease that expired handed nothing in and does not.
        let (used,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM leases WHERE task_id = $1 AND node = $2 AND state IN ('active', 'submitted')",
        )
        .bind(&task.id)
        .bind(node)
        .fetch_one(&mut *tx)
        .await?;
        if used >= task.submission_limit.unwrap_or(1) {
            tx.rollback().await?;
            return Ok(None);
        }
        // The conditional UPDATE is the lock on the slots, as for a first-model task's one.
        let won = sqlx::query(
            "UPDATE tasks SET active_leases = active_leases + 1, \
             waited_ms = waited_ms + ($1 - COALESCE(queued_ms, $1)), queued_ms = NULL \
             WHERE id = $2 AND state = 'open' AND mode = 'contest' AND active_leases < max_nodes AND deadline_ms > $1",
        )
        .bind(now)
        .bind(&task.id)
        .execute(&mut *tx)
        .await?;
        if won.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        // The unique index on a node's active lease per task refuses a second one that a
        // concurrent request of the same node would take.
        let inserted =
            insert_lease(&mut tx, new_id("lease"), &task.id, node, caps, now, ttl_ms).await;
        let lease = match inserted {
            Err(ServerError::Database(e)) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return Ok(None);
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(Some(lease))
    }

    /// Submissions `node` may still make to contest `task`, the lease it holds now included.
    pub async fn submissions_left(&self, task: &TaskRow, node: &str) -> Result<Option<u32>> {
        let Some(limit) = task.submission_limit else {
            return Ok(None);
        };
        let (submitted,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM leases WHERE task_id = $1 AND node = $2 AND state = 'submitted'",
        )
        .bind(&task.id)
        .bind(node)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some((limit - submitted).max(0) as u32))
    }

    /// The lease `id`; `NotFound` when there is none.
    pub async fn lease(&self, id: &str) -> Result<LeaseRow> {
        sqlx::query_as(&format!("SELECT {LEASE_COLUMNS} FROM leases WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| ServerError::NotFound(format!("lease {id}")))
    }

    /// Every lease of a task, oldest first.
    pub async fn task_leases(&self, task_id: &str) -> Result<Vec<LeaseRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE task_id = $1 ORDER BY created_ms"
        ))
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The lease `id` if it is `node`'s and still active; otherwise the error says why not.
    pub async fn active_lease(&self, id: &str, node: &str) -> Result<LeaseRow> {
        let lease = self.lease(id).await?;
        if lease.node != node {
            // Someone else's lease is not revealed.
            return Err(ServerError::NotFound(format!("lease {id}")));
        }
        match lease.state {
            LeaseState::Active if lease.expires_ms >= now_ms() => Ok(lease),
            LeaseState::Active | LeaseState::Expired => Err(ServerError::Conflict(format!(
                "lease {id} expired; the task went back to the queue"
            ))),
            _ => Err(ServerError::Conflict(format!(
                "lease {id} ended with a submission"
            ))),
        }
    }

    /// Extends an active lease to now + `ttl_ms`.
    pub async fn heartbeat(&self, id: &str, node: &str, ttl_ms: i64) -> Result<i64> {
        let now = now_ms();
        let renewed = sqlx::query(
            "UPDATE leases SET expires_ms = $1, heartbeat_ms = $4 WHERE id = $2 AND node = $3 AND state = 'active' AND expires_ms >= $4",
        )
        .bind(now + ttl_ms)
        .bind(id)
        .bind(node)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if renewed.rows_affected() == 1 {
            return Ok(now + ttl_ms);
        }
        // Say precisely why not.
        self.active_lease(id, node).await?;
        Err(ServerError::Conflict(format!("lease {id} expired")))
    }

    /// Records a model handed in under an active lease (the completed upload and the node's
    /// measured download, training and upload times); the task waits for validation. One
    /// submission per lease: a replay is a conflict.
    pub async fn submit(
        &self,
        lease_id: &str,
        node: &str,
        request: &SubmitRequest,
    ) -> Result<SubmissionRow> {
        let lease = self.lease(lease_id).await?;
        if lease.node != node {
            return Err(ServerError::NotFound(format!("lease {lease_id}")));
        }
        if let Some(existing) = self.lease_submission(lease_id).await? {
            return Err(ServerError::Conflict(format!(
                "lease {lease_id} already handed in submission {} ({})",
                existing.id, existing.state
            )));
        }
        let task = self.task(&lease.task_id).await?;
        let now = now_ms();
        if task.mode == TaskMode::Contest && task.deadline_ms.is_some_and(|d| d < now) {
            return Err(ServerError::Conflict(format!(
                "contest {} closed at its deadline; no more submissions",
                task.id
            )));
        }
        let id = new_id("sub");
        let mut tx = self.pool.begin().await?;
        let ended = sqlx::query(
            "UPDATE leases SET state = 'submitted', ended_ms = $1 \
             WHERE id = $2 AND node = $3 AND state = 'active' AND expires_ms >= $1",
        )
        .bind(now)
        .bind(lease_id)
        .bind(node)
        .execute(&mut *tx)
        .await?;
        if ended.rows_affected() != 1 {
            tx.rollback().await?;
            self.active_lease(lease_id, node).await?;
            return Err(ServerError::Conflict(format!(
                "lease {lease_id} is not active"
            )));
        }
        // A first-model task waits for the verdict; a contest stays open and frees the slot,
        // unless it closed meanwhile (the same row lock settlement takes orders the two).
        let moved = match task.mode {
            TaskMode::First => sqlx::query(
                "UPDATE tasks SET state = 'validating' WHERE id = $1 AND lease_id = $2 AND state = 'leased'",
            )
            .bind(&lease.task_id)
            .bind(lease_id),
            TaskMode::Contest => sqlx::query(
                "UPDATE tasks SET active_leases = active_leases - 1 \
                 WHERE id = $1 AND state = 'open' AND active_leases > 0 AND deadline_ms >= $2",
            )
            .bind(&lease.task_id)
            .bind(now),
        }
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(ServerError::Conflict(format!(
                "task {} is no longer held by lease {lease_id}",
                lease.task_id
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO submissions (id, task_id, lease_id, node, upload_id, state, created_ms, download_ms, train_ms, upload_ms) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&lease.task_id)
        .bind(lease_id)
        .bind(node)
        .bind(&request.upload_id)
        .bind(now)
        .bind(request.download_ms as i64)
        .bind(request.train_ms as i64)
        .bind(request.upload_ms as i64)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(ServerError::Conflict(format!(
                    "lease {lease_id} already handed in a submission"
                )));
            }
            other => other?,
        };
        tx.commit().await?;
        self.submission(&id).await
    }

    /// The submission `id`; `NotFound` when there is none.
    pub async fn submission(&self, id: &str) -> Result<SubmissionRow> {
        sqlx::query_as(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ServerError::NotFound(format!("submission {id}")))
    }

    /// The submission made under a lease, if any.
    pub async fn lease_submission(&self, lease_id: &str) -> Result<Option<SubmissionRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE lease_id = $1"
        ))
        .bind(lease_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every submission of a task, oldest first.
    pub async fn task_submissions(&self, task_id: &str) -> Result<Vec<SubmissionRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE task_id = $1 ORDER BY created_ms"
        ))
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims the oldest submission waiting for validation (or one whose validator stopped
    /// renewing its claim: a server that died mid-validation) until `now + claim_ms`.
    pub async fn claim_submission(&self, claim_ms: i64) -> Result<Option<ClaimedSubmission>> {
        let now = now_ms();
        let waiting: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM submissions WHERE state = 'pending' \
             OR (state = 'validating' AND claimed_until_ms < $1) ORDER BY created_ms LIMIT 8",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for (id,) in waiting {
            let claimed = sqlx::query(
                "UPDATE submissions SET state = 'validating', claimed_until_ms = $1 \
                 WHERE id = $2 AND (state = 'pending' OR (state = 'validating' AND claimed_until_ms < $3))",
            )
            .bind(now + claim_ms)
            .bind(&id)
            .bind(now)
            .execute(&self.pool)
            .await?;
            if claimed.rows_affected() == 1 {
                let submission = self.submission(&id).await?;
                let task = self.task(&submission.task_id).await?;
                return Ok(Some(ClaimedSubmission { submission, task }));
            }
        }
        Ok(None)
    }

    /// Keeps a validation claim alive while the model runs.
    pub async fn extend_claim(&self, id: &str, claim_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE submissions SET claimed_until_ms = $1 WHERE id = $2 AND state = 'validating'",
        )
        .bind(now_ms() + claim_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a validation result, and in the same SQL transaction completes the task and pays
    /// the node (accepted), or reopens or fails the task (rejected). Returns `false` when the
    /// submission had already been decided (another validator finished first).
    // Why one function: every write (the submission, the task, the ledger) happens in one SQL
    // transaction, so the outcome is all or nothing whatever the backend.
    pub async fn finish_validation(&self, id: &str, outcome: &ValidationOutcome) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let submission: SubmissionRow = sqlx::query_as(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let task = self.task_in(&mut tx, &submission.task_id).await?;
        if task.mode == TaskMode::Contest {
            // The deadline decides; a model that ran waits for it, one that did not is out.
            let state = match outcome.accuracy {
                Some(_) => SubmissionState::Scored,
                None => SubmissionState::Rejected,
            };
            let decided = sqlx::query(
                "UPDATE submissions SET state = $1, accuracy = $2, public_accuracy = $3, private_accuracy = $4, \
                 report = $5, validated_ms = $6, validation_ms = $7 WHERE id = $8 AND state = 'validating'",
            )
            .bind(state.as_str())
            .bind(outcome.accuracy)
            .bind(outcome.parts.map(|p| p.0))
            .bind(outcome.parts.map(|p| p.1))
            .bind(serde_json::to_string(&outcome.report).expect("a validation report serialises"))
            .bind(now)
            .bind(outcome.validation_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(decided.rows_affected() == 1);
        }
        let accepted = outcome.accuracy.is_some_and(|a| a >= task.min_accuracy);
        let decided = sqlx::query(
            "UPDATE submissions SET state = $1, accuracy = $2, report = $3, validated_ms = $4, validation_ms = $5 \
             WHERE id = $6 AND state = 'validating'",
        )
        .bind(if accepted {
            SubmissionState::Accepted
        } else {
            SubmissionState::Rejected
        }
        .as_str())
        .bind(outcome.accuracy)
        .bind(serde_json::to_string(&outcome.report).expect("a validation report serialises"))
        .bind(now)
        .bind(outcome.validation_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if decided.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if accepted {
            let completed = sqlx::query(
                "UPDATE tasks SET state = 'completed', accepted_submission = $1, completed_ms = $2, lease_id = NULL \
                 WHERE id = $3 AND state = 'validating'",
            )
            .bind(id)
            .bind(now)
            .bind(&task.id)
            .execute(&mut *tx)
            .await?;
            if completed.rows_affected() != 1 {
                tx.rollback().await?;
                return Err(ServerError::Internal(format!(
                    "task {} was not awaiting validation",
                    task.id
                )));
            }
            transfer(
                &mut tx,
                &format!("pay:{}", task.id),
                &escrow_wallet(&task.id),
                &account_wallet(&submission.node),
                task.fee,
                &format!(
                    "fee of task {} for submission {id} ({:.2}% ≥ {:.2}%)",
                    task.id,
                    100.0 * outcome.accuracy.unwrap_or(0.0),
                    100.0 * task.min_accuracy
                ),
            )
            .await?;
        } else if task.attempts + 1 >= task.max_attempts {
            sqlx::query(
                "UPDATE tasks SET state = 'failed', attempts = attempts + 1, lease_id = NULL, completed_ms = $1, \
                 failure = $2 WHERE id = $3 AND state = 'validating'",
            )
            .bind(now)
            .bind(format!(
                "{} submission(s) rejected; no model reached the bar",
                task.attempts + 1
            ))
            .bind(&task.id)
            .execute(&mut *tx)
            .await?;
            refund(&mut tx, &task).await?;
        } else {
            sqlx::query(
                "UPDATE tasks SET state = 'open', attempts = attempts + 1, lease_id = NULL, queued_ms = $1 \
                 WHERE id = $2 AND state = 'validating'",
            )
            .bind(now)
            .bind(&task.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Closes every contest past its deadline (its active leases end) and settles each whose
    /// submissions are all validated: the best private-part accuracy at or over the bar is paid
    /// (ties go to the earliest submission) and every entry gets its final rank; with none over
    /// the bar the fee goes back. Each contest is settled once, by whichever server replica's
    /// conditional `UPDATE` of the task wins. Returns how many were settled.
    pub async fn settle_contests(&self) -> Result<usize> {
        let now = now_ms();
        let due: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM tasks WHERE mode = 'contest' AND state = 'open' AND settled_ms IS NULL AND deadline_ms < $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut settled = 0;
        for (id,) in due {
            // Closing takes the task row's lock, which a submission in flight holds until it
            // commits: after this, every submission made before the deadline is visible.
            let mut tx = self.pool.begin().await?;
            sqlx::query("UPDATE tasks SET active_leases = 0 WHERE id = $1 AND state = 'open'")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE leases SET state = 'expired', ended_ms = $1 WHERE task_id = $2 AND state = 'active'",
            )
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            if self.settle_contest(&id, now).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Settles one closed contest, unless a submission still waits for validation or another
    /// replica settled it first. Whether this call settled it.
    // Why one function: the ranks, the task's end and the payment or refund are one SQL
    // transaction, so a contest is settled whole or not at all.
    async fn settle_contest(&self, id: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM submissions WHERE task_id = $1 AND state IN ('pending', 'validating')",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if waiting > 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let task = self.task_in(&mut tx, id).await?;
        let ranked: Vec<SubmissionRow> = sqlx::query_as(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE task_id = $1 AND state = 'scored' \
             ORDER BY private_accuracy DESC, created_ms, id"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let winner = ranked
            .first()
            .filter(|s| s.private_accuracy.is_some_and(|a| a >= task.min_accuracy));
        let ended = match winner {
            Some(w) => sqlx::query(
                "UPDATE tasks SET state = 'completed', accepted_submission = $1, completed_ms = $2, settled_ms = $2 \
                 WHERE id = $3 AND state = 'open' AND settled_ms IS NULL",
            )
            .bind(&w.id)
            .bind(now)
            .bind(id),
            None => sqlx::query(
                "UPDATE tasks SET state = 'failed', completed_ms = $1, settled_ms = $1, failure = $2 \
                 WHERE id = $3 AND state = 'open' AND settled_ms IS NULL",
            )
            .bind(now)
            .bind(match ranked.first() {
                Some(best) => format!(
                    "the contest closed with no model at the bar on the private part (best {:.2}% < {:.2}%)",
                    100.0 * best.private_accuracy.unwrap_or(0.0),
                    100.0 * task.min_accuracy
                ),
                None => "the contest closed with no model that ran".to_string(),
            })
            .bind(id),
        }
        .execute(&mut *tx)
        .await?;
        if ended.rows_affected() != 1 {
            // Another replica settled it.
            tx.rollback().await?;
            return Ok(false);
        }
        for (place, s) in ranked.iter().enumerate() {
            let won = winner.is_some_and(|w| w.id == s.id);
            sqlx::query(
                "UPDATE submissions SET state = $1, final_rank = $2 WHERE id = $3 AND state = 'scored'",
            )
            .bind(if won {
                SubmissionState::Accepted
            } else {
                SubmissionState::Rejected
            }
            .as_str())
            .bind(place as i64 + 1)
            .bind(&s.id)
            .execute(&mut *tx)
            .await?;
        }
        match winner {
            Some(w) => {
                transfer(
                    &mut tx,
                    &format!("pay:{}", task.id),
                    &escrow_wallet(&task.id),
                    &account_wallet(&w.node),
                    task.fee,
                    &format!(
                        "fee of contest {} for submission {} (private part {:.2}% ≥ {:.2}%, first of {})",
                        task.id,
                        w.id,
                        100.0 * w.private_accuracy.unwrap_or(0.0),
                        100.0 * task.min_accuracy,
                        ranked.len()
                    ),
                )
                .await?
            }
            None => refund(&mut tx, &task).await?,
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records that the publisher fetched the model (the server → publisher leg).
    pub async fn record_delivery(&self, task_id: &str, download_ms: u64) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET delivered_ms = $1, delivery_download_ms = $2 WHERE id = $3 AND state = 'completed'",
        )
        .bind(now_ms())
        .bind(download_ms as i64)
        .bind(task_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Audit for tests and the load test: first-model tasks that had two leases active at the
    /// same time, and contests where one node held two at once or more than `max_nodes` nodes
    /// held one.
    pub async fn overlapping_leases(&self) -> Result<Vec<String>> {
        let leases: Vec<LeaseRow> = sqlx::query_as(&format!(
            "SELECT {LEASE_COLUMNS} FROM leases ORDER BY task_id, created_ms"
        ))
        .fetch_all(&self.pool)
        .await?;
        let limits: std::collections::HashMap<String, i64> =
            sqlx::query_as::<_, (String, i64)>("SELECT id, max_nodes FROM tasks")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let end = |l: &LeaseRow| l.ended_ms.unwrap_or(l.expires_ms);
        let mut problems = Vec::new();
        for task in leases.chunk_by(|a, b| a.task_id == b.task_id) {
            let limit = limits.get(&task[0].task_id).copied().unwrap_or(1);
            for (i, b) in task.iter().enumerate() {
                let held: Vec<&LeaseRow> = task[..i]
                    .iter()
                    .filter(|a| a.state == LeaseState::Active || end(a) > b.created_ms)
                    .collect();
                if held.len() as i64 >= limit {
                    problems.push(format!(
                        "task {}: lease {} (from {}) started while {} lease(s) were held, at most {limit} may be",
                        b.task_id,
                        b.id,
                        b.created_ms,
                        held.len()
                    ));
                }
                if let Some(a) = held.iter().find(|a| a.node == b.node) {
                    problems.push(format!(
                        "task {}: node {} held leases {} and {} at once",
                        b.task_id, b.node, a.id, b.id
                    ));
                }
            }
        }
        Ok(problems)
    }
}

/// Returns a failed task's escrowed fee to its publisher.
async fn refund(tx: &mut sqlx::Transaction<'_, sqlx::Any>, task: &TaskRow) -> Result<()> {
    transfer(
        tx,
        &format!("refund:{}", task.id),
        &escrow_wallet(&task.id),
        &account_wallet(&task.publisher),
        task.fee,
        &format!("refund of task {}", task.id),
    )
    .await
}

/// Marks first-model task `task_id` leased under `lease_id` at `now` if it is still open, adding
/// its time in the queue; whether it was.
async fn mark_leased(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    lease_id: &str,
    task_id: &str,
    now: i64,
) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE tasks SET state = 'leased', lease_id = $1, \
         waited_ms = waited_ms + ($2 - COALESCE(queued_ms, $2)), queued_ms = NULL \
         WHERE id = $3 AND state = 'open' AND mode = 'first'",
    )
    .bind(lease_id)
    .bind(now)
    .bind(task_id)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Records an active lease of `task_id` to `node` inside `tx`, expiring `ttl_ms` after `now`.
async fn insert_lease(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    lease_id: String,
    task_id: &str,
    node: &str,
    caps: &Capabilities,
    now: i64,
    ttl_ms: i64,
) -> Result<LeaseRow> {
    sqlx::query(
        "INSERT INTO leases (id, task_id, node, state, created_ms, expires_ms, capabilities) \
         VALUES ($1, $2, $3, 'active', $4, $5, $6)",
    )
    .bind(&lease_id)
    .bind(task_id)
    .bind(node)
    .bind(now)
    .bind(now + ttl_ms)
    .bind(serde_json::to_string(caps).expect("capabilities serialise"))
    .execute(&mut **tx)
    .await?;
    Ok(LeaseRow {
        id: lease_id,
        task_id: task_id.to_string(),
        node: node.to_string(),
        state: LeaseState::Active,
        created_ms: now,
        expires_ms: now + ttl_ms,
        ended_ms: None,
    })
}
