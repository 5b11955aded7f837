//! Server-rendered HTML for the admin page: one layout, escaping for every value that goes into
//! it, and a few formatting helpers. Pages load only /admin/assets/* (the CSP allows nothing else).

use axum::http::StatusCode;
use chrono::{DateTime, Utc};

/// Escapes text for element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// A whole page. `csrf` is the session's token when signed in (for the sign-out form).
pub fn page(title: &str, csrf: Option<&str>, body: &str) -> String {
    let nav = match csrf {
        Some(token) => format!(
            r#"<nav><a href="/admin">Tenants</a>
<form method="post" action="/admin/logout" class="inline">{}<button type="submit" class="link">Sign out</button></form></nav>"#,
            csrf_field(token)
        ),
        None => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · scim-relay admin</title>
<link rel="stylesheet" href="/admin/assets/admin.css"><script src="/admin/assets/admin.js" defer></script></head>
<body><header><span class="brand">scim-relay admin</span>{nav}</header>
<main>{body}</main></body></html>"#,
        title = esc(title),
    )
}

/// The form field that carries a session's CSRF token (checked by `csrf`).
pub const CSRF_FIELD: &str = "csrf";

pub fn csrf_field(token: &str) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        CSRF_FIELD,
        esc(token)
    )
}

pub fn error_page(status: StatusCode, detail: &str) -> String {
    page(
        status.canonical_reason().unwrap_or("Error"),
        None,
        &format!(
            r#"<h1>{} {}</h1><p class="error">{}</p><p><a href="/admin">Back to the admin page</a></p>"#,
            status.as_u16(),
            esc(status.canonical_reason().unwrap_or("")),
            esc(detail)
        ),
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
    fn markup_in_values_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn titles_are_escaped_in_the_layout() {
        let html = page("<b>Acme</b>", None, "");
        assert!(html.contains("&lt;b&gt;Acme&lt;/b&gt;"));
        assert!(!html.contains("<b>Acme"));
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(4.2), "4 s");
        assert_eq!(age(600.0), "10 min");
        assert_eq!(age(3.0 * 86_400.0), "3 d");
    }
}
