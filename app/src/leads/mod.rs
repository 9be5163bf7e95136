//! Leads: the list ("All leads") and the lead page.

mod lead_page;
pub mod model;
pub mod server_fns;

pub use lead_page::LeadPage;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::ErrorPage;
use server_fns::recent_leads;

#[component]
pub fn AllLeadsPage() -> impl IntoView {
    let leads = Resource::new(|| (), |_| recent_leads());
    view! {
        <Title text="All leads"/>
        <h1>"All leads"</h1>
        <p class="lead">"The newest leads of your campaigns, newest first."</p>
        <Suspense fallback=|| view! { <p>"Loading leads…"</p> }>
            {move || Suspend::new(async move {
                match leads.await {
                    Ok(rows) if rows.is_empty() => view! { <p>"No leads yet."</p> }.into_any(),
                    Ok(rows) => view! {
                        <table class="data">
                            <caption class="visually-hidden">"Newest leads"</caption>
                            <thead><tr>
                                <th scope="col">"Lead ID"</th>
                                <th scope="col">"Campaign"</th>
                                <th scope="col">"Supplier"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Received (UTC)"</th>
                            </tr></thead>
                            <tbody>
                                {rows.into_iter().map(|l| view! {
                                    <tr>
                                        <td><A href=format!("/leads/{}", l.id)>{l.id}</A></td>
                                        <td>{l.campaign}</td>
                                        <td>{l.supplier}</td>
                                        <td>
                                            <span class=format!("badge status-{}", l.status.as_str())>{l.status.label()}</span>
                                            {l.status_reason.map(|r| view! { <span class="reason">{r}</span> })}
                                        </td>
                                        <td>{l.received_at}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
