//! The Import Rejections form: file (drop or choose), campaign, identifier mapping, the optional
//! configuration, "Preview outcomes" and "Start Rejection Task". Errors appear next to the
//! field they concern and are announced.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::model::{
    IdentifierChoice, Outcome, PreviewSummary, TaskForm, TaskOptions, UploadPreview, guess_identifier_column,
    guess_reason_column,
};
use super::server_fns::{
    RejectionCampaign, rejection_preview, start_rejection_preview, start_rejection_task,
};
use crate::components::hydrated;
use crate::domain::preview_job::{PreviewProgress, PreviewStatus};
use crate::error::AppError;

/// How often a running preview is asked for its progress.
const PREVIEW_POLL_MS: u64 = 300;

// Only the browser uploads files; server rendering always shows the empty state.
#[cfg_attr(not(feature = "hydrate"), expect(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileState {
    Empty,
    Uploading(String),
    Ready(UploadPreview),
    Refused(String),
}

/// The form's inputs; every change drops a preview that no longer matches.
#[derive(Clone, Copy)]
struct Inputs {
    file: RwSignal<FileState>,
    campaign: RwSignal<Option<i64>>,
    mode: RwSignal<&'static str>,
    field: RwSignal<Option<i64>>,
    identifier_column: RwSignal<String>,
    reason_column: RwSignal<String>,
    reject_from: RwSignal<String>,
    options: RwSignal<TaskOptions>,
}

impl Inputs {
    fn new() -> Self {
        Self {
            file: RwSignal::new(FileState::Empty),
            campaign: RwSignal::new(None),
            mode: RwSignal::new("lead_id"),
            field: RwSignal::new(None),
            identifier_column: RwSignal::new(String::new()),
            reason_column: RwSignal::new(String::new()),
            reject_from: RwSignal::new(String::new()),
            options: RwSignal::new(TaskOptions::default()),
        }
    }

    fn choice(&self) -> IdentifierChoice {
        match (self.mode.get(), self.field.get()) {
            ("uid", _) => IdentifierChoice::Uid,
            ("field", Some(id)) => IdentifierChoice::Field(id),
            ("field", None) => IdentifierChoice::Field(0),
            _ => IdentifierChoice::LeadId,
        }
    }

    fn headers(&self) -> Vec<String> {
        match self.file.get() {
            FileState::Ready(p) => p.headers,
            _ => Vec::new(),
        }
    }

    /// The form as sent, or the error to show when no file is ready.
    fn form(&self) -> Result<TaskForm, AppError> {
        let FileState::Ready(upload) = self.file.get_untracked() else {
            return Err(AppError::invalid("file", "Choose the CSV file of leads you reject."));
        };
        if self.mode.get_untracked() == "field" && self.field.get_untracked().is_none() {
            return Err(AppError::invalid("field", "Choose the field that identifies the leads."));
        }
        Ok(TaskForm {
            upload_id: upload.upload_id,
            campaign_id: self.campaign.get_untracked(),
            mode: self.choice(),
            identifier_column: self.identifier_column.get_untracked(),
            reason_column: self.reason_column.get_untracked(),
            reject_from: self.reject_from.get_untracked(),
            options: self.options.get_untracked(),
        })
    }
}

#[component]
pub fn RejectionForm(campaigns: Vec<RejectionCampaign>, max_upload_bytes: u64) -> impl IntoView {
    let limit = crate::domain::messages::megabytes(max_upload_bytes);
    let campaigns = StoredValue::new(campaigns);
    let inputs = Inputs::new();
    // The running or finished background preview; a new one (or a changed input) replaces it.
    let preview = RwSignal::new(None::<PreviewProgress<PreviewSummary>>);
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let hydrated = hydrated();

    // A changed input makes the preview stale.
    Effect::new(move |_| {
        inputs.file.track();
        inputs.campaign.track();
        inputs.mode.track();
        inputs.field.track();
        inputs.identifier_column.track();
        inputs.reason_column.track();
        inputs.reject_from.track();
        inputs.options.track();
        preview.set(None);
    });

    let selected_campaign = move || {
        inputs
            .campaign
            .get()
            .and_then(|id| campaigns.with_value(|cs| cs.iter().find(|c| c.id == id).cloned()))
    };
    let field_of = move |id: i64| {
        selected_campaign().and_then(|c| c.fields.into_iter().find(|f| f.id == id)).map(|f| (f.label, f.kind))
    };
    // Pre-select the identifier column whenever the file, the mode or the field changes.
    Effect::new(move |_| {
        let headers = inputs.headers();
        let choice = inputs.choice();
        let field = match choice {
            IdentifierChoice::Field(id) => field_of(id),
            _ => None,
        };
        let guess =
            guess_identifier_column(&headers, choice, field.as_ref().map(|(l, k)| (l.as_str(), k.as_str())));
        let current = inputs.identifier_column.get_untracked();
        if let Some(guess) = guess {
            inputs.identifier_column.set(guess);
        } else if !headers.contains(&current) {
            inputs.identifier_column.set(String::new());
        }
    });
    Effect::new(move |_| {
        let headers = inputs.headers();
        inputs.reason_column.set(guess_reason_column(&headers).unwrap_or_default());
    });

    #[cfg(feature = "hydrate")]
    let start_upload = {
        let uploads_started = StoredValue::new(0_u32);
        move |file: web_sys::File| {
            uploads_started.update_value(|n| *n += 1);
            let this = uploads_started.get_value();
            error.set(None);
            inputs.file.set(FileState::Uploading(file.name()));
            leptos::task::spawn_local(async move {
                let result = super::upload::send(file).await;
                // A newer choice wins over a slower, older upload.
                if uploads_started.get_value() == this {
                    inputs.file.set(match result {
                        Ok(preview) => FileState::Ready(preview),
                        Err(message) => FileState::Refused(message),
                    });
                }
            });
        }
    };
    let on_file_input = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            let input: web_sys::HtmlInputElement = event_target(&ev);
            if let Some(file) = input.files().and_then(|f| f.get(0)) {
                start_upload(file);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        if let Some(file) = ev.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
            start_upload(file);
        }
    };
    let dragging = RwSignal::new(false);

    let navigate = use_navigate();
    let run = move |start: bool| {
        error.set(None);
        let form = match inputs.form() {
            Ok(form) => form,
            Err(err) => {
                error.set(Some(err));
                return;
            }
        };
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            if start {
                match start_rejection_task(form).await {
                    Ok(id) => navigate(&format!("/leads/import-rejections/tasks/{id}"), Default::default()),
                    Err(err) => error.set(Some(err)),
                }
            } else {
                match start_rejection_preview(form).await {
                    Ok(id) => {
                        preview.set(Some(queued(id)));
                        poll_preview(id, preview, error, rejection_preview);
                    }
                    Err(err) => error.set(Some(err)),
                }
            }
            busy.set(false);
        });
    };
    let run_preview = run.clone();
    let field_error = move |field: &'static str| {
        move || {
            error.get().and_then(|e| e.field_message(field)).or_else(|| match (field, inputs.file.get()) {
                ("file", FileState::Refused(message)) => Some(message),
                _ => None,
            })
        }
    };
    let invalid = move |field: &'static str| move || field_error(field)().is_some().to_string();
    let general_error =
        move || error.get().filter(|e| !matches!(e, AppError::Invalid { .. })).map(|e| e.to_string());
    let disabled =
        move || !hydrated.get() || busy.get() || matches!(inputs.file.get(), FileState::Uploading(_));

    let set_option = move |f: fn(&mut TaskOptions, bool)| {
        move |ev| inputs.options.update(|o| f(o, event_target_checked(&ev)))
    };

    view! {
        <form class="rejection-form" on:submit=|ev| ev.prevent_default() novalidate>
            <section aria-labelledby="step-file">
                <h2 id="step-file">"1. Your file"</h2>
                <div
                    class=move || if dragging.get() { "dropzone dragging" } else { "dropzone" }
                    data-testid="dropzone"
                    on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                    on:dragleave=move |_| dragging.set(false)
                    on:drop=move |ev| { dragging.set(false); on_drop(ev); }
                >
                    <label for="file">"CSV file"</label>
                    <input
                        id="file"
                        type="file"
                        accept=".csv,text/csv,text/plain"
                        aria-describedby="file-hint file-error"
                        aria-invalid=invalid("file")
                        disabled=move || !hydrated.get()
                        on:change=on_file_input
                    />
                    <p id="file-hint" class="hint">
                        "Drag your CSV file here, or choose it. One row per lead: an identifier and a reason. Up to "
                        {limit} "."
                    </p>
                </div>
                <p id="file-error" class="field-error" role="alert">{field_error("file")}</p>
                <div role="status" aria-live="polite">
                    {move || match inputs.file.get() {
                        FileState::Uploading(name) => view! { <p>"Reading " {name} "…"</p> }.into_any(),
                        FileState::Ready(p) => view! { <FilePreview preview=p/> }.into_any(),
                        _ => ().into_any(),
                    }}
                </div>
            </section>

            <section aria-labelledby="step-campaign">
                <h2 id="step-campaign">"2. Campaign"</h2>
                <label for="campaign">"Campaign"</label>
                <select
                    id="campaign"
                    aria-describedby="campaign-note campaign-error"
                    aria-invalid=invalid("campaign")
                    on:change=move |ev| inputs.campaign.set(event_target_value(&ev).parse().ok())
                >
                    <option value="" selected=move || inputs.campaign.get().is_none()>"Choose the campaign the leads came from"</option>
                    {campaigns.get_value().into_iter().map(|c| {
                        let id = c.id;
                        let text = match c.max_rejection_days {
                            Some(d) => format!("{} (rejections within {d} days)", c.name),
                            None => format!("{} (not accepting rejections)", c.name),
                        };
                        view! { <option value=id.to_string() selected=move || inputs.campaign.get() == Some(id)>{text}</option> }
                    }).collect_view()}
                </select>
                <p id="campaign-note" class="hint" role="note">
                    {move || selected_campaign().map(|c| match c.max_rejection_days {
                        Some(d) => format!("Leads of this campaign can be rejected up to {d} days after they were received."),
                        None => crate::domain::messages::NO_MAXIMUM_REJECTION_TIME.to_owned(),
                    })}
                </p>
                <p id="campaign-error" class="field-error" role="alert">{field_error("campaign")}</p>
            </section>

            <section aria-labelledby="step-mapping">
                <h2 id="step-mapping">"3. Mapping"</h2>
                <fieldset>
                    <legend>"Identifier"</legend>
                    {[("lead_id", "Use Lead IDs", "Recommended: the Lead ID is unique."),
                      ("uid", "Use Consumer Session IDs", "The lead's UID, matched exactly."),
                      ("field", "Use another field", "A deduplicated field of the campaign, such as email or phone.")]
                        .into_iter().map(|(value, label, hint)| {
                            let id = format!("mode-{value}");
                            let hint_id = format!("{id}-hint");
                            view! {
                                <div class="choice">
                                    <input type="radio" name="mode" id=id.clone() value=value aria-describedby=hint_id.clone()
                                        prop:checked=move || inputs.mode.get() == value
                                        on:change=move |_| inputs.mode.set(value)/>
                                    <label for=id>{label}</label>
                                    <span id=hint_id class="hint">{hint}</span>
                                </div>
                            }
                        }).collect_view()}
                </fieldset>
                <Show when=move || inputs.mode.get() == "field">
                    <label for="field">"Field"</label>
                    <select id="field" aria-describedby="field-error" aria-invalid=invalid("field")
                        on:change=move |ev| inputs.field.set(event_target_value(&ev).parse().ok())>
                        <option value="" selected=move || inputs.field.get().is_none()>
                            {move || if selected_campaign().is_some() { "Choose a field" } else { "Choose a campaign first" }}
                        </option>
                        {move || selected_campaign().map(|c| c.fields).unwrap_or_default().into_iter().map(|f| {
                            let id = f.id;
                            view! { <option value=id.to_string() selected=move || inputs.field.get() == Some(id)>{f.label}</option> }
                        }).collect_view()}
                    </select>
                    <p id="field-error" class="field-error" role="alert">{field_error("field")}</p>
                </Show>
                <ColumnSelect id="identifier-column" label="Identifier column" value=inputs.identifier_column
                    headers=Signal::derive(move || inputs.headers()) error=Signal::derive(field_error("identifier_column"))/>
                <ColumnSelect id="reason-column" label="Rejection Reason column" value=inputs.reason_column
                    headers=Signal::derive(move || inputs.headers()) error=Signal::derive(field_error("reason_column"))/>
            </section>

            <section aria-labelledby="step-options">
                <h2 id="step-options">"4. Optional configuration"</h2>
                <label for="reject-from">"Reject from the date"</label>
                <input id="reject-from" type="date" aria-describedby="reject-from-hint reject-from-error"
                    aria-invalid=invalid("reject_from")
                    prop:value=move || inputs.reject_from.get()
                    on:input=move |ev| inputs.reject_from.set(event_target_value(&ev))/>
                <p id="reject-from-hint" class="hint">
                    "The rejection window is counted back from this date instead of today (it cannot be in the future)."
                </p>
                <p id="reject-from-error" class="field-error" role="alert">{field_error("reject_from")}</p>
                <OptionBox id="opt-outside" label="Move leads older than maximum rejected date to accepted"
                    hint="Rows whose lead is outside the rejection window are not rejected; those leads move from Received to Accepted."
                    checked=Signal::derive(move || inputs.options.get().move_outside_to_accepted)
                    on_change=set_option(|o, v| o.move_outside_to_accepted = v)/>
                <OptionBox id="opt-events" label="Reject affiliate events"
                    hint="The approved affiliate events of every lead this task rejects become rejected."
                    checked=Signal::derive(move || inputs.options.get().reject_affiliate_events)
                    on_change=set_option(|o, v| o.reject_affiliate_events = v)/>
                <OptionBox id="opt-remaining" label="Move any remaining leads to accepted"
                    hint="Afterwards, every other Received lead of the campaign received on or before the reference date moves to Accepted."
                    checked=Signal::derive(move || inputs.options.get().move_remaining_to_accepted)
                    on_change=set_option(|o, v| o.move_remaining_to_accepted = v)/>
                <OptionBox id="opt-cap" label="Count these rejections towards the cap"
                    hint="Each rejected lead gives its unit back to the caps it counted in, so the supplier may send that many more."
                    checked=Signal::derive(move || inputs.options.get().count_towards_cap)
                    on_change=set_option(|o, v| o.count_towards_cap = v)/>
            </section>

            <p class="form-error" role="alert">{general_error}</p>
            <div class="actions">
                <button type="button" class="secondary" disabled=disabled on:click=move |_| run_preview(false)>
                    "Preview outcomes"
                </button>
                <button type="button" disabled=disabled on:click=move |_| run(true)>"Start Rejection Task"</button>
                <span role="status" class="busy">{move || busy.get().then_some("Working…")}</span>
            </div>
            <div aria-live="polite">
                {move || preview.get().map(|p| match p.result.clone() {
                    Some(summary) => view! { <PreviewPanel preview=summary/> }.into_any(),
                    None => view! { <PreviewRunning progress=p/> }.into_any(),
                })}
            </div>
        </form>
    }
}

/// A just-started preview, before its first poll.
pub(crate) fn queued<T>(id: i64) -> PreviewProgress<T> {
    PreviewProgress {
        job_id: id,
        status: PreviewStatus::Queued,
        rows_read: 0,
        rows_total: None,
        result: None,
    }
}

/// Asks for preview `id`'s progress until it ends, while it is still the one shown (a new
/// preview or a changed input replaces it and this stops).
/// `ask` is the page's poll server function.
pub(crate) fn poll_preview<T, F, Fut>(
    id: i64,
    preview: RwSignal<Option<PreviewProgress<T>>>,
    error: RwSignal<Option<AppError>>,
    ask: F,
) where
    T: Clone + Send + Sync + 'static,
    F: Fn(i64) -> Fut + Copy + 'static,
    Fut: std::future::Future<Output = Result<PreviewProgress<T>, AppError>> + 'static,
{
    let current = move || preview.with_untracked(|p| p.as_ref().map(|p| p.job_id)) == Some(id);
    set_timeout(
        move || {
            if !current() {
                return;
            }
            leptos::task::spawn_local(async move {
                let answer = ask(id).await;
                if !current() {
                    return;
                }
                match answer {
                    Ok(p) if p.status == PreviewStatus::Cancelled => preview.set(None),
                    Ok(p) => {
                        let finished = p.status.is_finished();
                        preview.set(Some(p));
                        if !finished {
                            poll_preview(id, preview, error, ask);
                        }
                    }
                    // A busy moment (503) is not the preview's end: ask again.
                    Err(AppError::Busy(_) | AppError::Transport(_)) => poll_preview(id, preview, error, ask),
                    Err(err) => {
                        preview.set(None);
                        error.set(Some(err));
                    }
                }
            });
        },
        std::time::Duration::from_millis(PREVIEW_POLL_MS),
    );
}

/// "Previewing… N rows read" while a background preview runs.
#[component]
pub(crate) fn PreviewRunning<T: 'static>(progress: PreviewProgress<T>) -> impl IntoView {
    let value = progress.rows_total.map(|t| (progress.rows_read, t.max(1)));
    view! {
        <div class="card preview-progress" data-testid="preview-progress">
            <p role="status">{progress.progress_text()}</p>
            {match value {
                Some((done, total)) => view! { <progress max=total.to_string() value=done.to_string()></progress> }.into_any(),
                None => view! { <progress aria-label="Previewing"></progress> }.into_any(),
            }}
        </div>
    }
}

#[component]
pub(crate) fn FilePreview(preview: UploadPreview) -> impl IntoView {
    let size = if preview.size_bytes >= 1024 * 1024 {
        format!("{:.1} MB", preview.size_bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KB", preview.size_bytes as f64 / 1024.0)
    };
    let columns = preview.headers.len();
    view! {
        <div class="file-preview">
            <p>
                <strong>{preview.file_name.clone()}</strong>
                {format!(" · {size} · {} separated · {columns} column(s)", preview.delimiter)}
            </p>
            <table class="data compact">
                <caption>"The first rows, as they will be read"</caption>
                <thead><tr>{preview.headers.iter().map(|h| view! { <th scope="col">{h.clone()}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {preview.rows.into_iter().map(|row| view! {
                        <tr>{row.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn ColumnSelect(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    headers: Signal<Vec<String>>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    view! {
        <label for=id>{label}</label>
        <select id=id aria-describedby=error_id.clone() aria-invalid=move || error.get().is_some().to_string()
            on:change=move |ev| value.set(event_target_value(&ev))>
            <option value="" selected=move || value.get().is_empty()>
                {move || if headers.get().is_empty() { "Choose a file first" } else { "Choose a column" }}
            </option>
            {move || headers.get().into_iter().map(|h| {
                let (selected, text) = (h.clone(), h.clone());
                view! { <option value=h selected=move || value.get() == selected>{text}</option> }
            }).collect_view()}
        </select>
        <p id=error_id class="field-error" role="alert">{move || error.get()}</p>
    }
}

#[component]
fn OptionBox(
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    checked: Signal<bool>,
    on_change: impl FnMut(leptos::ev::Event) + 'static,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    view! {
        <div class="choice">
            <input type="checkbox" id=id aria-describedby=hint_id.clone() prop:checked=move || checked.get() on:change=on_change/>
            <label for=id>{label}</label>
            <span id=hint_id class="hint">{hint}</span>
        </div>
    }
}

#[component]
fn PreviewPanel(preview: PreviewSummary) -> impl IntoView {
    let changed: i64 =
        preview.counts.iter().filter(|(o, _)| matches!(o, Outcome::Rejected)).map(|(_, n)| *n).sum();
    view! {
        <section class="card preview" aria-labelledby="preview-heading">
            <h2 id="preview-heading">"Preview: nothing has changed yet"</h2>
            <p>
                {format!(
                    "Leads received on or after {} are inside the rejection window ({} days before {}).",
                    preview.window_start, preview.max_rejection_days, preview.reference_date
                )}
            </p>
            <p>{format!("{} rows read; {changed} leads would be rejected.", preview.rows)}</p>
            <table class="data compact">
                <caption>"Rows per outcome"</caption>
                <thead><tr><th scope="col">"Outcome"</th><th scope="col">"Rows"</th></tr></thead>
                <tbody>
                    {preview.counts.into_iter().map(|(o, n)| view! {
                        <tr data-outcome=o.as_str()><th scope="row">{o.label()}</th><td>{n}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            {preview.remaining_to_accept.map(|n| view! {
                <p>{format!("{n} remaining Received leads would move to Accepted.")}</p>
            })}
            {preview.cap_units.map(|n| view! {
                <p>{format!("{n} cap units would be given back to the supplier.")}</p>
            })}
        </section>
    }
}
