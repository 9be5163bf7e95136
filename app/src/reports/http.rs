//! `GET /reports/rejections.csv?from=…&to=…`: the report as CSV (owner staff only), with cells a
//! spreadsheet would run as formulas neutralised.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use crate::auth::access::{require_owner_user, user_of_session};
use crate::engine::task::spreadsheet_safe;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, serde::Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn refuse(err: &AppError) -> Response {
    let status = StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, err.to_string()).into_response()
}

pub async fn rejections_csv(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let user = match user_of_session(&state, &session).await {
        Ok(Some(user)) => user,
        Ok(None) => return refuse(&AppError::Unauthenticated),
        Err(err) => return refuse(&err),
    };
    if let Err(err) = require_owner_user(&user) {
        return refuse(&err);
    }
    let period = match super::server_fns::ssr::period(&q.from, &q.to, state.clock.now().date()) {
        Ok(p) => p,
        Err(err) => return refuse(&err),
    };
    let instance = user.instance_id;
    let report = match state.db(move |conn| super::server_fns::ssr::report(conn, instance, period)).await {
        Ok(r) => r,
        Err(err) => return refuse(&AppError::from(err)),
    };
    let mut w = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(Vec::new());
    let mut rows: Vec<[String; 5]> = vec![[
        "section".into(),
        "name".into(),
        "delivered".into(),
        "client_rejected".into(),
        "rejection_rate".into(),
    ]];
    for (section, lines) in [("campaign", &report.by_campaign), ("supplier", &report.by_supplier)] {
        for l in lines {
            rows.push([
                section.into(),
                l.name.clone(),
                l.delivered.to_string(),
                l.client_rejected.to_string(),
                l.rate(),
            ]);
        }
    }
    for (reason, n) in &report.by_reason {
        rows.push(["reason".into(), reason.clone(), String::new(), n.to_string(), String::new()]);
    }
    for (day, n) in &report.per_day {
        rows.push(["day".into(), day.clone(), String::new(), n.to_string(), String::new()]);
    }
    for row in &rows {
        if let Err(err) = w.write_record(row.iter().map(|c| spreadsheet_safe(c).into_owned())) {
            tracing::error!(error = %err, "writing the report CSV");
            return refuse(&AppError::Internal);
        }
    }
    let body = match w.into_inner() {
        Ok(b) => b,
        Err(err) => {
            tracing::error!(error = %err, "writing the report CSV");
            return refuse(&AppError::Internal);
        }
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"client-rejections-{}-to-{}.csv\"", report.from, report.to),
            ),
        ],
        body,
    )
        .into_response()
}
