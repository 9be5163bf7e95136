//! The owner's rejection report: its counts against the database, its CSV, its date checks.

use app::db::schema::*;
use axum::http::StatusCode;
use diesel::prelude::*;

use crate::support::TestApp;

#[tokio::test]
async fn the_report_counts_match_the_database_and_its_csv() {
    let app = TestApp::new();
    let owner = app.login("owner@sendback.test").await;
    let r = app.call("rejection_report", &[("from", ""), ("to", "")], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let from = report["from"].as_str().expect("from").to_owned();
    let home = report["by_campaign"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|c| c["name"] == "Home Insurance UK")
        .expect("home")
        .clone();
    let expected: i64 =
        {
            let mut conn = app.state.pool.get().expect("conn");
            leads::table
                .inner_join(campaigns::table)
                .filter(campaigns::name.eq("Home Insurance UK"))
                .filter(leads::status.eq("client_rejected"))
                .filter(leads::received_at.ge(
                    from.parse::<chrono::NaiveDate>().expect("date").and_hms_opt(0, 0, 0).expect("midnight"),
                ))
                .count()
                .get_result(&mut conn)
                .expect("count")
        };
    assert!(expected > 0);
    assert_eq!(home["client_rejected"], expected);
    assert!(report["chart_svg"].as_str().expect("svg").starts_with("<svg"));
    // Other instance's campaigns never appear.
    assert!(report["by_campaign"].as_array().expect("rows").iter().all(|c| c["name"] != "Loans UK"));
    let csv = app.get(&format!("/reports/rejections.csv?from={from}"), Some(&owner)).await;
    assert_eq!(csv.status, StatusCode::OK);
    let line = format!("\"campaign\",\"Home Insurance UK\",\"{}\",\"{expected}\"", home["delivered"]);
    assert!(csv.body.lines().any(|l| l.starts_with(&line)), "{line} in {}", csv.body);
    let bad =
        app.call("rejection_report", &[("from", "2026-12-01"), ("to", "2026-11-01")], Some(&owner)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}
