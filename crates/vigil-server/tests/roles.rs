//! Every endpoint × every kind of caller, against a real server over HTTP.

mod common;

use std::collections::BTreeSet;

use common::{TestServer, expect_error};
use reqwest::{Method, StatusCode};
use vigil_server::{Limits, Role};

/// The least role an endpoint accepts; `None` for the public health check.
struct Endpoint {
    method: Method,
    /// Path with `{id}` where a token id goes.
    path: &'static str,
    min_role: Option<Role>,
    body: Option<serde_json::Value>,
    ok: StatusCode,
}

fn endpoints() -> Vec<Endpoint> {
    let ep = |method, path, min_role, body, ok| Endpoint {
        method,
        path,
        min_role,
        body,
        ok,
    };
    vec![
        ep(Method::GET, "/api/v1/health", None, None, StatusCode::OK),
        ep(
            Method::GET,
            "/api/v1/whoami",
            Some(Role::Viewer),
            None,
            StatusCode::OK,
        ),
        ep(
            Method::GET,
            "/api/v1/metrics",
            Some(Role::Viewer),
            None,
            StatusCode::OK,
        ),
        ep(
            Method::GET,
            "/api/v1/openapi.json",
            Some(Role::Viewer),
            None,
            StatusCode::OK,
        ),
        ep(
            Method::GET,
            "/api/v1/tokens",
            Some(Role::Admin),
            None,
            StatusCode::OK,
        ),
        ep(
            Method::POST,
            "/api/v1/tokens",
            Some(Role::Admin),
            Some(serde_json::json!({"role": "viewer", "label": "made in the role table"})),
            StatusCode::CREATED,
        ),
        ep(
            Method::DELETE,
            "/api/v1/tokens/{id}",
            Some(Role::Admin),
            None,
            StatusCode::OK,
        ),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Caller {
    NoToken,
    BadToken,
    Revoked,
    Expired,
    Holder(Role),
}

#[tokio::test]
async fn every_endpoint_for_every_caller() {
    let mut srv = TestServer::start(Limits::default()).await;
    let callers = [
        Caller::NoToken,
        Caller::BadToken,
        Caller::Revoked,
        Caller::Expired,
        Caller::Holder(Role::Viewer),
        Caller::Holder(Role::Analyst),
        Caller::Holder(Role::Responder),
        Caller::Holder(Role::Admin),
    ];
    let mut checked = 0;
    for ep in endpoints() {
        for caller in callers {
            let token = match caller {
                Caller::NoToken => None,
                Caller::BadToken => Some("vgl_0123456789ab_not-a-real-secret".to_string()),
                Caller::Revoked => Some(srv.revoked_token()),
                Caller::Expired => Some(srv.expired_token()),
                Caller::Holder(role) => Some(srv.token(role)),
            };
            // A token for DELETE to revoke, fresh each time so every call has a target.
            let path = if ep.path.contains("{id}") {
                let victim = srv
                    .state
                    .tokens()
                    .issue(Role::Viewer, "victim", None)
                    .unwrap();
                ep.path.replace("{id}", &victim.info.id)
            } else {
                ep.path.to_string()
            };
            let mut req = srv.client.request(ep.method.clone(), srv.url(&path));
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &ep.body {
                req = req.json(b);
            }
            let resp = req.send().await.unwrap();
            let what = format!("{} {} as {caller:?}", ep.method, ep.path);
            let expected = match (ep.min_role, caller) {
                (None, _) => ep.ok,
                (
                    Some(_),
                    Caller::NoToken | Caller::BadToken | Caller::Revoked | Caller::Expired,
                ) => StatusCode::UNAUTHORIZED,
                (Some(min), Caller::Holder(role)) if role < min => StatusCode::FORBIDDEN,
                (Some(_), Caller::Holder(_)) => ep.ok,
            };
            assert_eq!(resp.status(), expected, "{what}");
            match expected {
                StatusCode::UNAUTHORIZED => {
                    assert_eq!(
                        resp.headers()
                            .get("www-authenticate")
                            .map(|v| v.to_str().unwrap()),
                        Some("Bearer realm=\"vigil\""),
                        "{what}"
                    );
                    let msg = expect_error(resp, expected, "unauthorized").await;
                    let want = match caller {
                        Caller::NoToken => "missing bearer token",
                        Caller::BadToken => "invalid token",
                        Caller::Revoked => "token revoked",
                        Caller::Expired => "token expired",
                        Caller::Holder(_) => unreachable!(),
                    };
                    assert!(msg.contains(want), "{what}: {msg}");
                }
                StatusCode::FORBIDDEN => {
                    let msg = expect_error(resp, expected, "forbidden").await;
                    assert!(msg.contains("needs admin"), "{what}: {msg}");
                }
                _ => {
                    let bytes = resp.bytes().await.unwrap();
                    assert!(!bytes.is_empty(), "{what}: empty body");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, endpoints().len() * callers.len());
    srv.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_exactly_the_routes_in_the_table() {
    let mut srv = TestServer::start(Limits::default()).await;
    let doc: serde_json::Value = srv
        .client
        .get(srv.url("/api/v1/openapi.json"))
        .bearer_auth(srv.token(Role::Viewer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut in_doc = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            in_doc.insert((method.to_uppercase(), path.clone()));
            let public = path == "/api/v1/health";
            assert_eq!(
                op.get("security").is_none(),
                public,
                "{method} {path} security"
            );
            if !public {
                let desc = op["description"].as_str().unwrap();
                assert!(desc.contains("Requires role"), "{method} {path}: {desc}");
            }
        }
    }
    let in_table: BTreeSet<_> = endpoints()
        .iter()
        .map(|e| (e.method.to_string(), e.path.to_string()))
        .collect();
    assert_eq!(in_doc, in_table);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    srv.stop().await;
}

#[tokio::test]
async fn whoami_and_health_say_what_they_should() {
    let mut srv = TestServer::start(Limits::default()).await;
    let issued = srv
        .state
        .tokens()
        .issue(Role::Responder, "on-call", None)
        .unwrap();
    let me: serde_json::Value = srv
        .get("/api/v1/whoami", &issued.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["token_id"], issued.info.id.as_str());
    assert_eq!(me["role"], "responder");
    assert_eq!(me["label"], "on-call");
    let health: serde_json::Value = srv
        .client
        .get(srv.url("/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].is_u64());
    srv.stop().await;
}

#[tokio::test]
async fn token_api_issues_lists_and_revokes() {
    let mut srv = TestServer::start(Limits::default()).await;
    let admin = srv.token(Role::Admin);
    let resp = srv
        .client
        .post(srv.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"role": "analyst", "label": "bob", "expires_at": "2999-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let issued: serde_json::Value = resp.json().await.unwrap();
    let token = issued["token"].as_str().unwrap().to_string();
    let id = issued["info"]["id"].as_str().unwrap().to_string();
    assert_eq!(issued["info"]["role"], "analyst");

    let who = srv.get("/api/v1/whoami", &token).await;
    assert_eq!(who.status(), StatusCode::OK);

    let list: Vec<serde_json::Value> = srv
        .get("/api/v1/tokens", &admin)
        .await
        .json()
        .await
        .unwrap();
    let listed = list.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(listed["label"], "bob");
    assert!(listed.get("hash").is_none(), "hash must not be exposed");
    assert!(!serde_json::to_string(&list).unwrap().contains(&token));

    let resp = srv
        .client
        .delete(srv.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let who = srv.get("/api/v1/whoami", &token).await;
    expect_error(who, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let missing = srv
        .client
        .delete(srv.url("/api/v1/tokens/ffffffffffff"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;

    for bad in [
        serde_json::json!({"role": "root", "label": "x"}),
        serde_json::json!({"role": "viewer", "label": "x", "expires_at": "2001-01-01T00:00:00Z"}),
        serde_json::json!({"role": "viewer", "label": "x", "extra": 1}),
    ] {
        let resp = srv
            .client
            .post(srv.url("/api/v1/tokens"))
            .bearer_auth(&admin)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{bad}: {}", resp.status());
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn token_created_by_the_cli_works_on_a_running_server_at_once() {
    let mut srv = TestServer::start(Limits::default()).await;
    // Prime the server's token cache, then issue through a separate store (as the CLI does).
    let viewer = srv.token(Role::Viewer);
    let r = srv.get("/api/v1/whoami", &viewer).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cli = vigil_server::create_token(srv.data_dir(), Role::Analyst, "from cli", None).unwrap();
    let me: serde_json::Value = srv
        .get("/api/v1/whoami", &cli.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "analyst");
    vigil_server::revoke_token(srv.data_dir(), &cli.info.id).unwrap();
    let r = srv.get("/api/v1/whoami", &cli.token).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    srv.stop().await;
}
