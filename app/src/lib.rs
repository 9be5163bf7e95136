//! Sendback's web application: routes, pages and server functions (compiled for the server with
//! `ssr` and for the browser with `hydrate`), plus the server-only domain and data layers.

// The Import Rejections form's view type is deep.
#![recursion_limit = "256"]

pub mod account;
pub mod api_keys;
pub mod components;
pub mod domain;
pub mod error;
pub mod imports;
pub mod leads;
pub mod rejections;
pub mod reports;
pub mod settings;
pub mod status;
pub mod users;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod auth;
#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod engine;
#[cfg(feature = "ssr")]
pub mod intake;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::{SsrMode, path};

/// The Content-Security-Policy of pages: scripts only from this site and the page's own
/// hydration script (by its nonce), WebAssembly compiled by the page, styles and everything else
/// only from this site, never framed.
#[cfg(feature = "ssr")]
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The HTML document around the app, rendered on the server. Each page gets a fresh nonce for
/// its inline scripts, named in its Content-Security-Policy header.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        leptos::nonce::provide_nonce();
        if let (Some(nonce), Some(resp)) =
            (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
            && let Ok(value) = axum::http::HeaderValue::from_str(&content_security_policy(nonce.as_inner()))
        {
            resp.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    // The bundle's name: `sendback`, or `sendback.<hash>` for a release build (see xtask).
    let stylesheet = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    view! {
        <!DOCTYPE html>
        <html lang="en-GB">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="stylesheet" id="sendback" href=stylesheet/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Pages render completely before the response starts, so headers set while rendering (a
    // refreshed session cookie, a redirect, a 403/404 status) always reach the browser.
    let ssr = SsrMode::Async;
    // Marks the page once the browser bundle has hydrated it (tests wait for this). Suspense
    // boundaries finish hydrating in microtasks after this effect runs; a zero timeout waits
    // for them, since a navigation while they hydrate breaks the page.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        set_timeout(
            || {
                if let Some(body) = leptos::prelude::document().body() {
                    let _ = body.set_attribute("data-hydrated", "true");
                }
            },
            std::time::Duration::ZERO,
        );
    });
    view! {
        <Title formatter=|title: String| {
            if title.is_empty() { "Sendback".to_owned() } else { format!("{title} · Sendback") }
        }/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=account::LoginPage ssr=ssr.clone()/>
                <Route path=path!("/account/password") view=account::ChangePasswordPage ssr=ssr.clone()/>
                <Route path=path!("/status") view=status::StatusPage ssr=ssr.clone()/>
                <ParentRoute path=path!("") view=components::SignedInShell ssr=ssr.clone()>
                    <Route path=path!("") view=|| view! { <Redirect path="/leads"/> } ssr=ssr.clone()/>
                    <Route path=path!("leads") view=leads::AllLeadsPage ssr=ssr.clone()/>
                    <Route path=path!("leads/import-rejections") view=rejections::ImportRejectionsPage ssr=ssr.clone()/>
                    <Route path=path!("leads/import-rejections/tasks/:id") view=rejections::TaskPage ssr=ssr.clone()/>
                    <Route path=path!("leads/import") view=imports::ImportLeadsPage ssr=ssr.clone()/>
                    <Route path=path!("leads/import/:id") view=imports::ImportPage ssr=ssr.clone()/>
                    <Route path=path!("leads/:id") view=leads::LeadPage ssr=ssr.clone()/>
                    <Route path=path!("settings/clients") view=settings::ClientsPage ssr=ssr.clone()/>
                    <Route path=path!("settings/campaigns") view=settings::CampaignsPage ssr=ssr.clone()/>
                    <Route path=path!("settings/campaigns/:id") view=settings::CampaignPage ssr=ssr.clone()/>
                    <Route path=path!("settings/campaigns/:id/fields/:field/duplicates") view=settings::DuplicatesPage ssr=ssr.clone()/>
                    <Route path=path!("settings/suppliers") view=settings::SuppliersPage ssr=ssr.clone()/>
                    <Route path=path!("settings/webhooks") view=settings::WebhooksPage ssr=ssr.clone()/>
                    <Route path=path!("settings/api-keys") view=api_keys::ApiKeysPage ssr=ssr.clone()/>
                    <Route path=path!("users") view=users::UsersPage ssr=ssr.clone()/>
                    <Route path=path!("reports") view=reports::ReportsPage ssr=ssr/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <main id="main" class="page narrow">
            <h1>"Not found"</h1>
            <p>"There is nothing here. Check the address, or go to "<A href="/leads">"your leads"</A>"."</p>
        </main>
    }
}

/// Entry point of the browser bundle: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
