//! Import leads (owner staff): a CSV of existing leads for one campaign and supplier. The page
//! uploads the file, maps each column to a field (or received at, status, status reason),
//! previews what would happen and starts the import; `import_page` follows it to the end and
//! offers the results file. The server refuses everyone but owner staff whatever the page shows.

#[cfg(feature = "ssr")]
pub mod http;
mod import_page;
pub mod server_fns;

pub use import_page::ImportPage;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::components::{ErrorPage, hydrated};
use crate::domain::lead_import::{
    ColumnUse, ImportCampaign, ImportForm, ImportPreview, ImportSetup, ImportSummary, guess_column_use,
};
use crate::domain::preview_job::PreviewProgress;
use crate::error::AppError;
use crate::rejections::UploadPreview;
use crate::rejections::form::{FilePreview, PreviewRunning, poll_preview, queued};
use server_fns::{lead_import_preview, lead_import_setup, start_lead_import, start_lead_import_preview};

#[component]
pub fn ImportLeadsPage() -> impl IntoView {
    let setup = Resource::new(|| (), |_| lead_import_setup());
    view! {
        <Title text="Import leads"/>
        <h1>"Import leads"</h1>
        <p class="lead">
            "Load existing leads from a CSV file into one campaign, as sent by one supplier. Each row becomes a lead, "
            "or is refused with its reason in the results file; nothing is imported twice."
        </p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match setup.await {
                    Ok(s) => view! { <ImportScreen setup=s/> }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ImportScreen(setup: ImportSetup) -> impl IntoView {
    let recent = setup.recent.clone();
    view! {
        <ImportForm setup=setup/>
        <section aria-labelledby="recent-heading">
            <h2 id="recent-heading">"Recent imports"</h2>
            {if recent.is_empty() {
                view! { <p>"No lead has been imported yet."</p> }.into_any()
            } else {
                view! { <RecentImports imports=recent/> }.into_any()
            }}
        </section>
    }
}

#[component]
fn RecentImports(imports: Vec<ImportSummary>) -> impl IntoView {
    view! {
        <table class="data">
            <caption class="visually-hidden">"Recent imports"</caption>
            <thead><tr>
                <th scope="col">"Import"</th><th scope="col">"File"</th><th scope="col">"Campaign"</th>
                <th scope="col">"Supplier"</th><th scope="col">"Started (UTC)"</th><th scope="col">"Status"</th>
                <th scope="col">"Leads created"</th><th scope="col">"Rows refused"</th>
            </tr></thead>
            <tbody>
                {imports.into_iter().map(|i| view! {
                    <tr>
                        <td><A href=format!("/leads/import/{}", i.id)>{format!("Import {}", i.id)}</A></td>
                        <td>{i.file_name}</td><td>{i.campaign}</td><td>{i.supplier}</td><td>{i.created_at}</td>
                        <td><span class=format!("badge task-{}", i.status.as_str())>{i.status.label()}</span></td>
                        <td>{i.leads_created}</td><td>{i.rows_refused}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

// Only the browser uploads files; server rendering always shows the empty state.
#[cfg_attr(not(feature = "hydrate"), expect(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileState {
    Empty,
    Uploading(String),
    Ready(UploadPreview),
    Refused(String),
}

#[component]
fn ImportForm(setup: ImportSetup) -> impl IntoView {
    let limit = crate::domain::messages::megabytes(setup.max_upload_bytes);
    let campaigns = StoredValue::new(setup.campaigns);
    let suppliers = StoredValue::new(setup.suppliers);
    let file = RwSignal::new(FileState::Empty);
    let campaign = RwSignal::new(None::<i64>);
    let supplier = RwSignal::new(None::<i64>);
    let columns = RwSignal::new(Vec::<ColumnUse>::new());
    let apply_caps = RwSignal::new(false);
    // The running or finished background preview; a new one (or a changed input) replaces it.
    let preview = RwSignal::new(None::<PreviewProgress<ImportPreview>>);
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let hydrated = hydrated();

    let selected = move || -> Option<ImportCampaign> {
        campaign.get().and_then(|id| campaigns.with_value(|cs| cs.iter().find(|c| c.id == id).cloned()))
    };
    let headers = move || match file.get() {
        FileState::Ready(p) => p.headers,
        _ => Vec::new(),
    };
    // A new file or campaign: guess each column's use again.
    Effect::new(move |_| {
        let fields = selected().map(|c| c.fields).unwrap_or_default();
        columns.set(headers().iter().map(|h| guess_column_use(h, &fields)).collect());
    });
    // Any change makes the preview stale.
    Effect::new(move |_| {
        file.track();
        campaign.track();
        supplier.track();
        columns.track();
        apply_caps.track();
        preview.set(None);
    });

    #[cfg(feature = "hydrate")]
    let start_upload = {
        let started = StoredValue::new(0_u32);
        move |chosen: web_sys::File| {
            started.update_value(|n| *n += 1);
            let this = started.get_value();
            error.set(None);
            file.set(FileState::Uploading(chosen.name()));
            leptos::task::spawn_local(async move {
                let result = crate::rejections::upload::send_to(chosen, "/api/lead-uploads").await;
                if started.get_value() == this {
                    file.set(match result {
                        Ok(p) => FileState::Ready(p),
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
            if let Some(chosen) = input.files().and_then(|f| f.get(0)) {
                start_upload(chosen);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };

    let form = move || -> Result<ImportForm, AppError> {
        let FileState::Ready(upload) = file.get_untracked() else {
            return Err(AppError::invalid("file", "Choose the CSV file of leads."));
        };
        Ok(ImportForm {
            upload_id: upload.upload_id,
            campaign_id: campaign.get_untracked(),
            supplier_id: supplier.get_untracked(),
            columns: columns.get_untracked(),
            apply_caps: apply_caps.get_untracked(),
        })
    };
    let navigate = use_navigate();
    let run = move |start: bool| {
        error.set(None);
        let form = match form() {
            Ok(f) => f,
            Err(err) => {
                error.set(Some(err));
                return;
            }
        };
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            if start {
                match start_lead_import(form).await {
                    Ok(id) => navigate(&format!("/leads/import/{id}"), Default::default()),
                    Err(err) => error.set(Some(err)),
                }
            } else {
                match start_lead_import_preview(form).await {
                    Ok(id) => {
                        preview.set(Some(queued(id)));
                        poll_preview(id, preview, error, lead_import_preview);
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
            error.get().and_then(|e| e.field_message(field)).or_else(|| match (field, file.get()) {
                ("file", FileState::Refused(message)) => Some(message),
                _ => None,
            })
        }
    };
    let invalid = move |field: &'static str| move || field_error(field)().is_some().to_string();
    let general_error =
        move || error.get().filter(|e| !matches!(e, AppError::Invalid { .. })).map(|e| e.to_string());
    let disabled = move || !hydrated.get() || busy.get() || matches!(file.get(), FileState::Uploading(_));
    let supplier_note = move || {
        let (Some(c), Some(s)) = (selected(), supplier.get()) else { return None };
        (!c.supplier_ids.contains(&s)).then_some(
            "This supplier does not send leads to this campaign: tick the campaign for it on the Suppliers page first.",
        )
    };

    view! {
        <form class="rejection-form import-form" on:submit=|ev| ev.prevent_default() novalidate>
            <section aria-labelledby="step-file">
                <h2 id="step-file">"1. Your file"</h2>
                <label for="file">"CSV file"</label>
                <input id="file" type="file" accept=".csv,text/csv,text/plain" aria-describedby="file-hint file-error"
                    aria-invalid=invalid("file") disabled=move || !hydrated.get() on:change=on_file_input/>
                <p id="file-hint" class="hint">
                    "One row per lead, with a header row. Up to " {limit} "."
                </p>
                <p id="file-error" class="field-error" role="alert">{field_error("file")}</p>
                <div role="status" aria-live="polite">
                    {move || match file.get() {
                        FileState::Uploading(name) => view! { <p>"Reading " {name} "…"</p> }.into_any(),
                        FileState::Ready(p) => view! { <FilePreview preview=p/> }.into_any(),
                        _ => ().into_any(),
                    }}
                </div>
            </section>

            <section aria-labelledby="step-campaign">
                <h2 id="step-campaign">"2. Campaign and supplier"</h2>
                <label for="campaign">"Campaign"</label>
                <select id="campaign" aria-describedby="campaign-error" aria-invalid=invalid("campaign")
                    on:change=move |ev| campaign.set(event_target_value(&ev).parse().ok())>
                    <option value="" selected=move || campaign.get().is_none()>"Choose the campaign"</option>
                    {campaigns.get_value().into_iter().map(|c| {
                        let id = c.id;
                        view! { <option value=id.to_string() selected=move || campaign.get() == Some(id)>{format!("{} ({})", c.name, c.client)}</option> }
                    }).collect_view()}
                </select>
                <p id="campaign-error" class="field-error" role="alert">{field_error("campaign")}</p>
                <label for="supplier">"Supplier"</label>
                <select id="supplier" aria-describedby="supplier-note supplier-error" aria-invalid=invalid("supplier")
                    on:change=move |ev| supplier.set(event_target_value(&ev).parse().ok())>
                    <option value="" selected=move || supplier.get().is_none()>"Choose the supplier the leads came from"</option>
                    {suppliers.get_value().into_iter().map(|(id, name)| {
                        view! { <option value=id.to_string() selected=move || supplier.get() == Some(id)>{name}</option> }
                    }).collect_view()}
                </select>
                <p id="supplier-note" class="hint" role="note">{supplier_note}</p>
                <p id="supplier-error" class="field-error" role="alert">{field_error("supplier")}</p>
            </section>

            <section aria-labelledby="step-columns">
                <h2 id="step-columns">"3. Columns"</h2>
                <p class="hint" id="columns-hint">
                    "Choose what each column holds. Received at takes 2026-11-30 14:05:00, 2026-11-30 or 30/11/2026 (UTC); "
                    "without it, leads are received now. Status takes a status name (empty: Received)."
                </p>
                {move || {
                    let hs = headers();
                    if hs.is_empty() {
                        return view! { <p>"Choose a file first."</p> }.into_any();
                    }
                    let fields = selected().map(|c| c.fields).unwrap_or_default();
                    view! {
                        <table class="data compact mapping">
                            <caption class="visually-hidden">"What each column holds"</caption>
                            <thead><tr><th scope="col">"Column"</th><th scope="col">"Holds"</th></tr></thead>
                            <tbody>
                                {hs.into_iter().enumerate().map(|(i, h)| {
                                    let id = format!("column-{i}");
                                    let fields = fields.clone();
                                    let current = move || columns.with(|c| c.get(i).copied().unwrap_or(ColumnUse::Ignore));
                                    let option = move |u: ColumnUse, text: String| {
                                        let value = u.to_option();
                                        view! { <option value=value selected=move || current() == u>{text}</option> }
                                    };
                                    view! {
                                        <tr>
                                            <th scope="row"><label for=id.clone()>{h}</label></th>
                                            <td>
                                                <select id=id aria-describedby="columns-hint"
                                                    on:change=move |ev| {
                                                        let u = ColumnUse::from_option(&event_target_value(&ev));
                                                        columns.update(|c| if let Some(slot) = c.get_mut(i) { *slot = u; });
                                                    }>
                                                    {option(ColumnUse::Ignore, "Not imported".to_owned())}
                                                    {fields.into_iter().map(|f| {
                                                        let text = if f.dedupe { format!("{} (deduplicated)", f.label) } else { f.label };
                                                        option(ColumnUse::Field(f.id), text)
                                                    }).collect_view()}
                                                    {option(ColumnUse::ReceivedAt, "Received at".to_owned())}
                                                    {option(ColumnUse::Status, "Status".to_owned())}
                                                    {option(ColumnUse::Reason, "Status reason".to_owned())}
                                                </select>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
                <p id="columns-error" class="field-error" role="alert">{field_error("columns")}</p>
            </section>

            <section aria-labelledby="step-options">
                <h2 id="step-options">"4. Caps"</h2>
                <div class="choice">
                    <input type="checkbox" id="apply-caps" aria-describedby="apply-caps-hint"
                        prop:checked=move || apply_caps.get() on:change=move |ev| apply_caps.set(event_target_checked(&ev))/>
                    <label for="apply-caps">"Apply the campaign's caps"</label>
                    <span id="apply-caps-hint" class="hint">
                        "Off (usual for history): the leads take no cap units and give none back when rejected. "
                        "On: each Received lead takes a unit of its caps for the period it was received in, or goes to Quarantine when a cap is full."
                    </span>
                </div>
            </section>

            <p class="form-error" role="alert">{general_error}</p>
            <div class="actions">
                <button type="button" class="secondary" disabled=disabled on:click=move |_| run_preview(false)>"Preview"</button>
                <button type="button" disabled=disabled on:click=move |_| run(true)>"Start import"</button>
                <span role="status" class="busy">{move || busy.get().then_some("Working…")}</span>
            </div>
            <div aria-live="polite">
                {move || preview.get().map(|p| match p.result.clone() {
                    Some(result) => view! { <PreviewPanel preview=result/> }.into_any(),
                    None => view! { <PreviewRunning progress=p/> }.into_any(),
                })}
            </div>
        </form>
    }
    // A deep view type: erased here so the page that holds it stays shallow for the compiler.
    .into_any()
}

#[component]
fn PreviewPanel(preview: ImportPreview) -> impl IntoView {
    let scope = if preview.more_rows {
        format!("The first {} rows (the file has more)", preview.rows)
    } else {
        format!("All {} rows", preview.rows)
    };
    view! {
        <section class="card preview" aria-labelledby="preview-heading">
            <h2 id="preview-heading">"Preview: nothing has been imported yet"</h2>
            <p>{format!("{scope}: {} would become leads, {} would be refused.", preview.would_create, preview.refused)}</p>
            <table class="data compact">
                <caption>"Leads per status"</caption>
                <thead><tr><th scope="col">"Status"</th><th scope="col">"Leads"</th></tr></thead>
                <tbody>
                    {preview.statuses.into_iter().map(|(s, n)| view! {
                        <tr><th scope="row">{s.label()}</th><td>{n}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            {(!preview.reasons.is_empty()).then(|| view! {
                <table class="data compact">
                    <caption>"Refused rows, by reason"</caption>
                    <thead><tr><th scope="col">"Reason"</th><th scope="col">"Rows"</th></tr></thead>
                    <tbody>
                        {preview.reasons.into_iter().map(|(r, n)| view! {
                            <tr><th scope="row">{r}</th><td>{n}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
    }
}
