//! The Suppliers page (`/settings/suppliers`): the instance's lead suppliers with the campaigns
//! each may send leads to; creating, renaming, and choosing those campaigns; and each supplier's
//! intake keys (for `POST /api/v1/lead`): made, shown once, listed by their first characters,
//! revoked.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use super::server_fns::{
    CreateSupplier, CreateSupplierKey, RenameSupplier, RevokeSupplierKey, SetSupplierCampaigns,
    list_setup_campaigns, list_setup_suppliers, list_supplier_keys,
};
use super::{Changes, Failure, Notice, reset_after};
use crate::components::{ErrorPage, hydrated};
use crate::domain::setup_view::{CampaignSummary, KeyView, Named, NewKey, SupplierSummary};

#[component]
pub fn SuppliersPage() -> impl IntoView {
    let changes = Changes::new();
    let suppliers = Resource::new(move || changes.version(), |_| list_setup_suppliers());
    let campaigns = Resource::new(move || changes.version(), |_| list_setup_campaigns());
    let keys = Resource::new(move || changes.version(), |_| list_supplier_keys());
    // The key just made, kept above the reloaded rows; never stored, so gone on a new visit.
    let fresh = RwSignal::new(None::<FreshKey>);
    view! {
        <Title text="Suppliers"/>
        <h1>"Suppliers"</h1>
        <p class="lead">"The affiliates and partners who send you leads, and the campaigns each may send to."</p>
        <Transition fallback=|| view! { <p>"Loading suppliers…"</p> }>
            {move || Suspend::new(async move {
                let (suppliers, campaigns, keys) = (suppliers.await, campaigns.await, keys.await);
                match suppliers.and_then(|s| Ok((s, campaigns?, keys?))) {
                    Ok((suppliers, campaigns, keys)) => view! {
                        <SupplierTable suppliers=suppliers.clone() changes/>
                        <Notice changes at="rows"/>
                        <CampaignChoices suppliers=suppliers.clone() campaigns changes/>
                        <IntakeKeys suppliers keys changes fresh/>
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

/// An intake key just made, for the supplier it was made for.
#[derive(Clone)]
struct FreshKey {
    supplier_id: i64,
    key: NewKey,
}

/// Each supplier's intake keys: what its software sends leads with.
#[component]
fn IntakeKeys(
    suppliers: Vec<SupplierSummary>,
    keys: Vec<KeyView>,
    changes: Changes,
    fresh: RwSignal<Option<FreshKey>>,
) -> impl IntoView {
    if suppliers.is_empty() {
        return ().into_any();
    }
    view! {
        <section aria-labelledby="keys-heading">
            <h2 id="keys-heading">"Intake keys"</h2>
            <p class="hint">
                "A supplier's software sends each lead to "<code>"POST /api/v1/lead"</code>
                " with one of the supplier's keys. A key is shown once, when it is made; revoke a key that may have leaked and make a new one."
            </p>
            <Notice changes at="keys"/>
            <div class="key-cards">
                {suppliers.into_iter().map(|s| {
                    let own: Vec<KeyView> = keys.iter().filter(|k| k.supplier_id == s.id).cloned().collect();
                    view! { <SupplierKeys supplier=s keys=own changes fresh/> }
                }).collect_view()}
            </div>
        </section>
    }
    .into_any()
}

/// One supplier's keys, with making and revoking them.
#[component]
fn SupplierKeys(
    supplier: SupplierSummary,
    keys: Vec<KeyView>,
    changes: Changes,
    fresh: RwSignal<Option<FreshKey>>,
) -> impl IntoView {
    let create = ServerAction::<CreateSupplierKey>::new();
    let revoke = ServerAction::<RevokeSupplierKey>::new();
    changes.after(create, "keys", "Intake key created.");
    changes.after(revoke, "keys", "Key revoked.");
    let supplier_id = supplier.id;
    Effect::new(move |_| {
        if let Some(Ok(key)) = create.value().get() {
            fresh.set(Some(FreshKey { supplier_id, key }));
        }
    });
    let (create_failure, revoke_failure) = (Failure::of(create), Failure::of(revoke));
    let failure = move || create_failure.0.get().or_else(|| revoke_failure.0.get()).map(|e| e.to_string());
    let hydrated = hydrated();
    let heading_id = format!("supplier-{supplier_id}-keys");
    let labelled_by = heading_id.clone();
    // The new key stays on show until the list says it is revoked.
    let revoked: Vec<i64> = keys.iter().filter(|k| k.revoked).map(|k| k.id).collect();
    let on_show = StoredValue::new(supplier.clone());
    let new_key = move || {
        fresh.get().filter(|f| f.supplier_id == supplier_id && !revoked.contains(&f.key.id)).map(|f| {
            view! { <NewKeyBox key=f.key supplier=on_show.get_value() fresh/> }
        })
    };
    view! {
        <div class="card" role="group" aria-labelledby=labelled_by>
            <h3 id=heading_id>{format!("Intake keys of {}", supplier.name)}</h3>
            {new_key}
            <KeyTable supplier=supplier.name.clone() keys revoke/>
            <p class="form-error" role="alert">{failure}</p>
            <button type="button" aria-label=format!("Create intake key for {}", supplier.name)
                disabled=move || !hydrated.get() || create.pending().get()
                on:click=move |_| { create.dispatch(CreateSupplierKey { supplier_id }); }>
                "Create intake key"
            </button>
        </div>
    }
}

/// A supplier's keys: the characters shown, when made and last used, revoked or a Revoke button.
#[component]
fn KeyTable(supplier: String, keys: Vec<KeyView>, revoke: ServerAction<RevokeSupplierKey>) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p class="hint">"No keys yet."</p> }.into_any();
    }
    let hydrated = hydrated();
    let rows = keys.into_iter().map(move |k| {
        let key_id = k.id;
        let state = if k.revoked {
            view! { <span class="key-revoked">"Revoked"</span> }.into_any()
        } else {
            view! {
                <button type="button" class="secondary" aria-label=format!("Revoke key {}", k.shown)
                    disabled=move || !hydrated.get() || revoke.pending().get()
                    on:click=move |_| { revoke.dispatch(RevokeSupplierKey { key_id }); }>
                    "Revoke"
                </button>
            }
            .into_any()
        };
        view! {
            <tr>
                <td><code>{k.shown}</code></td>
                <td class="nowrap">{k.created_at}</td>
                <td class="nowrap">{k.last_used_at.unwrap_or_else(|| "Never used".to_owned())}</td>
                <td>{state}</td>
            </tr>
        }
    });
    view! {
        <table class="data compact">
            <caption class="visually-hidden">{format!("Intake keys of {supplier}")}</caption>
            <thead><tr>
                <th scope="col">"Key"</th>
                <th scope="col">"Created"</th>
                <th scope="col">"Last used"</th>
                <th scope="col">"State"</th>
            </tr></thead>
            <tbody>{rows.collect_view()}</tbody>
        </table>
    }
    .into_any()
}

/// The key just made, shown this once, with an example of posting a lead with it.
#[component]
fn NewKeyBox(key: NewKey, supplier: SupplierSummary, fresh: RwSignal<Option<FreshKey>>) -> impl IntoView {
    let cid = supplier.campaigns.first().map_or_else(|| "<campaign id>".to_owned(), |c| c.id.to_string());
    let example = format!(
        "POST /api/v1/lead\nContent-Type: application/x-www-form-urlencoded\n\n\
         cid={cid}&sid={}&key={}&email=jo%40example.com&phone=07700900123",
        supplier.id, key.key
    );
    let campaigns = if supplier.campaigns.is_empty() {
        "This supplier may not send to any campaign yet: tick its campaigns above.".to_owned()
    } else {
        let each: Vec<String> =
            supplier.campaigns.iter().map(|c| format!("{} (cid={})", c.name, c.id)).collect();
        format!("It may send to {}.", each.join(", "))
    };
    view! {
        <div class="new-key-box" role="status">
            <p><strong>"Copy this key now: it will not be shown again."</strong></p>
            <p><code class="new-key">{key.key}</code></p>
            <p>
                "Post a lead with "<code>"cid"</code>" (the campaign's id), "<code>"sid="{supplier.id}</code>
                " (this supplier), "<code>"key"</code>" (or "<code>"Authorization: Bearer …"</code>
                ") and each field by its key or as "<code>"f_<field id>"</code>", form-encoded or JSON:"
            </p>
            <pre class="example"><code>{example}</code></pre>
            <p class="hint">{campaigns}</p>
            <button type="button" class="secondary" on:click=move |_| fresh.set(None)>"Done: I have copied it"</button>
        </div>
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
