//! What the `/admin/api` OpenAPI document says beyond each handler's `#[utoipa::path]`: its
//! title and description, the admin token as the security scheme, and the answers the admin
//! guard gives before any handler runs.

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi as _, ToSchema};

use crate::admin::error::ErrorBody;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "scim-relay admin API",
        version = "1",
        description = "The admin page's actions for scripts: tenants, their SCIM tokens, provisioning activity, \
            sync status and dead letters. Available only when the api runs with `ADMIN_TOKEN`; otherwise every \
            path answers 404. SCIM tokens appear only in the response that issued them; only their SHA-256 is \
            stored."
    ),
    security(("adminToken" = [])),
    components(schemas(ErrorBody)),
    modifiers(&AdminToken),
)]
struct Doc;

/// The document before the routes are added.
pub fn base() -> OpenApi {
    Doc::openapi()
}

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, doc: &mut OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "adminToken",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("The api's `ADMIN_TOKEN`."))
                        .build(),
                ),
            );
    }
}

/// Adds to every operation what the admin guard may answer (see `guard::require_admin`): 401,
/// 429 and 503 to all, 403 to those that change state. An operation's own answer for a status
/// is kept.
pub fn add_guard_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, changes_state) in operations {
            let Some(operation) = operation else { continue };
            let responses = &mut operation.responses.responses;
            let mut add = |status: &str, response: Response| {
                responses.entry(status.to_owned()).or_insert(RefOr::T(response));
            };
            add("401", error("No or wrong admin token (or no session)."));
            add(
                "429",
                error_builder(
                    "Too many wrong admin tokens from this client, or from all clients together: the attempt \
                     was not checked. Retry after the seconds in `Retry-After`.",
                )
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                        .description(Some("Seconds to wait."))
                        .build(),
                )
                .build(),
            );
            add(
                "503",
                error("Postgres or RabbitMQ is unavailable; retry shortly."),
            );
            if changes_state {
                add(
                    "403",
                    error(
                        "A browser session without a valid `X-CSRF-Token`: with a session instead of the bearer \
                         token, send the session's CSRF token in that header.",
                    ),
                );
            }
        }
    }
}

fn error(description: &str) -> Response {
    error_builder(description).build()
}

fn error_builder(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(ErrorBody::name())))
            .build(),
    )
}
