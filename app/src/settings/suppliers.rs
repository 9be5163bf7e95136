//! The Suppliers page (`/settings/suppliers`): the instance's lead suppliers with the campaigns
//! each may send leads to; creating, renaming, and choosing those campaigns.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use super::server_fns::{
    CreateSupplier, RenameSupplier, SetSupplierCampaigns, list_setup_campaigns, list_setup_suppliers,
};
use super::{Changes, Failure, Notice, reset_after};
use crate::components::{ErrorPage, hydrated};
use crate::domain::setup_view::{CampaignSummary, Named, SupplierSummary};

#[component]
pub fn SuppliersPage() -> impl IntoView {
    let changes = Changes::new();
    let suppliers = Resource::new(move || changes.version(), |_| list_setup_suppliers());
    let campaigns = Resource::new(move || changes.version(), |_| list_setup_campaigns());
    view! {
        <Title text="Suppliers"/>
        <h1>"Suppliers"</h1>
        <p class="lead">"The affiliates and partners who send you leads, and the campaigns each may send to."</p>
        <Transition fallback=|| view! { <p>"Loading suppliers…"</p> }>
            {move || Suspend::new(async move {
                let (suppliers, campaigns) = (suppliers.await, campaigns.await);
                match suppliers.and_then(|s| Ok((s, campaigns?))) {
                    Ok((suppliers, campaigns)) => view! {
                        <SupplierTable suppliers=suppliers.clone() changes/>
                        <Notice changes at="rows"/>
                        <CampaignChoices suppliers campaigns changes/>
                    }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
        <CreateSupplierForm changes/>
    }
}

#[component]
fn SupplierTable(suppliers: Vec<SupplierSummary>, changes: Changes) -> impl IntoView {
    if suppliers.is_empty() {
        return view! { <p>"No suppliers yet. Create the first one below."</p> }.into_any();
    }
    view! {
        <table class="data">
            <caption class="visually-hidden">"Suppliers of this instance"</caption>
            <thead><tr>
                <th scope="col">"Supplier"</th>
                <th scope="col">"May send to"</th>
                <th scope="col">"Rename"</th>
            </tr></thead>
            <tbody>
                {suppliers.into_iter().map(|s| view! { <SupplierRow supplier=s changes/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn SupplierRow(supplier: SupplierSummary, changes: Changes) -> impl IntoView {
    let rename = ServerAction::<RenameSupplier>::new();
    changes.after(rename, "rows", "Supplier renamed.");
    let failure = Failure::of(rename);
    let hydrated = hydrated();
    let input_id = format!("rename-supplier-{}", supplier.id);
    let error_id = format!("{input_id}-error");
    let described_by = error_id.clone();
    view! {
        <tr>
            <th scope="row">{supplier.name.clone()}</th>
            <td><CampaignLinks campaigns=supplier.campaigns/></td>
            <td>
                <ActionForm action=rename attr:class="inline-form">
                    <input type="hidden" name="supplier_id" value=supplier.id.to_string()/>
                    <label for=input_id.clone() class="visually-hidden">{format!("New name for {}", supplier.name)}</label>
                    <input id=input_id type="text" name="name" value=supplier.name.clone()
                        aria-invalid=failure.invalid("name") aria-describedby=described_by/>
                    <button type="submit" class="secondary" disabled=move || !hydrated.get() || rename.pending().get()>"Rename"</button>
                </ActionForm>
                <p id=error_id class="field-error" role="alert">
                    {move || failure.on("name")().or_else(failure.other(&["name"]))}
                </p>
            </td>
        </tr>
    }
}

#[component]
fn CampaignLinks(campaigns: Vec<Named>) -> impl IntoView {
    if campaigns.is_empty() {
        return view! { <span class="hint">"No campaign yet"</span> }.into_any();
    }
    view! {
        <ul class="plain">
            {campaigns.into_iter().map(|c| view! {
                <li><A href=format!("/settings/campaigns/{}", c.id)>{c.name}</A></li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn CampaignChoices(
    suppliers: Vec<SupplierSummary>,
    campaigns: Vec<CampaignSummary>,
    changes: Changes,
) -> impl IntoView {
    if suppliers.is_empty() || campaigns.is_empty() {
        return ().into_any();
    }
    let campaigns = StoredValue::new(campaigns);
    view! {
        <section aria-labelledby="choices-heading">
            <h2 id="choices-heading">"Campaigns each supplier may send to"</h2>
            <p class="hint">"Leads are taken only from a supplier the campaign is ticked for."</p>
            <div class="choices">
                {suppliers.into_iter().map(|s| view! { <SupplierCampaigns supplier=s campaigns changes/> }).collect_view()}
            </div>
            <Notice changes at="choices"/>
        </section>
    }
    .into_any()
}

/// One supplier's campaigns as checkboxes, saved together as the whole list.
#[component]
fn SupplierCampaigns(
    supplier: SupplierSummary,
    campaigns: StoredValue<Vec<CampaignSummary>>,
    changes: Changes,
) -> impl IntoView {
    let save = ServerAction::<SetSupplierCampaigns>::new();
    changes.after(save, "choices", "Campaigns saved.");
    let failure = Failure::of(save);
    let hydrated = hydrated();
    let supplier_id = supplier.id;
    let chosen = RwSignal::new(supplier.campaigns.iter().map(|c| c.id).collect::<Vec<i64>>());
    let on_save = move |_| {
        save.dispatch(SetSupplierCampaigns { supplier_id, campaign_ids: chosen.get_untracked() });
    };
    view! {
        <fieldset class="card">
            <legend>{format!("Campaigns {} may send to", supplier.name)}</legend>
            {campaigns.get_value().into_iter().map(|c| {
                let (id, input_id) = (c.id, format!("supplier-{supplier_id}-campaign-{}", c.id));
                let on_change = move |ev| {
                    let on = event_target_checked(&ev);
                    chosen.update(|ids| {
                        ids.retain(|i| *i != id);
                        if on { ids.push(id) }
                    });
                };
                view! {
                    <div class="check">
                        <input id=input_id.clone() type="checkbox" checked=chosen.with_untracked(|ids| ids.contains(&id))
                            disabled=move || !hydrated.get() on:change=on_change/>
                        <label for=input_id>{c.name}</label>
                        <span class="hint">{format!("({})", c.client.name)}</span>
                    </div>
                }
            }).collect_view()}
            <p class="form-error" role="alert">{move || failure.0.get().map(|e| e.to_string())}</p>
            <button type="button" disabled=move || !hydrated.get() || save.pending().get() on:click=on_save>"Save campaigns"</button>
        </fieldset>
    }
}

#[component]
fn CreateSupplierForm(changes: Changes) -> impl IntoView {
    let create = ServerAction::<CreateSupplier>::new();
    changes.after(create, "create", "Supplier created.");
    let failure = Failure::of(create);
    let form = NodeRef::new();
    reset_after(create, form);
    let hydrated = hydrated();
    view! {
        <h2 id="create-supplier-heading">"Create a supplier"</h2>
        <ActionForm action=create node_ref=form attr:class="stack" attr:aria-labelledby="create-supplier-heading" attr:novalidate=true>
            <label for="new-supplier-name">"Name"</label>
            <input id="new-supplier-name" type="text" name="name" required
                aria-invalid=failure.invalid("name") aria-describedby="new-supplier-name-error"/>
            <p id="new-supplier-name-error" class="field-error" role="alert">{failure.on("name")}</p>
            <p class="form-error" role="alert">{failure.other(&["name"])}</p>
            <Notice changes at="create"/>
            <button type="submit" disabled=move || !hydrated.get() || create.pending().get()>"Create supplier"</button>
        </ActionForm>
    }
}
