//! The set-up server functions over HTTP: each refuses a request without a session (401) and a
//! client user (403), answers another instance's owner about this instance's ids with 404 and
//! changes nothing, and works for the instance's own owner. A one-time password locks the
//! account to choosing a new one.

use axum::http::StatusCode;
use diesel::prelude::*;

use crate::support::TestApp;
use app::db::schema::*;

/// Ids of the demo's first instance that the calls below name.
struct Ids {
    client: String,
    campaign: String,
    field: String,
    cap: String,
    supplier: String,
}

fn ids(app: &TestApp) -> Ids {
    let mut conn = app.state.pool.get().expect("conn");
    let campaign: i64 = campaigns::table
        .filter(campaigns::name.eq("Home Insurance UK"))
        .select(campaigns::id)
        .first(&mut conn)
        .expect("campaign");
    let field: i64 = campaign_fields::table
        .filter(campaign_fields::campaign_id.eq(campaign))
        .select(campaign_fields::id)
        .first(&mut conn)
        .expect("field");
    let cap: i64 =
        caps::table.filter(caps::campaign_id.eq(campaign)).select(caps::id).first(&mut conn).expect("cap");
    let supplier: i64 = suppliers::table
        .filter(suppliers::name.eq("LeadGen Direct"))
        .select(suppliers::id)
        .first(&mut conn)
        .expect("supplier");
    Ids {
        client: app.client_id("Acme Insurance").to_string(),
        campaign: campaign.to_string(),
        field: field.to_string(),
        cap: cap.to_string(),
        supplier: supplier.to_string(),
    }
}

/// Every set-up server function that names an id, with arguments naming the first instance's.
type Call = (&'static str, Vec<(&'static str, String)>);

fn calls(i: &Ids) -> Vec<Call> {
    let s = |v: &str| v.to_owned();
    vec![
        ("rename_client", vec![("client_id", i.client.clone()), ("name", s("Renamed"))]),
        (
            "create_campaign",
            vec![("client_id", i.client.clone()), ("name", s("Sneaky")), ("max_rejection_days", s("3"))],
        ),
        ("setup_campaign", vec![("campaign_id", i.campaign.clone())]),
        (
            "update_campaign",
            vec![("campaign_id", i.campaign.clone()), ("name", s("Renamed")), ("max_rejection_days", s(""))],
        ),
        (
            "add_field",
            vec![
                ("campaign_id", i.campaign.clone()),
                ("key", s("extra")),
                ("label", s("Extra")),
                ("kind", s("text")),
            ],
        ),
        (
            "update_field",
            vec![
                ("field_id", i.field.clone()),
                ("key", s("email")),
                ("label", s("Renamed")),
                ("kind", s("email")),
                ("position", s("9")),
            ],
        ),
        ("remove_field", vec![("field_id", i.field.clone())]),
        ("field_duplicates", vec![("field_id", i.field.clone())]),
        (
            "add_cap",
            vec![
                ("campaign_id", i.campaign.clone()),
                ("supplier_id", s("")),
                ("period", s("month")),
                ("limit", s("5")),
            ],
        ),
        ("set_cap_limit", vec![("cap_id", i.cap.clone()), ("limit", s("1"))]),
        ("remove_cap", vec![("cap_id", i.cap.clone())]),
        ("rename_supplier", vec![("supplier_id", i.supplier.clone()), ("name", s("Renamed"))]),
    ]
}

/// Everything the calls could change: names, maximum days, field labels and dedupe, cap
/// limits, supplier links, audit rows.
#[derive(Debug, PartialEq)]
struct Snapshot {
    clients: Vec<String>,
    campaigns: Vec<(String, Option<i32>)>,
    fields: Vec<(String, bool)>,
    caps: Vec<i64>,
    links: i64,
    audit: i64,
}

fn snapshot(app: &TestApp) -> Snapshot {
    let mut conn = app.state.pool.get().expect("conn");
    let clients: Vec<String> =
        clients::table.order(clients::id).select(clients::name).load(&mut conn).expect("q");
    let campaigns: Vec<(String, Option<i32>)> = campaigns::table
        .order(campaigns::id)
        .select((campaigns::name, campaigns::max_rejection_days))
        .load(&mut conn)
        .expect("q");
    let fields: Vec<(String, bool)> = campaign_fields::table
        .order(campaign_fields::id)
        .select((campaign_fields::label, campaign_fields::dedupe))
        .load(&mut conn)
        .expect("q");
    let caps: Vec<i64> = caps::table.order(caps::id).select(caps::cap_limit).load(&mut conn).expect("q");
    let links: i64 = supplier_campaigns::table.count().get_result(&mut conn).expect("q");
    let audit: i64 = audit_log::table.count().get_result(&mut conn).expect("q");
    Snapshot { clients, campaigns, fields, caps, links, audit }
}

#[tokio::test]
async fn set_up_functions_check_session_role_and_tenant() {
    let app = TestApp::new();
    let i = ids(&app);
    let client = app.login("client@sendback.test").await;
    let other = app.login("other@sendback.test").await;
    let owner = app.login("owner@sendback.test").await;
    let before = snapshot(&app);

    let lists = ["setup_clients", "setup_campaigns", "setup_suppliers"];
    let creates = [("create_client", "name"), ("create_supplier", "name")];
    for (name, args) in calls(&i) {
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            app.call(name, &args, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{name} without a session"
        );
        assert_eq!(
            app.call(name, &args, Some(&client)).await.status,
            StatusCode::FORBIDDEN,
            "{name} as a client"
        );
        let r = app.call(name, &args, Some(&other)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name} from another instance: {}", r.body);
    }
    for name in lists {
        assert_eq!(app.call(name, &[], None).await.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(app.call(name, &[], Some(&client)).await.status, StatusCode::FORBIDDEN, "{name}");
    }
    for (name, field) in creates {
        assert_eq!(app.call(name, &[(field, "New")], None).await.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(
            app.call(name, &[(field, "New")], Some(&client)).await.status,
            StatusCode::FORBIDDEN,
            "{name}"
        );
    }
    let link =
        serde_json::json!({ "supplier_id": i.supplier.parse::<i64>().expect("id"), "campaign_ids": [] });
    assert_eq!(
        app.call_json("set_supplier_campaigns", link.clone(), &client).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.call_json("set_supplier_campaigns", link, &other).await.status, StatusCode::NOT_FOUND);
    assert_eq!(snapshot(&app), before, "refused calls changed nothing");

    // Lists are the caller's instance only.
    let r = app.call("setup_campaigns", &[], Some(&other)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let names: Vec<String> = serde_json::from_str::<serde_json::Value>(&r.body)
        .expect("json")
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    assert!(!names.is_empty() && !names.contains(&"Home Insurance UK".to_owned()), "{names:?}");

    // The owner's own ids work, and each change is logged.
    for (name, args) in calls(&i) {
        if name == "remove_field" {
            continue; // the demo's fields hold values; tested in app/tests/setup.rs
        }
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = app.call(name, &args, Some(&owner)).await;
        assert_eq!(r.status, StatusCode::OK, "{name} as the owner: {}", r.body);
    }
    let after = snapshot(&app);
    assert!(after.audit > before.audit, "changes are in the audit log");
}

#[tokio::test]
async fn bad_input_is_answered_field_by_field() {
    let app = TestApp::new();
    let i = ids(&app);
    let owner = app.login("owner@sendback.test").await;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("create_client", vec![("name", "  ")], "name"),
        ("create_client", vec![("name", "Acme Insurance")], "name"),
        (
            "create_campaign",
            vec![("client_id", &i.client), ("name", "X"), ("max_rejection_days", "0")],
            "max_rejection_days",
        ),
        (
            "create_campaign",
            vec![("client_id", &i.client), ("name", "Home Insurance UK"), ("max_rejection_days", "")],
            "name",
        ),
        (
            "add_field",
            vec![("campaign_id", &i.campaign), ("key", "Bad Key"), ("label", "X"), ("kind", "text")],
            "key",
        ),
        (
            "add_field",
            vec![("campaign_id", &i.campaign), ("key", "x"), ("label", "X"), ("kind", "number")],
            "kind",
        ),
        (
            "add_cap",
            vec![("campaign_id", &i.campaign), ("supplier_id", ""), ("period", "year"), ("limit", "5")],
            "period",
        ),
        (
            "add_cap",
            vec![("campaign_id", &i.campaign), ("supplier_id", ""), ("period", "day"), ("limit", "-5")],
            "limit",
        ),
        ("set_cap_limit", vec![("cap_id", &i.cap), ("limit", "lots")], "limit"),
    ];
    for (name, args, field) in cases {
        let r = app.call(name, &args, Some(&owner)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name} {args:?}: {}", r.body);
        let err: serde_json::Value = serde_json::from_str(&r.body).expect("json error");
        assert_eq!(err["Invalid"]["field"], field, "{name} {args:?}: {}", r.body);
    }
    // Unreadable ids are a bad request, not a crash.
    let r = app.call("setup_campaign", &[("campaign_id", "nope")], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn a_one_time_password_allows_only_choosing_a_new_one() {
    let app = TestApp::new();
    let page = app.get("/account/password", None).await;
    let location = page.headers.get(axum::http::header::LOCATION).and_then(|v| v.to_str().ok());
    assert_eq!(location, Some("/login?next=/account/password"), "signed out: log in first");
    {
        let mut conn = app.state.pool.get().expect("conn");
        diesel::update(users::table.filter(users::email.eq("owner@sendback.test")))
            .set(users::must_change_password.eq(true))
            .execute(&mut conn)
            .expect("flag");
    }
    let owner = app.login("owner@sendback.test").await;
    let elsewhere = app.login("owner@sendback.test").await;
    assert_eq!(app.me(&owner).await["must_change_password"], true);
    let r = app.call("list_users", &[], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let csv = app.get("/reports/rejections.csv?from=2026-01-01&to=2026-12-31", Some(&owner)).await;
    assert_eq!(csv.status, StatusCode::FORBIDDEN, "{}", csv.body);
    let page = app.get("/users", Some(&owner)).await;
    let location = page.headers.get(axum::http::header::LOCATION).and_then(|v| v.to_str().ok());
    assert_eq!(location, Some("/account/password"), "the shell sends them to choose a password");

    let pw = crate::support::PW;
    let r = app
        .call(
            "change_password",
            &[("current", "wrong password!"), ("new", "a brand new secret")],
            Some(&owner),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app.call("change_password", &[("current", pw), ("new", "short")], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let args = [("current", pw), ("new", "a brand new secret"), ("repeat", "a brand new secreT")];
    assert_eq!(
        app.call("change_password", &args, Some(&owner)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let args = [("current", pw), ("new", "a brand new secret"), ("repeat", "a brand new secret")];
    let r = app.call("change_password", &args, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let owner = r.session_cookie().expect("the session continues under a new id");
    assert_eq!(app.me(&owner).await["must_change_password"], false);
    assert_eq!(app.call("list_users", &[], Some(&owner)).await.status, StatusCode::OK);
    // Another session signed in with the old password is ended, not promoted.
    assert_eq!(app.call("list_users", &[], Some(&elsewhere)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&elsewhere).await, serde_json::Value::Null);
    // The old password no longer works; the new one does.
    let r = app.call("login", &[("email", "owner@sendback.test"), ("password", pw)], None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = app
        .call("login", &[("email", "owner@sendback.test"), ("password", "a brand new secret")], None)
        .await;
    assert!(r.session_cookie().is_some(), "{} {}", r.status, r.body);
}
