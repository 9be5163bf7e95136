//! Sending the chosen file from the browser: one `fetch` whose body is the file itself, so the
//! browser streams it from disk and the server stores it as it arrives.

use super::model::{UploadPreview, UploadRefusal};

/// Sends `file` to `POST /api/uploads`; `Err` is the message to show.
pub async fn send(file: web_sys::File) -> Result<UploadPreview, String> {
    send_to(file, "/api/uploads").await
}

/// Sends `file` to `POST <endpoint>?name=…`; `Err` is the message to show.
pub async fn send_to(file: web_sys::File, endpoint: &str) -> Result<UploadPreview, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let unreachable = || "The file could not be sent. Check your connection and try again.".to_owned();
    let window = web_sys::window().ok_or_else(unreachable)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&file.clone().into());
    let name: String = js_sys::encode_uri_component(&file.name()).into();
    let reply = JsFuture::from(window.fetch_with_str_and_init(&format!("{endpoint}?name={name}"), &init))
        .await
        .map_err(|_| unreachable())?;
    let reply: web_sys::Response = reply.dyn_into().map_err(|_| unreachable())?;
    let text = JsFuture::from(reply.text().map_err(|_| unreachable())?)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    if reply.ok() {
        serde_json::from_str::<UploadPreview>(&text).map_err(|_| unreachable())
    } else {
        Err(serde_json::from_str::<UploadRefusal>(&text).map(|r| r.error).unwrap_or_else(|_| {
            format!("The server refused the file (HTTP {}). Try again in a moment.", reply.status())
        }))
    }
}
