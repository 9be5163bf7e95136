//! Setting up the instance (owner staff, under Instance in the sidebar): Clients, Campaigns (with
//! a page per campaign: fields, caps, suppliers, change log), Suppliers (docs/DOMAIN.md §9) and
//! Webhooks (docs/DOMAIN.md §7).

mod campaign_page;
mod campaigns;
mod clients;
mod duplicates;
pub mod server_fns;
mod suppliers;
mod webhooks;

pub use campaign_page::CampaignPage;
pub use campaigns::CampaignsPage;
pub use clients::ClientsPage;
pub use duplicates::DuplicatesPage;
pub use suppliers::SuppliersPage;
pub use webhooks::WebhooksPage;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::error::AppError;

/// A set-up page's changes: every change saved reloads the page's data (the version) and says
/// what was done next to the form it came from (the notice, keyed by where it is shown). Rows
/// are rebuilt on reload, so their own actions' state would not survive to say it.
#[derive(Clone, Copy)]
pub struct Changes {
    version: RwSignal<u32>,
    notice: RwSignal<Option<(&'static str, String)>>,
}

impl Changes {
    pub(crate) fn new() -> Self {
        Self { version: RwSignal::new(0), notice: RwSignal::new(None) }
    }

    /// Read by the resources of the page, which reload when it moves.
    pub(crate) fn version(self) -> u32 {
        self.version.get()
    }

    /// After each success of `action`: reload and show `message` at `at`. A new submission
    /// clears the last notice, so a success never stands beside a later error.
    pub(crate) fn after<S>(self, action: ServerAction<S>, at: &'static str, message: &'static str)
    where
        S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
        S::Output: Clone + Send + Sync + 'static,
    {
        Effect::new(move |_| {
            if action.pending().get() {
                self.notice.set(None);
            }
        });
        Effect::new(move |_| {
            if matches!(action.value().get(), Some(Ok(_))) {
                self.version.update(|v| *v += 1);
                self.notice.set(Some((at, message.to_owned())));
            }
        });
    }
}

/// Empties `form` after each success of `action`, ready for the next entry.
pub(crate) fn reset_after<S>(action: ServerAction<S>, form: NodeRef<leptos::html::Form>)
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(_)))
            && let Some(form) = form.get_untracked()
        {
            form.reset();
        }
    });
}

/// The success text of the changes shown at `at`.
#[component]
pub(crate) fn Notice(changes: Changes, at: &'static str) -> impl IntoView {
    let text = move || changes.notice.get().filter(|(key, _)| *key == at).map(|(_, text)| text);
    view! { <p class="notice-ok" role="status">{text}</p> }
}

/// The last failure of a form's action, read field by field.
#[derive(Clone, Copy)]
pub(crate) struct Failure(Signal<Option<AppError>>);

impl Failure {
    pub(crate) fn of<S>(action: ServerAction<S>) -> Self
    where
        S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
        S::Output: Clone + Send + Sync + 'static,
    {
        Self(Signal::derive(move || action.value().get().and_then(Result::err)))
    }

    /// The message when it concerns form field `field`.
    pub(crate) fn on(self, field: &'static str) -> impl Fn() -> Option<String> + Copy + Send + Sync {
        move || self.0.get().and_then(|e| e.field_message(field))
    }

    /// `aria-invalid="true"` while the message concerns `field`.
    pub(crate) fn invalid(
        self,
        field: &'static str,
    ) -> impl Fn() -> Option<&'static str> + Copy + Send + Sync {
        move || self.0.get().and_then(|e| e.field_message(field)).map(|_| "true")
    }

    /// The message when it concerns none of the form's `fields` (not found, not allowed, …).
    pub(crate) fn other(
        self,
        fields: &'static [&'static str],
    ) -> impl Fn() -> Option<String> + Copy + Send + Sync {
        move || {
            self.0
                .get()
                .filter(|e| fields.iter().all(|f| e.field_message(f).is_none()))
                .map(|e| e.to_string())
        }
    }
}

/// A campaign's maximum rejection time as the set-up pages state it.
pub(crate) fn rejection_days_text(days: Option<i32>) -> String {
    match days {
        Some(_) => crate::domain::setup::days_words(days),
        None => "None — does not accept rejections".to_owned(),
    }
}

/// The hint under every "Maximum rejection days" input.
pub(crate) const DAYS_HINT: &str = "Leave empty if the client may not reject leads of this campaign.";
