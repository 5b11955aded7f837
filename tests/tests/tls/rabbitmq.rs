//! RabbitMQ over TLS: a private node (as scripts/chaos starts one) whose only listener is
//! TLS, with a certificate for `localhost` from the test CA, that requires a client certificate
//! from the same CA (`verify_peer` + `fail_if_no_peer_cert`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use shared::amqp::{AmqpError, connect};
use shared::config::AmqpConfig;
use tests::{Services, TestEnv, okta_user};
use uuid::Uuid;

use crate::pki::{Issued, Pki};

struct PrivateRabbit {
    node: String,
    port: u16,
}

impl PrivateRabbit {
    fn start(pki: &Pki) -> Self {
        let server = pki.issue("mq-server", &["localhost"]);
        let root = pki.dir.join("mq");
        for d in ["mnesia", "log"] {
            std::fs::create_dir_all(root.join(d)).expect("mq dir");
        }
        let (port, dist_port) = (crate::free_port(), crate::free_port());
        let node = format!("scimtls{}@localhost", &Uuid::new_v4().simple().to_string()[..12]);
        let conf = format!(
            "listeners.tcp = none\n\
             listeners.ssl.default = 127.0.0.1:{port}\n\
             ssl_options.cacertfile = {ca}\n\
             ssl_options.certfile = {cert}\n\
             ssl_options.keyfile = {key}\n\
             ssl_options.verify = verify_peer\n\
             ssl_options.fail_if_no_peer_cert = true\n",
            ca = pki.ca.display(),
            cert = server.cert.display(),
            key = server.key.display(),
        );
        std::fs::write(root.join("rabbitmq.conf"), conf).expect("rabbitmq.conf");
        std::fs::write(root.join("enabled_plugins"), "[].\n").expect("enabled_plugins");
        // rabbitmq-server drops to the rabbitmq user when started as root.
        pki.give_to(&root, "rabbitmq");
        pki.give_to(&server.key, "rabbitmq");
        let started = Command::new("rabbitmq-server")
            .arg("-detached")
            .current_dir(&root)
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_CONFIG_FILE", root.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", root.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", root.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", root.join("log"))
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("rabbitmq-server");
        assert!(started.success(), "rabbitmq-server -detached failed");
        let me = Self { node, port };
        let deadline = Instant::now() + Duration::from_secs(90);
        while !me.ctl(&["await_startup", "--timeout", "10"]) {
            assert!(
                Instant::now() < deadline,
                "private RabbitMQ node did not start; log: {}",
                logs(&root.join("log"))
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        me
    }

    fn ctl(&self, args: &[&str]) -> bool {
        Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.node])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("amqps://guest:guest@{host}:{}/%2f?{query}", self.port)
    }
}

fn logs(dir: &std::path::Path) -> String {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        self.ctl(&["stop"]);
    }
}

fn files(ca: Option<&PathBuf>, client: Option<&Issued>) -> String {
    let mut q = Vec::new();
    if let Some(ca) = ca {
        q.push(format!("cacertfile={}", ca.display()));
    }
    if let Some(c) = client {
        q.push(format!(
            "certfile={}&keyfile={}",
            c.cert.display(),
            c.key.display()
        ));
    }
    q.join("&")
}

async fn refused(url: String) -> String {
    match connect(&AmqpConfig::new(url.clone()), "tls-test").await {
        Ok(_) => panic!("connected to {url}, which should have been refused"),
        Err(AmqpError::Timeout(t)) => panic!("no answer within {t:?} from {url}; a refusal was expected"),
        Err(e) => crate::chain(&e),
    }
}

#[tokio::test]
async fn changes_are_published_and_consumed_over_amqps_and_untrusted_certificates_are_refused() {
    let pki = Pki::new("mq");
    let mq = PrivateRabbit::start(&pki);
    let client = pki.issue("mq-client", &["scim-relay"]);
    let good = mq.url("localhost", &files(Some(&pki.ca), Some(&client)));

    // The refusals, each a handshake that fails for one reason.
    // Only the system's CAs: the test CA is not among them.
    let err = refused(mq.url("localhost", &files(None, Some(&client)))).await;
    assert!(
        err.contains("invalid peer certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );
    // Another CA's certificate as the trust anchor: the server's chain does not lead to it.
    let stranger = Pki::new("stranger");
    let err = refused(mq.url("localhost", &files(Some(&stranger.ca), Some(&client)))).await;
    assert!(
        err.contains("invalid peer certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );
    // The right CA, but a name the server's certificate does not carry.
    let err = refused(mq.url("127.0.0.1", &files(Some(&pki.ca), Some(&client)))).await;
    assert!(
        err.contains("invalid peer certificate: certificate not valid for name \"127.0.0.1\""),
        "{err}"
    );
    // The broker refuses a client without a certificate, and one from a CA it does not trust.
    refused(mq.url("localhost", &files(Some(&pki.ca), None))).await;
    let outsider = stranger.issue("outsider", &["scim-relay"]);
    refused(mq.url("localhost", &files(Some(&pki.ca), Some(&outsider)))).await;
    // Settings that cannot work are said so before any connection.
    let err = refused(format!(
        "amqp://guest:guest@localhost:{}/%2f?cacertfile=/x",
        mq.port
    ))
    .await;
    assert!(err.contains("only an amqps:// URL uses"), "{err}");

    // The whole path over amqps: the api publishes, the worker consumes and applies.
    let env = TestEnv::on(Services {
        postgres: Services::local().postgres,
        amqp_url: good,
    })
    .await;
    let (api, _worker, db) =
        crate::user_reaches_product(&env, okta_user("grace@example.com", "Grace", "Hopper")).await;
    assert!(
        !api.log().contains("rabbitmq not reachable"),
        "the api could not reach the broker: {}",
        api.log()
    );
    let _ = db.close().await;
}
