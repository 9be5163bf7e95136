//! The lead page (`/leads/{id}`): what a user opens to verify a lead and its rejection.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::model::{LeadDetail, RejectionWindow};
use super::server_fns::lead_detail;
use crate::domain::status::LeadStatus;
use crate::domain::webhooks::DeliveryView;
use crate::error::AppError;

#[component]
pub fn LeadPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).filter(|id| *id > 0);
    let lead = Resource::new(id, |id| async move {
        match id {
            Some(id) => lead_detail(id).await,
            None => Err(AppError::NotFound),
        }
    });
    view! {
        <Suspense fallback=|| view! { <p>"Loading the lead…"</p> }>
            {move || Suspend::new(async move {
                match lead.await {
                    Ok(l) => view! { <LeadDetails lead=l/> }.into_any(),
                    Err(AppError::NotFound) => {
                        #[cfg(feature = "ssr")]
                        crate::auth::access::respond(AppError::NotFound);
                        view! {
                            <Title text="Not found"/>
                            <h1>"Not found"</h1>
                            <p>"There is no lead with this ID among your leads. Check the Lead ID, or "
                                <A href="/leads">"find the lead in All leads"</A>"."</p>
                        }.into_any()
                    }
                    Err(err) => view! { <crate::components::ErrorPage err/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LeadDetails(lead: LeadDetail) -> impl IntoView {
    let title = format!("Lead {}", lead.id);
    let window_class = match lead.window {
        RejectionWindow::Inside { .. } => "window inside",
        _ => "window outside",
    };
    view! {
        <Title text=title.clone()/>
        <h1>{title}</h1>
        <p class="status-line">
            <span class=format!("badge status-{}", lead.status.as_str()) data-testid="lead-status">{lead.status.label()}</span>
            {lead.status_reason.clone().map(|r| view! { <span class="reason" data-testid="lead-reason">{r}</span> })}
        </p>
        <dl class="facts">
            <dt>"Campaign"</dt><dd>{lead.campaign.clone()}</dd>
            <dt>"Supplier"</dt><dd>{lead.supplier.clone()}</dd>
            <dt>"Received (UTC)"</dt><dd>{lead.received_at.clone()}</dd>
            <dt>"UID"</dt><dd><code>{lead.uid.clone()}</code></dd>
            <dt>"Rejection window"</dt><dd class=window_class data-testid="lead-window">{lead.window.describe()}</dd>
        </dl>
        <section aria-labelledby="fields-heading">
            <h2 id="fields-heading">"Fields"</h2>
            {if lead.fields.is_empty() {
                view! { <p>"No field values."</p> }.into_any()
            } else {
                view! {
                    <dl class="facts">
                        {lead.fields.into_iter().map(|(label, value)| view! { <dt>{label}</dt><dd>{value}</dd> }).collect_view()}
                    </dl>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="events-heading">
            <h2 id="events-heading">"Affiliate events"</h2>
            {if lead.events.is_empty() {
                view! { <p>"No affiliate events."</p> }.into_any()
            } else {
                view! {
                    <table class="data compact">
                        <caption class="visually-hidden">"Affiliate events"</caption>
                        <thead><tr>
                            <th scope="col">"Event"</th><th scope="col">"Type"</th><th scope="col">"Cost"</th>
                            <th scope="col">"Revenue"</th><th scope="col">"Status"</th><th scope="col">"When (UTC)"</th>
                        </tr></thead>
                        <tbody>
                            {lead.events.into_iter().map(|e| view! {
                                <tr><td>{e.name}</td><td>{e.kind}</td><td>{e.cost}</td><td>{e.revenue}</td>
                                    <td>{e.status}</td><td>{e.occurred_at}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="history-heading">
            <h2 id="history-heading">"Status history"</h2>
            <table class="data compact">
                <caption class="visually-hidden">"Status history, newest first"</caption>
                <thead><tr>
                    <th scope="col">"When (UTC)"</th><th scope="col">"Change"</th><th scope="col">"By"</th><th scope="col">"Reason"</th>
                </tr></thead>
                <tbody>
                    {lead.history.into_iter().map(|h| {
                        let change = change(h.from, h.to);
                        view! {
                            <tr><td>{h.at}</td><td>{change}</td><td>{h.by}</td><td>{h.reason.unwrap_or_default()}</td></tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        {lead.webhooks.map(|deliveries| view! { <WebhookDeliveries deliveries/> })}
    }
}

/// "Received → Client Rejected", or the status alone for a lead's first.
fn change(from: Option<LeadStatus>, to: LeadStatus) -> String {
    match from {
        Some(from) => format!("{} → {}", from.label(), to.label()),
        None => to.label().to_owned(),
    }
}

/// The lead's webhook events (owner staff only): where each went and how it went.
#[component]
fn WebhookDeliveries(deliveries: Vec<DeliveryView>) -> impl IntoView {
    let body = if deliveries.is_empty() {
        view! { <p>"No webhook events: no endpoint was listening for this lead's changes."</p> }.into_any()
    } else {
        view! {
            <table class="data compact">
                <caption class="visually-hidden">"Webhook deliveries, oldest first"</caption>
                <thead><tr>
                    <th scope="col">"When (UTC)"</th><th scope="col">"Endpoint"</th><th scope="col">"Change"</th>
                    <th scope="col">"State"</th><th scope="col">"Attempts"</th><th scope="col">"Last status"</th>
                </tr></thead>
                <tbody>
                    {deliveries.into_iter().map(|d| {
                        let change = change(d.previous_status, d.status);
                        let state = match d.state.as_str() {
                            "delivered" => "Delivered",
                            "failed" => "Failed",
                            _ => "Pending",
                        };
                        view! {
                            <tr>
                                <td class="nowrap">{d.created_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                <td class="webhook-url"><code>{d.endpoint_url}</code></td>
                                <td>{change}</td>
                                <td><span class=format!("badge delivery-{}", d.state)>{state}</span></td>
                                <td>{d.attempts}</td>
                                <td>{d.last_status_code.map(|c| c.to_string())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section aria-labelledby="webhooks-heading">
            <h2 id="webhooks-heading">"Webhook deliveries"</h2>
            {body}
        </section>
    }
}
