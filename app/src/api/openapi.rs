//! The machine API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the answer types, served at `GET /api/v1/openapi.json` (and rendered as HTML
//! at `/api/docs` by `super::docs`).
//!
//! To document a new endpoint: annotate its handler with `#[utoipa::path(...)]` (method, path,
//! tag, `security(("bearer" = []))` for a client API key, parameters, body, the answers the
//! handler itself gives) and add the handler to `paths(...)` below. Key refusals (401, 403,
//! 429 with `Retry-After`, 500) are added to every `bearer` operation by [`KeyRefusals`].

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema as _, ToSchema};

use super::error::{ApiError, ErrorCode};

/// The client API key scheme's name in the document.
pub const BEARER: &str = "bearer";
/// The supplier intake key scheme's name in the document.
pub const SUPPLIER_KEY: &str = "supplier_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sendback API",
        description = "The machine API for clients' software (reject leads, follow rejection \
            tasks) and suppliers' software (send leads). Every answer is JSON unless said \
            otherwise; a refusal is `{\"result\":\"error\",\"error\":{\"code\":…,\"message\":…}}` \
            with a 4xx or 5xx status, and software should match on `code`."
    ),
    paths(
        super::me::me,
        super::reject::reject_lead,
        planned::create_rejection_task,
        planned::list_rejection_tasks,
        planned::rejection_task,
        planned::rejection_task_results,
        planned::campaigns,
        planned::lead,
        crate::intake::http::lead,
        openapi_json,
    ),
    components(schemas(ErrorCode)),
    modifiers(&KeyRefusals),
    tags(
        (name = "account", description = "The API key itself."),
        (name = "rejections", description = "Rejecting leads: one at a time, or a CSV file as a rejection task."),
        (name = "leads", description = "Your campaigns and leads."),
        (name = "intake", description = "Suppliers send leads."),
        (name = "docs", description = "This document."),
    ),
)]
pub struct ApiDoc;

/// The security schemes, and the refusals every operation behind a client API key can answer
/// (`super::auth::api_user` gives them before the handler's own work).
struct KeyRefusals;

impl Modify for KeyRefusals {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sbk_…")
                    .description(Some(
                        "A client user's API key (`sbk_` and 43 URL-safe base64 characters), made \
                         on the API keys page or with `sendback api-key create`. It acts as its \
                         user, with their client and the permission \"Reject Leads as a Client\" \
                         as they stand at each request. The Databowl-compatible reject endpoint \
                         also takes it as the form field `key`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SUPPLIER_KEY,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sbk_…")
                    .description(Some(
                        "A supplier's intake key (`sbk_` and 48 hex digits), made by the \
                         instance's owner staff; also accepted as the form or JSON field `key`. \
                         Client API keys are not intake keys.",
                    ))
                    .build(),
            ),
        );
        let error = || ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build();
        let refusal = |description: &str| {
            ResponseBuilder::new().description(description).content("application/json", error())
        };
        let refusals = [
            (
                "401",
                refusal(
                    "`INVALID_KEY`: the key is missing, malformed, unknown or revoked (the same \
                     answer for each).",
                )
                .build(),
            ),
            ("403", refusal("`FORBIDDEN`: the key's user no longer holds \"Reject Leads as a Client\".").build()),
            (
                "429",
                refusal("`RATE_LIMITED`: too many requests with this key (20 a second, bursts of 100 by default).")
                    .header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(Some(u64::schema()))
                            .description(Some("Whole seconds to wait before trying again."))
                            .build(),
                    )
                    .build(),
            ),
            ("500", refusal("`INTERNAL`: something failed on our side; try again in a moment.").build()),
        ];
        for item in doc.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                let keyed = operation.security.iter().flatten().any(|requirement| {
                    serde_json::to_value(requirement).is_ok_and(|v| v.get(BEARER).is_some())
                });
                if keyed {
                    for (status, response) in &refusals {
                        operation
                            .responses
                            .responses
                            .entry((*status).to_owned())
                            .or_insert(response.clone().into());
                    }
                }
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);
    &DOCUMENT
}

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(|| {
    // Serialising types made of strings, maps and numbers cannot fail; an empty object would
    // still be valid JSON.
    document().to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
});

/// This document
///
/// The OpenAPI 3.1 document of this API, generated from the code. Needs no key.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")),
)]
pub async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT_JSON.as_str())
}

/// A rejection task as the API first answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskAccepted {
    pub task_id: i64,
    /// `queued` when it was just made; as it stands when the same request is repeated.
    pub status: String,
    pub links: TaskLinks,
}

/// Where to follow a task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskLinks {
    /// `/api/v1/rejection-tasks/{id}`: the task's status, progress and counts.
    #[serde(rename = "self")]
    pub self_: String,
    /// `/api/v1/rejection-tasks/{id}/results.csv`: the results file, once completed.
    pub results: String,
}

/// Endpoints being built elsewhere, documented here from their agreed contract so the document
/// is complete. Each function documents the handler in `app/src/api/` named in its comment;
/// move the annotation onto the handler when it lands, and point `paths(...)` at the handler.
#[expect(dead_code, reason = "carriers of the #[utoipa::path] annotations of handlers not yet merged")]
mod planned {
    use super::{ApiError, TaskAccepted};

    // Documents the handler of `POST /api/v1/rejection-tasks` (rejection tasks API, in progress).
    /// Start a rejection task
    ///
    /// The body is the CSV file (UTF-8 with or without BOM; `,` `;` tab or `|`, sniffed; a
    /// header row). Every file-level check runs first; then the task is queued and a worker
    /// runs it, row by row, as a task started on the Import Rejections page. Sending the same
    /// request again with the same `Idempotency-Key` answers the task already made.
    #[utoipa::path(
        post,
        path = "/api/v1/rejection-tasks",
        tag = "rejections",
        params(
            ("Idempotency-Key" = String, Header, description = "Required: a key of your choosing, one per task. A repeated request with the same key and body answers the first one's task; the same key with a different request is refused."),
            ("campaign_id" = i64, Query, description = "The campaign the file's leads belong to (one of your client's)."),
            ("identifier" = String, Query, description = "How the rows name their lead: `lead_id`, `uid` (consumer session id), or `field:<field key>` (a deduplicated field of the campaign, e.g. `field:email`)."),
            ("identifier_column" = String, Query, description = "The header of the file's column holding the identifier."),
            ("reason_column" = String, Query, description = "The header of the file's column holding the rejection reason."),
            ("reject_from" = Option<String>, Query, format = Date, description = "Option 1, reject from this date (YYYY-MM-DD, not in the future): the reference date of the rejection window. Default: today (UTC)."),
            ("move_outside_to_accepted" = Option<bool>, Query, description = "Option 2: leads outside the window move from received to accepted instead of being left alone."),
            ("reject_affiliate_events" = Option<bool>, Query, description = "Option 3: each rejected lead's approved affiliate events become rejected."),
            ("move_remaining_to_accepted" = Option<bool>, Query, description = "Option 4: afterwards, every received lead of the campaign received on or before the reference date and not rejected by this task moves to accepted."),
            ("count_towards_cap" = Option<bool>, Query, description = "Option 5: each rejected lead gives its unit back to the caps it counted in (once)."),
            ("preview" = Option<bool>, Query, description = "Check the file and decide its rows without changing anything or making a task: the answer is the preview."),
        ),
        request_body(content = String, content_type = "text/csv", description = "The rejection file."),
        security(("bearer" = [])),
        responses(
            (status = 202, description = "The task is queued.", body = TaskAccepted),
            (status = 200, description = "The same request was sent before with this `Idempotency-Key`: its task, as it stands. With `preview=true`: the preview (the file's rows as they would be decided); nothing was changed.", body = TaskAccepted),
            (status = 422, description = "A file-level refusal — not a CSV file, empty, no header, a named column missing, a campaign not yours or without maximum rejection days, an identifier field that is not deduplicated, a reject-from date in the future — or the `Idempotency-Key` was used before with a different request. The message says which; nothing was changed.", body = ApiError),
        ),
    )]
    fn create_rejection_task() {}

    // Documents the handler of `GET /api/v1/rejection-tasks` (rejection tasks API, in progress).
    /// List your rejection tasks
    ///
    /// Cursor-paginated: follow the answer's cursor for the next page.
    #[utoipa::path(
        get,
        path = "/api/v1/rejection-tasks",
        tag = "rejections",
        params(
            ("cursor" = Option<String>, Query, description = "Where the page starts: the cursor the previous page gave. Omit it for the first page."),
            ("limit" = Option<u32>, Query, description = "How many tasks a page holds at most."),
        ),
        security(("bearer" = [])),
        responses((status = 200, description = "A page of the rejection tasks you may see, with the cursor of the next page.", body = serde_json::Value)),
    )]
    fn list_rejection_tasks() {}

    // Documents the handler of `GET /api/v1/rejection-tasks/{id}` (rejection tasks API, in progress).
    /// A rejection task
    ///
    /// Its status (`queued`, `running`, `completed` or `failed` with the reason), progress and
    /// counts per outcome.
    #[utoipa::path(
        get,
        path = "/api/v1/rejection-tasks/{id}",
        tag = "rejections",
        params(("id" = i64, Path, description = "The task's id.")),
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The task.", body = serde_json::Value),
            (status = 404, description = "No task you may see has this id.", body = ApiError),
        ),
    )]
    fn rejection_task() {}

    // Documents the handler of `GET /api/v1/rejection-tasks/{id}/results.csv` (rejection tasks
    // API, in progress).
    /// A rejection task's results file
    ///
    /// One line per row of the file: its number, identifier, reason, outcome, Lead ID and
    /// message; cells are written safely against spreadsheet formulas.
    #[utoipa::path(
        get,
        path = "/api/v1/rejection-tasks/{id}/results.csv",
        tag = "rejections",
        params(("id" = i64, Path, description = "The task's id.")),
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The results file.", body = String, content_type = "text/csv"),
            (status = 404, description = "No task you may see has this id.", body = ApiError),
        ),
    )]
    fn rejection_task_results() {}

    // Documents the handler of `GET /api/v1/campaigns` (campaigns API, in progress).
    /// Your campaigns
    ///
    /// The campaigns of the key's client, to find a `campaign_id` and its fields.
    #[utoipa::path(
        get,
        path = "/api/v1/campaigns",
        tag = "leads",
        security(("bearer" = [])),
        responses((status = 200, description = "The client's campaigns.", body = serde_json::Value)),
    )]
    fn campaigns() {}

    // Documents the handler of `GET /api/v1/leads/{lead_id}` (leads API, in progress).
    /// A lead
    ///
    /// One lead of the key's client: its status and reason, campaign, received time and
    /// rejection window.
    #[utoipa::path(
        get,
        path = "/api/v1/leads/{lead_id}",
        tag = "leads",
        params(("lead_id" = i64, Path, description = "The lead's id.")),
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The lead.", body = serde_json::Value),
            (status = 404, description = "`LEAD_NOT_FOUND`: no lead of your client has this id.", body = ApiError),
        ),
    )]
    fn lead() {}
}
