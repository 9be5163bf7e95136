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
    AffectedLead, IdentifierChoice, Outcome, PreviewSummary, TaskForm, TaskOptions, TaskStatus, TaskSummary,
    TaskView, UploadPreview, UploadRefusal,
};
pub use task_page::TaskPage;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::{ErrorPage, use_me};
use crate::error::AppError;
use server_fns::{rejection_campaigns, rejection_task_history};

pub const NO_PERMISSION: &str = "Importing rejections needs the \"Reject Leads as a Client\" permission. \
    Your lead supplier (the instance owner) must enable it for your account.";

#[component]
pub fn ImportRejectionsPage() -> impl IntoView {
    let is_owner = use_me().is_some_and(|me| me.is_owner);
    // One suspense boundary per page: the page hydrates in one piece, so nothing the user does
    // right after it loads meets a half-hydrated part.
    let history = Resource::new(|| (), |_| rejection_task_history());
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

/// The newest tasks the user may see.
#[component]
fn TaskHistory(tasks: Result<Vec<TaskSummary>, AppError>) -> impl IntoView {
    view! {
        <section aria-labelledby="history-heading">
            <h2 id="history-heading">"Task history"</h2>
            {match tasks {
                Ok(list) if list.is_empty() => view! { <p>"No rejection tasks yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="data">
                        <caption class="visually-hidden">"Recent rejection tasks"</caption>
                        <thead><tr>
                            <th scope="col">"Task"</th>
                            <th scope="col">"File"</th>
                            <th scope="col">"Campaign"</th>
                            <th scope="col">"Started by"</th>
                            <th scope="col">"When (UTC)"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Rows"</th>
                            <th scope="col">"Rejected"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|t| view! {
                                <tr>
                                    <td><A href=format!("/leads/import-rejections/tasks/{}", t.id)>{format!("Task {}", t.id)}</A></td>
                                    <td>{t.file_name}</td>
                                    <td>{t.campaign}</td>
                                    <td>{t.started_by}</td>
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
                }.into_any(),
                Err(err) => view! { <p class="form-error" role="alert">{err.to_string()}</p> }.into_any(),
            }}
        </section>
    }
}
