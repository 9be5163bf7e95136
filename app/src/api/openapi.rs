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
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema as _};

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
        super::tasks::create,
        super::tasks::list,
        super::tasks::show,
        super::tasks::results,
        super::tasks::undo,
        super::lookups::campaigns,
        super::lookups::lead,
        crate::intake::http::lead,
        openapi_json,
    ),
    components(schemas(ErrorCode, ApiError, super::tasks::TaskPreview)),
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
