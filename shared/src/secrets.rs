//! Secret settings read from files: each setting in [`SECRETS`] may be given as `<NAME>_FILE`, the
//! path of a file holding the value (the Docker and Kubernetes secrets convention), instead of
//! `<NAME>` itself. The admin key has the same rule in the api (`ADMIN_TOKEN_FILE`, which reads
//! through [`read_file`]).
//!
//! The value goes straight into the parsed settings: it is never put into the process's
//! environment (children do not inherit it) nor on a command line (`ps` does not show it). Setting
//! both `<NAME>` and `<NAME>_FILE` stops the start, since either could be the stale one. Errors name
//! the variable and the file, never the content.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::{Command, Parser};

/// The settings that hold credentials: Postgres URLs carry the password, the AMQP URL the broker's.
pub const SECRETS: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_DIRECT_URL",
    "PRODUCT_DATABASE_URL",
    "PRODUCT_DATABASE_DIRECT_URL",
    "AMQP_URL",
];

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{name} and {name}_FILE are both set; set only one of them")]
    TwoSources { name: String },
    #[error("{name}_FILE {} cannot be read: {source}", path.display())]
    Unreadable {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}_FILE {} is empty", path.display())]
    Empty { name: String, path: PathBuf },
}

/// A secret file's content without one trailing newline (`\n` or `\r\n`, as `echo` and editors
/// write): the newline is never part of a URL or key, while any other whitespace is kept, since
/// it may be.
pub fn read_file(name: &str, path: &Path) -> Result<String, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
        name: name.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.is_empty() {
        return Err(SecretError::Empty {
            name: name.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(value.to_owned())
}

/// The values of `names` that come from `<NAME>_FILE`, read with `env` (the process environment
/// in production). An empty `<NAME>` counts as unset, as `${NAME:-}` in a compose file gives.
pub fn from_files(
    names: &[&str],
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Vec<(String, String)>, SecretError> {
    let mut found = Vec::new();
    for name in names {
        let Some(path) = env(&format!("{name}_FILE")).filter(|p| !p.is_empty()) else {
            continue;
        };
        if env(name).is_some_and(|v| !v.is_empty()) {
            return Err(SecretError::TwoSources {
                name: (*name).to_owned(),
            });
        }
        found.push(((*name).to_owned(), read_file(name, Path::new(&path))?));
    }
    Ok(found)
}

/// `T::parse()`, with every setting in [`SECRETS`] also readable from `<NAME>_FILE`. Exits with
/// clap's usage error, or with the [`SecretError`], like `parse` does.
pub fn parse<T: Parser>() -> T {
    try_parse_from(SECRETS, std::env::args_os(), |n| std::env::var_os(n)).unwrap_or_else(|e| e.exit())
}

/// [`parse`] of the given arguments with the process environment (settings read from the
/// environment alone: `Only::parse_from(["scim-api"])`).
pub fn parse_from<T: Parser>(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> T {
    try_parse_from(SECRETS, args, |n| std::env::var_os(n)).unwrap_or_else(|e| e.exit())
}

/// [`parse`] of explicit arguments and environment (tests, and commands parsed from the
/// environment alone).
pub fn try_parse_from<T: Parser>(
    names: &[&str],
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<T, clap::Error> {
    let secrets = from_files(names, env)
        .map_err(|e| T::command().error(clap::error::ErrorKind::ValueValidation, e.to_string()))?;
    let mut cmd = T::command();
    for (name, value) in &secrets {
        cmd = from_file(cmd, name, value);
    }
    let matches = cmd.try_get_matches_from(args)?;
    T::from_arg_matches(&matches)
}

/// Gives every argument read from the environment variable `name`, in `cmd` and all its
/// subcommands, the file's value instead. It becomes the argument's default, so a command-line
/// flag still wins; it is hidden from `--help`, and the (empty) variable is no longer read.
fn from_file(mut cmd: Command, name: &str, value: &str) -> Command {
    let ids: Vec<_> = cmd
        .get_arguments()
        .filter(|a| a.get_env() == Some(OsStr::new(name)))
        .map(|a| a.get_id().clone())
        .collect();
    for id in ids {
        cmd = cmd.mut_arg(id, |a| {
            a.env(None::<&str>)
                .default_value(value.to_owned())
                .hide_default_value(true)
        });
    }
    let subcommands: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for sub in subcommands {
        cmd = cmd.mut_subcommand(sub, |s| from_file(s, name, value));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Subcommand};
    use std::collections::HashMap;

    // Names no environment sets, so clap's own lookup of the real environment finds nothing.
    const URL: &str = "SCIM_RELAY_SECRETS_TEST_URL";
    const OTHER: &str = "SCIM_RELAY_SECRETS_TEST_OTHER";
    const NAMES: &[&str] = &[URL, OTHER];

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        top: Top,
        #[command(subcommand)]
        command: Option<Sub>,
    }

    #[derive(Args, Debug)]
    struct Top {
        #[arg(long, env = URL, default_value = "postgres://default")]
        url: String,
    }

    #[derive(Subcommand, Debug)]
    enum Sub {
        Run {
            #[arg(long, env = OTHER)]
            other: Option<String>,
        },
    }

    fn env(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |k| vars.get(k).cloned()
    }

    fn temp_file(content: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("scim-secret-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, content).unwrap();
        path
    }

    fn path_of(p: &Path) -> String {
        p.to_str().unwrap().to_owned()
    }

    #[test]
    fn a_file_gives_the_value_without_one_trailing_newline() {
        let file = temp_file("postgres://u:s3cret@db/x\n");
        let other = temp_file("amqps://u:p@mq/%2f\r\n");
        let cli: Cli = try_parse_from(
            NAMES,
            ["prog", "run"],
            env(&[
                (&format!("{URL}_FILE"), path_of(&file)),
                (&format!("{OTHER}_FILE"), path_of(&other)),
            ]),
        )
        .unwrap();
        std::fs::remove_file(&file).unwrap();
        std::fs::remove_file(&other).unwrap();
        assert_eq!(cli.top.url, "postgres://u:s3cret@db/x");
        let Some(Sub::Run { other }) = cli.command else {
            panic!("run expected")
        };
        assert_eq!(other.as_deref(), Some("amqps://u:p@mq/%2f"));
    }

    #[test]
    fn only_one_newline_is_stripped_and_other_whitespace_is_kept() {
        let file = temp_file(" key \n\n");
        let value = read_file("X", &file).unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(value, " key \n");
    }

    #[test]
    fn without_a_file_the_default_and_the_flag_still_apply() {
        let cli: Cli = try_parse_from(NAMES, ["prog"], env(&[])).unwrap();
        assert_eq!(cli.top.url, "postgres://default");
        let file = temp_file("postgres://from-file\n");
        let cli: Cli = try_parse_from(
            NAMES,
            ["prog", "--url", "postgres://flag"],
            env(&[(&format!("{URL}_FILE"), path_of(&file))]),
        )
        .unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(cli.top.url, "postgres://flag");
    }

    #[test]
    fn setting_both_the_value_and_the_file_is_an_error_naming_both() {
        let err = from_files(
            NAMES,
            env(&[
                (URL, "postgres://a".into()),
                (&format!("{URL}_FILE"), "/run/secrets/url".into()),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{URL} and {URL}_FILE are both set; set only one of them")
        );
        let err = try_parse_from::<Cli>(
            NAMES,
            ["prog"],
            env(&[
                (URL, "postgres://a".into()),
                (&format!("{URL}_FILE"), "/run/secrets/url".into()),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("are both set"), "{err}");
    }

    #[test]
    fn an_empty_value_beside_a_file_counts_as_unset() {
        let file = temp_file("postgres://from-file");
        let found = from_files(
            NAMES,
            env(&[(URL, String::new()), (&format!("{URL}_FILE"), path_of(&file))]),
        )
        .unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(found, vec![(URL.to_owned(), "postgres://from-file".to_owned())]);
    }

    #[test]
    fn a_missing_or_empty_file_is_an_error_naming_the_file_never_the_content() {
        let err = from_files(NAMES, env(&[(&format!("{URL}_FILE"), "/nonexistent/url".into())])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{URL}_FILE /nonexistent/url cannot be read")),
            "{err}"
        );
        let empty = temp_file("\n");
        let err = read_file(URL, &empty).unwrap_err();
        std::fs::remove_file(&empty).unwrap();
        assert!(matches!(err, SecretError::Empty { .. }), "{err}");
    }

    #[test]
    fn a_value_from_a_file_is_not_shown_in_help() {
        let file = temp_file("postgres://u:s3cret@db/x");
        let err = try_parse_from::<Cli>(
            NAMES,
            ["prog", "--help"],
            env(&[(&format!("{URL}_FILE"), path_of(&file))]),
        )
        .unwrap_err();
        std::fs::remove_file(&file).unwrap();
        let help = err.to_string();
        assert!(help.contains("--url"), "{help}");
        assert!(!help.contains("s3cret"), "{help}");
    }
}
