//! Server-rendered HTML for the admin page: one layout and a few formatting helpers. Markup is
//! written with maud, which checks it at compile time and escapes every value put into it. Pages
//! load only /admin/assets/* (the CSP allows nothing else).

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

/// A whole page. `csrf` is the session's token when signed in (for the sign-out form).
pub fn page(title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · scim-relay admin" }
                link rel="stylesheet" href="/admin/assets/admin.css";
                script src="/admin/assets/admin.js" defer {}
            }
            body {
                header {
                    span.brand { "scim-relay admin" }
                    @if let Some(token) = csrf {
                        nav {
                            a href="/admin" { "Tenants" }
                            form method="post" action="/admin/logout" class="inline" {
                                (csrf_field(token))
                                button type="submit" class="link" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The form field that carries a session's CSRF token (checked by `csrf`).
pub const CSRF_FIELD: &str = "csrf";

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

pub fn error_page(status: StatusCode, detail: &str) -> Markup {
    let reason = status.canonical_reason();
    page(
        reason.unwrap_or("Error"),
        None,
        html! {
            h1 { (status.as_u16()) " " (reason.unwrap_or("")) }
            p.error { (detail) }
            p { a href="/admin" { "Back to the admin page" } }
        },
    )
}

pub fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "4 s", "3 min", "2 h", "5 d".
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.0} h", s / 3600.0)
    } else {
        format!("{:.0} d", s / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_escaped_in_the_layout() {
        let html = page("<b>Acme</b>", None, html! {}).into_string();
        assert!(html.contains("&lt;b&gt;Acme&lt;/b&gt;"));
        assert!(!html.contains("<b>Acme"));
    }

    #[test]
    fn error_details_are_escaped() {
        let html = error_page(StatusCode::BAD_REQUEST, r#"<script>alert("x")</script> & y"#).into_string();
        assert!(
            html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; y"),
            "{html}"
        );
        assert!(html.contains("<h1>400 Bad Request</h1>"), "{html}");
    }

    #[test]
    fn the_csrf_field_is_what_the_check_reads() {
        assert_eq!(
            csrf_field(r#"a"b"#).into_string(),
            r#"<input type="hidden" name="csrf" value="a&quot;b">"#
        );
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(4.2), "4 s");
        assert_eq!(age(600.0), "10 min");
        assert_eq!(age(3.0 * 86_400.0), "3 d");
    }
}
