//! A real server on 127.0.0.1:0 over a temporary data directory, and tokens of each kind.

#![allow(dead_code)]

use std::path::Path;

use jiff::Timestamp;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vigil_server::tokens::{FileTokenStore, TokenRecord, TokenStore};
use vigil_server::{AppState, Limits, Role, Server};

pub struct TestServer {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), vigil_server::Error>>>,
}

impl TestServer {
    /// Starts the core API with `limits`.
    pub async fn start(limits: Limits) -> Self {
        Self::start_with(limits, vigil_server::router).await
    }

    /// Starts the API that `make` builds from the state.
    pub async fn start_with(limits: Limits, make: impl FnOnce(AppState) -> axum::Router) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::open(dir.path(), limits).unwrap();
        let server = Server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let base = format!("http://{}", server.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        let app = make(state.clone());
        let task = tokio::spawn(server.run(app, async {
            let _ = rx.await;
        }));
        // reqwest's rustls has no built-in provider in this workspace: give it ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        TestServer {
            base,
            dir,
            state,
            client: reqwest::Client::new(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET path` with `token` as the bearer token.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh token of `role`, issued straight through the library.
    pub fn token(&self, role: Role) -> String {
        self.state
            .tokens()
            .issue(role, &format!("test {role}"), None)
            .unwrap()
            .token
    }

    /// A token that was valid and has been revoked.
    pub fn revoked_token(&self) -> String {
        let issued = self
            .state
            .tokens()
            .issue(Role::Admin, "to revoke", None)
            .unwrap();
        self.state.tokens().revoke(&issued.info.id).unwrap();
        issued.token
    }

    /// An admin token whose expiry passed an hour ago. The library refuses to issue one, so
    /// the record is written through the store with a hash made here the same way.
    pub fn expired_token(&self) -> String {
        let id = "e0e0e0e0e0e0";
        let token = format!("vgl_{id}_expiredsecretexpiredsecretexpiredsecret0");
        let hash = Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let now = Timestamp::now();
        let store = FileTokenStore::open(self.data_dir()).unwrap();
        if store.get(id).unwrap().is_none() {
            store
                .insert(TokenRecord {
                    id: id.into(),
                    role: Role::Admin,
                    label: "expired".into(),
                    created_at: now - jiff::SignedDuration::from_hours(2),
                    expires_at: Some(now - jiff::SignedDuration::from_hours(1)),
                    revoked_at: None,
                    hash,
                })
                .unwrap();
        }
        token
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// Asserts `resp` is the JSON error body with `code`, returns its message.
pub async fn expect_error(resp: reqwest::Response, status: StatusCode, code: &str) -> String {
    assert_eq!(resp.status(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct:?}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    let msg = body["error"]["message"].as_str().unwrap().to_string();
    assert!(!msg.is_empty(), "{body}");
    msg
}
