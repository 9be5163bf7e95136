//! Signing in and out: the log-in page and the current user.

pub mod server_fns;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::hydrated;
use server_fns::Login;

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
