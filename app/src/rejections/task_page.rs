//! The page of one rejection task: live progress while it runs, then counts per outcome, the
//! options it ran with, the leads it changed, and the results file; "Undo this task" with its
//! confirmation, and for an undo what it restored.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::model::{Outcome, TaskStatus, TaskView};
use super::server_fns::{rejection_task, undo_rejection_task, undo_task_preview};
use crate::components::ErrorPage;
use crate::domain::task_view::{UndoCounts, UndoPreview};
use crate::error::AppError;

/// How often a queued or running task is asked for again (one indexed row read).
const POLL_MS: u64 = 500;

#[component]
pub fn TaskPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let tick = RwSignal::new(0_u32);
    let task = Resource::new(
        move || (id(), tick.get()),
        |(id, _)| async move {
            match id {
                Some(id) => rejection_task(id).await,
                None => Err(AppError::NotFound),
            }
        },
    );
    // While the task is not finished, ask again every half second (in the browser only).
    Effect::new(move |_| {
        if let Some(Ok(t)) = task.get()
            && !t.is_finished()
        {
            set_timeout(move || tick.update(|n| *n += 1), std::time::Duration::from_millis(POLL_MS));
        }
    });
    view! {
        <Transition fallback=|| view! { <p>"Loading the task…"</p> }>
            {move || Suspend::new(async move {
                match task.await {
                    Ok(t) => view! { <TaskDetails task=t/> }.into_any(),
                    Err(err) => view! { <Title text="Not found"/><ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TaskDetails(task: TaskView) -> impl IntoView {
    let title = format!("Rejection task {}", task.id);
    let done = task.rows_done;
    let progress = match task.rows_total {
        Some(total) => {
            let percent = if total > 0 { done * 100 / total } else { 100 };
            view! {
                <progress aria-label="Task progress" max=total.max(1).to_string()
                    value=(if total > 0 { done } else { 1 }).to_string()></progress>
                <p class="progress-text">{format!("{done} of {total} rows ({percent}%)")}</p>
            }
            .into_any()
        }
        None => {
            // Rows are counted while the file is read (the first pass), before any is applied.
            let text =
                if task.status == TaskStatus::Queued { "Waiting to start…" } else { "Reading the file…" };
            view! {
                <progress aria-label="Task progress"></progress>
                <p class="progress-text">{text}</p>
            }
            .into_any()
        }
    };
    let status_text = match (&task.status, &task.failure_reason) {
        (TaskStatus::Failed, Some(reason)) => format!("Failed: {reason}"),
        (status, _) => status.label().to_owned(),
    };
    let finished = task.status == TaskStatus::Completed;
    let results_href = format!("/leads/import-rejections/tasks/{}/results.csv", task.id);
    let undo = task.undo_of.zip(task.undo);
    view! {
        <Title text=title.clone()/>
        <p><A href="/leads/import-rejections">"← Import Rejections"</A></p>
        <h1>{title}</h1>
        <p class="lead">
            {format!("{} · {} · started by {} on {} UTC", task.file_name, task.campaign, task.started_by, task.created_at)}
        </p>
        {task.undo_of.map(|of| view! {
            <p class="notice" data-testid="undo-of">"Undo of "<A href=format!("/leads/import-rejections/tasks/{of}")>{format!("task {of}")}</A>
                ": the leads it changed go back to what they were, unless they changed since."</p>
        })}
        {task.undone_by.map(|by| view! {
            <p class="notice" data-testid="undone-by">"Undone by "<A href=format!("/leads/import-rejections/tasks/{by}")>{format!("task {by}")}</A></p>
        })}
        <section class="card" aria-labelledby="progress-heading">
            <h2 id="progress-heading">"Progress"</h2>
            <p>"Status: "<strong class=format!("badge task-{}", task.status.as_str()) data-testid="task-status">{status_text}</strong>
                {task.finished_at.clone().map(|t| format!(" · finished {t} UTC"))}</p>
            {progress}
            {finished.then(|| view! {
                <p><a href=results_href class="button" download>"Download results"</a></p>
            })}
        </section>
        {match undo {
            Some((of, counts)) => view! { <UndoSummary of counts/> }.into_any(),
            None => view! { <RunSummary task=task.clone()/> }.into_any(),
        }}
        {task.may_undo.then(|| view! { <UndoPanel task_id=task.id/> })}
    }
}

/// What an undo did so far.
#[component]
fn UndoSummary(of: i64, counts: UndoCounts) -> impl IntoView {
    view! {
        <section aria-labelledby="counts-heading">
            <h2 id="counts-heading">"Leads of task "{of}</h2>
            <table class="data compact">
                <caption class="visually-hidden">"Leads per outcome"</caption>
                <thead><tr><th scope="col">"Outcome"</th><th scope="col">"Leads"</th></tr></thead>
                <tbody>
                    <tr data-outcome="restored"><th scope="row">"Restored"</th><td>{counts.restored}</td></tr>
                    <tr data-outcome="accepted_restored"><th scope="row">"Of them, moved to Accepted by the task, back to Received"</th><td>{counts.accepted_restored}</td></tr>
                    <tr data-outcome="changed_since"><th scope="row">"Changed since the task, left as they are"</th><td>{counts.changed_since}</td></tr>
                </tbody>
            </table>
            <p>{format!("Affiliate events back to approved: {} · Cap units taken again: {}", counts.events_restored, counts.cap_units)}</p>
        </section>
    }
}

/// "Undo this task": the confirmation (what will happen, asked of the server) before anything
/// changes, then the undo is queued and its page opened.
#[component]
fn UndoPanel(task_id: i64) -> impl IntoView {
    let preview: RwSignal<Option<Result<UndoPreview, AppError>>> = RwSignal::new(None);
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let navigate = leptos_router::hooks::use_navigate();
    let ask = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            preview.set(Some(undo_task_preview(task_id).await));
            busy.set(false);
        });
    };
    let confirm = move |_| {
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match undo_rejection_task(task_id).await {
                Ok(undo) => navigate(&format!("/leads/import-rejections/tasks/{undo}"), Default::default()),
                Err(err) => {
                    error.set(Some(err.to_string()));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="undo-heading">
            <h2 id="undo-heading">"Undo"</h2>
            <Show when=move || !matches!(preview.get(), Some(Ok(_)))>
                <p>"Put back every lead this task changed, unless it changed since."</p>
                <button type="button" on:click=ask disabled=move || busy.get()>"Undo this task"</button>
            </Show>
            {move || preview.get().map(|p| match p {
                Ok(p) => view! {
                    <div role="alert" data-testid="undo-confirmation">
                        <p><strong>"Undoing this task will:"</strong></p>
                        <ul>
                            <li>{format!("put {} lead(s) back to the status and reason they had before", p.leads_back)}</li>
                            <li>{format!("of them, move {} lead(s) the task moved to Accepted back to Received", p.accepted_back)}</li>
                            <li>{format!("put {} affiliate event(s) back to approved", p.events)}</li>
                            <li>{format!("take {} cap unit(s) again", p.cap_units)}</li>
                            <li>{format!("leave {} lead(s) changed since the task as they are", p.changed_since)}</li>
                        </ul>
                        {(!p.over_limit.is_empty()).then(|| view! {
                            <p class="warning">"These caps will be over their limit:"</p>
                            <ul class="warning">{p.over_limit.iter().map(|c| view! { <li>{c.clone()}</li> }).collect_view()}</ul>
                        })}
                        <p>"A task can be undone once, and an undo cannot be undone."</p>
                        <button type="button" class="danger" on:click=confirm.clone() disabled=move || busy.get()>"Undo task"</button>
                        " "
                        <button type="button" on:click=move |_| preview.set(None)>"Cancel"</button>
                    </div>
                }.into_any(),
                Err(err) => view! { <p class="error" role="alert">{err.to_string()}</p> }.into_any(),
            })}
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}

/// A rejection task's counts and options.
#[component]
fn RunSummary(task: TaskView) -> impl IntoView {
    let o = task.options;
    let yes_no = |b: bool| if b { "Yes" } else { "No" };
    let finished = task.status == TaskStatus::Completed;
    view! {
        <section aria-labelledby="counts-heading">
            <h2 id="counts-heading">"Rows per outcome"</h2>
            <table class="data compact">
                <caption class="visually-hidden">"Rows per outcome"</caption>
                <thead><tr><th scope="col">"Outcome"</th><th scope="col">"Rows"</th></tr></thead>
                <tbody>
                    {task.counts.iter().map(|(o, n)| view! {
                        <tr data-outcome=o.as_str()><th scope="row">{o.label()}</th><td>{*n}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            {(task.remaining_accepted > 0 || o.move_remaining_to_accepted).then(|| view! {
                <p>{format!("Remaining leads moved to Accepted: {}", task.remaining_accepted)}</p>
            })}
            {o.count_towards_cap.then(|| view! {
                <p>{format!("Cap units given back: {}", task.cap_units_released)}</p>
            })}
        </section>
        <section aria-labelledby="options-heading">
            <h2 id="options-heading">"How it ran"</h2>
            <dl class="facts">
                <dt>"Identifier"</dt><dd>{format!("{} (column \"{}\")", task.identifier, task.identifier_column)}</dd>
                <dt>"Rejection Reason column"</dt><dd>{task.reason_column.clone()}</dd>
                <dt>"Reject from the date"</dt><dd>{task.reject_from.clone().unwrap_or_else(|| "Not set (the day the task was started)".to_owned())}</dd>
                <dt>"Move leads older than maximum rejected date to accepted"</dt><dd>{yes_no(o.move_outside_to_accepted)}</dd>
                <dt>"Reject affiliate events"</dt><dd>{yes_no(o.reject_affiliate_events)}</dd>
                <dt>"Move any remaining leads to accepted"</dt><dd>{yes_no(o.move_remaining_to_accepted)}</dd>
                <dt>"Count these rejections towards the cap"</dt><dd>{yes_no(o.count_towards_cap)}</dd>
            </dl>
        </section>
        {finished.then(|| view! {
            <section aria-labelledby="affected-heading">
                <h2 id="affected-heading">"Leads changed"</h2>
                {if task.affected.is_empty() {
                    view! { <p>"This task changed no lead."</p> }.into_any()
                } else {
                    view! {
                        <p class="hint">"The first leads this task changed, in file order; the results file lists every row."</p>
                        <ul class="affected">
                            {task.affected.iter().map(|a| {
                                let what = if a.outcome == Outcome::Rejected { "Client Rejected" } else { "Accepted" };
                                view! {
                                    <li><A href=format!("/leads/{}", a.lead_id)>{format!("Lead {}", a.lead_id)}</A>
                                        {format!(" (row {}) → {what}", a.row)}</li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
        })}
    }
}
