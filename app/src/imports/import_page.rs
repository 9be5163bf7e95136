//! The page of one lead import: live progress while it runs, then the counts and the results
//! file.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::server_fns::lead_import;
use crate::components::ErrorPage;
use crate::domain::lead_import::ImportView;
use crate::domain::task::TaskStatus;
use crate::error::AppError;

/// How often an unfinished import is asked for again (one indexed row read).
const POLL_MS: u64 = 500;

#[component]
pub fn ImportPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let tick = RwSignal::new(0_u32);
    let import = Resource::new(
        move || (id(), tick.get()),
        |(id, _)| async move {
            match id {
                Some(id) => lead_import(id).await,
                None => Err(AppError::NotFound),
            }
        },
    );
    Effect::new(move |_| {
        if let Some(Ok(i)) = import.get()
            && !i.is_finished()
        {
            set_timeout(move || tick.update(|n| *n += 1), std::time::Duration::from_millis(POLL_MS));
        }
    });
    view! {
        <Transition fallback=|| view! { <p>"Loading the import…"</p> }>
            {move || Suspend::new(async move {
                match import.await {
                    Ok(i) => view! { <ImportDetails import=i/> }.into_any(),
                    Err(err) => view! { <Title text="Not found"/><ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ImportDetails(import: ImportView) -> impl IntoView {
    let title = format!("Lead import {}", import.id);
    let done = import.rows_done;
    let progress = match import.rows_total {
        Some(total) => {
            let percent = if total > 0 { done * 100 / total } else { 100 };
            view! {
                <progress aria-label="Import progress" max=total.max(1).to_string()
                    value=(if total > 0 { done } else { 1 }).to_string()></progress>
                <p class="progress-text">{format!("{done} of {total} rows ({percent}%)")}</p>
            }
            .into_any()
        }
        None => {
            let text = if import.status == TaskStatus::Queued {
                "Waiting to start…"
            } else {
                "Counting the rows…"
            };
            view! { <progress aria-label="Import progress"></progress><p class="progress-text">{text}</p> }
                .into_any()
        }
    };
    let status_text = match (&import.status, &import.failure_reason) {
        (TaskStatus::Failed, Some(reason)) => format!("Failed: {reason}"),
        (status, _) => status.label().to_owned(),
    };
    let results_href = format!("/leads/import/{}/results.csv", import.id);
    let has_results = import.rows_done > 0 || import.status == TaskStatus::Completed;
    view! {
        <Title text=title.clone()/>
        <p><A href="/leads/import">"← Import leads"</A></p>
        <h1>{title}</h1>
        <p class="lead">
            {format!("{} · {} · from {} · started by {} on {} UTC", import.file_name, import.campaign, import.supplier, import.started_by, import.created_at)}
        </p>
        <section class="card" aria-labelledby="progress-heading">
            <h2 id="progress-heading">"Progress"</h2>
            <p>"Status: "<strong class=format!("badge task-{}", import.status.as_str()) data-testid="import-status">{status_text}</strong>
                {import.finished_at.clone().map(|t| format!(" · finished {t} UTC"))}</p>
            {progress}
            <dl class="facts">
                <dt>"Leads created"</dt><dd data-testid="leads-created">{import.leads_created}</dd>
                <dt>"Rows refused"</dt><dd data-testid="rows-refused">{import.rows_refused}</dd>
                <dt>"Caps"</dt><dd>{if import.apply_caps { "Applied" } else { "Not applied" }}</dd>
            </dl>
            {has_results.then(|| view! {
                <p>
                    <a href=results_href class="button" download>
                        {if import.status == TaskStatus::Completed { "Download results" } else { "Download results so far" }}
                    </a>
                </p>
                <p class="hint">"One line per row of the file: the lead created (its ID and UID) or why the row was refused."</p>
            })}
        </section>
    }
}
