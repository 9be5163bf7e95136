//! `POST /api/v1/lead` over HTTP: a supplier's key, form or JSON, fields by id or key; created,
//! duplicate and over-cap leads; every refusal with its code and nothing stored; 50 parallel
//! posts against a cap of 10; rejections counted towards the cap make room for that many more.
//! Each on SQLite and PostgreSQL.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use diesel::prelude::*;

use crate::support::{Reply, TestApp, databases};
use app::db::audit::Actor;
use app::db::schema::*;
use app::db::setup;
use app::domain::caps::CapPeriod;
use app::domain::identifiers::FieldKind;
use app::domain::setup::FieldSpec;

/// A campaign of Acme Insurance (deduped email, phone), a supplier allowed on it, its key, and
/// a daily cap of `cap`.
struct Intake {
    campaign: String,
    supplier: String,
    email_field: i64,
    key: String,
}

fn set_up(app: &TestApp, cap: i64) -> Intake {
    let mut conn = app.state.pool.get().expect("conn");
    let owner: i64 = users::table
        .filter(users::email.eq("owner@sendback.test"))
        .select(users::id)
        .first(&mut conn)
        .expect("owner");
    let instance: i64 =
        users::table.find(owner).select(users::instance_id).first(&mut conn).expect("instance");
    let actor = Actor { instance_id: instance, user_id: Some(owner) };
    let now = chrono::Utc::now().naive_utc();
    let fields = [
        FieldSpec { key: "email".into(), label: "Email".into(), kind: FieldKind::Email, dedupe: true },
        FieldSpec { key: "phone".into(), label: "Phone".into(), kind: FieldKind::Phone, dedupe: false },
    ];
    let new = setup::campaigns::NewCampaign {
        client_id: app.client_id("Acme Insurance"),
        name: "Intake HTTP",
        max_rejection_days: Some(7),
        fields: &fields,
    };
    let campaign = setup::campaigns::create(&mut conn, actor, &new, now).expect("campaign");
    let supplier = setup::suppliers::create(&mut conn, actor, "Post Co", now).expect("supplier");
    setup::suppliers::set_campaigns(&mut conn, actor, supplier, &[campaign], now).expect("link");
    setup::caps::add(&mut conn, actor, campaign, None, CapPeriod::Day, cap, now).expect("cap");
    let (_, key) = app::db::keys::create_supplier_key(&mut conn, actor, supplier, now).expect("key");
    let email_field: i64 = campaign_fields::table
        .filter(campaign_fields::campaign_id.eq(campaign).and(campaign_fields::field_key.eq("email")))
        .select(campaign_fields::id)
        .first(&mut conn)
        .expect("field");
    Intake { campaign: campaign.to_string(), supplier: supplier.to_string(), email_field, key }
}

fn form_request(args: &[(&str, &str)], bearer: Option<&str>) -> Request<Body> {
    let body =
        args.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&");
    let mut req = Request::post("/api/v1/lead")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(key) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    req.body(Body::from(body)).expect("request")
}

fn urlencode(s: &str) -> String {
    app::components::percent_encode(s, b"")
}

async fn post(app: &TestApp, args: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    json(app.send(form_request(args, None)).await)
}

fn json(r: Reply) -> (StatusCode, serde_json::Value) {
    (r.status, serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("json answer: {}", r.body)))
}

fn lead_count(app: &TestApp) -> i64 {
    leads::table.count().get_result(&mut app.state.pool.get().expect("conn")).expect("count")
}

#[tokio::test]
async fn leads_are_created_deduplicated_and_capped() {
    for database in databases() {
        leads_are_created_deduplicated_and_capped_on(TestApp::on(database)).await;
    }
}

async fn leads_are_created_deduplicated_and_capped_on(app: TestApp) {
    let i = set_up(&app, 2);
    let by_id = format!("f_{}_email", i.email_field);
    let (status, body) = post(
        &app,
        &[
            ("cid", &i.campaign),
            ("sid", &i.supplier),
            ("key", &i.key),
            (&by_id, "Jo@Example.com"),
            ("phone", "07700 900123"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "created");
    assert_eq!(body["status"], "received");
    assert!(
        body["lead_id"].as_i64().is_some() && body["uid"].as_str().is_some_and(|u| !u.is_empty()),
        "{body}"
    );

    // JSON with the key as a bearer token, the field by `f_<id>`: a duplicate.
    let req = Request::post("/api/v1/lead")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", i.key))
        .body(Body::from(
            serde_json::json!({ "cid": i.campaign.parse::<i64>().expect("id"), "sid": i.supplier, format!("f_{}", i.email_field): "jo@example.COM" })
                .to_string(),
        ))
        .expect("request");
    let (status, body) = json(app.send(req).await);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["reason"].as_str()),
        (Some("rejected"), Some("Duplicate Email"))
    );

    let (_, body) =
        post(&app, &[("cid", &i.campaign), ("sid", &i.supplier), ("key", &i.key), ("email", "nope")]).await;
    assert_eq!((body["status"].as_str(), body["reason"].as_str()), (Some("rejected"), Some("Invalid Email")));
    let (_, body) = post(
        &app,
        &[("cid", &i.campaign), ("sid", &i.supplier), ("key", &i.key), ("email", "b@example.com")],
    )
    .await;
    assert_eq!(body["status"], "received");
    let (_, body) = post(
        &app,
        &[("cid", &i.campaign), ("sid", &i.supplier), ("key", &i.key), ("email", "c@example.com")],
    )
    .await;
    assert_eq!((body["status"].as_str(), body["reason"].as_str()), (Some("quarantine"), Some("Cap reached")));
}

#[tokio::test]
async fn refusals_say_why_and_store_nothing() {
    for database in databases() {
        refusals_say_why_and_store_nothing_on(TestApp::on(database)).await;
    }
}

async fn refusals_say_why_and_store_nothing_on(app: TestApp) {
    let i = set_up(&app, 100);
    let before = lead_count(&app);
    let other_campaign: i64 = campaigns::table
        .filter(campaigns::name.eq("Home Insurance UK"))
        .select(campaigns::id)
        .first(&mut app.state.pool.get().expect("conn"))
        .expect("campaign");
    let other = other_campaign.to_string();
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("sid", &i.supplier), ("key", &i.key), ("email", "a@b.co")],
            StatusCode::BAD_REQUEST,
            "MISSING_CID",
        ),
        (
            vec![("cid", &i.campaign), ("sid", &i.supplier), ("key", "sbk_wrong"), ("email", "a@b.co")],
            StatusCode::UNAUTHORIZED,
            "INVALID_KEY",
        ),
        (
            vec![("cid", &i.campaign), ("sid", &i.supplier), ("email", "a@b.co")],
            StatusCode::UNAUTHORIZED,
            "INVALID_KEY",
        ),
        (
            vec![("cid", &i.campaign), ("sid", "1"), ("key", &i.key), ("email", "a@b.co")],
            StatusCode::UNAUTHORIZED,
            "INVALID_KEY",
        ),
        (
            vec![("cid", "999999"), ("sid", &i.supplier), ("key", &i.key), ("email", "a@b.co")],
            StatusCode::NOT_FOUND,
            "UNKNOWN_CAMPAIGN",
        ),
        (
            vec![("cid", &other), ("sid", &i.supplier), ("key", &i.key), ("email", "a@b.co")],
            StatusCode::FORBIDDEN,
            "SUPPLIER_NOT_ALLOWED",
        ),
        (
            vec![("cid", &i.campaign), ("sid", &i.supplier), ("key", &i.key), ("surname", "Smith")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FIELD",
        ),
    ];
    for (args, status, code) in cases {
        let (got, body) = post(&app, &args).await;
        assert_eq!(got, status, "{args:?}: {body}");
        assert_eq!(body["result"], "error", "{body}");
        assert_eq!(body["error"]["code"], code, "{args:?}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (_, body) =
        post(&app, &[("cid", &i.campaign), ("sid", &i.supplier), ("key", &i.key), ("surname", "Smith")])
            .await;
    assert_eq!(body["error"]["field"], "surname");
    assert_eq!(lead_count(&app), before, "nothing stored");
    // A revoked key stops working at once.
    let mut conn = app.state.pool.get().expect("conn");
    let (key_id, instance_id): (i64, i64) =
        api_keys::table.select((api_keys::id, api_keys::instance_id)).first(&mut conn).expect("key");
    let actor = Actor { instance_id, user_id: None };
    app::db::keys::revoke_supplier_key(&mut conn, actor, key_id, chrono::Utc::now().naive_utc())
        .expect("revoke");
    drop(conn);
    let (got, _) =
        post(&app, &[("cid", &i.campaign), ("sid", &i.supplier), ("key", &i.key), ("email", "a@b.co")]).await;
    assert_eq!(got, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fifty_parallel_posts_against_a_cap_of_ten_create_exactly_ten_received_leads() {
    for database in databases() {
        fifty_parallel_posts_against_a_cap_of_ten_create_exactly_ten_received_leads_on(TestApp::on(database))
            .await;
    }
}

async fn fifty_parallel_posts_against_a_cap_of_ten_create_exactly_ten_received_leads_on(app: TestApp) {
    let i = set_up(&app, 10);
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let email = format!("p{n}@example.com");
            let req =
                form_request(&[("cid", &i.campaign), ("sid", &i.supplier), ("email", &email)], Some(&i.key));
            let router = app.router.clone();
            tokio::spawn(async move {
                use tower::ServiceExt as _;
                let res = router.oneshot(req).await.expect("response");
                let status = res.status();
                let bytes = http_body_util::BodyExt::collect(res.into_body()).await.expect("body").to_bytes();
                (status, serde_json::from_slice::<serde_json::Value>(&bytes).expect("json"))
            })
        })
        .collect();
    let mut received = 0;
    let mut quarantined = 0;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{body}");
        match body["status"].as_str() {
            Some("received") => received += 1,
            Some("quarantine") => quarantined += 1,
            other => panic!("unexpected {other:?}: {body}"),
        }
    }
    assert_eq!((received, quarantined), (10, 40));
    let stored: i64 = leads::table
        .filter(
            leads::campaign_id.eq(i.campaign.parse::<i64>().expect("id")).and(leads::status.eq("received")),
        )
        .count()
        .get_result(&mut app.state.pool.get().expect("conn"))
        .expect("count");
    assert_eq!(stored, 10);
}

#[tokio::test]
async fn rejections_counted_towards_the_cap_let_exactly_that_many_more_leads_in() {
    for database in databases() {
        rejections_counted_towards_the_cap_let_exactly_that_many_more_leads_in_on(TestApp::on(database))
            .await;
    }
}

async fn rejections_counted_towards_the_cap_let_exactly_that_many_more_leads_in_on(app: TestApp) {
    let i = set_up(&app, 3);
    let lead = |email: String| {
        let (campaign, supplier, key) = (i.campaign.clone(), i.supplier.clone(), i.key.clone());
        let app = &app;
        async move {
            let (status, body) =
                post(app, &[("cid", &campaign), ("sid", &supplier), ("key", &key), ("email", &email)]).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (body["lead_id"].as_i64().expect("lead id"), body["status"].as_str().expect("status").to_owned())
        }
    };
    let mut taken = Vec::new();
    for n in 0..3 {
        let (id, status) = lead(format!("t{n}@example.com")).await;
        assert_eq!(status, "received", "{:?}", app.database);
        taken.push(id);
    }
    assert_eq!(lead("full@example.com".into()).await.1, "quarantine", "{:?}", app.database);

    // The client rejects two of them through the API, counting the rejections towards the cap.
    let key = crate::api_tasks::key_of(&app, "client@sendback.test").await;
    let csv = format!("Lead ID,Rejection Reason\n{},Bad\n{},Bad\n", taken[0], taken[1]);
    let query = format!(
        "campaign_id={}&identifier=lead_id&identifier_column=Lead%20ID&reason_column=Rejection%20Reason\
         &name=crm.csv&count_towards_cap=true",
        i.campaign
    );
    let r = crate::api_tasks::post_file(&app, Some(&key), &query, Some("cap-1"), &csv).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let ran = crate::api_tasks::run_worker(&app).await.map(|(_, end)| end);
    assert_eq!(ran, Some(app::engine::task::RunEnd::Completed), "{:?}", app.database);

    let mut next = Vec::new();
    for n in 0..3 {
        next.push(lead(format!("n{n}@example.com")).await.1);
    }
    assert_eq!(next, ["received", "received", "quarantine"], "{:?}", app.database);
}
