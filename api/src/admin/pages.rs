//! The admin page's HTML: sign-in, the tenant list with a create form, and a tenant's page with
//! its User Provisioning settings, token actions, sync figures, dead letters and recent
//! activity. Every value is escaped. A new SCIM token appears only in the response to the
//! request that issued it (`no-store`), never again.

use axum::Extension;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::broker::{MAX_EXAMINED, TenantQueues};
use super::error::{AdminError, PageError};
use super::guard::Principal;
use super::html::{age, csrf_field, esc, page, time};
use super::tenants::{self, Tenant};
use super::throttle::Client;
use super::{Admin, ScimBaseUrl, sync};
use crate::activity::{self as audit, Activity};
use crate::tokens;

const ACTIVITY_ROWS: u64 = 50;
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A url-encoded form body; a malformed one is a 400 page.
pub struct Form<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, _: &S) -> Result<Self, PageError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| AdminError::BadRequest("the form is too large".into()))?;
        serde_urlencoded::from_bytes(&bytes)
            .map(Form)
            .map_err(|e| PageError(AdminError::BadRequest(format!("malformed form: {e}"))))
    }
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

#[derive(Deserialize)]
pub struct NewTenant {
    name: String,
}

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

pub async fn login_form(State(admin): State<Admin>, headers: HeaderMap) -> Result<Response, PageError> {
    if admin
        .sessions
        .find(&admin.app.db, &admin.key, &headers)
        .await?
        .is_some()
    {
        return Ok(Redirect::to("/admin").into_response());
    }
    Ok(Html(login_page(None)).into_response())
}

pub async fn login(
    State(admin): State<Admin>,
    client: Client,
    Form(form): Form<Login>,
) -> Result<Response, PageError> {
    match admin.check_key(client, &form.token) {
        Ok(()) => {}
        Err(AdminError::Throttled(t)) => {
            let body = login_page(Some(&format!("{}.", capitalized(&t.to_string()))));
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, t.retry_after_secs().to_string())],
                Html(body),
            )
                .into_response());
        }
        Err(_) => {
            metrics::counter!("scim_admin_refused_total", "reason" => "sign_in").increment(1);
            tracing::warn!("admin sign-in with a wrong admin token");
            let body = login_page(Some("That is not the admin token."));
            return Ok((StatusCode::UNAUTHORIZED, Html(body)).into_response());
        }
    }
    let cookie = admin.sessions.open(&admin.app.db, &admin.key).await?;
    tracing::info!("admin signed in");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response())
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn login_page(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!(r#"<p class="error" id="login-error">{}</p>"#, esc(e)))
        .unwrap_or_default();
    page(
        "Sign in",
        None,
        &format!(
            r#"<h1>Sign in</h1>{error}
<form method="post" action="/admin/login" class="card">
<label for="admin-token">Admin token</label>
<input type="password" id="admin-token" name="token" autocomplete="current-password" required autofocus>
<button type="submit" id="sign-in">Sign in</button>
</form>
<p class="muted">The admin token is the <code>ADMIN_TOKEN</code> the api was started with.</p>"#
        ),
    )
}

pub async fn logout(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
) -> Result<Response, PageError> {
    let mut resp = Redirect::to("/admin/login").into_response();
    if let Principal::Session(s) = who {
        let cookie = admin.sessions.close(&admin.app.db, &s).await?;
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(resp)
}

pub async fn index(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
) -> Result<Html<String>, PageError> {
    let list = tenants::list(&admin.app.db).await?;
    let rows: String = list
        .iter()
        .map(|t| {
            format!(
                r#"<tr><td><a href="/admin/tenants/{id}">{name}</a></td><td><code>{id}</code></td><td>{created}</td><td>{token}</td></tr>"#,
                id = t.id,
                name = esc(&t.name),
                created = time(&t.created_at),
                token = token_status(t),
            )
        })
        .collect();
    let table = if list.is_empty() {
        r#"<p class="muted">No tenants yet.</p>"#.to_owned()
    } else {
        format!(
            r#"<table id="tenants"><thead><tr><th>Name</th><th>Tenant id</th><th>Created</th><th>SCIM token</th></tr></thead><tbody>{rows}</tbody></table>"#
        )
    };
    let more = if list.len() as i64 >= tenants::LIST_LIMIT {
        format!(
            r#"<p class="muted">Showing the newest {} tenants.</p>"#,
            tenants::LIST_LIMIT
        )
    } else {
        String::new()
    };
    Ok(Html(page(
        "Tenants",
        Some(who.csrf()),
        &format!(
            r#"<h1>Tenants</h1>
<form method="post" action="/admin/tenants" class="card inline-form">{csrf}
<label for="tenant-name">New tenant</label>
<input id="tenant-name" name="name" required maxlength="200" placeholder="Acme Corp">
<button type="submit" id="create-tenant">Create tenant</button>
</form>
{table}{more}"#,
            csrf = csrf_field(who.csrf()),
        ),
    )))
}

fn token_status(t: &Tenant) -> String {
    match &t.token_issued_at {
        Some(at) => format!(r#"<span class="ok">live</span>, issued {}"#, time(at)),
        None => r#"<span class="warn">none</span>"#.to_owned(),
    }
}

pub async fn create_tenant(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
    ScimBaseUrl(base): ScimBaseUrl,
    Form(form): Form<NewTenant>,
) -> Result<Html<String>, PageError> {
    let issued = tokens::create_tenant(&admin.app.db, &form.name).await?;
    tracing::info!(tenant_id = %issued.tenant_id, "tenant created from the admin page");
    let tenant = tenants::get(&admin.app.db, issued.tenant_id).await?;
    Ok(Html(token_page(
        &who,
        &tenant,
        &issued.token,
        &base,
        "Tenant created",
    )))
}

pub async fn rotate_token(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
    ScimBaseUrl(base): ScimBaseUrl,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let id = tenants::parse_id(&id)?;
    let issued = tokens::rotate(&admin.app.db, id).await?;
    tracing::info!(tenant_id = %id, "tenant token generated from the admin page");
    let tenant = tenants::get(&admin.app.db, id).await?;
    Ok(Html(token_page(
        &who,
        &tenant,
        &issued.token,
        &base,
        "New SCIM token",
    )))
}

/// The one time a token is shown.
fn token_page(who: &Principal, tenant: &Tenant, token: &str, base: &str, heading: &str) -> String {
    page(
        heading,
        Some(who.csrf()),
        &format!(
            r#"<h1>{heading} · {name}</h1>
<section class="card" id="new-token">
<p class="warning"><strong>Copy this token now.</strong> It is shown only once: only its hash is stored. Any earlier token of this tenant no longer works.</p>
<label for="token">SCIM token (Bearer)</label>
<div class="copyable"><input id="token" class="secret" readonly value="{token}"><button type="button" data-copy="token" id="copy-token">Copy</button></div>
<label for="scim-base-url">SCIM connector base URL</label>
<div class="copyable"><input id="scim-base-url" readonly value="{base}"><button type="button" data-copy="scim-base-url">Copy</button></div>
</section>
<p><a href="/admin/tenants/{id}" id="back-to-tenant">Back to {name}</a></p>"#,
            heading = esc(heading),
            name = esc(&tenant.name),
            token = esc(token),
            base = esc(base),
            id = tenant.id,
        ),
    )
}

pub async fn revoke_token(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Redirect, PageError> {
    let id = tenants::parse_id(&id)?;
    let n = tokens::revoke(&admin.app.db, id).await?;
    tracing::info!(tenant_id = %id, revoked = n, "tenant token revoked from the admin page");
    Ok(Redirect::to(&format!("/admin/tenants/{id}?notice=revoked")))
}

pub async fn retry_dead_letter(
    State(admin): State<Admin>,
    Path((id, letter)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let id = tenants::parse_id(&id)?;
    tenants::get(&admin.app.db, id).await?;
    admin.broker.retry(id, &letter).await?;
    Ok(Redirect::to(&format!(
        "/admin/tenants/{id}?notice=retried#dead-letters"
    )))
}

pub async fn tenant(
    State(admin): State<Admin>,
    Extension(who): Extension<Principal>,
    ScimBaseUrl(base): ScimBaseUrl,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Html<String>, PageError> {
    let id = tenants::parse_id(&id)?;
    let db = &admin.app.db;
    let tenant = tenants::get(db, id).await?;
    let counts = tenants::counts(db, id).await?;
    let outbox = sync::outbox(db, id).await?;
    let activity = audit::recent(db, id, ACTIVITY_ROWS).await?;
    // The page still shows the directory side when RabbitMQ is down.
    let queues = admin.broker.tenant_queues(id).await;
    let csrf = csrf_field(who.csrf());
    let notice = match notice.notice.as_deref() {
        Some("revoked") => {
            r#"<p class="notice" id="notice">The token was revoked: the IdP's requests are refused until a new token is generated.</p>"#
        }
        Some("retried") => {
            r#"<p class="notice" id="notice">The dead letter was sent back to the workers.</p>"#
        }
        _ => "",
    };
    let (token_line, generate_label, confirm) = match &tenant.token_issued_at {
        Some(at) => (
            format!(r#"<span class="ok">live</span>, issued {}"#, time(at)),
            "Generate new token",
            r#" data-confirm="Generate a new token? The current token stops working at once: update the IdP with the new one.""#,
        ),
        None => (
            r#"<span class="warn">none</span>: the IdP's requests are refused"#.to_owned(),
            "Generate token",
            "",
        ),
    };
    let revoke = if tenant.token_issued_at.is_some() {
        format!(
            r#"<form method="post" action="/admin/tenants/{id}/token/revoke" class="inline" data-confirm="Revoke the token? The IdP's requests are refused from now on.">{csrf}<button type="submit" id="revoke-token" class="danger">Revoke token</button></form>"#
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<h1>{name}</h1>
<p class="muted">Tenant <code id="tenant-id">{id}</code> · created {created} · {users} users ({active} active) · {groups} groups</p>
{notice}
<section id="provisioning" class="card"><h2>User Provisioning</h2>
<dl>
<dt>SCIM connector base URL</dt>
<dd><div class="copyable"><input id="scim-base-url" readonly value="{base}"><button type="button" data-copy="scim-base-url">Copy</button></div></dd>
<dt>Unique identifier field for users</dt><dd><code>userName</code></dd>
<dt>Authentication mode</dt><dd>HTTP Header: <code>Authorization: Bearer &lt;token&gt;</code></dd>
<dt>SCIM token</dt><dd id="token-status">{token_line}</dd>
</dl>
<div class="actions">
<form method="post" action="/admin/tenants/{id}/token" class="inline"{confirm}>{csrf}<button type="submit" id="generate-token">{generate_label}</button></form>
{revoke}
</div>
<p class="muted">A token is shown once, when it is generated. Generating a new one stops the old one at once.</p>
</section>
{sync}
{dead}
{activity}"#,
        name = esc(&tenant.name),
        created = time(&tenant.created_at),
        users = counts.users,
        active = counts.active_users,
        groups = counts.groups,
        base = esc(&base),
        sync = sync_section(&outbox, queues.as_ref().ok()),
        dead = dead_letter_section(id, &csrf, &queues),
        activity = activity_section(&activity),
    );
    Ok(Html(page(&tenant.name, Some(who.csrf()), &body)))
}

fn sync_section(outbox: &sync::Outbox, queues: Option<&TenantQueues>) -> String {
    let oldest = outbox
        .oldest_pending_seconds
        .map(|s| format!(", oldest {}", age(s)))
        .unwrap_or_default();
    let broker = match queues {
        Some(q) => format!(
            r#"<tr><th>Waiting for workers (all tenants)</th><td id="queue-depth">{} changes, {} consuming</td></tr>
<tr><th>Dead letters</th><td id="dead-letter-count">{} of this tenant, {} in all</td></tr>"#,
            q.changes_queue.messages,
            match q.changes_queue.consumers {
                0 => r#"<span class="error">no worker</span>"#.to_owned(),
                1 => "1 worker".to_owned(),
                n => format!("{n} workers"),
            },
            q.dead_letters.len(),
            q.dead_letters_total
        ),
        None => r#"<tr><th>RabbitMQ</th><td class="error">not reachable: queue figures and dead letters cannot be shown right now</td></tr>"#.to_owned(),
    };
    format!(
        r#"<section id="sync" class="card"><h2>Sync</h2>
<table class="figures">
<tr><th>Changes not yet sent to RabbitMQ</th><td id="outbox-pending">{pending}{oldest}</td></tr>
{broker}
</table>
<p class="muted">A change is committed with the directory, sent to RabbitMQ, then applied by a worker. A backlog here means RabbitMQ or the workers are behind or down.</p>
</section>"#,
        pending = outbox.pending,
    )
}

fn dead_letter_section(tenant: Uuid, csrf: &str, queues: &Result<TenantQueues, AdminError>) -> String {
    let Ok(q) = queues else {
        return r#"<section id="dead-letters" class="card"><h2>Dead letters</h2><p class="error">RabbitMQ is not reachable.</p></section>"#.to_owned();
    };
    let capped = if q.examined >= MAX_EXAMINED && (q.dead_letters_total as usize) > q.examined {
        format!(
            r#"<p class="warning">Only the first {} of {} dead letters were examined; use <code>scim-worker dlq list</code> for all.</p>"#,
            q.examined, q.dead_letters_total
        )
    } else {
        String::new()
    };
    if q.dead_letters.is_empty() {
        return format!(
            r#"<section id="dead-letters" class="card"><h2>Dead letters</h2><p class="muted" id="no-dead-letters">None: every change of this tenant was applied or is on its way.</p>{capped}</section>"#
        );
    }
    let rows: String = q
        .dead_letters
        .iter()
        .map(|l| {
            let opt = |v: &Option<String>| esc(v.as_deref().unwrap_or("–"));
            let retry = match &l.id.as_ref().or(l.message_id.as_ref()) {
                Some(letter) => format!(
                    r#"<form method="post" action="/admin/tenants/{tenant}/dead-letters/{}/retry" class="inline">{csrf}<button type="submit" class="retry">Retry</button></form>"#,
                    esc(&urlencode(letter))
                ),
                None => String::new(),
            };
            let failed = l
                .failed_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| time(&t.with_timezone(&chrono::Utc)))
                .unwrap_or_else(|| opt(&l.failed_at));
            format!(
                r#"<tr class="dead-letter" data-letter="{id}"><td>{failed}</td><td><code>{key}</code></td><td>{resource}</td><td class="reason">{reason}</td><td>{attempts}</td><td>{retry}</td></tr>"#,
                id = opt(&l.id),
                key = opt(&l.routing_key),
                resource = opt(&l.resource_id),
                reason = opt(&l.reason),
                attempts = l.attempts.map(|a| a.to_string()).unwrap_or_else(|| "–".into()),
            )
        })
        .collect();
    format!(
        r#"<section id="dead-letters" class="card"><h2>Dead letters</h2>
<p class="muted">Changes the workers could not apply. Fix the cause (the reason says what failed), then Retry: the change goes back to the workers.</p>
<table><thead><tr><th>Failed at</th><th>Change</th><th>Resource</th><th>Reason</th><th>Attempts</th><th></th></tr></thead><tbody>{rows}</tbody></table>{capped}</section>"#
    )
}

fn activity_section(rows: &[Activity]) -> String {
    if rows.is_empty() {
        return r#"<section id="activity" class="card"><h2>Recent activity</h2><p class="muted" id="no-activity">No SCIM requests yet.</p></section>"#.to_owned();
    }
    let body: String = rows
        .iter()
        .map(|a| {
            let resource = match (&a.resource_type, &a.resource_id) {
                (Some(t), Some(id)) => format!("{} <code>{id}</code>", esc(t)),
                (Some(t), None) => esc(t),
                _ => "–".into(),
            };
            let class = if a.status >= 400 { "error" } else { "ok" };
            format!(
                r#"<tr class="activity"><td>{at}</td><td>{op} <code>{method} {route}</code></td><td>{resource}</td><td class="{class}">{status} {outcome}</td><td>{latency} ms</td><td class="muted">{client}</td><td><code class="trace" title="grep the api and worker logs for this trace_id">{trace}</code></td></tr>"#,
                at = time(&a.at),
                op = a.operation(),
                method = esc(&a.method),
                route = esc(&a.route),
                status = a.status,
                outcome = esc(&a.outcome),
                latency = a.latency_ms,
                client = esc(a.client.as_deref().unwrap_or("")),
                trace = esc(a.trace_id.as_deref().unwrap_or("")),
            )
        })
        .collect();
    format!(
        r#"<section id="activity" class="card"><h2>Recent activity</h2>
<table><thead><tr><th>Time</th><th>IdP operation</th><th>Resource</th><th>Result</th><th>Latency</th><th>Client</th><th>Trace id</th></tr></thead><tbody>{body}</tbody></table>
<p class="muted">The latest {ACTIVITY_ROWS} requests. The activity log is best-effort: under extreme load rows may be dropped rather than slow the IdP down.</p></section>"#
    )
}

/// Dead-letter ids are UUIDs or message ids; encode anything else for the path.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/admin.css"),
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/admin.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letter_ids_are_safe_in_a_path() {
        assert_eq!(urlencode("0193-ab_c.d~"), "0193-ab_c.d~");
        assert_eq!(urlencode("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn the_token_page_escapes_what_it_shows() {
        let t = Tenant {
            id: Uuid::nil(),
            name: "<img src=x>".into(),
            created_at: chrono::Utc::now(),
            token_issued_at: None,
        };
        let html = token_page(&Principal::Operator, &t, "scimr_abc", "https://x/scim/v2", "New");
        assert!(html.contains("&lt;img src=x&gt;"));
        assert!(html.contains(r#"value="scimr_abc""#));
    }
}
