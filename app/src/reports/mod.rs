//! Reports (owner staff): what clients sent back over a period — by campaign, supplier and
//! reason, with the rejection rate and a chart per day drawn on the server — and its CSV export.

#[cfg(feature = "ssr")]
pub mod http;
pub mod server_fns;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::ErrorPage;
use server_fns::{ClientRejectionReport, GroupLine, rejection_report};

#[component]
pub fn ReportsPage() -> impl IntoView {
    let params = use_query_map();
    let period = Memo::new(move |_| {
        params.with(|p| (p.get("from").unwrap_or_default(), p.get("to").unwrap_or_default()))
    });
    let report = Resource::new(move || period.get(), |(from, to)| rejection_report(from, to));
    view! {
        <Title text="Reports"/>
        <h1>"Reports"</h1>
        <p class="lead">"Leads your clients sent back: client rejections by campaign, supplier and reason."</p>
        <Transition fallback=|| view! { <p>"Loading the report…"</p> }>
            {move || Suspend::new(async move {
                let (from, to) = period.get();
                match report.await {
                    Ok(r) => view! { <PeriodForm from=r.from.clone() to=r.to.clone() error=None/> <Report report=r/> }.into_any(),
                    Err(err) if matches!(err, crate::error::AppError::Invalid { .. }) => view! {
                        <PeriodForm from to error=Some(err.to_string())/>
                    }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn PeriodForm(from: String, to: String, error: Option<String>) -> impl IntoView {
    view! {
        <form method="get" action="/reports" class="filters" aria-label="Report period">
            <div>
                <label for="report-from">"From"</label>
                <input id="report-from" type="date" name="from" value=from aria-describedby="report-error"/>
            </div>
            <div>
                <label for="report-to">"To"</label>
                <input id="report-to" type="date" name="to" value=to/>
            </div>
            <div class="filter-actions"><button type="submit">"Show report"</button></div>
        </form>
        <p id="report-error" class="form-error" role="alert">{error}</p>
    }
}

#[component]
fn Report(report: ClientRejectionReport) -> impl IntoView {
    let csv = format!("/reports/rejections.csv?from={}&to={}", report.from, report.to);
    let total: i64 = report.per_day.iter().map(|(_, n)| n).sum();
    view! {
        <p>
            {format!("Leads received from {} to {} (UTC). ", report.from, report.to)}
            <a href=csv download>"Download CSV"</a>
        </p>
        <section aria-labelledby="chart-heading">
            <h2 id="chart-heading">"Client rejections per day"</h2>
            <p class="hint">{format!("{total} rejections made in the period, by the day they were made.")}</p>
            <div class="chart" inner_html=report.chart_svg></div>
        </section>
        <GroupTable title="By campaign" column="Campaign" rows=report.by_campaign/>
        <GroupTable title="By supplier" column="Supplier" rows=report.by_supplier/>
        <section aria-labelledby="reason-heading">
            <h2 id="reason-heading">"By reason"</h2>
            {if report.by_reason.is_empty() {
                view! { <p>"No client rejections in this period."</p> }.into_any()
            } else {
                view! {
                    <table class="data compact">
                        <caption class="visually-hidden">"Client rejections by reason"</caption>
                        <thead><tr><th scope="col">"Reason"</th><th scope="col">"Client rejected"</th></tr></thead>
                        <tbody>
                            {report.by_reason.into_iter().map(|(reason, n)| view! {
                                <tr><td>{if reason.is_empty() { "(no reason)".to_owned() } else { reason }}</td><td>{n}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn GroupTable(title: &'static str, column: &'static str, rows: Vec<GroupLine>) -> impl IntoView {
    let id = format!("{}-heading", column.to_lowercase());
    let labelled_by = id.clone();
    view! {
        <section aria-labelledby=labelled_by>
            <h2 id=id>{title}</h2>
            <table class="data compact">
                <caption class="visually-hidden">{format!("Client rejections {}", title.to_lowercase())}</caption>
                <thead><tr>
                    <th scope="col">{column}</th>
                    <th scope="col">"Delivered"</th>
                    <th scope="col">"Client rejected"</th>
                    <th scope="col">"Rejection rate"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let rate = r.rate();
                        view! { <tr><th scope="row">{r.name}</th><td>{r.delivered}</td><td>{r.client_rejected}</td><td>{rate}</td></tr> }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
