//! Building blocks shared by the pages: the signed-in shell (header and sidebar) and helpers.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;

use crate::account::server_fns::{Logout, Me, get_me};
use crate::error::AppError;

/// True once the browser bundle has taken over the page. Controls that need it stay disabled
/// until then, so a click is never silently lost.
pub fn hydrated() -> RwSignal<bool> {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    hydrated
}

/// The signed-in user, provided by [`SignedInShell`] to the pages inside it.
pub fn use_me() -> Option<Me> {
    use_context::<Me>()
}

/// Header, sidebar and the page; sends anyone not signed in to the log-in page. The user is
/// looked up again on every navigation, so a revoked permission disappears at once.
#[component]
pub fn SignedInShell() -> impl IntoView {
    let location = use_location();
    let me = Resource::new(move || location.pathname.get(), |_| get_me());
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    // A one-time password must be replaced before anything else.
                    Ok(Some(me)) if me.must_change_password => {
                        view! { <Redirect path="/account/password"/> }.into_any()
                    }
                    Ok(Some(me)) => view! { <Shell me/> }.into_any(),
                    Ok(None) | Err(AppError::Unauthenticated) => {
                        let path = location.pathname.get_untracked();
                        let next = urlencode(&path);
                        view! { <Redirect path=format!("/login?next={next}")/> }.into_any()
                    }
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Shell(me: Me) -> impl IntoView {
    provide_context(me.clone());
    let logout = ServerAction::<Logout>::new();
    let hydrated = hydrated();
    let who = match &me.client_name {
        Some(client) => format!("{} ({})", me.name, client),
        None => format!("{} (owner staff)", me.name),
    };
    view! {
        <header class="topbar">
            <A href="/leads" attr:class="brand">"Sendback"</A>
            <span class="instance">{me.instance_name.clone()}</span>
            <span class="spacer"></span>
            <span class="who" title=me.email.clone()>{who}</span>
            <A href="/account/password" attr:class="account-link">"Change password"</A>
            <ActionForm action=logout>
                <button type="submit" class="secondary" disabled=move || !hydrated.get()>"Log out"</button>
            </ActionForm>
        </header>
        <div class="layout">
            <nav class="sidebar" aria-label="Main">
                <p class="nav-heading" id="nav-leads">"Leads"</p>
                <ul aria-labelledby="nav-leads">
                    <li><A href="/leads" exact=true>"All leads"</A></li>
                    {me.can_reject_leads.then(|| view! {
                        <li><A href="/leads/import-rejections">"Import Rejections"</A></li>
                        <li><A href="/settings/api-keys">"API keys"</A></li>
                    })}
                    {me.is_owner.then(|| view! {
                        <li><A href="/leads/import-rejections">"Rejection tasks"</A></li>
                        <li><A href="/leads/import">"Import leads"</A></li>
                    })}
                </ul>
                {me.is_owner.then(|| view! {
                    <p class="nav-heading" id="nav-instance">"Instance"</p>
                    <ul aria-labelledby="nav-instance">
                        <li><A href="/settings/clients">"Clients"</A></li>
                        <li><A href="/settings/campaigns">"Campaigns"</A></li>
                        <li><A href="/settings/suppliers">"Suppliers"</A></li>
                        <li><A href="/settings/webhooks">"Webhooks"</A></li>
                        <li><A href="/settings/api-keys">"API keys"</A></li>
                        <li><A href="/users">"Users"</A></li>
                        <li><A href="/reports">"Reports"</A></li>
                    </ul>
                })}
            </nav>
            <main id="main" class="content">
                <Outlet/>
            </main>
        </div>
    }
}

/// A full-page error message, with the matching HTTP status on the server.
#[component]
pub fn ErrorPage(err: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::auth::access::respond(err.clone());
    let title = match err {
        AppError::NotFound => "Not found",
        AppError::Forbidden => "Not allowed",
        _ => "Something went wrong",
    };
    view! {
        <section class="page">
            <h1>{title}</h1>
            <p>{err.to_string()}</p>
        </section>
    }
}

fn urlencode(s: &str) -> String {
    percent_encode(s, b"/")
}

/// Percent-encodes everything but unreserved characters and `keep` (for addresses built here).
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b if keep.contains(&b) => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn urlencodes_paths() {
        assert_eq!(super::urlencode("/leads/import-rejections"), "/leads/import-rejections");
        assert_eq!(super::urlencode("/a b?c=&"), "/a%20b%3Fc%3D%26");
    }
}
