//! The Import Rejections page. Users without "Reject Leads as a Client" get an explanation of
//! who can enable it; the server refuses their calls whatever the page shows.

pub mod model;
pub mod server_fns;

pub use model::{Outcome, TaskOptions, TaskStatus};

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::ErrorPage;
use crate::error::AppError;
use server_fns::rejection_campaigns;

pub const NO_PERMISSION: &str = "Importing rejections needs the \"Reject Leads as a Client\" permission. \
    Your lead supplier (the instance owner) must enable it for your account.";

#[component]
pub fn ImportRejectionsPage() -> impl IntoView {
    let campaigns = Resource::new(|| (), |_| rejection_campaigns());
    view! {
        <Title text="Import Rejections"/>
        <h1>"Import Rejections"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match campaigns.await {
                    Ok(list) => view! {
                        <p class="lead">
                            "Send back leads you reject: upload a CSV with an identifier and a reason for each lead."
                        </p>
                        <h2>"Your campaigns"</h2>
                        <ul class="campaigns">
                            {list.into_iter().map(|c| view! {
                                <li>
                                    <strong>{c.name}</strong>" — "
                                    {match c.max_rejection_days {
                                        Some(d) => format!("leads can be rejected for {d} days after they are received"),
                                        None => "not accepting rejections: this campaign has no maximum rejection time; ask your lead supplier".to_owned(),
                                    }}
                                </li>
                            }).collect_view()}
                        </ul>
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
}
