//! The dashboard's pages, as maud markup: every value from the database or a user (task names,
//! account names, failure messages) goes in through maud's escaping, never as raw HTML.

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, html};

use super::super::AppState;
use super::super::tasks::{owned_task, rank, task_info};
use crate::db::{Account, TaskRow, account_wallet, now_ms};
use crate::error::Result;
use archnet_api::types::{
    Leaderboard, Role, SubmissionInfo, TaskInfo, TaskMode, TaskState, Timing, utc,
};

/// Nodes the admin's page lists: those heard from in the last ten minutes.
const NODES_SEEN_MS: i64 = 10 * 60 * 1000;

fn layout(title: &str, account: Option<&Account>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · archnet" }
                link rel="stylesheet" href="/dashboard.css";
            }
            body {
                header {
                    h1 { a href="/" { "archnet marketplace" } }
                    @if let Some(a) = account {
                        span.who { (a.name) " (" (a.role.as_str()) ")" }
                        form method="post" action="/session/end" { button type="submit" { "Sign out" } }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The sign-in form; the token goes in the POST body, never in a URL.
pub fn sign_in(error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h2 { "Sign in" }
            @if let Some(e) = error { p.bad { (e) } }
            form.signin method="post" action="/session" {
                label for="token" { "API token (from " code { "archnet admin create-account" } ")" }
                input #token type="password" name="token" autocomplete="off" required;
                button type="submit" { "Sign in" }
                p.note { "The token is checked once; the browser keeps only a session cookie (HttpOnly, SameSite=Strict)." }
            }
        },
    )
}

/// A page naming what went wrong.
pub fn error_page(message: &str) -> Markup {
    layout(
        "Error",
        None,
        html! { p.bad { (message) } p { a href="/" { "Back" } } },
    )
}

fn percent(a: Option<f64>) -> Markup {
    html! { @match a { Some(a) => { (format!("{:.2}%", 100.0 * a)) }, None => { "–" } } }
}

fn state_class(state: TaskState) -> &'static str {
    match state {
        TaskState::Completed => "state ok",
        TaskState::Failed => "state bad",
        _ => "state",
    }
}

/// The signed-in account's page.
pub async fn home(state: &AppState, account: &Account) -> Result<Markup> {
    match account.role {
        Role::Publisher => publisher_home(state, account).await,
        Role::Node => node_home(state, account).await,
        Role::Admin => admin_home(state, account).await,
    }
}

fn task_table(tasks: &[TaskRow], linked: bool) -> Markup {
    html! {
        table {
            tr { th { "task" } th { "mode" } th { "state" } th.num { "fee" } th.num { "bar" } th { "deadline (UTC)" } }
            @for t in tasks {
                tr {
                    td { @if linked { a href={ "/dashboard/tasks/" (t.id) } { (t.name) } } @else { (t.name) } br; span.note { (t.id) } }
                    td { (t.mode.as_str()) }
                    td class=(state_class(t.state)) { (t.state.as_str()) }
                    td.num { (t.fee) }
                    td.num { (format!("{:.1}%", 100.0 * t.min_accuracy)) }
                    td { @match t.deadline_ms { Some(d) => { (utc(d)) }, None => { "–" } } }
                }
            }
        }
    }
}

async fn publisher_home(state: &AppState, account: &Account) -> Result<Markup> {
    let tasks = state.db.tasks(Some(&account.id)).await?;
    let balance = state.db.balance(&account_wallet(&account.id)).await?;
    Ok(layout(
        "Your tasks",
        Some(account),
        html! {
            p { "Balance: " strong { (balance) " credits" } }
            h2 { "Your tasks" }
            @if tasks.is_empty() { p.note { "No task yet: " code { "archnet publish" } " opens one." } }
            @else { (task_table(&tasks, true)) }
        },
    ))
}

async fn node_home(state: &AppState, account: &Account) -> Result<Markup> {
    let caps = state.db.last_capabilities(&account.id).await?;
    let open: Vec<TaskRow> = state
        .db
        .tasks(None)
        .await?
        .into_iter()
        .filter(|t| t.state == TaskState::Open)
        .filter(|t| caps.as_ref().is_none_or(|c| c.meets(&t.requirements())))
        .collect();
    let leases = state.db.node_leases(&account.id).await?;
    let mut submissions: Vec<(SubmissionInfo, String)> = Vec::new();
    for s in state.db.node_submissions(&account.id).await? {
        let task = state.db.task(&s.task_id).await?;
        submissions.push((s.info_for_node(&task), task.name));
    }
    let balance = state.db.balance(&account_wallet(&account.id)).await?;
    Ok(layout(
        "Your node",
        Some(account),
        html! {
            p { "Balance: " strong { (balance) " credits" } }
            h2 { "Open tasks you can take" }
            p.note { @match &caps {
                Some(c) => { "Matched against what your node last advertised: " (c.cores) " cores, " (c.memory_mb) " MiB, " (c.backends.join(", ")) "." },
                None => { "Your node has not leased yet; every open task is listed." },
            } }
            @if open.is_empty() { p.note { "None now." } } @else { (task_table(&open, false)) }
            h2 { "Your leases" }
            table {
                tr { th { "lease" } th { "task" } th { "state" } th { "granted (UTC)" } }
                @for l in &leases {
                    tr { td { (l.id) } td { (l.task_id) } td.state { (l.state.as_str()) } td { (utc(l.created_ms)) } }
                }
            }
            h2 { "Your submissions" }
            table {
                tr { th { "task" } th { "state" } th.num { "public part" } th.num { "private part" } th.num { "rank" } th { "handed in (UTC)" } }
                @for (s, name) in &submissions {
                    tr {
                        td { (name) }
                        td.state { (s.state.as_str()) }
                        td.num { (percent(s.public_accuracy.or(s.accuracy))) }
                        td.num { (percent(s.private_accuracy)) }
                        td.num { @match s.rank { Some(r) => { (r) }, None => { "–" } } }
                        td { (utc(s.created_ms)) }
                    }
                }
            }
        },
    ))
}

async fn admin_home(state: &AppState, account: &Account) -> Result<Markup> {
    let tasks = state.db.tasks(None).await?;
    let nodes = state.db.nodes_seen(now_ms() - NODES_SEEN_MS).await?;
    let queue = state.db.validation_queue().await?;
    let audit = state.db.audit_ledger().await?;
    Ok(layout(
        "Admin",
        Some(account),
        html! {
            h2 { "Ledger audit" }
            @if audit.is_empty() { p.ok { "Balanced: every transaction's entries sum to zero, and no wallet but the mint is below zero." } }
            @else { ul.bad { @for problem in &audit { li { (problem) } } } }
            h2 { "Nodes seen in the last 10 minutes" }
            table {
                tr { th { "node" } th { "last heard (UTC)" } th.num { "active leases" } th { "capabilities" } }
                @for n in &nodes {
                    tr {
                        td { (n.name) }
                        td { (utc(n.last_seen_ms)) }
                        td.num { (n.active_leases) }
                        td { @match &n.capabilities {
                            Some(c) => { (c.cores) " cores, " (c.memory_mb) " MiB, " (c.backends.join(", ")) },
                            None => { "–" },
                        } }
                    }
                }
            }
            h2 { "Validation queue" }
            @if queue.is_empty() { p.note { "Empty." } }
            @else {
                table {
                    tr { th { "submission" } th { "task" } th { "state" } th { "handed in (UTC)" } }
                    @for s in &queue { tr { td { (s.id) } td { (s.task_id) } td.state { (s.state.as_str()) } td { (utc(s.created_ms)) } } }
                }
            }
            h2 { "All tasks" }
            (task_table(&tasks, true))
        },
    ))
}

/// One task: its state, leaderboard, submissions, the §4.7 time budget as a timeline, and the
/// publish-time leakage audit.
pub async fn task(state: &AppState, account: &Account, id: &str) -> Result<Markup> {
    let row = owned_task(&state.db, id, account).await?;
    let info = task_info(&state.db, &row).await?;
    let submissions = state.db.task_submissions(&row.id).await?;
    let mut names = BTreeMap::new();
    for s in &submissions {
        if !names.contains_key(&s.node) {
            names.insert(s.node.clone(), state.db.account_name(&s.node).await?);
        }
    }
    let board = rank(&row, &submissions, &names);
    Ok(layout(
        &info.name,
        Some(account),
        html! {
            h2 { "Task " (info.name) }
            p {
                span class=(state_class(info.state)) { (info.state.as_str()) } " · "
                (info.mode.as_str()) " · fee " (info.fee) " credits · bar " (format!("{:.2}%", 100.0 * info.min_accuracy))
                " · " (info.train_samples) " train / " (info.validation_samples) " validation samples of " (format!("{:?}", info.sample_shape))
            }
            p.note { "id " (info.id) " · key " (info.key_id) }
            @if let Some(f) = &info.failure { p.bad { (f) } }
            @if let Some(c) = &info.contest {
                p { "Contest: up to " (c.max_nodes) " nodes at once, " (c.submission_limit) " submissions each; "
                    (c.public_samples) " public / " (c.private_samples) " private validation samples; "
                    @match (c.settled_ms, info.deadline_ms) {
                        (Some(s), _) => { "settled " (utc(s)) " UTC." },
                        (None, Some(d)) => { "closes " (utc(d)) " UTC; nodes see private scores only then." },
                        (None, None) => { "open." },
                    }
                }
            }
            h2 { "Leaderboard" }
            (leaderboard(&board))
            h2 { "Time budget (§4.7)" }
            (timeline(&info.timing))
            (timing_table(&info.timing))
            h2 { "Leases" }
            table {
                tr { th { "node" } th { "state" } th { "granted (UTC)" } th.num { "held" } }
                @for l in &info.leases {
                    tr { td { (l.node_name) } td.state { (l.state.as_str()) } td { (utc(l.created_ms)) }
                         td.num { (format!("{:.1} s", (l.ended_ms.unwrap_or(l.expires_ms) - l.created_ms) as f64 / 1000.0)) } }
                }
            }
            (refusals(&info))
            h2 { "Leakage audit (at publish)" }
            (audit(&info))
        },
    ))
}

/// The publish-time leakage audit: what must stay hidden is which image a ciphertext holds, so
/// each attack shows its re-identification beside the class-mean image's, and its gain over it.
fn audit(info: &TaskInfo) -> Markup {
    let Some(a) = &info.audit else {
        return html! { p.note { "The publisher sent no audit with this task." } };
    };
    html! {
        p {
            "Key " (a.key_id) " (" (a.key_preset) "): an attacker holding " (a.pairs)
            " known (image, ciphertext) pairs, against " (a.victims) " held-out victims ("
            (format!("{:.0} s", a.seconds)) "). Every party holds the labels, so what counts is "
            strong { "which" } " image a reconstruction is: re-identification among the victims, "
            "beside what the class-mean image gets for nothing."
        }
        table #audit {
            tr { th { "attack" } th.num { "re-identified" } th.num { "within its class" } th.num { "PSNR" } th.num { "SSIM" } th.num { "SSIM over class mean" } }
            tr.note {
                td { "class-mean image (free)" }
                td.num { (percent(Some(a.class_mean_reidentification))) }
                td.num { "–" } td.num { "–" }
                td.num { (format!("{:.3}", a.class_mean_ssim)) }
                td.num { "0" }
            }
            @for x in &a.attacks {
                tr {
                    td { (x.attack) }
                    td.num { (percent(Some(x.reidentification))) }
                    td.num { (percent(x.same_class)) }
                    td.num { (format!("{:.2} dB", x.psnr_db)) }
                    td.num { (format!("{:.3}", x.ssim)) }
                    td.num { (format!("{:+.3}", x.ssim_gain)) }
                }
            }
        }
        p.note { "Chance: " (percent(Some(a.chance))) "." }
        @match &a.guarantee {
            Some(g) => p.ok { "Formal guarantee: (" (format!("{:.3}", g.epsilon)) ", " (format!("{:e}", g.delta))
                ")-DP per image, which bounds re-identification among these victims by any attacker at "
                (percent(Some(g.reidentification_bound))) "." },
            None => p.note { "No formal guarantee: the key adds no calibrated noise; these measurements are all there is, and stronger attacks can only recover more." },
        }
        @if a.violations.is_empty() { p.ok { "Within the publisher's thresholds." } }
        @else {
            p.bad { "Above the publisher's thresholds"
                @if a.accepted_leakage { " (published anyway: the publisher accepted the leakage)" } ":" }
            ul.bad { @for v in &a.violations { li { (v) } } }
        }
        @if info.audit_picture {
            img #audit-picture src={ "/dashboard/tasks/" (info.id) "/audit.png" } alt="victims and the attacks' reconstructions";
        } @else {
            p.note { "Picture not shared: it shows plain victim images, so it stays on the publisher's machine unless they publish with " code { "--share-audit-picture" } "." }
        }
    }
}

/// A leaderboard as a table: the publisher sees both parts as soon as they are measured.
fn leaderboard(board: &Leaderboard) -> Markup {
    let contest = board.mode == TaskMode::Contest;
    html! {
        @if board.entries.is_empty() { p.note { "No submission yet." } }
        @else {
            table #leaderboard {
                tr {
                    th.num { "rank" } th { "node" }
                    th.num { @if contest { "public part" } @else { "accuracy" } }
                    @if contest { th.num { "private part" } }
                    th { "state" } th { "handed in (UTC)" }
                }
                @for e in &board.entries {
                    tr {
                        td.num { @match e.rank { Some(r) => { (r) }, None => { "–" } } }
                        td { (e.node_name) }
                        td.num { (percent(e.public_accuracy)) }
                        @if contest { td.num { (percent(e.private_accuracy)) } }
                        td class={ "state" @if e.state == archnet_api::types::SubmissionState::Accepted { " ok" } } { (e.state.as_str()) }
                        td { (utc(e.submitted_ms)) }
                    }
                }
            }
            @if contest && !board.settled { p.note { "Nodes see the public part only until the deadline; the private part decides." } }
        }
    }
}

/// Why refused submissions were refused.
fn refusals(info: &TaskInfo) -> Markup {
    let refused: Vec<(&str, &str)> = info
        .submissions
        .iter()
        .filter_map(|s| match &s.report {
            Some(archnet_api::types::ValidationReport::Refused { refused }) => {
                Some((s.id.as_str(), refused.as_str()))
            }
            _ => None,
        })
        .collect();
    html! {
        @if !refused.is_empty() {
            h2 { "Refused models" }
            ul { @for (id, why) in refused { li { (id) ": " (why) } } }
        }
    }
}

/// The legs of §4.7 in the order they happen, with their colours.
fn legs(t: &Timing) -> Vec<(&'static str, Option<i64>, &'static str)> {
    vec![
        ("t1 key + encryption", t.t1_ms, "#6b8fd6"),
        ("publisher → server", t.publisher_to_server_ms, "#9bb5e8"),
        ("t4 queued", Some(t.t4_ms), "#d9b26b"),
        ("server → node", t.server_to_node_ms, "#9bd3c0"),
        ("t3 training", t.t3_ms, "#3e9c7b"),
        ("node → server", t.node_to_server_ms, "#9bd3c0"),
        ("validation", t.validation_ms, "#b48ad6"),
        ("server → publisher", t.server_to_publisher_ms, "#9bb5e8"),
        ("lost to leases", Some(t.lost_ms), "#d68a8a"),
    ]
}

/// The time budget as one horizontal bar of its legs, drawn as SVG on the server (no script).
fn timeline(t: &Timing) -> Markup {
    let legs: Vec<_> = legs(t)
        .into_iter()
        .filter_map(|(name, ms, colour)| ms.filter(|m| *m > 0).map(|m| (name, m, colour)))
        .collect();
    let total: i64 = legs.iter().map(|l| l.1).sum();
    let width = 720.0;
    // Each leg's left edge and width on the bar.
    let mut x = 0.0;
    let bars: Vec<(f64, f64)> = legs
        .iter()
        .map(|(_, ms, _)| {
            let w = width * *ms as f64 / total.max(1) as f64;
            x += w;
            (x - w, w)
        })
        .collect();
    html! {
        @if total == 0 { p.note { "Nothing measured yet." } }
        @else {
            svg #timeline width="740" height=(40 + 18 * legs.len()) viewBox={ "0 0 740 " (40 + 18 * legs.len()) } role="img" {
                title { "time budget of §4.7, legs in order" }
                @for ((name, ms, colour), (x, w)) in legs.iter().zip(&bars) {
                    rect x=(format!("{x:.1}")) y="0" width=(format!("{:.1}", w.max(1.0))) height="24" fill=(colour) { title { (name) ": " (format!("{:.1} s", *ms as f64 / 1000.0)) } }
                }
                @for (i, (name, ms, colour)) in legs.iter().enumerate() {
                    rect x="0" y=(34 + 18 * i) width="12" height="12" fill=(colour) {}
                    text x="18" y=(44 + 18 * i) { (name) ": " (format!("{:.1} s", *ms as f64 / 1000.0)) }
                }
            }
        }
    }
}

fn timing_table(t: &Timing) -> Markup {
    let s = |ms: Option<f64>| ms.map_or("–".to_string(), |m| format!("{:.1} s", m / 1000.0));
    html! {
        table {
            tr { th { "t2 (mean transfer leg)" } td.num { (s(t.t2_ms)) } }
            tr { th { "t0 = t1 + 4·t2 + t3 + t4" } td.num { (s(t.t0_ms)) } }
            tr { th { "measured end to end" } td.num { (s(t.end_to_end_ms.map(|m| m as f64))) } }
        }
    }
}
