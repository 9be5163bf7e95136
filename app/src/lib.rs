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
use leptos_router::{Lazy, LazyRoute, SsrMode, path};

/// Pages whose code the browser loads together, when the first of them is shown: each group's
/// code is split out of the main bundle (a `#[lazy]` split point, split by `xtask site`), so the
/// first page a user opens downloads the shell and that page's group only. A split point per
/// group rather than per page: the splitter puts code shared by several split points in a file
/// per combination of them, so every split point added multiplies the small files a page needs
/// (a first page gets them packed in one bundle, but later pages load them one by one;
/// `xtask site --release` prints each group's first-page weight). The pages a
/// client user opens (All leads, a lead, Import Rejections, a task, API keys) each have a group
/// of their own, so a client's first page carries no owner page's code; owner staff's settings
/// pages share groups. Each page loads its own data, so a route's `data` has nothing to start.
macro_rules! page_groups {
    ($($group:ident { $($route:ident => $page:path),* $(,)? })*) => {$(
        mod $group {
            use super::*;

            // The routes of the group, by name.
            #[derive(Clone, Copy)]
            #[allow(clippy::enum_variant_names)]
            pub enum Page { $($route),* }

            // Named after the group: the split file's name, and unique.
            #[leptos::lazy($group)]
            pub fn pages(page: Page) -> AnyView {
                match page { $(Page::$route => view! { <$page/> }.into_any()),* }
            }
        }

        $(
            struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    Self
                }

                async fn view(_this: Self) -> AnyView {
                    $group::pages($group::Page::$route).await
                }

                // Hydration waits for this before it hydrates the page, so the page's code is
                // there when its server-rendered HTML is adopted.
                async fn preload() {
                    #[cfg(feature = "hydrate")]
                    $group::__preload_pages().await;
                }
            }
        )*
    )*};
}

page_groups! {
    public_pages {
        LoginRoute => account::LoginPage,
        ChangePasswordRoute => account::ChangePasswordPage,
        StatusRoute => status::StatusPage,
    }
    all_leads_page {
        AllLeadsRoute => leads::AllLeadsPage,
    }
    lead_page {
        LeadRoute => leads::LeadPage,
    }
    import_rejections_page {
        ImportRejectionsRoute => rejections::ImportRejectionsPage,
    }
    task_page {
        TaskRoute => rejections::TaskPage,
    }
    import_pages {
        ImportLeadsRoute => imports::ImportLeadsPage,
        ImportRoute => imports::ImportPage,
    }
    campaign_pages {
        CampaignsRoute => settings::CampaignsPage,
        CampaignRoute => settings::CampaignPage,
        DuplicatesRoute => settings::DuplicatesPage,
    }
    settings_pages {
        ClientsRoute => settings::ClientsPage,
        SuppliersRoute => settings::SuppliersPage,
        WebhooksRoute => settings::WebhooksPage,
        UsersRoute => users::UsersPage,
    }
    api_keys_page {
        ApiKeysRoute => api_keys::ApiKeysPage,
    }
    report_pages {
        ReportsRoute => reports::ReportsPage,
    }
}

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
    // The bundle's directory: `pkg`, or `pkg/<hash>` for a release build (see xtask).
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
    view! {
        <Title formatter=|title: String| {
            if title.is_empty() { "Sendback".to_owned() } else { format!("{title} · Sendback") }
        }/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=ssr.clone()/>
                <Route path=path!("/account/password") view={Lazy::<ChangePasswordRoute>::new()} ssr=ssr.clone()/>
                <Route path=path!("/status") view={Lazy::<StatusRoute>::new()} ssr=ssr.clone()/>
                <ParentRoute path=path!("") view=components::SignedInShell ssr=ssr.clone()>
                    <Route path=path!("") view=|| view! { <Redirect path="/leads"/> } ssr=ssr.clone()/>
                    <Route path=path!("leads") view={Lazy::<AllLeadsRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("leads/import-rejections") view={Lazy::<ImportRejectionsRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("leads/import-rejections/tasks/:id") view={Lazy::<TaskRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("leads/import") view={Lazy::<ImportLeadsRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("leads/import/:id") view={Lazy::<ImportRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("leads/:id") view={Lazy::<LeadRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("settings/clients") view={Lazy::<ClientsRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("settings/campaigns") view={Lazy::<CampaignsRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("settings/campaigns/:id") view={Lazy::<CampaignRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("settings/campaigns/:id/fields/:field/duplicates") view={Lazy::<DuplicatesRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("settings/suppliers") view={Lazy::<SuppliersRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("settings/webhooks") view={Lazy::<WebhooksRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("settings/api-keys") view={Lazy::<ApiKeysRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("users") view={Lazy::<UsersRoute>::new()} ssr=ssr.clone()/>
                    <Route path=path!("reports") view={Lazy::<ReportsRoute>::new()} ssr=ssr/>
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
    // Lazily loaded pages hydrate once their code has arrived, so hydration is asynchronous.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else { return };
        leptos::mount::hydrate_from_async(body, App).await.forget();
        // Marks the page once the browser bundle has hydrated it (tests wait for this). Suspense
        // boundaries finish hydrating in microtasks after this; a zero timeout waits for them,
        // since a navigation while they hydrate breaks the page.
        set_timeout(
            || {
                if let Some(body) = leptos::prelude::document().body() {
                    let _ = body.set_attribute("data-hydrated", "true");
                }
            },
            std::time::Duration::ZERO,
        );
    });
}
