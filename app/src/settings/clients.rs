//! The Clients page (`/settings/clients`): the instance's clients with their campaigns and
//! users, creating a client and renaming one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use super::server_fns::{CreateClient, RenameClient, list_setup_clients};
use super::{Changes, Failure, Notice, reset_after};
use crate::components::{ErrorPage, hydrated};
use crate::domain::setup_view::ClientSummary;

#[component]
pub fn ClientsPage() -> impl IntoView {
    let changes = Changes::new();
    let clients = Resource::new(move || changes.version(), |_| list_setup_clients());
    view! {
        <Title text="Clients"/>
        <h1>"Clients"</h1>
        <p class="lead">"The businesses that buy your leads. A client's users see only its campaigns."</p>
        <Transition fallback=|| view! { <p>"Loading clients…"</p> }>
            {move || Suspend::new(async move {
                match clients.await {
                    Ok(list) => view! { <ClientTable list changes/> }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
        <Notice changes at="rows"/>
        <CreateClientForm changes/>
    }
}

#[component]
fn ClientTable(list: Vec<ClientSummary>, changes: Changes) -> impl IntoView {
    if list.is_empty() {
        return view! { <p>"No clients yet. Create the first one below."</p> }.into_any();
    }
    view! {
        <table class="data">
            <caption class="visually-hidden">"Clients of this instance"</caption>
            <thead><tr>
                <th scope="col">"Client"</th>
                <th scope="col">"Campaigns"</th>
                <th scope="col">"Users"</th>
                <th scope="col">"Rename"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|c| view! { <ClientRow client=c changes/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn ClientRow(client: ClientSummary, changes: Changes) -> impl IntoView {
    let rename = ServerAction::<RenameClient>::new();
    changes.after(rename, "rows", "Client renamed.");
    let failure = Failure::of(rename);
    let hydrated = hydrated();
    let input_id = format!("rename-client-{}", client.id);
    let error_id = format!("{input_id}-error");
    let described_by = error_id.clone();
    let campaigns = if client.campaigns.is_empty() {
        view! { <span class="hint">"None yet"</span> }.into_any()
    } else {
        view! {
            <ul class="plain">
                {client.campaigns.into_iter().map(|c| view! {
                    <li><A href=format!("/settings/campaigns/{}", c.id)>{c.name}</A></li>
                }).collect_view()}
            </ul>
        }
        .into_any()
    };
    view! {
        <tr>
            <th scope="row">{client.name.clone()}</th>
            <td>{campaigns}</td>
            <td>
                {if client.users.is_empty() { Some(view! { <span class="hint">"None yet"</span> }) } else { None }}
                <ul class="plain">{client.users.into_iter().map(|u| view! { <li>{u}</li> }).collect_view()}</ul>
            </td>
            <td>
                <ActionForm action=rename attr:class="inline-form">
                    <input type="hidden" name="client_id" value=client.id.to_string()/>
                    <label for=input_id.clone() class="visually-hidden">{format!("New name for {}", client.name)}</label>
                    <input id=input_id type="text" name="name" value=client.name.clone()
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
fn CreateClientForm(changes: Changes) -> impl IntoView {
    let create = ServerAction::<CreateClient>::new();
    changes.after(create, "create", "Client created.");
    let failure = Failure::of(create);
    let form = NodeRef::new();
    reset_after(create, form);
    let hydrated = hydrated();
    view! {
        <h2 id="create-client-heading">"Create a client"</h2>
        <ActionForm action=create node_ref=form attr:class="stack" attr:aria-labelledby="create-client-heading" attr:novalidate=true>
            <label for="new-client-name">"Name"</label>
            <input id="new-client-name" type="text" name="name" required
                aria-invalid=failure.invalid("name") aria-describedby="new-client-name-error"/>
            <p id="new-client-name-error" class="field-error" role="alert">{failure.on("name")}</p>
            <p class="form-error" role="alert">{failure.other(&["name"])}</p>
            <Notice changes at="create"/>
            <button type="submit" disabled=move || !hydrated.get() || create.pending().get()>"Create client"</button>
        </ActionForm>
    }
}
