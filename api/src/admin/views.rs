//! The admin pages' markup: sign-in, the tenant list, the page that shows a new token once, and a
//! tenant's page with its User Provisioning settings, token actions, sync figures, dead letters
//! and recent activity. maud escapes every value; the handlers in `pages` gather what is shown.

use maud::{Markup, html};
use uuid::Uuid;

use super::api::deprovisioning_guard::GuardView;
use super::api::schema::{EventStream, MappingView};
use super::broker::{MAX_EXAMINED, TenantQueues};
use super::error::AdminError;
use super::html::{age, csrf_field, page, time};
use super::sync::Outbox;
use super::tenants::{self, Counts, Tenant};
use crate::activity::Activity;

/// How many activity rows the tenant page shows.
pub const ACTIVITY_ROWS: u64 = 50;

pub fn login(error: Option<&str>) -> Markup {
    page(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error {
                p.error #login-error { (e) }
            }
            form method="post" action="/admin/login" class="card" {
                label for="admin-token" { "Admin token" }
                input type="password" id="admin-token" name="token" autocomplete="current-password" required autofocus;
                button type="submit" id="sign-in" { "Sign in" }
            }
            p.muted { "The admin token is the " code { "ADMIN_TOKEN" } " the api was started with." }
        },
    )
}

pub fn tenants(csrf: &str, list: &[Tenant]) -> Markup {
    page(
        "Tenants",
        Some(csrf),
        html! {
            h1 { "Tenants" }
            form method="post" action="/admin/tenants" class="card inline-form" {
                (csrf_field(csrf))
                label for="tenant-name" { "New tenant" }
                input id="tenant-name" name="name" required maxlength="200" placeholder="Acme Corp";
                button type="submit" id="create-tenant" { "Create tenant" }
            }
            @if list.is_empty() {
                p.muted { "No tenants yet." }
            } @else {
                table #tenants {
                    thead { tr { th { "Name" } th { "Tenant id" } th { "Created" } th { "SCIM token" } } }
                    tbody {
                        @for t in list {
                            tr {
                                td { a href={ "/admin/tenants/" (t.id) } { (t.name) } }
                                td { code { (t.id) } }
                                td { (time(&t.created_at)) }
                                td { (token_status(t)) }
                            }
                        }
                    }
                }
            }
            @if list.len() as i64 >= tenants::LIST_LIMIT {
                p.muted { "Showing the newest " (tenants::LIST_LIMIT) " tenants." }
            }
        },
    )
}

fn token_status(t: &Tenant) -> Markup {
    html! {
        @match &t.token_issued_at {
            Some(at) => { span.ok { "live" } ", issued " (time(at)) }
            None => span.warn { "none" },
        }
    }
}

/// The one time a token is shown.
pub fn new_token(csrf: &str, tenant: &Tenant, token: &str, base: &str, heading: &str) -> Markup {
    page(
        heading,
        Some(csrf),
        html! {
            h1 { (heading) " · " (tenant.name) }
            section.card #new-token {
                p.warning {
                    strong { "Copy this token now." }
                    " It is shown only once: only its hash is stored. Any earlier token of this tenant no longer works."
                }
                label for="token" { "SCIM token (Bearer)" }
                div.copyable {
                    input id="token" class="secret" readonly value=(token);
                    button type="button" data-copy="token" #copy-token { "Copy" }
                }
                label for="scim-base-url" { "SCIM connector base URL" }
                (copyable_base_url(base))
            }
            p { a href={ "/admin/tenants/" (tenant.id) } #back-to-tenant { "Back to " (tenant.name) } }
        },
    )
}

fn copyable_base_url(base: &str) -> Markup {
    html! {
        div.copyable {
            input #scim-base-url readonly value=(base);
            button type="button" data-copy="scim-base-url" { "Copy" }
        }
    }
}

/// What a redirect to the tenant page asks it to confirm.
pub enum Notice {
    Revoked,
    Retried,
    /// A decision on held deprovisionings, and how many it covered.
    Approved(u64),
    Rejected(u64),
}

/// Everything the tenant page shows.
pub struct TenantPage<'a> {
    pub csrf: &'a str,
    pub tenant: &'a Tenant,
    pub counts: &'a Counts,
    pub base: &'a str,
    pub notice: Option<Notice>,
    pub outbox: &'a Outbox,
    /// An error when RabbitMQ is down: the page still shows the directory side.
    pub queues: &'a Result<TenantQueues, AdminError>,
    pub activity: &'a [Activity],
    pub streams: &'a [EventStream],
    /// The tenant's own schema extensions (URNs) and its mapping into the product.
    pub extensions: &'a [String],
    pub mapping: &'a MappingView,
    /// The deprovisioning guard: its policy and what it holds.
    pub guard: &'a GuardView,
    /// Group members that name no user or group of the tenant, kept as sent.
    pub references: &'a crate::directory::member_refs::Summary,
    /// The role mapping, its re-derivation, and how many roles and entitlements are defined.
    pub roles: &'a RolesCard,
}

/// What the roles card shows.
pub struct RolesCard {
    pub mapping: super::api::roles::RoleMappingView,
    pub roles_defined: usize,
    pub entitlements_defined: usize,
}

pub fn tenant(p: &TenantPage) -> Markup {
    let TenantPage {
        csrf, tenant, counts, ..
    } = *p;
    let id = tenant.id;
    let live = tenant.token_issued_at.is_some();
    page(
        &tenant.name,
        Some(csrf),
        html! {
            h1 { (tenant.name) }
            p.muted {
                "Tenant " code #tenant-id { (id) } " · created " (time(&tenant.created_at))
                " · " (counts.users) " users (" (counts.active_users) " active) · " (counts.groups) " groups"
            }
            @match p.notice {
                Some(Notice::Revoked) => p.notice #notice {
                    "The token was revoked: the IdP's requests are refused until a new token is generated."
                },
                Some(Notice::Retried) => p.notice #notice { "The dead letter was sent back to the workers." },
                Some(Notice::Approved(n)) => p.notice #notice {
                    "Approved " (n) " held deactivations and deletes: they are on their way to the product."
                },
                Some(Notice::Rejected(n)) => p.notice #notice {
                    "Rejected " (n) " held deactivations and deletes: the product keeps those users until the IdP changes them again."
                },
                None => {},
            }
            (guard_banner(id, csrf, p.guard))
            section #provisioning .card {
                h2 { "User Provisioning" }
                dl {
                    dt { "SCIM connector base URL" }
                    dd { (copyable_base_url(p.base)) }
                    dt { "Unique identifier field for users" }
                    dd { code { "userName" } }
                    dt { "Authentication mode" }
                    dd { "HTTP Header: " code { "Authorization: Bearer <token>" } }
                    dt { "SCIM token" }
                    dd #token-status {
                        @match &tenant.token_issued_at {
                            Some(at) => { span.ok { "live" } ", issued " (time(at)) }
                            None => { span.warn { "none" } ": the IdP's requests are refused" }
                        }
                    }
                }
                div.actions {
                    form method="post" action={ "/admin/tenants/" (id) "/token" } class="inline"
                        data-confirm=[live.then_some(
                            "Generate a new token? The current token stops working at once: update the IdP with the new one.",
                        )] {
                        (csrf_field(csrf))
                        button type="submit" id="generate-token" {
                            @if live { "Generate new token" } @else { "Generate token" }
                        }
                    }
                    @if live {
                        form method="post" action={ "/admin/tenants/" (id) "/token/revoke" } class="inline"
                            data-confirm="Revoke the token? The IdP's requests are refused from now on." {
                            (csrf_field(csrf))
                            button type="submit" id="revoke-token" class="danger" { "Revoke token" }
                        }
                    }
                }
                p.muted { "A token is shown once, when it is generated. Generating a new one stops the old one at once." }
            }
            (sync_section(p.outbox, p.queues.as_ref().ok()))
            (dead_letter_section(id, csrf, p.queues))
            (event_stream_section(p.streams))
            (attributes_section(p.extensions, p.mapping))
            (roles_section(p.roles))
            (guard_section(p.guard))
            (references_section(p.references))
            (activity_section(p.activity))
        },
    )
}

/// The banner an operator cannot miss while the guard holds changes: how many, a sample, and
/// the decision.
fn guard_banner(tenant: Uuid, csrf: &str, g: &GuardView) -> Markup {
    if g.held.count == 0 {
        return html! {};
    }
    let more = g.held.count - g.held.sample.len() as i64;
    html! {
        section #guard-banner .banner {
            h2 { "Mass deprovisioning held: " (g.held.count) " deactivations and deletes" }
            p {
                "The IdP deprovisioned more users within " (g.window.minutes) " minutes than this tenant allows ("
                (g.window.allowed) "). The directory and the IdP already show them deprovisioned; "
                strong { "the product keeps them as they were" } " until you decide. A reactivation sent by the IdP releases a user from the hold."
            }
            ul #guard-sample {
                @for e in &g.held.sample {
                    li { code { (e.user_name) } " · " (e.kind) " · " (time(&e.at)) }
                }
                @if more > 0 { li.muted { "and " (more) " more" } }
            }
            div.actions {
                form method="post" action={ "/admin/tenants/" (tenant) "/deprovisioning-guard/approve" } class="inline"
                    data-confirm={ "Apply all " (g.held.count) " held deactivations and deletes to the product?" } {
                    (csrf_field(csrf))
                    button type="submit" id="guard-approve" class="danger" { "Approve all (" (g.held.count) ")" }
                }
                form method="post" action={ "/admin/tenants/" (tenant) "/deprovisioning-guard/reject" } class="inline"
                    data-confirm="Reject them? The product keeps these users until the IdP sends a later change for them." {
                    (csrf_field(csrf))
                    button type="submit" id="guard-reject" { "Reject all" }
                }
            }
        }
    }
}

fn guard_section(g: &GuardView) -> Markup {
    let p = &g.policy;
    html! {
        section #deprovisioning-guard .card {
            h2 { "Deprovisioning guard" }
            @if !p.enabled {
                p.warn #guard-off { "Off: every deactivation and delete reaches the product at once." }
            } @else {
                p.muted {
                    "Holds deactivations and deletes beyond " strong { (p.min_count) } " and "
                    strong { (format!("{}%", p.max_fraction * 100.0)) } " of the active users within "
                    (p.window_minutes) " minutes until approved or rejected"
                    @if p.grace_minutes > 0 { "; each one reaches the product only after " (p.grace_minutes) " minutes" }
                    ". Set it with " code { "PUT /admin/api/tenants/{id}/deprovisioning-guard" } "."
                }
                table.figures {
                    tbody {
                        tr { th { "Counted in the window" } td #guard-counted { (g.window.counted) " of " (g.window.allowed) " allowed" } }
                        tr { th { "Held" } td #guard-held { (g.held.count) } }
                        tr { th { "Waiting out the grace period" } td #guard-grace { (g.grace.count) } }
                        tr { th { "Rejected (kept in the product)" } td #guard-rejected { (g.rejected) } }
                        tr {
                            th { "Protected accounts" }
                            td #guard-protected {
                                @if p.protected.is_empty() { span.muted { "none" } }
                                @for (i, n) in p.protected.iter().enumerate() {
                                    @if i > 0 { ", " } code { (n) }
                                }
                            }
                        }
                    }
                }
                @if !g.protected_attempts.is_empty() {
                    p.warning #guard-attempts {
                        "Refused attempts on protected accounts: "
                        @for (i, a) in g.protected_attempts.iter().enumerate() {
                            @if i > 0 { "; " } code { (a.user_name) } " (" (a.kind) ", " (time(&a.at)) ")"
                        }
                    }
                }
            }
        }
    }
}

fn sync_section(outbox: &Outbox, queues: Option<&TenantQueues>) -> Markup {
    html! {
        section #sync .card {
            h2 { "Sync" }
            table.figures {
                tr {
                    th { "Changes not yet sent to RabbitMQ" }
                    td #outbox-pending {
                        (outbox.pending)
                        @if let Some(s) = outbox.oldest_pending_seconds { ", oldest " (age(s)) }
                    }
                }
                @if let Some(q) = queues {
                    tr {
                        th { "Waiting for workers (all tenants)" }
                        td #queue-depth {
                            (q.changes_queue.messages) " changes, "
                            @match q.changes_queue.consumers {
                                0 => span.error { "no worker" },
                                1 => "1 worker",
                                n => { (n) " workers" },
                            }
                            " consuming"
                            @if q.bulk_queue.messages > 0 {
                                "; " (q.bulk_queue.messages) " more in the bulk lane (tenants past their interactive share)"
                            }
                        }
                    }
                    tr {
                        th { "Dead letters" }
                        td #dead-letter-count {
                            (q.dead_letters.len()) " of this tenant, " (q.dead_letters_total) " in all"
                        }
                    }
                } @else {
                    tr {
                        th { "RabbitMQ" }
                        td.error { "not reachable: queue figures and dead letters cannot be shown right now" }
                    }
                }
            }
            p.muted {
                "A change is committed with the directory, sent to RabbitMQ, then applied by a worker. A backlog here means RabbitMQ or the workers are behind or down."
            }
        }
    }
}

fn attributes_section(extensions: &[String], mapping: &MappingView) -> Markup {
    html! {
        section #attributes .card {
            h2 { "Attributes" }
            table.figures {
                tr {
                    th { "Own schema extensions" }
                    td #extensions {
                        @if extensions.is_empty() { "none" }
                        @for (i, urn) in extensions.iter().enumerate() {
                            @if i > 0 { ", " }
                            code { (urn) }
                        }
                    }
                }
                tr {
                    th { "Mapping into the product" }
                    td #mapping {
                        @if mapping.mappings.is_empty() { "the default columns only" }
                        @for (i, r) in mapping.mappings.iter().enumerate() {
                            @if i > 0 { br; }
                            code { (r.from) } " → " code { (r.to) }
                        }
                    }
                }
                @if let Some(b) = &mapping.backfill {
                    tr {
                        th { "Backfill" }
                        td #backfill {
                            (b.done) " of " (b.total) " users sent again"
                            @if b.running { span.warn { " (running)" } } @else { span.ok { " (done)" } }
                        }
                    }
                }
            }
            p.muted { "Defined and changed through /admin/api (see docs/attributes.md)." }
        }
    }
}

fn roles_section(card: &RolesCard) -> Markup {
    let m = &card.mapping;
    html! {
        section #roles .card {
            h2 { "Roles and entitlements" }
            table.figures {
                tr {
                    th { "Roles from groups" }
                    td #role-mapping {
                        @if m.rules.is_empty() { "none" }
                        @for (i, r) in m.rules.iter().enumerate() {
                            @if i > 0 { br; }
                            "group " code { (r.group) } " → role " code { (r.role) } " (priority " (r.priority) ")"
                        }
                    }
                }
                @if let Some(d) = &m.rederivation {
                    tr {
                        th { "Re-derivation" }
                        td #rederivation {
                            @if d.derived_version < d.version {
                                "version " (d.version) " queued for the workers" span.warn { " (waiting)" }
                            } @else {
                                (d.done) " of " (d.total) " users re-derived (version " (d.version) ")"
                                @if d.running { span.warn { " (running)" } } @else { span.ok { " (done)" } }
                            }
                        }
                    }
                }
                tr {
                    th { "Defined" }
                    td #access-defined {
                        (card.roles_defined) " roles, " (card.entitlements_defined) " entitlements (listed by "
                        code { "/Roles" } " and " code { "/Entitlements" } ")"
                    }
                }
            }
            p.muted { "Defined and changed through /admin/api (see docs/roles.md)." }
        }
    }
}

/// Most references the page lists.
pub const REFERENCES_SHOWN: i64 = 20;

fn references_section(r: &crate::directory::member_refs::Summary) -> Markup {
    html! {
        section #member-references .card {
            h2 { "Unknown group members" }
            @if r.total == 0 {
                p.muted { "Every group member names a user or a group of this tenant." }
            } @else {
                p.warn #references-count {
                    "Group members naming no user or group of this tenant: " (r.total) ". They are kept "
                    "and shown to the IdP as it sent them, and never reach the product: usually users "
                    "deleted while a group push was in flight, or never provisioned."
                }
                table {
                    tr { th { "Group" } th { "Member as sent" } }
                    @for (group, value) in &r.sample {
                        tr { td { (group) } td { code { (value) } } }
                    }
                }
                @if r.total > r.sample.len() as i64 {
                    p.muted { "… and " (r.total - r.sample.len() as i64) " more; " code { "scim-worker verify" } " lists them all." }
                }
            }
        }
    }
}

fn event_stream_section(streams: &[EventStream]) -> Markup {
    html! {
        section #event-streams .card {
            h2 { "Event streams" }
            @if streams.is_empty() {
                p.muted { "None. Streams are created through /admin/api (see docs/events.md)." }
            } @else {
                table {
                    tr { th { "Stream" } th { "Delivery" } th { "Position" } th { "Backlog" } th { "Last delivery" } th { "State" } }
                    @for s in streams {
                        tr.event-stream {
                            td { code { (s.stream_id) } }
                            td {
                                (s.delivery) " "
                                @if let Some(e) = &s.endpoint { code { (e) } }
                                @if let Some(u) = &s.poll_url { code { (u) } }
                            }
                            td { (s.position) }
                            td { (s.backlog) @if s.unacknowledged > 0 { " (" (s.unacknowledged) " unacknowledged)" } }
                            td { @match &s.last_delivery_at { Some(at) => (time(at)), None => "never" } }
                            td {
                                @if let Some(r) = &s.paused_reason {
                                    span.error { "paused: " (r) }
                                } @else if let Some(e) = &s.last_error {
                                    span.warn { "last error: " (e) }
                                } @else {
                                    span.ok { "ok" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn dead_letter_section(tenant: Uuid, csrf: &str, queues: &Result<TenantQueues, AdminError>) -> Markup {
    let Ok(q) = queues else {
        return html! {
            section #dead-letters .card { h2 { "Dead letters" } p.error { "RabbitMQ is not reachable." } }
        };
    };
    let capped = q.examined >= MAX_EXAMINED && (q.dead_letters_total as usize) > q.examined;
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
    html! {
        section #dead-letters .card {
            h2 { "Dead letters" }
            @if q.dead_letters.is_empty() {
                p.muted #no-dead-letters { "None: every change of this tenant was applied or is on its way." }
            } @else {
                p.muted {
                    "Changes the workers could not apply. Fix the cause (the reason says what failed), then Retry: the change goes back to the workers."
                }
                table {
                    thead { tr { th { "Failed at" } th { "Change" } th { "Resource" } th { "Reason" } th { "Attempts" } th {} } }
                    tbody {
                        @for l in &q.dead_letters {
                            tr.dead-letter data-letter=(or_dash(&l.id)) {
                                td {
                                    @match l.failed_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
                                        Some(t) => (time(&t.with_timezone(&chrono::Utc))),
                                        None => (or_dash(&l.failed_at)),
                                    }
                                }
                                td { code { (or_dash(&l.routing_key)) } }
                                td { (or_dash(&l.resource_id)) }
                                td.reason { (or_dash(&l.reason)) }
                                td {
                                    @match l.attempts { Some(a) => (a), None => "–" }
                                }
                                td {
                                    @if let Some(letter) = l.id.as_ref().or(l.message_id.as_ref()) {
                                        form method="post" action={ "/admin/tenants/" (tenant) "/dead-letters/" (urlencode(letter)) "/retry" } class="inline" {
                                            (csrf_field(csrf))
                                            button type="submit" class="retry" { "Retry" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if capped {
                p.warning {
                    "Only the first " (q.examined) " of " (q.dead_letters_total) " dead letters were examined; use "
                    code { "scim-worker dlq list" } " for all."
                }
            }
        }
    }
}

fn activity_section(rows: &[Activity]) -> Markup {
    html! {
        section #activity .card {
            h2 { "Recent activity" }
            @if rows.is_empty() {
                p.muted #no-activity { "No SCIM requests yet." }
            } @else {
                table {
                    thead {
                        tr {
                            th { "Time" } th { "IdP operation" } th { "Resource" } th { "Result" }
                            th { "Latency" } th { "Client" } th { "Trace id" }
                        }
                    }
                    tbody { @for a in rows { (activity_row(a)) } }
                }
                p.muted {
                    "The latest " (ACTIVITY_ROWS) " requests. The activity log is best-effort: under extreme load rows may be dropped rather than slow the IdP down."
                }
            }
        }
    }
}

fn activity_row(a: &Activity) -> Markup {
    html! {
        tr.activity {
            td { (time(&a.at)) }
            td { (a.operation()) " " code { (a.method) " " (a.route) } }
            td {
                @match (&a.resource_type, &a.resource_id) {
                    (Some(t), Some(id)) => { (t) " " code { (id) } },
                    (Some(t), None) => (t),
                    _ => "–",
                }
            }
            td class=(if a.status >= 400 { "error" } else { "ok" }) { (a.status) " " (a.outcome) }
            td { (a.latency_ms) " ms" }
            td {
                @if let Some(idp) = a.idp() { (idp) " " }
                span.muted { (a.client.as_deref().unwrap_or("")) }
            }
            td { code.trace title="grep the api and worker logs for this trace_id" { (a.trace_id.as_deref().unwrap_or("")) } }
        }
    }
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
        let html = new_token("", &t, "scimr_abc", "https://x/scim/v2", "New").into_string();
        assert!(html.contains("&lt;img src=x&gt;"));
        assert!(!html.contains("<img"));
        // The end-to-end tests read the token off the page by this markup.
        assert!(html.contains(r#"<input id="token" class="secret" readonly value="scimr_abc">"#));
    }
}
