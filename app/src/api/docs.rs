//! `GET /api/docs`: the OpenAPI document (`super::openapi`) rendered on the server as one plain
//! HTML page — the endpoints with their parameters, bodies and answers, the error codes, the
//! key schemes and the schemas. No script and nothing from another site; every text taken from
//! the document is escaped. Public, like the document.

use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse};
use serde_json::{Map, Value};

use super::openapi::document;

/// The page allows its own inline style and nothing else.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2328}\
h1{margin-bottom:0}h2{margin-top:2.5rem;border-bottom:1px solid #d0d7de}h3{margin:1.5rem 0 .25rem}\
code{font:13px ui-monospace,monospace;background:#f6f8fa;padding:0 .2em;border-radius:3px}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}.method{font:bold 13px ui-monospace,monospace;text-transform:uppercase;padding:.1em .4em;border-radius:3px;color:#fff;background:#0969da}\
.post{background:#1a7f37}.delete{background:#cf222e}section.op{border-top:1px solid #eee;padding-top:.5rem}.muted{color:#59636e}";

static PAGE: LazyLock<String> =
    LazyLock::new(|| render(&serde_json::to_value(document()).unwrap_or(Value::Null)));

/// The API's documentation page.
pub async fn docs() -> impl IntoResponse {
    ([(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP))], Html(PAGE.as_str()))
}

/// Text for HTML, attribute values included.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped prose: paragraphs at blank lines, `code` between backticks.
fn prose(text: &str) -> String {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let mut html = String::from("<p>");
            for (i, part) in p.split('`').enumerate() {
                if i % 2 == 1 {
                    let _ = write!(html, "<code>{}</code>", esc(part));
                } else {
                    html.push_str(&esc(part));
                }
            }
            html.push_str("</p>");
            html
        })
        .collect()
}

/// Inline prose (one paragraph's content, no `<p>`).
fn inline(text: &str) -> String {
    let html = prose(text);
    html.strip_prefix("<p>").and_then(|h| h.strip_suffix("</p>")).map(str::to_owned).unwrap_or(html)
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn anchor(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

fn operation_anchor(method: &str, path: &str) -> String {
    format!("op-{method}{}", anchor(path))
}

/// A schema in a few words: its type, or a link to the named schema.
fn type_of(schema: &Value) -> String {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
        return format!("<a href=\"#schema-{}\">{}</a>", anchor(name), esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(items) = schema.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = items.iter().map(type_of).collect();
            return parts.join(if key == "allOf" { " and " } else { " or " });
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> =
            values.iter().map(|v| format!("<code>{}</code>", esc(&v.to_string().replace('"', "")))).collect();
        return format!("one of {}", values.join(", "));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return "any JSON".to_owned();
    }
    let described: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => format!("array of {}", schema.get("items").map(type_of).unwrap_or_default()),
            "object" if schema.get("properties").is_none() => "object".to_owned(),
            t => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("{} ({})", esc(t), esc(format)),
                None => esc(t),
            },
        })
        .collect();
    described.join(" or ")
}

/// A table of an object schema's properties, or nothing for another kind of schema.
fn properties_table(schema: &Value) -> String {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return String::new() };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut html =
        String::from("<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>");
    for (name, property) in properties {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            type_of(property),
            if required.contains(&name.as_str()) { "yes" } else { "no" },
            inline(str_of(property, "description")),
        );
    }
    if let Some(other) = schema.get("additionalProperties").filter(|a| *a != &Value::Bool(false)) {
        let _ = write!(
            html,
            "<tr><td><i>any other name</i></td><td>{}</td><td>no</td><td>{}</td></tr>",
            if other.is_object() { type_of(other) } else { "any JSON".to_owned() },
            inline(str_of(other, "description")),
        );
    }
    html.push_str("</table>");
    html
}

/// Content types with their schemas.
fn content(content: Option<&Value>) -> String {
    let Some(content) = content.and_then(Value::as_object) else { return String::new() };
    content
        .iter()
        .map(|(media, body)| {
            let schema = body.get("schema").map(type_of).unwrap_or_else(|| "any".to_owned());
            format!("<code>{}</code>: {schema}", esc(media))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn first_tag(op: &Value) -> &str {
    op.pointer("/tags/0").and_then(Value::as_str).unwrap_or_default()
}

/// Every operation of the document: (method, path, operation), grouped by their first tag in
/// the document's order of tags (the untagged last), then in path order.
fn operations(doc: &Value) -> Vec<(&'static str, &str, &Value)> {
    let tags: Vec<&str> =
        doc.get("tags").and_then(Value::as_array).into_iter().flatten().map(|t| str_of(t, "name")).collect();
    let mut all = Vec::new();
    for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                all.push((method, path.as_str(), op));
            }
        }
    }
    all.sort_by_key(|(_, _, op)| tags.iter().position(|t| *t == first_tag(op)).unwrap_or(usize::MAX));
    all
}

fn security(op: &Value) -> String {
    let names: Vec<String> = op
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(Map::keys)
        .map(|name| format!("<a href=\"#security-{}\"><code>{}</code></a>", anchor(name), esc(name)))
        .collect();
    if names.is_empty() { "none".to_owned() } else { names.join(" or ") }
}

fn render_operation(html: &mut String, doc: &Value, method: &str, path: &str, op: &Value) {
    let _ = write!(
        html,
        "<section class=\"op\" id=\"{}\"><h3><span class=\"method {method}\">{method}</span> <code>{}</code></h3>",
        operation_anchor(method, path),
        esc(path)
    );
    let _ = write!(html, "<p><b>{}</b></p>{}", esc(str_of(op, "summary")), prose(str_of(op, "description")));
    let _ = write!(html, "<p>Key: {}</p>", security(op));
    if let Some(params) = op.get("parameters").and_then(Value::as_array).filter(|p| !p.is_empty()) {
        html.push_str(
            "<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>",
        );
        for p in params {
            let _ = write!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(str_of(p, "name")),
                esc(str_of(p, "in")),
                p.get("schema").map(type_of).unwrap_or_default(),
                if p.get("required").and_then(Value::as_bool).unwrap_or(false) { "yes" } else { "no" },
                inline(str_of(p, "description")),
            );
        }
        html.push_str("</table>");
    }
    if let Some(body) = op.get("requestBody") {
        let _ = write!(
            html,
            "<h4>Request body</h4><p>{}</p>{}",
            content(body.get("content")),
            prose(str_of(body, "description"))
        );
        // The fields of the first named schema, so a form's fields are read where they are sent.
        let named = body
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .find_map(|(_, c)| c.pointer("/schema/$ref").and_then(Value::as_str));
        if let Some(schema) = named.and_then(|r| r.strip_prefix('#')).and_then(|r| doc.pointer(r)) {
            html.push_str(&properties_table(schema));
        }
    }
    html.push_str("<h4>Answers</h4><table><tr><th>Status</th><th>Description</th><th>Body</th></tr>");
    for (status, response) in op.get("responses").and_then(Value::as_object).into_iter().flatten() {
        let headers: Vec<String> = response
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, h)| {
                format!("<br>Header <code>{}</code>: {}", esc(name), inline(str_of(h, "description")))
            })
            .collect();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}{}</td><td>{}</td></tr>",
            esc(status),
            inline(str_of(response, "description")),
            headers.concat(),
            content(response.get("content")),
        );
    }
    html.push_str("</table></section>");
}

/// The error codes of the `ErrorCode` schema, each with the answers that name it.
fn render_error_codes(html: &mut String, doc: &Value, ops: &[(&str, &str, &Value)]) {
    let codes = doc.pointer("/components/schemas/ErrorCode/enum").and_then(Value::as_array);
    html.push_str(
        "<h2 id=\"error-codes\">Error codes</h2><p>A refusal is <code>{\"result\":\"error\",\"error\":{\"code\":…,\"message\":…}}</code>. Match on <code>code</code>; the message is for people and may change.</p>",
    );
    html.push_str("<table><tr><th>Code</th><th>Status</th><th>Answered by</th></tr>");
    for code in codes.into_iter().flatten().filter_map(Value::as_str) {
        let marker = format!("`{code}`");
        let mut statuses = Vec::new();
        let mut by = Vec::new();
        for (method, path, op) in ops {
            for (status, response) in op.get("responses").and_then(Value::as_object).into_iter().flatten() {
                if str_of(response, "description").contains(&marker) {
                    if !statuses.contains(status) {
                        statuses.push(status.clone());
                    }
                    by.push(format!(
                        "<a href=\"#{}\">{} {}</a>",
                        operation_anchor(method, path),
                        method.to_uppercase(),
                        esc(path)
                    ));
                }
            }
        }
        statuses.sort();
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(code),
            esc(&statuses.join(", ")),
            by.join("<br>")
        );
    }
    html.push_str("</table>");
}

fn render(doc: &Value) -> String {
    let info = doc.get("info").unwrap_or(&Value::Null);
    let title = str_of(info, "title");
    let ops = operations(doc);
    let mut html = String::with_capacity(64 * 1024);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1><p class=\"muted\">Version {1} · OpenAPI {2} · <a href=\"/api/v1/openapi.json\">openapi.json</a></p>{3}",
        esc(title),
        esc(str_of(info, "version")),
        esc(str_of(doc, "openapi")),
        prose(str_of(info, "description")),
    );

    html.push_str("<h2 id=\"endpoints\">Endpoints</h2><ul>");
    for (method, path, op) in &ops {
        let _ = write!(
            html,
            "<li><a href=\"#{}\"><span class=\"method {method}\">{method}</span> <code>{}</code></a> {}</li>",
            operation_anchor(method, path),
            esc(path),
            esc(str_of(op, "summary"))
        );
    }
    html.push_str("</ul><p><a href=\"#error-codes\">Error codes</a> · <a href=\"#keys\">Keys</a> · <a href=\"#schemas\">Schemas</a></p>");

    html.push_str("<h2 id=\"keys\">Keys</h2>");
    for (name, scheme) in
        doc.pointer("/components/securitySchemes").and_then(Value::as_object).into_iter().flatten()
    {
        let _ = write!(
            html,
            "<h3 id=\"security-{}\"><code>{}</code></h3><p>Send <code>Authorization: {} &lt;key&gt;</code>.</p>{}",
            anchor(name),
            esc(name),
            esc(&capitalised(str_of(scheme, "scheme"))),
            prose(str_of(scheme, "description"))
        );
    }

    let mut group = None;
    for (method, path, op) in &ops {
        let tag = first_tag(op);
        if group != Some(tag) {
            group = Some(tag);
            let description = doc
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|t| str_of(t, "name") == tag)
                .map_or("", |t| str_of(t, "description"));
            let heading = if tag.is_empty() { "Other".to_owned() } else { capitalised(tag) };
            let _ =
                write!(html, "<h2 id=\"tag-{}\">{}</h2>{}", anchor(tag), esc(&heading), prose(description));
        }
        render_operation(&mut html, doc, method, path, op);
    }

    render_error_codes(&mut html, doc, &ops);

    html.push_str("<h2 id=\"schemas\">Schemas</h2>");
    for (name, schema) in doc.pointer("/components/schemas").and_then(Value::as_object).into_iter().flatten()
    {
        let _ = write!(
            html,
            "<h3 id=\"schema-{}\"><code>{}</code></h3>{}",
            anchor(name),
            esc(name),
            prose(str_of(schema, "description"))
        );
        let table = properties_table(schema);
        if table.is_empty() {
            let _ = write!(html, "<p>{}</p>", type_of(schema));
        } else {
            html.push_str(&table);
        }
    }
    html.push_str("</body></html>");
    html
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_backticks_become_code() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(
            prose("Send `<key>` now.\n\nThen wait."),
            "<p>Send <code>&lt;key&gt;</code> now.</p><p>Then wait.</p>"
        );
    }

    #[test]
    fn schemas_are_named_in_a_few_words() {
        assert_eq!(type_of(&serde_json::json!({"type": ["string", "null"]})), "string or null");
        assert_eq!(type_of(&serde_json::json!({"type": "integer", "format": "int64"})), "integer (int64)");
        assert_eq!(
            type_of(&serde_json::json!({"$ref": "#/components/schemas/ApiError"})),
            "<a href=\"#schema-apierror\">ApiError</a>"
        );
        assert_eq!(
            type_of(&serde_json::json!({"enum": ["a", "b"]})),
            "one of <code>a</code>, <code>b</code>"
        );
    }

    #[test]
    fn the_page_shows_every_operation() {
        let doc = serde_json::to_value(document()).unwrap_or(Value::Null);
        let page = render(&doc);
        for (method, path, _) in operations(&doc) {
            assert!(page.contains(&format!("id=\"{}\"", operation_anchor(method, path))), "{method} {path}");
        }
        assert!(!page.contains("<script"));
    }
}
