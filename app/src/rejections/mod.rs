//! Import Rejections: the form that starts a rejection task, the task history and the task
//! page. Client users without "Reject Leads as a Client" get an explanation of who can enable
//! it; the server refuses their calls whatever the page shows. Owner staff see every task.

pub(crate) mod form;
#[cfg(feature = "ssr")]
pub mod http;
pub mod model;
pub mod server_fns;
mod task_page;
#[cfg(feature = "hydrate")]
pub(crate) mod upload;

pub use model::{
    AffectedLead, IdentifierChoice, Outcome, PreviewSummary, TaskForm, TaskHistory, TaskOptions, TaskStatus,
    TaskSummary, TaskView, UploadPreview, UploadRefusal,
};
pub use task_page::TaskPage;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::{ErrorPage, use_me};
use crate::error::AppError;
use server_fns::{rejection_campaigns, rejection_task_history};

pub const NO_PERMISSION: &str = "Importing rejections needs the \"Reject Leads as a Client\" permission. \
    Your lead supplier (the instance owner) must enable it for your account.";

#[component]
pub fn ImportRejectionsPage() -> impl IntoView {
    let is_owner = use_me().is_some_and(|me| me.is_owner);
    // One suspense boundary per page: the page hydrates in one piece, so nothing the user does
    // right after it loads meets a half-hydrated part. (The history in a suspense of its own, so
    // that paging re-rendered it alone, failed hydration now and then.) The history's page comes
    // from the address: `?before=` / `?after=` a task id.
    let query = use_query_map();
    let cursor = Memo::new(move |_| {
        query.with(|q| {
            let id = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
            (id("before"), id("after"))
        })
    });
    let history =
        Resource::new(move || cursor.get(), |(before, after)| rejection_task_history(before, after));
    if is_owner {
        return view! {
            <Title text="Rejection tasks"/>
            <h1>"Rejection tasks"</h1>
            <p class="lead">"Clients import their rejections here. Every task of this instance, newest first."</p>
            <Suspense fallback=|| view! { <p>"Loading tasks…"</p> }>
                {move || Suspend::new(async move { view! { <TaskHistory tasks=history.await/> } })}
            </Suspense>
        }
        .into_any();
    }
    let campaigns = Resource::new(|| (), |_| rejection_campaigns());
    view! {
        <Title text="Import Rejections"/>
        <h1>"Import Rejections"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (campaigns, tasks) = (campaigns.await, history.await);
                match campaigns {
                    Ok(setup) => view! {
                        <p class="lead">
                            "Send back the leads you reject: upload a CSV file with an identifier and a reason for each lead, "
                            "check the preview, then start the task."
                        </p>
                        <form::RejectionForm campaigns=setup.campaigns max_upload_bytes=setup.max_upload_bytes/>
                        <TaskHistory tasks/>
                    }.into_any(),
                    Err(AppError::Forbidden) => {
                        #[cfg(feature = "ssr")]
                        crate::auth::access::respond(AppError::Forbidden);
                        view! {
                            <div class="notice" role="note">
                                <h2>"You cannot import rejections yet"</h2>
                                <p>{NO_PERMISSION}</p>
                            </div>
                        }.into_any()
                    }
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

/// A page of the tasks the user may see, newest first, one line each (long names are cut short,
/// whole in their `title`), with links to older and newer pages.
#[component]
fn TaskHistory(tasks: Result<TaskHistory, AppError>) -> impl IntoView {
    const PAGE: &str = "/leads/import-rejections";
    view! {
        <section aria-labelledby="history-heading">
            <h2 id="history-heading">"Task history"</h2>
            {match tasks {
                Ok(page) if page.tasks.is_empty() => view! { <p>"No rejection tasks yet."</p> }.into_any(),
                Ok(page) => view! {
                    <table class="data history">
                        <caption class="visually-hidden">"Rejection tasks, newest first"</caption>
                        <thead><tr>
                            <th scope="col" class="col-task">"Task"</th>
                            <th scope="col">"File"</th>
                            <th scope="col">"Campaign"</th>
                            <th scope="col" class="col-by">"Started by"</th>
                            <th scope="col" class="col-when">"When (UTC)"</th>
                            <th scope="col" class="col-status">"Status"</th>
                            <th scope="col" class="col-rows">"Rows"</th>
                            <th scope="col" class="col-rejected">"Rejected"</th>
                        </tr></thead>
                        <tbody>
                            {page.tasks.into_iter().map(|t| view! {
                                <tr>
                                    <td><A href=format!("/leads/import-rejections/tasks/{}", t.id)>{format!("Task {}", t.id)}</A></td>
                                    <td title=t.file_name.clone()>{t.file_name.clone()}</td>
                                    <td title=t.campaign.clone()>{t.campaign.clone()}</td>
                                    <td title=t.started_by.clone()>{t.started_by.clone()}</td>
                                    <td>{t.created_at}</td>
                                    <td><span class=format!("badge task-{}", t.status.as_str())>{t.status.label()}</span></td>
                                    <td>{match t.rows_total {
                                        Some(total) => format!("{} of {total}", t.rows_done),
                                        None => t.rows_done.to_string(),
                                    }}</td>
                                    <td>{t.rejected}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    <nav class="pager" aria-label="Task history pages">
                        {page.newer.map(|id| view! { <A href=format!("{PAGE}?after={id}")>"Newer tasks"</A> })}
                        {page.older.map(|id| view! { <A href=format!("{PAGE}?before={id}")>"Older tasks"</A> })}
                    </nav>
                }.into_any(),
                Err(err) => view! { <p class="form-error" role="alert">{err.to_string()}</p> }.into_any(),
            }}
        </section>
    }
}
