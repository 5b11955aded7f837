//! Which `Host` headers may name this server. Without `SCIM_PUBLIC_URL`, resource locations
//! (`meta.location`, `Location`) are built from the request's `Host`; a forged one would put an
//! attacker's origin into what an IdP stores. So only hosts on this list are used, and any other
//! is refused with 421 Misdirected Request, telling the operator to set `SCIM_PUBLIC_URL`.

use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// `*`: any host (for a trusted proxy that rewrites `Host`).
    Any,
    /// A host name or address, lower-cased, with the port if one was given.
    Host { name: String, port: Option<u16> },
}

/// Development defaults: the loopback names a local IdP simulator or curl uses.
pub const DEFAULT: &str = "localhost,127.0.0.1,[::1]";

impl FromStr for AllowedHosts {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let entries = s
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                if e == "*" {
                    return Ok(Entry::Any);
                }
                let (name, port) = split(e).ok_or_else(|| format!("'{e}' is not a host or host:port"))?;
                let port = port
                    .map(|p| p.parse::<u16>().map_err(|_| format!("'{e}' has an invalid port")))
                    .transpose()?;
                Ok(Entry::Host { name, port })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { entries })
    }
}

impl AllowedHosts {
    /// Whether a `Host` header value names this server.
    pub fn allows(&self, host: &str) -> bool {
        let Some((name, port)) = split(host) else {
            return false;
        };
        let port = match port.map(str::parse::<u16>) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(_)) => return false,
        };
        self.entries.iter().any(|e| match e {
            Entry::Any => true,
            Entry::Host { name: n, port: p } => *n == name && (p.is_none() || *p == port),
        })
    }
}

/// `host[:port]` or `[v6][:port]`, the name lower-cased; `None` for anything that is not a
/// plausible host (empty, spaces, a path, several colons outside brackets).
fn split(s: &str) -> Option<(String, Option<&str>)> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let (name, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return None;
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{v6}]"), port)
    } else {
        let (name, port) = match s.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        if name.is_empty() || !name.chars().all(valid) {
            return None;
        }
        (name.to_owned(), port)
    };
    Some((name.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_allow_loopback_on_any_port_and_nothing_else() {
        let h: AllowedHosts = DEFAULT.parse().expect("defaults parse");
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:43123",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1:x",
            "",
            "a b",
            "[::1]x",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
    }

    #[test]
    fn an_entry_with_a_port_allows_only_that_port() {
        let h: AllowedHosts = "scim.example.com:443".parse().expect("parses");
        assert!(h.allows("scim.example.com:443"));
        assert!(!h.allows("scim.example.com:8443"));
        assert!(!h.allows("scim.example.com"));
    }

    #[test]
    fn a_star_allows_any_plausible_host() {
        let h: AllowedHosts = "*".parse().expect("parses");
        assert!(h.allows("anything.example:1"));
        assert!(!h.allows("not a host"));
    }

    #[test]
    fn malformed_entries_are_refused_at_start() {
        assert!("scim.example.com:http".parse::<AllowedHosts>().is_err());
        assert!("/path".parse::<AllowedHosts>().is_err());
    }
}
