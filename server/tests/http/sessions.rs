//! Sessions: a new id at log-in, log-out, idle expiry and the absolute lifetime.

use app::db::schema::*;
use axum::http::StatusCode;
use chrono::TimeDelta;
use diesel::prelude::*;

use crate::support::{PW, TestApp, all_leads};

#[tokio::test]
async fn session_id_changes_at_login() {
    let app = TestApp::new();
    let first = app.login("client@sendback.test").await;
    let r = app.call("login", &[("email", "viewer@sendback.test"), ("password", PW)], Some(&first)).await;
    let second = r.session_cookie().expect("new cookie");
    assert_ne!(first, second);
    // The old id no longer names a session.
    assert_eq!(app.me(&first).await, serde_json::Value::Null);
    assert_eq!(app.me(&second).await["email"], "viewer@sendback.test");
}

#[tokio::test]
async fn logout_makes_the_old_cookie_useless() {
    let app = TestApp::new();
    let cookie = app.login("client@sendback.test").await;
    let r = app.call("logout", &[], Some(&cookie)).await;
    assert!(r.status.is_success() || r.status.is_redirection(), "{}", r.status);
    assert_eq!(app.me(&cookie).await, serde_json::Value::Null);
    let r = app.call_json("list_leads", all_leads(), &cookie).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let mut conn = app.state.pool.get().expect("conn");
    let n: i64 = sessions::table.count().get_result(&mut conn).expect("count");
    assert_eq!(n, 0, "the session row is deleted");
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app = TestApp::new();
    let cookie = app.login("client@sendback.test").await;
    app.clock.advance(TimeDelta::minutes(29));
    assert_eq!(app.me(&cookie).await["email"], "client@sendback.test", "still within 30 idle minutes");
    app.clock.advance(TimeDelta::minutes(29));
    assert_eq!(app.me(&cookie).await["email"], "client@sendback.test", "activity renewed it");
    app.clock.advance(TimeDelta::minutes(31));
    assert_eq!(app.me(&cookie).await, serde_json::Value::Null, "31 idle minutes");
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime() {
    let app = TestApp::new();
    let cookie = app.login("client@sendback.test").await;
    for _ in 0..(12 * 3) {
        app.clock.advance(TimeDelta::minutes(20));
        let me = app.me(&cookie).await;
        if me.is_null() {
            panic!("ended early");
        }
    }
    app.clock.advance(TimeDelta::minutes(20));
    assert_eq!(app.me(&cookie).await, serde_json::Value::Null, "past 12 hours");
}
