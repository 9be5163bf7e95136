//! The Campaigns page (`/settings/campaigns`): every campaign of the instance with its client,
//! maximum rejection time, fields and suppliers, and creating a campaign (which then opens its
//! page, where its fields and caps are added).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use super::server_fns::{CreateCampaign, list_setup_campaigns, list_setup_clients};
use super::{DAYS_HINT, Failure, rejection_days_text};
use crate::components::{ErrorPage, hydrated};
use crate::domain::setup_view::CampaignSummary;

#[component]
pub fn CampaignsPage() -> impl IntoView {
    let campaigns = Resource::new(|| (), |_| list_setup_campaigns());
    view! {
        <Title text="Campaigns"/>
        <h1>"Campaigns"</h1>
        <p class="lead">"What each client buys: a campaign's fields, caps, suppliers and how long the client may reject its leads."</p>
        <Suspense fallback=|| view! { <p>"Loading campaigns…"</p> }>
            {move || Suspend::new(async move {
                match campaigns.await {
                    Ok(list) => view! { <CampaignTable list/> }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Suspense>
        <CreateCampaignForm/>
    }
}

#[component]
fn CampaignTable(list: Vec<CampaignSummary>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p>"No campaigns yet. Create the first one below."</p> }.into_any();
    }
    view! {
        <table class="data">
            <caption class="visually-hidden">"Campaigns of this instance"</caption>
            <thead><tr>
                <th scope="col">"Campaign"</th>
                <th scope="col">"Client"</th>
                <th scope="col">"Maximum rejection days"</th>
                <th scope="col">"Fields"</th>
                <th scope="col">"Suppliers"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|c| view! {
                    <tr>
                        <th scope="row"><A href=format!("/settings/campaigns/{}", c.id)>{c.name}</A></th>
                        <td>{c.client.name}</td>
                        <td>{rejection_days_text(c.max_rejection_days)}</td>
                        <td>{c.fields}</td>
                        <td>{c.suppliers}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn CreateCampaignForm() -> impl IntoView {
    let create = ServerAction::<CreateCampaign>::new();
    let clients = Resource::new(|| (), |_| list_setup_clients());
    let failure = Failure::of(create);
    let hydrated = hydrated();
    let navigate = use_navigate();
    // A new campaign has no fields yet: its page is where they are added.
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/settings/campaigns/{id}"), Default::default());
        }
    });
    const FIELDS: &[&str] = &["client", "name", "max_rejection_days"];
    view! {
        <h2 id="create-campaign-heading">"Create a campaign"</h2>
        <ActionForm action=create attr:class="stack" attr:aria-labelledby="create-campaign-heading" attr:novalidate=true>
            <label for="new-campaign-client">"Client"</label>
            <select id="new-campaign-client" name="client_id" required
                aria-invalid=failure.invalid("client") aria-describedby="new-campaign-client-error">
                <option value="">"Choose a client"</option>
                <Suspense>
                    {move || Suspend::new(async move {
                        clients.await.unwrap_or_default().into_iter().map(|c| view! {
                            <option value=c.id.to_string()>{c.name}</option>
                        }).collect_view()
                    })}
                </Suspense>
            </select>
            <p id="new-campaign-client-error" class="field-error" role="alert">{failure.on("client")}</p>
            <label for="new-campaign-name">"Name"</label>
            <input id="new-campaign-name" type="text" name="name" required
                aria-invalid=failure.invalid("name") aria-describedby="new-campaign-name-error"/>
            <p id="new-campaign-name-error" class="field-error" role="alert">{failure.on("name")}</p>
            <label for="new-campaign-days">"Maximum rejection days"</label>
            <input id="new-campaign-days" type="text" inputmode="numeric" name="max_rejection_days"
                aria-invalid=failure.invalid("max_rejection_days")
                aria-describedby="new-campaign-days-hint new-campaign-days-error"/>
            <p id="new-campaign-days-hint" class="hint">{DAYS_HINT}</p>
            <p id="new-campaign-days-error" class="field-error" role="alert">{failure.on("max_rejection_days")}</p>
            <p class="form-error" role="alert">{failure.other(FIELDS)}</p>
            <button type="submit" disabled=move || !hydrated.get() || create.pending().get()>"Create campaign"</button>
        </ActionForm>
    }
}
