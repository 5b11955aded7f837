//! Hostile input, replayed from the corpus in `tests/corpus/hostile/`: one request per
//! `<name>.json`. Every case gets exactly its expected status, every 4xx is a SCIM error, no case
//! gets a 5xx or a dropped connection, a refused case leaves the directory and the outbox as
//! they were, and afterwards the api is healthy and serves a valid request.
//!
//! A case is a JSON object:
//! - `about`: why the case exists; `method`; `path` under `/scim/v2` (`{user}` and `{group}`
//!   name a user and a group that exist);
//! - `query`: sent verbatim after `?` (for broken encodings); `params`: query parameters the
//!   runner percent-encodes; `headers`: added or replacing the defaults (`{token}` is the token);
//! - the body: `json` (any JSON value, serialised), `body` (text), or `body_file` (a sibling file
//!   sent byte for byte: invalid UTF-8, NUL bytes);
//! - `status`, and optionally `scimType` and (for lists) `totalResults`;
//! - `raw: true`: written to a TCP socket byte for byte, for requests no HTTP client library
//!   will send (a NUL byte or a space in the request line, a 100 kB URL, a short body);
//! - `not_scim`: why this answer cannot be a SCIM error (it comes from the HTTP library before
//!   the api's code runs); the status is still checked, and it must not be a 5xx;
//! - `bug`: the case exposes a known, not yet fixed api bug, which the text names; it is skipped.
//!
//! Wherever text is expected, a list of parts may stand instead: strings, and
//! `{"repeat": "<text>", "times": n}` to generate huge input without huge files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use tests::okta_user;
use uuid::Uuid;

use crate::World;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Text {
    Plain(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Part {
    Plain(String),
    Repeat { repeat: String, times: usize },
}

impl Text {
    fn render(&self, vars: &Vars) -> String {
        let raw = match self {
            Text::Plain(s) => s.clone(),
            Text::Parts(parts) => parts
                .iter()
                .map(|p| match p {
                    Part::Plain(s) => s.clone(),
                    Part::Repeat { repeat, times } => repeat.repeat(*times),
                })
                .collect(),
        };
        vars.substitute(&raw)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    about: String,
    method: String,
    path: Text,
    query: Option<Text>,
    #[serde(default)]
    params: BTreeMap<String, Text>,
    #[serde(default)]
    headers: BTreeMap<String, Text>,
    json: Option<Value>,
    body: Option<Text>,
    body_file: Option<String>,
    status: u16,
    #[serde(rename = "scimType")]
    scim_type: Option<String>,
    #[serde(rename = "totalResults")]
    total_results: Option<i64>,
    #[serde(default)]
    raw: bool,
    not_scim: Option<String>,
    bug: Option<String>,
}

struct Vars {
    user: Uuid,
    group: Uuid,
    token: String,
}

impl Vars {
    fn substitute(&self, s: &str) -> String {
        s.replace("{user}", &self.user.to_string())
            .replace("{group}", &self.group.to_string())
            .replace("{token}", &self.token)
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/hostile")
}

/// Every case of the corpus, by name, in name order.
fn corpus() -> Vec<(String, Case)> {
    let mut cases: Vec<(String, Case)> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus/hostile")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("case file");
            let case: Case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}.json: {e}"));
            let bodies = [case.json.is_some(), case.body.is_some(), case.body_file.is_some()];
            assert!(
                bodies.iter().filter(|b| **b).count() <= 1,
                "{name}: more than one body"
            );
            (name, case)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

/// The request a case describes: method, target (path and query), headers, body.
struct Request {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: Option<Vec<u8>>,
}

fn request(case: &Case, vars: &Vars) -> Request {
    let mut target = format!("/scim/v2{}", case.path.render(vars));
    let mut query: Vec<String> = case.query.iter().map(|q| q.render(vars)).collect();
    query.extend(
        case.params
            .iter()
            .map(|(k, v)| format!("{}={}", tests::urlencode(k), tests::urlencode(&v.render(vars)))),
    );
    if !query.is_empty() {
        target = format!("{target}?{}", query.join("&"));
    }
    let body: Option<Vec<u8>> = match (&case.json, &case.body, &case.body_file) {
        (Some(j), _, _) => Some(vars.substitute(&j.to_string()).into_bytes()),
        (_, Some(t), _) => Some(t.render(vars).into_bytes()),
        (_, _, Some(f)) => Some(std::fs::read(corpus_dir().join(f)).expect("body_file")),
        _ => None,
    };
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    headers.insert("authorization".into(), format!("Bearer {}", vars.token));
    headers.insert("user-agent".into(), tests::OKTA_UA.into());
    if body.is_some() {
        headers.insert("content-type".into(), "application/scim+json".into());
    }
    for (k, v) in &case.headers {
        headers.insert(k.to_ascii_lowercase(), v.render(vars));
    }
    Request {
        method: case.method.clone(),
        target,
        headers,
        body,
    }
}

async fn send(w: &World, req: Request) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = w
        .env
        .http
        .request(method, format!("{}{}", w.api.base, req.target));
    for (k, v) in req.headers {
        builder = builder.header(k, v);
    }
    if let Some(b) = req.body {
        builder = builder.body(b);
    }
    let resp = builder.send().await.map_err(|e| format!("{e:?}"))?;
    Ok(Answer {
        status: resp.status(),
        content_type: resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: resp.bytes().await.map_err(|e| e.to_string())?.to_vec(),
    })
}

/// HTTP/1.1 by hand: the request exactly as the case says (a Content-Length is added unless
/// the case sets one), the write side closed after it, the answer read to the end.
async fn send_raw(w: &World, req: Request) -> Result<Answer, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = w.api.base.trim_start_matches("http://");
    let mut out = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n",
        req.method, req.target
    )
    .into_bytes();
    let body = req.body.unwrap_or_default();
    let mut headers = req.headers;
    headers
        .entry("content-length".into())
        .or_insert_with(|| body.len().to_string());
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    stream.shutdown().await.map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut answer),
    )
    .await
    .map_err(|_| "no answer within 30 s".to_owned())?
    .map_err(|e| e.to_string())?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP answer: {:?}", String::from_utf8_lossy(&answer)))?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head}"))?;
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut body = answer[split + 4..].to_vec();
    if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    Ok(Answer {
        status: StatusCode::from_u16(status).map_err(|e| e.to_string())?,
        content_type: header("content-type").unwrap_or_default(),
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&rest[start..(start + size).min(rest.len())]);
        rest = &rest[(start + size + 2).min(rest.len())..];
    }
    out
}

/// What a refused request must not change: directory rows and versions, memberships, outbox.
async fn directory_fingerprint(db: &sea_orm::DatabaseConnection) -> String {
    tests::scalar(
        db,
        "select concat_ws(' ',
             (select count(*) || '/' || coalesce(sum(version), 0) from scim.users),
             (select count(*) || '/' || coalesce(sum(version), 0) from scim.groups),
             (select count(*) || '/' || coalesce(sum(version), 0) from scim.group_members),
             (select coalesce(max(id), 0) from scim.outbox)) as f",
        "f",
    )
    .await
}

/// Everything wrong with the answer to one case; empty when it is as expected.
fn check(name: &str, case: &Case, answer: &Answer) -> Vec<String> {
    let mut problems = Vec::new();
    let shown = String::from_utf8_lossy(&answer.body);
    let shown: String = shown.chars().take(300).collect();
    if answer.status.is_server_error() {
        problems.push(format!(
            "{name}: {} ({}) → 5xx {}",
            case.method, case.about, shown
        ));
    }
    if answer.status.as_u16() != case.status {
        problems.push(format!(
            "{name}: expected {}, got {} {shown}",
            case.status, answer.status
        ));
    }
    let json: Option<Value> = serde_json::from_slice(&answer.body).ok();
    if answer.status.is_client_error() && case.not_scim.is_none() {
        let is_error = json.as_ref().is_some_and(|b| {
            b["schemas"]
                .as_array()
                .is_some_and(|s| s.contains(&Value::from("urn:ietf:params:scim:api:messages:2.0:Error")))
                && b["status"] == answer.status.as_str()
        });
        if !is_error || !answer.content_type.starts_with("application/scim+json") {
            problems.push(format!(
                "{name}: {} is not a SCIM error ({:?}): {shown}",
                answer.status, answer.content_type
            ));
        }
    }
    let field = |k: &str| json.as_ref().map(|b| b[k].clone()).unwrap_or(Value::Null);
    if let Some(t) = &case.scim_type
        && field("scimType") != t.as_str()
    {
        problems.push(format!("{name}: expected scimType {t}, got {shown}"));
    }
    if let Some(n) = case.total_results
        && field("totalResults") != n
    {
        problems.push(format!("{name}: expected totalResults {n}, got {shown}"));
    }
    problems
}

/// Replays `cases` against one api; returns every problem found.
async fn replay(w: &World, cases: &[(String, Case)]) -> Vec<String> {
    let user = w
        .post_user(okta_user("target@acme.test", "T", "Arget"))
        .await
        .id();
    let group = w
        .call(
            reqwest::Method::POST,
            "/Groups",
            Some(serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Target", "members": [{"value": user.to_string()}]})),
        )
        .await
        .id();
    let vars = Vars {
        user,
        group,
        token: w.token.clone(),
    };
    let db = w.env.db().await;
    let mut problems = Vec::new();
    for (name, case) in cases {
        let before = directory_fingerprint(&db).await;
        let req = request(case, &vars);
        let answer = if case.raw {
            send_raw(w, req).await
        } else {
            send(w, req).await
        };
        match answer {
            Err(e) => problems.push(format!("{name}: no answer: {e}")),
            Ok(answer) => {
                problems.extend(check(name, case, &answer));
                if !answer.status.is_success() && directory_fingerprint(&db).await != before {
                    problems.push(format!("{name}: refused, yet the directory changed"));
                }
            }
        }
    }
    problems
}

#[tokio::test]
async fn the_hostile_corpus_gets_its_expected_answers_and_the_api_survives() {
    let w = World::new().await;
    let all = corpus();
    let cases: Vec<(String, Case)> = all.into_iter().filter(|(_, c)| c.bug.is_none()).collect();
    assert!(cases.len() >= 40, "the corpus has only {} cases", cases.len());
    let problems = replay(&w, &cases).await;
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );

    for path in ["/healthz", "/readyz"] {
        let r = w
            .env
            .http
            .get(format!("{}{path}", w.api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path} after the corpus");
    }
    let r = w
        .post_user(okta_user("after.corpus@acme.test", "Af", "Ter"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let back = w.get(&format!("/Users/{}", r.id())).await;
    assert_eq!(back.body["userName"], "after.corpus@acme.test");
}
