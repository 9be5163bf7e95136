//! The API keys page (`/settings/api-keys`, docs/DOMAIN.md §7): a client user holding "Reject
//! Leads as a Client" makes named keys for their software (each shown once), sees them by their
//! first characters with when each was made and last used, and revokes them; owner staff see
//! every API key of the instance, whose it is, and may revoke any.

pub mod server_fns;

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use self::server_fns::{CreateApiKey, RevokeApiKey, api_keys};
use crate::components::{ErrorPage, hydrated};
use crate::domain::setup_view::NewKey;
use crate::error::AppError;
use crate::settings::{Changes, Failure, Notice, reset_after};

/// An API key as the page lists it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    /// The first characters, e.g. `sbk_Ab3-x_9Q…`.
    pub shown: String,
    /// Whose key it is, "Name (email)": for owner staff, who see every user's keys.
    pub holder: Option<String>,
    /// `YYYY-MM-DD HH:MM` UTC.
    pub created_at: String,
    /// `YYYY-MM-DD HH:MM` UTC; `None` if never used.
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

/// What the page shows: the keys, and whether the user may make one (client users; owner staff
/// belong to no client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyList {
    pub may_create: bool,
    pub keys: Vec<ApiKeyView>,
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let changes = Changes::new();
    let list = Resource::new(move || changes.version(), |_| api_keys());
    // Made here, not in the reloaded part, so their results outlive each reload.
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    changes.after(create, "create", "API key created.");
    changes.after(revoke, "keys", "Key revoked.");
    // The key just made; never stored, so gone on a new visit.
    let fresh = RwSignal::new(None::<NewKey>);
    Effect::new(move |_| {
        if let Some(Ok(key)) = create.value().get() {
            fresh.set(Some(key));
        }
    });
    view! {
        <Title text="API keys"/>
        <h1>"API keys"</h1>
        <Transition fallback=|| view! { <p>"Loading API keys…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(list) => {
                        let revoked: Vec<i64> = list.keys.iter().filter(|k| k.revoked).map(|k| k.id).collect();
                        let new_key = move || {
                            fresh.get().filter(|k| !revoked.contains(&k.id)).map(|key| view! { <NewKeyBox key fresh/> })
                        };
                        let intro = if list.may_create {
                            "Your software uses a key to work with Sendback as you: for your client, with your permission as it stands at each request."
                        } else {
                            "Client users make keys for their software; each key acts as its user. Revoke a key that may have leaked: it stops working at once."
                        };
                        view! {
                            <p class="lead">{intro}</p>
                            {new_key}
                            <KeyTable keys=list.keys revoke/>
                            <Notice changes at="keys"/>
                            {list.may_create.then(|| view! { <CreateKeyForm create changes/> })}
                        }
                        .into_any()
                    }
                    Err(AppError::Forbidden) => view! { <NotAllowed/> }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What a client user without the permission is told (with a 403).
#[component]
fn NotAllowed() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::auth::access::respond(AppError::Forbidden);
    view! {
        <section class="page">
            <h2>"Not allowed"</h2>
            <p>
                "API keys are for client users who hold the permission Reject Leads as a Client. "
                "Ask your account owner to grant it."
            </p>
        </section>
    }
}

/// The keys: name, first characters, whose (owner staff), when made and last used, revoked or
/// a Revoke button.
#[component]
fn KeyTable(keys: Vec<ApiKeyView>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p class="hint">"No API keys yet."</p> }.into_any();
    }
    let failure = Failure::of(revoke);
    let with_holder = keys.iter().any(|k| k.holder.is_some());
    let hydrated = hydrated();
    let rows = keys.into_iter().map(move |k| {
        let id = k.id;
        let state = if k.revoked {
            view! { <span class="key-revoked">"Revoked"</span> }.into_any()
        } else {
            view! {
                <button type="button" class="secondary" aria-label=format!("Revoke key {}", k.name)
                    disabled=move || !hydrated.get() || revoke.pending().get()
                    on:click=move |_| { revoke.dispatch(RevokeApiKey { id }); }>
                    "Revoke"
                </button>
            }
            .into_any()
        };
        view! {
            <tr>
                <th scope="row">{k.name}</th>
                <td><code>{k.shown}</code></td>
                {with_holder.then(|| view! { <td>{k.holder.unwrap_or_default()}</td> })}
                <td class="nowrap">{k.created_at}</td>
                <td class="nowrap">{k.last_used_at.unwrap_or_else(|| "Never used".to_owned())}</td>
                <td>{state}</td>
            </tr>
        }
    });
    view! {
        <table class="data compact">
            <caption class="visually-hidden">"API keys"</caption>
            <thead><tr>
                <th scope="col">"Name"</th>
                <th scope="col">"Key"</th>
                {with_holder.then(|| view! { <th scope="col">"User"</th> })}
                <th scope="col">"Created"</th>
                <th scope="col">"Last used"</th>
                <th scope="col">"State"</th>
            </tr></thead>
            <tbody>{rows.collect_view()}</tbody>
        </table>
        <p class="form-error" role="alert">{failure.other(&[])}</p>
    }
    .into_any()
}

/// The key just made, shown this once, with how to use it.
#[component]
fn NewKeyBox(key: NewKey, fresh: RwSignal<Option<NewKey>>) -> impl IntoView {
    let example = format!("curl -H 'Authorization: Bearer {}' https://<this site>/api/v1/me", key.key);
    view! {
        <div class="new-key-box" role="status">
            <p><strong>"Copy this key now: it will not be shown again."</strong></p>
            <p><code class="new-key">{key.key}</code></p>
            <p>"Send it with each request as "<code>"Authorization: Bearer …"</code>". To check it:"</p>
            <pre class="example"><code>{example}</code></pre>
            <button type="button" class="secondary" on:click=move |_| fresh.set(None)>"Done: I have copied it"</button>
        </div>
    }
}

#[component]
fn CreateKeyForm(create: ServerAction<CreateApiKey>, changes: Changes) -> impl IntoView {
    let failure = Failure::of(create);
    let form = NodeRef::new();
    reset_after(create, form);
    let hydrated = hydrated();
    view! {
        <h2 id="create-key-heading">"Create an API key"</h2>
        <ActionForm action=create node_ref=form attr:class="stack" attr:aria-labelledby="create-key-heading" attr:novalidate=true>
            <label for="new-key-name">"Name"</label>
            <input id="new-key-name" type="text" name="name" required maxlength="120"
                aria-invalid=failure.invalid("name") aria-describedby="new-key-name-hint new-key-name-error"/>
            <p id="new-key-name-hint" class="hint">"What uses the key, e.g. \"CRM\"."</p>
            <p id="new-key-name-error" class="field-error" role="alert">{failure.on("name")}</p>
            <p class="form-error" role="alert">{failure.other(&["name"])}</p>
            <Notice changes at="create"/>
            <button type="submit" disabled=move || !hydrated.get() || create.pending().get()>"Create API key"</button>
        </ActionForm>
    }
}
