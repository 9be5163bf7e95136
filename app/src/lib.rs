//! Sendback's web application: routes, pages and server functions (compiled for the server with
//! `ssr` and for the browser with `hydrate`), plus the server-only domain and data layers.

pub mod domain;
pub mod error;
pub mod home;

#[cfg(feature = "ssr")]
pub mod auth;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::StaticSegment;
use leptos_router::components::{A, Route, Router, Routes};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en-GB">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
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
    view! {
        <Stylesheet id="sendback" href="/pkg/sendback.css"/>
        <Title formatter=|title: String| {
            if title.is_empty() { "Sendback".to_owned() } else { format!("{title} · Sendback") }
        }/>
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"Sendback"</A>
            </header>
            <main id="main">
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=home::HomePage/>
                </Routes>
            </main>
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
        <section class="page">
            <h1>"Not found"</h1>
            <p>"There is nothing here. Check the address, or go back to the "<A href="/">"start page"</A>"."</p>
        </section>
    }
}

/// Entry point of the browser bundle: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
