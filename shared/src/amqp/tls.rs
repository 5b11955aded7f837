//! TLS settings of an `amqps://` URL. They travel in the URL's query, with the names of
//! RabbitMQ's URI query parameters (`cacertfile`, `certfile`, `keyfile`), so that AMQP_URL (or
//! AMQP_URL_FILE) is the one setting every process and command needs, as DATABASE_URL is for
//! Postgres with `sslrootcert`, `sslcert` and `sslkey`:
//!
//! `amqps://user:pass@mq.example.com:5671/vhost?cacertfile=/etc/scim/mq-ca.pem`
//!
//! The server certificate is always verified, against the system's CA bundle plus `cacertfile`,
//! and must name the URL's host. `certfile` + `keyfile` (PEM, key unencrypted) present a client
//! certificate; add `auth_mechanism=external` to log in with it instead of a password.
//!
//! The files are read at each connect, so a renewed client certificate is used from the next
//! reconnection on.

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};

pub const CA_FILE: &str = "cacertfile";
pub const CERT_FILE: &str = "certfile";
pub const KEY_FILE: &str = "keyfile";

#[derive(Debug, thiserror::Error)]
pub enum TlsSettingsError {
    #[error("AMQP_URL is not a valid URL: {0}")]
    Url(url::ParseError),
    #[error("AMQP_URL names {0}, which only an amqps:// URL uses; use amqps:// (port 5671)")]
    NotAmqps(&'static str),
    #[error("AMQP_URL names {0} without {1}; a client certificate needs both")]
    HalfIdentity(&'static str, &'static str),
    #[error("AMQP_URL {param} {path} cannot be read: {source}")]
    Unreadable {
        param: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// The TLS configuration lapin gets for `url`: empty (system roots, no client certificate) unless
/// the query names files.
pub fn config(url: &str) -> Result<OwnedTLSConfig, TlsSettingsError> {
    let parsed = url::Url::parse(url).map_err(TlsSettingsError::Url)?;
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    };
    let (ca, cert, key) = (param(CA_FILE), param(CERT_FILE), param(KEY_FILE));
    if parsed.scheme() != "amqps" {
        for (name, given) in [(CA_FILE, &ca), (CERT_FILE, &cert), (KEY_FILE, &key)] {
            if given.is_some() {
                return Err(TlsSettingsError::NotAmqps(name));
            }
        }
        return Ok(OwnedTLSConfig::default());
    }
    let read = |param: &'static str, path: &str| {
        std::fs::read(path).map_err(|source| TlsSettingsError::Unreadable {
            param,
            path: path.to_owned(),
            source,
        })
    };
    let cert_chain = match &ca {
        Some(path) => Some(String::from_utf8_lossy(&read(CA_FILE, path)?).into_owned()),
        None => None,
    };
    let identity = match (&cert, &key) {
        (Some(c), Some(k)) => Some(OwnedIdentity::PKCS8 {
            pem: read(CERT_FILE, c)?,
            key: read(KEY_FILE, k)?,
        }),
        (Some(_), None) => return Err(TlsSettingsError::HalfIdentity(CERT_FILE, KEY_FILE)),
        (None, Some(_)) => return Err(TlsSettingsError::HalfIdentity(KEY_FILE, CERT_FILE)),
        (None, None) => None,
    };
    Ok(OwnedTLSConfig { identity, cert_chain })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_needs_no_tls_settings() {
        assert_eq!(
            config("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap(),
            OwnedTLSConfig::default()
        );
        assert_eq!(
            config("amqps://u:p@mq.example.com/%2f").unwrap(),
            OwnedTLSConfig::default()
        );
    }

    #[test]
    fn tls_files_on_a_plain_url_are_refused_rather_than_ignored() {
        let err = config("amqp://u:p@mq/%2f?cacertfile=/ca.pem").unwrap_err();
        assert!(matches!(err, TlsSettingsError::NotAmqps(CA_FILE)), "{err}");
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let err = config("amqps://mq/%2f?certfile=/c.pem").unwrap_err();
        assert!(
            matches!(err, TlsSettingsError::HalfIdentity(CERT_FILE, KEY_FILE)),
            "{err}"
        );
    }

    #[test]
    fn files_are_read_and_a_missing_one_is_named() {
        let dir = std::env::temp_dir().join(format!("scim-amqp-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (f, text) in [("ca.pem", "CA"), ("c.pem", "CERT"), ("k.pem", "KEY")] {
            std::fs::write(dir.join(f), text).unwrap();
        }
        let d = dir.display();
        let cfg = config(&format!(
            "amqps://mq/%2f?cacertfile={d}/ca.pem&certfile={d}/c.pem&keyfile={d}/k.pem&heartbeat=10"
        ))
        .unwrap();
        assert_eq!(cfg.cert_chain.as_deref(), Some("CA"));
        assert_eq!(
            cfg.identity,
            Some(OwnedIdentity::PKCS8 {
                pem: b"CERT".to_vec(),
                key: b"KEY".to_vec()
            })
        );
        let err = config(&format!("amqps://mq/%2f?cacertfile={d}/missing.pem")).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            err.to_string()
                .starts_with(&format!("AMQP_URL cacertfile {d}/missing.pem cannot be read")),
            "{err}"
        );
    }
}
