//! The machine API's documentation (issue 19): the OpenAPI 3.1 document at
//! `/api/v1/openapi.json` lists every endpoint with its methods, key scheme and error codes; the
//! page at `/api/docs` is plain server-rendered HTML showing them all; and every `/api/v1/` route
//! of the router is in the document (the router's source is read for its routes, so a route
//! added without its annotation fails here).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;

use crate::support::{Reply, TestApp};

/// Every endpoint the document describes: (method, path).
const ENDPOINTS: [(&str, &str); 11] = [
    ("get", "/api/v1/me"),
    ("post", "/api/v1/lead-status/reject/{lead_id}"),
    ("post", "/api/v1/rejection-tasks"),
    ("get", "/api/v1/rejection-tasks"),
    ("get", "/api/v1/rejection-tasks/{id}"),
    ("get", "/api/v1/rejection-tasks/{id}/results.csv"),
    ("post", "/api/v1/rejection-tasks/{id}/undo"),
    ("get", "/api/v1/campaigns"),
    ("get", "/api/v1/leads/{lead_id}"),
    ("post", "/api/v1/lead"),
    ("get", "/api/v1/openapi.json"),
];

async fn get(app: &TestApp, path: &str) -> Reply {
    let req = Request::get(path).header(header::HOST, "127.0.0.1:3000");
    app.send(req.body(Body::empty()).expect("request")).await
}

async fn document(app: &TestApp) -> Value {
    let r = get(app, "/api/v1/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let content_type = r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    serde_json::from_str(&r.body).expect("the document is JSON")
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    doc["paths"][path].get(method).unwrap_or_else(|| panic!("{method} {path} is not in the document"))
}

/// The description of an operation's answer with `status`.
fn answer<'a>(doc: &'a Value, method: &str, path: &str, status: &str) -> &'a str {
    operation(doc, method, path)["responses"][status]["description"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path} has no {status} answer"))
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_every_endpoint_its_key_and_error_codes() {
    let app = TestApp::new();
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Sendback API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc.get("servers").is_none_or(|s| s.as_array().is_some_and(|s| s.iter().all(|s| s["url"] == "/")))
    );

    let paths = doc["paths"].as_object().expect("paths");
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().into_iter().flatten().map(move |(method, _)| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<(String, String)> =
        ENDPOINTS.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    expected.sort();
    assert_eq!(documented, expected);

    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http", "{bearer}");
    assert_eq!(bearer["scheme"], "bearer", "{bearer}");
    assert_eq!(doc["components"]["securitySchemes"]["supplier_key"]["scheme"], "bearer");
    // Every client endpoint needs the client API key; the intake needs a supplier's; the
    // document itself none.
    for (method, path) in ENDPOINTS {
        let security = &operation(&doc, method, path)["security"];
        let expected = match path {
            "/api/v1/lead" => serde_json::json!([{ "supplier_key": [] }]),
            "/api/v1/openapi.json" => Value::Null,
            _ => serde_json::json!([{ "bearer": [] }]),
        };
        assert_eq!(security, &expected, "{method} {path}");
    }

    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the error codes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for code in [
        "LEAD_NOT_FOUND",
        "ALREADY_REJECTED",
        "OUTSIDE_WINDOW",
        "NOT_DELIVERED",
        "NO_MAX_REJECTION_DAYS",
        "MISSING_REASON",
        "INVALID_KEY",
        "FORBIDDEN",
        "RATE_LIMITED",
        "MISSING_CID",
        "MISSING_SID",
        "UNKNOWN_CAMPAIGN",
        "SUPPLIER_NOT_ALLOWED",
        "INVALID_FIELD",
    ] {
        assert!(codes.contains(&code), "{code} is not in ErrorCode: {codes:?}");
    }
    let reject = "/api/v1/lead-status/reject/{lead_id}";
    for (status, code) in [
        ("404", "LEAD_NOT_FOUND"),
        ("409", "ALREADY_REJECTED"),
        ("422", "OUTSIDE_WINDOW"),
        ("422", "NOT_DELIVERED"),
        ("422", "NO_MAX_REJECTION_DAYS"),
        ("422", "MISSING_REASON"),
        ("401", "INVALID_KEY"),
        ("403", "FORBIDDEN"),
        ("429", "RATE_LIMITED"),
    ] {
        assert!(answer(&doc, "post", reject, status).contains(&format!("`{code}`")), "{status} {code}");
    }
    let error_body =
        &operation(&doc, "post", reject)["responses"]["404"]["content"]["application/json"]["schema"];
    assert_eq!(error_body["$ref"], "#/components/schemas/ApiError");
    assert!(operation(&doc, "get", "/api/v1/me")["responses"]["429"]["headers"]["Retry-After"].is_object());
    assert!(
        operation(&doc, "post", reject)["requestBody"]["content"]["application/x-www-form-urlencoded"]
            .is_object()
    );

    // The rejection tasks API as agreed.
    let tasks = operation(&doc, "post", "/api/v1/rejection-tasks");
    assert!(tasks["requestBody"]["content"]["text/csv"].is_object(), "{tasks}");
    let params: Vec<(&str, &str, bool)> = tasks["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default(),
                p["in"].as_str().unwrap_or_default(),
                p["required"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert!(params.contains(&("Idempotency-Key", "header", true)), "{params:?}");
    for query in [
        "campaign_id",
        "identifier",
        "identifier_column",
        "reason_column",
        "reject_from",
        "move_outside_to_accepted",
        "reject_affiliate_events",
        "move_remaining_to_accepted",
        "count_towards_cap",
        "preview",
    ] {
        assert!(params.iter().any(|(name, at, _)| *name == query && *at == "query"), "{query}: {params:?}");
    }
    for status in ["202", "200", "422", "401", "403", "429"] {
        assert!(tasks["responses"][status].is_object(), "POST /api/v1/rejection-tasks answers {status}");
    }
    let schemas = &doc["components"]["schemas"];
    for (schema, fields) in [
        ("TaskCreated", &["task_id", "status", "links"][..]),
        (
            "TaskJson",
            &["task_id", "status", "counts", "options", "rows_total", "rows_done", "failure_reason"][..],
        ),
        ("TaskPage", &["tasks", "next_cursor"][..]),
        ("TaskPreview", &["rows", "counts"][..]),
        ("CampaignList", &["campaigns"][..]),
        ("Lead", &["lead_id", "status", "history", "inside_window_until"][..]),
    ] {
        for field in fields {
            assert!(schemas[schema]["properties"][field].is_object(), "{schema}.{field}");
        }
    }
    let list = operation(&doc, "get", "/api/v1/rejection-tasks")["parameters"].to_string();
    assert!(list.contains("\"cursor\"") && list.contains("\"limit\""), "{list}");
    assert!(
        operation(&doc, "get", "/api/v1/rejection-tasks/{id}/results.csv")["responses"]["200"]["content"]["text/csv"]
            .is_object()
    );
}

#[tokio::test]
async fn the_docs_page_is_plain_html_showing_every_endpoint_and_code() {
    let app = TestApp::new();
    let r = get(&app, "/api/docs").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let content_type = r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(r.body.starts_with("<!DOCTYPE html>"));
    assert!(r.body.contains("Sendback API"));
    for (method, path) in ENDPOINTS {
        assert!(r.body.contains(&format!("<code>{path}</code>")), "{method} {path} is not on the page");
    }
    for code in ["LEAD_NOT_FOUND", "ALREADY_REJECTED", "INVALID_KEY", "RATE_LIMITED", "MISSING_CID"] {
        assert!(r.body.contains(&format!("<code>{code}</code>")), "{code} is not on the page");
    }
    assert!(r.body.contains("Idempotency-Key"));
    assert!(r.body.contains("href=\"/api/v1/openapi.json\""));
    // Nothing runs, nothing comes from elsewhere.
    assert!(!r.body.contains("<script"));
    assert!(!r.body.contains("src="));
    assert!(!r.body.contains("<link"));
    let csp =
        r.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

/// The `/api/v1/` routes in the router's source: (method, path), in lower case.
fn routed_api_v1() -> Vec<(String, String)> {
    let source = include_str!("../../src/lib.rs");
    let mut routes = Vec::new();
    for (at, _) in source.match_indices(".route(") {
        let call = &source[at + ".route".len()..];
        // The whole `.route(…)` call, up to its closing parenthesis.
        let mut depth = 0;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(call.len(), |(i, _)| i);
        let call = &call[..end];
        let Some(path) = call.split('"').nth(1) else { continue };
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let handlers = &call[call.find(',').unwrap_or(0)..];
        for method in ["get", "post", "put", "patch", "delete"] {
            let named = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                handlers[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            });
            if named {
                routes.push((method.to_owned(), path.to_owned()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_api_v1_route_the_router_answers_is_in_the_document() {
    let app = TestApp::new();
    let doc = document(&app).await;
    let routes = routed_api_v1();
    for known in [("get", "/api/v1/me"), ("post", "/api/v1/lead"), ("get", "/api/v1/openapi.json")] {
        assert!(
            routes.iter().any(|(m, p)| m == known.0 && p == known.1),
            "the source scan missed {known:?}: {routes:?}"
        );
    }
    for (method, path) in &routes {
        assert!(
            doc["paths"][path.as_str()].get(method.as_str()).is_some(),
            "{method} {path} is not documented"
        );
        // The route is real: the router answers it with the API's JSON, not the pages' fallback.
        let uri = path.replace("{lead_id}", "1").replace("{id}", "1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let req = Request::builder().method(method.clone()).uri(&uri).header(header::HOST, "127.0.0.1:3000");
        let r = app.send(req.body(Body::empty()).expect("request")).await;
        let content_type =
            r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{method} {uri}: {} {content_type}", r.status);
    }
}

#[tokio::test]
async fn the_answers_keep_their_bytes() {
    let app = TestApp::new();
    let req = Request::get("/api/v1/me")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::AUTHORIZATION, "Bearer sbk_nope");
    let r = app.send(req.body(Body::empty()).expect("request")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        r#"{"error":{"code":"INVALID_KEY","message":"Send a valid API key as Authorization: Bearer <key>. The key is missing, unknown or revoked."},"result":"error"}"#
    );

    let cookie = app.login("client@sendback.test").await;
    let made = app.call("create_api_key", &[("name", "CRM")], Some(&cookie)).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let made: Value = serde_json::from_str(&made.body).expect("json");
    let bearer = format!("Bearer {}", made["key"].as_str().expect("key"));
    let req = Request::get("/api/v1/me")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::AUTHORIZATION, &bearer);
    let r = app.send(req.body(Body::empty()).expect("request")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.starts_with(r#"{"client":{"id":"#), "{}", r.body);
    assert!(
        r.body.contains(r#""name":"Acme Insurance"},"user":{"email":"client@sendback.test","id":"#),
        "{}",
        r.body
    );

    let req = Request::post("/api/v1/lead-status/reject/999999999")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::AUTHORIZATION, &bearer)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let r = app.send(req.body(Body::from("reason=Wrong")).expect("request")).await;
    assert_eq!(
        r.body,
        r#"{"error":{"code":"LEAD_NOT_FOUND","message":"No lead of yours has this id."},"result":"error"}"#
    );
}
