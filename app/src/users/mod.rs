//! The Users page (owner staff): the instance's users, creating client users, and granting or
//! revoking "Reject Leads as a Client".

pub mod server_fns;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{ErrorPage, hydrated};
use server_fns::{CreateClientUser, SetRejectPermission, list_clients, list_users};

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateClientUser>::new();
    let toggle = ServerAction::<SetRejectPermission>::new();
    // Reload the list after every change.
    let users = Resource::new(move || (create.version().get(), toggle.version().get()), |_| list_users());
    let clients = Resource::new(|| (), |_| list_clients());
    let hydrated = hydrated();
    let create_error = move || create.value().get().and_then(Result::err);
    let field_error = move |f: &'static str| move || create_error().and_then(|e| e.field_message(f));
    let general_error = move || {
        create_error()
            .filter(|e| ["email", "name", "client", "password"].iter().all(|f| e.field_message(f).is_none()))
    };
    let toggle_error = move || toggle.value().get().and_then(Result::err).map(|e| e.to_string());

    view! {
        <Title text="Users"/>
        <h1>"Users"</h1>
        <Suspense fallback=|| view! { <p>"Loading users…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! {
                        <table class="data">
                            <caption class="visually-hidden">"Users of this instance"</caption>
                            <thead><tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Email"</th>
                                <th scope="col">"Role"</th>
                                <th scope="col">"Reject Leads as a Client"</th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|u| {
                                    let role = match &u.client_name {
                                        Some(c) => format!("Client user · {c}"),
                                        None => "Owner staff".to_owned(),
                                    };
                                    let control = (!u.is_owner).then(|| {
                                        let (label, grant) = if u.can_reject_leads {
                                            (format!("Revoke Reject Leads as a Client from {}", u.email), false)
                                        } else {
                                            (format!("Grant Reject Leads as a Client to {}", u.email), true)
                                        };
                                        let id = u.id;
                                        view! {
                                            <span class="perm-state">{if u.can_reject_leads { "Granted" } else { "Not granted" }}</span>
                                            <button
                                                type="button"
                                                class="secondary"
                                                aria-label=label
                                                disabled=move || !hydrated.get() || toggle.pending().get()
                                                on:click=move |_| { toggle.dispatch(SetRejectPermission { user_id: id, granted: grant }); }
                                            >
                                                {if grant { "Grant" } else { "Revoke" }}
                                            </button>
                                        }
                                    });
                                    view! {
                                        <tr>
                                            <td>{u.name}</td>
                                            <td>{u.email}</td>
                                            <td>{role}</td>
                                            <td>{control}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Suspense>
        <p class="form-error" role="alert">{toggle_error}</p>

        <h2 id="create-heading">"Create a client user"</h2>
        <ActionForm action=create attr:class="stack" attr:aria-labelledby="create-heading" attr:novalidate=true>
            <label for="new-email">"Email"</label>
            <input id="new-email" type="email" name="email" required aria-describedby="new-email-error"/>
            <p id="new-email-error" class="field-error" role="alert">{field_error("email")}</p>
            <label for="new-name">"Name"</label>
            <input id="new-name" type="text" name="name" required aria-describedby="new-name-error"/>
            <p id="new-name-error" class="field-error" role="alert">{field_error("name")}</p>
            <label for="new-client">"Client"</label>
            <select id="new-client" name="client_id" required aria-describedby="new-client-error">
                <option value="">"Choose a client"</option>
                <Suspense>
                    {move || Suspend::new(async move {
                        clients.await.unwrap_or_default().into_iter().map(|c| view! {
                            <option value=c.id.to_string()>{c.name}</option>
                        }).collect_view()
                    })}
                </Suspense>
            </select>
            <p id="new-client-error" class="field-error" role="alert">{field_error("client")}</p>
            <label for="new-password">"Initial password"</label>
            <input id="new-password" type="password" name="password" autocomplete="new-password" required
                aria-describedby="new-password-hint new-password-error"/>
            <p id="new-password-hint" class="hint">"At least 12 characters. Share it with the user privately."</p>
            <p id="new-password-error" class="field-error" role="alert">{field_error("password")}</p>
            <p class="form-error" role="alert">{move || general_error().map(|e| e.to_string())}</p>
            <p role="status">{move || matches!(create.value().get(), Some(Ok(_))).then_some("User created.")}</p>
            <button type="submit" disabled=move || !hydrated.get() || create.pending().get()>"Create user"</button>
        </ActionForm>
    }
}
