//! The Webhooks page (`/settings/webhooks`, owner staff, docs/DOMAIN.md §7): the instance's
//! endpoints with their delivery counts (disable, enable, rotate the secret), adding one (its
//! signing secret shown once), and the latest deliveries, each of which may be resent.

use chrono::NaiveDateTime;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use super::server_fns::{
    CreateWebhook, NewEndpoint, ResendWebhookEvent, RotateWebhookSecret, SetWebhookEnabled, get_webhooks_page,
};
use super::{Changes, Failure, Notice};
use crate::components::{ErrorPage, hydrated};
use crate::domain::setup_view::Named;
use crate::domain::status::LeadStatus;
use crate::domain::webhooks::{
    CreatedEndpoint, DEFAULT_STATUSES, DeliveryView, EndpointView, ROTATION_OVERLAP_HOURS,
};

/// A secret just made (by adding an endpoint or rotating its secret). Kept in the page only, so
/// a reload or a new visit never shows it again.
#[derive(Clone)]
struct FreshSecret {
    secret: CreatedEndpoint,
    rotated: bool,
}

/// The page's actions, made once so their results outlive each reload of the lists.
#[derive(Clone, Copy)]
struct Actions {
    disable: ServerAction<SetWebhookEnabled>,
    enable: ServerAction<SetWebhookEnabled>,
    rotate: ServerAction<RotateWebhookSecret>,
    resend: ServerAction<ResendWebhookEvent>,
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let changes = Changes::new();
    let page = Resource::new(move || changes.version(), |_| get_webhooks_page());
    let create = ServerAction::<CreateWebhook>::new();
    let actions = Actions {
        disable: ServerAction::new(),
        enable: ServerAction::new(),
        rotate: ServerAction::new(),
        resend: ServerAction::new(),
    };
    changes.after(create, "create", "Endpoint added.");
    changes.after(actions.disable, "endpoints", "Endpoint disabled: its events wait until it is enabled.");
    changes.after(actions.enable, "endpoints", "Endpoint enabled.");
    changes.after(actions.rotate, "endpoints", "Secret rotated.");
    changes.after(actions.resend, "deliveries", "Event queued to be sent again.");
    let fresh = RwSignal::new(None::<FreshSecret>);
    Effect::new(move |_| {
        if let Some(Ok(secret)) = create.value().get() {
            fresh.set(Some(FreshSecret { secret, rotated: false }));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(secret)) = actions.rotate.value().get() {
            fresh.set(Some(FreshSecret { secret, rotated: true }));
        }
    });
    let shown = move |rotated: bool| {
        move || {
            fresh.get().filter(|f| f.rotated == rotated).map(|f| view! { <SecretBox fresh=f shown=fresh/> })
        }
    };
    let hydrated = hydrated();
    view! {
        <Title text="Webhooks"/>
        <h1>"Webhooks"</h1>
        <p class="lead">
            "Tell your systems when a lead's status changes: each change is sent as a signed "
            <code>"lead.status_changed"</code>" request (Standard Webhooks) to the endpoints it matches, "
            "and retried for about a day until the receiver answers 2xx."
        </p>
        <Transition fallback=|| view! { <p>"Loading webhooks…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => view! {
                        <section aria-labelledby="endpoints-heading">
                            <h2 id="endpoints-heading">"Endpoints"</h2>
                            {shown(true)}
                            <EndpointTable endpoints=page.endpoints actions/>
                            <Notice changes at="endpoints"/>
                        </section>
                        <AddEndpointForm create campaigns=page.campaigns suppliers=page.suppliers changes/>
                        {shown(false)}
                        <section aria-labelledby="deliveries-heading">
                            <h2 id="deliveries-heading">"Recent deliveries"</h2>
                            <p class="hint">"The latest 50 events of every endpoint, newest first. Times are UTC."</p>
                            <button type="button" class="secondary" disabled=move || !hydrated.get()
                                on:click=move |_| changes.version.update(|v| *v += 1)>"Refresh"</button>
                            <Notice changes at="deliveries"/>
                            <DeliveryTable deliveries=page.recent actions/>
                        </section>
                    }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// `YYYY-MM-DD HH:MM:SS`, UTC as stored.
fn at(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Names, or "All" for a filter left empty.
fn names_or_all(items: &[Named]) -> String {
    if items.is_empty() {
        "All".to_owned()
    } else {
        items.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// "Received → Client Rejected", or the status alone for a lead's first.
fn change(d: &DeliveryView) -> String {
    match d.previous_status {
        Some(from) => format!("{} → {}", from.label(), d.status.label()),
        None => d.status.label().to_owned(),
    }
}

/// "Delivered", "Pending" or "Failed" for an event's state.
fn state_label(state: &str) -> &'static str {
    match state {
        "delivered" => "Delivered",
        "failed" => "Failed",
        _ => "Pending",
    }
}

#[component]
fn EndpointTable(endpoints: Vec<EndpointView>, actions: Actions) -> impl IntoView {
    if endpoints.is_empty() {
        return view! { <p>"No endpoints yet. Add the first one below."</p> }.into_any();
    }
    let failure = {
        let all = [Failure::of(actions.disable), Failure::of(actions.enable), Failure::of(actions.rotate)];
        move || all.iter().find_map(|f| f.other(&[])())
    };
    view! {
        <table class="data">
            <caption class="visually-hidden">"Webhook endpoints"</caption>
            <thead><tr>
                <th scope="col">"URL"</th>
                <th scope="col">"Description"</th>
                <th scope="col">"Statuses"</th>
                <th scope="col">"Campaigns"</th>
                <th scope="col">"Suppliers"</th>
                <th scope="col">"State"</th>
                <th scope="col">"Pending"</th>
                <th scope="col">"Failed"</th>
                <th scope="col">"Delivered"</th>
                <th scope="col">"Actions"</th>
            </tr></thead>
            <tbody>
                {endpoints.into_iter().map(|e| view! { <EndpointRow endpoint=e actions/> }).collect_view()}
            </tbody>
        </table>
        <p class="form-error" role="alert">{failure}</p>
    }
    .into_any()
}

#[component]
fn EndpointRow(endpoint: EndpointView, actions: Actions) -> impl IntoView {
    let hydrated = hydrated();
    let id = endpoint.id;
    let busy = move || {
        actions.disable.pending().get() || actions.enable.pending().get() || actions.rotate.pending().get()
    };
    let statuses = endpoint.statuses.iter().map(|s| s.label()).collect::<Vec<_>>().join(", ");
    let state = match (&endpoint.enabled, &endpoint.disabled_reason) {
        (true, _) => view! { <span class="webhook-enabled">"Enabled"</span> }.into_any(),
        (false, Some(reason)) => view! {
            <span class="webhook-disabled">"Disabled"</span>
            <span class="reason">{format!("By the server: {reason}")}</span>
        }
        .into_any(),
        (false, None) => view! { <span class="webhook-disabled">"Disabled"</span> }.into_any(),
    };
    let overlap = endpoint.previous_secret_until.map(|until| {
        view! { <span class="reason">{format!("The previous secret signs too until {} UTC.", at(until))}</span> }
    });
    let toggle = if endpoint.enabled {
        view! {
            <button type="button" class="secondary" aria-label=format!("Disable {}", endpoint.url)
                disabled=move || !hydrated.get() || busy()
                on:click=move |_| { actions.disable.dispatch(SetWebhookEnabled { endpoint_id: id, enabled: false }); }>
                "Disable"
            </button>
        }
        .into_any()
    } else {
        view! {
            <button type="button" class="secondary" aria-label=format!("Enable {}", endpoint.url)
                disabled=move || !hydrated.get() || busy()
                on:click=move |_| { actions.enable.dispatch(SetWebhookEnabled { endpoint_id: id, enabled: true }); }>
                "Enable"
            </button>
        }
        .into_any()
    };
    view! {
        <tr data-endpoint=id.to_string()>
            <th scope="row" class="webhook-url"><code>{endpoint.url.clone()}</code></th>
            <td>{endpoint.description}</td>
            <td>{statuses}</td>
            <td>{names_or_all(&endpoint.campaigns)}</td>
            <td>{names_or_all(&endpoint.suppliers)}</td>
            <td>{state}{overlap}</td>
            <td>{endpoint.pending}</td>
            <td>{endpoint.failed}</td>
            <td>{endpoint.delivered}</td>
            <td>
                <div class="row-actions">
                    {toggle}
                    <button type="button" class="secondary" aria-label=format!("Rotate secret of {}", endpoint.url)
                        disabled=move || !hydrated.get() || busy()
                        on:click=move |_| { actions.rotate.dispatch(RotateWebhookSecret { endpoint_id: id }); }>
                        "Rotate secret"
                    </button>
                </div>
            </td>
        </tr>
    }
}

/// The secret just made, shown this once.
#[component]
fn SecretBox(fresh: FreshSecret, shown: RwSignal<Option<FreshSecret>>) -> impl IntoView {
    let overlap = fresh.rotated.then(|| {
        view! {
            <p>{format!(
                "The old secret keeps signing for {ROTATION_OVERLAP_HOURS} hours: until then each request carries a \
                 signature with each secret, so switch your receiver to the new one within that time."
            )}</p>
        }
    });
    view! {
        <div class="new-key-box" role="status" aria-labelledby="secret-heading">
            <h3 id="secret-heading">"Signing secret"</h3>
            <p><strong>"Copy this secret now: it will not be shown again."</strong></p>
            <p><code class="new-key" data-testid="webhook-secret">{fresh.secret.secret}</code></p>
            {overlap}
            <p>
                "Your receiver checks each request's "<code>"webhook-signature"</code>" header with it: "
                <code>"v1,"</code>" and the base64 HMAC-SHA256, keyed with the bytes after "<code>"whsec_"</code>
                " (base64), of "<code>"{webhook-id}.{webhook-timestamp}.{body}"</code>"."
            </p>
            <button type="button" class="secondary" on:click=move |_| shown.set(None)>"Done: I have copied it"</button>
        </div>
    }
}

/// The form's choices: statuses, campaigns and suppliers ticked.
#[derive(Clone, Copy)]
struct Ticked {
    statuses: RwSignal<Vec<LeadStatus>>,
    campaigns: RwSignal<Vec<i64>>,
    suppliers: RwSignal<Vec<i64>>,
}

impl Ticked {
    fn new() -> Self {
        Self {
            statuses: RwSignal::new(DEFAULT_STATUSES.to_vec()),
            campaigns: RwSignal::new(Vec::new()),
            suppliers: RwSignal::new(Vec::new()),
        }
    }

    fn clear(self) {
        self.statuses.set(DEFAULT_STATUSES.to_vec());
        self.campaigns.set(Vec::new());
        self.suppliers.set(Vec::new());
    }
}

/// Ticks `item` in or out of `list` as a checkbox changes.
fn toggle_in<T: PartialEq + Copy + Send + Sync + 'static>(
    list: RwSignal<Vec<T>>,
    item: T,
) -> impl Fn(leptos::ev::Event) + Copy {
    move |ev| {
        let on = event_target_checked(&ev);
        list.update(|items| {
            items.retain(|i| *i != item);
            if on {
                items.push(item);
            }
        });
    }
}

#[component]
fn AddEndpointForm(
    create: ServerAction<CreateWebhook>,
    campaigns: Vec<Named>,
    suppliers: Vec<Named>,
    changes: Changes,
) -> impl IntoView {
    let failure = Failure::of(create);
    let hydrated = hydrated();
    let form = NodeRef::<leptos::html::Form>::new();
    let url = NodeRef::<leptos::html::Input>::new();
    let description = NodeRef::<leptos::html::Input>::new();
    let ticked = Ticked::new();
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
            ticked.clear();
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = |input: NodeRef<leptos::html::Input>| {
            input.get_untracked().map(|i| i.value()).unwrap_or_default()
        };
        create.dispatch(CreateWebhook {
            endpoint: NewEndpoint {
                url: text(url),
                description: text(description),
                statuses: ticked.statuses.get_untracked(),
                campaign_ids: ticked.campaigns.get_untracked(),
                supplier_ids: ticked.suppliers.get_untracked(),
            },
        });
    };
    let statuses = LeadStatus::ALL.map(|s| {
        let input_id = format!("webhook-status-{}", s.as_str());
        view! {
            <div class="check">
                <input id=input_id.clone() type="checkbox" checked=DEFAULT_STATUSES.contains(&s)
                    disabled=move || !hydrated.get() on:change=toggle_in(ticked.statuses, s)/>
                <label for=input_id>{s.label()}</label>
            </div>
        }
    });
    let choices = |kind: &'static str, items: Vec<Named>, list: RwSignal<Vec<i64>>| {
        if items.is_empty() {
            return view! { <p class="hint">{format!("No {kind} yet.")}</p> }.into_any();
        }
        items
            .into_iter()
            .map(|n| {
                let input_id = format!("webhook-{kind}-{}", n.id);
                view! {
                    <div class="check">
                        <input id=input_id.clone() type="checkbox" disabled=move || !hydrated.get()
                            on:change=toggle_in(list, n.id)/>
                        <label for=input_id>{n.name}</label>
                    </div>
                }
            })
            .collect_view()
            .into_any()
    };
    let (campaign_choices, supplier_choices) = (
        choices("campaigns", campaigns, ticked.campaigns),
        choices("suppliers", suppliers, ticked.suppliers),
    );
    view! {
        <h2 id="add-endpoint-heading">"Add an endpoint"</h2>
        <form node_ref=form class="stack webhook-form" aria-labelledby="add-endpoint-heading" novalidate on:submit=on_submit>
            <label for="webhook-url">"URL"</label>
            <input id="webhook-url" node_ref=url type="url" name="url" required maxlength="2048"
                placeholder="https://crm.example.com/hooks/sendback"
                aria-invalid=failure.invalid("url") aria-describedby="webhook-url-hint webhook-url-error"/>
            <p id="webhook-url-hint" class="hint">"Where each change is posted; it must be https:// and public."</p>
            <p id="webhook-url-error" class="field-error" role="alert">{failure.on("url")}</p>
            <label for="webhook-description">"Description"</label>
            <input id="webhook-description" node_ref=description type="text" name="description" maxlength="200"
                aria-invalid=failure.invalid("description") aria-describedby="webhook-description-error"/>
            <p id="webhook-description-error" class="field-error" role="alert">{failure.on("description")}</p>
            <fieldset aria-describedby="webhook-statuses-error">
                <legend>"Statuses"</legend>
                <p class="hint">"A change is sent when the lead moves to one of these."</p>
                {statuses.into_iter().collect_view()}
            </fieldset>
            <p id="webhook-statuses-error" class="field-error" role="alert">{failure.on("statuses")}</p>
            <fieldset aria-describedby="webhook-campaigns-error">
                <legend>"Campaigns"</legend>
                <p class="hint">"None ticked: every campaign."</p>
                {campaign_choices}
            </fieldset>
            <p id="webhook-campaigns-error" class="field-error" role="alert">{failure.on("campaigns")}</p>
            <fieldset aria-describedby="webhook-suppliers-error">
                <legend>"Suppliers"</legend>
                <p class="hint">"None ticked: every supplier."</p>
                {supplier_choices}
            </fieldset>
            <p id="webhook-suppliers-error" class="field-error" role="alert">{failure.on("suppliers")}</p>
            <p class="form-error" role="alert">
                {failure.other(&["url", "description", "statuses", "campaigns", "suppliers"])}
            </p>
            <Notice changes at="create"/>
            <button type="submit" disabled=move || !hydrated.get() || create.pending().get()>"Add endpoint"</button>
        </form>
    }
}

#[component]
fn DeliveryTable(deliveries: Vec<DeliveryView>, actions: Actions) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p>"No deliveries yet: events appear here when a lead's status changes."</p> }
            .into_any();
    }
    let failure = Failure::of(actions.resend);
    let hydrated = hydrated();
    let rows = deliveries.into_iter().map(move |d| {
        let event_id = d.event_id;
        let change = change(&d);
        view! {
            <tr data-state=d.state.clone()>
                <th scope="row">{event_id}</th>
                <td class="webhook-url"><code>{d.endpoint_url}</code></td>
                <td><A href=format!("/leads/{}", d.lead_id)>{d.lead_id}</A></td>
                <td>{change}</td>
                <td><span class=format!("badge delivery-{}", d.state)>{state_label(&d.state)}</span></td>
                <td>{d.attempts}</td>
                <td>{d.last_status_code.map(|c| c.to_string())}</td>
                <td>{d.last_latency_ms.map(|ms| ms.to_string())}</td>
                <td class="nowrap">{d.next_attempt_at.map(at)}</td>
                <td class="webhook-error">{d.last_error}</td>
                <td>
                    <button type="button" class="secondary" aria-label=format!("Resend event {event_id}")
                        disabled=move || !hydrated.get() || actions.resend.pending().get()
                        on:click=move |_| { actions.resend.dispatch(ResendWebhookEvent { event_id }); }>
                        "Resend"
                    </button>
                </td>
            </tr>
        }
    });
    view! {
        <div class="table-scroll">
            <table class="data compact">
                <caption class="visually-hidden">"Recent deliveries"</caption>
                <thead><tr>
                    <th scope="col">"Event"</th>
                    <th scope="col">"Endpoint"</th>
                    <th scope="col">"Lead"</th>
                    <th scope="col">"Change"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Attempts"</th>
                    <th scope="col">"Last status"</th>
                    <th scope="col">"Latency (ms)"</th>
                    <th scope="col">"Next attempt"</th>
                    <th scope="col">"Last error"</th>
                    <th scope="col">"Resend"</th>
                </tr></thead>
                <tbody>{rows.collect_view()}</tbody>
            </table>
        </div>
        <p class="form-error" role="alert">{failure.other(&[])}</p>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filters_read_all() {
        assert_eq!(names_or_all(&[]), "All");
        let two = [Named { id: 1, name: "A".into() }, Named { id: 2, name: "B".into() }];
        assert_eq!(names_or_all(&two), "A, B");
    }

    #[test]
    fn states_read_as_words() {
        assert_eq!(state_label("delivered"), "Delivered");
        assert_eq!(state_label("failed"), "Failed");
        assert_eq!(state_label("pending"), "Pending");
    }
}
