//! Request limits and JSON errors, against a real server: oversize bodies, timeouts,
//! concurrency, unknown routes, malformed JSON; plus routes added by another crate.

mod common;

use std::sync::Arc;

use axum::Extension;
use common::{TestServer, expect_error};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_server::{ApiBuilder, AuditNote, Identity, Limits, Role};

fn small_limits() -> Limits {
    Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    }
}

#[tokio::test]
async fn oversize_body_is_413_with_a_json_error() {
    let mut srv = TestServer::start(small_limits()).await;
    let admin = srv.token(Role::Admin);
    let label = "x".repeat(4096);
    let resp = srv
        .client
        .post(srv.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"role": "viewer", "label": label}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Without Content-Length (chunked), the limit applies while the body is read.
    let addr = srv.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let chunk = format!("{{\"role\":\"viewer\",\"label\":\"{}\"}}", "y".repeat(3000));
    let req = format!(
        "POST /api/v1/tokens HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );

    // Nothing was issued by either request.
    assert_eq!(srv.state.tokens().list().unwrap().len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn every_error_is_json() {
    let mut srv = TestServer::start(Limits::default()).await;
    let admin = srv.token(Role::Admin);
    let r = srv.get("/api/v1/nope", &admin).await;
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = srv.client.get(srv.url("/elsewhere")).send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = srv
        .client
        .put(srv.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    expect_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let r = srv
        .client
        .post(srv.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"role\": ")
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(msg.contains("line 1"), "{msg}");
    let r = srv
        .client
        .post(srv.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .body("role=viewer")
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    srv.stop().await;
}

/// What the extra test routes share: where a handler says it started, and what releases it.
#[derive(Clone)]
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Semaphore>,
}

/// Waits until the test releases it (or forever), then reports who called.
#[utoipa::path(post, path = "/api/v1/test/hold", responses((status = 200, description = "Released")))]
async fn hold(
    Extension(gate): Extension<Gate>,
    Extension(who): Extension<Identity>,
) -> (Extension<AuditNote>, String) {
    gate.entered.notify_one();
    let _permit = gate.release.acquire().await.unwrap();
    (
        Extension(AuditNote("held and released".into())),
        who.role.to_string(),
    )
}

fn with_hold_route(gate: Gate) -> impl FnOnce(vigil_server::AppState) -> axum::Router {
    move |state| {
        ApiBuilder::new(state)
            .routes(
                Role::Analyst,
                OpenApiRouter::new()
                    .routes(routes!(hold))
                    .layer(Extension(gate)),
            )
            .build()
    }
}

#[tokio::test]
async fn added_routes_get_roles_audit_and_a_place_in_the_document() {
    let gate = Gate {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Semaphore::new(100)),
    };
    let mut srv = TestServer::start_with(Limits::default(), with_hold_route(gate)).await;
    let viewer = srv.token(Role::Viewer);
    let analyst = srv.token(Role::Analyst);
    let r = srv
        .client
        .post(srv.url("/api/v1/test/hold"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = srv
        .client
        .post(srv.url("/api/v1/test/hold"))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "analyst");

    let doc: serde_json::Value = srv
        .get("/api/v1/openapi.json", &viewer)
        .await
        .json()
        .await
        .unwrap();
    let op = &doc["paths"]["/api/v1/test/hold"]["post"];
    assert!(
        op["description"].as_str().unwrap().contains("`analyst`"),
        "{op}"
    );
    assert!(op["security"].is_array(), "{op}");

    let log = std::fs::read_to_string(vigil_server::audit_log_path(srv.data_dir())).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["summary"], "held and released");
    assert_eq!(last["role"], "analyst");
    srv.stop().await;
}

#[tokio::test]
async fn slow_request_times_out_with_503() {
    let gate = Gate {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Semaphore::new(0)),
    };
    let limits = Limits {
        request_timeout_secs: 1,
        ..Limits::default()
    };
    let mut srv = TestServer::start_with(limits, with_hold_route(gate)).await;
    let analyst = srv.token(Role::Analyst);
    // Never released: the timeout layer must answer.
    let r = srv
        .client
        .post(srv.url("/api/v1/test/hold"))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // The timed-out call is audited with its status.
    let log = std::fs::read_to_string(vigil_server::audit_log_path(srv.data_dir())).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], 503);
    srv.stop().await;
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_refused_not_queued() {
    let gate = Gate {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Semaphore::new(0)),
    };
    let limits = Limits {
        max_concurrent_requests: 1,
        ..Limits::default()
    };
    let mut srv = TestServer::start_with(limits, with_hold_route(gate.clone())).await;
    let analyst = srv.token(Role::Analyst);
    let first = {
        let req = srv
            .client
            .post(srv.url("/api/v1/test/hold"))
            .bearer_auth(&analyst);
        tokio::spawn(async move { req.send().await.unwrap().status() })
    };
    gate.entered.notified().await;
    let r = srv
        .client
        .get(srv.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    gate.release.add_permits(1);
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    let r = srv
        .client
        .get(srv.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    srv.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_status() {
    let mut srv = TestServer::start(Limits::default()).await;
    let viewer = srv.token(Role::Viewer);
    for _ in 0..3 {
        srv.get("/api/v1/whoami", &viewer).await;
    }
    srv.get("/api/v1/tokens", &viewer).await;
    let text = srv
        .get("/api/v1/metrics", &viewer)
        .await
        .text()
        .await
        .unwrap();
    let count = |needle: &str| -> Option<String> {
        text.lines()
            .find(|l| {
                l.starts_with("vigil_http_requests_total{")
                    && needle.split(',').all(|p| l.contains(p))
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    assert_eq!(
        count("method=\"GET\",route=\"/api/v1/whoami\",status=\"200\"").as_deref(),
        Some("3"),
        "{text}"
    );
    assert_eq!(
        count("route=\"/api/v1/tokens\",status=\"403\"").as_deref(),
        Some("1"),
        "{text}"
    );
    assert!(
        text.contains("vigil_http_request_duration_seconds_bucket"),
        "{text}"
    );
    srv.stop().await;
}
