//! A campaign's set-up page (`/settings/campaigns/{id}`): its name and maximum rejection time,
//! its fields (dedupe, and the duplicates that keep it off), its caps with what they have used,
//! the suppliers that may send to it, and its change log.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::server_fns::{
    AddCap, AddField, RemoveCap, RemoveField, SetCapLimit, UpdateCampaign, UpdateField, get_setup_campaign,
};
use super::{Changes, DAYS_HINT, Failure, Notice, rejection_days_text, reset_after};
use crate::components::{ErrorPage, hydrated};
use crate::domain::caps::CapPeriod;
use crate::domain::identifiers::FieldKind;
use crate::domain::setup::period_words;
use crate::domain::setup_view::{CampaignDetail, CapView, ChangeView, FieldView, Named};
use crate::error::AppError;

const KINDS: [FieldKind; 3] = [FieldKind::Email, FieldKind::Phone, FieldKind::Text];
const PERIODS: [CapPeriod; 4] = [CapPeriod::Day, CapPeriod::Week, CapPeriod::Month, CapPeriod::Total];

#[component]
pub fn CampaignPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).filter(|id| *id > 0);
    let changes = Changes::new();
    let campaign = Resource::new(
        move || (id(), changes.version()),
        |(id, _)| async move {
            match id {
                Some(id) => get_setup_campaign(id).await,
                None => Err(AppError::NotFound),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p>"Loading the campaign…"</p> }>
            {move || Suspend::new(async move {
                match campaign.await {
                    Ok(c) => view! { <CampaignView campaign=c changes/> }.into_any(),
                    Err(err) => view! { <Title text="Not found"/> <ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CampaignView(campaign: CampaignDetail, changes: Changes) -> impl IntoView {
    let id = campaign.id;
    view! {
        <Title text=campaign.name.clone()/>
        <p class="breadcrumbs"><A href="/settings/campaigns">"Campaigns"</A></p>
        <h1>{campaign.name.clone()}</h1>
        <dl class="facts">
            <dt>"Client"</dt><dd>{campaign.client.name.clone()}</dd>
            <dt>"Maximum rejection days"</dt><dd>{rejection_days_text(campaign.max_rejection_days)}</dd>
        </dl>
        <SettingsForm id name=campaign.name days=campaign.max_rejection_days changes/>
        <FieldsSection campaign_id=id fields=campaign.fields changes/>
        <CapsSection campaign_id=id caps=campaign.caps suppliers=campaign.all_suppliers changes/>
        <SuppliersSection suppliers=campaign.suppliers/>
        <ChangesSection changes=campaign.changes/>
    }
}

#[component]
fn SettingsForm(id: i64, name: String, days: Option<i32>, changes: Changes) -> impl IntoView {
    let save = ServerAction::<UpdateCampaign>::new();
    changes.after(save, "settings", "Settings saved.");
    let failure = Failure::of(save);
    let hydrated = hydrated();
    view! {
        <section aria-labelledby="settings-heading">
            <h2 id="settings-heading">"Settings"</h2>
            <ActionForm action=save attr:class="stack" attr:aria-labelledby="settings-heading" attr:novalidate=true>
                <input type="hidden" name="campaign_id" value=id.to_string()/>
                <label for="campaign-name">"Name"</label>
                <input id="campaign-name" type="text" name="name" value=name required
                    aria-invalid=failure.invalid("name") aria-describedby="campaign-name-error"/>
                <p id="campaign-name-error" class="field-error" role="alert">{failure.on("name")}</p>
                <label for="campaign-days">"Maximum rejection days"</label>
                <input id="campaign-days" type="text" inputmode="numeric" name="max_rejection_days"
                    value=days.map(|d| d.to_string()).unwrap_or_default()
                    aria-invalid=failure.invalid("max_rejection_days")
                    aria-describedby="campaign-days-hint campaign-days-error"/>
                <p id="campaign-days-hint" class="hint">{DAYS_HINT}</p>
                <p id="campaign-days-error" class="field-error" role="alert">{failure.on("max_rejection_days")}</p>
                <p class="form-error" role="alert">{failure.other(&["name", "max_rejection_days"])}</p>
                <Notice changes at="settings"/>
                <button type="submit" disabled=move || !hydrated.get() || save.pending().get()>"Save"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn FieldsSection(campaign_id: i64, fields: Vec<FieldView>, changes: Changes) -> impl IntoView {
    let fixed = fields.iter().any(|f| f.has_values);
    view! {
        <section aria-labelledby="fields-heading">
            <h2 id="fields-heading">"Fields"</h2>
            {if fields.is_empty() {
                view! { <p>"No fields yet. Add the fields leads of this campaign carry, such as email and phone."</p> }.into_any()
            } else {
                view! {
                    <table class="data edit">
                        <caption class="visually-hidden">"Fields of this campaign"</caption>
                        <thead><tr>
                            <th scope="col">"Key"</th>
                            <th scope="col">"Label"</th>
                            <th scope="col">"Kind"</th>
                            <th scope="col">"Position"</th>
                            <th scope="col">"Dedupe"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {fields.into_iter().map(|f| view! { <FieldRow campaign_id field=f changes/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {fixed.then(|| view! {
                <p class="hint">"A field's key and kind are fixed once leads hold values in it: those values were stored under them."</p>
            })}
            <p class="hint">"Dedupe: at most one lead of the campaign per value. Rejections can identify leads only by a deduplicated field."</p>
            <Notice changes at="fields"/>
            <AddFieldForm campaign_id changes/>
        </section>
    }
}

#[component]
fn FieldRow(campaign_id: i64, field: FieldView, changes: Changes) -> impl IntoView {
    let update = ServerAction::<UpdateField>::new();
    let remove = ServerAction::<RemoveField>::new();
    changes.after(update, "fields", "Field saved.");
    changes.after(remove, "fields", "Field removed.");
    let (update_failure, remove_failure) = (Failure::of(update), Failure::of(remove));
    let hydrated = hydrated();
    let busy = move || !hydrated.get() || update.pending().get() || remove.pending().get();
    let FieldView { id, key, label, kind, dedupe, position, has_values } = field;
    let form = format!("field-{id}");
    let (save_label, remove_label) = (format!("Save field {key}"), format!("Remove field {key}"));
    let error_id = format!("field-{id}-error");
    let duplicates = format!("/settings/campaigns/{campaign_id}/fields/{id}/duplicates");
    let error = move || update_failure.0.get().or_else(|| remove_failure.0.get());
    view! {
        <tr>
            <td>
                <input type="text" name="key" value=key.clone() form=form.clone() disabled=has_values
                    aria-label=format!("Key of {key}") aria-describedby=error_id.clone() aria-invalid=update_failure.invalid("key")/>
                {has_values.then(|| view! { <input type="hidden" name="key" value=key.clone() form=form.clone()/> })}
            </td>
            <td><input type="text" name="label" value=label form=form.clone() aria-label=format!("Label of {key}")
                aria-describedby=error_id.clone() aria-invalid=update_failure.invalid("label")/></td>
            <td>
                <select name="kind" form=form.clone() disabled=has_values aria-label=format!("Kind of {key}")>
                    {KINDS.map(|k| view! { <option value=k.as_str() selected={k == kind}>{k.as_str()}</option> })}
                </select>
                {has_values.then(|| view! { <input type="hidden" name="kind" value=kind.as_str() form=form.clone()/> })}
            </td>
            <td><input type="number" name="position" class="narrow" value=position.to_string() form=form.clone()
                aria-label=format!("Position of {key}") aria-invalid=update_failure.invalid("position")/></td>
            <td><input type="checkbox" name="dedupe" value="on" checked=dedupe form=form.clone()
                aria-label=format!("Dedupe on {key}") aria-describedby=error_id.clone()/></td>
            <td><div class="row-actions">
                <ActionForm action=update attr:id=form>
                    <input type="hidden" name="field_id" value=id.to_string()/>
                    <button type="submit" class="secondary" disabled=busy aria-label=save_label>"Save field"</button>
                </ActionForm>
                <button type="button" class="secondary" disabled=busy aria-label=remove_label
                    on:click=move |_| { remove.dispatch(RemoveField { field_id: id }); }>"Remove field"</button>
            </div></td>
        </tr>
        {move || error().map(|err| {
            let dedupe = err.field_message("dedupe").is_some();
            view! {
                <tr class="row-error"><td colspan="6">
                    <p id=error_id.clone() class="field-error" role="alert">
                        {err.to_string()}
                        {dedupe.then(|| view! { " " <A href=duplicates.clone()>"See the duplicates"</A> })}
                    </p>
                </td></tr>
            }
        })}
    }
}

#[component]
fn AddFieldForm(campaign_id: i64, changes: Changes) -> impl IntoView {
    let add = ServerAction::<AddField>::new();
    changes.after(add, "fields", "Field added.");
    let failure = Failure::of(add);
    let form = NodeRef::new();
    reset_after(add, form);
    let hydrated = hydrated();
    view! {
        <h3 id="add-field-heading">"Add a field"</h3>
        <ActionForm action=add node_ref=form attr:class="stack" attr:aria-labelledby="add-field-heading" attr:novalidate=true>
            <input type="hidden" name="campaign_id" value=campaign_id.to_string()/>
            <label for="new-field-key">"Key"</label>
            <input id="new-field-key" type="text" name="key" required
                aria-invalid=failure.invalid("key") aria-describedby="new-field-key-hint new-field-key-error"/>
            <p id="new-field-key-hint" class="hint">"How the intake API and bulk import name the field: lower-case letters, digits and underscores, e.g. email or post_code."</p>
            <p id="new-field-key-error" class="field-error" role="alert">{failure.on("key")}</p>
            <label for="new-field-label">"Label"</label>
            <input id="new-field-label" type="text" name="label" required
                aria-invalid=failure.invalid("label") aria-describedby="new-field-label-error"/>
            <p id="new-field-label-error" class="field-error" role="alert">{failure.on("label")}</p>
            <label for="new-field-kind">"Kind"</label>
            <select id="new-field-kind" name="kind" aria-describedby="new-field-kind-error">
                {KINDS.map(|k| view! { <option value=k.as_str()>{k.as_str()}</option> })}
            </select>
            <p id="new-field-kind-error" class="field-error" role="alert">{failure.on("kind")}</p>
            <div class="check">
                <input id="new-field-dedupe" type="checkbox" name="dedupe" value="on"/>
                <label for="new-field-dedupe">"Dedupe"</label>
            </div>
            <p class="form-error" role="alert">{failure.other(&["key", "label", "kind"])}</p>
            <button type="submit" disabled=move || !hydrated.get() || add.pending().get()>"Add field"</button>
        </ActionForm>
    }
}

#[component]
fn CapsSection(
    campaign_id: i64,
    caps: Vec<CapView>,
    suppliers: Vec<Named>,
    changes: Changes,
) -> impl IntoView {
    view! {
        <section aria-labelledby="caps-heading">
            <h2 id="caps-heading">"Caps"</h2>
            {if caps.is_empty() {
                view! { <p>"No caps: the campaign takes every valid lead."</p> }.into_any()
            } else {
                view! {
                    <table class="data edit">
                        <caption class="visually-hidden">"Caps of this campaign"</caption>
                        <thead><tr>
                            <th scope="col">"On"</th>
                            <th scope="col">"Period"</th>
                            <th scope="col">"Limit"</th>
                            <th scope="col">"Used"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {caps.into_iter().map(|cap| view! { <CapRow cap changes/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <Notice changes at="caps"/>
            <AddCapForm campaign_id suppliers changes/>
        </section>
    }
}

/// What a cap has used in its current period, e.g. "12 used this week (from 2026-11-30)".
fn usage_words(cap: &CapView) -> String {
    let n = cap.used;
    match cap.period {
        CapPeriod::Day => format!("{n} used today ({})", cap.period_start),
        CapPeriod::Week => format!("{n} used this week (from {})", cap.period_start),
        CapPeriod::Month => format!("{n} used this month (from {})", cap.period_start),
        CapPeriod::Total => format!("{n} used in total"),
    }
}

#[component]
fn CapRow(cap: CapView, changes: Changes) -> impl IntoView {
    let set_limit = ServerAction::<SetCapLimit>::new();
    let remove = ServerAction::<RemoveCap>::new();
    changes.after(set_limit, "caps", "Cap limit saved.");
    changes.after(remove, "caps", "Cap removed.");
    let (limit_failure, remove_failure) = (Failure::of(set_limit), Failure::of(remove));
    let hydrated = hydrated();
    let busy = move || !hydrated.get() || set_limit.pending().get() || remove.pending().get();
    let whose = cap.supplier.as_ref().map_or_else(|| "Whole campaign".to_owned(), |s| s.name.clone());
    let name = format!("{whose} {}", period_words(cap.period));
    let (save_label, remove_label) = (format!("Save limit of {name}"), format!("Remove cap {name}"));
    let (id, form) = (cap.id, format!("cap-{}", cap.id));
    let error_id = format!("cap-{id}-error");
    let error = move || limit_failure.0.get().or_else(|| remove_failure.0.get()).map(|e| e.to_string());
    view! {
        <tr>
            <th scope="row">{whose}</th>
            <td>{period_words(cap.period)}</td>
            <td><input type="text" inputmode="numeric" name="limit" class="narrow" value=cap.limit.to_string()
                form=form.clone() aria-label=format!("Limit of {name}")
                aria-invalid=limit_failure.invalid("limit") aria-describedby=error_id.clone()/></td>
            <td>{usage_words(&cap)}</td>
            <td><div class="row-actions">
                <ActionForm action=set_limit attr:id=form>
                    <input type="hidden" name="cap_id" value=id.to_string()/>
                    <button type="submit" class="secondary" disabled=busy aria-label=save_label>"Save limit"</button>
                </ActionForm>
                <button type="button" class="secondary" disabled=busy aria-label=remove_label
                    on:click=move |_| { remove.dispatch(RemoveCap { cap_id: id }); }>"Remove cap"</button>
            </div></td>
        </tr>
        {move || error().map(|message| view! {
            <tr class="row-error"><td colspan="5">
                <p id=error_id.clone() class="field-error" role="alert">{message}</p>
            </td></tr>
        })}
    }
}

#[component]
fn AddCapForm(campaign_id: i64, suppliers: Vec<Named>, changes: Changes) -> impl IntoView {
    let add = ServerAction::<AddCap>::new();
    changes.after(add, "caps", "Cap added.");
    let failure = Failure::of(add);
    let form = NodeRef::new();
    reset_after(add, form);
    let hydrated = hydrated();
    view! {
        <h3 id="add-cap-heading">"Add a cap"</h3>
        <ActionForm action=add node_ref=form attr:class="stack" attr:aria-labelledby="add-cap-heading" attr:novalidate=true>
            <input type="hidden" name="campaign_id" value=campaign_id.to_string()/>
            <label for="new-cap-supplier">"Supplier"</label>
            <select id="new-cap-supplier" name="supplier_id" aria-invalid=failure.invalid("supplier")
                aria-describedby="new-cap-supplier-hint new-cap-supplier-error">
                <option value="">"Whole campaign"</option>
                {suppliers.into_iter().map(|s| view! { <option value=s.id.to_string()>{s.name}</option> }).collect_view()}
            </select>
            <p id="new-cap-supplier-hint" class="hint">"A supplier's cap counts only that supplier's leads."</p>
            <p id="new-cap-supplier-error" class="field-error" role="alert">{failure.on("supplier")}</p>
            <label for="new-cap-period">"Period"</label>
            <select id="new-cap-period" name="period" aria-invalid=failure.invalid("period") aria-describedby="new-cap-period-error">
                {PERIODS.map(|p| view! { <option value=p.as_str()>{period_words(p)}</option> })}
            </select>
            <p id="new-cap-period-error" class="field-error" role="alert">{failure.on("period")}</p>
            <label for="new-cap-limit">"Limit"</label>
            <input id="new-cap-limit" type="text" inputmode="numeric" name="limit" required
                aria-invalid=failure.invalid("limit") aria-describedby="new-cap-limit-error"/>
            <p id="new-cap-limit-error" class="field-error" role="alert">{failure.on("limit")}</p>
            <p class="form-error" role="alert">{failure.other(&["supplier", "period", "limit"])}</p>
            <button type="submit" disabled=move || !hydrated.get() || add.pending().get()>"Add cap"</button>
        </ActionForm>
    }
}

#[component]
fn SuppliersSection(suppliers: Vec<Named>) -> impl IntoView {
    view! {
        <section aria-labelledby="suppliers-heading">
            <h2 id="suppliers-heading">"Suppliers"</h2>
            {if suppliers.is_empty() {
                view! { <p>"No supplier may send leads to this campaign yet."</p> }.into_any()
            } else {
                view! {
                    <p>"These suppliers may send leads to this campaign:"</p>
                    <ul>{suppliers.into_iter().map(|s| view! { <li>{s.name}</li> }).collect_view()}</ul>
                }.into_any()
            }}
            <p><A href="/settings/suppliers">"Change which suppliers may send to it"</A></p>
        </section>
    }
}

#[component]
fn ChangesSection(changes: Vec<ChangeView>) -> impl IntoView {
    view! {
        <section aria-labelledby="changes-heading">
            <h2 id="changes-heading">"Changes"</h2>
            {if changes.is_empty() {
                view! { <p>"No changes logged."</p> }.into_any()
            } else {
                view! {
                    <table class="data">
                        <caption class="visually-hidden">"Changes to this campaign, newest first"</caption>
                        <thead><tr>
                            <th scope="col">"When (UTC)"</th>
                            <th scope="col">"Who"</th>
                            <th scope="col">"What"</th>
                        </tr></thead>
                        <tbody>
                            {changes.into_iter().map(|c| view! {
                                <tr>
                                    <td class="nowrap">{c.at}</td>
                                    <td>{c.who}</td>
                                    <td>{c.action}<span class="reason">{c.detail}</span></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
