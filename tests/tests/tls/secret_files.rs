//! Secret settings from files (`<NAME>_FILE`): the binaries run with DATABASE_URL_FILE and
//! AMQP_URL_FILE instead of the URLs, which then appear nowhere another user of the host (or a
//! log reader) can see them; and both forms at once stop the start.

use tests::{TestEnv, command_with, okta_user};

use crate::pki::Pki;

/// `postgres://postgres@host/db` with a password that trust authentication ignores, so that
/// there is a secret to look for.
fn with_password(url: &str, password: &str) -> String {
    url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{password}@"),
        1,
    )
}

#[tokio::test]
async fn urls_are_read_from_files_and_appear_in_no_log_command_line_or_environment() {
    let env = TestEnv::new().await;
    let dir = Pki::new("secrets");
    let password = format!("pw{}", uuid::Uuid::new_v4().simple());
    let db_url = with_password(&env.db_url, &password);
    let (db_file, amqp_file) = (dir.dir.join("database_url"), dir.dir.join("amqp_url"));
    // As `echo` or a mounted secret writes them: with a trailing newline.
    std::fs::write(&db_file, format!("{db_url}\n")).unwrap();
    std::fs::write(&amqp_file, format!("{}\n", env.services.amqp_url)).unwrap();

    let mut vars: Vec<(String, String)> = env
        .api_env(&[("RUST_LOG", "debug")])
        .into_iter()
        .filter(|(k, _)| k != "DATABASE_URL" && k != "AMQP_URL")
        .collect();
    vars.push(("DATABASE_URL_FILE".into(), db_file.display().to_string()));
    vars.push(("AMQP_URL_FILE".into(), amqp_file.display().to_string()));

    // A command and the server both read them.
    let out = command_with("scim-api", &vars)
        .args(["tenant", "create", "--name", "files"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let api = env.spawn_api_env(&vars).await;
    env.create_user(&api, &token, okta_user("files@example.com", "File", "Secret"))
        .await;

    let pid = api.pid();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    for (what, bytes) in [("command line", cmdline), ("environment", environ)] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&password), "the password is in the api's {what}");
        assert!(
            !text.contains(&env.services.amqp_url),
            "the AMQP URL is in the api's {what}"
        );
    }
    let log = api.log();
    assert!(!log.is_empty());
    assert!(!log.contains(&password), "the password is in the api's log");
    let _ = std::fs::remove_file(&db_file);
}

#[tokio::test]
async fn a_setting_given_both_directly_and_as_a_file_stops_the_start() {
    let env = TestEnv::new().await;
    let dir = Pki::new("secrets");
    let file = dir.dir.join("database_url");
    std::fs::write(&file, &env.db_url).unwrap();
    let mut vars = env.api_env(&[]);
    vars.push(("DATABASE_URL_FILE".into(), file.display().to_string()));
    let out = command_with("scim-api", &vars).arg("serve").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DATABASE_URL and DATABASE_URL_FILE are both set; set only one of them"),
        "{stderr}"
    );

    // A file that is not there is named, and the worker has the same rule.
    let mut vars: Vec<(String, String)> = env.env().into_iter().filter(|(k, _)| k != "AMQP_URL").collect();
    vars.push(("AMQP_URL_FILE".into(), "/nonexistent/amqp_url".into()));
    let out = command_with("scim-worker", &vars).arg("run").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AMQP_URL_FILE /nonexistent/amqp_url cannot be read"),
        "{stderr}"
    );
}
