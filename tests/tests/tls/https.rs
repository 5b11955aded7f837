//! The api's own https listener (SCIM_TLS_CERT / SCIM_TLS_KEY): SCIM over https, and a renewed
//! certificate taken up without a restart, while a broken renewal leaves the old one in use.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tests::{Api, TestEnv, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::pki::{Issued, Pki};

/// What one https request got: the status and the server's certificate.
struct Answer {
    status: u16,
    leaf: Vec<u8>,
}

fn connector(ca: &Path) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_file_iter(ca).expect("ca") {
        let cert: CertificateDer = cert.expect("ca pem");
        roots.add(cert).expect("add ca");
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A GET over https to `localhost` (verified against `ca`), HTTP/1.1 by hand.
async fn get(api: &Api, ca: &Path, path: &str, token: Option<&str>) -> std::io::Result<Answer> {
    let addr = api.base.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector(ca).connect(name, tcp).await?;
    let leaf = tls.get_ref().1.peer_certificates().expect("peer certificate")[0].to_vec();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/scim+json\r\n{auth}Connection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer).await {
        Ok(_) => {}
        // A peer that closes without close_notify still sent the whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Ok(Answer { status, leaf })
}

/// Puts a certificate in place the way a renewal does: written beside, then renamed over.
fn install(issued: &Issued, cert: &Path, key: &Path) {
    let tmp = cert.with_extension("new");
    std::fs::copy(&issued.key, &tmp).expect("copy key");
    std::fs::rename(&tmp, key).expect("rename key");
    std::fs::copy(&issued.cert, &tmp).expect("copy cert");
    std::fs::rename(&tmp, cert).expect("rename cert");
}

#[tokio::test]
async fn the_api_serves_scim_over_https_and_takes_up_a_renewed_certificate() {
    let pki = Pki::new("https");
    let first = pki.issue("first", &["localhost"]);
    let second = pki.issue("second", &["localhost"]);
    let (cert, key) = (pki.dir.join("live.pem"), pki.dir.join("live.key"));
    install(&first, &cert, &key);

    let env = TestEnv::new().await;
    let (_, token) = env.create_tenant("https");
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let api = env
        .spawn_api_with(&[
            ("SCIM_TLS_CERT", &cert_s),
            ("SCIM_TLS_KEY", &key_s),
            ("SCIM_TLS_RELOAD_SECS", "1"),
            ("SCIM_PUBLIC_URL", "https://localhost"),
        ])
        .await;
    assert!(api.base.starts_with("https://"), "{}", api.base);

    let a = get(&api, &pki.ca, "/scim/v2/Users", Some(&token))
        .await
        .expect("https request");
    assert_eq!(a.status, 200);
    assert_eq!(a.leaf, first.der);
    let a = get(&api, &pki.ca, "/scim/v2/Users", Some("scimr_wrong"))
        .await
        .expect("https request");
    assert_eq!(a.status, 401);

    // A client that does not trust the CA gets no answer.
    let stranger = Pki::new("stranger");
    let err = get(&api, &stranger.ca, "/healthz", None)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // Plain http on the https port gets no HTTP answer.
    let plain = env
        .http
        .get(api.base.replace("https://", "http://") + "/healthz")
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    // A renewal that went wrong (the new key with the old certificate) is refused; the
    // previous certificate stays in use.
    std::fs::copy(&second.key, &key).expect("mismatched key");
    eventually("the api reports the unusable certificate files", || async {
        api.log().contains("do not load")
    })
    .await;
    let a = get(&api, &pki.ca, "/healthz", None).await.expect("https request");
    assert_eq!(a.leaf, first.der);

    // The completed renewal is served to new connections without a restart.
    install(&second, &cert, &key);
    eventually("new connections get the renewed certificate", || async {
        get(&api, &pki.ca, "/healthz", None)
            .await
            .is_ok_and(|a| a.status == 200 && a.leaf == second.der)
    })
    .await;
    assert!(api.log().contains("TLS certificate reloaded"), "{}", api.log());
}

/// Over https as over plain http, a client still writing a body the api refused from its head
/// (413 by Content-Length) reads the answer: the close lingers under TLS too (close_notify,
/// then the rest of the body read and discarded).
#[tokio::test]
async fn a_client_still_writing_a_refused_body_reads_the_answer_over_https() {
    let pki = Pki::new("linger");
    let issued = pki.issue("linger", &["localhost"]);
    let env = TestEnv::new().await;
    let (_, token) = env.create_tenant("linger");
    let (cert, key) = (
        issued.cert.display().to_string(),
        issued.key.display().to_string(),
    );
    let api = env
        .spawn_api_with(&[("SCIM_TLS_CERT", &cert), ("SCIM_TLS_KEY", &key)])
        .await;
    let addr = api.base.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector(&pki.ca).connect(name, tcp).await.unwrap();
    let answer = tests::post_after_an_early_answer(&mut tls, "localhost", &token, 4 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}
