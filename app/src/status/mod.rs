//! The public status page: a live check that the server and its database answer.

pub mod server_fns;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::error::AppError;
use server_fns::{DatabaseCheck, check_database};

#[component]
pub fn StatusPage() -> impl IntoView {
    let check = Action::new(|_: &()| check_database());
    let pending = check.pending();
    let result = check.value();
    // Server-rendered buttons stay disabled until the browser bundle has taken over the page,
    // so a click is never silently lost.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Title text="System status"/>
        <main id="main" class="page narrow">
            <h1>"System status"</h1>
            <div class="card">
                <button
                    type="button"
                    on:click=move |_| {
                        check.dispatch(());
                    }
                    disabled=move || !hydrated.get() || pending.get()
                >
                    "Check database"
                </button>
                <div role="status" aria-live="polite" class="status-line">
                    {move || match result.get() {
                        None if pending.get() => "Checking…".into_any(),
                        None => "".into_any(),
                        Some(Ok(check)) => view! { <CheckLine check/> }.into_any(),
                        Some(Err(err)) => view! { <ErrorLine err/> }.into_any(),
                    }}
                </div>
            </div>
        </main>
    }
}

#[component]
fn CheckLine(check: DatabaseCheck) -> impl IntoView {
    view! {
        <p class="ok">
            {format!(
                "Database OK: {}, schema version {}, answered in {} ms.",
                check.backend,
                check.schema_version,
                check.round_trip_ms,
            )}
        </p>
    }
}

#[component]
fn ErrorLine(err: AppError) -> impl IntoView {
    view! { <p class="error">{err.to_string()}</p> }
}
