//! The owner's rejection report: its counts against the database, its CSV, its date checks.

use app::db::schema::*;
use axum::http::StatusCode;
use diesel::prelude::*;

use crate::support::{TestApp, databases};

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

/// Reasons differing only in case or whitespace are one row, named by the most used spelling, on
/// the page and in the CSV alike.
#[tokio::test]
async fn reasons_are_grouped_as_people_mean_them_on_the_page_and_in_the_csv() {
    for database in databases() {
        let app = TestApp::on(database);
        let owner = app.login("owner@sendback.test").await;
        let r = app.call("rejection_report", &[("from", ""), ("to", "")], Some(&owner)).await;
        let report: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        let from = report["from"].as_str().expect("from").parse::<chrono::NaiveDate>().expect("date");
        {
            let mut conn = app.state.pool.get().expect("conn");
            // The owner's instance only: the report never counts another instance's leads.
            let instance: i64 = users::table
                .filter(users::email.eq("owner@sendback.test"))
                .select(users::instance_id)
                .first(&mut conn)
                .expect("owner");
            let to = report["to"].as_str().expect("to").parse::<chrono::NaiveDate>().expect("date");
            let three: Vec<i64> = leads::table
                .filter(leads::instance_id.eq(instance))
                .filter(leads::status.eq("client_rejected"))
                .filter(leads::received_at.ge(from.and_hms_opt(0, 0, 0).expect("midnight")))
                .filter(
                    leads::received_at.lt(to
                        .succ_opt()
                        .expect("day")
                        .and_hms_opt(0, 0, 0)
                        .expect("midnight")),
                )
                .select(leads::id)
                .order(leads::id)
                .limit(3)
                .load(&mut conn)
                .expect("leads");
            assert_eq!(three.len(), 3, "{database:?}");
            for (id, spelling) in three.iter().zip(["Too  Late", "too late ", "Too Late"]) {
                diesel::update(leads::table.find(id))
                    .set(leads::status_reason.eq(spelling))
                    .execute(&mut conn)
                    .expect("reason");
            }
        }
        let r = app.call("rejection_report", &[("from", ""), ("to", "")], Some(&owner)).await;
        let report: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        let reasons: Vec<(String, i64)> =
            serde_json::from_value(report["by_reason"].clone()).expect("reasons");
        let late: Vec<&(String, i64)> =
            reasons.iter().filter(|(r, _)| r.to_lowercase().contains("late")).collect();
        assert_eq!(late, [&("Too Late".to_owned(), 3)], "{database:?}: {reasons:?}");
        let csv = app.get(&format!("/reports/rejections.csv?from={from}"), Some(&owner)).await;
        assert_eq!(csv.status, StatusCode::OK, "{database:?}");
        let in_csv: Vec<(String, i64)> = csv::Reader::from_reader(csv.body.as_bytes())
            .records()
            .map(|r| r.expect("record"))
            .filter(|r| &r[0] == "reason")
            .map(|r| (r[1].to_owned(), r[3].parse().expect("count")))
            .collect();
        assert_eq!(in_csv, reasons, "{database:?}: the CSV lists the page's reasons");
    }
}
