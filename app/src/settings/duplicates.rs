//! A field's duplicates (`/settings/campaigns/{id}/fields/{field}/duplicates`): the values more
//! than one lead of the campaign holds, which keep dedupe off, with links to those leads.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::server_fns::get_field_duplicates;
use crate::components::ErrorPage;
use crate::domain::setup_view::{DuplicateValue, FieldDuplicates};
use crate::error::AppError;

#[component]
pub fn DuplicatesPage() -> impl IntoView {
    let params = use_params_map();
    let ids = move || {
        params.with(|p| {
            let id = |key: &str| p.get(key).and_then(|s| s.parse::<i64>().ok()).filter(|id| *id > 0);
            id("id").zip(id("field"))
        })
    };
    let duplicates = Resource::new(ids, |ids| async move {
        let (campaign_id, field_id) = ids.ok_or(AppError::NotFound)?;
        let found = get_field_duplicates(field_id).await?;
        // The field must be the campaign's the address names.
        if found.campaign.id == campaign_id { Ok(found) } else { Err(AppError::NotFound) }
    });
    view! {
        <Suspense fallback=|| view! { <p>"Loading the duplicates…"</p> }>
            {move || Suspend::new(async move {
                match duplicates.await {
                    Ok(d) => view! { <Duplicates duplicates=d/> }.into_any(),
                    Err(err) => view! { <Title text="Not found"/> <ErrorPage err/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Duplicates(duplicates: FieldDuplicates) -> impl IntoView {
    let FieldDuplicates { campaign, field, surplus, values } = duplicates;
    let title = format!("Duplicate values of {}", field.name);
    let back = format!("/settings/campaigns/{}", campaign.id);
    let summary = match surplus {
        0 => format!("No two leads share a {} value: dedupe can be turned on.", field.name),
        1 => format!("1 lead repeats a {} value an earlier lead has.", field.name),
        n => format!("{n} leads repeat a {} value an earlier lead has.", field.name),
    };
    view! {
        <Title text=title.clone()/>
        <p class="breadcrumbs"><A href=back>{format!("Back to {}", campaign.name)}</A></p>
        <h1>{title}</h1>
        <p class="lead" data-testid="surplus">{summary}</p>
        {(surplus > 0).then(|| view! {
            <p class="hint">
                "Dedupe allows one lead per value, so it stays off for this field until these leads are resolved. \
                 The most repeated values come first."
            </p>
        })}
        {(!values.is_empty()).then(|| view! { <DuplicateTable values/> })}
    }
}

#[component]
fn DuplicateTable(values: Vec<DuplicateValue>) -> impl IntoView {
    view! {
        <table class="data">
            <caption class="visually-hidden">"Values held by more than one lead"</caption>
            <thead><tr>
                <th scope="col">"Value"</th>
                <th scope="col">"Leads"</th>
                <th scope="col">"Lead IDs"</th>
            </tr></thead>
            <tbody>
                {values.into_iter().map(|v| {
                    let more = v.leads - v.lead_ids.len() as i64;
                    view! {
                        <tr>
                            <th scope="row">{v.value}</th>
                            <td>{v.leads}</td>
                            <td>
                                <ul class="inline-list">
                                    {v.lead_ids.into_iter().map(|id| view! {
                                        <li><A href=format!("/leads/{id}")>{id.to_string()}</A></li>
                                    }).collect_view()}
                                    {(more > 0).then(|| view! { <li class="hint">{format!("and {more} more")}</li> })}
                                </ul>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
