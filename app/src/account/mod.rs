//! Signing in and out: the log-in page, the current user, and choosing a new password (which a
//! one-time password requires before anything else).

pub mod server_fns;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::components::hydrated;
use server_fns::{ChangePassword, Login, Logout};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let hydrated = hydrated();
    let error = move || login.value().get().and_then(Result::err);
    let field_error = move |field: &'static str| move || error().and_then(|e| e.field_message(field));
    let general_error = move || {
        error().filter(|e| e.field_message("email").is_none() && e.field_message("password").is_none())
    };

    view! {
        <Title text="Log in"/>
        <main id="main" class="login">
            <h1>"Log in to Sendback"</h1>
            <ActionForm action=login attr:class="stack" attr:novalidate=true>
                <input type="hidden" name="next" prop:value=next/>
                <label for="login-email">"Email"</label>
                <input
                    id="login-email"
                    type="email"
                    name="email"
                    autocomplete="username"
                    required
                    aria-describedby="login-email-error"
                    aria-invalid=move || field_error("email")().is_some().to_string()
                />
                <p id="login-email-error" class="field-error" role="alert">{field_error("email")}</p>
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    type="password"
                    name="password"
                    autocomplete="current-password"
                    required
                    aria-describedby="login-password-error"
                    aria-invalid=move || field_error("password")().is_some().to_string()
                />
                <p id="login-password-error" class="field-error" role="alert">{field_error("password")}</p>
                <p class="form-error" role="alert">{move || general_error().map(|e| e.to_string())}</p>
                <button type="submit" disabled=move || !hydrated.get() || login.pending().get()>
                    "Log in"
                </button>
            </ActionForm>
        </main>
    }
}

/// `/account/password`: choose a new password. Users signed in with a one-time password are
/// sent here and can do nothing else until they have.
#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let logout = ServerAction::<Logout>::new();
    let hydrated = hydrated();
    let error = move || change.value().get().and_then(Result::err);
    let field_error = move |field: &'static str| move || error().and_then(|e| e.field_message(field));
    let general_error =
        move || error().filter(|e| ["current", "new", "repeat"].iter().all(|f| e.field_message(f).is_none()));
    let done = move || matches!(change.value().get(), Some(Ok(())));
    // Only for someone signed in: anyone else logs in first, then comes back here.
    let me = Resource::new(|| (), |_| server_fns::get_me());
    let signed_out = move || {
        matches!(me.get(), Some(Ok(None)) | Some(Err(crate::error::AppError::Unauthenticated)))
            .then(|| view! { <Redirect path="/login?next=/account/password"/> })
    };

    view! {
        <Title text="Choose a new password"/>
        <main id="main" class="login">
            <h1>"Choose a new password"</h1>
            <Transition>{signed_out}</Transition>
            <Show
                when=done
                fallback=move || view! {
                    <p class="hint">"If you signed in with a one-time password, choose your own now."</p>
                    <ActionForm action=change attr:class="stack" attr:novalidate=true>
                        <label for="current-password">"Current password"</label>
                        <input id="current-password" type="password" name="current" autocomplete="current-password"
                            required aria-describedby="current-password-error"/>
                        <p id="current-password-error" class="field-error" role="alert">{field_error("current")}</p>
                        <label for="new-password">"New password"</label>
                        <input id="new-password" type="password" name="new" autocomplete="new-password"
                            required aria-describedby="new-password-hint new-password-error"/>
                        <p id="new-password-hint" class="hint">"At least 12 characters."</p>
                        <p id="new-password-error" class="field-error" role="alert">{field_error("new")}</p>
                        <label for="repeat-password">"Repeat the new password"</label>
                        <input id="repeat-password" type="password" name="repeat" autocomplete="new-password"
                            required aria-describedby="repeat-password-error"/>
                        <p id="repeat-password-error" class="field-error" role="alert">{field_error("repeat")}</p>
                        <p class="form-error" role="alert">{move || general_error().map(|e| e.to_string())}</p>
                        <button type="submit" disabled=move || !hydrated.get() || change.pending().get()>
                            "Change password"
                        </button>
                    </ActionForm>
                }
            >
                <p role="status">"Your password has been changed. Any other place you were signed in has been signed out."</p>
                <p><a href="/leads">"Continue to your leads"</a></p>
            </Show>
            <ActionForm action=logout attr:class="stack">
                <button type="submit" class="secondary" disabled=move || !hydrated.get()>"Log out"</button>
            </ActionForm>
        </main>
    }
}
