//! The upload endpoint: who may upload, and refused files (not CSV, empty, too large) kept nowhere.

use axum::http::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn uploads_need_a_session_and_the_permission() {
    let app = TestApp::new();
    let csv = b"Lead ID,Reason\n1,x\n".to_vec();
    let r = app.upload("a.csv", csv.clone(), None, true).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    for who in ["viewer@sendback.test", "owner@sendback.test"] {
        let cookie = app.login(who).await;
        let r = app.upload("a.csv", csv.clone(), Some(&cookie), true).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.body);
        assert!(r.body.contains("Reject Leads as a Client"), "{}", r.body);
    }
    assert_eq!(app.stored_files(), 0, "nothing kept");
}

#[tokio::test]
async fn refused_uploads_say_why_and_keep_nothing() {
    let mut app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    // Beyond axum's 2 MB default body limit: accepted.
    let mut big = String::from("Lead ID,Reason\n");
    while big.len() < 3 * 1024 * 1024 {
        big.push_str("123456,Duplicate lead sent twice\n");
    }
    let r = app.upload("big.csv", big.into_bytes(), Some(&client), false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.stored_files(), 1);
    let refusals: [(&[u8], &str); 3] = [
        (b"PK\x03\x04\x14\x00\x06\x00rest of an xlsx", "not a CSV file"),
        (b"", "empty"),
        (b"\n\n", "empty"),
    ];
    for (body, expected) in refusals {
        let r = app.upload("x.csv", body.to_vec(), Some(&client), true).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains(expected), "{expected}: {}", r.body);
    }
    // Over the configured limit: refused whether or not the size is declared up front.
    let mut state = app.state.clone();
    state.uploads.max_bytes = 1024 * 1024;
    app.router = server::router(state);
    for declared in [true, false] {
        let r = app.upload("huge.csv", vec![b'a'; 1024 * 1024 + 1], Some(&client), declared).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
        assert!(r.body.contains("larger than 1 MB"), "{}", r.body);
    }
    // The form is told the limit in force, not a fixed one.
    let r = app.call("rejection_campaigns", &[], Some(&client)).await;
    let setup: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(setup["max_upload_bytes"], 1024 * 1024, "{}", r.body);
    assert_eq!(app.stored_files(), 1, "refused files are not kept");
}

#[tokio::test]
async fn the_upload_preview_answers_small_whatever_the_cells() {
    let app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    // A 5 MB cell: the preview shows its start, not the whole cell.
    let mut body = b"Lead ID,Reason\n1020001,".to_vec();
    body.extend(std::iter::repeat_n(b'x', 5 * 1024 * 1024));
    body.push(b'\n');
    let r = app.upload("huge-cell.csv", body, Some(&client), true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", &r.body[..r.body.len().min(300)]);
    assert!(r.body.len() < 4096, "answer of {} bytes", r.body.len());
    let preview: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let cell = preview["rows"][0][1].as_str().expect("cell");
    assert_eq!(cell.chars().count(), 201);
    assert!(cell.ends_with('…'));
    // A header of 100,000 columns is refused in plain words, and nothing is kept.
    let mut wide: Vec<u8> = (0..100_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",").into_bytes();
    wide.extend_from_slice(b"\n1,x\n");
    let r = app.upload("wide.csv", wide, Some(&client), true).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", &r.body[..r.body.len().min(300)]);
    assert!(r.body.contains("more than 1000 columns"), "{}", r.body);
    assert!(r.body.len() < 1024);
    assert_eq!(app.stored_files(), 1, "only the first upload is kept");
}
