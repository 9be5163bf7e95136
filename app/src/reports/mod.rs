//! Reports (owner staff): client rejections per campaign.

pub mod server_fns;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::ErrorPage;
use server_fns::rejections_by_campaign;

/// `12.3%`, or `–` when nothing was delivered.
pub fn rate(part: i64, whole: i64) -> String {
    if whole == 0 { "–".to_owned() } else { format!("{:.1}%", part as f64 * 100.0 / whole as f64) }
}

#[component]
pub fn ReportsPage() -> impl IntoView {
    let rows = Resource::new(|| (), |_| rejections_by_campaign());
    view! {
        <Title text="Reports"/>
        <h1>"Reports"</h1>
        <h2>"Client rejections by campaign"</h2>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) => view! {
                        <table class="data">
                            <thead><tr>
                                <th scope="col">"Campaign"</th>
                                <th scope="col">"Client"</th>
                                <th scope="col">"Delivered"</th>
                                <th scope="col">"Client rejected"</th>
                                <th scope="col">"Rejection rate"</th>
                            </tr></thead>
                            <tbody>
                                {rows.into_iter().map(|r| view! {
                                    <tr>
                                        <td>{r.campaign}</td>
                                        <td>{r.client}</td>
                                        <td>{r.delivered}</td>
                                        <td>{r.client_rejected}</td>
                                        <td>{rate(r.client_rejected, r.delivered)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(err) => view! { <ErrorPage err/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates() {
        assert_eq!(super::rate(1, 8), "12.5%");
        assert_eq!(super::rate(0, 0), "–");
    }
}
