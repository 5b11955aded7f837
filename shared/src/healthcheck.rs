//! The `healthcheck` subcommand of both binaries: a dependency-free HTTP/1.0 GET, so container
//! images need no curl.

use std::io::{Read, Write};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("healthcheck URL must look like http://host:port/path")]
    BadUrl,
    #[error("could not reach {0}: {1}")]
    Io(String, std::io::Error),
    #[error("unhealthy: {0}")]
    Status(String),
}

/// Succeeds iff `url` answers 200.
pub fn check(url: &str) -> Result<(), HealthError> {
    let rest = url.strip_prefix("http://").ok_or(HealthError::BadUrl)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let io = |e| HealthError::Io(authority.to_owned(), e);
    let mut stream = std::net::TcpStream::connect(authority).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    let status_line = response.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(HealthError::Status(status_line.to_owned()))
    }
}
