//! Which push endpoints a stream may have: `https`, and not an address inside this network
//! (loopback, private, link-local, unique-local, unspecified, multicast, CGNAT, documentation),
//! so that a tenant cannot make this server POST into the network it runs in (SSRF). A name is
//! checked by every address it resolves to now; the deliverer checks the address it connects
//! to again, since a name can resolve elsewhere later.

use std::net::IpAddr;

use url::Url;

/// Why an endpoint is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the endpoint is not a URL: {0}")]
    NotAUrl(String),
    #[error("the endpoint must use https (EVENTS_ALLOW_INSECURE_ENDPOINTS=1 allows http, for development)")]
    NotHttps,
    #[error("the endpoint has no host")]
    NoHost,
    #[error("the endpoint's host {0} does not resolve")]
    Unresolved(String),
    #[error(
        "the endpoint's host resolves to {0}, an address inside this network \
         (EVENTS_ALLOW_INSECURE_ENDPOINTS=1 allows it, for development)"
    )]
    Internal(IpAddr),
}

/// Checks `endpoint`; `insecure` lifts the scheme and address rules.
pub async fn check(endpoint: &str, insecure: bool) -> Result<Url, Refused> {
    let url = Url::parse(endpoint).map_err(|e| Refused::NotAUrl(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if insecure => {}
        _ => return Err(Refused::NotHttps),
    }
    let host = url.host_str().ok_or(Refused::NoHost)?.to_owned();
    if insecure {
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| Refused::Unresolved(host.clone()))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Refused::Unresolved(host));
    }
    match addrs.into_iter().find(|ip| internal(*ip)) {
        Some(ip) => Err(Refused::Internal(ip)),
        None => Ok(url),
    }
}

/// The checks that need no name resolution (scheme; an address written in the URL), for the
/// deliverer, whose resolver checks the addresses of names.
pub fn check_literal(endpoint: &str) -> Result<(), Refused> {
    let url = Url::parse(endpoint).map_err(|e| Refused::NotAUrl(e.to_string()))?;
    if url.scheme() != "https" {
        return Err(Refused::NotHttps);
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if internal(IpAddr::V4(ip)) => Err(Refused::Internal(IpAddr::V4(ip))),
        Some(url::Host::Ipv6(ip)) if internal(IpAddr::V6(ip)) => Err(Refused::Internal(IpAddr::V6(ip))),
        Some(_) => Ok(()),
        None => Err(Refused::NoHost),
    }
}

/// Whether an address is one this server must not be made to call.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT; 0.0.0.0/8; 198.18.0.0/15, benchmarking.
                || (a == 100 && (64..128).contains(&b))
                || a == 0
                || (a == 198 && (b == 18 || b == 19))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link local, 2001:db8::/32 documentation.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_public_https_endpoints_pass() {
        for bad in [
            "http://93.184.215.14/hook",
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://172.16.0.1/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[fd00::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://100.64.0.1/hook",
            "https://0.0.0.0/hook",
            "https://localhost/hook",
            "ftp://93.184.215.14/hook",
            "not a url",
        ] {
            assert!(check(bad, false).await.is_err(), "{bad} passed");
        }
        assert!(check("https://93.184.215.14/hook", false).await.is_ok());
        assert!(
            check("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook", false)
                .await
                .is_ok()
        );
    }

    #[test]
    fn literal_addresses_are_checked_without_resolving() {
        assert!(check_literal("https://10.0.0.1/x").is_err());
        assert!(check_literal("https://[::1]/x").is_err());
        assert!(check_literal("http://93.184.215.14/x").is_err());
        assert!(check_literal("https://93.184.215.14/x").is_ok());
        assert!(check_literal("https://receiver.example/x").is_ok());
    }

    #[tokio::test]
    async fn insecure_allows_local_http() {
        assert!(check("http://127.0.0.1:9999/hook", true).await.is_ok());
        assert_eq!(check("ftp://127.0.0.1/x", true).await, Err(Refused::NotHttps));
    }
}
