//! Leads: the list ("All leads") and the lead page.

mod lead_page;
pub mod model;
pub mod server_fns;

pub use lead_page::LeadPage;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::ErrorPage;
use crate::domain::status::LeadStatus;
use model::{LeadPage, LeadQuery, LeadSort};
use server_fns::list_leads;

#[component]
pub fn AllLeadsPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| params.with(|p| LeadQuery::from_params(|k| p.get(k))));
    let page = Resource::new(move || query.get(), list_leads);
    view! {
        <Title text="All leads"/>
        <h1>"All leads"</h1>
        <Transition fallback=|| view! { <p>"Loading leads…"</p> }>
            {move || Suspend::new(async move {
                let q = query.get();
                match page.await {
                    Ok(p) => view! { <LeadFilters query=q.clone() campaigns=p.campaigns.clone()/> <LeadTable query=q page=p/> }.into_any(),
                    Err(err) if err.field_message("from").is_some() || err.field_message("to").is_some() => view! {
                        <LeadFilters query=q campaigns=Vec::new()/>
                        <p class="form-error" role="alert">{err.to_string()}</p>
                    }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The filter form: a plain GET form, so every filtered list has an address and works before
/// the page is interactive.
#[component]
fn LeadFilters(query: LeadQuery, campaigns: Vec<(i64, String)>) -> impl IntoView {
    view! {
        <form method="get" action="/leads" class="filters" role="search" aria-label="Find leads">
            <div>
                <label for="lead-search">"Search"</label>
                <input id="lead-search" type="search" name="q" value=query.q.clone()
                    placeholder="Lead ID, UID, email or phone" aria-describedby="lead-search-hint"/>
                <p id="lead-search-hint" class="hint">"Phones match however they are written: +44 7700 900123 = 07700900123."</p>
            </div>
            <div>
                <label for="lead-campaign">"Campaign"</label>
                <select id="lead-campaign" name="campaign">
                    <option value="" selected=query.campaign.is_none()>"All campaigns"</option>
                    {campaigns.into_iter().map(|(id, name)| view! {
                        <option value=id.to_string() selected=query.campaign == Some(id)>{name}</option>
                    }).collect_view()}
                </select>
            </div>
            <div>
                <label for="lead-status">"Status"</label>
                <select id="lead-status" name="status">
                    <option value="" selected=query.status.is_none()>"Any status"</option>
                    {LeadStatus::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=query.status == Some(s)>{s.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div>
                <label for="lead-from">"Received from"</label>
                <input id="lead-from" type="date" name="from" value=query.from.clone()/>
            </div>
            <div>
                <label for="lead-to">"Received to"</label>
                <input id="lead-to" type="date" name="to" value=query.to.clone()/>
            </div>
            <div>
                <label for="lead-sort">"Sort"</label>
                <select id="lead-sort" name="sort">
                    {LeadSort::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=query.sort == s>{s.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="filter-actions">
                <button type="submit">"Find leads"</button>
                <a href="/leads">"Clear"</a>
            </div>
        </form>
    }
}

#[component]
fn LeadTable(query: LeadQuery, page: LeadPage) -> impl IntoView {
    if page.rows.is_empty() {
        return view! { <p role="status">"No leads match."</p> }.into_any();
    }
    // Column headers sort; a second click reverses.
    let sort_link = |asc: LeadSort, desc: LeadSort| {
        let next = if query.sort == desc { asc } else { desc };
        LeadQuery { sort: next, after: String::new(), ..query.clone() }.href()
    };
    let aria_sort = |asc: LeadSort, desc: LeadSort| {
        if query.sort == asc {
            "ascending"
        } else if query.sort == desc {
            "descending"
        } else {
            "none"
        }
    };
    let next_href = page.next.clone().map(|after| LeadQuery { after, ..query.clone() }.href());
    let first_href =
        (!query.after.is_empty()).then(|| LeadQuery { after: String::new(), ..query.clone() }.href());
    view! {
        <table class="data">
            <caption class="visually-hidden">"Leads"</caption>
            <thead><tr>
                <th scope="col" aria-sort=aria_sort(LeadSort::IdAsc, LeadSort::IdDesc)>
                    <a href=sort_link(LeadSort::IdAsc, LeadSort::IdDesc)>"Lead ID"</a>
                </th>
                <th scope="col">"Campaign"</th>
                <th scope="col">"Supplier"</th>
                <th scope="col">"Status"</th>
                <th scope="col" aria-sort=aria_sort(LeadSort::Oldest, LeadSort::Newest)>
                    <a href=sort_link(LeadSort::Oldest, LeadSort::Newest)>"Received (UTC)"</a>
                </th>
            </tr></thead>
            <tbody>
                {page.rows.into_iter().map(|l| view! {
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
        <nav class="pager" aria-label="Pages">
            {first_href.map(|h| view! { <a href=h>"First page"</a> })}
            {next_href.map(|h| view! { <a href=h rel="next">"Next page"</a> })}
        </nav>
    }
    .into_any()
}
