//! Log-in: its answers and cookie flags, the cross-site check, throttling and password hash
//! upgrades.

use app::db::schema::*;
use app::state::SessionSettings;
use axum::http::StatusCode;
use chrono::TimeDelta;
use diesel::prelude::*;

use crate::support::{PW, TestApp, test_app};

#[tokio::test]
async fn login_sets_a_hardened_session_cookie() {
    let app = TestApp::new();
    let r = app.call("login", &[("email", "client@sendback.test"), ("password", PW)], None).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    let cookie = r.set_cookie().expect("set-cookie");
    assert!(cookie.starts_with("sb_sid="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP by default: {cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let me = app.me(&r.session_cookie().expect("cookie")).await;
    assert_eq!(me["email"], "client@sendback.test");
    assert_eq!(me["can_reject_leads"], true);
    assert_eq!(me["client_name"], "Acme Insurance");
}

#[tokio::test]
async fn cookie_is_secure_when_configured() {
    let app = test_app(SessionSettings { secure_cookies: true, ..SessionSettings::default() });
    let r = app.call("login", &[("email", "owner@sendback.test"), ("password", PW)], None).await;
    assert!(r.set_cookie().expect("cookie").contains("Secure"));
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = TestApp::new();
    let wrong = app.call("login", &[("email", "client@sendback.test"), ("password", "nope")], None).await;
    let unknown = app.call("login", &[("email", "nobody@sendback.test"), ("password", "nope")], None).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.body.contains("do not match"), "{}", wrong.body);
    assert!(wrong.session_cookie().is_none());
}

#[tokio::test]
async fn email_is_matched_without_case_or_spaces() {
    let app = TestApp::new();
    let r = app.call("login", &[("email", "  Client@Sendback.TEST "), ("password", PW)], None).await;
    assert!(r.status.is_success(), "{}", r.body);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = TestApp::new();
    let creds = [("email", "client@sendback.test"), ("password", PW)];
    let r = app.call_with("login", &creds, None, &[("origin", "https://evil.example")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.session_cookie().is_none());
    let r = app.call_with("login", &creds, None, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let owner = app.login("owner@sendback.test").await;
    let viewer_id = app.user_id("viewer@sendback.test").to_string();
    let r = app
        .call_with(
            "set_reject_permission",
            &[("user_id", &viewer_id), ("granted", "true")],
            Some(&owner),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!app.can_reject("viewer@sendback.test"));
    let r = app.call_with("login", &creds, None, &[("origin", "http://127.0.0.1:3000")]).await;
    assert!(r.status.is_success(), "same origin is fine: {}", r.status);
}

#[tokio::test]
async fn repeated_bad_logins_are_throttled() {
    let app = TestApp::new();
    for _ in 0..5 {
        let r = app.call("login", &[("email", "client@sendback.test"), ("password", "wrong")], None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Even the right password is refused while throttled, with a clear message.
    let r = app.call("login", &[("email", "client@sendback.test"), ("password", PW)], None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("Too many failed log-in attempts"), "{}", r.body);
    assert!(r.session_cookie().is_none());
    // Other accounts are unaffected.
    app.login("viewer@sendback.test").await;
    app.clock.advance(TimeDelta::minutes(16));
    app.login("client@sendback.test").await;
}

#[tokio::test]
async fn weak_password_hashes_are_upgraded_at_login() {
    use argon2::PasswordHasher;
    let app = TestApp::new();
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).expect("params"),
    );
    let weak: argon2::PasswordHash = weak.hash_password(PW.as_bytes()).expect("hash");
    {
        let mut conn = app.state.pool.get().expect("conn");
        diesel::update(users::table.filter(users::email.eq("viewer@sendback.test")))
            .set(users::password_hash.eq(weak.to_string()))
            .execute(&mut conn)
            .expect("update");
    }
    app.login("viewer@sendback.test").await;
    let mut conn = app.state.pool.get().expect("conn");
    let hash: String = users::table
        .filter(users::email.eq("viewer@sendback.test"))
        .select(users::password_hash)
        .first(&mut conn)
        .expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
}

#[tokio::test]
async fn after_log_in_only_paths_of_this_site_are_followed() {
    let app = TestApp::new();
    let cases = [
        ("/users", "/users"),
        // Browsers drop the tab and go to //evil.example/phish: another host.
        ("/\t/evil.example/phish", "/leads"),
        // A line break cannot go into a header: answered, not a dropped connection.
        ("/\nx", "/leads"),
        ("//evil.example", "/leads"),
    ];
    for (next, expected) in cases {
        let r = app
            .call("login", &[("email", "owner@sendback.test"), ("password", PW), ("next", next)], None)
            .await;
        assert!(r.status.is_success() || r.status.is_redirection(), "{next:?}: {} {}", r.status, r.body);
        let location = r.headers.get(axum::http::header::LOCATION).and_then(|v| v.to_str().ok());
        assert_eq!(location, Some(expected), "{next:?}");
    }
}

#[tokio::test]
async fn an_unknown_email_costs_one_password_verification_like_a_known_one() {
    let app = TestApp::new();
    for email in ["nobody@sendback.test", "client@sendback.test"] {
        let before = app::auth::password::verifications();
        let r = app.call("login", &[("email", email), ("password", "wrong password")], None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{email}");
        assert_eq!(app::auth::password::verifications() - before, 1, "{email}");
    }
}

#[tokio::test]
async fn parallel_wrong_passwords_cannot_pass_the_account_limit() {
    let app = TestApp::new();
    let creds = [("email", "client@sendback.test"), ("password", "wrong password")];
    let replies = futures_util::future::join_all((0..40).map(|_| app.call("login", &creds, None))).await;
    let checked = replies.iter().filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY).count();
    let refused = replies
        .iter()
        .filter(|r| matches!(r.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE))
        .count();
    assert_eq!(checked + refused, 40, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(checked <= 5, "{checked} passwords were checked; the limit is 5 before attempts are spaced out");
    assert!(refused >= 35);
}

#[tokio::test]
async fn failing_on_purpose_slows_the_attacker_not_the_owner() {
    let app = TestApp::new();
    let attacker = |password: &'static str| {
        let app = &app;
        async move {
            let creds = [("email", "client@sendback.test"), ("password", password)];
            app.call_from("login", &creds, "203.0.113.9:40000", &[]).await
        }
    };
    // A persistent attacker: tries again the moment each delay ends, for ten minutes.
    for _ in 0..12 {
        let mut r = attacker("wrong").await;
        while r.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.body.contains("seconds"), "{}", r.body);
            app.clock.advance(TimeDelta::seconds(1));
            r = attacker("wrong").await;
        }
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    }
    // Right after a failure the attacker waits, even with the right password.
    assert_eq!(attacker(PW).await.status, StatusCode::TOO_MANY_REQUESTS);
    // The owner of the account, at their own address, is not held up at all.
    let creds = [("email", "client@sendback.test"), ("password", PW)];
    let r = app.call_from("login", &creds, "198.51.100.4:50000", &[]).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
}

#[tokio::test]
async fn the_address_limit_believes_forwarded_for_only_from_trusted_proxies() {
    let mut app = TestApp::new();
    let mut state = app.state.clone();
    state.network.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")].into();
    app.router = server::router(state);
    let attempt = |n: String, peer: &'static str, client: &'static str| {
        let app = &app;
        async move {
            let email = format!("nobody{n}@sendback.test");
            let creds = [("email", email.as_str()), ("password", "wrong")];
            app.call_from("login", &creds, peer, &[("x-forwarded-for", client)]).await.status
        }
    };
    // Behind the proxy: 30 failures from one client use up that client's allowance...
    for i in 0..30 {
        assert_eq!(
            attempt(format!("a{i}"), "127.0.0.1:4000", "203.0.113.9").await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_eq!(
        attempt("a-more".into(), "127.0.0.1:4000", "203.0.113.9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and nobody else's: another client behind the same proxy still gets to try.
    assert_eq!(attempt("b".into(), "127.0.0.1:4000", "198.51.100.4").await, StatusCode::UNPROCESSABLE_ENTITY);
    // A peer that is not a trusted proxy cannot choose its address by sending the header.
    for i in 0..30 {
        let status = attempt(format!("c{i}"), "192.0.2.1:5000", "198.51.100.77").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        attempt("c-more".into(), "192.0.2.1:5000", "198.51.100.78").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
