//! OTLP trace export (cargo feature `otlp`): one change is one distributed trace, from the IdP's
//! span through the api's request span to the worker's apply span, with the ids our logs and the
//! change message carry. A collector of our own on 127.0.0.1 receives what the real binaries
//! export over OTLP/HTTP.
//!
//! Not part of the default suite: build the binaries with the feature first, then
//! `cargo build -p api -p worker --features otlp && cargo test -p tests --features otlp --test otlp`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use reqwest::Method;
use serde_json::Value;
use tests::{Api, TestEnv, Worker, log_events, okta_user, scalar};
use uuid::Uuid;

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const IDP_SPAN_ID: &str = "00f067aa0ba902b7";

/// One span as the collector received it, ids in lowercase hex ("" for no parent).
#[derive(Debug, Clone)]
struct Exported {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

type Received = Arc<Mutex<Vec<Exported>>>;

/// An OTLP/HTTP trace receiver: `POST /v1/traces` with a protobuf body.
struct Collector {
    endpoint: String,
    received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    async fn start() -> Self {
        let received = Received::default();
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            endpoint,
            received,
            task,
        }
    }

    fn spans(&self) -> Vec<Exported> {
        self.received.lock().unwrap().clone()
    }

    fn one(&self, service: &str, name: &str) -> Exported {
        let found: Vec<Exported> = self
            .spans()
            .into_iter()
            .filter(|s| s.service == service && s.name == name)
            .collect();
        assert_eq!(found.len(), 1, "one {service} {name} span: {:#?}", self.spans());
        found[0].clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(received): State<Received>, body: Bytes) -> impl IntoResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new()).into_response();
    };
    let mut spans = received.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                spans.push(Exported {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                });
            }
        }
    }
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An api and a worker exporting to `collector`. The batch delay is far longer than the test, so
/// every span arrives through the flush at shutdown.
async fn spawn(env: &TestEnv, collector: &Collector) -> (Api, Worker) {
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ];
    let api = env.spawn_api_with(&otel).await;
    assert!(
        log_events(&api.log(), "exporting traces over OTLP/HTTP").len() == 1,
        "scim-api does not export: build it with `cargo build -p api -p worker --features otlp`; log: {}",
        api.log()
    );
    (api, env.spawn_worker_with(&otel))
}

async fn create_user(env: &TestEnv, api: &Api, token: &str, traceparent: Option<&str>) -> Uuid {
    let headers: Vec<(&str, &str)> = traceparent.map(|t| ("traceparent", t)).into_iter().collect();
    let r = env
        .request_with(
            api,
            Method::POST,
            "/scim/v2/Users",
            Some(token),
            Some(okta_user("otlp@acme.test", "Ot", "Lp")),
            &headers,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.id();
    let db = env.db().await;
    env.product_user_where(&db, id, |_| true).await;
    id
}

/// Stops both processes gracefully, which is when the exporter must send what it holds.
fn stop(api: &mut Api, worker: &mut Worker) {
    assert!(worker.terminate().success(), "scim-worker exit");
    assert!(api.terminate().success(), "scim-api exit");
}

async fn stored_traceparent(env: &TestEnv, id: Uuid) -> String {
    let db = env.db().await;
    scalar(
        &db,
        &format!(
            "select payload->>'traceparent' as t from scim.outbox where payload->>'resource_id' = '{id}'"
        ),
        "t",
    )
    .await
}

/// The `span_id` the api logged on the request span of its `user created` line.
fn logged_request_span_id(api: &Api) -> String {
    let events = log_events(&api.log(), "user created");
    assert_eq!(events.len(), 1, "{}", api.log());
    let spans = events[0]["spans"].as_array().expect("span list");
    let request = spans
        .iter()
        .find(|s| s["name"] == "request")
        .expect("request span");
    request["span_id"].as_str().expect("span_id").to_owned()
}

// Multi-threaded: the collector must keep answering while a thread waits for the processes to
// exit, since their exporters send the last spans then.
#[tokio::test(flavor = "multi_thread")]
async fn one_change_is_one_trace_from_the_idp_through_the_api_to_the_worker() {
    let collector = Collector::start().await;
    let env = TestEnv::new().await;
    let (mut api, mut worker) = spawn(&env, &collector).await;
    let (_, token) = env.create_tenant("Acme");

    let id = create_user(&env, &api, &token, Some(INCOMING)).await;
    assert!(
        collector.spans().is_empty(),
        "nothing is sent before the batch delay or shutdown"
    );
    stop(&mut api, &mut worker);

    // The api's request span is a child of the IdP's span...
    let request = collector.one("scim-api", "request");
    assert_eq!(request.trace_id, TRACE_ID);
    assert_eq!(request.parent_span_id, IDP_SPAN_ID);
    // ...its id is the one in the api's logs and in the change message...
    assert_eq!(logged_request_span_id(&api), request.span_id);
    assert_eq!(
        stored_traceparent(&env, id).await,
        format!("00-{TRACE_ID}-{}-01", request.span_id)
    );
    // ...and the worker's apply span is its child, in the same trace.
    let apply = collector.one("scim-worker", "apply");
    assert_eq!(apply.trace_id, TRACE_ID);
    assert_eq!(apply.parent_span_id, request.span_id);
    let logged: Vec<Value> = log_events(&worker.log(), "change handled");
    assert_eq!(logged.len(), 1, "{}", worker.log());
    assert_eq!(logged[0]["span"]["parent_span_id"], request.span_id.as_str());
}

// Multi-threaded: the collector must keep answering while a thread waits for the processes to
// exit, since their exporters send the last spans then.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_a_traceparent_starts_the_trace_that_the_worker_joins() {
    let collector = Collector::start().await;
    let env = TestEnv::new().await;
    let (mut api, mut worker) = spawn(&env, &collector).await;
    let (_, token) = env.create_tenant("Acme");

    let id = create_user(&env, &api, &token, None).await;
    stop(&mut api, &mut worker);

    let request = collector.one("scim-api", "request");
    assert_eq!(request.parent_span_id, "", "a root span");
    assert_eq!(
        stored_traceparent(&env, id).await,
        format!("00-{}-{}-01", request.trace_id, request.span_id)
    );
    let apply = collector.one("scim-worker", "apply");
    assert_eq!(
        (apply.trace_id.as_str(), apply.parent_span_id.as_str()),
        (request.trace_id.as_str(), request.span_id.as_str())
    );
}
